/**
 * @module test/unit/bench-reference
 * `aroundReference` (test/bench/reference): a benchmark phase read beside the reference
 * measured right before and right after it, as `bench:ingest` does for its capacity phases.
 */
import { describe, expect, it } from 'vitest';
import { aroundReference } from '../bench/reference.js';

describe('aroundReference', () => {
  it('behavior: measures the reference before the phase and again after it, and gives the phase its value', async () => {
    const order: string[] = [];
    const t0 = performance.now();
    const r = await aroundReference(async () => {
      order.push(`phase at ${Math.round(performance.now() - t0)} ms`);
      return 42;
    }, 60);
    const total = performance.now() - t0;
    expect(r.value).toBe(42);
    // The phase ran after one reference slice (~60 ms) and before the other.
    const phaseAt = Number(order[0]?.match(/\d+/)?.[0]);
    expect(phaseAt).toBeGreaterThanOrEqual(55);
    expect(total - phaseAt).toBeGreaterThanOrEqual(55);
    expect(r.before).toBeGreaterThan(0);
    expect(r.after).toBeGreaterThan(0);
    expect(r.rate).toBeCloseTo((r.before + r.after) / 2, 6);
  });

  it('error: a phase that fails fails the call at once: no reference is taken after it', async () => {
    let thrownAt = Number.NaN;
    const call = aroundReference(async () => {
      thrownAt = performance.now();
      throw new Error('phase failed');
    }, 60);
    await expect(call).rejects.toThrow('phase failed');
    // A reference slice lasts at least its 60 ms; the rejection follows the throw at once.
    expect(performance.now() - thrownAt).toBeLessThan(50);
  });
});
