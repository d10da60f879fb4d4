/**
 * @module io/shared/schema
 * Every table of the PostgreSQL database a gateway group shares (issue 16), its schema
 * version and the migrations that bring an older database up to it. The one place a shared
 * table is declared (as io/store/schema is for the SQLite store); each table's statements
 * live in the one module `PG_TABLE_OWNERS` names (kept so by test/unit/store-schema.test.ts).
 *
 * Tables:
 * - `schema_version`: one row, the version the database is at (this module).
 * - `users` (io/shared/pg-users): the dashboard accounts, one row per user: the fields of
 *   io/identity `User`, plus `change_no`, a number drawn from the sequence `users_change_no`
 *   by a trigger at every insert and update. Since numbers are never reused, the row count
 *   and the largest `change_no` together change at every write (a removal lowers the count;
 *   anything else brings a new largest number), which is what `signature()` reports.
 *   Every statement that changes the table sends `NOTIFY vitaltrail_users` (a statement
 *   trigger, so an operator's manual edit is seen too).
 * - `ward_bindings` (io/shared/pg-bindings): the admissions of the group, one row per binding
 *   of a device to a patient and bed, as io/store `Bindings` keeps them in SQLite: `id` (from
 *   the sequence `ward_bindings_id`, so two gateways never draw the same), `dev`, `bed` (in
 *   clear: it labels tiles), `bed_key` (io/store `bedKey` of the bed: "Bed 3" and "bed  3"
 *   are one bed), `patient` (the patient id SEALED, a JWE bound by AAD to id, device and start;
 *   never the id in clear, nor a hash of it), `from_ts`, `to_ts` (null while open), who
 *   admitted and discharged (user names), and `change_no` as in `users`. At most one open
 *   binding per device and per bed (partial unique indexes, behind the writers' advisory
 *   lock). Every statement that changes it sends `NOTIFY vitaltrail_bindings`.
 *
 * - `ward_alarms` (io/shared/pg-alarms): the group's alarms (issue 16, "alarms decided
 *   once"), one row per alarm: id, scope (a device id, or `gateway:<gatewayId>` for a
 *   gateway-wide technical alarm), code, kind, state, priorities, latched, the
 *   acknowledgement (who, when, comment), escalations and times. No vital value (the trigger
 *   value and limit stay in each gateway's memory). At most one open alarm per scope and code
 *   (a partial unique index: of two gateways raising it at once, one row).
 * - `ward_alarm_events` (io/shared/pg-alarms): every recorded transition, numbered without
 *   gaps in the order they were recorded (written under an advisory lock), with the gateway
 *   that recorded it: the group's alarm history and its outbound alarm feed. Every insert
 *   sends `NOTIFY vitaltrail_alarms`.
 *
 * - `ward_patient_settings` (io/shared/pg-settings): each bed/device's clinical settings
 *   as io/clinical/patient-settings keeps them (SpO2 scale, oxygen, alarm limits, policies,
 *   standby: one JSON text per device, configuration, no readings), who changed them last
 *   and when, and `change_no` as in `users`. Every change sends `NOTIFY vitaltrail_settings`
 *   (no payload); a nurse's ACVPU entry travels on the same channel as a payload, never stored.
 * - `ward_sessions` (io/shared/pg-sessions): the group's dashboard sessions, one row per
 *   session: the SHA-256 of its id (never the id), user, role, account stamp, whether a
 *   password change is due, created and last used. Deleting a row (sign-out, replaced, idle)
 *   sends `NOTIFY vitaltrail_sessions` with the hash as payload.
 * - `ward_gateways` (io/shared/pg-peers): the gateways of the group, each with the URL its
 *   dashboard's API is reached at and its last heartbeat (a trend asks every gateway).
 * - `ward_audit` (io/shared/pg-audit): the group's audit trail, one hash chain over every
 *   gateway's audit lines as each gateway's shipper copies them from its file log (which
 *   stays the primary record): `id` (gapless, drawn under an advisory lock), `gateway`, `n`
 *   (the line's number in that gateway's file chain), `line` (the file line, whitelisted
 *   audit JSON), `line_hash` (SHA-256 of the line's bytes), `prev` and `hash` (the group
 *   chain; defined in io/shared/pg-audit). UNIQUE (gateway, n): a line is shipped once.
 *
 * Versions:
 * - 1: `schema_version`, `users` (issue 16, the first slice of the shared state).
 * - 2: `ward_bindings` (issue 16: "an admission made on A is used by B's next readings").
 * - 3: `ward_alarms`, `ward_alarm_events` (issue 16: "alarms decided once").
 * - 4: `ward_patient_settings` (issue 16: per-patient alarm limits and NEWS2 settings shared).
 * - 5: `ward_sessions` (issue 16: sessions shared; one URL for nurses).
 * - 6: `ward_gateways` (issue 16: trends and history across gateways).
 * - 7: `ward_audit` (issue 16: the audit of views and alarm transitions, the group's).
 * - 8: the roles `doctor` and `patient` (issue 18) in `users` and `ward_sessions`, and
 *   `users.subject` (a doctor's clinician id or a patient's pseudonym: exactly those roles).
 * - 9: a nurse's or charge nurse's account may name a clinician id too (issue 18: nurses are
 *   registered on the chain, and a suspension there ends their sessions).
 *
 * The migrations run in one transaction under an advisory lock, so gateways starting at
 * once migrate one after the other and a crash leaves the old version or the new one. A
 * database newer than this code is left as it is: `migrateShared` returns its version and
 * io/shared/postgres refuses it (`shared_unavailable`), never downgrading it.
 */
