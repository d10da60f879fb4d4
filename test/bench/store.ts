/**
 * Sealed-store benchmark (issue 4): `node dist/test/bench/store.js`.
 * Figures, each beside references measured in the same run:
 * - raw AES-256-GCM (node:crypto, one ~200-byte frame per call) — the cipher's floor;
 * - per-frame sealing through jose (flattened JWE, dir + A256GCM): frames/s;
 * - sealed frames accepted durably through the whole Ingest (verify, chain rules, seal,
 *   fsync'd group commit): frames/s, beside node:crypto P-256 verify;
 * - query latency for one patient's day at 1 Hz (86,400 readings): the full day's
 *   readings, a 5-minute trend of the day, and the last hour.
 * Knobs: BENCH_DAY_FRAMES (86400), BENCH_INGEST_FRAMES (10000).
 */
import { createCipheriv, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { importDataKey, sealWithDataKey } from '../../gateway/src/core/envelope.js';
import { downsample } from '../../gateway/src/core/trend.js';
import { frameAad, readReadings, SealedReader } from '../../gateway/src/io/store/sealed.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const DAY = Number(process.env.BENCH_DAY_FRAMES ?? 86_400);
const INGEST = Number(process.env.BENCH_INGEST_FRAMES ?? 10_000);

function rate(ms: number, op: () => void): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) op();
    n += 100;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function asyncRate(ms: number, op: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) await op();
    n += 100;
  }
  return n / ((performance.now() - t0) / 1000);
}

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(52)} ${value}\n`);
}

async function main(): Promise<void> {
  const frame = randomBytes(200);
  const raw = randomBytes(32);
  const aad = frameAad('wr-0001', 1, 1, 1);
  const gcm = rate(1500, () => {
    const c = createCipheriv('aes-256-gcm', raw, randomBytes(12));
    c.setAAD(aad);
    c.update(frame);
    c.final();
    c.getAuthTag();
  });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.alloc(160, 7);
  const sig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const p256 = rate(1500, () => verify('sha256', msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  const key = await importDataKey(raw);
  const jose = await asyncRate(1500, () => sealWithDataKey(frame, key, '1', aad));
  line('node:crypto AES-256-GCM, 200 B (reference)', `${gcm.toFixed(0)} /s`);
  line('node:crypto P-256 verify (reference)', `${p256.toFixed(0)} /s`);
  line(
    'jose frame seal (dir, A256GCM), 200 B',
    `${jose.toFixed(0)} /s = ${(jose / gcm).toFixed(3)} x raw GCM`,
  );

  // Durable ingest of sealed frames: 20 devices, pre-signed, submitted 1000 at a time.
  const tmp = makeTempDir('vt-bench-store-');
  try {
    const r = recipientPair('care', 'ec');
    const t0 = Date.now();
    const rig = sealedRig(tmp.dir, [r.recipient], { now: () => t0 + DAY * 1000 });
    const devs = Array.from({ length: 20 }, (_, i) => rig.device(`wr-${String(i).padStart(4, '0')}`));
    const frames: [Uint8Array, string][] = [];
    for (let i = 0; i < INGEST; i++) {
      const d = devs[i % devs.length] as (typeof devs)[number];
      frames.push([d.next({ ts: t0 + i }), d.dev]);
    }
    let t = performance.now();
    for (let i = 0; i < frames.length; i += 1000) {
      await Promise.all(frames.slice(i, i + 1000).map(([f, dev]) => rig.ingest.submit(f, dev)));
    }
    const ingestRate = INGEST / ((performance.now() - t) / 1000);
    line(
      'sealed frames accepted durably (Ingest)',
      `${ingestRate.toFixed(0)} /s = ${(ingestRate / p256).toFixed(3)} x verify rate (${INGEST} frames, 20 devices)`,
    );

    // A patient's day at 1 Hz on one device.
    const p = rig.device('wr-day');
    const start = t0;
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
      await Promise.all(chunk.map((f) => rig.ingest.submit(f, 'wr-day')));
    }
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    const end = start + DAY * 1000;
    t = performance.now();
    const day = await readReadings(rig.store, new SealedReader(rig.store, secrets), 'wr-day', start, end);
    const dayMs = performance.now() - t;
    t = performance.now();
    const trend = downsample(
      (await readReadings(rig.store, new SealedReader(rig.store, secrets), 'wr-day', start, end)).readings,
      start,
      end,
      300_000,
    );
    const trendMs = performance.now() - t;
    t = performance.now();
    const hour = await readReadings(
      rig.store,
      new SealedReader(rig.store, secrets),
      'wr-day',
      end - 3_600_000,
      end,
    );
    const hourMs = performance.now() - t;
    line(
      `query: a day of 1 Hz readings (${day.readings.length})`,
      `${dayMs.toFixed(0)} ms (${((dayMs * 1000) / day.readings.length).toFixed(1)} µs/reading)`,
    );
    line(`query: the day's trend, 5-min buckets (${trend.hr.length})`, `${trendMs.toFixed(0)} ms`);
    line(`query: the last hour (${hour.readings.length})`, `${hourMs.toFixed(0)} ms`);
    rig.store.close();
  } finally {
    tmp.cleanup();
  }
}

await main();
