/**
 * @module io/ops/metrics
 * The gateway's metric registry (served as Prometheus text by io/http/routes/metrics-routes).
 * Counts, sizes and latencies only, never device payloads. Frame outcomes arrive as the
 * ingest pipeline's `outcome` events (io/ingest/ingest); gauges read the store and the
 * transport when scraped.
 *
 * Series: `vitaltrail_frames_accepted_total`, `vitaltrail_frames_duplicate_total`,
 * `vitaltrail_frames_rejected_total{code}`, `vitaltrail_ack_latency_seconds` (histogram,
 * submit → durable or final decision, i.e. what the transport waits before its ack),
 * `vitaltrail_anchoring_lag_seconds` (age of the oldest checkpoint not yet anchored, 0 when
 * none), `vitaltrail_outbox_depth`, `vitaltrail_connected_devices`, `vitaltrail_store_bytes`,
 * `vitaltrail_store_free_bytes`,
 * `vitaltrail_log_size`, `vitaltrail_ready`, and the KGC issued directory's imports
 * (io/identity/enrolment-follow; 0 without `kgc.issuedDir`): `vitaltrail_enrolments_imported_total`,
 * `vitaltrail_enrolments_skipped_total{code}`, and the embedded chain's watchdog
 * (io/anchoring/chain-watchdog; 0 without an embedded chain):
 * `vitaltrail_chain_restarts_total{outcome}`, and per running outbound interface (issue 19,
 * io/interfaces `deliveryStatus`, read from the store once per scrape; no series without
 * one): `vitaltrail_outbound_pending{receiver}`,
 * `vitaltrail_outbound_oldest_pending_seconds{receiver}` (absent when nothing is pending),
 * `vitaltrail_outbound_delivered_total{receiver}`, `vitaltrail_outbound_consecutive_failures{receiver}`,
 * `vitaltrail_outbound_dead_letters{receiver}`,
 * `vitaltrail_outbound_last_success_timestamp_seconds{receiver}` (absent before a first success);
 * of the internal live stream (issue 16): `vitaltrail_live_stream_readings_total{event}` and
 * `vitaltrail_live_stream_messages_lost_total{reason}`; of the data keys (issue 14):
 * `vitaltrail_data_keys_made_total{made}` and `vitaltrail_ingest_waiting_for_key`.
 */
import { statSync } from 'node:fs';
import {
  Counter,
  Gauge,
  Histogram,
  type LabelledSample,
  type Metric,
  renderExposition,
  SampledMetric,
} from '../../core/metrics.js';

/** A frame's outcome as counted (io/ingest `IngestResult`, of which only these fields matter). */
export type CountedOutcome =
  | { status: 'accepted' }
  | { status: 'duplicate' }
  | { status: 'rejected'; code: string };

/** Where outcomes come from: the ingest pipeline's `outcome` event (io/ingest/ingest). */
export interface OutcomeSource {
  on(event: 'outcome', listener: (r: CountedOutcome, seconds: number) => void): unknown;
  off(event: 'outcome', listener: (r: CountedOutcome, seconds: number) => void): unknown;
}

/** What the gauges read from the store (io/store/store `GatewayStore`). */
export interface MetricsStore {
  readonly size: number;
  pendingCheckpoints(): readonly { createdAt: number }[];
}

/** What the outbound series read of one receiver (io/interfaces `OutboundStatus`; times in ms). */
export interface OutboundDelivery {
  receiver: string;
  pending: number;
  oldestPendingSeconds: number | null;
  delivered: number;
  lastOkAt: number | null;
  failures: number;
  deadLetters: number;
}

