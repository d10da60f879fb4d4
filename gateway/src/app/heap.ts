/**
 * @module app/heap
 * How far V8 lets the JS heap grow past what the last full collection kept (issue 14's
 * 10,000-device figure). V8 picks a growing factor of its own, up to 4x the live heap when
 * collections are cheap: a gateway holding ~200 MB of live state for 10,000 connections
 * let its heap reach ~410 MB of mostly garbage before collecting, and the process's RSS
 * followed. A fixed factor of 1 + percent/100 collects sooner, at the cost of more
 * (incremental, concurrent) marking: README "Sizing" has both figures.
 *
 * A fixed factor alone taxes a small heap: with ~45 MB live at full ingest, 25 % is 11 MB,
 * a full collection every ~0.3 s (`--trace-gc`). So a small heap may grow by at least
 * `MIN_HEAP_HEADROOM_MB` less a quarter of its live set (48 MB at nothing live, 37 MB at
 * 45 MB, none from 192 MB on): after each full collection the factor for the next one is
 * raised to that where it is more. With 25 % the floor ends at 96 MB live, well below the
 * ~200 MB of 10,000 connections, where the memory goal is at stake.
 *
 * The flag is the process's, not one gateway's: the first gateway started in a process sets
 * it (a process runs one gateway outside the test suite), and 0 leaves V8's own heuristic.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/** The default: the heap may grow 25 % past the live set between full collections. */
export const DEFAULT_HEAP_GROWING_PERCENT = 25;
/** The headroom a heap with nothing live may grow by between full collections (less a quarter of the live set). */
export const MIN_HEAP_HEADROOM_MB = 48;

let applied: number | undefined;
/** The percent V8 has now (changes after full collections while the live set is small). */
let inForce = 0;

/**
 * The growing percent for a live set of `liveBytes`: `percent`, raised so the headroom is
 * at least `MIN_HEAP_HEADROOM_MB` less a quarter of the live set (at most 400, the flag's
 * range here).
 */
export function growingPercentFor(percent: number, liveBytes: number): number {
  const live = Math.max(liveBytes, 1);
  const floor = Math.ceil(((MIN_HEAP_HEADROOM_MB * 1_048_576 - live / 4) / live) * 100);
  return Math.min(400, Math.max(percent, floor));
}

/** The growing percent in force for this process (0: V8's own heuristic). */
export function heapGrowingInForce(): number {
  return inForce;
}

function setPercent(p: number): void {
  if (p === inForce) return;
  setFlagsFromString(`--heap-growing-percent=${p}`);
  inForce = p;
}

/**
 * Sets V8's heap growing factor to 1 + `percent`/100 for this process, once: later calls
 * with another value change nothing and return the value in force.
 * @returns the percent in force (0: V8's own heuristic).
 */
export function applyHeapGrowingPercent(percent: number): number {
  if (applied !== undefined) return applied;
  if (!Number.isInteger(percent) || percent < 0 || percent > 400) {
    throw new RangeError('heapGrowingPercent must be an integer from 0 to 400');
  }
  applied = percent;
  if (percent === 0) return applied;
  setPercent(percent);
  // After each full collection (the heap then holds about its live set), the factor V8
  // uses when it sets the next collection's limit; raised only from there, never before a
  // live set was seen. Does not keep the process up.
  new PerformanceObserver((list) => {
    const major = (e: PerformanceEntry) =>
      (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
      constants.NODE_PERFORMANCE_GC_MAJOR;
    if (list.getEntries().some(major))
      setPercent(growingPercentFor(percent, getHeapStatistics().used_heap_size));
  }).observe({ entryTypes: ['gc'] });
  return applied;
}
