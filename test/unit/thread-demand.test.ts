/**
 * @module test/unit/thread-demand
 * The rule that starts and stops the verify pool's threads (core/thread-demand), the batch
 * shares among its threads (io/verify/batch-shares) and the gateway's default pool
 * (app/core-steps `verifyThreadsOf`).
 */
import { availableParallelism } from 'node:os';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { verifyThreadsOf } from '../../gateway/src/app/core-steps.js';
import {
  closeWindows,
  type DemandState,
  IDLE_DEMAND,
  VERIFY_DEMAND_POLICY as P,
  startEarly,
  useThreads,
  wakeEarly,
} from '../../gateway/src/core/thread-demand.js';
import { shareBatches } from '../../gateway/src/io/verify/batch-shares.js';
import { DemandMeter, OUTLIER_FACTOR } from '../../gateway/src/io/verify/demand-meter.js';

const runs = Number(process.env.VT_FC_RUNS ?? 200);

/** Feeds windows of `busyMs` each; returns the changes in order. */
function feed(busy: number[], state: DemandState = IDLE_DEMAND): { changes: string[]; state: DemandState } {
  const changes: string[] = [];
  let s = state;
  for (const b of busy) {
    const r = closeWindows(P, s, b);
    s = r.state;
    if (r.change) changes.push(r.change);
  }
  return { changes, state: s };
}

describe('thread demand', () => {
  test('behavior: threads start in the first window at a quarter busy, not below it', () => {
    expect(feed([100, 200, 249]).changes).toEqual([]);
    expect(feed([100, 250]).changes).toEqual(['start']);
    expect(feed([1000]).state).toEqual({ running: true, quietWindows: 0 });
  });

  test('behavior: they stop after 30 windows in a row under a tenth; a busier window between restarts the count; between the edges nothing changes', () => {
    const on = feed([500]).state;
    expect(feed(Array(29).fill(99), on).changes).toEqual([]);
    expect(feed(Array(30).fill(99), on).changes).toEqual(['stop']);
    expect(feed([...Array(29).fill(0), 100, ...Array(29).fill(0)], on).changes).toEqual([]);
    // Between a tenth and a quarter: running stays running, stopped stays stopped.
    expect(feed(Array(100).fill(200), on).changes).toEqual([]);
    expect(feed(Array(100).fill(200)).changes).toEqual([]);
  });

  test('behavior: windows with no work at all count as quiet ones (an idle gateway stops them)', () => {
    const on = feed([500]).state;
    expect(closeWindows(P, on, 0, 28)).toEqual({ state: { running: true, quietWindows: 29 }, change: null });
    expect(closeWindows(P, on, 0, 29).change).toBe('stop');
    // A busy window followed by empty ones: only the empty ones count.
    expect(closeWindows(P, on, 800, 29)).toEqual({
      state: { running: true, quietWindows: 29 },
      change: null,
    });
    // Not running: empty windows change nothing; a busy one starts them.
    expect(closeWindows(P, IDLE_DEMAND, 0, 1000).change).toBeNull();
    expect(closeWindows(P, IDLE_DEMAND, 300, 1000).change).toBe('start');
  });

  test('behavior: a window starts them as soon as its work reaches a quarter of it, not only when it closes', () => {
    expect(startEarly(P, IDLE_DEMAND, 249)).toEqual({ state: IDLE_DEMAND, change: null });
    expect(startEarly(P, IDLE_DEMAND, 250)).toEqual({
      state: { running: true, quietWindows: 0 },
      change: 'start',
    });
    const on = feed([500]).state;
    expect(startEarly(P, on, 900).change).toBeNull(); // already running
  });

  test('behavior: running threads get work unless the load has gone quiet (last window under a tenth, this one so far too)', () => {
    const on = feed([500]).state;
    expect(useThreads(P, on, 0)).toBe(true);
    const quiet = feed([60], on).state; // a ward's 1,000 frames/s after a burst
    expect(quiet).toEqual({ running: true, quietWindows: 1 });
    expect(useThreads(P, quiet, 99)).toBe(false);
    expect(useThreads(P, quiet, 100)).toBe(true); // this window is past a tenth already
    expect(useThreads(P, feed([150], quiet).state, 0)).toBe(true); // between the edges: the threads
    expect(useThreads(P, IDLE_DEMAND, 900)).toBe(false); // not running
  });

  test('behavior: running threads that went quiet get the load back once a short window is a quarter busy', () => {
    const on = feed([500]).state;
    const quiet = feed([60, 60], on).state;
    expect(quiet).toEqual({ running: true, quietWindows: 2 });
    expect(wakeEarly(P, quiet, 0.25 * P.wakeMs - 0.01)).toBe(quiet);
    expect(wakeEarly(P, quiet, 0.25 * P.wakeMs)).toEqual({ running: true, quietWindows: 0 });
    expect(useThreads(P, wakeEarly(P, quiet, 0.25 * P.wakeMs), 0)).toBe(true);
    // Nothing to wake: not running (starting is startEarly's), or not quiet.
    expect(wakeEarly(P, IDLE_DEMAND, P.wakeMs)).toBe(IDLE_DEMAND);
    expect(wakeEarly(P, on, P.wakeMs)).toBe(on);
    // The short window is shorter than the long one, so a quarter of it is a burst, not a load.
    expect(P.wakeMs).toBeLessThan(P.windowMs / 10);
  });

  test('property: start and stop alternate, and a stop follows exactly 30 quiet windows', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 300 }), (busy) => {
        const { changes } = feed(busy);
        expect(changes).toEqual(changes.map((_, i) => (i % 2 === 0 ? 'start' : 'stop')));
        let s: DemandState = IDLE_DEMAND;
        let quiet = 0;
        for (const b of busy) {
          const r = closeWindows(P, s, b);
          quiet = s.running ? (b < 100 ? quiet + 1 : 0) : 0;
          if (r.change === 'stop') expect(quiet).toBe(30);
          if (s.running && r.change === null) expect(quiet).toBeLessThan(30);
          s = r.state;
        }
      }),
      { numRuns: runs },
    );
  });
});

