/**
 * Sealed-store benchmark (issues 4 and 14): `npm run bench:store`
 * (= `npm run build && node dist/test/bench/store.js`). Every figure is printed beside a
 * reference measured in the same run, and the last line is `BENCH {json}` with every figure
 * (names in README "Benchmarks"):
 * - references: node:crypto AES-256-GCM seal and open of a ~200-byte frame, one core; P-256
 *   verify, one core;
 * - sealed frames accepted durably through the whole Ingest (verify, chain rules, seal,
 *   rollups, fsync'd group commit), beside the verify rate;
 * - the rollup writer's cost per frame on the commit path (one frame per device per commit,
 *   the 1 Hz shape), beside one GCM seal;
 * - one patient's day at 1 Hz (86,400 frames, hourly data keys as the gateway clock makes
 *   them): all raw readings, beside the floor of 86,400 GCM opens; the day's 5-minute trend
 *   from raw frames (the reference: what the trend route did before issue 14) and from
 *   rollups; hourly buckets; the ward dashboard's 24 h view (5-minute buckets on their grid,
 *   up to now); buckets off the minute grid (now − 24 h, 24 h / 300); the first trend after
 *   every rollup was lost (raw frames and the lazy fill, what an upgraded data directory pays
 *   once); the last hour of readings.
 * Each query time is the median of BENCH_RUNS (7) runs, BENCH_RUNS_RAW (3) for those that read
 * a day of raw frames, each with a fresh reader (data keys unwrapped again) as a route call
 * has. Knobs: BENCH_DAY_FRAMES (86400), BENCH_INGEST_FRAMES (10000), BENCH_ROLLUP_DEVICES (200).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { importDataKey, sealWithDataKey } from '../../gateway/src/core/envelope.js';
import type { LiveReading } from '../../gateway/src/core/live.js';
import { DeviceOrder, decodeLiveBatch, encodeLiveBatch } from '../../gateway/src/core/live-stream.js';
import { downsample } from '../../gateway/src/core/trend.js';
import { DataKeyRing } from '../../gateway/src/io/data-keys/ring.js';
import { ROLLUP_FLUSH_MS } from '../../gateway/src/io/ingest/rollup-flusher.js';
import { RollupWriter } from '../../gateway/src/io/ingest/rollup-writer.js';
import { readReadings, readTrend } from '../../gateway/src/io/queries/index.js';
import { ReadPool, sharedReadPool } from '../../gateway/src/io/reading/index.js';
import { frameAad, SealedReader } from '../../gateway/src/io/store/sealed.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { p256VerifyRate } from './reference.js';

const DAY = Number(process.env.BENCH_DAY_FRAMES ?? 86_400);
const INGEST = Number(process.env.BENCH_INGEST_FRAMES ?? 10_000);
const ROLLUP_DEVICES = Number(process.env.BENCH_ROLLUP_DEVICES ?? 200);
const HOUR = 3_600_000;
/** Runs per query (the median is reported): reads of a day of raw frames, and the rest. */
const RUNS_RAW = Number(process.env.BENCH_RUNS_RAW ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function rate(ms: number, op: () => void): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) op();
    n += 100;
  }
  return n / ((performance.now() - t0) / 1000);
}

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const out = await fn();
  return [out, performance.now() - t];
}

