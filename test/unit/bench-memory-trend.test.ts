/**
 * @module test/unit/bench-memory-trend
 * test/bench/memory-trend: the slope and ends of a process's RSS once its load is steady.
 */
import { describe, expect, it } from 'vitest';
import { EDGE, memoryTrend } from '../../test/bench/memory-trend.js';

const MB = 1024 * 1024;

describe('bench memory trend', () => {
  it('behavior: a steady saw-tooth has no slope; a leak of 1 MB a minute is 60 MB an hour', () => {
    const tooth = Array.from({ length: 600 }, (_, i) => ({ t: i * 1000, bytes: (300 + (i % 10)) * MB }));
    const flat = memoryTrend(tooth, 0);
    expect(flat?.n).toBe(600);
    expect(Math.abs(flat?.slopeMBPerHour ?? 9)).toBeLessThan(2); // ~1 MB an hour from the teeth at the ends
    const leak = tooth.map((x) => ({ t: x.t, bytes: x.bytes + (x.t / 60_000) * MB }));
    const trend = memoryTrend(leak, 0);
    expect(Math.abs((trend?.slopeMBPerHour ?? 0) - 60)).toBeLessThan(2);
    expect(trend?.startMB).toBeCloseTo(304.5 + 4.5 / 60, 1);
    expect(trend?.endMB).toBeCloseTo(304.5 + 594.5 / 60, 1);
  });

  it('behavior: only the samples from `fromMs` on count (the connecting minutes left out)', () => {
    const ramp = Array.from({ length: 100 }, (_, i) => ({
      t: i * 1000,
      bytes: (i < 50 ? 100 + i * 4 : 300) * MB,
    }));
    expect(memoryTrend(ramp, 0)?.slopeMBPerHour).toBeGreaterThan(1000);
    expect(memoryTrend(ramp, 50_000)).toEqual({ n: 50, startMB: 300, endMB: 300, slopeMBPerHour: 0 });
  });

  it('error: too few samples, too short a span, or all at one instant, give no trend', () => {
    const few = Array.from({ length: 2 * EDGE - 1 }, (_, i) => ({ t: i, bytes: MB }));
    expect(memoryTrend(few, 0)).toBeNull();
    expect(
      memoryTrend(
        Array.from({ length: 40 }, () => ({ t: 5, bytes: MB })),
        0,
      ),
    ).toBeNull();
  });
});
