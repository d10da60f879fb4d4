/**
 * @module io/clinical/settings-rows
 * Where the per-patient clinical settings (io/clinical/patient-settings) are kept: a lone
 * gateway's SQLite store (io/clinical/alarm-store), or the PostgreSQL its group shares
 * (io/shared/pg-settings, issue 16: "per-patient alarm limits, NEWS2 settings and ACVPU
 * entries" shared, so every gateway's board evaluates a patient with the same limits and
 * decides the same alarms). Reads are synchronous (the shared rows are kept as a copy).
 */
import type { Consciousness } from '../../core/news2.js';

/** One JSON text of settings per device (configuration only, never readings). */
export interface PatientSettingsRows {
  settingsJson(dev: string): string | undefined;
  /** @throws {VitalTrailError} `store_failed` (the SQLite store) */
  putSettingsJson(dev: string, json: string, updatedBy: string, at: number): void;
}

/** A nurse's ACVPU entry: an observation, shared with the group, never stored. */
export interface ConsciousnessEntry {
  dev: string;
  level: Consciousness;
  at: number;
  by: string;
}

/** The rows a gateway group shares. */
export interface SharedPatientSettings extends PatientSettingsRows {
  /** Tells `fn` of each device whose row another gateway (or an operator) changed. */
  onChange(fn: (dev: string) => void): () => void;
  /**
   * Waits until this gateway's writes so far are in the shared database.
   * @throws {SharedStateError} `shared_unavailable` when one of them failed (the copy then
   *   returns to the shared rows at its next reload: the change is undone everywhere)
   */
  flush(): Promise<void>;
  /** Tells the other gateways of an ACVPU entry made here. */
  shareConsciousness(e: ConsciousnessEntry): void;
  /** Tells `fn` of ACVPU entries made on other gateways. */
  onConsciousness(fn: (e: ConsciousnessEntry) => void): () => void;
}
