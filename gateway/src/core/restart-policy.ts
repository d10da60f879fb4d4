/**
 * @module core/restart-policy
 * When to restart a supervised child process that died: the embedded chain's anvil node,
 * watched by io/anchoring/chain-watchdog (issue 13 item 11, "chain watchdog"). Pure: the
 * caller brings the clock and the randomness, and keeps the state between calls.
 *
 * - Exponential backoff: the n-th failure in a row waits up to `minDelayMs · 2^(n-1)`,
 *   capped at `maxDelayMs`; a failure is a death, or a restart attempt that did not bring
 *   the child up.
 * - Equal jitter: each delay is drawn uniformly from [d/2, d] (as the anchoring outbox's
 *   retries, io/anchoring/anchoring), so the delay is never below `minDelayMs / 2`: a child
 *   that dies at once after every start is restarted at most every `minDelayMs / 2`, then
 *   ever more slowly, never in a tight loop.
 * - Forgiveness: a child that stayed up `stableAfterMs` counts as healthy, and its next death
 *   starts again from `minDelayMs`.
 */

export interface RestartPolicy {
  /** Ceiling of the first delay after a healthy run (the delay is drawn from [d/2, d]). Default 500 ms. */
  readonly minDelayMs: number;
  /** Ceiling of every delay. Default 30 s. */
  readonly maxDelayMs: number;
  /** A child up this long counts as healthy: its next death starts from `minDelayMs`. Default 60 s. */
  readonly stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = Object.freeze({
  minDelayMs: 500,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
});

/** What the policy remembers between calls. */
export interface RestartState {
  /** Failures in a row (deaths of an unhealthy child, failed restarts). */
  readonly failures: number;
  /** When the child last came up (ms), or null while it is down. */
  readonly upSince: number | null;
}

/** A child that has not failed yet and is not up. */
export const INITIAL_RESTART_STATE: RestartState = Object.freeze({ failures: 0, upSince: null });

/**
 * Checks a policy.
 * @throws {RangeError} naming the field: `minDelayMs` not a positive finite number (0 would
 *   let a restart loop spin), `maxDelayMs` below `minDelayMs`, `stableAfterMs` not positive.
 */
export function checkRestartPolicy(p: RestartPolicy): RestartPolicy {
  if (!Number.isFinite(p.minDelayMs) || p.minDelayMs <= 0)
    throw new RangeError('minDelayMs must be a positive number of milliseconds');
  if (!Number.isFinite(p.maxDelayMs) || p.maxDelayMs < p.minDelayMs)
    throw new RangeError('maxDelayMs must be a number of milliseconds ≥ minDelayMs');
  if (!Number.isFinite(p.stableAfterMs) || p.stableAfterMs <= 0)
    throw new RangeError('stableAfterMs must be a positive number of milliseconds');
  return p;
}

/** The child is up (first start or a successful restart) at `now`. */
export function restartSucceeded(s: RestartState, now: number): RestartState {
  return { failures: s.failures, upSince: now };
}

/**
 * The child died, or a restart attempt failed, at `now`.
 * @param random uniform in [0, 1) (the jitter).
 * @returns the delay before the next restart attempt and the state to keep.
 * @example
 * let s = INITIAL_RESTART_STATE;
 * s = restartSucceeded(s, Date.now());
 * // … the child exits:
 * const next = nextRestart(DEFAULT_RESTART_POLICY, s, Date.now(), Math.random);
 * s = next.state; setTimeout(restart, next.delayMs);
 */
export function nextRestart(
  policy: RestartPolicy,
  s: RestartState,
  now: number,
  random: () => number,
): { delayMs: number; state: RestartState } {
  const healthy = s.upSince !== null && now - s.upSince >= policy.stableAfterMs;
  const failures = healthy ? 1 : s.failures + 1;
  // 2 ** n is Infinity for a huge n; the cap keeps the delay finite.
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(failures - 1, 64));
  const drawn = random();
  const r = drawn > 0 ? Math.min(drawn, 1) : 0; // a draw out of [0, 1] (or NaN) is clamped, never trusted
  return { delayMs: ceiling * (0.5 + r / 2), state: { failures, upSince: null } };
}
