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
 * (holding the writer's pid, linked into place so it is never empty; a lock of a dead
 * process, or an empty one older than the wait, is taken over), re-reading the chain's
 * tail under the lock.
 *
 * The chain runs on across rotated files (io/ops/audit-rotation: `audit.log.<first>-<last>`,
 * when the active file reaches `rotateBytes`, or `vitaltrail audit rotate`); a new file's
 * first line (`audit_rotated`) continues the numbering and `prev` of the archive's last line,
 * and `verifyAuditLog` (io/ops/audit-verify) checks every file in order.
 *
 * Lines never hold payloads, vitals, keys or passwords: only the whitelisted fields of
 * `AuditFields` (ids, seq numbers, codes, our own reasons).
 */
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  AUDIT_LOG_FILE,
  AuditError,
  appendEvents,
  type ChainEnd,
  chainTail,
  lockAudit,
  recoverRotation,
  rotateLocked,
  writeHead,
} from './audit-rotation.js';

export {
  AUDIT_HEAD_FILE,
  AUDIT_LOG_FILE,
  AuditError,
  DEFAULT_AUDIT_ROTATE_BYTES,
  type RotationResult,
  rotateAuditLog,
  sha256Hex,
  ZERO_HASH_HEX,
} from './audit-rotation.js';
export {
  type AuditTrail,
  type AuditTrailEntry,
  type AuditTrailProblem,
  type AuditTrailReport,
  type ChainLine,
  ChainReader,
  chainLines,
  FileAuditTrail,
  lineN,
} from './audit-trail.js';
export {
  type AuditProblem,
  type AuditProblemCode,
  type AuditReport,
  type VerifyAuditOptions,
  verifyAuditLog,
} from './audit-verify.js';

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
  // events not kept while no batch could be written (a full disk) beyond `maxPending`;
  // detail: how many of each type, after the events kept
  | 'audit_events_dropped'
  // the first line of a new active file after a rotation (detail: the archive's name)
  | 'audit_rotated'
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
  // a doctor's or patient's request for a patient's data refused (issue 18; `code`: why)
  | 'care_access_refused'
  // a patient's signed grant or revocation relayed to the chain, a patient's key registered
  // there through the portal (issue 18; detail: pseudonym, consent id or address, transaction)
  | 'consent_granted'
  | 'consent_revoked'
  | 'patient_key_registered'
  // a nurse's account barred or cleared by their clinician record on the chain (issue 18)
  | 'clinician_barred'
  | 'clinician_cleared'
  // a patient's record opened by break-glass (issue 18; detail: pseudonym, end (ms), reason)
  | 'break_glass'
  | 'admission'
  | 'discharge'
  // wall displays (issue 15): enrolment and revocation by an admin or the CLI, and every
  // sign-in of a display (refused ones with the peer address, as failed logins)
  | 'display_enrolled'
  | 'display_revoked'
  | 'display_session'
  | 'display_session_refused'
  // user accounts (issue 16): lifecycle changes by the CLI (`user` = `cli:<os user>`, the
  // account in `detail`) and a user's own password change (`user` = the account)
  | 'user_added'
  | 'user_disabled'
  | 'user_enabled'
  | 'user_removed'
  | 'password_reset'
  | 'password_changed'
  // a replay of outbound dead letters asked for by `outbound replay` (issue 19; `user` =
  // `cli:<os user>`, detail: the receiver and the dead letters' ids)
  | 'outbound_replay_requested'
  // data keys destroyed under retention by a running gateway (io/ingest/retention), one line
  // a turn (detail: keys, frames, records, the retention in ms); each key's record is in the log
  | 'data_keys_shredded';

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

/**
 * An appender. `append` buffers; the batch is written, fsync'd and its head recorded on
 * the next turn of the event loop (or at `flush`/`close`). Never throws from `append`:
 * a failing write is reported through `onError` and the events stay buffered for the next try,
 * which comes after `retryMs` (not on every turn: a full disk is not hammered, nor the log
 * flooded with its errors) or at an explicit `flush`/`close`. At most `maxPending` events
 * wait; the ones past it are counted by type and written as one `audit_events_dropped`
 * line after the kept ones, so a flood of rejections during a long outage cannot exhaust
 * memory and the gap is on the record.
 * With `rotateBytes` > 0 the active file is rotated, under the same lock, after a batch that
 * brings it to that size (default 0: never; the gateway passes config `audit.rotateBytes`).
 * @example
 * const audit = new AuditLog(paths.gatewayDir);
 * audit.append('frame_rejected', { dev: 'wr-0001', seq: 12, code: 'bad_signature' });
 */
