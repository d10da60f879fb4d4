/**
 * @module io/store/migrations
 * The DDL of every schema version of the gateway's SQLite database, oldest first: the one
 * place a table or index is created or changed (io/store/schema runs them, one transaction
 * each, and names each table's owner).
 *
 * Versions (a data directory records its own in `meta.schema_version`):
 * - 1: the first release. Only the store's own tables were created at open; the sealed
 *   store, bindings, checkpoint notes and alarm tables were created lazily by their
 *   modules, so a version-1 file may lack any of them (e.g. one only `kgc enroll` wrote).
 * - 2: every table is created at open, here.
 * - 3: `rollups` (issue 14), sealed per-window aggregates for trends. The migration only
 *   creates the table: rollups of frames stored before it cannot be made at open, since
 *   sealing one needs the frames' data keys and the gateway holds only the recipients'
 *   public keys. They are filled lazily (io/queries `readTrend`): a reader holding a
 *   private key answers a window without a complete rollup from its raw frames, exactly,
 *   and writes the missing rollup back; until then no answer depends on a rollup that
 *   does not count every frame the index holds for its window.
 *
 * - 4: `shred_records` (issue 17), the shredding records appended to the log by `shred`;
 *   `device_certificates`, the certificates a re-enrolment replaced; `outbound_cursors` and
 *   `outbound_dead_letters`, the outbound interfaces' delivery state (issue 19).
 * - 5: `displays` (issue 15), the enrolled wall displays (kiosks) of the ward page.
 * - 6: the replay of dead letters (issue 19): `outbound_dead_letters` gains its code, its
 *   attempts and the replay columns (`vitaltrail outbound replay`).
 * - 7: the clinical state a lone gateway keeps behind the same interfaces as a group's
 *   PostgreSQL (issue 16): `dashboard_alarms`, the ward's alarms as decided (so an
 *   acknowledgement outlives a restart), and `dashboard_sessions`, the signed-in sessions
 *   (the SHA-256 of each id, never the id).
 * - 8: the access log (issue 18, io/access): `access_entries` (each view or export of a
 *   patient's data, its canonical bytes and RFC 9162 leaf hash), `access_nodes` (its Merkle
 *   tree's perfect subtrees, as `log_nodes`) and `access_checkpoints` (its checkpoints with
 *   their signed notes, the access log's anchoring outbox, as `checkpoints`).
 * - 9: the patients' keys (issue 18, io/care): `care_patient_keys`, per pseudonym the
 *   address registered on the chain and the keystore the patient portal sealed with the
 *   patient's passphrase (which the gateway never sees).
 * - 10: break-glass openings (issue 18, io/care): `care_break_glass`, who opened which
 *   patient's record (pseudonym), why, and until when.
 * - 11: sealed frames as COSE_Encrypt0 (issue 14, core/cose-encrypt0): `sealed_frames.jwe`
 *   is renamed `envelope`. New rows hold a COSE_Encrypt0 (a BLOB); rows written before hold
 *   their JWE text and stay readable as they are (io/store/sealed tells them by type), so
 *   the migration rewrites no row.
 * - 12: indexes for what a long-running gateway reads again and again (issue 14): the
 *   anchoring outbox by state (`checkpoints_state`: the pending checkpoints are read every
 *   second, by the alarm tick's anchoring status and each `/metrics` scrape, and one is added
 *   every 10 s, so without it each read scanned every checkpoint since the first); the
 *   devices by when their row was written (`devices_updated`: the registry reads the rows
 *   changed since its last look every 2 s); the admissions still open (`bindings_open`), the
 *   break-glass openings by their end (`care_break_glass_until`, read every 10 s) and the dead
 *   letters not yet replayed by receiver (`outbound_dead_letters_open`, counted per receiver).
 * - 13: both Merkle logs keep every fourth level only (anchor/src/log/strata); the rows between go.
 * - 14: indexes for crypto-shredding at scale (io/store/shredding): the sealed frames by data
 *   key (`sealed_frames_key`: each destroyed key's frames were found by reading every sealed
 *   frame of the store, 143 ms a key at a million frames, so a month of a ward took days),
 *   and the data keys not yet destroyed by window (`data_keys_unshredded`, partial: the
 *   expired ones are found without passing every key destroyed before them);
 *   `data_keys_window`, which no statement used, goes.
 *
 * Never edit a released migration: a data directory records the version it is at, and a
 * change needs a new one.
 */
import type Database from 'better-sqlite3';
export const META = 'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);';