/** The last result and the median time of `runs` runs (a shared machine is noisy). */
async function median<T>(runs: number, fn: () => Promise<T>): Promise<[T, number]> {
  const times: number[] = [];
  let out: T | undefined;
  for (let i = 0; i < runs; i++) {
    const [x, ms] = await timed(fn);
    out = x;
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  return [out as T, times[Math.floor(times.length / 2)] as number];
}

async function main(): Promise<void> {
  const bench: Record<string, number | boolean> = {};

  // --- references ------------------------------------------------------------------
  const frame = randomBytes(200);
  const raw = randomBytes(32);
  const aad = frameAad('wr-0001', 1, 1, 1);
  const iv = randomBytes(12);
  const gcmSeal = rate(1500, () => {
    const c = createCipheriv('aes-256-gcm', raw, iv);
    c.setAAD(aad);
    c.update(frame);
    c.final();
    c.getAuthTag();
  });
  const c = createCipheriv('aes-256-gcm', raw, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(frame), c.final()]);
  const tag = c.getAuthTag();
  const gcmOpen = rate(1500, () => {
    const d = createDecipheriv('aes-256-gcm', raw, iv);
    d.setAAD(aad);
    d.setAuthTag(tag);
    d.update(ct);
    d.final();
  });
  const p256 = p256VerifyRate(1500);
  Object.assign(bench, { gcm_seal_per_s: Math.round(gcmSeal), gcm_open_per_s: Math.round(gcmOpen) });
  bench.p256_verify_per_s = Math.round(p256);
  line('node:crypto AES-256-GCM seal, 200 B (reference, 1 core)', `${gcmSeal.toFixed(0)} /s`);
  line('node:crypto AES-256-GCM open, 200 B (reference, 1 core)', `${gcmOpen.toFixed(0)} /s`);
  line('node:crypto P-256 verify (reference, 1 core)', `${p256.toFixed(0)} /s`);

  // --- the internal live stream (issue 16): what each commit's readings cost to put on the
  // stream (encode) and to take off it on every gateway (decode + reorder), per reading ---
  {
    const batch = (n: number, ecg: boolean): LiveReading[] =>
      Array.from({ length: n }, (_, i) => ({
        dev: `wr-${String(i % 200).padStart(4, '0')}`,
        seq: i + 1,
        ts: 1_800_000_000_000 + i,
        obs: { hr: 72, spo2: 97, rr: 16, temp: 3690, sbp: 120, dbp: 80 },
        bat: 88,
        ...(ecg ? { wf: { fs: 250, samples: new Int16Array(250) } } : {}),
        receivedAt: 1_800_000_000_500 + i,
      }));
    for (const [name, rs] of [
      ['vitals', batch(500, false)],
      ['ecg', batch(500, true)],
    ] as const) {
      // Each device's readings arrive in order, as from one gateway: nothing is held.
      const order = new DeviceOrder();
      const last = new Map<string, number>();
      // Each device's first reading waits the hold time: let those pass before measuring.
      for (const r of rs) {
        if (last.has(r.dev)) continue;
        last.set(r.dev, 0);
        order.offer({ ...r, seq: 0 }, 0);
      }
      order.due(Number.MAX_SAFE_INTEGER);
      const perBatch = rate(1500, () => {
        for (const m of encodeLiveBatch('gw-1', rs)) {
          const b = decodeLiveBatch(m);
          if ('error' in b) throw new Error(b.error);
          for (const r of b.readings) {
            const seq = (last.get(r.dev) ?? 0) + 1;
            last.set(r.dev, seq);
            order.offer({ ...r, seq }, 0);
          }
        }
      });
      // `rate` runs the op in hundreds; one op is a whole batch of 500 readings.
      const usPerReading = 1e6 / (perBatch * rs.length);
      bench[`live_stream_${name}_us_per_reading`] = r3(usPerReading);
      bench[`live_stream_${name}_vs_verify`] = r3(usPerReading / (1e6 / p256));
      line(
        `live stream encode+decode+order, ${name}, per reading`,
        `${usPerReading.toFixed(2)} µs (= ${(usPerReading / (1e6 / p256)).toFixed(3)} × one P-256 verify)`,
      );
    }
  }

  const tmp = makeTempDir('vt-bench-store-');
  try {
    const r = recipientPair('care', 'ec');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];

    // --- the rollup writer on the commit path ------------------------------------------
    {
      const store = openStore(`${tmp.dir}/writer/gateway.db`);
      const ring = new DataKeyRing(store, [r.recipient]);
      const writer = new RollupWriter(store);
      const t0 = Math.floor(Date.now() / HOUR) * HOUR;
      const devs = Array.from({ length: ROLLUP_DEVICES }, (_, i) => `wr-${String(i).padStart(4, '0')}`);
      const keys = [];
      for (const dev of devs) keys.push({ dev, ...(await ring.take(dev, t0)) });
      const commits = 300;
      const FLUSH_EVERY = ROLLUP_FLUSH_MS / 1000;
      let ms = 0;
      for (let s = 0; s < commits; s++) {
        const inputs = keys.map((k) => ({
          dev: k.dev,
          ts: t0 + s * 1000,
          obs: { hr: 60 + (s % 40), spo2: 97, rr: 15, temp: 3700, sbp: 120, dbp: 80 },
          keyId: k.id,
          key: k.key,
        }));
        const t = performance.now();
        writer.fold(inputs, s);
        // 1 Hz devices: the gateway writes their rows every ROLLUP_FLUSH_MS of commits.
        if ((s + 1) % FLUSH_EVERY === 0) while (!writer.flush());
        ms += performance.now() - t;
      }
      store.close();
      const us = (ms * 1000) / (commits * devs.length);
      const sealUs = 1e6 / gcmSeal;
      bench.rollup_write_us_per_frame = r3(us);
      bench.rollup_write_vs_gcm_seal = r3(us / sealUs);
      line(
        `rollup writer, 1 frame/device/commit (${devs.length} devices)`,
        `${us.toFixed(2)} µs/frame = ${(us / sealUs).toFixed(2)} x one GCM seal (folded; 2 windows sealed + upserted per device every ${FLUSH_EVERY} s)`,
      );
    }

    // --- durable ingest: 20 devices, pre-signed, 1000 submitted at a time ---------------
    const t0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * DAY * 1000;
    const clock = { now: t0 + DAY * 1000 };
    const rig = sealedRig(tmp.dir, [r.recipient], { now: () => clock.now });
    const devs = Array.from({ length: 20 }, (_, i) => rig.device(`wr-${String(i).padStart(4, '0')}`));
    const frames: [Uint8Array, string][] = [];
    for (let i = 0; i < INGEST; i++) {
      const d = devs[i % devs.length] as (typeof devs)[number];
      frames.push([d.next({ ts: t0 + i }), d.dev]);
    }
    const [, ms] = await timed(async () => {
      for (let i = 0; i < frames.length; i += 1000) {
        await Promise.all(frames.slice(i, i + 1000).map(([f, dev]) => rig.ingest.submit(f, dev)));
      }
    });
    const ingestRate = INGEST / (ms / 1000);
    bench.ingest_per_s = Math.round(ingestRate);
    bench.ingest_vs_verify = r3(ingestRate / p256);
    line(
      'sealed frames accepted durably (Ingest, rollups included)',
      `${ingestRate.toFixed(0)} /s = ${(ingestRate / p256).toFixed(3)} x verify rate (${INGEST} frames, 20 devices)`,
    );

    // --- one patient's day at 1 Hz: the gateway clock follows, so hourly data keys -----
    const p = rig.device('wr-day');
    const start = t0 + DAY * 1000; // on the hour
    for (let i = 0; i < DAY; i += 2000) {
      const chunk = [];
      for (let j = i; j < Math.min(DAY, i + 2000); j++) {
        chunk.push(
          p.next(
            { ts: start + j * 1000 },
            { hr: 60 + (j % 40), spo2: 97, rr: 15, temp: 3700, sbp: 120, dbp: 80 },
          ),
        );
      }
      clock.now = start + Math.min(DAY, i + 2000) * 1000;
      await Promise.all(chunk.map((f) => rig.ingest.submit(f, 'wr-day')));
    }
    const end = start + DAY * 1000 - 1;
    const keysOfDay = rig.store.db
      .prepare(`SELECT count(*) FROM data_keys WHERE dev = 'wr-day'`)
      .pluck()
      .get() as number;
    const reader = () => new SealedReader(rig.store, secrets);
    const floor = (DAY / gcmOpen) * 1000;

    // The day as the gateway reads it (the process's read threads, io/reading), then on the
    // event loop alone (no threads) as the reference.
    // The first read starts the threads (and compiles their code): timed apart, as a nurse
    // meets it after 30 s without a long read; each path then gets the median of its runs.
    const threads = sharedReadPool().threads;
    const [, dayColdMs] = await timed(() => readReadings(rig.store, reader(), 'wr-day', start, end));
    const [day, dayMs] = await median(RUNS_RAW, () =>
      readReadings(rig.store, reader(), 'wr-day', start, end),
    );
    const loop = new ReadPool({ threads: 0 });
    await readReadings(rig.store, reader(), 'wr-day', start, end, { pool: loop });
    const [, dayLoopMs] = await median(RUNS_RAW, () =>
      readReadings(rig.store, reader(), 'wr-day', start, end, { pool: loop }),
    );
    Object.assign(bench, { day_frames: day.readings.length, day_keys: keysOfDay });
    // What a frame costs on disk: its sealed envelope (a COSE_Encrypt0 since schema 11) and
    // the database file per stored frame (index, log nodes, rollups, free pages included).
    const sealedBytes = rig.store.db
      .prepare(
        `SELECT avg(length(envelope)) FROM sealed_frames WHERE leaf_index IN (SELECT leaf_index FROM frames WHERE dev = 'wr-day')`,
      )
      .pluck()
      .get() as number;
    // Reference: the same frame as the JWE text of format 2 (before schema 11).
    const firstRow = rig.store.framesToRead('wr-day', start, start);
    const [firstFrame] = await reader().read(firstRow);
    const jweBytes = Buffer.byteLength(
      await sealWithDataKey(
        firstFrame as Uint8Array,
        await importDataKey(randomBytes(32)),
        String(keysOfDay),
        frameAad('wr-day', 1, 0, keysOfDay),
      ),
    );
    const pages = rig.store.db.pragma('page_count', { simple: true }) as number;
    const pageSize = rig.store.db.pragma('page_size', { simple: true }) as number;
    const stored = rig.store.size;
    Object.assign(bench, {
      day_sealed_bytes_per_frame: r1(sealedBytes),
      day_jwe_bytes_per_frame: jweBytes,
      db_bytes_per_frame: r1((pages * pageSize) / stored),
    });
    line(
      'on disk: a 1 Hz frame sealed (COSE_Encrypt0)',
      `${sealedBytes.toFixed(0)} B (the same frame as a format-2 JWE text: ${jweBytes} B)`,
    );
    line(
      '  the database file per frame stored',
      `${((pages * pageSize) / stored).toFixed(0)} B (${stored} frames, ${((pages * pageSize) / 1e6).toFixed(1)} MB; index, log, rollups, keys)`,
    );
    Object.assign(bench, {
      day_raw_ms: r1(dayMs),
      day_raw_cold_ms: r1(dayColdMs),
      day_raw_event_loop_ms: r1(dayLoopMs),
      read_threads: threads,
    });
    bench.day_raw_us_per_reading = r3((dayMs * 1000) / day.readings.length);
    bench.day_open_floor_ms = r1(floor);
    line(
      `query: a day of 1 Hz readings, raw (${day.readings.length}, ${keysOfDay} keys)`,
      `${dayMs.toFixed(0)} ms (${threads} read threads; ${((dayMs * 1000) / day.readings.length).toFixed(1)} µs/reading) = ${(dayMs / floor).toFixed(1)} x the GCM-open floor (${floor.toFixed(0)} ms)`,
    );
    line('  the first read (the threads starting)', `${dayColdMs.toFixed(0)} ms`);
    line(
      '  the same on the event loop alone (reference)',
      `${dayLoopMs.toFixed(0)} ms = ${(dayLoopMs / floor).toFixed(1)} x the floor; threads ${(dayLoopMs / dayMs).toFixed(2)} x faster`,
    );

    const [rawTrend, rawTrendMs] = await median(RUNS_RAW, async () =>
      downsample(
        (await readReadings(rig.store, reader(), 'wr-day', start, end)).readings,
        start,
        end,
        300_000,
      ),
    );
    const [rolled, rollMs] = await median(RUNS, () =>
      readTrend(rig.store, reader(), 'wr-day', start, end, 300_000),
    );
    const same5 = isDeepStrictEqual(rolled.series, rawTrend);
    Object.assign(bench, { trend_raw_ms: r1(rawTrendMs), trend_rollup_ms: r1(rollMs) });
    Object.assign(bench, {
      trend_rollup_rows: rolled.stats.rollupRows,
      trend_rollup_raw_frames: rolled.stats.rawFrames,
    });
    bench.trend_speedup = r1(rawTrendMs / rollMs);
    bench.trend_same = same5;
    line(
      `trend, 5-min buckets (${rawTrend.hr.length}), from raw frames (reference)`,
      `${rawTrendMs.toFixed(0)} ms`,
    );
    line(
      '  the same from rollups',
      `${rollMs.toFixed(1)} ms = ${(rawTrendMs / rollMs).toFixed(0)} x faster (${rolled.stats.rollupRows} rows, ${rolled.stats.rawFrames} raw frames; same values: ${same5 ? 'yes' : 'NO'})`,
    );

    const [hourly, hourlyMs] = await median(RUNS, () =>
      readTrend(rig.store, reader(), 'wr-day', start, end, HOUR),
    );
    const sameH = isDeepStrictEqual(hourly.series, downsample(day.readings, start, end, HOUR));
    Object.assign(bench, { trend_hourly_ms: r1(hourlyMs), trend_hourly_rows: hourly.stats.rollupRows });
    line(
      '  1-hour buckets from rollups',
      `${hourlyMs.toFixed(1)} ms (${hourly.stats.rollupRows} rows; same values: ${sameH ? 'yes' : 'NO'})`,
    );

    // The ward dashboard's 24 h view (dashboards/ward/charts.js): whole-minute buckets on
    // their own grid, up to a "now" in the middle of a minute.
    const now = end - 29_999;
    const dashBucket = Math.ceil((24 * HOUR) / 300 / 60_000) * 60_000;
    const dashFrom = Math.floor((now - 24 * HOUR) / dashBucket) * dashBucket;
    const [dash, dashMs] = await median(RUNS, () =>
      readTrend(rig.store, reader(), 'wr-day', dashFrom, now, dashBucket),
    );
    const sameD = isDeepStrictEqual(dash.series, downsample(day.readings, dashFrom, now, dashBucket));
    Object.assign(bench, { trend_dashboard_ms: r1(dashMs), trend_dashboard_rows: dash.stats.rollupRows });
    bench.trend_dashboard_raw_frames = dash.stats.rawFrames;
    line(
      `  ward dashboard, 24 h view (${dashBucket / 1000} s buckets on their grid, to = now)`,
      `${dashMs.toFixed(1)} ms (${dash.stats.rollupRows} rows, ${dash.stats.rawFrames} raw frames; same values: ${sameD ? 'yes' : 'NO'})`,
    );
    // Any client's buckets off the minute grid: every bucket edge reads its minute raw.
    const offFrom = end - 24 * HOUR + 12_345;
    const offBucket = Math.round((24 * HOUR) / 300);
    const [off, offMs] = await median(RUNS_RAW, () =>
      readTrend(rig.store, reader(), 'wr-day', offFrom, end, offBucket),
    );
    const sameO = isDeepStrictEqual(off.series, downsample(day.readings, offFrom, end, offBucket));
    Object.assign(bench, { trend_offgrid_ms: r1(offMs), trend_offgrid_rows: off.stats.rollupRows });
    bench.trend_offgrid_raw_frames = off.stats.rawFrames;
    line(
      `  off the minute grid (now - 24 h + 12.345 s, ${offBucket / 1000} s buckets)`,
      `${offMs.toFixed(1)} ms = ${(rawTrendMs / offMs).toFixed(0)} x faster (${off.stats.rollupRows} rows, ${off.stats.rawFrames} raw frames; same values: ${sameO ? 'yes' : 'NO'})`,
    );

    // Every rollup lost (or a data directory of an older release): raw frames + lazy fill.
    const dropped = rig.store.db.prepare(`DELETE FROM rollups WHERE dev = 'wr-day'`).run().changes;
    const [fill, fillMs] = await timed(() => readTrend(rig.store, reader(), 'wr-day', start, end, 300_000));
    const [after, afterMs] = await median(RUNS, () =>
      readTrend(rig.store, reader(), 'wr-day', start, end, 300_000),
    );
    const sameF = isDeepStrictEqual(fill.series, rawTrend) && isDeepStrictEqual(after.series, rawTrend);
    Object.assign(bench, { trend_fill_ms: r1(fillMs), trend_fill_rows: fill.stats.filled });
    bench.trend_after_fill_ms = r1(afterMs);
    line(
      `  with no rollups (${dropped} rows dropped): raw + lazy fill`,
      `${fillMs.toFixed(0)} ms = ${(fillMs / rawTrendMs).toFixed(2)} x the raw trend (${fill.stats.filled} rows filled), then ${afterMs.toFixed(1)} ms (same values: ${sameF ? 'yes' : 'NO'})`,
    );
    bench.same_values = same5 && sameH && sameD && sameO && sameF;

    const [hour, hourMs] = await median(RUNS, () =>
      readReadings(rig.store, reader(), 'wr-day', end - HOUR + 1, end),
    );
    bench.hour_raw_ms = r1(hourMs);
    line(`query: the last hour of readings, raw (${hour.readings.length})`, `${hourMs.toFixed(0)} ms`);
    const close = (rig.ingest as unknown as { close?: () => Promise<void> }).close;
    await close?.call(rig.ingest);
    rig.store.close();
  } finally {
    tmp.cleanup();
  }
  process.stdout.write(`BENCH ${JSON.stringify({ bench: 'store', ...bench })}\n`);
}

await main();
