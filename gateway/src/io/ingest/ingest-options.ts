/**
 * @module io/ingest/ingest-options
 * The ingest pipeline's (io/ingest/ingest) options, outcomes and events.
 */
import type { AcceptancePolicy, DeviceRecord } from '../../core/acceptance.js';
import type { Recipient } from '../../core/envelope.js';
import type { LiveSink } from '../../core/live.js';
import type { RejectionCode } from '../../protocol/codes.js';
import type { WireUint } from '../../protocol/frame.js';
import type { DataKeyRingOptions, KeysAheadOptions } from '../data-keys/index.js';
import type { GatewayStore } from '../store/index.js';
import type { VerifyPoolOptions } from '../verify/index.js';

export type IngestResult =
  | { status: 'accepted'; dev: string; seq: number; leafIndex: number }
  | { status: 'duplicate'; dev: string; seq: number }
  /** `seq` when the frame named one: a bigint from 2^53 on (PROTOCOL.md §6). */
  | { status: 'rejected'; code: RejectionCode; reason: string; dev?: string; seq?: WireUint };

export interface IngestOptions {
  store: GatewayStore;
  lookup: (dev: string) => DeviceRecord | undefined;
  /** Active envelope recipients; a function is asked again for every new data key. */
  recipients: readonly Recipient[] | (() => readonly Recipient[]);
  /** Data-key windows (io/data-keys/ring). Defaults: 1 h, rotate after 2^20 frames. */
  dataKeys?: DataKeyRingOptions;
  policy: AcceptancePolicy;
  /**
   * Where the readings of each commit go once durable: the internal live stream (every
   * gateway's hub, core/live-stream) or, without one, the live hub itself.
   */
  live?: LiveSink;
  now?: () => number;
  /**
   * Upper bound of the frames of one group commit. Default 256: a backlog (the start of a
   * load, devices resending after an outage) is written in commits of at most this many,
   * each answered before the next is written, so its first frames are not held for a
   * commit of all of it (README "Benchmarks": the 5,000 frames/s phase's tail, no loss of
   * capacity, where a commit took 340-400 frames on average).
   */
  maxBatchFrames?: number;
  /**
   * How long after a commit its windows' rollups are written (io/ingest/rollup-flusher),
   * ms. Default 5000; 0: right after each commit, before its frames are answered.
   */
  rollupFlushMs?: number;
  /**
   * The signature-checking threads (io/verify/verify-pool). Default 0: every signature in
   * the event loop (the gateway's default: app/core-steps `verifyThreadsOf`).
   */
  verify?: VerifyPoolOptions;
  /**
   * Data keys made ahead (io/data-keys/ahead): its options, or `false` for none (each
   * device's key is then made with its first frame of each window, as a test may want).
   */
  keysAhead?: KeysAheadOptions | false;
}

/** A rejected frame's outcome. */
export type IngestRejection = Extract<IngestResult, { status: 'rejected' }>;

/**
 * What the pipeline tells its subscribers (metrics, the audit log, alarms, the transport
 * that answers the device). Listeners run synchronously on the ingest path: they must be
 * quick and must not throw (a throw is counted in `counters.listenerErrors`, never lets a
 * frame go unanswered).
 */
export interface IngestEvents {
  /**
   * Every frame's final answer, with the seconds from the frame's arrival (the socket read
   * when the transport gives `readAt`, else `submit`) to that answer.
   */
  outcome: [result: IngestResult, seconds: number, transportDev: string, via: IngressVia];
  /** Every rejection, after it is counted (before `outcome`). */
  rejected: [result: IngestRejection, transportDev: string, via: IngressVia];
  /**
   * The store's health changed: a commit failed after the last one succeeded (`ok` false,
   * with the reason and the store's own message, e.g. SQLite's "database or disk is full"),
   * or one succeeded after failures (`ok` true). Once per change, not per failed commit.
   */
  storage: [health: { ok: true } | { ok: false; reason: string; cause: string }];
}

/**
 * Which way a frame came in. `plain` (the demo's unauthenticated MQTT listener) is the
 * one way where the transport's device name is only a claim: its rejections must not
 * raise a patient's alarms (README "Security" → "The plain listener").
 */
export type IngressVia = 'tls' | 'plain' | 'serial' | 'external' | 'local';

/** Where a frame came from, as far as the transport knows. */
export interface IngressContext {
  via?: IngressVia;
  /** performance.now() when the transport read the frame's packet off its socket. */
  readAt?: number;
}
