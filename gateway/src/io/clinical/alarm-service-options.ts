/**
 * @module io/clinical/alarm-service-options
 * The options of io/clinical/alarm-service and the events it reports for the audit log
 * (ARCHITECTURE.md invariant 7: alarm transitions, settings and standby changes, views of
 * a patient), and what the options' callbacks say, each guarded so a throw never stops alarms.
 */
import type {
  AlarmCondition,
  AlarmPolicies,
  News2TriggerPolicy,
  TechnicalThresholds,
} from '../../core/alarms/index.js';
import type { LiveHub } from '../../core/live.js';
import type { StandbyDto } from '../../core/live-contract.js';
import type { GatewayStore } from '../store/index.js';
import type { AlarmLedger } from './alarm-ledger.js';
import type { SharedPatientSettings } from './settings-rows.js';

/** What the service reports for the audit log (alarm transitions, settings and standby changes, patient views). */
export type AlarmAuditEvent =
  | {
      type: 'alarm';
      event: string;
      alarmId: string;
      dev: string;
      code: string;
      priority: string;
      user?: string;
      at: number;
    }
  | { type: 'patient_settings'; dev: string; user: string; at: number }
  | { type: 'patient_view'; dev: string; user: string; at: number }
  /** A bed's standby began (`on`) or ended; no user when a pause ran out by itself. */
  | { type: 'standby'; dev: string; user?: string; on: boolean; reason: StandbyDto['reason']; at: number };

export interface AlarmServiceOptions {
  /** The store whose tables hold the settings and the alarm history (io/clinical/alarm-store). */
  store: GatewayStore;
  hub: LiveHub;
  /** Default Date.now. */
  now?: () => number;
  /** How often technical conditions, escalation and the end of pauses are checked. Default 1000 ms. */
  tickMs?: number;
  /** Unacknowledged alarms escalate (physiological) or re-notify (technical) after this. Default 120 s (core/alarms). */
  escalateAfterMs?: number;
  /** Technical thresholds; defaults in core/alarms `DEFAULT_TECHNICAL`. */
  technical?: Partial<TechnicalThresholds>;
  /**
   * The ward's alarm-fatigue policies, per vital, under each patient's own settings.
   * Default core/alarms `DEFAULT_POLICIES` (the "before" of `bench:alarms`: `NO_FATIGUE_POLICY`
   * for every vital).
   */
  policies?: Partial<AlarmPolicies>;
  /** Observations older than this are left out of NEWS2 (then partial). Default 5 min. */
  news2MaxAgeMs?: number;
  /** How long a NEWS2 band must hold before its alarm follows (core/alarms DEFAULT_NEWS2_TRIGGER). */
  news2Trigger?: News2TriggerPolicy;
  /** False while the store fails (ingest.healthy). */
  storageHealthy?: () => boolean;
  /** The anchoring outbox status, or null without a ledger. */
  anchoring?: () => { oldestPendingAgeMs: number | null } | null;
  /** MQTT clients now cooling down after the rejection limit (`ingress_throttled`). */
  throttledClients?: () => number;
  /**
   * Conditions other parts of the gateway raise now, by scope (a device id, or `gateway`): a
   * patient's record opened by break-glass (io/care/break-glass-alarms). Asked at every tick
   * and every evaluation, so it must be cheap; a throw counts as none. Default: none.
   */
  scopedConditions?: (now: number) => ReadonlyMap<string, readonly AlarmCondition[]>;
  /** Whether a device's certificate is revoked (`device_revoked` instead of `device_offline`). Default: never. */
  deviceRevoked?: (dev: string) => boolean;
  /**
   * A gateway group's alarm ledger (issue 16): the group's alarms are decided there, once
   * (io/clinical/alarm-group), and their history kept there; and its per-patient settings
   * (`settings`, io/clinical/settings-rows) with the ACVPU entries. Call `join()` after
   * construction. A lone gateway passes its store's ledger (io/clinical/local-alarm-ledger:
   * the same decision path, its alarm states outliving a restart) and no `settings` (kept in
   * its store). Without it the board decides alone, its open alarms in memory only.
   */
  /** `alone`: the ledger is this gateway's only (a lone gateway's; core/alarms `ownLedger`). */
  group?: { ledger: AlarmLedger; gatewayId: string; settings?: SharedPatientSettings; alone?: boolean };
  /** Every transition, settings and standby change, and patient view. Must not throw. */
  audit?: (e: AlarmAuditEvent) => void;
}

/** What the options say of the gateway's health now (core/alarms `gatewayConditions`' input). */
export function gatewayHealthOf(o: AlarmServiceOptions) {
  return {
    storageHealthy: o.storageHealthy?.() ?? true,
    oldestPendingAgeMs: o.anchoring?.()?.oldestPendingAgeMs ?? null,
    throttledClients: o.throttledClients?.() ?? 0,
  };
}

/** The conditions raised elsewhere (`scopedConditions`) at `now`, by scope; none when it throws. */
export function scopedOf(
  o: AlarmServiceOptions,
  now: number,
): ReadonlyMap<string, readonly AlarmCondition[]> {
  try {
    return o.scopedConditions?.(now) ?? NONE;
  } catch {
    return NONE;
  }
}

/** Whether `dev`'s certificate is revoked; the identity store failing is not a revocation. */
export function revokedOf(o: AlarmServiceOptions, dev: string): boolean {
  try {
    return o.deviceRevoked?.(dev) === true;
  } catch {
    return false;
  }
}

/** Reports `e` to the audit callback; if that throws, alarms go on. */
export function auditOf(o: AlarmServiceOptions, e: AlarmAuditEvent): void {
  try {
    o.audit?.(e);
  } catch {
    // The audit callback must not throw; nothing here depends on it.
  }
}

const NONE: ReadonlyMap<string, readonly AlarmCondition[]> = new Map();
