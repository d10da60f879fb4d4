/**
 * @module core/alarms/limits
 * Physiological alarm limits per vital (PROTOCOL.md §1 keys and units; temp in 0.01 °C):
 * the adult defaults, the range a limit may be set within, and the priority of each
 * violation (IEC 60601-1-8 §6.1.2 leaves the assignment to the manufacturer's risk
 * analysis). Also the NEWS2 band → priority map (RCP 2017 chart 2).
 */
import type { News2Band } from '../news2.js';
import type { AlarmPriority } from './model.js';

/** Vitals with physiological limits (PROTOCOL.md §1 keys and units; temp in 0.01 °C). */
export type LimitVital = 'hr' | 'spo2' | 'rr' | 'temp' | 'sbp' | 'dbp';
export const LIMIT_VITALS: readonly LimitVital[] = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'];

/** An alarm limit pair; a value below `low` or above `high` is an alarm condition. null = off. */
export interface VitalLimit {
  low: number | null;
  high: number | null;
}
export type AlarmLimits = Record<LimitVital, VitalLimit>;

/**
 * Default adult limits (configurable per patient). They sit at the NEWS2 score-3 edges
 * (RCP 2017 chart 1), so a limit alarm and a single-parameter NEWS2 trigger agree.
 */
export const DEFAULT_LIMITS: Readonly<AlarmLimits> = {
  hr: { low: 41, high: 130 },
  spo2: { low: 92, high: null },
  rr: { low: 9, high: 24 },
  temp: { low: 3510, high: 3900 },
  sbp: { low: 91, high: 219 },
  dbp: { low: 40, high: 120 },
};

/**
 * The physiological range of each vital (PROTOCOL.md §1 units): an alarm limit outside it
 * is refused `limits_invalid`, as is a low limit at or above the high one.
 */
export const PHYSIOLOGICAL_RANGES: Readonly<Record<LimitVital, { min: number; max: number }>> = {
  hr: { min: 20, max: 300 },
  spo2: { min: 50, max: 100 },
  rr: { min: 3, max: 80 },
  temp: { min: 2500, max: 4500 },
  sbp: { min: 40, max: 300 },
  dbp: { min: 20, max: 200 },
};

/**
 * Priority of each limit violation, from the risk it signals (IEC 60601-1-8 leaves the
 * assignment to the manufacturer's risk analysis): hypoxaemia and hypotension are
 * high; rate and hypertension alarms medium; temperature and diastolic low.
 */
export const LIMIT_PRIORITY: Readonly<Record<LimitVital, { low: AlarmPriority; high: AlarmPriority }>> = {
  hr: { low: 'high', high: 'medium' },
  spo2: { low: 'high', high: 'low' },
  rr: { low: 'high', high: 'medium' },
  temp: { low: 'medium', high: 'low' },
  sbp: { low: 'high', high: 'medium' },
  dbp: { low: 'low', high: 'low' },
};

/** NEWS2 trigger band → alarm priority (RCP 2017 chart 2: emergency, urgent, urgent ward-based). */
export const NEWS2_PRIORITY: Readonly<Record<News2Band, AlarmPriority | null>> = {
  high: 'high',
  medium: 'medium',
  low_medium: 'low',
  low: null,
  zero: null,
};

/** The vital of a limit alarm code (`spo2_low` → `spo2`), or null for any other code. */
export function limitVitalOf(code: string): LimitVital | null {
  const m = /^(hr|spo2|rr|temp|sbp|dbp)_(?:low|high)$/.exec(code);
  return m ? (m[1] as LimitVital) : null;
}

/**
 * The side of `limit` a value is beyond, or null inside. Limits are exclusive: a value
 * equal to a limit does not alarm.
 */
export function limitSide(value: number, limit: VitalLimit): 'low' | 'high' | null {
  if (limit.low !== null && value < limit.low) return 'low';
  if (limit.high !== null && value > limit.high) return 'high';
  return null;
}

/**
 * The vitals whose alarm is switched off in `limits`: a low or high limit null where the
 * default has one (the tile's alarm-off indicator: IEC 60601-1-8 §6.8 has an alarm switched off shown).
 */
export function alarmsOff(limits: AlarmLimits): LimitVital[] {
  return LIMIT_VITALS.filter(
    (v) =>
      (limits[v].low === null && DEFAULT_LIMITS[v].low !== null) ||
      (limits[v].high === null && DEFAULT_LIMITS[v].high !== null),
  );
}
