/**
 * @module io/clinical
 * The clinical layer over the live hub: alarms (IEC 60601-1-8, with the alarm-fatigue
 * controls of issue 15) and NEWS2 per patient, with their persisted settings, standby and
 * alarm history.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */

export {
  type AlarmDecision,
  type AlarmLedger,
  GATEWAY_SCOPE,
  type LedgerEvent,
  type RemoteAlarmEvent,
  sharedAlarmOfRow,
} from './alarm-ledger.js';
export {
  type AlarmAuditEvent,
  AlarmService,
  type AlarmServiceOptions,
  type LiveMessage,
  MAX_STANDBY_MINUTES,
  type PatientSettingsUpdate,
  type StandbyRequest,
  type TileStateDto,
} from './alarm-service.js';
export { AlarmStore } from './alarm-store.js';
export { LocalAlarmLedger, type LocalAlarmLedgerOptions } from './local-alarm-ledger.js';
export type { ConsciousnessEntry, PatientSettingsRows, SharedPatientSettings } from './settings-rows.js';