describe('demand meter', () => {
  /** A meter fed `seconds` windows of checks: per window, `n` of `ms` each, then `waits` preempted ones of `waitMs`. */
  function meter(n: number, ms: number, waits = 0, waitMs = 0, seconds = 3): string[] {
    const changes: string[] = [];
    const m = new DemandMeter(P, (c) => changes.push(c));
    const t0 = performance.now();
    for (let w = 0; w < seconds; w++) {
      const all = n + waits;
      const every = waits > 0 ? Math.floor(all / waits) : 0; // every k-th check waited
      for (let i = 0; i < all; i++) {
        const at = t0 + w * P.windowMs + ((i + 1) * P.windowMs) / (all + 1);
        m.measured(every > 0 && i % every === 0 ? waitMs : ms, at);
      }
    }
    m.measured(ms, t0 + seconds * P.windowMs + 1); // closes the last window
    m.close();
    return changes;
  }

  test('behavior: checks that take a quarter of the event loop start the threads', () => {
    expect(meter(5000, 0.06)).toEqual(['start']); // 300 ms a second
    expect(meter(1000, 0.06)).toEqual([]); // 60 ms a second: a ward of 1,000 at 1 Hz
  });

  test('behavior: a burst starts the threads once a quarter of the window is spent on it, within that window', () => {
    const starts: number[] = [];
    let at = 0;
    const m = new DemandMeter(P, () => starts.push(at));
    const t0 = performance.now();
    // 16,000 checks a second of 0.06 ms each: a quarter of a window's time after ~4,200 of them.
    for (let i = 0; i < 16_000 && starts.length === 0; i++) {
      at = t0 + i / 16;
      m.measured(0.06, at);
    }
    m.close();
    expect(starts).toHaveLength(1);
    expect((starts[0] as number) - t0).toBeLessThan(P.windowMs / 2);
    expect(m.running).toBe(true);
  });

  test('behavior: after a burst a light load goes back to the event loop while the threads wind down, and to them again when it grows', () => {
    const m = new DemandMeter(P, () => {});
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) m.measured(0.06, t0 + i / 5); // 300 ms in the first second
    expect(m.running).toBe(true);
    expect(m.useThreads).toBe(true);
    // The next second: 1,000 checks (60 ms), then the window closes quiet: a tenth not reached.
    for (let i = 0; i < 1000; i++) m.measured(0.06, t0 + P.windowMs + i);
    m.measured(0.06, t0 + 2 * P.windowMs + 1);
    expect(m.running).toBe(true);
    expect(m.useThreads).toBe(false);
    // The load grows within the window: past a tenth of it so far, the threads again.
    for (let i = 0; i < 1700; i++) m.measured(0.06, t0 + 2 * P.windowMs + 2 + i / 10);
    expect(m.useThreads).toBe(true);
    m.close();
  });

  test('behavior: a burst after a quiet spell goes to the running threads within a short window; a steady light load stays in the event loop', () => {
    const m = new DemandMeter(P, () => {});
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) m.measured(0.06, t0 + i / 5); // starts them
    let at = t0 + P.windowMs;
    // Two seconds of 1,000 checks a second, in clumps of 10 every 10 ms: quiet windows.
    for (let i = 0; i < 2000; i++) {
      at = t0 + P.windowMs + Math.floor(i / 10) * 10;
      m.measured(0.06, at);
      if (at - t0 >= 2 * P.windowMs) expect(m.useThreads).toBe(false);
    }
    expect(m.running).toBe(true);
    expect(m.useThreads).toBe(false);
    // 5,000 checks a second from now: back on the threads within about one short window
    // (a quarter of it is ~210 checks of 0.06 ms), not after a tenth of the long one (~1,670).
    const from = at + 1;
    let handed = -1;
    for (let i = 0; i < 3000 && handed < 0; i++) {
      m.measured(0.06, from + i / 5);
      if (m.useThreads) handed = i;
    }
    m.close();
    expect(handed).toBeGreaterThan(0);
    expect(handed / 5).toBeLessThanOrEqual(2 * P.wakeMs);
  });

  test('behavior: checks that waited for a core (preempted) count as work at most OUTLIER_FACTOR x the mean', () => {
    // 1,000 checks a second, 50 of them preempted for 5 ms: 60 ms of work, 310 ms of wall time.
    expect(meter(950, 0.06, 50, 5)).toEqual([]);
    // A uniformly slower core is still measured: 2,000 checks of 0.15 ms are 300 ms a second.
    expect(meter(2000, 0.15)).toEqual(['start']);
    expect(OUTLIER_FACTOR).toBeGreaterThanOrEqual(2);
  });

  test('behavior: the cost of a check does not creep up with waits, so a light load on a busy host goes quiet', () => {
    const m = new DemandMeter(P, () => {});
    const t0 = performance.now();
    // A second of 5,000 checks, every third of which waited for a core (0.3 ms by the clock):
    // the threads start, as soon as the time the checks held reaches a quarter of it.
    let started = -1;
    for (let i = 0; i < 5000; i++) {
      m.measured(i % 3 === 0 ? 0.3 : 0.06, t0 + i / 5);
      if (started < 0 && m.running) started = i;
    }
    expect(started).toBeGreaterThan(0);
    expect(started).toBeLessThan(2500); // held ~0.12 ms a check: well before the second's end
    // Then three seconds of 1,000 checks a second (a ward of 1,000 wearables at 1 Hz), every
    // other one waiting (0.2 ms): 60 ms of work a second, under the tenth that makes a window
    // quiet, so from the second window on they stay in the event loop. With the cost a mean
    // of the readings capped at four times itself, it crept to ~0.13 ms: 13 % a second, never
    // quiet, every frame on a thread (`bench:ingest`'s `pooledShareAt1000` 0.62-0.92).
    const from = t0 + P.windowMs;
    for (let i = 0; i < 3000; i++) {
      const at = from + i;
      m.measured(i % 2 === 0 ? 0.2 : 0.06, at);
      if (at - from >= 2 * P.windowMs) expect(m.useThreads).toBe(false);
    }
    expect(m.costMs).toBeGreaterThan(0.055);
    expect(m.costMs).toBeLessThan(0.065);
    m.close();
  });

  test('behavior: checks handed to the threads count at the cost of one, so 1,000 a second go quiet and 5,000 do not', () => {
    /** After a busy second's readings (every other check waited), `perSecond` handed off for 3 s. */
    const handedOff = (perSecond: number): boolean[] => {
      const m = new DemandMeter(P, () => {});
      const t0 = performance.now();
      for (let i = 0; i < 5000; i++) m.measured(i % 2 === 0 ? 0.3 : 0.06, t0 + i / 5);
      expect(m.running).toBe(true);
      const use: boolean[] = [];
      for (let s = 1; s <= 3; s++) {
        for (let i = 1; i <= perSecond; i++)
          m.handedOff(1, t0 + s * P.windowMs + (i * P.windowMs) / perSecond);
        use.push(m.useThreads);
      }
      m.close();
      return use;
    };
    // 60 ms of work a second: the windows are quiet, the light load back in the event loop.
    // With the cost crept up (~0.18 ms a check here) they read 18 % and it stayed on the threads.
    expect(handedOff(1000)).toEqual([false, false, false]);
    expect(handedOff(5000)).toEqual([true, true, true]);
  });
});

