/**
 * @module io/interfaces/delivery-state
 * The durable state of the outbound interfaces (issue 19), one row per receiver in
 * `outbound_cursors`: the next log position to deliver (everything below it was
 * acknowledged by the receiver or set aside), how many readings were delivered, the last
 * success and the last error, and the consecutive failures that drive the backoff. Messages
 * a receiver refused are kept in `outbound_dead_letters`, until `vitaltrail outbound replay`
 * asks for them again (`requestReplay`, from the CLI, beside a running gateway: SQLite's own
 * locking) and the receiver's worker sends them (`replayRequests`, `replayed`,
 * `replayRefused`); a replayed row is kept, marked. Every change is one fsync'd
 * transaction (the store's `synchronous=FULL`): a crash after the receiver's acknowledgement
 * and before `advance` sends those messages again, which the receiver de-duplicates by
 * their stable identifiers (io/interfaces/receiver).
 */
import type { GatewayStore } from '../store/index.js';

/** One receiver's state, as `vitaltrail outbound status` shows it. */
export interface CursorRow {
  receiver: string;
  /** What the cursor walks: the log's positions, or the alarm event ids. */
  source: CursorSource;
  nextLeaf: number;
  delivered: number;
  lastOkAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  failures: number;
  /** Dead letters not (yet) replayed. */
  deadLetters: number;
}

/** What a cursor walks (io/interfaces/receiver `DeliverySource.kind`). */
export type CursorSource = 'log' | 'alarms';

interface RawCursor {
  receiver: string;
  source: CursorSource;
  next_leaf: number;
  delivered: number;
  last_ok_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  failures: number;
  dead_letters: number;
}

const toCursor = (r: RawCursor): CursorRow => ({
  receiver: r.receiver,
  source: r.source,
  nextLeaf: r.next_leaf,
  delivered: r.delivered,
  lastOkAt: r.last_ok_at,
  lastError: r.last_error,
  lastErrorAt: r.last_error_at,
  failures: r.failures,
  deadLetters: r.dead_letters,
});

/** A dead letter: a reading the receiver refused. */
export interface DeadLetter {
  receiver: string;
  reading: string;
  leafIndex: number;
  reason: string;
  at: number;
}

/** One row of `outbound_dead_letters`, as `vitaltrail outbound dead-letters` lists it. Times in ms. */
export interface DeadLetterRow {
  id: number;
  receiver: string;
  /** The item's stable identifier: `<dev>:<seq>`, `<dev>:<first>-<last>` (PCD-01 per interval), `alarm-event:<n>`. */
  item: string;
  /** Where it is: its log position, or its alarm event id. */
  position: number;
  /** Why the last attempt failed: `receiver_rejected`, or why a replay had nothing to send (`shredded`, `not_found`). */
  code: string;
  /** The last refusal's reason. */
  reason: string;
  /** When it was set aside. */
  at: number;
  /** Sends so far: the first one, then one per replay. */
  attempts: number;
  lastAttemptAt: number | null;
  replayRequestedAt: number | null;
  replayRequestedBy: string | null;
  replayedAt: number | null;
}

interface RawDeadLetter {
  id: number;
  receiver: string;
  reading: string;
  leaf_index: number;
  code: string;
  reason: string;
  at: number;
  attempts: number;
  last_attempt_at: number | null;
  replay_requested_at: number | null;
  replay_requested_by: string | null;
  replayed_at: number | null;
}

const toDeadLetterRow = (r: RawDeadLetter): DeadLetterRow => ({
  id: r.id,
  receiver: r.receiver,
  item: r.reading,
  position: r.leaf_index,
  code: r.code,
  reason: r.reason,
  at: r.at,
  attempts: r.attempts,
  lastAttemptAt: r.last_attempt_at,
  replayRequestedAt: r.replay_requested_at,
  replayRequestedBy: r.replay_requested_by,
  replayedAt: r.replayed_at,
});

/** What `requestReplay` did. */
export interface ReplayRequest {
  /** Marked for replay (or marked again). */
  requested: number[];
  /** Already replayed: left as they are. */
  alreadyReplayed: number[];
  /** No dead letter of this receiver has these ids: then nothing was marked. */
  unknown: number[];
}

/** The delivery state of the receivers of one store. */
export class DeliveryState {
  readonly #stmts;

