/**
 * @module gateway
 * Composition of the gateway service (ARCHITECTURE.md, "one frame's journey"):
 * MQTT ingest → acceptance rules → sealed, fsync'd store + transparency log → ack;
 * accepted readings → live hub → dashboard; checkpoints → anchoring outbox → ledger.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Deployment, Hex } from '../../anchor/src/ledger/types.js';
import { createViemLedger } from '../../anchor/src/ledger/viem.js';
import { LiveHub } from './core/live.js';
import { Anchorer, checkpointOrigin, logIdOf } from './io/anchoring.js';
import { dataPaths } from './io/datadir.js';
import { DeviceRegistry } from './io/devices.js';
import { type HttpServer, startHttpServer } from './io/http.js';
import { Ingest } from './io/ingest.js';
import { createLogger, type Logger } from './io/log.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './io/mqtt-broker.js';
import { loadRecipients } from './io/recipients.js';
import { type GatewayStore, openStore } from './io/store.js';
import { ensureInitialAdmin, UserFile } from './io/users.js';
import { VitalTrailError } from './protocol/errors.js';

export const DEFAULT_GATEWAY_ID = 'gw-1';
/** Frames older than this are `too_old` (PROTOCOL.md §1 "retention horizon"). */
export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 10_000;

export interface GatewayOptions {
  dataDir: string;
  gatewayId?: string;
  mqtt?: { host?: string; port?: number };
  http?: { host?: string; port?: number };
  /** The ledger to anchor on; without it checkpoints stay in the outbox. */
  ledger?: { rpcUrl: string; deployment: Deployment; privateKey: Hex; confirmations?: number };
  checkpointIntervalMs?: number;
  retentionMs?: number;
  /** How often enrolments and revocations are re-read from the store. Default 2 s. */
  deviceRefreshMs?: number;
  logger?: Logger;
  wardName?: string;
}

export interface RunningGateway {
  gatewayId: string;
  origin: string;
  logId: Hex;
  store: GatewayStore;
  ingest: Ingest;
  hub: LiveHub;
  broker: EmbeddedBroker;
  http: HttpServer;
  anchorer: Anchorer | null;
  devices: DeviceRegistry;
  stop(): Promise<void>;
}

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
 * @throws {VitalTrailError} `config_invalid` when the KGC root or recipients are missing.
 */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const log = opts.logger ?? createLogger();
  const paths = dataPaths(opts.dataDir);
  if (!existsSync(paths.kgcRootCert)) {
    throw new VitalTrailError(
      'config_invalid',
      'no KGC root certificate in the data directory: run `vitaltrail kgc init`',
    );
  }
  const recipients = loadRecipients(paths.recipientsDir);
  if (recipients.length === 0) {
    throw new VitalTrailError('config_invalid', 'no envelope recipients (gateway/recipients/*.pub.pem)');
  }
  const gatewayId = opts.gatewayId ?? DEFAULT_GATEWAY_ID;
  const origin = checkpointOrigin(gatewayId);
  const logId = logIdOf(origin);

  const store = openStore(paths.db);
  const storedOrigin = store.getMeta('origin');
  if (storedOrigin === undefined) store.setMeta('origin', origin);
  else if (storedOrigin !== origin) {
    store.close();
    throw new VitalTrailError('config_invalid', 'this data directory belongs to another gateway id');
  }

  const hub = new LiveHub();
  const devices = new DeviceRegistry(store, readFileSync(paths.kgcRootCert, 'utf8'));
  devices.refresh();
  for (const d of store.listDevices()) hub.addDevice(d.dev);

  let broker: EmbeddedBroker | undefined;
  const ingest = new Ingest({
    store,
    lookup: (dev) => devices.lookup(dev),
    recipients,
    policy: { retentionMs: opts.retentionMs ?? DEFAULT_RETENTION_MS },
    hub,
    onReject: (r, transportDev) => {
      log.warn('frame rejected', { dev: transportDev, seq: r.seq, code: r.code });
      broker?.sendReject(transportDev, r);
    },
  });
  broker = await startEmbeddedBroker({
    ingest,
    host: opts.mqtt?.host ?? '127.0.0.1',
    port: opts.mqtt?.port ?? 0,
  });

  let anchorer: Anchorer | null = null;
  if (opts.ledger) {
    const ledger = createViemLedger({
      rpcUrl: opts.ledger.rpcUrl,
      deployment: opts.ledger.deployment,
      privateKey: opts.ledger.privateKey,
      ...(opts.ledger.confirmations !== undefined ? { confirmations: opts.ledger.confirmations } : {}),
    });
    anchorer = new Anchorer({
      store,
      ledger,
      logId,
      intervalMs: opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
      onError: (err) =>
        log.warn('anchoring failed; will retry', {
          code: err instanceof VitalTrailError ? err.code : 'unknown',
        }),
    });
    await anchorer.start();
  }

  const users = new UserFile(paths.users);
  await ensureInitialAdmin(paths.users, paths.initialAdminPassword);
  const http = await startHttpServer({
    hub,
    users,
    host: opts.http?.host ?? '127.0.0.1',
    port: opts.http?.port ?? 0,
    staticDir: wardStaticDir(),
    ...(opts.wardName ? { wardName: opts.wardName } : {}),
    status: () => ({
      gateway: gatewayId,
      store: ingest.healthy ? 'ok' : 'failing',
      logSize: store.size,
      devices: hub.snapshot().length,
      anchoring: anchorer?.status() ?? null,
    }),
    audit: (e) => log.info('audit', { event: e.type, user: 'username' in e ? e.username : undefined }),
  });

  const refresh = setInterval(() => {
    try {
      devices.refresh();
      for (const dev of devices.known()) hub.addDevice(dev);
    } catch (err) {
      log.warn('device refresh failed', { code: err instanceof VitalTrailError ? err.code : 'unknown' });
    }
  }, opts.deviceRefreshMs ?? 2000);
  refresh.unref();

  log.info('gateway started', { gateway: gatewayId, mqtt: broker.url, http: http.url, logSize: store.size });

  let stopped = false;
  return {
    gatewayId,
    origin,
    logId,
    store,
    ingest,
    hub,
    broker,
    http,
    anchorer,
    devices,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(refresh);
      // Graceful: stop taking frames, answer those in flight, cut a last checkpoint.
      await broker.close();
      await ingest.drain();
      await http.close();
      if (anchorer) {
        anchorer.checkpointNow();
        await anchorer.tick();
        await anchorer.stop();
      }
      store.close();
      log.info('gateway stopped', { gateway: gatewayId });
    },
  };
}
