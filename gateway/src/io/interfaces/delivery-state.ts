/**
 * @module io/interfaces/delivery-state
 * The durable state of the outbound interfaces (issue 19), one row per receiver in
 * `outbound_cursors`: the next log position to deliver (everything below it was
 * acknowledged by the receiver or set aside), how many readings were delivered, the last
 * success and the last error, and the consecutive failures that drive the backoff. Messages
 * a receiver refused are kept in `outbound_dead_letters`. Every change is one fsync'd
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
        `SELECT c.*, (SELECT count(*) FROM outbound_dead_letters d WHERE d.receiver = c.receiver) AS dead_letters
         FROM outbound_cursors c WHERE c.receiver = ?`,
      ),
      all: db.prepare(
        `SELECT c.*, (SELECT count(*) FROM outbound_dead_letters d WHERE d.receiver = c.receiver) AS dead_letters
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
}