describe('batch shares', () => {
  test('behavior: one batch per thread with room, least loaded first, fair shares up to the bound, then second batches', () => {
    /** Threads as [batches held, frames held]. */
    const lanes = (...l: [number, number][]) => l.map(([held, frames]) => ({ held, frames }));
    expect(shareBatches(10, lanes([0, 0]), 256, 2)).toEqual([{ lane: 0, from: 0, to: 10 }]);
    expect(shareBatches(9, lanes([1, 30], [0, 0]), 256, 2)).toEqual([
      { lane: 1, from: 0, to: 5 },
      { lane: 0, from: 5, to: 9 },
    ]);
    // 600 frames, bound 256, two idle threads: 256 + 256, then a second batch each for the rest.
    expect(shareBatches(600, lanes([0, 0], [0, 0]), 256, 2)).toEqual([
      { lane: 0, from: 0, to: 256 },
      { lane: 1, from: 256, to: 512 },
      { lane: 0, from: 512, to: 556 },
      { lane: 1, from: 556, to: 600 },
    ]);
    // A thread with room for one more batch gets one; what does not fit waits.
    expect(shareBatches(1000, lanes([1, 5]), 100, 2)).toEqual([{ lane: 0, from: 0, to: 100 }]);
  });

  test('property: the shares are contiguous from 0, within the bound, and no thread passes its room', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.record({ held: fc.integer({ min: 0, max: 1 }), frames: fc.nat(2000) }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 300 }),
        (waiting, lanes, bound) => {
          const out = shareBatches(waiting, lanes, bound, 2);
          let at = 0;
          const per = lanes.map((l) => l.held);
          for (const b of out) {
            expect(b.from).toBe(at);
            expect(b.to - b.from).toBeGreaterThan(0);
            expect(b.to - b.from).toBeLessThanOrEqual(bound);
            per[b.lane] = (per[b.lane] ?? 0) + 1;
            at = b.to;
          }
          for (const n of per) expect(n).toBeLessThanOrEqual(2);
          // All taken unless every thread is full.
          if (at < waiting) expect(out.length).toBe(lanes.reduce((n, l) => n + (2 - l.held), 0));
        },
      ),
      { numRuns: runs },
    );
  });
});

describe("the gateway's verify threads", () => {
  test('behavior: unset, one per core (at most 4) started by load; a number, that many always', () => {
    const cores = availableParallelism();
    expect(verifyThreadsOf(undefined)).toEqual({
      threads: cores > 1 ? Math.min(4, cores) : 0,
      start: 'on-load',
    });
    expect(verifyThreadsOf(0)).toEqual({ threads: 0 });
    expect(verifyThreadsOf(3)).toEqual({ threads: 3 });
  });
});
