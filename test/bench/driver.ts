/**
 * Load driver for `npm run bench`, run in its own process so that the simulated devices
 * and the gateway do not share a core. Reads its job from argv[2] (JSON), prints one JSON
 * result line on stdout.
 * - mode "closed": frames are signed first; then each device keeps `window` frames in
 *   flight and sends the next one as soon as a PUBACK arrives: the gateway's durable capacity.
 * - mode "open": the firmware-sim fleet at a fixed rate per device: latency at that load.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readPrivateKey } from '../../anchor/src/kgc/index.js';
import { SimDevice } from '../../firmware-sim/src/device.js';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { MqttDeviceLink } from '../../firmware-sim/src/mqtt-transport.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';

export interface DriverJob {
  mode: 'closed' | 'open';
  url: string;
  dataDir: string;
  devices: string[];
  seconds: number;
  window?: number;
  /** closed mode: frames in all, signed before the clock starts. */
  frames?: number;
  rateHz?: number;
}

export interface DriverResult {
  acked: number;
  made: number;
  seconds: number;
  latencyMs: { p50: number; p99: number };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function closedLoop(job: DriverJob): Promise<DriverResult> {
  const latencies: number[] = [];
  const links = await Promise.all(
    job.devices.map((devId, i) => {
      const device = new SimDevice({
        devId,
        privateKey: readPrivateKey(join(job.dataDir, 'devices', devId, 'device.key.pem')),
        model: createPatientModel({ seed: i + 1 }),
      });
      return MqttDeviceLink.connect({ url: job.url, device, onLatency: (ms) => latencies.push(ms) });
    }),
  );
  // Sign every frame before the clock starts: we measure the gateway, not the signer.
  const perDevice = Math.ceil((job.frames ?? 20_000) / links.length);
  const frames = links.map((l) => Array.from({ length: perDevice }, () => l.device.makeFrame()));
  let acked = 0;
  const t0 = performance.now();
  await Promise.all(
    links.flatMap((link, d) => {
      const queue = frames[d] as ReturnType<SimDevice['makeFrame']>[];
      let next = 0;
      return Array.from({ length: job.window ?? 8 }, async () => {
        while (next < queue.length) {
          const f = queue[next++] as ReturnType<SimDevice['makeFrame']>;
          await link.send(f);
          acked++;
        }
      });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(links.map((l) => l.close()));
  latencies.sort((a, b) => a - b);
  return {
    acked,
    made: perDevice * links.length,
    seconds,
    latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
  };
}

async function openLoop(job: DriverJob): Promise<DriverResult> {
  const fleet = await Fleet.start({
    url: job.url,
    devices: job.devices.map((devId) => ({
      devId,
      privateKey: readPrivateKey(join(job.dataDir, 'devices', devId, 'device.key.pem')),
    })),
    rateHz: job.rateHz ?? 1,
    durationMs: job.seconds * 1000,
  });
  const t0 = performance.now();
  await fleet.finished;
  const s = await fleet.stop(10_000);
  return {
    acked: s.acked,
    made: s.made,
    seconds: (performance.now() - t0) / 1000,
    latencyMs: { p50: s.latencyMs.p50, p99: s.latencyMs.p99 },
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as DriverJob;
const result = job.mode === 'closed' ? await closedLoop(job) : await openLoop(job);
process.stdout.write(`${JSON.stringify(result)}\n`);
