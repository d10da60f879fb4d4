/**
 * @module io/ops/audit-rotation
 * The files of the audit log (io/ops/audit; issue 16 "production gaps"): the lock every
 * writer takes, the chain's tail, the head, and rotation. One chain runs across files:
 * the active `audit.log` and the archives `audit.log.<first n>-<last n>` (both numbers
 * zero-padded to 16 digits, so the names sort in chain order), every file mode 0600.
 *
 * Rotation closes the active file under the appenders' lock (`audit.lock`) and starts a
 * new one whose first line — event `audit_rotated`, `detail` naming the archive — carries
 * the next `n` and, as `prev`, the SHA-256 of the archive's last line. The steps, in order:
 *
 * 1. a torn tail of the active file is cut and an `audit_tail_repaired` line appended
 *    (as for any batch), and the file fsync'd;
 * 2. the new file is written as `audit.log.next` with its first line, fsync'd, and the
 *    directory fsync'd (`next-written`);
 * 3. `audit.log` is renamed to its archive name (`archived`);
 * 4. `audit.log.next` is renamed to `audit.log`, the directory fsync'd (`activated`);
 * 5. the head is rewritten to name the new first line.
 *
 * A crash after 2 leaves a stray `audit.log.next` beside an intact `audit.log`: the next
 * writer (under the lock) deletes it. After 3, `audit.log` is missing and `.next` holds
 * the continuation: the next writer renames it into place (finishing step 4). After 4
 * the head still names the archive's last line, which `verifyAuditLog` accepts (a head
 * behind the chain) and the next batch rewrites. In every state the chain on disk is
 * whole, so verify accepts it, before and after the next open. A writer that finds the
 * active file empty or missing continues the chain from the newest archive's last line
 * (then from the head), never from zero.
 *
 * Archives stay plain text: compress or move them with your own tools; `vitaltrail
 * audit verify` reads them uncompressed, and `--from-file NAME` starts at an archive
 * when older ones were moved away.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { errorClass } from '../../protocol/errors.js';
import { pidAlive } from './instance-lock.js';
import { createWhole, fsyncPath, renameDurably } from './safe-write.js';

export const AUDIT_LOG_FILE = 'audit.log';
export const AUDIT_HEAD_FILE = 'audit.head';
/** The next active file while a rotation is under way (step 2 of the module doc). */
export const AUDIT_NEXT_FILE = 'audit.log.next';
const LOCK_FILE = 'audit.lock';
export const ZERO_HASH_HEX = '0'.repeat(64);
/** The rotation size of a gateway started without one (config `audit.rotateBytes`). */
export const DEFAULT_AUDIT_ROTATE_BYTES = 64 * 1024 * 1024;
const TAIL_READ_BYTES = 64 * 1024;
const LOCK_WAIT_MS = 5000;
const N_DIGITS = 16;
const ARCHIVE_NAME = /^audit\.log\.(\d{1,16})-(\d{1,16})$/;

export class AuditError extends errorClass<'audit'>('AuditError') {}

export function sha256Hex(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Whether the lock file at `path` is stale: its holder's pid no longer runs, or it names
 * none (empty or foreign: a writer of an older version whose pid write failed) and is
 * older than the wait, so no live writer can still be about to fill it in.
 */
function lockStale(path: string): boolean {
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileSync(path, 'utf8');
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    return false; // released meanwhile: the next attempt takes it
  }
  const holder = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isSafeInteger(holder) && holder > 0) return !pidAlive(holder);
  return Date.now() - mtimeMs > LOCK_WAIT_MS;
}

/**
 * Takes the audit lock file of `dir` (holding our pid, never empty); a lock whose pid is
 * gone, or that names none and is older than the wait, is taken over. Returns its release.
 * @throws {AuditError} `audit_locked` when another live process holds it for 5 s
 * @throws the file system's error (e.g. ENOSPC) when the lock cannot be written; no lock
 *   file is then left behind
 */
