/**
 * @module io/ops/backup
 * Online backup and restore of a data directory (issue 16), while its gateway runs: the
 * backup takes no instance lock (io/ops/instance-lock; the running gateway holds it) and
 * relies on SQLite's own locking, as `kgc enroll` does.
 *
 * What is copied (`backupDataDir`), into `OUT/data/` with the same paths and modes:
 * - `gateway/gateway.db` through the SQLite online backup API (better-sqlite3
 *   `db.backup`, https://sqlite.org/backup.html) from a read-only connection, all pages in
 *   one step: one read transaction, so in WAL mode one consistent snapshot while the
 *   gateway goes on committing. Everything of the log is in that file: frames and batches,
 *   the RFC 9162 tree (`log_nodes`), the checkpoints (the anchoring outbox) and their signed
 *   notes, the device registry and the sealed data keys. Log and checkpoints are therefore
 *   one snapshot; nothing of them lives outside the database, so no copy order can put a
 *   checkpoint ahead of its tree.
 * - the audit log: `audit.head` first, then `audit.log`, cut after its last complete line.
 *   The log only grows and the head is renamed in after its batch is fsync'd, so the copied
 *   log holds at least the lines the copied head names; a head behind the log is valid
 *   (io/ops/audit `verifyAuditLog`). No audit lock is taken: the gateway never waits on a backup.
 * - every other regular file: the checkpoint key, TLS material, users, recipients' keys,
 *   the KGC and the devices' folders, the chain folder's deployment and account keys. Each
 *   is written whole by rename (io/ops/datadir `writeJson`), so a copy is the old or the new
 *   version. These change rarely; a key or account added during the backup may be missed.
 * Left out: SQLite's `-wal`, `-shm` and `-journal` files (the snapshot has their content),
 *   lock files (`instance.lock`, `audit.lock`), temporary `*.tmp` files, and
 *   `chain/endpoint.json` (the address of a running embedded chain, rewritten at its start).
 *
 * The copy is built in a sibling `OUT.partial-…` directory and renamed to OUT at the end, so
 * a failed backup never leaves a plausible OUT. It is verified before the rename:
 * `PRAGMA integrity_check` on the store copy, and the caller's `inspect` reads the copy's log
 * (tree size, root, checkpoints) for the manifest (io/ops/backup-manifest).
 *
 * `restoreBackup` checks every file against the manifest first, copies into a sibling of the
 * target, checks the store copy again, and renames it into place.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { AUDIT_HEAD_FILE, AUDIT_LOG_FILE, verifyAuditLog } from './audit.js';
import {
  BACKUP_DATA_DIR,
  BACKUP_FORMAT,
  BACKUP_MANIFEST_FILE,
  BackupError,
  type BackupFileEntry,
  type BackupManifest,
  type BackupStoreSummary,
  hashFile,
  invalidBackup,
  listFiles,
  verifyBackup,
} from './backup-manifest.js';
import { INSTANCE_LOCK_FILE } from './instance-lock.js';
import { fsyncPath } from './safe-write.js';

/** The store file, relative to a data directory. */
const DB = 'gateway/gateway.db';
const AUDIT_LOG = `gateway/${AUDIT_LOG_FILE}`;
const AUDIT_HEAD = `gateway/${AUDIT_HEAD_FILE}`;
/** Runtime files, never part of a backup (see the module notes). */
const SKIPPED = new Set([`gateway/${INSTANCE_LOCK_FILE}`, 'gateway/audit.lock', 'chain/endpoint.json']);
const SKIPPED_SUFFIX = /(-wal|-shm|-journal|\.tmp)$|\/instance\.lock\.stale-\d+$/;

/** Reads the log of a store copy (tree size, root, checkpoints), checking it is consistent. */
export type StoreInspector = (dbPath: string) => BackupStoreSummary;

