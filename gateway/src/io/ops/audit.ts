/**
 * @module io/ops/audit
 * The gateway's audit log (ARCHITECTURE.md invariant 7; issue 3): append-only JSON lines
 * in `DATA/gateway/audit.log` (mode 0600), hash-chained — each line carries `prev`, the
 * SHA-256 of the previous line's bytes (64 zero hex digits for the first) — and numbered
 * (`n` from 1). Events are buffered and written in batches, each batch fsync'd, then the
 * head (`{n, hash}` of the last line) is written to `audit.head` by rename.
 *
 * What `verifyAuditLog` detects: an edited line (the next line's `prev`, or the head, no
 * longer matches), an inserted, deleted or reordered line (numbering and `prev` break), a
 * truncated tail (fewer lines than the head names), a torn last line. What it cannot
 * detect: someone able to write both files who rewrites the chain from the edit onwards
 * and the head to match. Against that the head must leave the host (copy `audit.head`
 * elsewhere, or anchor it); the log makes tampering evident, not impossible.
 *
 * Several processes may append (the gateway, and `vitaltrail kgc …` commands on the same
 * data directory): each batch is written under an exclusive lock file `audit.lock`
 * (O_EXCL, holding the writer's pid; a lock of a dead process is taken over), re-reading
 * the chain's tail under the lock.
 *
 * Lines never hold payloads, vitals, keys or passwords: only the whitelisted fields of
 * `AuditFields` (ids, seq numbers, codes, our own reasons).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ErrorGroupCode } from '../../protocol/error-codes.js';
import { errorClass } from '../../protocol/errors.js';
import { pidAlive } from './instance-lock.js';

export const AUDIT_LOG_FILE = 'audit.log';
export const AUDIT_HEAD_FILE = 'audit.head';
const LOCK_FILE = 'audit.lock';
const ZERO_HASH_HEX = '0'.repeat(64);
const TAIL_READ_BYTES = 64 * 1024;
const LOCK_WAIT_MS = 5000;

export type AuditEventType =
  | 'frame_rejected'
  | 'device_enrolled'
  | 'device_revoked'
  // the KGC's writes to the chain registry (PROTOCOL.md §4): key changes, ARCHITECTURE.md guarantee 7
  | 'device_registered_on_chain'
  | 'device_revoked_on_chain'
  | 'session_closed'
  | 'tls_refused'
  | 'connect_refused'
  // the MQTT edge closed a connection (a packet limit or rule, a timeout) or throttled a client
  | 'connection_closed'
  | 'client_throttled'
  | 'login'
  | 'login_failed'
  | 'logout'
  | 'session_expired'
  | 'ward_view'
  | 'live_view'
  | 'gateway_started'
  | 'gateway_stopped'
  | 'gateway_certificate_issued'
  | 'kgc_initialized'
  | 'audit_tail_repaired'
  // clinical layer (ARCHITECTURE.md guarantee 7: views of patient data, alarm acknowledgements)
  | 'alarm_raised'
  | 'alarm_escalated'
  | 'alarm_renotified'
  | 'alarm_latched'
  | 'alarm_reactivated'
  | 'alarm_acknowledged'
  | 'alarm_cleared'
  | 'patient_view'
  | 'patient_settings'
  // a bed's standby began or ended (discharge, admission, a nurse's pause; detail: on|off and why)
  | 'standby'
  | 'patient_data_view'
  | 'admission'
  | 'discharge'
  // wall displays (issue 15): enrolment and revocation by an admin or the CLI, and every
  // sign-in of a display (refused ones with the peer address, as failed logins)
  | 'display_enrolled'
  | 'display_revoked'
  | 'display_session'
  | 'display_session_refused';

/** The only fields a line may carry besides `n`, `t`, `event`, `prev`. */
export interface AuditFields {
  dev?: string;
  /** A seq from 2^53 on is its decimal text (a JSON number would lose digits). */
  seq?: number | string | null;
  code?: string;
  reason?: string;
  user?: string;
  serial?: string;
  source?: string;
  transport?: string;
  remote?: string;
  /** Configuration summaries (ports, names): never secrets. */
  detail?: string;
}

const FIELD_NAMES: readonly (keyof AuditFields)[] = [
  'dev',
  'seq',
  'code',
  'reason',
  'user',
  'serial',
  'source',
  'transport',
  'remote',
  'detail',
];

export class AuditError extends errorClass<'audit'>('AuditError') {}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the lock file; a lock whose pid is gone is taken over. */
function lock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(path, 'utf8'));
    } catch {
      // released meanwhile
    }
    if (Number.isSafeInteger(holder) && holder > 0 && !pidAlive(holder)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new AuditError('audit_locked', 'the audit log is locked by another process');
    sleepSync(5);
  }
}

interface Tail {
  n: number;
  hash: string;
  /** Byte length of the file's complete lines. */
  size: number;
  /** The file ended with a partial line (a torn write) that was cut off. */
  torn: boolean;
}

