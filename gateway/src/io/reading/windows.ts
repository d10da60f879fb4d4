/**
 * @module io/reading/windows
 * A ranged read of frame rows fetched an hour of device time at a time, with a turn of the
 * event loop between (io/queries `readReadings`): one statement over a day of a 1 Hz
 * device held the gateway's event loop ~160 ms, over the week the query API allows ~1 s, and
 * no frame was acknowledged meanwhile.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Device time whose rows one fetch takes. */
export const READ_WINDOW_MS = 3_600_000;
/** Ranges up to this long are fetched window by window; longer ones (a CLI export) at once. */
export const WINDOWED_MAX_MS = 8 * 24 * 3_600_000;

/**
 * The rows `fetch(from, to)` would answer (both ends inclusive, by seq), fetched window by
 * window. A frame's ts is not monotonic in its seq (PROTOCOL.md §1 bounds only its skew), so
 * rows of neighbouring windows are put back in seq order when they interleave. With `max`,
 * the fetching stops once more than `max` rows are in hand (the caller refuses such a range),
 * so a bounded read of a long range costs at most one window past its bound.
 * @example const rows = await inWindows((a, b) => store.framesToRead(dev, a, b), from, to);
 */
export async function inWindows<R extends { seq: number }>(
  fetch: (from: number, to: number) => R[],
  from: number,
  to: number,
  max = Number.POSITIVE_INFINITY,
): Promise<R[]> {
  const rows: R[] = [];
  for await (const [a, b] of windowsOf(from, to)) {
    if (rows.length > max) break;
    for (const r of fetch(a, b)) rows.push(r);
  }
  for (let i = 1; i < rows.length; i++)
    if ((rows[i] as R).seq < (rows[i - 1] as R).seq) return rows.sort((a, b) => a.seq - b.seq);
  return rows;
}

/**
 * The `n` rows with the latest ts of those `fetch(from, to)` would answer (ties by seq), by
 * seq: fetched an hour at a time backwards from `to`, stopping once `n` are in hand (every
 * row of a later window has a later ts than every row of an earlier one), so the last
 * readings of a day cost the day's last hour, not the day. A range too long to window is
 * fetched at once.
 * @example const rows = await lastInWindows((a, b) => store.framesToRead(dev, a, b), from, to, 20);
 */
export async function lastInWindows<R extends { seq: number; ts: number }>(
  fetch: (from: number, to: number) => R[],
  from: number,
  to: number,
  n: number,
): Promise<R[]> {
  let rows: R[] = [];
  if (to - from > WINDOWED_MAX_MS) rows = fetch(from, to);
  else
    for (let end = to; end >= from && rows.length < n; end -= READ_WINDOW_MS) {
      if (end < to) await nextTurn();
      rows = fetch(Math.max(from, end - READ_WINDOW_MS + 1), end).concat(rows);
    }
  return rows
    .sort((a, b) => a.ts - b.ts || a.seq - b.seq)
    .slice(-n)
    .sort((a, b) => a.seq - b.seq);
}

/**
 * How many rows `count(from, to)` would count (both ends inclusive), counted window by window
 * with a turn of the event loop between: one count over a week of one 1 Hz device's index
 * held the loop 22 ms, 163 ms with its pages not yet in the OS cache. A range too long to
 * window is counted at once.
 * @example const total = await countInWindows((a, b) => store.countFrames(dev, a, b + 1), from, to);
 */
export async function countInWindows(
  count: (from: number, to: number) => number,
  from: number,
  to: number,
): Promise<number> {
  let total = 0;
  for await (const [a, b] of windowsOf(from, to)) total += count(a, b);
  return total;
}

/**
 * The windows of [from, to] (both ends inclusive) of `READ_WINDOW_MS` each, a turn of the
 * event loop between two; a range under a window, or one too long to window (over
 * `WINDOWED_MAX_MS`: a CLI export to the end of time), is one window.
 */
export async function* windowsOf(from: number, to: number): AsyncGenerator<[number, number]> {
  if (to - from < READ_WINDOW_MS || to - from > WINDOWED_MAX_MS) {
    yield [from, to];
    return;
  }
  for (let start = from; start <= to; start += READ_WINDOW_MS) {
    if (start > from) await nextTurn();
    yield [start, Math.min(to, start + READ_WINDOW_MS - 1)];
  }
}