export class AuditLog {
  readonly #dir: string;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  /** The last batch's failure, while events wait (`closeOrThrow` tells it). */
  #lastError: unknown = null;
  readonly #rotateBytes: number;
  readonly #maxPending: number;
  readonly #retryMs: number;
  #pending: { t: number; event: AuditEventType; fields: AuditFields }[] = [];
  /** Events not kept past `maxPending`, by type, since the last batch written. */
  #dropped = new Map<AuditEventType, number>();
  readonly #written = new Set<(end: ChainEnd) => void>();
  #scheduled = false;
  /** The next try after a failed write; appends meanwhile only buffer. */
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    dir: string,
    opts: {
      now?: () => number;
      onError?: (err: unknown) => void;
      rotateBytes?: number;
      /** Events buffered at most while no batch can be written. Default 100,000 (~20 MB). */
      maxPending?: number;
      /** How long after a failed write the next try waits. Default 1000 ms. */
      retryMs?: number;
    } = {},
  ) {
    const rotateBytes = opts.rotateBytes ?? 0;
    if (!Number.isSafeInteger(rotateBytes) || rotateBytes < 0)
      throw new RangeError('rotateBytes: must be a non-negative integer');
    this.#maxPending = opts.maxPending ?? 100_000;
    this.#retryMs = opts.retryMs ?? 1000;
    if (!Number.isSafeInteger(this.#maxPending) || this.#maxPending < 1)
      throw new RangeError('maxPending: must be a positive integer');
    if (!Number.isSafeInteger(this.#retryMs) || this.#retryMs < 1)
      throw new RangeError('retryMs: must be a positive integer');
    this.#dir = dir;
    this.#now = opts.now ?? Date.now;
    this.#onError = opts.onError ?? (() => {});
    this.#rotateBytes = rotateBytes;
  }

  get path(): string {
    return join(this.#dir, AUDIT_LOG_FILE);
  }

  append(event: AuditEventType, fields: AuditFields = {}): void {
    if (this.#closed) return;
    if (this.#pending.length < this.#maxPending) this.#pending.push({ t: this.#now(), event, fields });
    else this.#dropped.set(event, (this.#dropped.get(event) ?? 0) + 1);
    if (!this.#scheduled && !this.#retry) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#tryFlush();
      });
    }
  }

  /** A flush from the event loop: a failure is reported, and the next try waits `retryMs`. */
  #tryFlush(): void {
    try {
      this.flush();
    } catch (err) {
      this.#lastError = err;
      this.#onError(err);
      if (!this.#closed && !this.#retry) {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          this.#tryFlush();
        }, this.#retryMs);
        this.#retry.unref();
      }
    }
  }

  /**
   * Calls `listener` after each batch this appender wrote (the new end of the chain): a
   * cue for a reader of the file, e.g. the group's shipper (io/shared/pg-audit). Returns its
   * removal. A throwing listener is reported through `onError`.
   */
  onWritten(listener: (end: ChainEnd) => void): () => void {
    this.#written.add(listener);
    return () => this.#written.delete(listener);
  }

  /** Writes the buffered events now (one fsync'd batch), then rotates if the file is full. */
  flush(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#dropped.size === 0 ? this.#pending : [...this.#pending, this.#droppedLine()];
    let written: ChainEnd | undefined;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const unlock = lockAudit(this.#dir);
    try {
      recoverRotation(this.#dir);
      const fd = openSync(this.path, 'a+', 0o600);
      let size: number;
      try {
        fchmodSync(fd, 0o600);
        const tail = chainTail(this.#dir, fd);
        const events = tail.torn
          ? [{ t: this.#now(), event: 'audit_tail_repaired' as const, fields: {} }, ...batch]
          : batch;
        const end = appendEvents(
          fd,
          tail,
          events.map((e) => ({ t: e.t, event: e.event, fields: pickFields(e.fields) })),
        );
        writeHead(this.#dir, end);
        written = end;
        this.#pending = [];
        this.#dropped = new Map();
        if (this.#retry) clearTimeout(this.#retry); // written: appends go out on the next turn again
        this.#retry = null;
        size = fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
      if (this.#rotateBytes > 0 && size >= this.#rotateBytes) {
        // the batch stands; a failed rotation is retried after the next batch
        try {
          rotateLocked(this.#dir, { now: this.#now });
        } catch (err) {
          this.#onError(err);
        }
      }
    } finally {
      unlock();
    }
    for (const listener of this.#written) {
      try {
        listener(written as ChainEnd);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  /**
   * Events appended and not yet written, kept or counted (0 when every one is on disk):
   * after `close`, what the file will never hold.
   */
  get unwritten(): number {
    let n = this.#pending.length;
    for (const k of this.#dropped.values()) n += k;
    return n;
  }

  /**
   * `close`, then the error of a writer that must not end silently short of its record.
   * @throws {AuditError} `audit_write_failed` when events could not be written (how many,
   *   and the last failure's message)
   */
  closeOrThrow(): void {
    this.close();
    this.throwIfUnwritten();
  }

  /**
   * After `close` (in a `finally`, say), the error of a writer that must not end silently
   * short of its record.
   * @throws {AuditError} `audit_write_failed`, as `closeOrThrow`
   */
  throwIfUnwritten(): void {
    const n = this.unwritten;
    if (n > 0) {
      const why = this.#lastError instanceof Error ? this.#lastError.message : String(this.#lastError);
      throw new AuditError(
        'audit_write_failed',
        `${n} audit event${n === 1 ? '' : 's'} could not be written (${why})`,
      );
    }
  }

  /** The line that records the events not kept, by type (most first). */
  #droppedLine(): { t: number; event: AuditEventType; fields: AuditFields } {
    const byType = [...this.#dropped].sort((a, b) => b[1] - a[1]);
    const total = byType.reduce((n, [, k]) => n + k, 0);
    const detail = `${total} events not kept while the log could not be written: ${byType
      .map(([e, k]) => `${e} ${k}`)
      .join(', ')}`;
    return { t: this.#now(), event: 'audit_events_dropped', fields: { detail } };
  }

  close(): void {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    try {
      this.flush();
    } catch (err) {
      this.#lastError = err;
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