import type pg from 'pg';
import { ROLES, SUBJECT_PATTERN } from '../identity/index.js';

/** The version this code writes and reads. */
export const SHARED_SCHEMA_VERSION = 9;

/** Every shared table, with the module that owns its statements (paths from gateway/src/io/). */
export const PG_TABLE_OWNERS = {
  schema_version: 'shared/schema.ts',
  users: 'shared/pg-users.ts',
  ward_bindings: 'shared/pg-bindings.ts',
  ward_alarms: 'shared/pg-alarms.ts',
  ward_alarm_events: 'shared/pg-alarms.ts',
  ward_patient_settings: 'shared/pg-settings.ts',
  ward_sessions: 'shared/pg-sessions.ts',
  ward_gateways: 'shared/pg-peers.ts',
  ward_audit: 'shared/pg-audit.ts',
} as const;

export type PgTableName = keyof typeof PG_TABLE_OWNERS;

/** The channel of `users` changes (LISTEN/NOTIFY). */
export const USERS_CHANNEL = 'vitaltrail_users';

/** The channel of `ward_bindings` changes (LISTEN/NOTIFY). */
export const BINDINGS_CHANNEL = 'vitaltrail_bindings';

/** The channel of `ward_alarm_events` inserts (LISTEN/NOTIFY). */
export const ALARMS_CHANNEL = 'vitaltrail_alarms';

/** The channel of `ward_patient_settings` changes and of ACVPU entries (LISTEN/NOTIFY). */
export const SETTINGS_CHANNEL = 'vitaltrail_settings';

/** The channel of ended sessions (LISTEN/NOTIFY; payload: the hash of the session id). */
export const SESSIONS_CHANNEL = 'vitaltrail_sessions';

/** Taken for the migration's transaction: one migrating gateway at a time. */
const MIGRATION_LOCK = 0x5654_5348; // "VTSH"

/** The roles of the first releases (versions 1 and 5 check them): released migrations never change. */
const FIRST_ROLES = ['admin', 'nurse', 'charge_nurse', 'auditor'];
const roleList = FIRST_ROLES.map((r) => `'${r}'`).join(', ');
/** Every role of this release (version 8 on). */
const allRoles = ROLES.map((r) => `'${r}'`).join(', ');
/** io/identity `SUBJECT_PATTERN` (a POSIX regular expression as it is). */
const subjectRule = SUBJECT_PATTERN.source;

