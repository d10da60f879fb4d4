/**
 * @module app/options
 * What a gateway is started with (`GatewayOptions`: from the config file through
 * app/config, from the CLI, or from tests) and what a running gateway exposes. Defaults
 * are named here once.
 */
import type { Deployment, Hex } from '../../../anchor/src/ledger/index.js';
import type { MqttLimits } from '../core/ingress-limits.js';
import type { LiveHub } from '../core/live.js';
import type { Anchorer, ChainWatch } from '../io/anchoring/index.js';
import type { AlarmService } from '../io/clinical/index.js';
import type { HttpServer } from '../io/http/index.js';
import type { DeviceRegistry, MqttsOptions } from '../io/identity/index.js';
import type { Ingest, RetentionShredder } from '../io/ingest/index.js';
import type { DataDirLock, GatewayMetrics, Logger } from '../io/ops/index.js';
import type { BindingBook, GatewayStore } from '../io/store/index.js';
import type {
  EmbeddedBroker,
  ExternalBrokerOptions,
  ExternalMqttIngest,
  SerialIngest,
  SerialPortConfig,
} from '../io/transport/index.js';

export const DEFAULT_GATEWAY_ID = 'gw-1';
/** Frames older than this are `too_old` (PROTOCOL.md §1 "retention horizon"). */
export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 10_000;
/** `/readyz` answers 503 `anchoring_stalled` when the oldest checkpoint in the outbox is older (core/health). */
export const DEFAULT_ANCHORING_STALL_MS = 120_000;

