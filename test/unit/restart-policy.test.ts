/**
 * The restart backoff of a supervised child (core/restart-policy; issue 13 item 11, the
 * embedded chain's watchdog): exponential with equal jitter, capped, forgiven after a healthy
 * run, and never a tight loop.
 */
import { describe, expect, test } from 'vitest';
import {
  checkRestartPolicy,
  DEFAULT_RESTART_POLICY,
  INITIAL_RESTART_STATE,
  nextRestart,
  type RestartState,
  restartSucceeded,
} from '../../gateway/src/core/restart-policy.js';

const P = DEFAULT_RESTART_POLICY;

/** The delays of `n` failures in a row from `s`, with a fixed jitter draw. */
function delays(n: number, r: number, s: RestartState = INITIAL_RESTART_STATE, t0 = 0): number[] {
  const out: number[] = [];
  let state = s;
  for (let i = 0; i < n; i++) {
    const next = nextRestart(P, state, t0 + i, () => r);
    out.push(next.delayMs);
    state = next.state;
  }
  return out;
}

describe('restart policy', () => {
  test('behavior: failures in a row double the delay from 0.5 s up to the 30 s ceiling', () => {
    expect(delays(9, 0.999999).map(Math.round)).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  test('behavior: equal jitter draws each delay from [d/2, d]', () => {
    expect(delays(4, 0)).toEqual([250, 500, 1000, 2000]);
    const mid = nextRestart(P, INITIAL_RESTART_STATE, 0, () => 0.5).delayMs;
    expect(mid).toBe(375);
  });

  test('behavior: a child that stayed up stableAfterMs is forgiven; one that died sooner is not', () => {
    let s = INITIAL_RESTART_STATE;
    for (let i = 0; i < 5; i++) s = nextRestart(P, s, 0, () => 0).state; // five failures
    const up = restartSucceeded(s, 1000);
    expect(up).toEqual({ failures: 5, upSince: 1000 });
    // Died 10 s after coming up: still unhealthy, the backoff goes on growing.
    expect(nextRestart(P, up, 11_000, () => 0)).toEqual({
      delayMs: 8000,
      state: { failures: 6, upSince: null },
    });
    // Died after a minute up: back to the first delay.
    expect(nextRestart(P, up, 1000 + P.stableAfterMs, () => 0)).toEqual({
      delayMs: 250,
      state: { failures: 1, upSince: null },
    });
  });

  test('behavior: never a tight loop — any history, any draw, the delay is at least minDelayMs/2 and at most maxDelayMs', () => {
    let s = INITIAL_RESTART_STATE;
    for (let i = 0; i < 2000; i++) {
      const r = ((i * 7919) % 1000) / 1000;
      const next = nextRestart(P, s, i, () => r);
      expect(next.delayMs).toBeGreaterThanOrEqual(P.minDelayMs / 2);
      expect(next.delayMs).toBeLessThanOrEqual(P.maxDelayMs);
      expect(Number.isFinite(next.delayMs)).toBe(true);
      s = i % 3 === 0 ? restartSucceeded(next.state, i) : next.state;
    }
    // A random source out of range is clamped, not trusted.
    expect(nextRestart(P, INITIAL_RESTART_STATE, 0, () => -5).delayMs).toBe(250);
    expect(nextRestart(P, INITIAL_RESTART_STATE, 0, () => 7).delayMs).toBe(500);
    expect(nextRestart(P, INITIAL_RESTART_STATE, 0, () => Number.NaN).delayMs).toBeGreaterThanOrEqual(250);
  });

  test('error: a policy that could spin or never forgive is refused with a RangeError naming the field', () => {
    expect(() => checkRestartPolicy({ ...P, minDelayMs: 0 })).toThrow(/minDelayMs/);
    expect(() => checkRestartPolicy({ ...P, minDelayMs: Number.NaN })).toThrow(RangeError);
    expect(() => checkRestartPolicy({ ...P, maxDelayMs: 100 })).toThrow(/maxDelayMs/);
    expect(() => checkRestartPolicy({ ...P, stableAfterMs: -1 })).toThrow(/stableAfterMs/);
    expect(checkRestartPolicy(P)).toBe(P);
  });
});
