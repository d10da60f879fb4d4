/**
 * @module io/http/metrics-routes
 * Operations endpoints of the gateway (issue "production shape"):
 * - `GET /metrics`: Prometheus text format (core/metrics). Counts, sizes and latencies
 *   only, never device payloads. Optionally protected by a bearer token (read from a file
 *   by the config, never from argv).
 * - `GET /livez`: 200 while the process serves HTTP (restart it when this fails).
 * - `GET /readyz`: 200 when the store commits (no failed commit since the last good one)
 *   and the MQTT side is up (embedded listener bound, or at least one lane connected to the
 *   external broker); 503 `not_ready` otherwise (take it out of rotation, do not restart).
 *
 * Series: `vitaltrail_frames_accepted_total`, `vitaltrail_frames_duplicate_total`,
 * `vitaltrail_frames_rejected_total{code}`, `vitaltrail_ack_latency_seconds` (histogram,
 * submit → durable or final decision, i.e. what the transport waits before its ack),
 * `vitaltrail_anchoring_lag_seconds` (age of the oldest checkpoint not yet anchored, 0 when
 * none), `vitaltrail_outbox_depth`, `vitaltrail_connected_devices`, `vitaltrail_store_bytes`,
 * `vitaltrail_log_size`, `vitaltrail_ready`, and the KGC issued directory's imports
 * (io/enrolment-follow; 0 without `kgc.issuedDir`): `vitaltrail_enrolments_imported_total`,
 * `vitaltrail_enrolments_skipped_total{code}`.
 */
import { timingSafeEqual } from 'node:crypto';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  Counter,
  Gauge,
  Histogram,
  type Metric,
  PROMETHEUS_CONTENT_TYPE,
  renderExposition,
} from '../../core/metrics.js';
import { Ingest, type IngestOptions, type IngestResult } from '../ingest/ingest.js';
import type { GatewayStore } from '../store/store.js';
import type { HttpRoutes } from './server.js';

/** Ack latency buckets in seconds: group commit sits between ~1 ms and a few hundred ms. */
export const ACK_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface GatewayMetricsSources {
  store: GatewayStore;
  /** Path of the SQLite file; `-wal` and `-shm` next to it are counted too. */
  dbPath: string;
  /** Devices connected to the embedded broker, or active behind an external one. */
  connectedDevices: () => number;
  ready: () => boolean;
  now?: () => number;
}

/** The gateway's metric registry. */
export class GatewayMetrics {
  readonly accepted = new Counter('vitaltrail_frames_accepted_total', 'Frames accepted and stored durably.');
  readonly duplicates = new Counter(
    'vitaltrail_frames_duplicate_total',
    'Frames identical to an accepted (dev, seq): acknowledged, not stored twice.',
  );
  readonly rejected = new Counter(
    'vitaltrail_frames_rejected_total',
    'Frames rejected, by PROTOCOL.md code.',
  );
  readonly ackLatency = new Histogram(
    'vitaltrail_ack_latency_seconds',
    'Time from submit to durable commit (or final decision) of a frame.',
    ACK_LATENCY_BUCKETS,
  );
  readonly enrolmentsImported = new Counter(
    'vitaltrail_enrolments_imported_total',
    "Device certificates imported from the KGC's issued directory (kgc.issuedDir): new devices and re-enrolments.",
  );
  readonly enrolmentsSkipped = new Counter(
    'vitaltrail_enrolments_skipped_total',
    "Files in the KGC's issued directory that are not a device certificate of this KGC valid now, by code.",
  );
  readonly #all: Metric[];

  constructor(src: GatewayMetricsSources) {
    const now = src.now ?? Date.now;
    const fileSize = (p: string): number => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    this.#all = [
      this.accepted,
      this.duplicates,
      this.rejected,
      this.ackLatency,
      new Gauge(
        'vitaltrail_anchoring_lag_seconds',
        'Age of the oldest checkpoint not yet anchored on the ledger (0 when none).',
        () => {
          const oldest = src.store.pendingCheckpoints()[0];
          return oldest ? Math.max(0, (now() - oldest.createdAt) / 1000) : 0;
        },
      ),
      new Gauge(
        'vitaltrail_outbox_depth',
        'Checkpoints in the anchoring outbox.',
        () => src.store.pendingCheckpoints().length,
      ),
      new Gauge(
        'vitaltrail_connected_devices',
        'Devices connected (embedded broker) or active in the last minute (external broker).',
        src.connectedDevices,
      ),
      new Gauge(
        'vitaltrail_store_bytes',
        'Bytes of the SQLite store (database, WAL and shared memory files).',
        () => ['', '-wal', '-shm'].reduce((n, s) => n + fileSize(`${src.dbPath}${s}`), 0),
      ),
      new Gauge('vitaltrail_log_size', 'Leaves in the transparency log.', () => src.store.size),
      new Gauge('vitaltrail_ready', '1 when /readyz answers 200.', () => (src.ready() ? 1 : 0)),
      this.enrolmentsImported,
      this.enrolmentsSkipped,
    ];
  }

  /** Counts one outcome and its latency. */
  record(r: IngestResult, seconds: number): void {
    this.ackLatency.observe(seconds);
    if (r.status === 'accepted') this.accepted.inc();
    else if (r.status === 'duplicate') this.duplicates.inc();
    else this.rejected.inc({ code: r.code });
  }

  render(): string {
    return renderExposition(this.#all);
  }
}

/** The ingest pipeline, timing and counting every frame for `/metrics`. */
export class MeteredIngest extends Ingest {
  readonly #metrics: () => GatewayMetrics | undefined;
  /** `metrics` is a getter: the registry may be created after the pipeline. */
  constructor(opts: IngestOptions & { metrics: () => GatewayMetrics | undefined }) {
    const { metrics, ...rest } = opts;
    super(rest);
    this.#metrics = metrics;
  }
  override submit(bytes: Uint8Array, transportDev: string): Promise<IngestResult> {
    const t0 = performance.now();
    return super.submit(bytes, transportDev).then((r) => {
      this.#metrics()?.record(r, (performance.now() - t0) / 1000);
      return r;
    });
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = Buffer.from(header.slice(7));
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The `/metrics`, `/livez` and `/readyz` routes.
 * @param opts.token when set, `/metrics` needs `Authorization: Bearer <token>` (401 otherwise)
 * @example
 * startHttpServer({ …, routes: [opsRoutes({ metrics, ready: () => ingest.healthy })] });
 */
export function opsRoutes(opts: {
  metrics: GatewayMetrics;
  ready: () => boolean;
  token?: string;
}): HttpRoutes {
  return (app) => {
    app.get('/livez', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      return { status: 'ok' };
    });
    app.get('/readyz', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      if (opts.ready()) return { status: 'ok' };
      return reply
        .code(503)
        .send({ error: { code: 'not_ready', reason: 'the store or the MQTT side is not up' } });
    });
    app.get('/metrics', async (req, reply) => {
      reply.header('cache-control', 'no-store');
      if (opts.token !== undefined && !tokenMatches(req.headers.authorization, opts.token)) {
        return reply
          .code(401)
          .send({ error: { code: 'unauthenticated', reason: 'a metrics token is required' } });
      }
      reply.type(PROMETHEUS_CONTENT_TYPE);
      return opts.metrics.render();
    });
  };
}
