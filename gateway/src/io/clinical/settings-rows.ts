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
  /**
   * Waits until this gateway's writes so far have landed or failed (never throws: `flush`
   * reports a failure). A transition one of them caused is recorded after it (io/clinical/alarm-group).
   */
  settled(): Promise<void>;
  /**
   * Reloads the rows now if the shared table changed since this gateway last read it: another
   * gateway's change may have caused what it just recorded, and its notification can come
   * later than the record's, or be lost. Tells `onChange` of every device that changed.
   * @throws {SharedStateError} `shared_unavailable`
   */
  catchUp(): Promise<void>;
  /** Tells the other gateways of an ACVPU entry made here. */
  shareConsciousness(e: ConsciousnessEntry): void;
  /** Tells `fn` of ACVPU entries made on other gateways. */
  onConsciousness(fn: (e: ConsciousnessEntry) => void): () => void;
}
