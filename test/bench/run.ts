/**
 * `npm run bench`: one run of the simulator against the gateway on this machine, with
 * the figures the walking-skeleton issue asks for, each beside a reference measured in
 * the same run:
 * - node:crypto P-256 ECDSA verify rate (the per-frame cost floor of ingest);
 * - frames/s accepted durably (PUBACK after fsync) through aedes + SQLite + sealing + log;
 * - p50/p99 publish → PUBACK latency as seen by the devices.
 * The devices run in a second process (test/bench/driver.ts) so they do not share a core
 * with the gateway. Environment knobs: BENCH_DEVICES (50), BENCH_WINDOW frames in flight
 * per device (8), BENCH_FRAMES for the capacity run (20000), BENCH_SECONDS of the
 * fixed-rate run (5).
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';
import type { DriverJob, DriverResult } from './driver.js';
import { p256VerifyRate } from './reference.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 50);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 20_000);

function drive(job: DriverJob): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./driver.js', import.meta.url)), JSON.stringify(job)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench driver exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as DriverResult);
    });
  });
}

async function main(): Promise<void> {
  const verifyRate = p256VerifyRate();
  const tmp = makeTempDir('vt-bench-');
  try {
    // Two sets of devices: each phase starts fresh device chains at seq 1.
    const idsOf = (set: string) =>
      Array.from({ length: DEVICES }, (_, i) => `${set}-${String(i + 1).padStart(4, '0')}`);
    await prepareDataDir(tmp.dir, [...idsOf('cap'), ...idsOf('lat')]);
    const gw = await startGateway({ dataDir: tmp.dir, logger: silentLogger });
    const base = { url: gw.broker.url, dataDir: tmp.dir };

    // 1. Capacity: devices send as fast as durable PUBACKs come back.
    const size0 = gw.store.size;
    const batches0 = gw.ingest.counters.batches;
    const cap = await drive({
      ...base,
      devices: idsOf('cap'),
      mode: 'closed',
      seconds: SECONDS,
      window: WINDOW,
      frames: FRAMES,
    });
    const durable = gw.store.size - size0;
    const fps = durable / cap.seconds;
    const perBatch = durable / Math.max(1, gw.ingest.counters.batches - batches0);

    // 2. Latency at a quarter of that load, from a fixed-rate fleet signing as it goes.
    const rateHz = Math.max(1, Math.round(fps / 4 / DEVICES));
    const lat = await drive({ ...base, devices: idsOf('lat'), mode: 'open', seconds: SECONDS, rateHz });
    await gw.stop();

    const rows: [string, string][] = [
      ['node:crypto P-256 verify (reference, 1 core)', `${verifyRate.toFixed(0)} /s`],
      [
        'frames accepted durably (capacity)',
        `${fps.toFixed(0)} /s = ${(fps / verifyRate).toFixed(3)} x verify rate  (${cap.made} frames from ${DEVICES} devices, ${WINDOW} in flight each)`,
      ],
      ['  acked / made', `${cap.acked} / ${cap.made}; stored ${durable}`],
      ['  mean frames per sealed batch (group commit)', perBatch.toFixed(1)],
      [
        '  publish -> PUBACK p50 / p99 at capacity',
        `${cap.latencyMs.p50.toFixed(2)} / ${cap.latencyMs.p99.toFixed(2)} ms`,
      ],
      [
        `publish -> PUBACK p50 / p99 at ${DEVICES * rateHz} frames/s`,
        `${lat.latencyMs.p50.toFixed(2)} / ${lat.latencyMs.p99.toFixed(2)} ms  (${DEVICES} devices x ${rateHz} Hz; acked ${lat.acked} of ${lat.made})`,
      ],
    ];
    process.stdout.write(
      '\nVitalTrail ingest benchmark (devices -> aedes -> verify -> seal -> SQLite fsync -> log -> PUBACK)\n',
    );
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(50)} ${v}\n`);
    process.stdout.write('\n');
  } finally {
    tmp.cleanup();
  }
}

await main();
