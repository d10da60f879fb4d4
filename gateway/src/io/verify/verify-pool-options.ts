/**
 * @module io/verify/verify-pool-options
 * What a verify pool (io/verify/verify-pool) is given and what it counts: its options with
 * their defaults, and its stats. The gateway's own choice of threads and start rule is
 * `verifyThreadsOf` (app/core-steps).
 */
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from '../../core/restart-policy.js';
import type { DemandPolicy } from '../../core/thread-demand.js';
import { BEHIND_EVENT_LOOP_NICE } from '../../core/thread-nice.js';
import type { Logger } from '../ops/index.js';

/** Batches a worker holds at once: one being checked, one waiting behind it. */
export const MAX_BATCHES_IN_FLIGHT = 2;
/**
 * The gateway's verify threads' nice steps (app/core-steps, its `ingest` step; core/thread-nice):
 * six alternating runs of `BENCH_PHASES=embedded node dist/test/bench/run.js` (2026-12-07)
 * read 0.838-0.879× the reference around the capacity phase at 7 against 0.796-0.841× at 0
 * (README "Benchmarks").
 */
export const DEFAULT_VERIFY_NICE = BEHIND_EVENT_LOOP_NICE;
/** Default bound on the frames of one batch message. */
export const DEFAULT_MAX_BATCH_FRAMES = 256;
/** A worker's restart back-off: 50-100 ms after a healthy run, growing while it keeps dying. */
export const VERIFY_RESTART_POLICY: RestartPolicy = Object.freeze({
  ...DEFAULT_RESTART_POLICY,
  minDelayMs: 100,
});

export interface VerifyPoolOptions {
  /**
   * Worker threads checking signatures (`os.availableParallelism()` is one per core).
   * Default 0: every signature is checked in the event loop (what `checkFrame` does).
   */
  threads?: number;
  /**
   * When the threads run. `always` (the default): from the start. `on-load`: only while the
   * signature checks would take a share of the event loop (core/thread-demand
   * `VERIFY_DEMAND_POLICY`): below it every check is done in the event loop, which answers
   * sooner and keeps ~8 MB of memory per thread.
   */
  start?: 'always' | 'on-load';
  /** The load rule of `on-load`. Default `VERIFY_DEMAND_POLICY` (tests: short windows). */
  demand?: DemandPolicy;
  /**
   * How many nice steps (0-19) the threads run below the thread that made the pool (Linux:
   * the nice value is each thread's own; at most 19), so that under contention for the cores
   * the event loop, the pipeline's one serial stage (parse, commit, answer), runs first and
   * the threads take what it leaves. Default 0 (as the gateway's process); the gateway's own
   * default is `DEFAULT_VERIFY_NICE`. Ignored on other systems, where a thread cannot be
   * niced alone.
   */
  nice?: number;
  /** Most frames in one batch message. Default `DEFAULT_MAX_BATCH_FRAMES` (256). */
  maxBatchFrames?: number;
  /** Where a worker's death and a pool that cannot start are reported (warn). Default: nowhere. */
  log?: Logger;
  /** Back-off of worker restarts. Default `VERIFY_RESTART_POLICY`. */
  restartPolicy?: RestartPolicy;
  /** Fault injection (tests only): every worker fails while starting, as a broken thread would. */
  faultInjection?: { workersFailAtStart?: boolean };
}

/** What the pool has done, for metrics and tests. */
export interface VerifyPoolStats {
  /** Batch messages posted to workers. */
  batches: number;
  /** Frames checked on worker threads. */
  pooled: number;
  /** Frames checked in the event loop (no worker, a key a worker could not import, a dead worker's frames). */
  inline: number;
  /** Workers that died after they had started. */
  crashes: number;
  /** Frames a dead worker held, checked again in the event loop. */
  recovered: number;
  /** Times the threads were started, and stopped, by the load (`on-load`). */
  loadStarts: number;
  loadStops: number;
}
