/**
 * @module test/slow/sim-physiology
 * Slow tier: the simulator's synthetic patients (firmware-sim/src/physiology.ts) over a
 * full day of 1 Hz steps (86,400 readings per patient, 10 patients): plausible integer
 * vitals in PROTOCOL.md §1 units, and a steady patient's low NEWS2 (RCP 2017) all day;
 * and 3 h of the artefacts patient. The unit tier runs the same tests over 2 h.
 */
import { describe } from 'vitest';
import { DAY_S, patientSpanTests } from '../unit/sim-physiology-suite.js';

describe('createPatientModel', () => {
  patientSpanTests({ seconds: DAY_S, over: '24 h', throughout: 'all day', artefactSeconds: 3 * 3600 });
});