export function lockAudit(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    // Whole or not at all: an empty lock (its pid write failed) kept every writer waiting.
    if (createWhole(path, String(process.pid))) return () => rmSync(path, { force: true });
    if (lockStale(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new AuditError('audit_locked', 'the audit log is locked by another process');
    sleepSync(5);
  }
}

/** The end of the chain: number and hash of the last line (`n` 0 and zero hash: none). */
export interface ChainEnd {
  n: number;
  hash: string;
}

export interface Tail extends ChainEnd {
  /** The file ended with a partial line (a torn write) that was cut off. */
  torn: boolean;
  /** Byte length of the file's complete lines. */
  size: number;
}

/**
 * Reads the last complete line of an open file. With `repair` (a writer under the lock)
 * a torn tail (no final newline) is cut off; without, it is an error.
 * @throws {AuditError} `audit_corrupt` when the last line does not parse or exceeds 64 KiB
 */
export function readTail(fd: number, repair: boolean): Tail {
  const { size } = fstatSync(fd);
  if (size === 0) return { n: 0, hash: ZERO_HASH_HEX, size: 0, torn: false };
  const len = Math.min(size, TAIL_READ_BYTES);
  const buf = Buffer.alloc(len);
  readSync(fd, buf, 0, len, size - len);
  let end = buf.length;
  let torn = false;
  if (buf[end - 1] !== 0x0a) {
    if (!repair) throw new AuditError('audit_corrupt', 'an archived audit file ends in a torn line');
    const lastNl = buf.lastIndexOf(0x0a);
    if (lastNl < 0 && len === size) {
      ftruncateSync(fd, 0);
      return { n: 0, hash: ZERO_HASH_HEX, size: 0, torn: true };
    }
    if (lastNl < 0) throw new AuditError('audit_corrupt', 'the last audit line is longer than 64 KiB');
    end = lastNl + 1;
    torn = true;
    ftruncateSync(fd, size - len + end);
  }
  const start = buf.lastIndexOf(0x0a, end - 2) + 1;
  if (start === 0 && len < size)
    throw new AuditError('audit_corrupt', 'the last audit line is longer than 64 KiB');
  const line = buf.subarray(start, end - 1);
  return { n: lineNumber(line, 'last'), hash: sha256Hex(line), size: size - len + end, torn };
}

function lineNumber(line: Buffer, which: string): number {
  let n: unknown;
  try {
    n = (JSON.parse(line.toString('utf8')) as { n?: unknown }).n;
  } catch {
    throw new AuditError('audit_corrupt', `the ${which} audit line is not JSON`);
  }
  if (!Number.isSafeInteger(n))
    throw new AuditError('audit_corrupt', `the ${which} audit line has no number`);
  return n as number;
}

/** An archive of the chain: `audit.log.<first>-<last>`. */
export interface AuditArchive {
  name: string;
  first: number;
  last: number;
}

/** The archive name of lines `first`…`last` (zero-padded, so names sort in chain order). */
export function archiveName(first: number, last: number): string {
  return `${AUDIT_LOG_FILE}.${String(first).padStart(N_DIGITS, '0')}-${String(last).padStart(N_DIGITS, '0')}`;
}

/** The archives in `dir`, in chain order (by first, then last line number). */
export function listArchives(dir: string): AuditArchive[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: AuditArchive[] = [];
  for (const name of names) {
    const m = ARCHIVE_NAME.exec(name);
    if (m) out.push({ name, first: Number(m[1]), last: Number(m[2]) });
  }
  return out.sort((a, b) => a.first - b.first || a.last - b.last);
}

/**
 * Finishes or undoes an interrupted rotation (module doc); call under the lock before
 * opening the active file.
 */
export function recoverRotation(dir: string): void {
  const next = join(dir, AUDIT_NEXT_FILE);
  if (!existsSync(next)) return;
  if (existsSync(join(dir, AUDIT_LOG_FILE))) rmSync(next, { force: true });
  else renameDurably(next, join(dir, AUDIT_LOG_FILE));
}

function readHead(dir: string): ChainEnd | undefined {
  try {
    const h = JSON.parse(readFileSync(join(dir, AUDIT_HEAD_FILE), 'utf8')) as Partial<ChainEnd>;
    if (Number.isSafeInteger(h.n) && typeof h.hash === 'string') return { n: h.n as number, hash: h.hash };
  } catch {
    // no head, or not JSON: no fallback
  }
  return undefined;
}

/**
 * The tail a writer continues from: the open active file's last line (a torn tail cut),
 * or, when the active file is empty, the newest archive's last line, else the head.
 * @throws {AuditError} `audit_corrupt` when that line does not parse
 */
export function chainTail(dir: string, fd: number): Tail {
  const tail = readTail(fd, true);
  if (tail.size > 0) return tail;
  const newest = listArchives(dir).at(-1);
  if (newest) {
    const afd = openSync(join(dir, newest.name), 'r');
    try {
      const end = readTail(afd, false);
      if (end.n > 0) return { ...end, size: 0, torn: tail.torn };
    } finally {
      closeSync(afd);
    }
  }
  const head = readHead(dir);
  return head ? { ...head, size: 0, torn: tail.torn } : tail;
}

/** One event as written: `fields` already whitelisted. */
export interface ChainEvent {
  t: number;
  event: string;
  fields: object;
}

/** The line of event `e` numbered after `end` and chained to it. */
function lineOf(end: ChainEnd, e: ChainEvent): string {
  return JSON.stringify({ n: end.n + 1, t: e.t, event: e.event, ...e.fields, prev: end.hash });
}

/** Appends `events` after `end` to the open file as one write, fsync'd; returns the new end. */
export function appendEvents(fd: number, end: ChainEnd, events: readonly ChainEvent[]): ChainEnd {
  let cur = end;
  const lines: string[] = [];
  for (const e of events) {
    const line = lineOf(cur, e);
    cur = { n: cur.n + 1, hash: sha256Hex(line) };
    lines.push(line);
  }
  if (lines.length > 0) writeSync(fd, `${lines.join('\n')}\n`);
  fsyncSync(fd);
  return cur;
}

/** Writes `audit.head` by rename (fsync'd first). */
export function writeHead(dir: string, end: ChainEnd): void {
  const path = join(dir, AUDIT_HEAD_FILE);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ n: end.n, hash: end.hash })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The steps of a rotation after which `testOnlyAfterStep` is called (module doc). */
