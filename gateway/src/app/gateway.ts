/**
 * @module app/gateway
 * Composition of the gateway service (ARCHITECTURE.md, "one frame's journey"):
 * MQTT ingest → acceptance rules → sealed, fsync'd store + transparency log → ack;
 * accepted readings → live hub → dashboard; checkpoints → anchoring outbox → ledger.
 * The start-up is the step list of app/gateway-steps; this module runs it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { niceSteps } from '../core/thread-nice.js';
import { DEFAULT_CHAIN_STOP_MS } from '../io/anchoring/index.js';
import { createLogger } from '../io/ops/index.js';
import type { ExternalBrokerOptions } from '../io/transport/index.js';
import { DEFAULT_VERIFY_NICE } from '../io/verify/index.js';
import { VitalTrailError } from '../protocol/errors.js';
import { GATEWAY_STEPS, GatewayParts } from './gateway-steps.js';
import { applyHeapGrowingPercent, DEFAULT_HEAP_GROWING_PERCENT } from './heap.js';
import { niceHelperThreads } from './helper-threads.js';
import type { GatewayOptions, RunningExternalGateway, RunningGateway } from './options.js';
import { runSteps } from './steps.js';

export {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_GATEWAY_ID,
  DEFAULT_RETENTION_MS,
  type GatewayOptions,
  type RunningExternalGateway,
  type RunningGateway,
} from './options.js';

/** The dashboards/ward directory, from source (vitest) or from dist/. */
export function wardStaticDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'dashboards', 'ward');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    dir = dirname(dir);
  }
  throw new VitalTrailError('config_invalid', 'dashboards/ward was not found next to the gateway');
}

/**
 * Starts the gateway on a data directory prepared by `kgc init` (and the demo).
 * On a failed start, whatever had started is stopped again before the error is thrown.
 * @throws {VitalTrailError} `config_invalid` when the KGC root or recipients are missing.
 */
export async function startGateway(
  opts: GatewayOptions & { externalBroker?: undefined },
): Promise<RunningGateway>;
export async function startGateway(
  opts: GatewayOptions & { externalBroker: ExternalBrokerOptions },
): Promise<RunningExternalGateway>;
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway | RunningExternalGateway>;
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway | RunningExternalGateway> {
  const p = new GatewayParts();
  const log = p.set('log', opts.logger ?? createLogger());
  p.set('opts', opts);
  p.set('staticDir', wardStaticDir());
  applyHeapGrowingPercent(opts.heapGrowingPercent ?? DEFAULT_HEAP_GROWING_PERCENT);
  const helperNice = niceSteps(opts.verifyNice ?? DEFAULT_VERIFY_NICE, 'verifyNice');
  const stopSteps = await runSteps(GATEWAY_STEPS, p);
  // The runtime's helper threads behind the event loop with the verify threads, once the
  // start has made those it needs (libuv's pool on its first use; app/helper-threads).
  niceHelperThreads(helperNice);
  const gatewayId = p.get('gatewayId');
  if (process.platform === 'linux' && process.env.MALLOC_ARENA_MAX === undefined) {
    // Measured (README "Sizing"): 4,000 connected devices took the RSS from 202 to 731 MB
    // with glibc's default malloc arenas, to 335 MB with MALLOC_ARENA_MAX=2.
    log.info('glibc malloc arenas are unbounded; set MALLOC_ARENA_MAX=2 for many connections', {
      see: 'README "Sizing"',
    });
  }
  const running = {
    gatewayId,
    origin: p.get('origin'),
    logId: p.get('logId'),
    store: p.get('store'),
    ingest: p.get('ingest'),
    hub: p.get('hub'),
    broker: p.get('broker'),
    external: p.get('external'),
    metrics: p.get('metrics'),
    http: p.get('http'),
    anchorer: p.get('anchorer'),
    serial: p.get('serial'),
    checkpointVkey: p.get('signer').vkey,
    devices: p.get('identity').devices,
    alarms: p.get('alarms'),
    bindings: p.get('bindings'),
    retention: p.get('retention'),
    async stop() {
      // A chain that never answers cannot hold the stop: its calls are aborted past this.
      p.get('chainCalls').abortAfter(opts.ledger?.stopTimeoutMs ?? DEFAULT_CHAIN_STOP_MS);
      await stopSteps();
      log.info('gateway stopped', { gateway: gatewayId });
    },
  };
  return running as RunningGateway | RunningExternalGateway;
}
