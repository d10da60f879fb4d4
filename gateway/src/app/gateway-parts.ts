/**
 * @module app/gateway-parts
 * The parts the gateway's start steps make (app/gateway-steps), by name, and what several
 * steps ask of them (readiness, an error's code for a log line).
 */
import type { Hex } from '../../../anchor/src/ledger/index.js';
import type { Recipient } from '../core/envelope.js';
import {
  type HealthInputs,
  type PublicHealth,
  publicHealth,
  type Readiness,
  readiness,
} from '../core/health.js';
import type { LiveHub } from '../core/live.js';
import type { SessionRole } from '../core/live-contract.js';
import type { AccessAnchoring } from '../io/access/index.js';
import type {
  Anchorer,
  ChainCalls,
  Checkpointer,
  CheckpointNotes,
  CheckpointSigner,
} from '../io/anchoring/index.js';
import type { BreakGlassAlarms, ClinicianBar } from '../io/care/index.js';
import type { AlarmService } from '../io/clinical/index.js';
import type { HttpRoutes, HttpServer, WardAccess } from '../io/http/index.js';
import type { EnrolmentFollower, Identity, UserDirectory } from '../io/identity/index.js';
import type { Ingest, RetentionShredder } from '../io/ingest/index.js';
import type { DeliveryWorker, Pcd05Listener } from '../io/interfaces/index.js';
import type { DataDirLock, DataPaths, GatewayMetrics, Logger } from '../io/ops/index.js';
import type { InfluxSink } from '../io/outbound/index.js';
import type { PgPeers } from '../io/shared/index.js';
import type { BindingBook, GatewayStore } from '../io/store/index.js';
import type { EmbeddedBroker, ExternalMqttIngest, LiveStream, SerialIngest } from '../io/transport/index.js';
import { DEFAULT_ANCHORING_STALL_MS, type GatewayOptions } from './options.js';
import { Parts, type Step } from './steps.js';

/** Every part a step makes, by name (absent optional components are `null`). */
export interface GatewayPartMap {
  opts: GatewayOptions;
  log: Logger;
  staticDir: string;
  paths: DataPaths;
  /** The instance lock this gateway took (null when the caller holds it). */
  ownLock: DataDirLock | null;
  recipients: Recipient[];
  gatewayId: string;
  origin: string;
  logId: Hex;
  store: GatewayStore;
  /** Every call to the chain, aborted at stop (io/anchoring/chain-calls). */
  chainCalls: ChainCalls;
  identity: Identity;
  hub: LiveHub;
  ingest: Ingest;
  metrics: GatewayMetrics;
  /** Crypto-shredding while running (app/retention-steps), null when not configured. */
  retention: RetentionShredder | null;
  notes: CheckpointNotes;
  signer: CheckpointSigner;
  anchorer: Anchorer | null;
  /** Cuts signed checkpoints into the outbox when no ledger is configured (then `anchorer` is null). */
  checkpointer: Checkpointer | null;
  /** The dashboard accounts (the users file, or the group's shared PostgreSQL directory). */
  users: UserDirectory;
  /** Closes `users` (the shared directory's pool and listener). */
  closeUsers: () => Promise<void>;
  /** Ships the audit log's last lines to the group's chain and closes the shipper (a no-op for a lone gateway). */
  closeAuditShipper: () => Promise<void>;
  alarms: AlarmService;
  /** The admissions (this data dir's SQLite store, or the group's shared PostgreSQL book). */
  bindings: BindingBook;
  /** Stops reacting to binding changes and closes `bindings` (the shared book's pool and listener). */
  closeBindings: () => Promise<void>;
  /** Closes the group's alarm ledger (a no-op for a lone gateway). */
  closeAlarmLedger: () => Promise<void>;
  /** Closes the sessions kept beyond memory (the group's pool, or the data dir's `SqliteSessions`). */
  closeSharedSessions: () => Promise<void>;
  /** In a group, the other gateways (app/ward-steps `http`, once listening; the data and care routes ask them). */
  groupPeers: PgPeers;
  /** The access log and what checkpoints or anchors it (app/care-steps `accessLog`; issue 18). */
  access: AccessAnchoring;
  /** Appends a ward-team view to the access log (app/care-steps; the data routes' `onAccess`). */
  wardAccess: (a: WardAccess) => Promise<void>;
  /** The ward team's clinicians suspended on the chain (app/care-steps). */
  clinicianBar: ClinicianBar;
  /** A look at the ward's live board, for the access log (app/care-steps). */
  wardView: (s: { username: string; role: SessionRole }) => Promise<void>;
  /** The doctors' and patients' routes (app/care-steps), served by the http step. */
  careRoutes: HttpRoutes;
  /** Stops the consent copy's reads and the pseudonym index (app/care-steps). */
  closeCare: () => Promise<void>;
  /** Where the central station shows break-glass openings (app/care-steps; the alarms' `scopedConditions`). */
  breakGlassAlarms: BreakGlassAlarms;
  http: HttpServer;
  influx: InfluxSink | null;
  influxUnsubscribe: () => void;
  /** The outbound interfaces' delivery workers (issue 19), one per configured receiver. */
  outbound: Pick<DeliveryWorker<unknown>, 'name' | 'start' | 'stop' | 'cursor'>[];
  /** The MLLP listener for the alarm manager's IHE PCD-05 acknowledgements, when configured. */
  pcd05: Pcd05Listener | null;
  follower: EnrolmentFollower | null;
  broker: EmbeddedBroker | null;
  external: ExternalMqttIngest | null;
  /** The internal live stream through the broker (issue 16): feeds the hub of every gateway. */
  liveStream: LiveStream;
  serial: SerialIngest | null;
  /** Re-reads what the device refresh keeps current besides the registry (the sink's beds). */
  onDeviceRefresh: Array<() => void>;
  refreshTimer: NodeJS.Timeout;
  /** Stops listening to the embedded chain's watchdog (set only when there is one). */
  chainWatchUnsubscribe: () => void;
}

export class GatewayParts extends Parts<GatewayPartMap> {}

export type GatewayStep = Step<GatewayParts>;

/** An error's code for a log line: protocol/errors `logCode`, under the name the steps use. */
export { logCode as code } from '../protocol/errors.js';

/** What core/health judges, read from the parts now. */
function healthInputs(p: GatewayParts): HealthInputs {
  const broker = p.find('broker');
  const external = p.find('external');
  const opts = p.get('opts');
  const anchorer = p.find('anchorer') ?? null;
  return {
    storeOk: p.get('ingest').healthy,
    // Behind an external broker: a lane connected and heard from the broker within 1.5 × its keepalive.
    mqttUp: Boolean(broker) || (external?.liveLanes() ?? 0) > 0,
    anchoring: anchorer ? anchorer.status() : null,
    chainUp: opts.chainWatch ? opts.chainWatch.up : null,
    stallMs: opts.ledger?.stallMs ?? DEFAULT_ANCHORING_STALL_MS,
  };
}

/**
 * `/readyz`: the store commits, the MQTT side is up (embedded listener, or a lane to the
 * broker that it answered within 1.5 × the keepalive) and anchoring makes progress (core/health).
 */
export function readinessOf(p: GatewayParts): Readiness {
  return readiness(healthInputs(p));
}

/** `/healthz`'s component fields (core/health): words only. */
export function publicHealthOf(p: GatewayParts): PublicHealth {
  return publicHealth(healthInputs(p));
}
