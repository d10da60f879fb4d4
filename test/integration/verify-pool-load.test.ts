/**
 * @module test/integration/verify-pool-load
 * Issue 14: the verify pool's threads follow the load (`start: 'on-load'`, the gateway's
 * default), through real worker threads. Windows are short here (50 ms; the gateway's are
 * 1 s) so the test runs in seconds; every step waits on the pool's state, not on time.
 * - Light load: every signature is checked in the event loop, no thread starts.
 * - A burst: the threads start, later frames are checked on them, verdicts unchanged.
 * - Quiet: a light load goes back to the event loop while the threads wind down; they stop
 *   (on their own, no frame needed) and no frame in flight is lost; a new burst starts them
 *   again.
 * The rule itself (shares, hysteresis) is tested in test/unit/thread-demand.test.ts.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { checkBeforeSignature } from '../../gateway/src/core/acceptance.js';
import type { DemandPolicy } from '../../gateway/src/core/thread-demand.js';
import { createLogger } from '../../gateway/src/io/ops/log.js';
import { VerifyPool } from '../../gateway/src/io/verify/verify-pool.js';
import { keyFitsAlg, verifyFrameSignature } from '../../gateway/src/protocol/frame.js';
import { acceptanceCorpus, CORPUS_NOW } from '../helpers/acceptance-corpus.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** 50 ms windows; stopped after 2 s quiet (long beside a thread's start, so a slow start is not a stop). */
const SHORT: DemandPolicy = {
  windowMs: 50,
  startShare: 0.25,
  stopShare: 0.1,
  stopAfterWindows: 40,
  wakeMs: 10,
};

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The corpus's frames that reach the signature check with a key of their alg's kind (the
 * others are answered at once, on neither path), each with its expected verdict.
 */
function checks() {
  const corpus = acceptanceCorpus();
  const out = [];
  for (const f of corpus.frames) {
    const due = checkBeforeSignature(f.bytes, f.transport, corpus.lookup, CORPUS_NOW);
    if (!due.ok || !keyFitsAlg(due.frame.alg, due.device.publicKey)) continue;
    out.push({ name: f.name, due, expected: verifyFrameSignature(due.frame, due.device.publicKey) });
  }
  return out;
}

/** Hands `n` checks to the pool in one turn of the event loop; resolves with the mismatches. */
function burst(pool: VerifyPool, all: ReturnType<typeof checks>, n: number): Promise<string[]> {
  const answers: Promise<string | null>[] = [];
  for (let i = 0; i < n; i += 1) {
    const c = all[i % all.length] as (typeof all)[number];
    answers.push(
      new Promise((resolve) => {
        let calls = 0;
        pool.verify(c.due.frame, c.due.device.publicKey, c.due.frame.body.dev, (v) => {
          calls += 1;
          resolve(v === c.expected && calls === 1 ? null : `${c.name}: ${v} (call ${calls})`);
        });
      }),
    );
  }
  return Promise.all(answers).then((r) => r.filter((x): x is string => x !== null));
}

