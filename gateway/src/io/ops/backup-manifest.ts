/**
 * @module io/ops/backup-manifest
 * The manifest of an online backup (`vitaltrail backup`, io/ops/backup): format
 * `vitaltrail-backup/1`, the time, the store's schema version and log (tree size, root and
 * the last checkpoint at the snapshot), and every file copied with its size, SHA-256 and
 * mode. Restoring checks every file against it before anything is written (`verifyBackup`).
 *
 * ```
 * OUT/manifest.json   this manifest (0600)
 * OUT/data/…          the data directory's files, same relative paths and modes
 * ```
 *
 * Trust: a backup directory may have been carried on removable media or through other
 * hands, so the manifest is parsed defensively (coded `backup_invalid`, never a
 * `SyntaxError`) and every path in it must be a plain relative path inside `data/`.
 * The hashes detect damage and tampering with the files, not someone who rewrites the
 * manifest too: keep a copy of the manifest's SHA-256 elsewhere if that matters.
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join, posix } from 'node:path';
import { errorClass } from '../../protocol/errors.js';

/** The serialized format's name and version. */
export const BACKUP_FORMAT = 'vitaltrail-backup/1';
/** The manifest's file name in a backup directory. */
export const BACKUP_MANIFEST_FILE = 'manifest.json';
/** The folder of a backup directory that holds the copied data directory. */
export const BACKUP_DATA_DIR = 'data';

/** `backup_invalid` (a backup cannot be made or does not match its manifest), `output_path_invalid`. */
export class BackupError extends errorClass<'backup'>('BackupError') {}

/** One copied file: its path relative to the data directory (POSIX separators). */
export interface BackupFileEntry {
  path: string;
  size: number;
  /** SHA-256 of the content, lower-case hex. */
  sha256: string;
  /** Permission bits, e.g. 0o600 for keys (kept on restore). */
  mode: number;
}

/** A checkpoint of the store at the snapshot. */
export interface BackupCheckpoint {
  treeSize: number;
  /** Root hash, lower-case hex. */
  root: string;
  state: 'pending' | 'anchored' | 'superseded';
}

/** What the store copy holds: read from the copy itself, after the snapshot. */
export interface BackupStoreSummary {
  schemaVersion: number;
  /** The log's origin (`vitaltrail/<gatewayId>`), or null when no gateway ran on the store yet. */
  origin: string | null;
  treeSize: number;
  /** Root of the log at `treeSize`, lower-case hex. */
  root: string;
  lastCheckpoint: BackupCheckpoint | null;
  lastAnchored: BackupCheckpoint | null;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  /** When the snapshot was taken (ISO 8601, UTC). */
  createdAt: string;
  store: BackupStoreSummary;
  /** `PRAGMA integrity_check` of the store copy. */
  integrityCheck: 'ok';
  /** The audit log copy: its complete lines and whether `audit verify` finds it intact. */
  audit: { lines: number; intact: boolean };
  files: BackupFileEntry[];
}

const HEX64 = /^[0-9a-f]{64}$/;

export function invalidBackup(reason: string, cause?: unknown): BackupError {
  return new BackupError('backup_invalid', reason, cause === undefined ? undefined : { cause });
}

/** SHA-256 (hex) and byte length of a file, read in 1 MiB chunks. */
export function hashFile(path: string): { sha256: string; size: number } {
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  let size = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: h.digest('hex'), size };
}

/** Whether `p` is a plain relative POSIX path with no `.`, `..` or empty segment. */
export function isPlainRelativePath(p: string): boolean {
  if (p.length === 0 || p.length > 1024 || p.startsWith('/') || p.includes('\\') || p.includes('\0'))
    return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..') && posix.normalize(p) === p;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function checkpointOf(v: unknown): BackupCheckpoint | null {
  if (v === null) return null;
  const c = v as Partial<BackupCheckpoint> | undefined;
  if (
    typeof c !== 'object' ||
    !isCount(c.treeSize) ||
    typeof c.root !== 'string' ||
    !HEX64.test(c.root) ||
    !['pending', 'anchored', 'superseded'].includes(c.state as string)
  )
    throw invalidBackup('the manifest names a malformed checkpoint');
  return { treeSize: c.treeSize, root: c.root, state: c.state as BackupCheckpoint['state'] };
}

/**
 * Parses a manifest (attacker-controlled: from the backup directory).
 * @throws {BackupError} `backup_invalid` when it is not JSON or not the documented shape.
 */