/** Ack latency buckets in seconds: group commit sits between ~1 ms and a few hundred ms. */
export const ACK_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface GatewayMetricsSources {
  store: MetricsStore;
  /** Path of the SQLite file; `-wal` and `-shm` next to it are counted too. */
  dbPath: string;
  /** Bytes of the database's free pages (io/store `freeBytes`); no `vitaltrail_store_free_bytes` without it. */
  freeBytes?: () => number;
  /** Devices connected to the embedded broker, or active behind an external one. */
  connectedDevices: () => number;
  ready: () => boolean;
  /** Frames in the ingest pipeline (io/ingest `Ingest.pipeline`); the gauges read 0 without it. */
  pipeline?: () => { verifying: number; uncommitted: number; verifyThreads: number };
  /** The data keys made (io/ingest `Ingest.dataKeys`); no `vitaltrail_data_keys_*` series without it. */
  dataKeys?: () => { made: number; madeAhead: number; parked: number };
  /**
   * The delivery state of the outbound interfaces that run (io/interfaces `deliveryStatus`),
   * read once per scrape; no `vitaltrail_outbound_*` series without it.
   */
  outbound?: () => Promise<readonly OutboundDelivery[]>;
  /** The internal live stream's counts (io/transport `LiveStream.stats`), when it runs. */
  liveStream?: () => LiveStreamCounts | null;
  /** The shredding while running (io/ingest `RetentionShredder.stats`), when it is on. */
  retention?: () => RetentionCounts | null;
  now?: () => number;
}

/** What the retention series read (io/ingest `RetentionStats`). */
export interface RetentionCounts {
  keys: number;
  records: number;
  frames: number;
  deleted: number;
  failures: number;
}

/** What the live-stream series read (io/transport `LiveStreamStats`). */
export interface LiveStreamCounts {
  publishedReadings: number;
  received: number;
  duplicates: number;
  dropped: number;
  malformed: number;
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
  readonly chainRestarts = new Counter(
    'vitaltrail_chain_restarts_total',
    "Restarts of the embedded chain's node after it died, by outcome: restarted, failed (another attempt follows).",
  );
  readonly #all: Metric[];
  readonly #readOutbound: () => Promise<readonly OutboundDelivery[]>;
  /** The outbound delivery state of the scrape being rendered (read once for its six series). */
  #outbound: readonly OutboundDelivery[] = [];

