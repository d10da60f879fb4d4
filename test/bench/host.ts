/**
 * The process that holds what the ingest benchmarks measure (test/bench/run.ts), apart
 * from the orchestrator and the driver, so each one's memory and CPU are its own. Started
 * with `fork` and a JSON job in argv[2]:
 * - `embedded`: a gateway with its embedded broker (the benchmark sets the MQTT edge's
 *   PUBLISH rate limit explicitly);
 * - `external`: a gateway in external-broker mode (shared subscription, app acks);
 * - `drain`: no gateway: lean MQTT sessions on the shared subscription that PUBACK every
 *   frame at once and count them (the Mosquitto pass-through reference).
 * Sends `{ready, url, startMs}` (`startMs`: the gateway's `startGateway`, ms), then answers `{cmd: 'stats'}` with `HostStats` and `{cmd: 'stop'}`
 * by stopping and exiting. A gateway also times every frame from its socket read to its
 * answer (the ingest's `outcome`), and each `stats` gives the percentiles of the frames
 * answered since the one before (`answerMs`).
 */

import type { RunningExternalGateway, RunningGateway } from '../../gateway/src/app/gateway.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { DEFAULT_MQTT_LIMITS } from '../../gateway/src/core/ingress-limits.js';
import { SHARED_FRAMES_SUBSCRIPTION } from '../../gateway/src/core/topics.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { hostPort, LeanClient } from './lean-mqtt.js';
import { percentile } from './percentile.js';
import { type ThreadTime, threadTimes } from './thread-cpu.js';

export type HostJob =
  | ({ kind: 'embedded'; dataDir: string; ratePerSecond: number; rateBurst: number } & GatewayTuning)
  | ({
      kind: 'external';
      dataDir: string;
      url: string;
      lanes?: number;
      receiveMaximum?: number;
    } & GatewayTuning)
  | { kind: 'drain'; url: string; lanes: number };

/** The gateway settings a bench run may set (unset: the gateway's defaults). */
export interface GatewayTuning {
  verifyThreads?: number;
  verifyNice?: number;
  heapGrowingPercent?: number;
}

/** The host process's memory (`process.memoryUsage()`). */
export interface HostMemory {
  rssBytes: number;
  heapUsedBytes: number;
  /** V8's committed heap (what of the RSS is JS heap, used or not) and memory outside it that V8 is told of. */
  heapTotalBytes: number;
  externalBytes: number;
}

export interface HostStats extends HostMemory {
  /** Frames in the store (gateway) or received (drain). */
  frames: number;
  /** Group commits so far (gateway). */
  batches: number;
  /** MQTT connections of the embedded broker. */
  connections: number;
  /** The verify pool (gateway): frames checked on its threads and in the event loop, threads running now, starts by load. */
  verifyPooled: number;
  verifyInline: number;
  verifyThreadsRunning: number;
  verifyLoadStarts: number;
  /** CPU time of the whole process (all its threads: event loop, verify and read threads, GC, libuv) so far, µs. */
  cpuMicros: number;
  /** Each thread's CPU time so far and its role (test/bench/thread-cpu); absent off Linux. */
  threads?: ThreadTime[];
  /** Gateway: the enrolled devices it has read (their certificates checked) so far. */
  devicesKnown?: number;
  /** Gateway: the frames answered since the last `stats`, socket read → answer (ms). */
  answerMs?: { count: number; p50: number; p99: number };
}

/** p50 and p99 of `ms`, which it empties. */
function answerPercentiles(ms: number[]): HostStats['answerMs'] {
  const sorted = Float64Array.from(ms).sort();
  ms.length = 0;
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

const job = JSON.parse(process.argv[2] ?? '{}') as HostJob;
const send = (m: unknown) => process.send?.(m);

async function main(): Promise<void> {
  let stats: () => Omit<HostStats, keyof HostMemory | 'cpuMicros' | 'threads'>;
  const answers: number[] = [];
  let stop: () => Promise<void>;
  let url: string;
  let startMs = 0;
  if (job.kind === 'drain') {
    let received = 0;
    const { host, port } = hostPort(job.url);
    const lanes = await Promise.all(
      Array.from({ length: job.lanes }, (_, i) =>
        LeanClient.connect({
          host,
          port,
          clientId: `bench-drain-${i}`,
          keepalive: 0,
          onMessage: () => {
            received += 1;
          },
        }),
      ),
    );
    await Promise.all(lanes.map((l) => l.subscribe(SHARED_FRAMES_SUBSCRIPTION)));
    url = job.url;
    const none = { verifyPooled: 0, verifyInline: 0, verifyThreadsRunning: 0, verifyLoadStarts: 0 };
    stats = () => ({ frames: received, batches: 0, connections: 0, ...none });
    stop = async () => {
      for (const l of lanes) l.end();
    };
  } else {
    const tuning: GatewayTuning = {
      ...(job.verifyThreads === undefined ? {} : { verifyThreads: job.verifyThreads }),
      ...(job.verifyNice === undefined ? {} : { verifyNice: job.verifyNice }),
      ...(job.heapGrowingPercent === undefined ? {} : { heapGrowingPercent: job.heapGrowingPercent }),
    };
    const startAt = performance.now();
    const gw: RunningGateway | RunningExternalGateway =
      job.kind === 'embedded'
        ? await startGateway({
            dataDir: job.dataDir,
            logger: silentLogger,
            http: { port: 0 },
            mqtt: { port: 0 },
            ...tuning,
            mqttLimits: {
              ...DEFAULT_MQTT_LIMITS,
              rate: { perSecond: job.ratePerSecond, burst: job.rateBurst },
            },
          })
        : await startGateway({
            dataDir: job.dataDir,
            logger: silentLogger,
            http: { port: 0 },
            ...tuning,
            externalBroker: {
              url: job.url,
              clientId: 'bench-gw',
              ...(job.lanes ? { lanes: job.lanes } : {}),
              ...(job.receiveMaximum ? { receiveMaximum: job.receiveMaximum } : {}),
            },
          });
    startMs = performance.now() - startAt;
    url = gw.broker ? gw.broker.url : job.kind === 'external' ? job.url : '';
    gw.ingest.on('outcome', (_r, seconds) => {
      if (answers.length < 4_000_000) answers.push(seconds * 1000);
    });
    stats = () => ({
      frames: gw.store.size,
      batches: gw.ingest.counters.batches,
      connections: gw.broker ? gw.broker.connectedClients() : 0,
      verifyPooled: gw.ingest.verifyPool.stats.pooled,
      verifyInline: gw.ingest.verifyPool.stats.inline,
      verifyThreadsRunning: gw.ingest.verifyPool.liveWorkers,
      verifyLoadStarts: gw.ingest.verifyPool.stats.loadStarts,
      devicesKnown: gw.devices.size,
      answerMs: answerPercentiles(answers),
    });
    stop = () => gw.stop();
  }
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') {
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      const threads = threadTimes();
      send({
        stats: {
          ...stats(),
          cpuMicros: cpu.user + cpu.system,
          ...(threads ? { threads } : {}),
          rssBytes: mem.rss,
          heapUsedBytes: mem.heapUsed,
          heapTotalBytes: mem.heapTotal,
          externalBytes: mem.external,
        } satisfies HostStats,
      });
    } else if (m.cmd === 'stop') {
      void stop().then(() => {
        send({ stopped: true });
        process.exit(0);
      });
    }
  });
  send({ ready: true, url, startMs });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench host failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(2);
});
