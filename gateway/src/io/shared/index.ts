/**
 * @module io/shared
 * The state the gateways of a group share (issue 16: "shared clinical state in an existing
 * engine"), in PostgreSQL: for now the dashboard accounts (io/shared/pg-users), behind the
 * same io/identity `UserDirectory` as the embedded users file, the admissions
 * (io/shared/pg-bindings), behind the same io/store `BindingBook` as the SQLite store, and
 * the alarms, decided once for the group (io/shared/pg-alarms, an io/clinical `AlarmLedger`),
 * and the per-patient settings (io/shared/pg-settings, io/clinical `SharedPatientSettings`),
 * and the group's audit chain, a shared copy of every gateway's audit log (io/shared/pg-audit,
 * an io/ops `AuditTrail`). The schema and its owners are
 * in io/shared/schema. The one way into this folder from the rest of the gateway
 * (test/unit/house-rules.test.ts).
 */

export {
  type OpenBindingBook,
  type OpenUserDirectory,
  openBindingBook,
  openUserDirectory,
} from './open-stores.js';
export { DEFAULT_ALARMS_POLL_MS, PgAlarms, type PgAlarmsOptions } from './pg-alarms.js';
export {
  type CrossCheckReport,
  DEFAULT_AUDIT_SHIP_BATCH,
  DEFAULT_AUDIT_SHIP_MS,
  type GroupAuditGateway,
  type GroupAuditProblem,
  type GroupAuditReport,
  type GroupAuditRow,
  groupHash,
  PgAuditShipper,
  type PgAuditShipperOptions,
  PgAuditTrail,
} from './pg-audit.js';
export { DEFAULT_BINDINGS_POLL_MS, PgBindings, type PgBindingsOptions } from './pg-bindings.js';
export { HEARTBEAT_MS, PEER_STALE_MS, type Peer, PgPeers, type PgPeersOptions } from './pg-peers.js';
export { PgSessions, type SessionShare, type SharedSessionRow } from './pg-sessions.js';
export { DEFAULT_SETTINGS_POLL_MS, PgPatientSettings, type PgPatientSettingsOptions } from './pg-settings.js';
export { DEFAULT_USERS_POLL_MS, PgUserDirectory, type PgUserDirectoryOptions } from './pg-users.js';
export { openSharedPool, poolConfig, type SharedPostgresOptions, SharedStateError } from './postgres.js';
export { PG_TABLE_OWNERS, type PgTableName, SHARED_SCHEMA_VERSION } from './schema.js';