/** Reads the last complete line of the open log; cuts a torn tail (no final newline). */
function readTail(fd: number): Tail {
  const { size } = fstatSync(fd);
  if (size === 0) return { n: 0, hash: ZERO_HASH_HEX, size: 0, torn: false };
  const len = Math.min(size, TAIL_READ_BYTES);
  const buf = Buffer.alloc(len);
  readSync(fd, buf, 0, len, size - len);
  let end = buf.length;
  let torn = false;
  if (buf[end - 1] !== 0x0a) {
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
  const line = buf.subarray(start, end - 1).toString('utf8');
  if (start === 0 && len < size)
    throw new AuditError('audit_corrupt', 'the last audit line is longer than 64 KiB');
  let n: unknown;
  try {
    n = (JSON.parse(line) as { n?: unknown }).n;
  } catch {
    throw new AuditError('audit_corrupt', 'the last audit line is not JSON');
  }
  if (!Number.isSafeInteger(n)) throw new AuditError('audit_corrupt', 'the last audit line has no number');
  return { n: n as number, hash: sha256Hex(line), size: size - len + end, torn };
}

/**
 * An appender. `append` buffers; the batch is written, fsync'd and its head recorded on
 * the next turn of the event loop (or at `flush`/`close`). Never throws from `append`:
 * a failing write is reported through `onError` and the events stay buffered for the next try.
 * @example
 * const audit = new AuditLog(paths.gatewayDir);
 * audit.append('frame_rejected', { dev: 'wr-0001', seq: 12, code: 'bad_signature' });
 */
export class AuditLog {
  readonly #dir: string;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  #pending: { t: number; event: AuditEventType; fields: AuditFields }[] = [];
  #scheduled = false;
  #closed = false;

  constructor(dir: string, opts: { now?: () => number; onError?: (err: unknown) => void } = {}) {
    this.#dir = dir;
    this.#now = opts.now ?? Date.now;
    this.#onError = opts.onError ?? (() => {});
  }

  get path(): string {
    return join(this.#dir, AUDIT_LOG_FILE);
  }

  append(event: AuditEventType, fields: AuditFields = {}): void {
    if (this.#closed) return;
    this.#pending.push({ t: this.#now(), event, fields });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        try {
          this.flush();
        } catch (err) {
          this.#onError(err);
        }
      });
    }
  }

  /** Writes the buffered events now (one fsync'd batch). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const unlock = lock(this.#dir);
    try {
      const fd = openSync(this.path, 'a+', 0o600);
      try {
        fchmodSync(fd, 0o600);
        const tail = readTail(fd);
        let { n, hash } = tail;
        const lines: string[] = [];
        const events = tail.torn
          ? [{ t: this.#now(), event: 'audit_tail_repaired' as const, fields: {} }, ...batch]
          : batch;
        for (const e of events) {
          n += 1;
          const line = JSON.stringify({ n, t: e.t, event: e.event, ...pickFields(e.fields), prev: hash });
          hash = sha256Hex(line);
          lines.push(line);
        }
        writeSync(fd, `${lines.join('\n')}\n`);
        fsyncSync(fd);
        writeHead(this.#dir, n, hash);
        this.#pending = [];
      } finally {
        closeSync(fd);
      }
    } finally {
      unlock();
    }
  }

  close(): void {
    try {
      this.flush();
    } catch (err) {
      this.#onError(err);
    }
    this.#closed = true;
  }
}

function pickFields(fields: AuditFields): AuditFields {
  const out: Record<string, unknown> = {};
  for (const k of FIELD_NAMES) {
    const v = fields[k];
    if (v === undefined) continue;
    if (typeof v === 'string') out[k] = v.slice(0, 200);
    else if (typeof v === 'number' || v === null) out[k] = v;
  }
  return out as AuditFields;
}

function writeHead(dir: string, n: number, hash: string): void {
  const path = join(dir, AUDIT_HEAD_FILE);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ n, hash })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export type AuditProblemCode = ErrorGroupCode<'audit_check'>;

export interface AuditReport {
  ok: boolean;
  lines: number;
  /** The first problems found (at most 20), each with its 1-based line number in the file. */
  problems: { line: number; code: AuditProblemCode }[];
}

/**
 * Checks an audit log and its head: numbering 1, 2, 3…, every `prev` equal to the
 * SHA-256 of the line before, and the head naming the last line. Pure reading; never throws
 * for bad content.
 * @example
 * const r = verifyAuditLog('DATA/gateway'); if (!r.ok) console.log(r.problems);
 */
export function verifyAuditLog(dir: string): AuditReport {
  const logPath = join(dir, AUDIT_LOG_FILE);
  const problems: AuditReport['problems'] = [];
  const add = (line: number, code: AuditProblemCode) => {
    if (problems.length < 20) problems.push({ line, code });
  };
  const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
  const raw = text.split('\n');
  if (raw[raw.length - 1] === '') raw.pop();
  else if (raw.length > 0) add(raw.length, 'torn_tail');
  let prevHash = ZERO_HASH_HEX;
  let expectN = 1;
  const hashes: string[] = [];
  for (const [i, line] of raw.entries()) {
    hashes.push(sha256Hex(line));
    let rec: { n?: unknown; prev?: unknown };
    try {
      rec = JSON.parse(line) as { n?: unknown; prev?: unknown };
    } catch {
      add(i + 1, 'malformed_line');
      prevHash = sha256Hex(line);
      expectN += 1;
      continue;
    }
    if (rec.n !== expectN) add(i + 1, 'out_of_sequence');
    if (rec.prev !== prevHash) add(i + 1, 'chain_broken');
    prevHash = sha256Hex(line);
    expectN = (typeof rec.n === 'number' ? rec.n : expectN) + 1;
  }
  const headPath = join(dir, AUDIT_HEAD_FILE);
  const head = existsSync(headPath)
    ? (() => {
        try {
          return JSON.parse(readFileSync(headPath, 'utf8')) as { n?: unknown; hash?: unknown };
        } catch {
          return undefined;
        }
      })()
    : undefined;
  if (!head) {
    if (raw.length > 0) add(raw.length, 'head_missing');
  } else if (typeof head.n === 'number' && head.n > raw.length) {
    add(raw.length, 'truncated');
  } else if (typeof head.n !== 'number' || (head.n > 0 && hashes[head.n - 1] !== head.hash)) {
    // A head behind the log (a crash between the batch's fsync and the head's rename) is
    // fine as long as it names a line of this log.
    add(raw.length, 'head_mismatch');
  }
  return { ok: problems.length === 0, lines: raw.length, problems };
}