  constructor(src: GatewayMetricsSources) {
    this.#readOutbound = src.outbound ?? (async () => []);
    /** One series per receiver, left out where `value` is unknown (null). */
    const perReceiver = (value: (o: OutboundDelivery) => number | null) => (): LabelledSample[] =>
      this.#outbound.flatMap((o) => {
        const v = value(o);
        return v === null ? [] : [{ labels: { receiver: o.receiver }, value: v }];
      });
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
      new SampledMetric(
        'vitaltrail_store_free_bytes',
        'Bytes of the SQLite database on its free list (what crypto-shredding deleted), written again by new frames.',
        'gauge',
        () => (src.freeBytes ? [{ labels: {}, value: src.freeBytes() }] : []),
      ),
      new Gauge('vitaltrail_log_size', 'Leaves in the transparency log.', () => src.store.size),
      new Gauge('vitaltrail_ready', '1 when /readyz answers 200.', () => (src.ready() ? 1 : 0)),
      new Gauge(
        'vitaltrail_ingest_verifying',
        'Frames whose signature is being checked (verify pool), not yet answered.',
        () => src.pipeline?.().verifying ?? 0,
      ),
      new Gauge(
        'vitaltrail_ingest_uncommitted',
        'Frames verified and waiting for their group commit (not acknowledged yet).',
        () => src.pipeline?.().uncommitted ?? 0,
      ),
      new Gauge(
        'vitaltrail_verify_threads',
        'Threads of the verify pool running now (by default started only while the load asks for them).',
        () => src.pipeline?.().verifyThreads ?? 0,
      ),
      new SampledMetric(
        'vitaltrail_data_keys_made_total',
        "Data keys made (io/data-keys): on_demand (a device's first frame of a window, or its connection) and ahead (the next window's, before it begins).",
        'counter',
        () => {
          const k = src.dataKeys?.();
          return k
            ? [
                { labels: { made: 'on_demand' }, value: k.made },
                { labels: { made: 'ahead' }, value: k.madeAhead },
              ]
            : [];
        },
      ),
      new SampledMetric(
        'vitaltrail_ingest_waiting_for_key',
        'Frames verified and set aside until their device’s data key is made (not acknowledged yet; counted in vitaltrail_ingest_uncommitted too).',
        'gauge',
        () => {
          const k = src.dataKeys?.();
          return k ? [{ labels: {}, value: k.parked }] : [];
        },
      ),
      this.enrolmentsImported,
      this.enrolmentsSkipped,
      this.chainRestarts,
      new SampledMetric(
        'vitaltrail_live_stream_readings_total',
        "Readings on the internal live stream: published (this gateway's), received (every gateway's, passed to the ward) and duplicate (redelivered, dropped).",
        'counter',
        () => {
          const l = src.liveStream?.();
          return l
            ? [
                { labels: { event: 'published' }, value: l.publishedReadings },
                { labels: { event: 'received' }, value: l.received },
                { labels: { event: 'duplicate' }, value: l.duplicates },
              ]
            : [];
        },
      ),
      new SampledMetric(
        'vitaltrail_retention_shredded_total',
        'Crypto-shredding while running (config shredAfterDays): data keys destroyed, the frames they sealed, the shredding records appended to the log, and the ciphertexts deleted.',
        'counter',
        () => {
          const r = src.retention?.();
          return r
            ? [
                { labels: { what: 'keys' }, value: r.keys },
                { labels: { what: 'frames' }, value: r.frames },
                { labels: { what: 'records' }, value: r.records },
                { labels: { what: 'ciphertexts' }, value: r.deleted },
              ]
            : [];
        },
      ),
      new SampledMetric(
        'vitaltrail_retention_failures_total',
        'Shredding turns that failed (nothing of them changed; tried again a minute later).',
        'counter',
        () => {
          const r = src.retention?.();
          return r ? [{ labels: {}, value: r.failures }] : [];
        },
      ),
      new SampledMetric(
        'vitaltrail_live_stream_messages_lost_total',
        'Live-stream messages not passed on: dropped (the broker link was down or behind) and malformed (did not decode).',
        'counter',
        () => {
          const l = src.liveStream?.();
          return l
            ? [
                { labels: { reason: 'dropped' }, value: l.dropped },
                { labels: { reason: 'malformed' }, value: l.malformed },
              ]
            : [];
        },
      ),
      new SampledMetric(
        'vitaltrail_outbound_pending',
        'Items an outbound receiver has not acknowledged yet: log positions (readings), or alarm transitions for the webhook.',
        'gauge',
        perReceiver((o) => o.pending),
      ),
      new SampledMetric(
        'vitaltrail_outbound_oldest_pending_seconds',
        'Age of the oldest item waiting for an outbound receiver, whole seconds (no sample when none waits).',
        'gauge',
        perReceiver((o) => o.oldestPendingSeconds),
      ),
      new SampledMetric(
        'vitaltrail_outbound_delivered_total',
        'Items an outbound receiver acknowledged, kept in the store across restarts.',
        'counter',
        perReceiver((o) => o.delivered),
      ),
      new SampledMetric(
        'vitaltrail_outbound_consecutive_failures',
        'Failed delivery attempts to an outbound receiver since its last success (the backoff grows with it).',
        'gauge',
        perReceiver((o) => o.failures),
      ),
      new SampledMetric(
        'vitaltrail_outbound_dead_letters',
        'Items an outbound receiver refused, set aside as dead letters.',
        'gauge',
        perReceiver((o) => o.deadLetters),
      ),
      new SampledMetric(
        'vitaltrail_outbound_last_success_timestamp_seconds',
        'Unix time of the last delivery an outbound receiver acknowledged (no sample before the first).',
        'gauge',
        perReceiver((o) => (o.lastOkAt === null ? null : o.lastOkAt / 1000)),
      ),
    ];
  }

  /**
   * Counts every outcome of `ingest` and its latency from now on (the `outcome` event:
   * submit → durable commit or final decision, what the transport waits before its ack).
   * @returns a function that stops counting.
   */
  observe(ingest: OutcomeSource): () => void {
    const onOutcome = (r: CountedOutcome, seconds: number) => this.record(r, seconds);
    ingest.on('outcome', onOutcome);
    return () => ingest.off('outcome', onOutcome);
  }

  /** Counts one outcome and its latency. */
  record(r: CountedOutcome, seconds: number): void {
    this.ackLatency.observe(seconds);
    if (r.status === 'accepted') this.accepted.inc();
    else if (r.status === 'duplicate') this.duplicates.inc();
    else this.rejected.inc({ code: r.code });
  }

  /** The exposition of one scrape (the outbound state read first, then every series at once). */
  async render(): Promise<string> {
    const outbound = await this.#readOutbound();
    // From here on synchronous: a concurrent scrape cannot interleave with this one's series.
    this.#outbound = outbound;
    try {
      return renderExposition(this.#all);
    } finally {
      this.#outbound = [];
    }
  }
}
