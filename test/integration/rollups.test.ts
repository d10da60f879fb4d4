/**
 * @module test/integration/rollups
 * Sealed per-window rollups (issue 14) through real parts: the Ingest pipeline, SQLite files
 * in temp dirs, node:crypto and jose envelopes. Every stored rollup is exactly the aggregate
 * of the frames its data key sealed in its window (random streams, late frames, key
 * rotations); trends answered from rollups equal trends from the raw frames; a frame arriving
 * late updates its old window; shredding a data key hides its rollups exactly as it hides its
 * frames; tampered rows are `integrity_error`, lost rows are answered from raw frames and
 * filled again; a failed commit leaves neither frames nor rollups behind, and a process
 * killed (SIGKILL) in the middle of its commits leaves rows that count exactly the frames
 * stored (needs the built helper: `npm run build`).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import {
  addReading,
  emptyWindow,
  ROLLUP_RESOLUTIONS,
  type WindowAgg,
  windowOf,
} from '../../gateway/src/core/rollup.js';
import { downsample } from '../../gateway/src/core/trend.js';
import { RollupWriter } from '../../gateway/src/io/ingest/rollup-writer.js';
import { readReadings, readTrend } from '../../gateway/src/io/queries/index.js';
import { openRollup, RollupTable, rollupAad } from '../../gateway/src/io/store/rollups.js';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
import { shredExpired } from '../../gateway/src/io/store/shredding.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import type { Observations } from '../../gateway/src/protocol/frame.js';
import { fcRuns } from '../helpers/fc-runs.js';
import { rollupWriterRig } from '../helpers/rollup-writer-rig.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;
const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);
const ALL = Number.MAX_SAFE_INTEGER;

const CRASH_CHILD = fileURLToPath(new URL('../../dist/test/helpers/rollup-crash-child.js', import.meta.url));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig extends SealedRig {
  reader: () => SealedReader;
  clock: { now: number };
}

function rig(opts: { maxFramesPerKey?: number; fast?: boolean } = {}): Rig {
  const t = makeTempDir('vt-rollups-');
  const r = recipientPair('care', 'ec');
  const clock = { now: T0 };
  const base = sealedRig(t.dir, [r.recipient], {
    now: () => clock.now,
    ...(opts.maxFramesPerKey ? { dataKeys: { maxFramesPerKey: opts.maxFramesPerKey } } : {}),
  });
  cleanups.push(
    t.cleanup,
    () => base.store.close(),
    async () => {
      const close = (base.ingest as unknown as { close?: () => Promise<void> }).close;
      await close?.call(base.ingest);
    },
  );
  // Aggregates, not durability, are under test here: no fsync per commit (many small runs).
  if (opts.fast) base.store.db.pragma('synchronous = OFF');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  return { ...base, clock, reader: () => new SealedReader(base.store, secrets) };
}

/** Every stored row opened, by `res:start:key`. */
async function storedRollups(store: GatewayStore, reader: SealedReader, dev: string) {
  const table = new RollupTable(store);
  const out = new Map<string, WindowAgg | 'shredded'>();
  for (const res of ROLLUP_RESOLUTIONS) {
    for (const [start, rows] of table.range(dev, res, 0, ALL)) {
      for (const r of rows) {
        const key = await reader.dataKey(r.keyId, dev);
        out.set(
          `${res}:${start}:${r.keyId}`,
          key === 'shredded'
            ? 'shredded'
            : openRollup(key, r.sealed, rollupAad(dev, res, start, r.keyId, r.frames), r.frames),
        );
      }
    }
  }
  return out;
}

/** The aggregate of the raw frames per (res, window, data key): what the rows must hold. */
async function truth(store: GatewayStore, reader: SealedReader, dev: string) {
  const rows = store.framesByDevice(dev, 0, ALL, ALL);
  const opened = await reader.readDetailed(rows);
  const { readings } = await readReadings(store, reader, dev, 0, ALL);
  const bySeq = new Map(readings.map((r) => [r.seq, r.obs]));
  const out = new Map<string, WindowAgg | 'shredded'>();
  opened.forEach((o, i) => {
    const row = rows[i] as (typeof rows)[number];
    for (const res of ROLLUP_RESOLUTIONS) {
      const id = `${res}:${windowOf(row.ts, res)}:${o.keyId}`;
      if (o.frame === 'shredded') {
        out.set(id, 'shredded');
        continue;
      }
      const w = (out.get(id) as WindowAgg | undefined) ?? emptyWindow();
      addReading(w, bySeq.get(row.seq) as Observations);
      out.set(id, w);
    }
  });
  return out;
}

