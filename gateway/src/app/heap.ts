/**
 * @module app/heap
 * How far V8 lets the JS heap grow past what the last full collection kept (issue 14's
 * 10,000-device figure). V8 picks a growing factor of its own, up to 4x the live heap when
 * collections are cheap: a gateway holding ~200 MB of live state for 10,000 connections
 * let its heap reach ~410 MB of mostly garbage before collecting, and the process's RSS
 * followed. A fixed factor of 1 + percent/100 collects sooner, at the cost of more
 * (incremental, concurrent) marking: README "Sizing" has both figures.
 *
 * The flag is the process's, not one gateway's: the first gateway started in a process sets
 * it (a process runs one gateway outside the test suite), and 0 leaves V8's own heuristic.
 */
import { setFlagsFromString } from 'node:v8';

/** The default: the heap may grow 25 % past the live set between full collections. */
export const DEFAULT_HEAP_GROWING_PERCENT = 25;

let applied: number | undefined;

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
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
  applied = percent;
  return applied;
}
