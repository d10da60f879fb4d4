/**
 * @module io/clinical/alarm-store
 * The ward's persisted clinical settings and alarm history: per-patient settings
 * (`dashboard_patient_settings`: SpO2 scale, oxygen, alarm limits, alarm policies and
 * standby, as JSON: io/clinical/patient-settings) and every alarm transition
 * (`dashboard_alarm_events`: a lone gateway's alarm ledger appends them,
 * io/clinical/local-alarm-ledger). Every statement on these two tables lives here; the
 * tables are declared in store/schema.
 */
import type Database from 'better-sqlite3';
import type { AlarmEventDto } from '../../core/live-contract.js';
import type { GatewayStore } from '../store/index.js';

/** One alarm transition as recorded: the history route's row (core/live-contract). */
export type AlarmEventRow = AlarmEventDto;

export class AlarmStore {
  readonly #stmts: Record<
    'insertEvent' | 'history' | 'after' | 'lastId' | 'getSettings' | 'putSettings' | 'allSettings',
    Database.Statement
  >;

  constructor(store: GatewayStore) {
    const db = store.db;
    this.#stmts = {
      insertEvent: db.prepare(
        'INSERT INTO dashboard_alarm_events (alarm_id, scope, code, kind, event, priority, at, by, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      history: db.prepare(
        'SELECT alarm_id AS alarmId, scope AS dev, code, kind, event, priority, at, by, comment FROM dashboard_alarm_events WHERE scope = ? ORDER BY id DESC LIMIT ?',
      ),
      after: db.prepare(
        'SELECT id, alarm_id AS alarmId, scope AS dev, code, kind, event, priority, at, by, comment FROM dashboard_alarm_events WHERE id >= ? ORDER BY id LIMIT ?',
      ),
      lastId: db.prepare('SELECT coalesce(max(id), 0) FROM dashboard_alarm_events').pluck(),
      getSettings: db.prepare('SELECT settings FROM dashboard_patient_settings WHERE dev = ?').pluck(),
      allSettings: db.prepare(
        'SELECT dev, settings, updated_by AS updatedBy, updated_at AS updatedAt FROM dashboard_patient_settings ORDER BY dev',
      ),
      putSettings: db.prepare(
        'INSERT INTO dashboard_patient_settings (dev, settings, updated_by, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(dev) DO UPDATE SET settings = excluded.settings, updated_by = excluded.updated_by, updated_at = excluded.updated_at',
      ),
    };
  }

  /**
   * Records one transition of an alarm (scope = device id or `gateway`).
   * @returns its event id (the next in record order; io/clinical/local-alarm-ledger)
   */
  addEvent(e: AlarmEventRow & { scope: string }): number {
    const r = this.#stmts.insertEvent.run(
      e.alarmId,
      e.scope,
      e.code,
      e.kind,
      e.event,
      e.priority,
      e.at,
      e.by,
      e.comment,
    );
    return Number(r.lastInsertRowid);
  }

  /** The transitions of one scope, newest first. */
  history(scope: string, limit: number): AlarmEventRow[] {
    return this.#stmts.history.all(scope, limit) as AlarmEventRow[];
  }

  /** Every transition from event id `from` on, in the order they happened (the outbound alarm feed). */
  eventsFrom(from: number, limit: number): (AlarmEventRow & { id: number })[] {
    return this.#stmts.after.all(from, limit) as (AlarmEventRow & { id: number })[];
  }

  /** The id of the latest recorded transition (0: none yet). */
  lastEventId(): number {
    return this.#stmts.lastId.get() as number;
  }

  /** The stored settings JSON of a patient's device, if any. */
  settingsJson(dev: string): string | undefined {
    return this.#stmts.getSettings.get(dev) as string | undefined;
  }

  putSettingsJson(dev: string, json: string, updatedBy: string, at: number): void {
    this.#stmts.putSettings.run(dev, json, updatedBy, at);
  }

  /** Every device's stored settings, with who changed them last and when (`vitaltrail shared import`). */
  allSettings(): { dev: string; settings: string; updatedBy: string; updatedAt: number }[] {
    return this.#stmts.allSettings.all() as {
      dev: string;
      settings: string;
      updatedBy: string;
      updatedAt: number;
    }[];
  }
}
