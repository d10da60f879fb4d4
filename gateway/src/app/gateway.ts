/**
 * @module app/gateway
 * Composition of the gateway service (ARCHITECTURE.md, "one frame's journey"):
 * MQTT ingest → acceptance rules → sealed, fsync'd store + transparency log → ack;
 * accepted readings → live hub → dashboard; checkpoints → anchoring outbox → ledger.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Deployment, Hex } from '../../../anchor/src/ledger/types.js';
import { createViemLedger } from '../../../anchor/src/ledger/viem.js';
import { LiveHub } from '../core/live.js';
import { Anchorer, checkpointOrigin, logIdOf } from '../io/anchoring/anchoring.js';
import { CheckpointNotes, loadCheckpointSigner } from '../io/anchoring/checkpoints.js';
import { AlarmService } from '../io/clinical/alarm-service.js';
import { alarmRoutes } from '../io/http/alarm-routes.js';
import { auditorRoutes } from '../io/http/auditor-routes.js';
import { createDataRoutes } from '../io/http/data-routes.js';
import { logRoutes } from '../io/http/log-routes.js';
import { GatewayMetrics, MeteredIngest, opsRoutes } from '../io/http/metrics-routes.js';
import { type HttpServer, startHttpServer } from '../io/http/server.js';
import type { DeviceRegistry } from '../io/identity/devices.js';
import { createEnrolmentFollower, type EnrolmentFollower } from '../io/identity/enrolment-follow.js';
import { createIdentity, type MqttsOptions } from '../io/identity/identity.js';
import { ensureInitialAdmin, UserFile } from '../io/identity/users.js';
import type { Ingest } from '../io/ingest/ingest.js';
import type { AuditEventType } from '../io/ops/audit.js';
import { dataPaths, isDirectory } from '../io/ops/datadir.js';
import { createLogger, type Logger } from '../io/ops/log.js';
import { InfluxSink } from '../io/outbound/influx-sink.js';
import { Bindings } from '../io/store/bindings.js';
import { loadRecipientSecrets, loadRecipients, watchRecipients } from '../io/store/recipients.js';
import { type GatewayStore, openStore } from '../io/store/store.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../io/transport/mqtt-broker.js';
import {
  type ExternalBrokerOptions,
  type ExternalMqttIngest,
  startExternalIngest,
} from '../io/transport/mqtt-client-ingest.js';
import { type SerialIngest, type SerialPortConfig, startSerialIngest } from '../io/transport/serial.js';
import { VitalTrailError } from '../protocol/errors.js';

export const DEFAULT_GATEWAY_ID = 'gw-1';
/** Frames older than this are `too_old` (PROTOCOL.md §1 "retention horizon"). */
export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 10_000;

export interface GatewayOptions {
  dataDir: string;
  /** Optional InfluxDB v2 sink of readings (pseudonymous tags: device and bed). Off by default. */
  influx?: { url: string; org: string; bucket: string; token?: string };
  gatewayId?: string;
  mqtt?: { host?: string; port?: number };
  /** The mutual-TLS MQTT listener (io/identity); without it only the plain listener runs. */
  mqtts?: MqttsOptions;
  /** Serve the plain MQTT listener (default true; set false when `mqtts` is the only way in). */
  mqttPlain?: boolean;
  /** How often the KGC's CRL is re-read and registry revocations are polled. Default 5 s. */
  revocationPollMs?: number;
  http?: { host?: string; port?: number };
  /** The ledger to anchor on; without it checkpoints stay in the outbox. */
  /** `confirmations`: blocks after the including one (default 0: BFT-final); `maxBackoffMs`: retry ceiling (default 30 s). */
  ledger?: {
    rpcUrl: string;
    deployment: Deployment;
    privateKey: Hex;
    confirmations?: number;
    maxBackoffMs?: number;
  };
  checkpointIntervalMs?: number;
  retentionMs?: number;
  /** How often enrolments and revocations are re-read from the store. Default 2 s. */
  deviceRefreshMs?: number;
  /**
   * The KGC's directory of issued device certificates (config `kgc.issuedDir`), for a
   * gateway whose data dir is not the KGC's: its certificates are imported at start and
   * followed (io/enrolment-follow). Default: none (enrolments come from `kgc enroll` on
   * this data dir only).
   */
  kgcIssuedDir?: string;
  /** How often `kgcIssuedDir` is re-read. Default 5 s. */
  enrolmentPollMs?: number;
  logger?: Logger;
  /** Serial ports, each bound to the device(s) allowed on it (PROTOCOL.md §2 "Serial"). */
  serial?: SerialPortConfig[];
  wardName?: string;
  /** External-broker mode (io/mqtt-client-ingest): no embedded broker; `mqtt` is ignored. */
  externalBroker?: ExternalBrokerOptions;
  /** Bearer token required by `/metrics` (read from a file by the config); default: open. */
  metricsToken?: string;
}

