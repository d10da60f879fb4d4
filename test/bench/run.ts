/**
 * `npm run bench`: one run of the simulator against the gateway on this machine, with
 * the figures the walking-skeleton issue asks for, each beside a reference measured in
 * the same run:
 * - node:crypto P-256 ECDSA verify rate (the per-frame cost floor of ingest);
 * - frames/s accepted durably (PUBACK after fsync) through aedes + SQLite + sealing + log;
 * - p50/p99 publish → PUBACK latency as seen by the devices.
 * Environment knobs: BENCH_DEVICES (50), BENCH_RATE_HZ per device (400), BENCH_SECONDS (6).
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { startGateway } from '../../gateway/src/gateway.js';
import { silentLogger } from '../../gateway/src/io/log.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 50);
const RATE_HZ = Number(process.env.BENCH_RATE_HZ ?? 400);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);

function p256VerifyRate(ms = 1500): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.alloc(160, 7); // about one Sig_structure of a vitals frame
  const sig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) verify('sha256', msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
    n += 100;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const verifyRate = p256VerifyRate();
  const tmp = makeTempDir('vt-bench-');
  try {
    const ids = Array.from({ length: DEVICES }, (_, i) => `bench-${String(i + 1).padStart(4, '0')}`);
    const paths = await prepareDataDir(tmp.dir, ids);
    const gw = await startGateway({ dataDir: tmp.dir, logger: silentLogger });
    const fleet = await Fleet.start({
      url: gw.broker.url,
      devices: ids.map((devId) => ({ devId, privateKey: deviceKey(paths, devId) })),
      rateHz: RATE_HZ,
      durationMs: SECONDS * 1000,
    });
    const t0 = performance.now();
    const size0 = gw.store.size;
    await fleet.finished;
    const stats = await fleet.stop();
    const elapsed = (performance.now() - t0) / 1000;
    const durable = gw.store.size - size0;
    const fps = durable / elapsed;
    const batches = gw.ingest.counters.batches;
    await gw.stop();

    const offered = DEVICES * RATE_HZ;
    const rows: [string, string][] = [
      ['node:crypto P-256 verify (reference, 1 core)', `${verifyRate.toFixed(0)} /s`],
      ['offered load', `${offered} frames/s (${DEVICES} devices × ${RATE_HZ} Hz, ${SECONDS} s)`],
      ['frames accepted durably', `${fps.toFixed(0)} /s  = ${(fps / verifyRate).toFixed(3)} × verify rate`],
      ['frames acked / made', `${stats.acked} / ${stats.made} (in outbox at stop: ${stats.inOutbox})`],
      ['mean frames per sealed batch (group commit)', (durable / Math.max(1, batches)).toFixed(1)],
      ['publish → PUBACK p50', `${stats.latencyMs.p50.toFixed(2)} ms`],
      ['publish → PUBACK p99', `${stats.latencyMs.p99.toFixed(2)} ms`],
    ];
    process.stdout.write(
      '\nVitalTrail ingest benchmark (simulator → aedes → verify → seal → SQLite fsync → log → PUBACK)\n',
    );
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(46)} ${v}\n`);
    process.stdout.write('\n');
  } finally {
    tmp.cleanup();
  }
}

await main();