  constructor(store: GatewayStore) {
    const db = store.db;
    this.#stmts = {
      ensure: db.prepare(
        'INSERT OR IGNORE INTO outbound_cursors (receiver, source, next_leaf) VALUES (?, ?, ?)',
      ),
      position: db.prepare('SELECT next_leaf AS nextLeaf, failures FROM outbound_cursors WHERE receiver = ?'),
      get: db.prepare(
        `SELECT c.*, (SELECT count(*) FROM outbound_dead_letters d
           WHERE d.receiver = c.receiver AND d.replayed_at IS NULL) AS dead_letters
         FROM outbound_cursors c WHERE c.receiver = ?`,
      ),
      all: db.prepare(
        `SELECT c.*, (SELECT count(*) FROM outbound_dead_letters d
           WHERE d.receiver = c.receiver AND d.replayed_at IS NULL) AS dead_letters
         FROM outbound_cursors c ORDER BY c.receiver`,
      ),
      advance: db.prepare(
        `UPDATE outbound_cursors SET next_leaf = max(next_leaf, ?), delivered = delivered + ?,
           last_ok_at = ?, failures = 0 WHERE receiver = ?`,
      ),
      fail: db.prepare(
        'UPDATE outbound_cursors SET last_error = ?, last_error_at = ?, failures = failures + 1 WHERE receiver = ?',
      ),
      dead: db.prepare(
        'INSERT INTO outbound_dead_letters (receiver, reading, leaf_index, reason, at) VALUES (?, ?, ?, ?, ?)',
      ),
      skip: db.prepare(
        `UPDATE outbound_cursors SET next_leaf = max(next_leaf, ?), last_error = ?, last_error_at = ?
         WHERE receiver = ?`,
      ),
      deadLetters: db.prepare(
        'SELECT receiver, reading, leaf_index, reason, at FROM outbound_dead_letters WHERE receiver = ? ORDER BY id DESC LIMIT ?',
      ),
      list: db.prepare(
        `SELECT * FROM outbound_dead_letters
         WHERE (@receiver IS NULL OR receiver = @receiver) AND (@replayed = 1 OR replayed_at IS NULL)
         ORDER BY id LIMIT @limit`,
      ),
      byIds: db.prepare(
        'SELECT * FROM outbound_dead_letters WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id',
      ),
      request: db.prepare(
        `UPDATE outbound_dead_letters SET replay_requested_at = @at, replay_requested_by = @by
         WHERE receiver = @receiver AND replayed_at IS NULL
           AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))
         RETURNING id`,
      ),
      requested: db.prepare(
        `SELECT * FROM outbound_dead_letters
         WHERE receiver = ? AND replay_requested_at IS NOT NULL AND replayed_at IS NULL ORDER BY id LIMIT ?`,
      ),
      replayed: db.prepare(
        `UPDATE outbound_dead_letters SET replayed_at = @at, last_attempt_at = @at, attempts = attempts + 1
         WHERE id = @id AND receiver = @receiver`,
      ),
      replayOk: db.prepare(
        `UPDATE outbound_cursors SET delivered = delivered + 1, last_ok_at = ?, failures = 0 WHERE receiver = ?`,
      ),
      refused: db.prepare(
        `UPDATE outbound_dead_letters SET code = @code, reason = @reason, last_attempt_at = @at,
           attempts = attempts + 1,
           replay_requested_by = CASE WHEN replay_requested_at = @seen THEN NULL ELSE replay_requested_by END,
           replay_requested_at = CASE WHEN replay_requested_at = @seen THEN NULL ELSE replay_requested_at END
         WHERE id = @id AND receiver = @receiver`,
      ),
      lastError: db.prepare(
        'UPDATE outbound_cursors SET last_error = ?, last_error_at = ? WHERE receiver = ?',
      ),
    };
    this.#db = db;
  }

  readonly #db: GatewayStore['db'];

  /**
   * The receiver's state; a receiver seen for the first time starts at `startLeaf` (the
   * configured start: the current end of the log, or 0 to send the whole history).
   */
  cursor(receiver: string, startLeaf: number, source: CursorSource = 'log'): CursorRow {
    this.#stmts.ensure.run(receiver, source, startLeaf);
    return toCursor(this.#stmts.get.get(receiver) as RawCursor);
  }

  /**
   * Only where the receiver's next round starts and its consecutive failures: what a delivery
   * round needs, every poll, without counting the dead letters as `cursor` does.
   */
  position(
    receiver: string,
    startLeaf: number,
    source: CursorSource = 'log',
  ): Pick<CursorRow, 'nextLeaf' | 'failures'> {
    this.#stmts.ensure.run(receiver, source, startLeaf);
    return this.#stmts.position.get(receiver) as Pick<CursorRow, 'nextLeaf' | 'failures'>;
  }

  /** Every receiver's state (for `outbound status`). */
  all(): CursorRow[] {
    return (this.#stmts.all.all() as RawCursor[]).map(toCursor);
  }

  /** `count` readings up to log position `nextLeaf - 1` were acknowledged. */
  advance(receiver: string, nextLeaf: number, count: number, at: number): void {
    this.#stmts.advance.run(nextLeaf, count, at, receiver);
  }

  /** A failed attempt (`receiver_unavailable`): retried after the backoff. */
  fail(receiver: string, error: string, at: number): void {
    this.#stmts.fail.run(error, at, receiver);
  }

  /** The receiver refused one reading: it is set aside and the cursor moves past it, in one transaction. */
  deadLetter(receiver: string, reading: string, leafIndex: number, reason: string, at: number): void {
    this.#db.transaction(() => {
      this.#stmts.dead.run(receiver, reading, leafIndex, reason, at);
      this.#stmts.skip.run(leafIndex + 1, `receiver_rejected: ${reason}`, at, receiver);
    })();
  }

  /** The newest dead letters of a receiver. */
  deadLetters(receiver: string, limit = 20): DeadLetter[] {
    return (
      this.#stmts.deadLetters.all(receiver, limit) as {
        receiver: string;
        reading: string;
        leaf_index: number;
        reason: string;
        at: number;
      }[]
    ).map((r) => ({
      receiver: r.receiver,
      reading: r.reading,
      leafIndex: r.leaf_index,
      reason: r.reason,
      at: r.at,
    }));
  }

  /**
   * Dead letters in id order, of one receiver or all, not replayed ones unless `replayed`.
   * @param limit at most this many rows
   */
  listDeadLetters(q: { receiver?: string; replayed?: boolean; limit: number }): DeadLetterRow[] {
    const rows = this.#stmts.list.all({
      receiver: q.receiver ?? null,
      replayed: q.replayed ? 1 : 0,
      limit: q.limit,
    }) as RawDeadLetter[];
    return rows.map(toDeadLetterRow);
  }

  /** The dead letters with these ids (any receiver), in id order; unknown ids are left out. */
  deadLettersById(ids: readonly number[]): DeadLetterRow[] {
    return (this.#stmts.byIds.all(JSON.stringify(ids)) as RawDeadLetter[]).map(toDeadLetterRow);
  }

  /**
   * Asks for dead letters of `receiver` to be sent again, in one transaction: those with
   * `ids` (none is marked unless every id is one of the receiver's), or every one not yet
   * replayed (`'all'`). The receiver's worker sends them before its next messages.
   * @param by who asked (the audit log's user, e.g. `cli:<os user>`)
   */
  requestReplay(receiver: string, ids: readonly number[] | 'all', by: string, at: number): ReplayRequest {
    return this.#db
      .transaction((): ReplayRequest => {
        let alreadyReplayed: number[] = [];
        if (ids !== 'all') {
          const found = this.deadLettersById(ids).filter((d) => d.receiver === receiver);
          const unknown = ids.filter((id) => !found.some((d) => d.id === id));
          if (unknown.length > 0) return { requested: [], alreadyReplayed: [], unknown };
          alreadyReplayed = found.filter((d) => d.replayedAt !== null).map((d) => d.id);
        }
        const marked = this.#stmts.request.all({
          at,
          by,
          receiver,
          ids: ids === 'all' ? null : JSON.stringify(ids),
        }) as { id: number }[];
        return { requested: marked.map((r) => r.id).sort((a, b) => a - b), alreadyReplayed, unknown: [] };
      })
      .immediate();
  }

  /** The receiver's dead letters waiting to be replayed, oldest first. */
  replayRequests(receiver: string, limit: number): DeadLetterRow[] {
    return (this.#stmts.requested.all(receiver, limit) as RawDeadLetter[]).map(toDeadLetterRow);
  }

  /** The receiver acknowledged a replayed dead letter: marked replayed (kept), counted as delivered. */
  replayed(receiver: string, id: number, at: number): void {
    this.#db.transaction(() => {
      this.#stmts.replayed.run({ id, receiver, at });
      this.#stmts.replayOk.run(at, receiver);
    })();
  }

  /**
   * A replay failed for good (`receiver_rejected` again, or nothing left to send: `shredded`,
   * `not_found`): the row stays a dead letter with the new code and reason, and its request
   * is done, unless it was asked for again after `seen` (the request time the worker read).
   */
  replayRefused(
    receiver: string,
    d: Pick<DeadLetterRow, 'id' | 'replayRequestedAt'>,
    code: string,
    reason: string,
    at: number,
  ): void {
    this.#db.transaction(() => {
      this.#stmts.refused.run({ id: d.id, receiver, code, reason, at, seen: d.replayRequestedAt });
      this.#stmts.lastError.run(`${code}: ${reason}`, at, receiver);
    })();
  }
}