export function parseManifest(text: string): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidBackup('the manifest is not JSON', err);
  }
  const m = raw as Partial<BackupManifest> | null;
  if (typeof m !== 'object' || m === null || m.format !== BACKUP_FORMAT)
    throw invalidBackup(`the manifest is not ${BACKUP_FORMAT}`);
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt)))
    throw invalidBackup('the manifest has no valid createdAt');
  const s = m.store as Partial<BackupStoreSummary> | undefined;
  if (
    typeof s !== 'object' ||
    s === null ||
    !isCount(s.schemaVersion) ||
    !isCount(s.treeSize) ||
    typeof s.root !== 'string' ||
    !HEX64.test(s.root) ||
    !(s.origin === null || typeof s.origin === 'string')
  )
    throw invalidBackup('the manifest has no valid store summary');
  if (m.integrityCheck !== 'ok') throw invalidBackup('the manifest does not record an intact store copy');
  const a = m.audit as Partial<BackupManifest['audit']> | undefined;
  if (typeof a !== 'object' || a === null || !isCount(a.lines) || typeof a.intact !== 'boolean')
    throw invalidBackup('the manifest has no valid audit summary');
  if (!Array.isArray(m.files)) throw invalidBackup('the manifest lists no files');
  const seen = new Set<string>();
  const files = m.files.map((f: Partial<BackupFileEntry>) => {
    if (
      typeof f !== 'object' ||
      f === null ||
      typeof f.path !== 'string' ||
      !isPlainRelativePath(f.path) ||
      !isCount(f.size) ||
      typeof f.sha256 !== 'string' ||
      !HEX64.test(f.sha256) ||
      !Number.isInteger(f.mode) ||
      (f.mode as number) < 0 ||
      (f.mode as number) > 0o777
    )
      throw invalidBackup('the manifest lists a malformed file entry');
    if (seen.has(f.path)) throw invalidBackup('the manifest lists a file twice');
    seen.add(f.path);
    return { path: f.path, size: f.size, sha256: f.sha256, mode: f.mode as number };
  });
  return {
    format: BACKUP_FORMAT,
    createdAt: m.createdAt,
    store: {
      schemaVersion: s.schemaVersion,
      origin: s.origin ?? null,
      treeSize: s.treeSize,
      root: s.root,
      lastCheckpoint: checkpointOf(s.lastCheckpoint ?? null),
      lastAnchored: checkpointOf(s.lastAnchored ?? null),
    },
    integrityCheck: 'ok',
    audit: { lines: a.lines, intact: a.intact },
    files,
  };
}

/** Every regular file under `dir`, as POSIX paths relative to it, sorted; anything else is reported. */
export function listFiles(dir: string, onOther: (rel: string) => void, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(dir, rel));
    if (st.isDirectory()) out.push(...listFiles(dir, onOther, rel));
    else if (st.isFile()) out.push(rel);
    else onOther(rel);
  }
  return out;
}

/**
 * Checks a backup directory against its manifest: every listed file present, a regular file
 * of the listed size and SHA-256, and no other file under `data/`.
 * @throws {BackupError} `backup_invalid` naming the first problem (a path, never content).
 * @example const manifest = verifyBackup('/backups/gw-1-2026-11-21');
 */
export function verifyBackup(dir: string): BackupManifest {
  let text: string;
  try {
    text = readFileSync(join(dir, BACKUP_MANIFEST_FILE), 'utf8');
  } catch (err) {
    throw invalidBackup(`no readable ${BACKUP_MANIFEST_FILE} in the backup directory`, err);
  }
  const manifest = parseManifest(text);
  const dataDir = join(dir, BACKUP_DATA_DIR);
  const listed = new Set(manifest.files.map((f) => f.path));
  let present: string[];
  try {
    present = listFiles(dataDir, (rel) => {
      throw invalidBackup(`${rel} in the backup is not a regular file`);
    });
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw invalidBackup(`the backup has no readable ${BACKUP_DATA_DIR}/ folder`, err);
  }
  const extra = present.find((p) => !listed.has(p));
  if (extra !== undefined) throw invalidBackup(`${extra} in the backup is not in its manifest`);
  const presentSet = new Set(present);
  for (const f of manifest.files) {
    if (!presentSet.has(f.path)) throw invalidBackup(`${f.path} is missing from the backup`);
    const got = hashFile(join(dataDir, f.path));
    if (got.size !== f.size || got.sha256 !== f.sha256)
      throw invalidBackup(`${f.path} in the backup does not match its manifest (size or SHA-256)`);
  }
  if (!listed.has('gateway/gateway.db'))
    throw invalidBackup('the backup holds no store (gateway/gateway.db)');
  return manifest;
}
