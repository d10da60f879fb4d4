/**
 * @module test/unit/interval-groups
 * PCD-01 "per interval" grouping (core/interval-groups), as a property: for any log (devices
 * interleaved, acceptance times that never decrease, admissions changing mid-interval), any
 * sequence of delivery rounds (the clock moving on, rounds cut short by their limit, rounds
 * whose delivery fails after some groups, gateway restarts resuming from the durable cursor
 * with only the log to go on), every reading is delivered exactly once, under an MSH-10
 * that always names the same readings, grouped by device, interval and binding, in seq order.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  type GroupRow,
  intervalGroups,
  intervalOf,
  type RowGroup,
} from '../../gateway/src/core/interval-groups.js';
import { fcRuns } from '../helpers/fc-runs.js';

const I = 60_000;

/** A log: rows in leaf order with non-decreasing acceptedAt; seqs increase per device. */
const logArb = fc
  .array(
    fc.record({
      dev: fc.constantFrom('wr-1', 'wr-2', 'wr-3'),
      gap: fc.nat(40_000),
      binding: fc.constantFrom<number | null>(1, 2, null),
      hole: fc.boolean(), // a log position that is no frame (a shredding record)
    }),
    { minLength: 1, maxLength: 120 },
  )
  .map((spec) => {
    let at = 1_800_000_000_000;
    let leaf = 0;
    const seqs = new Map<string, number>();
    return spec.map((s) => {
      at += s.gap;
      leaf += s.hole ? 2 : 1;
      const seq = (seqs.get(s.dev) ?? 0) + 1;
      seqs.set(s.dev, seq);
      return { dev: s.dev, seq, acceptedAt: at, leafIndex: leaf, binding: s.binding } satisfies GroupRow;
    });
  });

/** One round as the reading source does it: the rows from the cursor on, and the interval's rows before it. */
function round(log: readonly GroupRow[], cursor: number, now: number, limit: number): RowGroup[] {
  const visible = log.filter((r) => r.acceptedAt <= now); // what is committed by `now`
  const rows = visible.filter((r) => r.leafIndex >= cursor);
  if (rows.length === 0) return [];
  const iv = intervalOf(rows[0]!.acceptedAt, I);
  const before = visible.filter((r) => r.leafIndex < cursor && intervalOf(r.acceptedAt, I) === iv);
  return intervalGroups(rows, before, now, I, true, limit);
}

describe('PCD-01 per-interval groups', () => {
  test('property: rounds, failures and restarts deliver every reading once, under stable ids', () => {
    fc.assert(
      fc.property(
        logArb,
        fc.array(
          fc.record({ advance: fc.nat(90_000), limit: fc.integer({ min: 1, max: 5 }), fail: fc.nat(6) }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (log, rounds) => {
          let now = log[0]!.acceptedAt;
          let cursor = 0;
          const delivered: GroupRow[] = [];
          const idMembers = new Map<string, string>();
          const run = (limit: number, fail: number) => {
            const groups = round(log, cursor, now, limit);
            // The receiver acknowledges the first `fail` groups (all, when fail ≥ length).
            const acked = groups.slice(0, fail);
            for (const g of acked) {
              const members = g.rows.map((r) => r.leafIndex).join(',');
              const seen = idMembers.get(g.id);
              if (seen === undefined) {
                idMembers.set(g.id, members);
                delivered.push(...g.rows);
              } else expect(members, `${g.id} resent with other readings`).toBe(seen); // a resend: same readings
              // One device, one interval, one binding, seq order.
              expect(
                new Set(g.rows.map((r) => `${r.dev}/${intervalOf(r.acceptedAt, I)}/${r.binding}`)).size,
              ).toBe(1);
              expect(g.rows.map((r) => r.seq)).toEqual([...g.rows.map((r) => r.seq)].sort((a, b) => a - b));
              cursor = g.next;
            }
          };
          for (const r of rounds) {
            now += r.advance;
            run(r.limit, r.fail);
          }
          // Finally every interval closes and the receiver takes everything.
          now = log.at(-1)!.acceptedAt + 2 * I;
          for (let i = 0; i < log.length + 2; i++) run(1000, 1000);
          expect(delivered.map((r) => r.leafIndex).sort((a, b) => a - b)).toEqual(
            log.map((r) => r.leafIndex),
          );
        },
      ),
      { seed: 1919, numRuns: fcRuns(2000) },
    );
  });

  test('behavior: an open interval is not sent; a closed one waits until its last row is seen', () => {
    const t0 = 10 * I;
    const rows: GroupRow[] = [
      { dev: 'a', seq: 1, acceptedAt: t0 + 1000, leafIndex: 0, binding: 1 },
      { dev: 'b', seq: 1, acceptedAt: t0 + 2000, leafIndex: 1, binding: 1 },
      { dev: 'a', seq: 2, acceptedAt: t0 + 3000, leafIndex: 2, binding: 1 },
      { dev: 'a', seq: 3, acceptedAt: t0 + I + 10, leafIndex: 3, binding: 1 },
    ];
    expect(intervalGroups(rows, [], t0 + I - 1, I, true, 10)).toEqual([]);
    // Closed, but the scan stopped inside it and nothing later was seen: wait.
    expect(intervalGroups(rows.slice(0, 2), [], t0 + I, I, false, 10)).toEqual([]);
    const g = intervalGroups(rows, [], t0 + I, I, false, 10);
    expect(g.map((x) => [x.id, x.next])).toEqual([
      ['a:1-2', 1],
      ['b:1-1', 3],
    ]);
    // Resumed at leaf 1 (after a:1-2 was delivered): a:2 at leaf 2 is not sent again.
    expect(intervalGroups(rows.slice(1), rows.slice(0, 1), t0 + I, I, false, 10).map((x) => x.id)).toEqual([
      'b:1-1',
    ]);
  });
});