/** Migration `i` brings version `i` to `i + 1`. */
const MIGRATIONS: readonly (readonly string[])[] = [
  [
    'CREATE SEQUENCE users_change_no',
    `CREATE TABLE users (
      username text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._-]{1,64}$'),
      role text NOT NULL CHECK (role IN (${roleList})),
      password_hash text NOT NULL,
      created_at bigint NOT NULL,
      disabled boolean NOT NULL DEFAULT false,
      must_change boolean NOT NULL DEFAULT false,
      change_no bigint NOT NULL DEFAULT nextval('users_change_no')
    )`,
    `CREATE FUNCTION users_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.change_no := nextval('users_change_no'); RETURN NEW; END $$`,
    'CREATE TRIGGER users_stamp BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_stamp()',
    `CREATE FUNCTION users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${USERS_CHANNEL}', ''); RETURN NULL; END $$`,
    'CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION users_notify()',
  ],
  [
    'CREATE SEQUENCE ward_bindings_id',
    'CREATE SEQUENCE ward_bindings_change_no',
    `CREATE TABLE ward_bindings (
      id bigint PRIMARY KEY,
      dev text NOT NULL CHECK (dev ~ '^[A-Za-z0-9._-]{1,64}$'),
      bed text NOT NULL CHECK (bed ~ '^[A-Za-z0-9 ._/-]{1,32}$'),
      bed_key text NOT NULL,
      patient text NOT NULL,
      from_ts bigint NOT NULL,
      to_ts bigint CHECK (to_ts IS NULL OR to_ts >= from_ts),
      admitted_by text,
      discharged_by text,
      change_no bigint NOT NULL DEFAULT nextval('ward_bindings_change_no')
    )`,
    'CREATE INDEX ward_bindings_dev ON ward_bindings (dev, from_ts)',
    'CREATE UNIQUE INDEX ward_bindings_open_dev ON ward_bindings (dev) WHERE to_ts IS NULL',
    'CREATE UNIQUE INDEX ward_bindings_open_bed ON ward_bindings (bed_key) WHERE to_ts IS NULL',
    `CREATE FUNCTION ward_bindings_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.change_no := nextval('ward_bindings_change_no'); RETURN NEW; END $$`,
    'CREATE TRIGGER ward_bindings_stamp BEFORE INSERT OR UPDATE ON ward_bindings FOR EACH ROW EXECUTE FUNCTION ward_bindings_stamp()',
    `CREATE FUNCTION ward_bindings_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${BINDINGS_CHANNEL}', ''); RETURN NULL; END $$`,
    'CREATE TRIGGER ward_bindings_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ward_bindings FOR EACH STATEMENT EXECUTE FUNCTION ward_bindings_notify()',
  ],
  [
    `CREATE TABLE ward_alarms (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9-]{1,64}$'),
      scope text NOT NULL CHECK (scope ~ '^[A-Za-z0-9._:-]{1,80}$'),
      code text NOT NULL CHECK (code ~ '^[a-z0-9_]{1,40}$'),
      kind text NOT NULL CHECK (kind IN ('physiological', 'technical')),
      state text NOT NULL CHECK (state IN ('active', 'acknowledged', 'cleared')),
      priority text NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
      base_priority text NOT NULL CHECK (base_priority IN ('low', 'medium', 'high')),
      latched boolean NOT NULL,
      raised_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      ack_by text,
      ack_at bigint,
      ack_comment text CHECK (length(ack_comment) <= 500),
      cleared_at bigint,
      escalations integer NOT NULL CHECK (escalations >= 0),
      notified_at bigint NOT NULL
    )`,
    "CREATE UNIQUE INDEX ward_alarms_open ON ward_alarms (scope, code) WHERE state <> 'cleared'",
    `CREATE TABLE ward_alarm_events (
      id bigint PRIMARY KEY,
      alarm_id text NOT NULL REFERENCES ward_alarms (id),
      scope text NOT NULL,
      code text NOT NULL,
      kind text NOT NULL,
      event text NOT NULL,
      priority text NOT NULL,
      at bigint NOT NULL,
      by text,
      comment text,
      gateway text NOT NULL
    )`,
    'CREATE INDEX ward_alarm_events_scope ON ward_alarm_events (scope, id)',
    `CREATE FUNCTION ward_alarm_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${ALARMS_CHANNEL}', ''); RETURN NULL; END $$`,
    'CREATE TRIGGER ward_alarm_events_notify AFTER INSERT ON ward_alarm_events FOR EACH STATEMENT EXECUTE FUNCTION ward_alarm_events_notify()',
  ],
  [
    'CREATE SEQUENCE ward_patient_settings_change_no',
    `CREATE TABLE ward_patient_settings (
      dev text PRIMARY KEY CHECK (dev ~ '^[A-Za-z0-9._-]{1,64}$'),
      settings text NOT NULL CHECK (length(settings) <= 16384),
      updated_by text NOT NULL,
      updated_at bigint NOT NULL,
      change_no bigint NOT NULL DEFAULT nextval('ward_patient_settings_change_no')
    )`,
    `CREATE FUNCTION ward_patient_settings_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.change_no := nextval('ward_patient_settings_change_no'); RETURN NEW; END $$`,
    'CREATE TRIGGER ward_patient_settings_stamp BEFORE INSERT OR UPDATE ON ward_patient_settings FOR EACH ROW EXECUTE FUNCTION ward_patient_settings_stamp()',
    `CREATE FUNCTION ward_patient_settings_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${SETTINGS_CHANNEL}', ''); RETURN NULL; END $$`,
    'CREATE TRIGGER ward_patient_settings_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ward_patient_settings FOR EACH STATEMENT EXECUTE FUNCTION ward_patient_settings_notify()',
  ],
  [
    `CREATE TABLE ward_sessions (
      id_hash text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
      username text NOT NULL,
      role text NOT NULL CHECK (role IN (${roleList})),
      stamp text NOT NULL,
      must_change boolean NOT NULL,
      created_at bigint NOT NULL,
      last_seen bigint NOT NULL
    )`,
    'CREATE INDEX ward_sessions_last_seen ON ward_sessions (last_seen)',
    `CREATE FUNCTION ward_sessions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${SESSIONS_CHANNEL}', OLD.id_hash); RETURN NULL; END $$`,
    'CREATE TRIGGER ward_sessions_notify AFTER DELETE ON ward_sessions FOR EACH ROW EXECUTE FUNCTION ward_sessions_notify()',
  ],
  [
    `CREATE TABLE ward_gateways (
      gateway_id text PRIMARY KEY CHECK (gateway_id ~ '^[A-Za-z0-9._-]{1,64}$'),
      url text NOT NULL CHECK (url ~ '^https?://[^[:space:]]{1,200}$'),
      seen_at bigint NOT NULL
    )`,
  ],
  [
    `CREATE TABLE ward_audit (
      id bigint PRIMARY KEY CHECK (id >= 1),
      gateway text NOT NULL CHECK (gateway ~ '^[A-Za-z0-9._-]{1,64}$'),
      n bigint NOT NULL CHECK (n >= 1),
      line text NOT NULL CHECK (length(line) <= 65536),
      line_hash text NOT NULL CHECK (line_hash ~ '^[0-9a-f]{64}$'),
      prev text NOT NULL CHECK (prev ~ '^[0-9a-f]{64}$'),
      hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
      UNIQUE (gateway, n)
    )`,
  ],
  [
    `ALTER TABLE users DROP CONSTRAINT users_role_check,
      ADD CONSTRAINT users_role_check CHECK (role IN (${allRoles})),
      ADD COLUMN subject text CHECK (subject IS NULL OR subject ~ '${subjectRule}'),
      ADD CONSTRAINT users_subject_role CHECK ((subject IS NOT NULL) = (role IN ('doctor', 'patient')))`,
    `ALTER TABLE ward_sessions DROP CONSTRAINT ward_sessions_role_check,
      ADD CONSTRAINT ward_sessions_role_check CHECK (role IN (${allRoles}))`,
  ],
  [
    `ALTER TABLE users DROP CONSTRAINT users_subject_role,
      ADD CONSTRAINT users_subject_role CHECK (
        (role IN ('doctor', 'patient') AND subject IS NOT NULL)
        OR (role IN ('nurse', 'charge_nurse'))
        OR subject IS NULL)`,
  ],
];