export interface RunningGateway {
  gatewayId: string;
  origin: string;
  logId: Hex;
  store: GatewayStore;
  ingest: Ingest;
  hub: LiveHub;
  /** The embedded broker (see RunningExternalGateway for external-broker mode). */
  broker: EmbeddedBroker;
  external: null;
  metrics: GatewayMetrics;
  http: HttpServer;
  anchorer: Anchorer | null;
  serial: SerialIngest | null;
  /** C2SP verifier key of the signed checkpoints (key name = origin). */
  checkpointVkey: string;
  devices: DeviceRegistry;
  /** Alarms and NEWS2 of the ward (io/alarm-service). */
  alarms: AlarmService;
  stop(): Promise<void>;
}

/** A gateway in external-broker mode: no embedded broker, an MQTT 5 client instead. */
export interface RunningExternalGateway extends Omit<RunningGateway, 'broker' | 'external'> {
  broker: null;
  external: ExternalMqttIngest;
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
export async function startGateway(
  opts: GatewayOptions & { externalBroker?: undefined },
): Promise<RunningGateway>;
export async function startGateway(
  opts: GatewayOptions & { externalBroker: ExternalBrokerOptions },
): Promise<RunningExternalGateway>;
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway | RunningExternalGateway>;
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway | RunningExternalGateway> {
  const log = opts.logger ?? createLogger();
  const paths = dataPaths(opts.dataDir);
  if (!existsSync(paths.kgcRootCert)) {
    throw new VitalTrailError(
      'config_invalid',
      'no KGC root certificate in the data directory: run `vitaltrail kgc init`',
    );
  }
  if (opts.kgcIssuedDir !== undefined && !isDirectory(opts.kgcIssuedDir)) {
    throw new VitalTrailError('config_invalid', 'kgc.issuedDir is not a directory');
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
  const identity = createIdentity({
    paths,
    store,
    log,
    ...(opts.mqtts ? { mqtts: opts.mqtts } : {}),
    ...(opts.ledger ? { chain: { rpcUrl: opts.ledger.rpcUrl, deployment: opts.ledger.deployment } } : {}),
    ...(opts.revocationPollMs ? { revocationPollMs: opts.revocationPollMs } : {}),
  });
  const devices = identity.devices;
  devices.refresh();
  for (const d of store.listDevices()) hub.addDevice(d.dev);

  let broker: EmbeddedBroker | null = null;
  let alarms: AlarmService | null = null;
  let external: ExternalMqttIngest | null = null;
  let metrics: GatewayMetrics | undefined;
  const ingest = new MeteredIngest({
    store,
    lookup: (dev) => devices.lookup(dev),
    recipients: watchRecipients(paths.recipientsDir),
    policy: { retentionMs: opts.retentionMs ?? DEFAULT_RETENTION_MS },
    hub,
    onReject: (r, transportDev) => {
      // The audit log (identity.onReject) is the record of every rejection; the
      // operational log carries them only at debug level, so a flood of bad frames
      // is not written twice.
      log.debug('frame rejected', { dev: transportDev, seq: r.seq, code: r.code });
      identity.onReject(r, transportDev);
      alarms?.recordReject(transportDev, r.code);
      (broker ?? external)?.sendReject(transportDev, r);
    },
    metrics: () => metrics,
  });
  const activeDevices = (): number =>
    hub.snapshot().filter((t) => t.last !== null && Date.now() - t.last.receivedAt < 60_000).length;
  const ready = (): boolean => ingest.healthy && (broker !== null || (external?.connectedLanes() ?? 0) > 0);
  metrics = new GatewayMetrics({
    store,
    dbPath: paths.db,
    connectedDevices: () => broker?.connectedClients() ?? activeDevices(),
    ready,
  });

  // Devices the KGC enrolled elsewhere: known before the first frame is taken.
  let follower: EnrolmentFollower | null = null;
  if (opts.kgcIssuedDir !== undefined) {
    follower = createEnrolmentFollower({
      dir: opts.kgcIssuedDir,
      devices,
      log,
      ...(identity.isKeyRevoked ? { isKeyRevoked: identity.isKeyRevoked } : {}),
      ...(opts.enrolmentPollMs ? { intervalMs: opts.enrolmentPollMs } : {}),
      onImported: (dev, replaced) => {
        hub.addDevice(dev);
        metrics?.enrolmentsImported.inc();
        identity.audit.append('device_enrolled', {
          dev,
          source: 'kgc_issued_dir',
          ...(replaced ? { detail: 're-enrolment' } : {}),
        });
      },
      onSkipped: (code) => metrics?.enrolmentsSkipped.inc({ code }),
    });
    await identity.refreshCrl(); // a serial on the CRL is never imported, not even for a moment
    await follower.scan();
    follower.start();
  }

  if (opts.externalBroker) {
    external = await startExternalIngest({
      ...opts.externalBroker,
      ingest,
      onLinkError: (lane, err) =>
        log.warn('external broker link', { lane, code: err instanceof VitalTrailError ? err.code : 'link' }),
    });
  } else {
    broker = await startEmbeddedBroker({
      ingest,
      host: opts.mqtt?.host ?? '127.0.0.1',
      port: opts.mqtt?.port ?? 0,
      ...identity.brokerOptions,
      ...(opts.mqttPlain === false ? { plain: false } : {}),
    });
    identity.attachBroker(broker);
  }
  const serial = opts.serial?.length
    ? startSerialIngest({
        ingest,
        ports: opts.serial,
        onState: (port, state) => (state === 'open' ? log.info : log.warn)('serial port', { port, state }),
      })
    : null;

  const notes = new CheckpointNotes(store);
  const signer = loadCheckpointSigner(paths, origin);
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
      notes,
      signer,
      ...(opts.ledger.maxBackoffMs !== undefined ? { maxBackoffMs: opts.ledger.maxBackoffMs } : {}),
      onError: (err) =>
        log.warn('anchoring failed; will retry', {
          code: err instanceof VitalTrailError ? err.code : 'unknown',
        }),
    });
    await anchorer.start();
  }

  const alarmService = new AlarmService({
    db: store.db,
    hub,
    storageHealthy: () => ingest.healthy,
    anchoring: () => anchorer?.status() ?? null,
    audit: (e) => {
      const event = e.type === 'alarm' ? (`alarm_${e.event}` as AuditEventType) : e.type;
      log.info('audit', { event, dev: e.dev, user: e.user });
      identity.audit.append(event, {
        dev: e.dev,
        ...(e.user !== undefined ? { user: e.user } : {}),
        ...(e.type === 'alarm' ? { code: e.code, detail: `${e.priority} ${e.alarmId}` } : {}),
      });
    },
  });
  alarms = alarmService;
  const secrets = loadRecipientSecrets(paths.recipientsDir);
  const bindings = new Bindings(store, { secrets });
  for (const b of bindings.beds()) hub.setLabel(b.dev, b.bed);
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
    audit: (e) => {
      log.info('audit', { event: e.type, user: 'username' in e ? e.username : undefined });
      identity.httpAudit(e);
    },
    liveExtras: alarmService,
    routes: [
      alarmRoutes({ alarms: alarmService, hub }),
      logRoutes({ store, notes, anchoring: () => anchorer?.status() ?? null }),
      auditorRoutes(),
      opsRoutes({ metrics, ready, ...(opts.metricsToken ? { token: opts.metricsToken } : {}) }),
      createDataRoutes({
        store,
        bindings,
        secrets,
        hub,
        onAudit: (e) => {
          log.info('audit', { event: e.type, user: e.username, dev: e.dev, route: e.route });
          identity.audit.append(e.type, {
            user: e.username,
            ...(e.dev !== undefined ? { dev: e.dev } : {}),
            detail: e.route,
          });
        },
      }),
    ],
  });

  // Readings to InfluxDB for Grafana (ARCHITECTURE.md: production sink), off by default.
  let influx: InfluxSink | null = null;
  let bedRefresh: (() => void) | null = null;
  let unsubscribeInflux: (() => void) | null = null;
  if (opts.influx) {
    const sink = new InfluxSink({
      ...opts.influx,
      recipients,
      spillFile: join(paths.gatewayDir, 'influx-spill.jwe'),
      onAlarm: (a) => log.warn('influx sink', { state: a }),
    });
    influx = sink;
    // Beds are the sink's only patient-side tag; re-read with the device refresh below.
    let beds = new Map(bindings.beds().map((b) => [b.dev, b.bed]));
    bedRefresh = () => {
      beds = new Map(bindings.beds().map((b) => [b.dev, b.bed]));
    };
    unsubscribeInflux = hub.subscribe((r) => {
      const bed = beds.get(r.dev);
      sink.write({
        dev: r.dev,
        ts: r.ts,
        obs: r.obs,
        ...(bed ? { bed } : {}),
        ...(r.bat !== undefined ? { bat: r.bat } : {}),
      });
    });
  }

  const refresh = setInterval(() => {
    try {
      devices.refresh();
      for (const dev of devices.known()) hub.addDevice(dev);
      bedRefresh?.();
    } catch (err) {
      log.warn('device refresh failed', { code: err instanceof VitalTrailError ? err.code : 'unknown' });
    }
  }, opts.deviceRefreshMs ?? 2000);
  refresh.unref();
  identity.audit.append('gateway_started', {
    detail: `${gatewayId} mqtt=${broker?.url ?? external?.url ?? '-'} mqtts=${broker?.tlsUrl ?? '-'}`,
  });

  log.info('gateway started', {
    gateway: gatewayId,
    mqtt: broker?.url ?? external?.url,
    mqtts: broker?.tlsUrl,
    http: http.url,
    logSize: store.size,
  });

  let stopped = false;
  const running = {
    gatewayId,
    origin,
    logId,
    store,
    ingest,
    hub,
    broker,
    external,
    metrics,
    http,
    anchorer,
    serial,
    checkpointVkey: signer.vkey,
    devices,
    alarms: alarmService,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(refresh);
      follower?.stop();
      // Graceful: stop taking frames, answer those in flight, cut a last checkpoint.
      await broker?.close();
      await external?.close();
      await serial?.close();
      await ingest.drain();
      unsubscribeInflux?.();
      await influx?.close();
      await http.close();
      if (anchorer) {
        await anchorer.flush();
        await anchorer.stop();
      }
      alarmService.stop();
      identity.audit.append('gateway_stopped', { detail: gatewayId });
      identity.stop();
      store.close();
      log.info('gateway stopped', { gateway: gatewayId });
    },
  };
  return running as RunningGateway | RunningExternalGateway;
}
