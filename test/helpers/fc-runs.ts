/**
 * @module test/helpers/fc-runs
 * How many runs a fast-check property gets, from one environment variable, `VT_FC_RUNS`
 * (run counts raised on CI, as noble and OpenZeppelin's merkle-tree do). Each property
 * states its full count; it runs `min(full, VT_FC_RUNS)` times.
 *
 * - Unset: 100, fast-check's own default, so `npm run test:unit` stays fast.
 * - `npm test` (what CI runs) sets 10000, above every full count, so the full run checks
 *   each property at its full count.
 *
 * Runs stay deterministic where a test pins `seed`; fewer runs check a prefix of the same
 * sequence of cases.
 */

/** The environment variable read by `fcRuns`. */
export const FC_RUNS_ENV = 'VT_FC_RUNS';
/** Runs per property when `VT_FC_RUNS` is unset (fast-check's default `numRuns`). */
export const DEFAULT_FC_RUNS = 100;

/** `VT_FC_RUNS` as a positive integer, or `DEFAULT_FC_RUNS` when unset or empty. */
function cap(): number {
  const raw = process.env[FC_RUNS_ENV];
  if (raw === undefined || raw === '') return DEFAULT_FC_RUNS;
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) {
    throw new RangeError(`${FC_RUNS_ENV} must be a positive integer (runs per property)`);
  }
  return Number(raw);
}

/**
 * The `numRuns` of a property whose full count is `full`: `min(full, VT_FC_RUNS)`.
 * @throws {RangeError} when `full` is not a positive integer, or `VT_FC_RUNS` is set to
 * anything but a positive integer.
 * @example
 * fc.assert(property, { numRuns: fcRuns(1500) }); // 100 in test:unit, 1500 in npm test
 */
export function fcRuns(full: number): number {
  if (!Number.isSafeInteger(full) || full < 1)
    throw new RangeError('fcRuns: full must be a positive integer');
  return Math.min(full, cap());
}