/**
 * Brings the shared database to `SHARED_SCHEMA_VERSION`.
 * @returns the version it was at before (0: a new database); above `SHARED_SCHEMA_VERSION`
 *   the database is newer than this code and nothing was changed (the caller refuses it)
 * @throws whatever `pg` throws when the database cannot be reached (io/shared/postgres wraps it)
 */
export async function migrateShared(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  let drop: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)');
    const r = await client.query<{ version: number }>('SELECT version FROM schema_version');
    const from = r.rows[0]?.version ?? 0;
    if (from > SHARED_SCHEMA_VERSION) {
      await client.query('ROLLBACK');
      return from;
    }
    for (const step of MIGRATIONS.slice(from)) for (const sql of step) await client.query(sql);
    if (r.rowCount === 0)
      await client.query('INSERT INTO schema_version (version) VALUES ($1)', [SHARED_SCHEMA_VERSION]);
    else if (from < SHARED_SCHEMA_VERSION)
      await client.query('UPDATE schema_version SET version = $1', [SHARED_SCHEMA_VERSION]);
    await client.query('COMMIT');
    return from;
  } catch (err) {
    // ROLLBACK only when the server answered the failure (a DatabaseError); a connection it
    // did not answer (a timeout, a lost link) is dropped instead, as io/shared/postgres `rollBack`.
    drop = err instanceof Error ? err : new Error('migration failed');
    if (typeof (err as { severity?: unknown } | null)?.severity === 'string')
      drop = await client.query('ROLLBACK').then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error('rollback failed')),
      );
    throw err;
  } finally {
    client.release(drop);
  }
}