/** Version 1: the store's own tables (frames index, batches, log, outbox, devices). */
const V1 = `
${META}
CREATE TABLE IF NOT EXISTS devices (
  dev TEXT PRIMARY KEY,
  cert_pem TEXT NOT NULL,
  spki_sha256 TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  enrolled_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
  id INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  first_leaf INTEGER NOT NULL,
  frame_count INTEGER NOT NULL,
  envelope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
  dev TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash BLOB NOT NULL,
  prev BLOB NOT NULL,
  ts INTEGER NOT NULL,
  accepted_at INTEGER NOT NULL,
  leaf_index INTEGER NOT NULL UNIQUE,
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  batch_pos INTEGER NOT NULL,
  PRIMARY KEY (dev, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frames_dev_ts ON frames (dev, ts);
CREATE TABLE IF NOT EXISTS log_nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  tree_size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  tx_hash TEXT,
  block_number INTEGER,
  anchored_at INTEGER,
  -- pending: in the outbox; anchored: on chain; superseded: the chain already holds a
  -- larger tree for this log (still provable through a consistency proof).
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'anchored', 'superseded'))
);
CREATE TABLE IF NOT EXISTS rejections (
  code TEXT PRIMARY KEY,
  count INTEGER NOT NULL
);
`;

/** Version 2: the tables version 1 created lazily, now created at open. */
const V2 = `
CREATE TABLE IF NOT EXISTS data_keys (
  id INTEGER PRIMARY KEY,
  dev TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  -- General JSON JWE of the 32-byte key, wrapped for every recipient; NULL once shredded.
  envelope TEXT,
  shredded_at INTEGER
);
CREATE INDEX IF NOT EXISTS data_keys_window ON data_keys (window_start);
CREATE TABLE IF NOT EXISTS sealed_frames (
  leaf_index INTEGER PRIMARY KEY,
  key_id INTEGER NOT NULL REFERENCES data_keys(id),
  jwe TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bindings (
  id INTEGER PRIMARY KEY,
  dev TEXT NOT NULL,
  bed TEXT NOT NULL,
  patient TEXT NOT NULL,     -- General JSON JWE of the patient id (never in clear)
  from_ts INTEGER NOT NULL,
  to_ts INTEGER
);
CREATE INDEX IF NOT EXISTS bindings_dev ON bindings (dev, from_ts);
CREATE TABLE IF NOT EXISTS checkpoint_notes (tree_size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dashboard_patient_settings (
  dev TEXT PRIMARY KEY,
  settings TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_alarm_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  alarm_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  code TEXT NOT NULL,
  kind TEXT NOT NULL,
  event TEXT NOT NULL,
  priority TEXT NOT NULL,
  at INTEGER NOT NULL,
  by TEXT,
  comment TEXT
);
CREATE INDEX IF NOT EXISTS dashboard_alarm_events_scope ON dashboard_alarm_events(scope, id);
`;

/**
 * Version 3: sealed rollups (issue 14). One row per (device, resolution, window of device
 * time, data key): the aggregate of the frames of that window sealed under that key, itself
 * sealed under the same key (AES-256-GCM, io/store/rollups), so shredding the key hides it.
 * `frames` (in clear, bound in the AAD) is what the readers check against the frame index.
 */
const V3 = `
CREATE TABLE IF NOT EXISTS rollups (
  dev TEXT NOT NULL,
  res INTEGER NOT NULL,            -- window length, ms: 60000 or 900000
  window_start INTEGER NOT NULL,   -- device clock, ms, a multiple of res
  key_id INTEGER NOT NULL REFERENCES data_keys(id),
  frames INTEGER NOT NULL,         -- frames aggregated (bound in the AAD)
  sealed BLOB NOT NULL,            -- 12-byte IV || ciphertext || 16-byte tag
  PRIMARY KEY (dev, res, window_start, key_id)
) WITHOUT ROWID;
`;

/**
 * Version 4 (issue 17): shredding records, one row per data key destroyed by `shred`: the
 * record's leaf in the log, and the record's bytes (protocol/shred-record). Keys shredded by
 * an earlier release have no record (their frames can no longer be listed: the verifier
 * reports such entries `malformed`, as a shredded entry no anchored record covers). And the
 * certificates re-enrolments replace, kept by a trigger on `devices` (certificates replaced
 * before version 4 are gone).
 */
