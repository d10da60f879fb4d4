/**
 * @module core/interval-groups
 * IHE PCD-01 "per interval" (issue 19: "`ORU^R01` per reading or per interval
 * (configurable)"): which readings of the log go together in one message. Pure: index rows
 * of the log and the clock in, the groups out.
 *
 * A resend after a crash must carry the same readings under the same MSH-10 (receivers
 * de-duplicate on it), so membership depends on the log alone:
 * - the **interval** of a reading is `floor(acceptedAt / interval)`: when the gateway
 *   accepted it (gateway clock). `acceptedAt` never decreases along the log (a batch is
 *   stamped and committed in one synchronous step), so one interval is one contiguous
 *   stretch of the log, and a reading replayed late by a device lands in the interval it
 *   arrived in (each OBR still carries the reading's own device time);
 * - a **group** is the readings of one device, one interval and one binding (patient, bed):
 *   `<dev>:<first seq>-<last seq>`;
 * - an interval is **closed** once the clock passed its end (every later acceptance is
 *   stamped after it; the caller takes `now` before it reads the log); only closed intervals
 *   are sent, and only once the scan saw their last row (a later interval's row, or the log's
 *   end).
 * Order and the cursor: a closed interval's groups go in the order of their first reading;
 * after each, `next` is the first log position not covered by a delivered group (where the
 * durable cursor may move once it is acknowledged). A cursor inside an interval (a round
 * ended, or failed, between two of its groups) is resumed with the interval's rows before
 * it (`before`): their groups were delivered, and their later members are passed over.
 */

/** What grouping needs of one index row of the log. */
export interface GroupRow {
  dev: string;
  seq: number;
  /** Gateway clock when the batch holding it was committed, ms. */
  acceptedAt: number;
  leafIndex: number;
  /** The binding (patient and bed) in force at the reading's time, or null: a group never spans two. */
  binding: number | null;
}

/** One message's readings. */
export interface RowGroup {
  /** MSH-10: `<dev>:<first seq>-<last seq>`. */
  id: string;
  rows: GroupRow[];
  /** The first log position not covered once this group (and those before it) are delivered. */
  next: number;
}

/** The interval of an acceptance time. */
export const intervalOf = (acceptedAt: number, intervalMs: number): number =>
  Math.floor(acceptedAt / intervalMs);

/**
 * The groups of the closed intervals in `rows`, at most `limit`.
 * @param rows consecutive rows of the log from the cursor on
 * @param before the rows of `rows[0]`'s interval that lie before the cursor (delivered)
 * @param toEnd `rows` reach the end of the log
 */
export function intervalGroups(
  rows: readonly GroupRow[],
  before: readonly GroupRow[],
  now: number,
  intervalMs: number,
  toEnd: boolean,
  limit: number,
): RowGroup[] {
  const iv = (r: GroupRow) => intervalOf(r.acceptedAt, intervalMs);
  const keyOf = (r: GroupRow) => `${r.dev}\u0000${iv(r)}\u0000${r.binding}`;
  const delivered = new Set(before.map(keyOf));
  const members = new Map<string, GroupRow[]>();
  for (const r of rows) {
    const k = keyOf(r);
    if (delivered.has(k)) continue;
    const list = members.get(k);
    if (list) list.push(r);
    else members.set(k, [r]);
  }
  const last = rows.at(-1);
  const covered = new Set<number>();
  const groups: RowGroup[] = [];
  let prefix = 0; // index of the first row not covered
  const skip = () => {
    while (prefix < rows.length) {
      const r = rows[prefix] as GroupRow;
      if (!covered.has(r.leafIndex) && !delivered.has(keyOf(r))) break;
      prefix++;
    }
  };
  skip();
  for (const r of rows) {
    if (groups.length >= limit) break;
    const k = keyOf(r);
    const list = members.get(k);
    if (!list || covered.has(r.leafIndex)) continue;
    const i = iv(r);
    // Closed, and its last row seen: a later interval's row follows, or the log ends here.
    if (now < (i + 1) * intervalMs || !(toEnd || (last !== undefined && iv(last) > i))) break;
    for (const m of list) covered.add(m.leafIndex);
    skip();
    const first = list[0] as GroupRow;
    groups.push({
      id: `${first.dev}:${first.seq}-${(list.at(-1) as GroupRow).seq}`,
      rows: list,
      next: prefix < rows.length ? (rows[prefix] as GroupRow).leafIndex : (last as GroupRow).leafIndex + 1,
    });
  }
  return groups;
}
