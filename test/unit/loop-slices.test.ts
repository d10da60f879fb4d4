/**
 * @module test/unit/loop-slices
 * io/loop/slices `SlicedVisit` on the real event loop: every item once, in order, in slices
 * cut by time and by count with other work between them; the end told once and at once
 * (complete, halted, or the throw with what was visited); a halt from within a visit stops
 * at that item.
 */
import { describe, expect, it } from 'vitest';
import { SlicedVisit, type SliceOptions } from '../../gateway/src/io/loop/index.js';

const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
const items = (n: number) => Array.from({ length: n }, (_, i) => i);
type End = Parameters<SliceOptions<number>['onEnd']>[0];

describe('io/loop/slices', () => {
  it('behavior: every item once, in order, the first slice in the caller turn, a socket between slices', async () => {
    const log: string[] = [];
    const ends: End[] = [];
    const run = new SlicedVisit(items(7), {
      visit: (i) => log.push(`v${i}`),
      onSlice: () => log.push('slice'),
      onEnd: (e) => ends.push(e),
      sliceMs: 1000,
      sliceItems: 3,
    });
    setImmediate(() => log.push('socket'));
    run.start();
    expect(log).toEqual(['slice', 'v0', 'v1', 'v2']);
    await turns();
    expect(log).toEqual(['slice', 'v0', 'v1', 'v2', 'socket', 'slice', 'v3', 'v4', 'v5', 'slice', 'v6']);
    expect(ends).toEqual([{ complete: true, visited: 7 }]);
    expect([run.visited, run.slices]).toEqual([7, 3]);
  });

  it('behavior: a slice ends once it has taken sliceMs, whatever its count', async () => {
    let ms = 0;
    const bySlice: number[] = [];
    const run: SlicedVisit<number> = new SlicedVisit(items(5), {
      visit: () => {
        ms += 3;
        bySlice.push(run.slices);
      },
      onEnd: () => {},
      sliceMs: 5,
      elapsed: () => ms,
    });
    run.start();
    await turns();
    // 3 ms, then 6 >= 5: two items a slice.
    expect(bySlice).toEqual([1, 1, 2, 2, 3]);
  });

  it('behavior: an empty list ends complete in the start call', () => {
    const ends: End[] = [];
    new SlicedVisit([], { visit: () => {}, onEnd: (e) => ends.push(e), sliceMs: 1 }).start();
    expect(ends).toEqual([{ complete: true, visited: 0 }]);
  });

  it('behavior: halt between slices ends the run, told once; no slice runs after it', async () => {
    const seen: number[] = [];
    const ends: End[] = [];
    const run = new SlicedVisit(items(10), {
      visit: (i) => seen.push(i),
      onEnd: (e) => ends.push(e),
      sliceMs: 1000,
      sliceItems: 4,
    });
    run.start();
    run.halt();
    run.halt();
    await turns();
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(ends).toEqual([{ complete: false, visited: 4 }]);
  });

  it('behavior: a halt from within a visit stops at that item', () => {
    const seen: number[] = [];
    const ends: End[] = [];
    const run: SlicedVisit<number> = new SlicedVisit(items(10), {
      visit: (i) => {
        seen.push(i);
        if (i === 2) run.halt();
      },
      onEnd: (e) => ends.push(e),
      sliceMs: 1000,
    });
    run.start();
    expect(seen).toEqual([0, 1, 2]);
    expect(ends).toEqual([{ complete: false, visited: 3 }]);
  });

  it('behavior: a halt as a slice starts visits nothing more', async () => {
    const seen: number[] = [];
    const ends: End[] = [];
    const run: SlicedVisit<number> = new SlicedVisit(items(6), {
      visit: (i) => seen.push(i),
      onSlice: () => {
        if (run.slices === 2) run.halt();
      },
      onEnd: (e) => ends.push(e),
      sliceMs: 1000,
      sliceItems: 2,
    });
    run.start();
    await turns();
    expect(seen).toEqual([0, 1]);
    expect(ends).toEqual([{ complete: false, visited: 2 }]);
  });

  it('behavior: a throw ends the run with the error; the item it threw on is not counted', async () => {
    const ends: End[] = [];
    const boom = new Error('row unreadable');
    new SlicedVisit(items(6), {
      visit: (i) => {
        if (i === 4) throw boom;
      },
      onEnd: (e) => ends.push(e),
      sliceMs: 1000,
      sliceItems: 3,
    }).start();
    await turns();
    expect(ends).toEqual([{ complete: false, visited: 4, err: boom }]);
  });

  it('behavior: a slice length or count that cannot cut is refused', () => {
    const o = { visit: () => {}, onEnd: () => {} };
    expect(() => new SlicedVisit([1], { ...o, sliceMs: 0 })).toThrow(RangeError);
    expect(() => new SlicedVisit([1], { ...o, sliceMs: 1, sliceItems: 0 })).toThrow(RangeError);
    expect(() => new SlicedVisit([1], { ...o, sliceMs: 1, sliceItems: 1.5 })).toThrow(RangeError);
  });
});