const V4 = `
CREATE TABLE IF NOT EXISTS shred_records (
  leaf_index INTEGER PRIMARY KEY,  -- the record's own leaf in the log
  key_id INTEGER NOT NULL REFERENCES data_keys(id),
  dev TEXT NOT NULL,
  first_leaf INTEGER NOT NULL,     -- the lowest and highest leaf the record lists
  last_leaf INTEGER NOT NULL,
  record BLOB NOT NULL             -- deterministic CBOR, hashed as the leaf
);
CREATE INDEX IF NOT EXISTS shred_records_dev ON shred_records (dev, last_leaf);
-- Certificates a re-enrolment replaced, kept so that an export of older frames carries the
-- certificate that signed them (PROTOCOL.md §6: several certificates per device).
CREATE TABLE IF NOT EXISTS device_certificates (
  dev TEXT NOT NULL,
  cert_pem TEXT NOT NULL,
  spki_sha256 TEXT NOT NULL,
  superseded_at INTEGER NOT NULL,
  PRIMARY KEY (dev, cert_pem)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS devices_keep_superseded AFTER UPDATE OF cert_pem ON devices
  WHEN old.cert_pem <> new.cert_pem
BEGIN
  INSERT OR IGNORE INTO device_certificates (dev, cert_pem, spki_sha256, superseded_at)
  VALUES (old.dev, old.cert_pem, old.spki_sha256, new.updated_at);
END;
-- Outbound interfaces (issue 19): per receiver, the next log position to deliver.
CREATE TABLE IF NOT EXISTS outbound_cursors (
  receiver TEXT PRIMARY KEY,
  -- what the cursor walks: 'log' (next_leaf is a log position) or 'alarms' (an alarm event id)
  source TEXT NOT NULL DEFAULT 'log' CHECK (source IN ('log', 'alarms')),
  next_leaf INTEGER NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0,
  last_ok_at INTEGER,
  last_error TEXT,
  last_error_at INTEGER,
  failures INTEGER NOT NULL DEFAULT 0   -- consecutive failed attempts (the backoff's exponent)
);
-- Messages a receiver refused (receiver_rejected): set aside, never retried automatically.
CREATE TABLE IF NOT EXISTS outbound_dead_letters (
  id INTEGER PRIMARY KEY,
  receiver TEXT NOT NULL,
  reading TEXT NOT NULL,           -- the reading's stable id, <dev>:<seq>
  leaf_index INTEGER NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL
);
`;

/**
 * Version 5 (issue 15): enrolled wall displays (io/identity/displays). A display's token is
 * kept only as its SHA-256 (a stolen database does not let a screen sign in); a revoked
 * enrolment keeps its row (who enrolled and revoked it, and when).
 */
const V5 = `
CREATE TABLE IF NOT EXISTS displays (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_sha256 BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at INTEGER,
  revoked_by TEXT
);
`;

/**
 * Version 6 (issue 19): a dead letter can be sent again once its receiver is fixed. The CLI
 * marks it (`replay_requested_*`); the receiver's delivery worker sends it and marks it
 * replayed (the row is kept), or records the new refusal (`code`, `reason`, `attempts`).
 */
const V6 = `
ALTER TABLE outbound_dead_letters ADD COLUMN code TEXT NOT NULL DEFAULT 'receiver_rejected';
ALTER TABLE outbound_dead_letters ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE outbound_dead_letters ADD COLUMN last_attempt_at INTEGER;
ALTER TABLE outbound_dead_letters ADD COLUMN replay_requested_at INTEGER;
ALTER TABLE outbound_dead_letters ADD COLUMN replay_requested_by TEXT;
ALTER TABLE outbound_dead_letters ADD COLUMN replayed_at INTEGER;
CREATE INDEX IF NOT EXISTS outbound_dead_letters_replay ON outbound_dead_letters (receiver, id)
  WHERE replay_requested_at IS NOT NULL AND replayed_at IS NULL;
`;

/**
 * Version 7 (issue 16): the alarm states and sessions a lone gateway keeps in its own
 * database, behind the interfaces a group keeps in PostgreSQL (io/clinical/alarm-ledger,
 * io/shared `SessionShare`). Mirrors io/shared/schema's `ward_alarms` and `ward_sessions`.
 */
const V7 = `
CREATE TABLE IF NOT EXISTS dashboard_alarms (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  code TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('physiological', 'technical')),
  state TEXT NOT NULL CHECK (state IN ('active', 'acknowledged', 'cleared')),
  priority TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
  base_priority TEXT NOT NULL CHECK (base_priority IN ('low', 'medium', 'high')),
  latched INTEGER NOT NULL,
  raised_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  ack_by TEXT,
  ack_at INTEGER,
  ack_comment TEXT,
  cleared_at INTEGER,
  escalations INTEGER NOT NULL CHECK (escalations >= 0),
  notified_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_alarms_open ON dashboard_alarms (scope, code)
  WHERE state <> 'cleared';
CREATE TABLE IF NOT EXISTS dashboard_sessions (
  id_hash TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  stamp TEXT NOT NULL,
  must_change INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_sessions_last_seen ON dashboard_sessions (last_seen);
`;

