/**
 * @module test/integration/rollup-flusher
 * The rollup flusher's pace (io/ingest/rollup-flusher, issue 14): a flush of more rows than
 * one transaction takes goes on after a pause that keeps it to its share of the event loop,
 * so the frames that come meanwhile are not left only the gaps between its transactions (a
 * gateway of 10,000 devices flushes ~10,000 rows every 5 s). Real parts: a SQLite store, the
 * real RollupWriter and node:crypto; the timers are vitest's fake ones and each transaction
 * is timed by a clock the test steps, so the pauses are exact.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pauseAfter, RollupFlusher } from '../../gateway/src/io/ingest/rollup-flusher.js';
import { type RollupInput, RollupWriter } from '../../gateway/src/io/ingest/rollup-writer.js';
import { sealingStatements } from '../../gateway/src/io/store/sealed.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 11, 5, 9, 0, 30);
const cleanups: (() => void)[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A store holding one frame of each of `devices` devices, and the writer's input for them. */
function storeWithFrames(devices: number) {
  const tmp = makeTempDir('vt-flusher-');
  const store = openStore(join(tmp.dir, 'gw.db'));
  cleanups.push(tmp.cleanup, () => store.close());
  const key = createSecretKey(randomBytes(32));
  const frames = Array.from({ length: devices }, (_, i) => ({
    dev: `wr-${String(i).padStart(4, '0')}`,
    seq: 1,
    hash: randomBytes(32),
    prev: new Uint8Array(32),
    ts: T0 + i,
    leafHash: randomBytes(32),
  }));
  store.commitBatch({ id: store.nextBatchId(), envelope: 'test', createdAt: T0, frames });
  // The data key the rows name (its envelope is not read here: the key is given to `fold`).
  sealingStatements(store).insertKeys([[1, 'wr-0000', T0 - 30_000, T0, 'test']]);
  const inputs: RollupInput[] = frames.map((f) => ({ dev: f.dev, ts: f.ts, obs: { hr: 70 }, keyId: 1, key }));
  return { store, inputs, lastLeaf: store.size - 1 };
}

describe('pauseAfter', () => {
  it('behavior: the pause that keeps work to its share of the time', () => {
    expect(pauseAfter(6, 0.25)).toBe(18);
    expect(pauseAfter(10, 0.5)).toBe(10);
    expect(pauseAfter(10, 1)).toBe(0);
    expect(pauseAfter(-3, 0.25)).toBe(0);
  });

  it('error: a share outside (0, 1] is a RangeError', () => {
    for (const duty of [0, -0.5, 1.5, Number.NaN]) expect(() => pauseAfter(1, duty)).toThrow(RangeError);
    const { store } = storeWithFrames(1);
    expect(() => new RollupFlusher(new RollupWriter(store), 10, { duty: 0 })).toThrow(RangeError);
  });
});

describe('RollupFlusher pace', () => {
  it('behavior: a flush of 1,200 rows writes 512 a transaction, each after a pause of three times the last one took', () => {
    const { store, inputs, lastLeaf } = storeWithFrames(600); // 600 devices × 2 resolutions
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    let clock = 0;
    // Each transaction is timed by two readings of the clock: it "takes" 8 ms.
    const flusher = new RollupFlusher(new RollupWriter(store), 1000, { now: () => (clock += 8) });
    flusher.committed(inputs, lastLeaf);
    expect(flusher.stats().flushes).toBe(0);
    vi.advanceTimersByTime(1000); // the interval: the first transaction
    expect(flusher.stats()).toMatchObject({ flushes: 1, rowsWritten: 512 });
    vi.advanceTimersByTime(23); // 3 × 8 ms = 24 ms: not yet
    expect(flusher.stats().flushes).toBe(1);
    vi.advanceTimersByTime(1);
    expect(flusher.stats()).toMatchObject({ flushes: 2, rowsWritten: 1024 });
    vi.advanceTimersByTime(23);
    expect(flusher.stats().flushes).toBe(2);
    vi.advanceTimersByTime(1);
    expect(flusher.stats()).toMatchObject({ flushes: 3, rowsWritten: 1200, pending: 0 });
    expect(vi.getTimerCount()).toBe(0); // done: nothing scheduled
    expect(store.db.prepare('SELECT count(*) FROM rollups').pluck().get()).toBe(1200);
  });

  it('behavior: with no pace (duty 1) the transactions follow at the next turns of the loop', () => {
    const { store, inputs, lastLeaf } = storeWithFrames(600);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    let clock = 0;
    const flusher = new RollupFlusher(new RollupWriter(store), 1000, { duty: 1, now: () => (clock += 4) });
    flusher.committed(inputs, lastLeaf);
    vi.advanceTimersByTime(1000);
    expect(flusher.stats().flushes).toBe(1);
    vi.advanceTimersByTime(1); // the immediates: one a turn, no pause
    vi.advanceTimersByTime(1);
    expect(flusher.stats()).toMatchObject({ flushes: 3, rowsWritten: 1200, pending: 0 });
  });

  it('behavior: flushNow during a pause writes the rest at once and leaves nothing scheduled', () => {
    const { store, inputs, lastLeaf } = storeWithFrames(600);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    let clock = 0;
    const flusher = new RollupFlusher(new RollupWriter(store), 1000, { now: () => (clock += 4) });
    flusher.committed(inputs, lastLeaf);
    vi.advanceTimersByTime(1000);
    expect(flusher.stats().flushes).toBe(1);
    flusher.flushNow();
    expect(flusher.stats()).toMatchObject({ flushes: 3, rowsWritten: 1200, pending: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });
});