describe('verify pool started by load', () => {
  test('behavior: light load stays in the event loop; a burst starts the threads and later frames are checked there; quiet stops them without losing a frame; a new burst starts them again', async () => {
    const all = checks();
    expect(all.filter((c) => c.expected).length).toBeGreaterThan(5);
    expect(all.filter((c) => !c.expected).length).toBeGreaterThan(5);
    const pool = new VerifyPool({ threads: 2, start: 'on-load', demand: SHORT });
    cleanups.push(() => pool.close());
    expect(pool.liveWorkers).toBe(0);

    // Light: a few checks per window, far under a quarter of it.
    for (let w = 0; w < 6; w += 1) {
      expect(await burst(pool, all, 5)).toEqual([]);
      await new Promise((r) => setTimeout(r, SHORT.windowMs));
    }
    expect(pool.stats).toMatchObject({ pooled: 0, loadStarts: 0, batches: 0 });
    expect(pool.stats.inline).toBe(30);
    expect(pool.liveWorkers).toBe(0);

    // A burst: each check takes tens of µs in the event loop, so thousands in one turn fill
    // a window; the threads start while it lasts and take the rest.
    expect(await burst(pool, all, 4000)).toEqual([]);
    expect(pool.stats.loadStarts).toBe(1);
    expect(pool.liveWorkers).toBe(2);
    expect(pool.stats.pooled).toBeGreaterThan(0);
    const inlineAfterStart = pool.stats.inline;
    expect(await burst(pool, all, 500)).toEqual([]);
    // On the threads, all but at most a tenth of a window's worth: when the first burst's
    // answers took longer than a window (a loaded machine), that window closed quiet, and
    // the rule (core/thread-demand `useThreads`) checks in the event loop until this window's
    // work reaches a tenth of it (5 ms here: ~80 checks of ~60 µs; at most 250 even at
    // FASTEST_CHECK_MS), or a short window's a quarter (`wakeEarly`: 2.5 ms, sooner), then
    // hands the rest to the threads.
    const FASTEST_CHECK_MS = 0.02; // no P-256 check with node:crypto takes less than 20 µs
    const inlineNow = pool.stats.inline - inlineAfterStart;
    expect(inlineNow).toBeLessThanOrEqual((SHORT.stopShare * SHORT.windowMs) / FASTEST_CHECK_MS);
    expect(500 - inlineNow).toBeGreaterThanOrEqual(250);
    expect(pool.stats.pooled + pool.stats.inline).toBe(4530);

    // Quiet: the threads stop by themselves, with nothing lost on the way. While they wind
    // down (2 s here), a light load is checked in the event loop again.
    const inFlight = burst(pool, all, 300);
    expect(await inFlight).toEqual([]);
    await new Promise((r) => setTimeout(r, 3 * SHORT.windowMs)); // quiet windows close
    const pooledQuiet = pool.stats.pooled;
    expect(await burst(pool, all, 5)).toEqual([]);
    expect(pool.stats.pooled).toBe(pooledQuiet);
    expect(pool.liveWorkers).toBe(2); // still up, not stopped yet
    expect(pool.stats.loadStops).toBe(0);
    await until(() => pool.stats.loadStops === 1 && pool.liveWorkers === 0);
    expect(pool.stats.crashes).toBe(0);
    expect(pool.stats.recovered).toBe(0);
    const pooled = pool.stats.pooled;
    expect(await burst(pool, all, 5)).toEqual([]);
    expect(pool.stats.pooled).toBe(pooled); // back in the event loop
    expect(pool.liveWorkers).toBe(0);

    // A new burst starts them again.
    expect(await burst(pool, all, 4000)).toEqual([]);
    expect(pool.stats.loadStarts).toBe(2);
    await until(() => pool.readyWorkers === 2);
    expect(pool.stats.pooled).toBeGreaterThan(pooled);
  });

  test('behavior: threads that cannot start leave every check in the event loop, with one warning, when the load asks for them', async () => {
    const all = checks();
    const lines: string[] = [];
    const pool = new VerifyPool({
      threads: 2,
      start: 'on-load',
      demand: SHORT,
      log: createLogger({ write: (l) => lines.push(l) }),
      faultInjection: { workersFailAtStart: true },
    });
    cleanups.push(() => pool.close());
    expect(await burst(pool, all, 4000)).toEqual([]);
    expect(pool.stats.loadStarts).toBe(1);
    await until(() => !pool.usesWorkers);
    expect(await burst(pool, all, 500)).toEqual([]);
    expect(pool.stats.pooled).toBe(0);
    expect(pool.stats.inline).toBe(4500);
    expect(lines.filter((l) => l.includes('verify pool could not start'))).toHaveLength(1);
  });

  test('behavior: an always-running pool is not changed by the load rule (threads from the start, never stopped)', async () => {
    const all = checks();
    const pool = new VerifyPool({ threads: 1, demand: SHORT });
    cleanups.push(() => pool.close());
    await until(() => pool.readyWorkers === 1);
    expect(await burst(pool, all, 50)).toEqual([]);
    await new Promise((r) => setTimeout(r, SHORT.windowMs * (SHORT.stopAfterWindows + 2)));
    expect(pool.liveWorkers).toBe(1);
    expect(pool.stats).toMatchObject({ loadStarts: 0, loadStops: 0, inline: 0, pooled: 50 });
  });
});