export interface BackupOptions {
  /** The data directory (its root). */
  dataDir: string;
  /** The backup directory to create: must not exist, or be an empty directory. */
  out: string;
  inspect: StoreInspector;
  /** Clock for the manifest's `createdAt`, default Date.now. */
  now?: () => number;
}

function refuse(reason: string): BackupError {
  return new BackupError('output_path_invalid', reason);
}

/**
 * Checks a directory to create (`backup --out`, `restore --data`): its parent exists, and it
 * does not exist or is an empty directory (not a symlink); not inside `notWithin`.
 * @returns the resolved path.
 */
function checkNewDir(path: string, what: string, notWithin?: string): string {
  const full = resolve(path);
  if (!existsSync(dirname(full)) || !statSync(dirname(full)).isDirectory())
    throw refuse(`the directory that would hold ${what} does not exist`);
  if (notWithin !== undefined && (full === notWithin || full.startsWith(`${notWithin}${sep}`)))
    throw refuse(`${what} must not be inside the data directory`);
  let st: ReturnType<typeof lstatSync> | undefined;
  try {
    st = lstatSync(full);
  } catch {
    return full; // does not exist: fine
  }
  if (!st.isDirectory()) throw refuse(`${what} exists and is not a directory`);
  if (readdirSync(full).length > 0) throw refuse(`${what} exists and is not empty`);
  return full;
}

