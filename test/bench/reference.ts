/**
 * The reference every benchmark prints its figures beside: node:crypto's P-256 ECDSA
 * verify rate on one core, measured in the same run (STACK-NOTES.md "Crypto rates").
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/**
 * Milliseconds of a clock: `wall` (elapsed time) or `cpu` (this process's user + system
 * time, on any core). On a shared machine the CPU clock does not count the time the process
 * waited for a core, so a rate and its reference measured minutes apart stay comparable.
 */
export type Clock = 'wall' | 'cpu';
export function clockMs(clock: Clock): number {
  if (clock === 'wall') return performance.now();
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** P-256 verifies per second of a 160-byte message (about one Sig_structure of a vitals frame). */
export function p256VerifyRate(ms = 1500, clock: Clock = 'wall'): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.alloc(160, 7);
  const sig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  let n = 0;
  const t0 = clockMs(clock);
  while (clockMs(clock) - t0 < ms) {
    for (let i = 0; i < 100; i++) verify('sha256', msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
    n += 100;
  }
  return n / ((clockMs(clock) - t0) / 1000);
}

/** A phase's result with the reference measured right before and right after it. */
export interface Around<T> {
  value: T;
  before: number;
  after: number;
  /** The mean of `before` and `after`. */
  rate: number;
}

/**
 * Runs `phase` between two measurements of the reference (`p256VerifyRate(ms, clock)`), so
 * that its figure can be read beside the host's speed at that moment: on a shared host the
 * reference drifts by 10-20 % over minutes (2026-12-07: 12,758 to 15,078/s within eight
 * minutes of one idle machine), and a phase of a few seconds compared with a reference taken
 * minutes away reads that drift as its own. Nothing else should run during the two
 * measurements.
 */
export async function aroundReference<T>(
  phase: () => Promise<T>,
  ms = 1500,
  clock: Clock = 'wall',
): Promise<Around<T>> {
  const before = p256VerifyRate(ms, clock);
  const value = await phase();
  const after = p256VerifyRate(ms, clock);
  return { value, before, after, rate: (before + after) / 2 };
}

/**
 * The last line of every benchmark: `BENCH ` and one JSON object of its figures and their
 * references (names in README "Benchmarks"), so runs can be compared by a script.
 */
export function benchLine(figures: Record<string, unknown>): string {
  return `BENCH ${JSON.stringify(figures)}`;
}
