/**
 * @module io/verify/verify-pool
 * Frame signatures (PROTOCOL.md §1 `bad_signature`, RFC 9052 §4.4 Sig_structure) checked on
 * worker threads (issue 14): the P-256 verify (~65 µs per frame with node:crypto) is the
 * physical limit of ingest, and on the event loop it leaves the broker, the commit and the
 * acks waiting. The event loop only decodes, queues and commits.
 *
 * - Batches: frames handed in during one turn of the event loop are collected and posted
 *   on `setImmediate`, one message per batch per worker (shares sized to what each worker
 *   already holds): the Sig_structures and signatures packed into one ArrayBuffer that is
 *   transferred, not copied. A worker holds at most `MAX_BATCHES_IN_FLIGHT` batches; while
 *   every worker is that busy, frames wait and the next batches grow with the load (as the
 *   group commit does), up to `maxBatchFrames`. The verdicts of the batches posted together
 *   (a round) are handed out together, so frames that arrived together still share one
 *   group commit instead of one commit per thread.
 * - Keys: each worker keeps the device public keys it was sent (io/verify/verify-keys).
 * - Load (`start: 'on-load'`, the gateway's choice; the pool's own default is `always`):
 *   threads run while checks would take a share of the event loop, idle while a quiet load
 *   winds them down (core/thread-demand; its meter).
 * - Failures: a worker that dies (crash, `terminate`, out of memory) has every frame it held
 *   checked again here, in the event loop, with `verifyFrameSignature` (never lost, never
 *   answered unverified), and is replaced after a back-off (core/restart-policy). A worker
 *   that cannot start (it never reports ready) is not retried: when none can, the pool
 *   checks every signature in the event loop and says so once in the log (warn).
 *   A key a worker cannot import is answered "not checked" and checked here too.
 *   The worker's code is in io/verify/verify-worker.
 *
 * Trust: frame bytes are attacker-controlled; a worker only answers one byte per frame
 * (valid, invalid, not checked). No frame content or key is logged.
 */
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import {
  INITIAL_RESTART_STATE,
  nextRestart,
  type RestartPolicy,
  type RestartState,
  restartSucceeded,
} from '../../core/restart-policy.js';
import { VERIFY_DEMAND_POLICY } from '../../core/thread-demand.js';
import { niceSteps } from '../../core/thread-nice.js';
import { type DecodedFrame, keyFitsAlg, verifyFrameSignature } from '../../protocol/frame.js';
import type { Logger } from '../ops/index.js';
import { shareBatches } from './batch-shares.js';
import { DemandMeter } from './demand-meter.js';
import { type KeyRef, KeyRefs, keysForBatch } from './verify-keys.js';
import {
  DEFAULT_MAX_BATCH_FRAMES,
  MAX_BATCHES_IN_FLIGHT,
  VERIFY_RESTART_POLICY,
  type VerifyPoolOptions,
  type VerifyPoolStats,
} from './verify-pool-options.js';
import { NOT_CHECKED, packBatch, VALID, VERIFY_WORKER_SOURCE } from './verify-worker.js';

interface Job {
  frame: DecodedFrame;
  key: KeyObject;
  ref: KeyRef;
  done: (valid: boolean) => void;
}

/**
 * The batches posted in one dispatch. Their verdicts are handed out together when the last
 * batch is answered: frames that arrived together reach the group commit together (one
 * commit, as when they were checked in the event loop), not one commit per thread.
 */
interface Round {
  /** Batches not answered yet. */
  open: number;
  /** Per frame its verdict, or null: to be checked in the event loop (not checked, or its worker died). */
  readonly answers: { job: Job; valid: boolean | null }[];
}

interface Batch {
  readonly jobs: Job[];
  readonly round: Round;
}

interface Lane {
  readonly index: number;
  worker: Worker | null;
  /** This worker reported ready (its code loaded). */
  ready: boolean;
  /** Some worker of this lane was ready once: a death is a crash, restarted with back-off. */
  everReady: boolean;
  /** Batches posted and not answered, by id. */
  readonly batches: Map<number, Batch>;
  /** Frames in those batches. */
  frames: number;
  /** Key ids this worker has been sent (its cache). */
  sentKeys: Set<string>;
  restart: RestartState;
  timer: NodeJS.Timeout | null;
  /** Given up: it never started. */
  dead: boolean;
  /** Stopped on purpose (the load fell, `on-load`): its exit is not a crash. */
  parking: boolean;
}