async function rawTrend(r: Rig, dev: string, from: number, to: number, bucketMs: number) {
  const { readings } = await readReadings(r.store, r.reader(), dev, from, to);
  return downsample(readings, from, to, bucketMs);
}

const obsArb: fc.Arbitrary<Observations> = fc
  .record(
    {
      hr: fc.integer({ min: 30, max: 220 }),
      spo2: fc.integer({ min: 70, max: 100 }),
      temp: fc.integer({ min: 3400, max: 4200 }),
      sbp: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(2 ** 53 - 1)), // sums beyond 2^53
    },
    { requiredKeys: [] },
  )
  .filter((o) => Object.keys(o).length > 0);

/** One submitted frame: gateway clock step, device ts behind the clock, observations, batch mate. */
const stepArb = fc.record({
  advance: fc.constantFrom(0, 0, 0, 1000, 20_000, 10 * MIN, HOUR + 7000),
  behind: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 * HOUR })),
  obs: obsArb,
  together: fc.boolean(),
});

describe('sealed rollups', () => {
  test('behavior: every rollup row is the aggregate of its window’s frames under its key, and trends from rollups equal trends from frames (random streams)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 4 * HOUR }),
        fc.integer({ min: 1, max: 6 * HOUR }),
        fc.oneof(fc.constantFrom(MIN, 5 * MIN, 15 * MIN, HOUR), fc.integer({ min: 1000, max: 2 * HOUR })),
        async (steps, a, len, bucketMs) => {
          const r = rig({ maxFramesPerKey: 7, fast: true });
          const d = r.device('wr-p');
          let batch: Promise<unknown>[] = [];
          for (const s of steps) {
            if (!s.together) {
              await Promise.all(batch);
              batch = [];
            }
            r.clock.now += s.advance;
            batch.push(r.ingest.submit(d.next({ ts: r.clock.now - s.behind }, s.obs), 'wr-p'));
          }
          const results = await Promise.all(batch);
          expect(results.every((x) => (x as { status: string }).status === 'accepted')).toBe(true);
          const from = T0 - 2 * HOUR + a;
          const to = from + len;
          const raw = await rawTrend(r, 'wr-p', from, to, bucketMs);
          // Written behind: before the flush the windows not yet written are read raw.
          const early = await readTrend(r.store, r.reader(), 'wr-p', from, to, bucketMs, { fill: false });
          expect(early.series).toEqual(raw);
          r.ingest.flushRollups();
          const reader = r.reader();
          expect(await storedRollups(r.store, reader, 'wr-p')).toEqual(await truth(r.store, reader, 'wr-p'));
          const t = await readTrend(r.store, r.reader(), 'wr-p', from, to, bucketMs, { fill: false });
          expect(t.series).toEqual(raw);
          expect(t.stats.filled).toBe(0);
          for (const c of cleanups.splice(0).reverse()) await c();
        },
      ),
      { seed: 1414, numRuns: fcRuns(30) },
    );
  }, 120_000);

  test('behavior: 1 Hz readings in minute-aligned buckets are read from rollups only; unaligned buckets read only their edge minutes', async () => {
    const r = rig();
    const d = r.device('wr-day');
    const N = 2 * 3600; // two hours at 1 Hz
    r.clock.now = T0 + N * 1000;
    const frames = Array.from({ length: N }, (_, i) =>
      d.next({ ts: T0 + i * 1000 }, { hr: 60 + (i % 50), spo2: 90 + (i % 9), temp: 3650 + (i % 80) }),
    );
    for (let i = 0; i < N; i += 1000)
      await Promise.all(frames.slice(i, i + 1000).map((f) => r.ingest.submit(f, 'wr-day')));
    r.ingest.flushRollups();
    const end = T0 + N * 1000 - 1;
    const aligned = await readTrend(r.store, r.reader(), 'wr-day', T0, end, 300_000);
    expect(aligned.series).toEqual(await rawTrend(r, 'wr-day', T0, end, 300_000));
    expect(aligned.stats).toEqual({ rollupRows: 120, rawFrames: 0, filled: 0 });
    expect(aligned.readings).toBe(N);
    const hourly = await readTrend(r.store, r.reader(), 'wr-day', T0, end, HOUR);
    expect(hourly.series).toEqual(await rawTrend(r, 'wr-day', T0, end, HOUR));
    expect(hourly.stats).toEqual({ rollupRows: 8, rawFrames: 0, filled: 0 });
    // What the ward dashboard asks: now - range, range / 300 (neither on the minute grid).
    const from = T0 + 12_345;
    const dash = await readTrend(r.store, r.reader(), 'wr-day', from, end, 36_000);
    expect(dash.series).toEqual(await rawTrend(r, 'wr-day', from, end, 36_000));
    const odd = await readTrend(r.store, r.reader(), 'wr-day', from, end, 288_000);
    expect(odd.series).toEqual(await rawTrend(r, 'wr-day', from, end, 288_000));
    expect(odd.stats.rawFrames).toBeLessThan(N / 3);
    expect(odd.stats.rollupRows).toBeGreaterThan(0);
  }, 120_000);

  test('behavior: a frame arriving late for an old window updates that window (a row under the current key)', async () => {
    const r = rig();
    const d = r.device('wr-late');
    for (let i = 0; i < 5; i++)
      await r.ingest.submit(d.next({ ts: T0 + i * 1000 }, { hr: 70 + i }), 'wr-late');
    r.ingest.flushRollups();
    const before = await readTrend(r.store, r.reader(), 'wr-late', T0, T0 + HOUR - 1, HOUR);
    expect(before.series.hr).toEqual([{ t: T0, min: 70, max: 74, mean: 72, n: 5 }]);
    // Three hours later (a new data key), a stored-and-forwarded frame from the first minute.
    r.clock.now = T0 + 3 * HOUR;
    expect((await r.ingest.submit(d.next({ ts: T0 + 30_000 }, { hr: 200 }), 'wr-late')).status).toBe(
      'accepted',
    );
    r.ingest.flushRollups();
    const keys = r.store.db.prepare('SELECT count(*) FROM data_keys').pluck().get();
    expect(keys).toBe(2);
    const rows = new RollupTable(r.store).range('wr-late', MIN, T0, T0 + MIN).get(T0) ?? [];
    expect(rows.map((x) => x.frames)).toEqual([5, 1]);
    const after = await readTrend(r.store, r.reader(), 'wr-late', T0, T0 + HOUR - 1, HOUR);
    expect(after.series.hr).toEqual([{ t: T0, min: 70, max: 200, mean: 560 / 6, n: 6 }]);
    expect(after.stats.rawFrames).toBe(0);
    expect(after.series).toEqual(await rawTrend(r, 'wr-late', T0, T0 + HOUR - 1, HOUR));
  });

  test('behavior: shredding a data key hides its rollups exactly as it hides its frames', async () => {
    const r = rig();
    const d = r.device('wr-s');
    // Key 1 (gateway hour T0) seals minute 0; key 2 (3 h later) seals late frames of the same minute.
    for (let i = 0; i < 6; i++) await r.ingest.submit(d.next({ ts: T0 + i * 1000 }, { hr: 80 }), 'wr-s');
    r.clock.now = T0 + 3 * HOUR;
    for (let i = 0; i < 3; i++) await r.ingest.submit(d.next({ ts: T0 + 40_000 + i }, { hr: 50 }), 'wr-s');
    r.ingest.flushRollups();
    expect(shredExpired(r.store, HOUR, r.clock.now)).toEqual({
      keys: 1,
      records: 1,
      frames: 6,
      deleted: 6,
      more: false,
    });
    const reader = r.reader();
    await expect(reader.dataKey(1, 'wr-s')).resolves.toBe('shredded');
    const stored = await storedRollups(r.store, reader, 'wr-s');
    expect([...stored.entries()].filter(([, v]) => v === 'shredded').map(([k]) => k)).toEqual([
      `${15 * MIN}:${T0}:1`,
      `${MIN}:${T0}:1`,
    ]);
    const t = await readTrend(r.store, r.reader(), 'wr-s', T0, T0 + HOUR - 1, 15 * MIN);
    expect(t.series.hr).toEqual([{ t: T0, min: 50, max: 50, mean: 50, n: 3 }]);
    expect([t.readings, t.shredded]).toEqual([3, 6]);
    expect(t.series).toEqual(await rawTrend(r, 'wr-s', T0, T0 + HOUR - 1, 15 * MIN));
    expect(stored).toEqual(await truth(r.store, reader, 'wr-s'));
  });

  test('error: a changed, moved or recounted rollup row is an integrity_error; a lost row is answered from frames and filled again', async () => {
    const r = rig();
    const d = r.device('wr-t');
    for (let i = 0; i < 90; i++) await r.ingest.submit(d.next({ ts: T0 + i * 1000 }, { hr: 60 + i }), 'wr-t');
    r.ingest.flushRollups();
    const db = r.store.db;
    const q = (s: string) => db.prepare(s);
    const trend = () => readTrend(r.store, r.reader(), 'wr-t', T0, T0 + 15 * MIN - 1, 5 * MIN);
    const good = await trend();
    expect(good.series).toEqual(await rawTrend(r, 'wr-t', T0, T0 + 15 * MIN - 1, 5 * MIN));
    const sealed = q('SELECT sealed FROM rollups WHERE res = 60000 AND window_start = ?')
      .pluck()
      .get(T0) as Buffer;

    const flipped = Buffer.from(sealed);
    flipped[20] = (flipped[20] as number) ^ 1;
    q('UPDATE rollups SET sealed = ? WHERE res = 60000 AND window_start = ?').run(flipped, T0);
    await expect(trend()).rejects.toMatchObject({ code: 'integrity_error' });

    // The first minute's (valid) row moved onto the second minute: its AAD names the first.
    q('UPDATE rollups SET sealed = ? WHERE res = 60000 AND window_start = ?').run(sealed, T0);
    const second = q('SELECT sealed FROM rollups WHERE res = 60000 AND window_start = ?')
      .pluck()
      .get(T0 + MIN);
    q('UPDATE rollups SET sealed = ? WHERE res = 60000 AND window_start = ?').run(sealed, T0 + MIN);
    await expect(trend()).rejects.toMatchObject({ code: 'integrity_error' });
    q('UPDATE rollups SET sealed = ? WHERE res = 60000 AND window_start = ?').run(second, T0 + MIN);
    expect((await trend()).series).toEqual(good.series);

    // A count changed in clear: more than the index holds, or no longer the one sealed.
    q('UPDATE rollups SET frames = 61 WHERE res = 60000 AND window_start = ?').run(T0);
    await expect(trend()).rejects.toMatchObject({ code: 'integrity_error' });
    q('UPDATE rollups SET frames = 60 WHERE res = 60000 AND window_start = ?').run(T0);

    // A lost row: that minute is read from its frames (same answer) and its row written again.
    q('DELETE FROM rollups WHERE res = 60000 AND window_start = ?').run(T0);
    const refilled = await trend();
    expect(refilled.series).toEqual(good.series);
    expect(refilled.stats).toMatchObject({ rawFrames: 60, filled: 1 });
    const again = await trend();
    expect(again.series).toEqual(good.series);
    expect(again.stats).toMatchObject({ rawFrames: 0, filled: 0 });
  });

  test('behavior: quarter-hour rows lost over several blocks are answered from the minute rows and written again', async () => {
    const r = rig();
    const d = r.device('wr-q');
    r.clock.now = T0 + HOUR;
    const frames = Array.from({ length: 360 }, (_, i) =>
      d.next({ ts: T0 + i * 10_000 }, { hr: 40 + (i % 100) }),
    );
    for (let i = 0; i < frames.length; i += 60)
      await Promise.all(frames.slice(i, i + 60).map((f) => r.ingest.submit(f, 'wr-q')));
    r.ingest.flushRollups();
    const to = T0 + HOUR - 1;
    const raw = await rawTrend(r, 'wr-q', T0, to, HOUR);
    expect((await readTrend(r.store, r.reader(), 'wr-q', T0, to, HOUR)).stats).toEqual({
      rollupRows: 4,
      rawFrames: 0,
      filled: 0,
    });
    r.store.db.prepare('DELETE FROM rollups WHERE res = 900000').run();
    const fallback = await readTrend(r.store, r.reader(), 'wr-q', T0, to, HOUR);
    expect(fallback.series).toEqual(raw);
    expect(fallback.stats).toEqual({ rollupRows: 60, rawFrames: 0, filled: 4 });
    const again = await readTrend(r.store, r.reader(), 'wr-q', T0, to, HOUR);
    expect(again.series).toEqual(raw);
    expect(again.stats).toEqual({ rollupRows: 4, rawFrames: 0, filled: 0 });
  });

  test('behavior: a failed commit folds nothing, and the next commit counts each frame once', async () => {
    const r = rig();
    const d = r.device('wr-f');
    for (let i = 0; i < 3; i++) await r.ingest.submit(d.next({ ts: T0 + i * 1000 }, { hr: 70 }), 'wr-f');
    r.store.db.exec(
      `CREATE TEMP TRIGGER fail_commit BEFORE INSERT ON frames WHEN NEW.seq = 4
       BEGIN SELECT RAISE(ABORT, 'injected'); END`,
    );
    const fourth = d.next({ ts: T0 + 3000 }, { hr: 90 });
    await expect(r.ingest.submit(fourth, 'wr-f')).rejects.toMatchObject({ code: 'store_failed' });
    expect(r.store.getFrame('wr-f', 4)).toBeUndefined();
    r.store.db.exec('DROP TRIGGER fail_commit');
    expect((await r.ingest.submit(fourth, 'wr-f')).status).toBe('accepted');
    r.ingest.flushRollups();
    const reader = r.reader();
    expect(await storedRollups(r.store, reader, 'wr-f')).toEqual(await truth(r.store, reader, 'wr-f'));
    const t = await readTrend(r.store, r.reader(), 'wr-f', T0, T0 + MIN - 1, MIN);
    expect(t.series.hr).toEqual([{ t: T0, min: 70, max: 90, mean: 75, n: 4 }]);
    expect(t.stats.rawFrames).toBe(0);
  });

  test('error: a flush the store refuses loses nothing: frames are acknowledged, trends read them raw, the next flush writes every row', async () => {
    const r = rig();
    const d = r.device('wr-r');
    r.store.db.exec(
      `CREATE TEMP TRIGGER refuse_rollups BEFORE INSERT ON rollups
       BEGIN SELECT RAISE(ABORT, 'injected'); END`,
    );
    for (let i = 0; i < 30; i++)
      expect((await r.ingest.submit(d.next({ ts: T0 + i * 1000 }, { hr: 60 + i }), 'wr-r')).status).toBe(
        'accepted',
      );
    r.ingest.flushRollups();
    expect(r.ingest.rollups).toMatchObject({ failures: 1, rowsWritten: 0 });
    expect(r.ingest.rollups.pending).toBeGreaterThan(0);
    expect(r.store.db.prepare('SELECT count(*) FROM rollups').pluck().get()).toBe(0);
    const t = await readTrend(r.store, r.reader(), 'wr-r', T0, T0 + MIN - 1, MIN, { fill: false });
    expect(t.series.hr).toEqual([{ t: T0, min: 60, max: 89, mean: 74.5, n: 30 }]);
    expect(t.stats).toMatchObject({ rollupRows: 0, rawFrames: 30 });
    r.store.db.exec('DROP TRIGGER refuse_rollups');
    r.ingest.flushRollups();
    expect(r.ingest.rollups).toMatchObject({ failures: 1, rowsWritten: 2, pending: 0 });
    const reader = r.reader();
    expect(await storedRollups(r.store, reader, 'wr-r')).toEqual(await truth(r.store, reader, 'wr-r'));
    const again = await readTrend(r.store, r.reader(), 'wr-r', T0, T0 + MIN - 1, MIN, { fill: false });
    expect(again.stats).toMatchObject({ rollupRows: 1, rawFrames: 0 });
  });

  test('behavior: past its bound the writer forgets written windows, never writes on the commit path, and tears the oldest unwritten past twice the bound', async () => {
    const { store, writer, commitAndFold, rowsOf, done } = rollupWriterRig(4, T0); // windows (2 per device and minute)
    cleanups.push(done);

    // 6 windows folded, over the bound of 4: all wait for the flush, none is written now.
    await commitAndFold(['d1', 'd2', 'd3'], T0);
    expect(writer.stats).toEqual({ rowsWritten: 0, flushes: 0, torn: 0 });
    expect(writer.pending).toBe(6);
    while (!writer.flush());
    expect(writer.stats.rowsWritten).toBe(6);
    // 6 more: the 6 written ones are forgotten instead, still nothing written on the way.
    const flushes = writer.stats.flushes;
    await commitAndFold(['d4', 'd5', 'd6'], T0);
    expect(writer.stats.flushes).toBe(flushes);
    while (!writer.flush());
    // A forgotten window is read back, checked against the index and carried on exactly.
    await commitAndFold(['d1'], T0 + 1000);
    while (!writer.flush());
    expect(rowsOf('d1')).toEqual([2]);
    expect(writer.stats.torn).toBe(0);
    // 20 windows waiting at once (past twice the bound): the oldest 12 are torn, none wrong.
    await commitAndFold(['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10'], T0);
    expect(writer.stats.torn).toBe(12);
    while (!writer.flush());
    for (const dev of ['e1', 'e2', 'e3', 'e4', 'e5', 'e6']) expect(rowsOf(dev)).toEqual([]);
    for (const dev of ['e7', 'e8', 'e9', 'e10']) expect(rowsOf(dev)).toEqual([1]);
    expect(writer.flushedThrough).toBe(store.size - 1);
  });

  test('behavior: killed (SIGKILL) in the middle of its commits and flushes, a gateway leaves rollups that never count a frame twice or one not stored; at restart the windows left short are cleared, and a trend writes them again', async () => {
    const t = makeTempDir('vt-rollups-kill-');
    cleanups.push(t.cleanup);
    const r = recipientPair('care', 'ec');
    const pem = join(t.dir, 'care.pub.pem');
    writeFileSync(pem, r.recipient.publicKey.export({ type: 'spki', format: 'pem' }));
    const child = spawn(process.execPath, [CRASH_CHILD, t.dir, pem], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
      child.stdout.on('data', (chunk: Buffer) => {
        const last = chunk.toString().trim().split('\n').pop();
        acked = Number(last);
        if (acked >= 1500) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await exited;
    const store = openStore(join(t.dir, 'gateway', 'gateway.db'));
    cleanups.push(() => store.close());
    const reader = new SealedReader(store, [{ kid: 'care', privateKey: r.privateKey }]);
    const stored = store.db.prepare('SELECT count(*) FROM frames').pluck().get() as number;
    expect(stored).toBeGreaterThanOrEqual(acked); // every acknowledged frame, perhaps a batch more
    const devs = ['wr-k1', 'wr-k2', 'wr-k3'];
    const from = Date.UTC(2026, 10, 21, 7, 0, 0);
    const to = from + 12 * HOUR;
    /** Per window, what its rows count against what the index holds: [rows, index]. */
    const counts = (dev: string) => {
      const table = new RollupTable(store);
      const out: [number, number][] = [];
      for (const res of ROLLUP_RESOLUTIONS)
        for (const [start, rows] of table.range(dev, res, 0, ALL))
          out.push([rows.reduce((n, x) => n + x.frames, 0), store.countFrames(dev, start, start + res)]);
      return out;
    };
    for (const dev of devs) {
      expect(counts(dev).every(([rows, index]) => rows <= index)).toBe(true);
      const trend = await readTrend(store, reader, dev, from, to, 15 * MIN, { fill: false });
      const { readings } = await readReadings(store, reader, dev, from, to);
      expect(trend.series).toEqual(downsample(readings, from, to, 15 * MIN));
    }
    // Restarted: the writer finds the frames after its last complete flush and clears their
    // windows' rows; every window then counts all its frames or has no rows.
    const writer = new RollupWriter(store);
    expect(writer.pending).toBe(0);
    expect(writer.flushedThrough).toBe(store.size - 1);
    for (const dev of devs) {
      expect(counts(dev).every(([rows, index]) => rows === index)).toBe(true);
      const trend = await readTrend(store, reader, dev, from, to, 15 * MIN);
      const { readings } = await readReadings(store, reader, dev, from, to);
      expect(trend.series).toEqual(downsample(readings, from, to, 15 * MIN));
      expect(await storedRollups(store, reader, dev)).toEqual(await truth(store, reader, dev));
      const again = await readTrend(store, reader, dev, from, to, 15 * MIN, { fill: false });
      expect(again.stats.rawFrames).toBe(0);
    }
  }, 120_000);
});