export interface GatewayOptions {
  dataDir: string;
  /** Optional InfluxDB v2 sink of readings (pseudonymous tags: device and bed). Off by default. */
  influx?: { url: string; org: string; bucket: string; token?: string };
  /**
   * Outbound interfaces into the hospital's systems (issue 19; io/interfaces): HL7 v2 IHE
   * PCD-01 over MLLP and FHIR R4 push, each with its durable delivery cursor. Off by default.
   */
  outbound?: OutboundOptions;
  gatewayId?: string;
  mqtt?: { host?: string; port?: number };
  /** The mutual-TLS MQTT listener (io/identity); without it only the plain listener runs. */
  mqtts?: MqttsOptions;
  /** Serve the plain MQTT listener (default true; set false when `mqtts` is the only way in). */
  mqttPlain?: boolean;
  /** The embedded broker's limits (README "Security" → "Limits"); default `DEFAULT_MQTT_LIMITS`. */
  mqttLimits?: MqttLimits;
  /** How often the KGC's CRL is re-read and registry revocations are polled. Default 5 s. */
  revocationPollMs?: number;
  /**
   * The dashboard server: `tls` (PEM certificate chain and key: the gateway's KGC certificate
   * or the hospital's) serves it over HTTPS, the live socket as wss and the operations
   * endpoints on the same listener (default plain HTTP); `secureCookies` default on with
   * `tls` or unless `host` is loopback; `passwordThreads` (default 1) and `passwordQueue`
   * (default 4) bound sign-in hashing; `downloads` (default 2) bounds the downloads (ECG,
   * FHIR export, disclosure bundle) made at once, one per user; `maxReadings` (default
   * 100,000) bounds the frames one readings answer may carry (422 `too_many_readings`).
   */
  http?: {
    host?: string;
    port?: number;
    tls?: { cert: string | Buffer; key: string | Buffer };
    secureCookies?: boolean;
    passwordThreads?: number;
    passwordQueue?: number;
    downloads?: number;
    maxReadings?: number;
  };
  /** The ledger to anchor on; without it checkpoints stay in the outbox. */
  /**
   * `confirmations`: blocks after the including one (default 0: BFT-final); `maxBackoffMs`:
   * retry ceiling (default 30 s); `stallMs`: `/readyz` answers 503 `anchoring_stalled` when the
   * oldest checkpoint in the outbox is older than this (default `DEFAULT_ANCHORING_STALL_MS`, 2 min).
   */
  ledger?: {
    rpcUrl: string;
    deployment: Deployment;
    privateKey: Hex;
    confirmations?: number;
    maxBackoffMs?: number;
    stallMs?: number;
    /**
     * How long a stop waits for the chain (the last checkpoints' anchors) before it aborts every
     * call still in flight; default `DEFAULT_CHAIN_STOP_MS` (5 s). The checkpoints not anchored
     * wait in the outbox for the next start.
     */
    stopTimeoutMs?: number;
    /**
     * How long the start waits for each first read of the chain (the anchorers' reconcile, the
     * registry's device events, the consents and clinicians) before it goes on without it, the
     * read going on in the background; default 3 s. Until the anchorers' reconcile answers,
     * `/readyz` is 503 `ledger_unavailable`; frames are accepted all along.
     */
    firstContactMs?: number;
  };
  /**
   * The watchdog of an embedded chain (io/anchoring/chain-watchdog; the demo's anvil) that
   * `ledger` points at: while its node is down the health endpoints say `ledger_unavailable`,
   * and when it is back the anchorer resyncs with it. Default: none (an external ledger).
   */
  chainWatch?: ChainWatch;
  checkpointIntervalMs?: number;
  /** Frames whose device time is older than this are rejected `too_old` (PROTOCOL.md §1). */
  retentionMs?: number;
  /**
   * Crypto-shredding while the gateway runs (io/ingest/retention; config `shredAfterDays`): the
   * data keys of windows that ended this long ago are destroyed, with their shredding records
   * in the log. Default: none (the keys stay until `vitaltrail shred` with the gateway stopped).
   */
  shredAfterMs?: number;
  /** Between the shredder's turns once nothing is left to shred. Default 60,000 ms. */
  shredIntervalMs?: number;
  /**
   * The data keys' window (io/data-keys/ring), ms. Default and in production: one hour, which
   * `vitaltrail shred --window-minutes` must match; shorter only for tests of the shredding.
   */
  dataKeyWindowMs?: number;
  /**
   * Threads checking frame signatures (io/verify/verify-pool), always running; 0: every
   * signature in the event loop. Default: one per core, at most 4, run only while the load
   * asks for them (app/core-steps `verifyThreadsOf`).
   */
  verifyThreads?: number;
  /**
   * How many nice steps, 0-19, the verify threads run below the gateway (Linux;
   * io/verify/verify-pool-options `nice`): the event loop runs first when the cores are contended. Default `DEFAULT_VERIFY_NICE` (7).
   * The runtime's helper threads (V8's collector, libuv's pool) are put there too, by the
   * first gateway started in a process (app/helper-threads); 0 leaves every thread as it is.
   */
  verifyNice?: number;
  /**
   * V8 heap growing factor past the live set, in percent (app/heap): set once per process by
   * the first gateway started in it. Default `DEFAULT_HEAP_GROWING_PERCENT` (25); 0 = V8's own.
   */
  heapGrowingPercent?: number;
  /**
   * Rotate `DATA/gateway/audit.log` into an archive once it holds this many bytes (io/ops/
   * audit-rotation; the chain runs on across files). 0 = never. Default
   * `DEFAULT_AUDIT_ROTATE_BYTES` (64 MiB).
   */
  auditRotateBytes?: number;
  /** How often enrolments and revocations are re-read from the store. Default 2 s. */
  deviceRefreshMs?: number;
  /**
   * How often the consents and doctors on the chain are re-read (io/care `ConsentBook`, issue
   * 18). Default 10 s: a revocation or a suspension holds on every gateway within it.
   */
  consentRefreshMs?: number;
  /**
   * Break-glass (issue 18; config `care.breakGlassRoles`, `care.breakGlassMinutes`): the care
   * roles that may open a patient's record without a consent (default doctors) and for how
   * long an opening lasts (minutes, default 60).
   */
  breakGlass?: { roles?: readonly ('doctor' | 'patient')[]; minutes?: number };
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
  /** Times of day on the ward pages (default 24-hour). */
  wardClock?: '24h' | '12h';
  /** External-broker mode (io/mqtt-client-ingest): no embedded broker; `mqtt` is ignored. */
  externalBroker?: ExternalBrokerOptions;
  /** Bearer token required by `/metrics` (read from a file by the config); default: open. */
  metricsToken?: string;
  /**
   * The state the gateways of a group share (issue 16; io/shared): `postgres.url` (no
   * password inside) and `postgres.password` (from `shared.postgres.passwordFile`). Set:
   * the dashboard accounts and the admissions are the group's, in PostgreSQL. Default: none
   * (accounts in `DATA/gateway/users.json`, admissions in the data dir's SQLite store).
   */
  shared?: {
    /**
     * `queryTimeoutMs` and `closeTimeoutMs`: the bounds on one statement and on the close of
     * each shared part (io/shared `SharedPostgresOptions`; defaults 10 s and 2 s).
     */
    postgres: { url: string; password?: string; queryTimeoutMs?: number; closeTimeoutMs?: number };
    /** This gateway's dashboard URL as the others reach it (trends across gateways); default its listener's. */
    peerUrl?: string;
  };
  /**
   * The data directory's instance lock (io/ops/instance-lock), when the caller already took
   * it (the demo does, before it starts the embedded chain). Default: the gateway takes it
   * at start and releases it at stop; a running owner refuses the start (`data_dir_in_use`).
   */
  dataDirLock?: DataDirLock;
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
  /** The admissions (the data dir's SQLite store, or the group's shared PostgreSQL book). */
  bindings: BindingBook;
  /** Crypto-shredding while running (`shredAfterMs`); null when off. */
  retention: RetentionShredder | null;
  stop(): Promise<void>;
}

/** A gateway in external-broker mode: no embedded broker, an MQTT 5 client instead. */
export interface RunningExternalGateway extends Omit<RunningGateway, 'broker' | 'external'> {
  broker: null;
  external: ExternalMqttIngest;
}

/** The outbound interfaces (README "Into the hospital's systems"). */
export interface OutboundOptions {
  /** `intervalSeconds`: PCD-01 per interval (one message per device and interval) instead of per reading. */
  mllp?: {
    host: string;
    port: number;
    receivingApplication?: string;
    receivingFacility?: string;
    intervalSeconds?: number;
  };
  fhir?: { url: string; token?: string; patientSystem?: string };
  /**
   * IHE PCD ACM: alarm transitions to an alarm manager as PCD-04 (`host`, `port`), and the
   * gateway's MLLP listener for its PCD-05 acknowledgements (`listen`).
   */
  acm?: {
    host?: string;
    port?: number;
    receivingApplication?: string;
    receivingFacility?: string;
    listen?: { host: string; port: number; allowFrom: readonly string[] };
  };
  /** The alarm webhook and its signed acknowledgement callback (`POST /api/outbound/webhook/ack`). */
  webhook?: { url: string; secret: string };
  /** Where a receiver seen for the first time starts (default `now`). */
  start?: 'now' | 'history';
  /** Readings per delivery round (default 50). */
  batch?: number;
  /** Idle poll interval of the workers, ms (default 250). */
  pollMs?: number;
}