/**
 * A pool of signature-checking threads.
 * @throws {RangeError} when `threads` or `maxBatchFrames` is out of range
 * @example
 * const pool = new VerifyPool({ threads: 2, log });
 * pool.verify(frame, device.publicKey, (valid) => …);
 * await pool.close();
 */
export class VerifyPool {
  readonly threads: number;
  readonly maxBatchFrames: number;
  readonly stats: VerifyPoolStats = {
    batches: 0,
    pooled: 0,
    inline: 0,
    crashes: 0,
    recovered: 0,
    loadStarts: 0,
    loadStops: 0,
  };
  /** The threads' nice value (`VerifyPoolOptions.nice`). */
  readonly #nice: number;
  readonly #log: Logger | undefined;
  readonly #policy: RestartPolicy;
  readonly #source: string;
  readonly #lanes: Lane[];
  readonly #refs = new KeyRefs();
  /** `on-load`: what starts and stops the threads; null: they always run. */
  readonly #meter: DemandMeter | null;
  /** The threads are stopped (or stopping) because the load fell, or not started yet. */
  #parked = false;
  #pending: Job[] = [];
  #scheduled = false;
  #nextBatch = 1;
  #closed = false;
  #warnedInline = false;

  constructor(opts: VerifyPoolOptions = {}) {
    this.threads = opts.threads ?? 0;
    this.maxBatchFrames = opts.maxBatchFrames ?? DEFAULT_MAX_BATCH_FRAMES;
    if (!Number.isSafeInteger(this.threads) || this.threads < 0 || this.threads > 64)
      throw new RangeError('VerifyPool: threads must be an integer from 0 to 64');
    if (!Number.isSafeInteger(this.maxBatchFrames) || this.maxBatchFrames < 1)
      throw new RangeError('VerifyPool: maxBatchFrames must be a positive integer');
    this.#nice = niceSteps(opts.nice ?? 0, 'VerifyPool');
    this.#log = opts.log;
    this.#policy = opts.restartPolicy ?? VERIFY_RESTART_POLICY;
    this.#source = opts.faultInjection?.workersFailAtStart
      ? `throw new Error('fault injection: the verify worker fails at start');\n${VERIFY_WORKER_SOURCE}`
      : VERIFY_WORKER_SOURCE;
    this.#lanes = Array.from({ length: this.threads }, (_, index) => ({
      index,
      worker: null,
      ready: false,
      everReady: false,
      batches: new Map(),
      frames: 0,
      sentKeys: new Set<string>(),
      restart: INITIAL_RESTART_STATE,
      timer: null,
      dead: false,
      parking: false,
    }));
    this.#meter =
      opts.start === 'on-load' && this.threads > 0
        ? new DemandMeter(opts.demand ?? VERIFY_DEMAND_POLICY, (c) => this.#onLoad(c))
        : null;
    this.#parked = this.#meter !== null;
    if (!this.#parked) for (const lane of this.#lanes) this.#spawn(lane);
  }

  /** Workers running now. */
  get liveWorkers(): number {
    return this.#lanes.filter((l) => l.worker !== null).length;
  }

  /** Workers that have reported ready (their code loaded). */
  get readyWorkers(): number {
    return this.#lanes.filter((l) => l.worker !== null && l.ready).length;
  }

  /** False when every signature is checked in the event loop (0 threads, closed, or no worker could start). */
  get usesWorkers(): boolean {
    return !this.#closed && this.#lanes.some((l) => !l.dead);
  }

  /**
   * Checks `frame`'s signature with `key`; `done` is called exactly once with the verdict,
   * synchronously when it is known at once (a key of the wrong kind, no worker), else from a
   * later turn of the event loop. Verdicts for different frames may come in any order.
   * @param dev the frame's device (its key is cached under it)
   */
  verify(frame: DecodedFrame, key: KeyObject, dev: string, done: (valid: boolean) => void): void {
    if (!keyFitsAlg(frame.alg, key)) {
      done(false);
      return;
    }
    const here = this.#closed || this.#parked || !this.#hasWorker() || this.#meter?.useThreads === false;
    const ref = here ? null : this.#refs.of(key, dev);
    if (!ref) {
      this.#inline(frame, key, done);
      return;
    }
    this.#pending.push({ frame, key, ref, done });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#dispatch());
    }
  }

  /** Fault injection (tests only): terminates worker `index` as a crash would; returns the frames it held. */
  injectWorkerCrash(index = 0): number {
    const lane = this.#lanes[index];
    if (!lane?.worker) return 0;
    const held = lane.frames;
    lane.worker.terminate().catch(() => {});
    return held;
  }

  /** Frames held by worker `index` (tests: to crash a worker mid-batch). */
  heldBy(index: number): number {
    return this.#lanes[index]?.frames ?? 0;
  }

  /**
   * Stops the workers. Frames still waiting or held are checked in the event loop first or
   * as their worker stops, so every `done` is called; later calls check in the event loop.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#meter?.close();
    const waiting = this.#pending;
    this.#pending = [];
    for (const job of waiting) this.#inline(job.frame, job.key, job.done);
    await Promise.all(
      this.#lanes.map(async (lane) => {
        if (lane.timer) clearTimeout(lane.timer);
        lane.timer = null;
        const w = lane.worker;
        if (!w) return;
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        await w.terminate();
        await exited;
      }),
    );
  }

  #hasWorker(): boolean {
    return this.#lanes.some((l) => l.worker !== null && !l.parking);
  }

  #inline(frame: DecodedFrame, key: KeyObject, done: (valid: boolean) => void): void {
    this.stats.inline += 1;
    if (!this.#meter) {
      done(verifyFrameSignature(frame, key));
      return;
    }
    const t0 = performance.now();
    const valid = verifyFrameSignature(frame, key);
    const t1 = performance.now();
    this.#meter.measured(t1 - t0, t1);
    done(valid);
  }

  /**
   * `on-load`: the load rose (the threads start; frames go to them once they exist) or fell
   * (new frames are checked here; each thread stops once it holds none).
   */
  #onLoad(change: 'start' | 'stop'): void {
    if (this.#closed) return;
    this.#parked = change === 'stop';
    this.stats[this.#parked ? 'loadStops' : 'loadStarts'] += 1;
    for (const lane of this.#lanes) {
      if (!this.#parked) {
        if (!lane.dead && lane.worker === null && lane.timer === null) this.#spawn(lane);
        continue;
      }
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      this.#parkIfIdle(lane);
    }
  }

  #parkIfIdle(lane: Lane): void {
    // With frames waiting, the next dispatch may hand them to this thread.
    if (!this.#parked || !lane.worker || lane.parking || lane.batches.size + this.#pending.length > 0) return;
    lane.parking = true;
    lane.worker.terminate().catch(() => {});
  }

  #spawn(lane: Lane): void {
    lane.timer = null;
    if (this.#closed) return;
    let worker: Worker;
    try {
      worker = new Worker(this.#source, {
        eval: true,
        name: `vitaltrail-verify-${lane.index}`,
        workerData: { nice: this.#nice },
      });
    } catch {
      this.#failedStart(lane, 'the worker thread could not be created');
      return;
    }
    worker.unref();
    lane.worker = worker;
    lane.ready = false;
    worker.on('message', (m: { ready?: true; id?: number; out?: Uint8Array }) => {
      if (lane.worker !== worker) return;
      if (m.ready) {
        lane.ready = true;
        lane.everReady = true;
        lane.restart = restartSucceeded(lane.restart, Date.now());
        return;
      }
      this.#answered(lane, m.id as number, m.out as Uint8Array);
    });
    // Followed by 'exit', where the worker's frames are checked again: kept from being unhandled.
    worker.on('error', () => {});
    worker.once('exit', (code) => this.#exited(lane, worker, code));
  }

  #answered(lane: Lane, id: number, out: Uint8Array): void {
    const batch = lane.batches.get(id);
    if (!batch) return;
    lane.batches.delete(id);
    lane.frames -= batch.jobs.length;
    if (lane.batches.size === 0) lane.worker?.unref();
    this.#settle(batch, out);
    if (this.#pending.length > 0) this.#dispatch();
    if (this.#parked) for (const l of this.#lanes) this.#parkIfIdle(l);
  }

  /** Records a batch's verdicts (none: all to be checked here); the last batch of a round hands them all out. */
  #settle(batch: Batch, out: Uint8Array | null): void {
    const { round } = batch;
    batch.jobs.forEach((job, i) => {
      const v = out?.[i];
      round.answers.push({ job, valid: v === undefined || v === NOT_CHECKED ? null : v === VALID });
    });
    round.open -= 1;
    if (round.open > 0) return;
    // Every frame of the round is answered even if a caller's `done` throws (rethrown after).
    let failure: { err: unknown } | null = null;
    for (const { job, valid } of round.answers) {
      try {
        if (valid === null) this.#inline(job.frame, job.key, job.done);
        else {
          this.stats.pooled += 1;
          job.done(valid);
        }
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }

  #exited(lane: Lane, worker: Worker, code: number): void {
    if (lane.worker !== worker) return;
    lane.worker = null;
    const held = [...lane.batches.values()];
    lane.batches.clear();
    lane.frames = 0;
    lane.sentKeys = new Set();
    // Never lost, never answered unverified: what the worker held is checked here.
    const recovered = held.reduce((n, b) => n + b.jobs.length, 0);
    this.stats.recovered += recovered;
    for (const batch of held) this.#settle(batch, null);
    if (this.#closed) return;
    if (lane.parking) {
      lane.parking = false;
      if (!this.#parked) this.#spawn(lane); // the load rose again while it stopped
    } else if (!lane.ready && !lane.everReady) {
      this.#failedStart(lane, `the worker stopped before it was ready (exit ${code})`);
    } else {
      this.stats.crashes += 1;
      const next = nextRestart(this.#policy, lane.restart, Date.now(), Math.random);
      lane.restart = next.state;
      this.#log?.warn('verify worker stopped; its frames were checked in the event loop, restarting', {
        worker: lane.index,
        exitCode: code,
        held: recovered,
        restartInMs: Math.round(next.delayMs),
      });
      lane.timer = setTimeout(() => this.#spawn(lane), next.delayMs);
      lane.timer.unref();
    }
    if (this.#pending.length > 0) this.#dispatch();
  }

  #failedStart(lane: Lane, reason: string): void {
    lane.dead = true;
    lane.worker = null;
    if (!this.#lanes.some((l) => !l.dead) && !this.#warnedInline) {
      this.#warnedInline = true;
      this.#log?.warn('verify pool could not start; signatures are checked in the event loop', {
        threads: this.threads,
        reason,
      });
    } else {
      this.#log?.warn('a verify worker could not start; the others go on', { worker: lane.index, reason });
    }
  }

  /** Posts waiting frames to workers with room, least loaded first; without workers, checks them here. */
  #dispatch(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    if (!this.#hasWorker()) {
      const waiting = this.#pending;
      this.#pending = [];
      for (const job of waiting) this.#inline(job.frame, job.key, job.done);
      return;
    }
    const open = this.#lanes.filter(
      (l) => l.worker !== null && !l.parking && l.batches.size < MAX_BATCHES_IN_FLIGHT,
    );
    if (open.length === 0) return; // the next answer dispatches again
    const waiting = this.#pending;
    const loads = open.map((l) => ({ held: l.batches.size, frames: l.frames }));
    const shares = shareBatches(waiting.length, loads, this.maxBatchFrames, MAX_BATCHES_IN_FLIGHT);
    const taken = shares.at(-1)?.to ?? 0;
    this.#pending = taken === waiting.length ? [] : waiting.slice(taken);
    this.#meter?.handedOff(taken);
    const round: Round = { open: shares.length, answers: [] };
    for (const b of shares) this.#post(open[b.lane] as Lane, { jobs: waiting.slice(b.from, b.to), round });
  }

  #post(lane: Lane, batch: Batch): void {
    const { jobs } = batch;
    const worker = lane.worker as Worker;
    const { keyIndex, keyIds, fresh, reset } = keysForBatch(lane.sentKeys, jobs);
    if (reset) lane.sentKeys = new Set();
    for (const ref of fresh) lane.sentKeys.add(ref.id);

    const { meta, data } = packBatch(
      jobs.map((job) => ({ frame: job.frame, key: keyIndex.get(job.ref.id) as number })),
    );

    const id = this.#nextBatch++;
    if (lane.batches.size === 0) worker.ref();
    lane.batches.set(id, batch);
    lane.frames += jobs.length;
    this.stats.batches += 1;
    try {
      worker.postMessage(
        { id, reset, keys: fresh.map((r) => ({ id: r.id, der: r.der })), keyIds, meta, data: data.buffer },
        [meta.buffer, data.buffer],
      );
    } catch {
      // Not posted (the worker is going away): checked here, and the worker starts afresh.
      lane.batches.delete(id);
      lane.frames -= jobs.length;
      lane.sentKeys = new Set();
      if (lane.batches.size === 0) worker.unref();
      this.#settle(batch, null);
    }
  }
}
