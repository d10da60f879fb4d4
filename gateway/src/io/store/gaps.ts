/**
 * @module io/store/gaps
 * Missing sequence ranges per device (PROTOCOL.md §1: "a seq above the next expected one
 * is accepted and the missing range is recorded as a gap"). Derived from the frames index
 * (primary key `(dev, seq)`), so no extra state exists to drift or to survive restarts:
 * a gap is recorded by the accepted frames around it, and closes when a frame fills it.
 */
import type Database from 'better-sqlite3';

/** An inclusive range of seq numbers never accepted for a device. */
export interface SeqGap {
  from: number;
  to: number;
}

/**
 * The gaps of `dev` below its highest accepted seq, in ascending order (at most `limit`).
 * seq starts at 1, so frames accepted from seq 5 on leave the gap 1-4.
 * @example
 * seqGaps(store.db, 'wr-0001'); // [{ from: 4, to: 6 }]
 */
export function seqGaps(db: Database.Database, dev: string, limit = 1000): SeqGap[] {
  const rows = db
    .prepare(
      `SELECT prev_seq + 1 AS "from", seq - 1 AS "to" FROM (
         SELECT seq, COALESCE(LAG(seq) OVER (ORDER BY seq), 0) AS prev_seq FROM frames WHERE dev = ?
       ) WHERE seq > prev_seq + 1 ORDER BY seq LIMIT ?`,
    )
    .all(dev, limit) as SeqGap[];
  return rows;
}