/**
 * Version 8 (issue 18): the access log, a second RFC 9162 log of the gateway (io/access).
 * `patient` and `at` repeat the entry's fields for the export's selection; the entry bytes
 * are what the leaf hashes.
 */
const V8 = `
CREATE TABLE IF NOT EXISTS access_entries (
  idx INTEGER PRIMARY KEY,
  entry BLOB NOT NULL,
  leaf_hash BLOB NOT NULL,
  at INTEGER NOT NULL,
  patient TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS access_entries_patient ON access_entries (patient, idx);
CREATE INDEX IF NOT EXISTS access_entries_at ON access_entries (at);
CREATE TABLE IF NOT EXISTS access_nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_checkpoints (
  tree_size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  note TEXT,
  tx_hash TEXT,
  block_number INTEGER,
  anchored_at INTEGER,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'anchored', 'superseded'))
);
CREATE INDEX IF NOT EXISTS access_checkpoints_state ON access_checkpoints (state, tree_size);
`;

/**
 * Version 9 (issue 18): a patient's signing key as the portal made it. `keystore` is the
 * portal's JSON (anchor/src/consent keystore: PBKDF2 + AES-GCM under the patient's
 * passphrase), opaque here; `address` the key's account, registered on the chain.
 */
const V9 = `
CREATE TABLE IF NOT EXISTS care_patient_keys (
  patient TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  keystore TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

/**
 * Version 10 (issue 18): break-glass openings. `patient` is the pseudonym (never a patient id),
 * `actor` the access log's (a doctor's clinician id), `reason` the user's free text (1-500
 * code points), `at`/`until` ms.
 */
const V10 = `
CREATE TABLE IF NOT EXISTS care_break_glass (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  patient TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  until INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS care_break_glass_patient ON care_break_glass (patient, at);
CREATE INDEX IF NOT EXISTS care_break_glass_user ON care_break_glass (username, at);
`;

/**
 * Version 11 (issue 14): the sealed frame's column is named for what it holds, a COSE_Encrypt0
 * (BLOB) from this version on or the JWE (TEXT) of a row written before. Its declared TEXT
 * affinity leaves a BLOB as it is (SQLite "Datatypes", §3), so no row is rewritten. Renamed
 * only where it still has its old name, so that it runs again harmlessly, as the others do.
 */
function v11(db: Database.Database): void {
  const cols = db.pragma('table_info(sealed_frames)') as { name: string }[];
  if (cols.some((c) => c.name === 'jwe')) db.exec('ALTER TABLE sealed_frames RENAME COLUMN jwe TO envelope');
}

/** Version 12: see the module notes. Built once at the migration (a year's outbox: ~3 million rows). */
const V12 = `
CREATE INDEX IF NOT EXISTS checkpoints_state ON checkpoints (state, tree_size);
CREATE INDEX IF NOT EXISTS devices_updated ON devices (updated_at);
CREATE INDEX IF NOT EXISTS bindings_open ON bindings (dev) WHERE to_ts IS NULL;
CREATE INDEX IF NOT EXISTS care_break_glass_until ON care_break_glass (until);
CREATE INDEX IF NOT EXISTS outbound_dead_letters_open ON outbound_dead_letters (receiver)
  WHERE replayed_at IS NULL;
`;

/** Version 13: see the module notes; 4 is anchor/src/log/strata's `STRATUM_HEIGHT`. */
const V13 = 'DELETE FROM log_nodes WHERE level % 4 != 0; DELETE FROM access_nodes WHERE level % 4 != 0;';

/** Version 14: see the module notes. Built once at the migration, from every sealed frame. */
const V14 = `
CREATE INDEX IF NOT EXISTS sealed_frames_key ON sealed_frames (key_id);
CREATE INDEX IF NOT EXISTS data_keys_unshredded ON data_keys (window_start) WHERE shredded_at IS NULL;
DROP INDEX IF EXISTS data_keys_window;
`;

export interface Migration {
  /** The version this migration brings the file to. */
  readonly version: number;
  /** Its statements, or a function when one depends on what the file holds. */
  readonly sql: string | ((db: Database.Database) => void);
}

/** In order; each brings a file from `version - 1` to `version`. Never edit a released one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, sql: V1 },
  { version: 2, sql: V2 },
  { version: 3, sql: V3 },
  { version: 4, sql: V4 },
  { version: 5, sql: V5 },
  { version: 6, sql: V6 },
  { version: 7, sql: V7 },
  { version: 8, sql: V8 },
  { version: 9, sql: V9 },
  { version: 10, sql: V10 },
  { version: 11, sql: v11 },
  { version: 12, sql: V12 },
  { version: 13, sql: V13 },
  { version: 14, sql: V14 },
];
