/**
 * @module test/unit/reading-windows
 * io/reading/windows `inWindows`: a ranged read fetched an hour of device time at a time, a
 * turn of the event loop between fetches, both ends inclusive, no row twice or lost, rows
 * by seq even where a frame's ts runs backwards across a window's edge; a short range, and
 * one too long to window (a CLI export to the end of time), are fetched at once; a bounded
 * read stops at the first window past its bound.
 */
import { describe, expect, test } from 'vitest';
import {
  countInWindows,
  inWindows,
  lastInWindows,
  READ_WINDOW_MS,
} from '../../gateway/src/io/reading/index.js';

const H = READ_WINDOW_MS;
type Row = { seq: number; ts: number };
/** Rows of one device; seq 5's ts is before seq 4's, across the first hour's edge. */
const ROWS: Row[] = [
  { seq: 1, ts: 0 },
  { seq: 2, ts: 10 },
  { seq: 3, ts: H - 1 },
  { seq: 4, ts: H + 5 },
  { seq: 5, ts: H - 5 },
  { seq: 6, ts: 2 * H },
  { seq: 7, ts: 3 * H - 1 },
  { seq: 8, ts: 3 * H },
];
const fetcher = () => {
  const calls: [number, number][] = [];
  const fetch = (a: number, b: number) => {
    calls.push([a, b]);
    return ROWS.filter((r) => r.ts >= a && r.ts <= b).sort((x, y) => x.seq - y.seq);
  };
  return { calls, fetch };
};

describe('inWindows', () => {
  test('behavior: an hour a fetch, every row once, by seq', async () => {
    const f = fetcher();
    const rows = await inWindows(f.fetch, 0, 3 * H);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(f.calls).toEqual([
      [0, H - 1],
      [H, 2 * H - 1],
      [2 * H, 3 * H - 1],
      [3 * H, 3 * H],
    ]);
  });

  test('behavior: the event loop turns between fetches', async () => {
    const f = fetcher();
    let turns = 0;
    const seen: number[] = [];
    const tick = () => {
      turns += 1;
      if (turns < 100) setImmediate(tick);
    };
    setImmediate(tick);
    const fetch = (a: number, b: number) => {
      seen.push(turns);
      return f.fetch(a, b);
    };
    await inWindows(fetch, 0, 3 * H);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] as number);
  });

  test('behavior: with a bound, the fetching stops at the first window that passes it', async () => {
    const f = fetcher();
    // 3 rows in the first hour, 2 in the second: past a bound of 4 after two fetches, not four.
    const rows = await inWindows(f.fetch, 0, 3 * H, 4);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(f.calls).toEqual([
      [0, H - 1],
      [H, 2 * H - 1],
    ]);
    // A bound the range keeps: every window, every row.
    const g = fetcher();
    expect((await inWindows(g.fetch, 0, 3 * H, 8)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(g.calls).toHaveLength(4);
  });

  test('behavior: a range under an hour, or over 8 days, is one fetch', async () => {
    for (const [from, to] of [
      [10, H - 1],
      [0, Number.MAX_SAFE_INTEGER],
    ]) {
      const f = fetcher();
      const rows = await inWindows(f.fetch, from as number, to as number);
      expect(f.calls).toEqual([[from, to]]);
      expect(rows).toEqual(f.fetch(from as number, to as number));
    }
  });

  test('behavior: the latest n by ts, fetched backwards from the end only as far as needed, by seq', async () => {
    const f = fetcher();
    // The last two by ts: seq 7 (3H - 1) and 8 (3H), both in the last hour: one fetch.
    expect((await lastInWindows(f.fetch, 0, 3 * H, 2)).map((r) => r.seq)).toEqual([7, 8]);
    expect(f.calls).toEqual([[2 * H + 1, 3 * H]]);
    // Across the edge where ts runs backwards: the 5 latest by ts are seqs 3, 4, 6, 7, 8
    // (seq 5's ts is before seq 3's), returned by seq.
    expect((await lastInWindows(fetcher().fetch, 0, 3 * H, 5)).map((r) => r.seq)).toEqual([3, 4, 6, 7, 8]);
    // More than the range holds: every row, the fetches down to `from`.
    const all = fetcher();
    expect((await lastInWindows(all.fetch, 0, 3 * H, 100)).map((r) => r.seq)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(all.calls.at(-1)).toEqual([0, 0]);
  });
});

describe('countInWindows', () => {
  test('behavior: the same count as one, an hour a count, with a turn of the event loop between', async () => {
    const calls: [number, number][] = [];
    const turnsSeen: number[] = [];
    let turns = 0;
    const tick = () => {
      turns += 1;
      if (turns < 100) setImmediate(tick);
    };
    setImmediate(tick);
    const count = (a: number, b: number) => {
      calls.push([a, b]);
      turnsSeen.push(turns);
      return ROWS.filter((r) => r.ts >= a && r.ts <= b).length;
    };
    expect(await countInWindows(count, 0, 3 * H)).toBe(ROWS.length);
    expect(calls).toEqual([
      [0, H - 1],
      [H, 2 * H - 1],
      [2 * H, 3 * H - 1],
      [3 * H, 3 * H],
    ]);
    for (let i = 1; i < turnsSeen.length; i++)
      expect(turnsSeen[i]).toBeGreaterThan(turnsSeen[i - 1] as number);
    // A range under an hour, or over 8 days, at once.
    calls.length = 0;
    expect(await countInWindows(count, 10, H - 1)).toBe(3); // seqs 2, 3 and 5
    expect(await countInWindows(count, 0, Number.MAX_SAFE_INTEGER)).toBe(ROWS.length);
    expect(calls).toEqual([
      [10, H - 1],
      [0, Number.MAX_SAFE_INTEGER],
    ]);
  });
});