export type RotationStep = 'next-written' | 'archived' | 'activated';

export interface RotateOptions {
  now?: () => number;
  /**
   * TEST ONLY: called after each step, so a test can kill the process there (a crash) or
   * throw. Never set in production code.
   */
  testOnlyAfterStep?: (step: RotationStep) => void;
}

/** What a rotation did: the archive written and the `n` the active file continues at. */
export interface RotationResult extends AuditArchive {
  /** `n` of the active file's first line (`audit_rotated`). */
  next: number;
}

/**
 * Rotates the active file (module doc, steps 1-5); the caller holds the lock and has run
 * `recoverRotation`. Returns null when the active file holds no line.
 * @throws {AuditError} `audit_corrupt` when its first or last line does not parse, or
 *   an archive of that name exists
 */
export function rotateLocked(dir: string, opts: RotateOptions = {}): RotationResult | null {
  const now = opts.now ?? Date.now;
  const step = opts.testOnlyAfterStep ?? (() => {});
  const logPath = join(dir, AUDIT_LOG_FILE);
  if (!existsSync(logPath)) return null;
  const fd = openSync(logPath, 'a+', 0o600); // appends land at the end whatever the position
  let end: ChainEnd;
  let first: number;
  try {
    fchmodSync(fd, 0o600);
    const tail = chainTail(dir, fd);
    end = tail.torn ? appendEvents(fd, tail, [{ t: now(), event: 'audit_tail_repaired', fields: {} }]) : tail;
    const { size } = fstatSync(fd);
    if (size === 0) return null;
    const head = Buffer.alloc(Math.min(size, TAIL_READ_BYTES));
    readSync(fd, head, 0, head.length, 0);
    const nl = head.indexOf(0x0a);
    if (nl < 0) throw new AuditError('audit_corrupt', 'the first audit line is longer than 64 KiB');
    first = lineNumber(head.subarray(0, nl), 'first');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const name = archiveName(first, end.n);
  if (existsSync(join(dir, name)))
    throw new AuditError('audit_corrupt', 'an audit archive of that name exists already');
  const line = lineOf(end, { t: now(), event: 'audit_rotated', fields: { detail: name } });
  const nextPath = join(dir, AUDIT_NEXT_FILE);
  const nfd = openSync(nextPath, 'wx', 0o600);
  try {
    fchmodSync(nfd, 0o600);
    writeSync(nfd, `${line}\n`);
    fsyncSync(nfd);
  } finally {
    closeSync(nfd);
  }
  fsyncPath(dir);
  step('next-written');
  renameSync(logPath, join(dir, name));
  step('archived');
  renameDurably(nextPath, logPath);
  step('activated');
  writeHead(dir, { n: end.n + 1, hash: sha256Hex(line) });
  return { name, first, last: end.n, next: end.n + 1 };
}

/**
 * Rotates the audit log of `dir` now (`vitaltrail audit rotate`, SIGHUP): takes the lock,
 * finishes an interrupted rotation, then runs the steps of the module doc.
 * Returns null when the active file holds no line.
 * @throws {AuditError} `audit_locked`, `audit_corrupt`
 * @example
 * const r = rotateAuditLog(paths.gatewayDir); // { name: 'audit.log.0000000000000001-…', … }
 */
export function rotateAuditLog(dir: string, opts: RotateOptions = {}): RotationResult | null {
  if (!existsSync(dir)) return null;
  const unlock = lockAudit(dir);
  try {
    recoverRotation(dir);
    return rotateLocked(dir, opts);
  } finally {
    unlock();
  }
}