/** A fresh sibling of `target` to build in (same file system, so the final rename is atomic). */
function stagingFor(target: string): string {
  const dir = join(
    dirname(target),
    `.${basename(target)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** Renames the built directory into place (rename(2) replaces an empty directory) and makes it durable. */
function publish(staging: string, target: string): void {
  renameSync(staging, target);
  fsyncPath(dirname(target));
}

/** `PRAGMA integrity_check` of a database file (read-only). */
export function integrityCheck(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** Copies a file keeping its permission bits; returns them. */
function copyWithMode(from: string, to: string): number {
  const mode = statSync(from).mode & 0o777;
  mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
  copyFileSync(from, to);
  chmodSync(to, mode);
  return mode;
}

/** The audit head, then the log cut after its last complete line (see the module notes). */
function copyAudit(src: string, dst: string): void {
  const head = join(src, AUDIT_HEAD);
  const log = join(src, AUDIT_LOG);
  if (existsSync(head)) copyWithMode(head, join(dst, AUDIT_HEAD));
  if (!existsSync(log)) return;
  const mode = statSync(log).mode & 0o777;
  const bytes = readFileSync(log);
  const end = bytes.lastIndexOf(0x0a) + 1;
  mkdirSync(dirname(join(dst, AUDIT_LOG)), { recursive: true, mode: 0o700 });
  writeFileSync(join(dst, AUDIT_LOG), bytes.subarray(0, end), { mode });
  chmodSync(join(dst, AUDIT_LOG), mode);
}

/** The SQLite online backup of `from` into the new file `to`, all pages in one step. */
async function snapshotStore(from: string, to: string): Promise<void> {
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // One step for every remaining page: one read transaction, one snapshot, and no restart
    // (a step-wise backup restarts whenever another connection writes between its steps).
    await db.backup(to, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  chmodSync(to, statSync(from).mode & 0o777);
}

/**
 * Backs up a data directory, its gateway running or not.
 * @returns the manifest written to `OUT/manifest.json`.
 * @throws {BackupError} `output_path_invalid` when OUT exists and is not an empty directory,
 *   lies inside the data directory, or its parent does not exist; `backup_invalid` when the
 *   data directory has no store or the copy fails its integrity check.
 * @example
 * const m = await backupDataDir({ dataDir: 'DATA', out: '/backups/gw-1', inspect });
 */
export async function backupDataDir(opts: BackupOptions): Promise<BackupManifest> {
  const src = resolve(opts.dataDir);
  const out = checkNewDir(opts.out, 'the backup directory (--out)', src);
  if (!existsSync(join(src, DB))) throw invalidBackup('the data directory has no store (gateway/gateway.db)');
  const staging = stagingFor(out);
  try {
    const dst = join(staging, BACKUP_DATA_DIR);
    mkdirSync(join(dst, 'gateway'), { recursive: true, mode: 0o700 });
    const createdAt = new Date((opts.now ?? Date.now)()).toISOString();
    await snapshotStore(join(src, DB), join(dst, DB));
    copyAudit(src, dst);
    for (const rel of listFiles(src, () => {})) {
      if (rel === DB || rel === AUDIT_LOG || rel === AUDIT_HEAD) continue;
      if (SKIPPED.has(rel) || SKIPPED_SUFFIX.test(rel)) continue;
      try {
        copyWithMode(join(src, rel), join(dst, rel));
      } catch (err) {
        // A temporary file that went away between the listing and the copy.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const integrity = integrityCheck(join(dst, DB));
    if (integrity !== 'ok') throw invalidBackup('the store copy fails PRAGMA integrity_check');
    const store = opts.inspect(join(dst, DB));
    const audit = verifyAuditLog(join(dst, 'gateway'));
    const files: BackupFileEntry[] = listFiles(dst, () => {}).map((rel) => {
      const { sha256, size } = hashFile(join(dst, rel));
      return { path: rel, size, sha256, mode: statSync(join(dst, rel)).mode & 0o777 };
    });
    if (files.some((f) => SKIPPED_SUFFIX.test(f.path)))
      throw invalidBackup('the store copy left SQLite side files after its inspection');
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      createdAt,
      store,
      integrityCheck: 'ok',
      audit: { lines: audit.lines, intact: audit.ok },
      files,
    };
    writeFileSync(join(staging, BACKUP_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o600,
    });
    for (const f of files) fsyncPath(join(dst, f.path));
    fsyncPath(join(staging, BACKUP_MANIFEST_FILE));
    publish(staging, out);
    return manifest;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

export interface RestoreOptions {
  /** The backup directory (`backup --out`). */
  from: string;
  /** The data directory to create: must not exist, or be an empty directory. */
  dataDir: string;
  inspect: StoreInspector;
}

/**
 * Restores a backup into a new data directory, after checking every file against the
 * manifest; the restored store must pass its integrity check and hold the manifest's log
 * (same tree size and root).
 * @returns the backup's manifest.
 * @throws {BackupError} `backup_invalid` when the backup does not match its manifest or the
 *   restored store not its log; `output_path_invalid` when the target exists and is not empty.
 * @example restoreBackup({ from: '/backups/gw-1', dataDir: '/var/lib/vitaltrail', inspect });
 */
export function restoreBackup(opts: RestoreOptions): BackupManifest {
  const from = resolve(opts.from);
  const target = checkNewDir(opts.dataDir, 'the data directory to restore into (--data)', undefined);
  if (target === from || target.startsWith(`${from}${sep}`))
    throw refuse('the data directory to restore into must not be inside the backup');
  const manifest = verifyBackup(from);
  const staging = stagingFor(target);
  try {
    for (const f of manifest.files) {
      const to = join(staging, f.path);
      mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
      copyFileSync(join(from, BACKUP_DATA_DIR, f.path), to);
      chmodSync(to, f.mode);
      // Copied after the check: make sure what landed is what was checked.
      if (hashFile(to).sha256 !== f.sha256) throw invalidBackup(`${f.path} changed while it was restored`);
      fsyncPath(to);
    }
    if (integrityCheck(join(staging, DB)) !== 'ok')
      throw invalidBackup('the restored store fails PRAGMA integrity_check');
    const got = opts.inspect(join(staging, DB));
    if (got.treeSize !== manifest.store.treeSize || got.root !== manifest.store.root)
      throw invalidBackup('the restored store does not hold the log its manifest names');
    chmodSync(staging, 0o700);
    publish(staging, target);
    return manifest;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}
