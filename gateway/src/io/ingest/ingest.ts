/**
 * @module io/ingest/ingest
 * The ingest pipeline shared by every transport: stateless checks on arrival, then
 * group commit. Each frame gets the rules before its signature on arrival
 * (`checkBeforeSignature`: decode, identity, the device's certificate as looked up now),
 * its signature checked on a thread of the verify pool (io/verify/verify-pool; in the
 * event loop with `verify.threads` 0), then the rules after it (`checkAfterSignature`,
 * with the same clock reading): the verdicts and their order are `checkFrame`'s. A
 * device's frames leave the signature check in the order they arrived (io/ingest/
 * device-order), whatever order the threads answer in. Frames that pass wait in a queue; one flusher at a time
 * takes the whole queue, applies the dedupe and chain rules (io/ingest/batch-rules), seals
 * each new frame under its device's current data key (io/sealed: one AES-256-GCM key per
 * device and time window, wrapped for the recipients and recorded before first use), and
 * writes batch row, frame index, sealed frames and log nodes in one fsync'd transaction. Only then are the callers'
 * promises resolved, so a transport acknowledges a frame only once it is durable
 * (ARCHITECTURE.md guarantee 1). While a flush runs, new frames queue for the next one:
 * the batch grows with the load.
 *
 * If the store fails, every frame of that flush is answered with a `store_failed`
 * error (the transport must not acknowledge it; devices keep and resend their frames),
 * the pipeline reports itself unhealthy, and the next flush tries again.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { hashLeaf } from '../../../../anchor/src/log/index.js';
import { checkAfterSignature, checkBeforeSignature, type Rejection } from '../../core/acceptance.js';
import { sealEncrypt0All } from '../../core/cose-encrypt0.js';
import { keyObjectOf } from '../../core/envelope.js';
import { type LiveSink, liveReadingsOf } from '../../core/live.js';
import { frameHash } from '../../protocol/frame.js';
import { DataKeyRing, KeyGate, KeysAhead } from '../data-keys/index.js';
import { frameAad, type NewFrame, SEALED_FRAMES_MARKER, StoreError } from '../store/index.js';
import { VerifyPool } from '../verify/index.js';
import { sortBatch } from './batch-rules.js';
import { DeviceOrder } from './device-order.js';
import type {
  IngestEvents,
  IngestOptions,
  IngestResult,
  IngressContext,
  IngressVia,
} from './ingest-options.js';
import { RollupFlusher } from './rollup-flusher.js';
import { RollupWriter } from './rollup-writer.js';
import { Submission, type SubmissionOwner } from './submission.js';

export type {
  IngestEvents,
  IngestOptions,
  IngestRejection,
  IngestResult,
  IngressContext,
  IngressVia,
} from './ingest-options.js';

export class Ingest extends EventEmitter<IngestEvents> {
  readonly #o: Required<Omit<IngestOptions, 'live' | 'dataKeys' | 'verify' | 'rollupFlushMs' | 'keysAhead'>> &
    Pick<IngestOptions, 'live'>;
  readonly #keys: DataKeyRing;
  /** Frames whose devices' keys are being made wait here, not in a commit (io/data-keys/gate). */
  readonly #gate: KeyGate<Submission>;
  readonly #ahead: KeysAhead | null;
  /** Sealed per-window rollups, folded after each commit and written behind (io/ingest/rollup-writer). */
  readonly #rollups: RollupFlusher;
  readonly #pool: VerifyPool;
  /** Frames in the signature check, in arrival order per device. */
  readonly #order = new DeviceOrder();
  /** Frames verified and queued whose commit has not answered yet. */
  #uncommitted = 0;
  /** `drain` callers waiting for the signature check to empty. */
  #idle: (() => void)[] = [];
  #queue: Submission[] = [];
  #flushing: Promise<void> | null = null;
  /** Work that must not run inside a commit's flush (`betweenFlushes`), run when it ends. */
  #between: (() => void)[] = [];
  #rejections = new Map<string, number>();
  /** What a queued frame's answer does here (io/ingest/submission). */
  readonly #owner: SubmissionOwner = {
    settled: () => {
      this.#uncommitted -= 1;
    },
    outcome: (r, s) => this.#outcome(r, s.readAt, s.transportDev, s.via),
  };
  #healthy = true;
  #lastError: string | null = null;
  readonly counters = {
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    storeFailures: 0,
    batches: 0,
    listenerErrors: 0,
  };

  constructor(opts: IngestOptions) {
    super();
    this.#o = { now: Date.now, maxBatchFrames: 256, ...opts };
    this.#keys = new DataKeyRing(opts.store, opts.recipients, opts.dataKeys);
    this.#gate = new KeyGate<Submission>(
      this.#keys,
      (frames) => {
        this.#queue = frames.concat(this.#queue);
        this.#schedule();
      },
      (frames, err) => this.#failed(frames, err),
    );
    this.#ahead =
      opts.keysAhead === false
        ? null
        : new KeysAhead(
            this.#keys,
            () => this.#o.now(),
            (dev) => this.#o.lookup(dev)?.status === 'active',
            opts.keysAhead,
          );
    this.#ahead?.start();
    this.#rollups = new RollupFlusher(new RollupWriter(opts.store), opts.rollupFlushMs);
    this.#pool = new VerifyPool(opts.verify);
  }

  /**
   * Frames between arrival and answer: in the signature check, and verified but not yet
   * committed; and the verify pool's threads running now.
   */
  get pipeline(): { verifying: number; uncommitted: number; verifyThreads: number } {
    // `uncommitted` includes the frames waiting for their devices' keys (io/data-keys/gate).
    return {
      verifying: this.#order.open,
      uncommitted: this.#uncommitted,
      verifyThreads: this.#pool.liveWorkers,
    };
  }

  /** The signature-checking threads (their stats; tests: their fault injection). */
  get verifyPool(): VerifyPool {
    return this.#pool;
  }

  /** The data keys made so far: for their window, ahead of it, and made ahead then used. */
  get dataKeys(): DataKeyRing['stats'] & { parked: number; aheadFailures: number } {
    return {
      ...this.#keys.stats,
      parked: this.#gate.parked,
      aheadFailures: this.#ahead?.stats.failures ?? 0,
    };
  }

  /**
   * Device `dev` has connected: its data key is made now rather than with its first frame
   * (io/data-keys/ahead; only for an enrolled, active device).
   */
  expect(dev: string): void {
    this.#ahead?.expect(dev);
  }

  /** Makes the data keys now due ahead (io/data-keys/ahead; its timer does this by itself). */
  prepareKeys(): Promise<void> {
    return this.#ahead?.run() ?? Promise.resolve();
  }

  /** False after a failed commit, until a commit succeeds again. */
  get healthy(): boolean {
    return this.#healthy;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /**
   * Checks and (if new) durably stores one frame.
   * @param bytes the frame exactly as received (attacker-controlled)
   * @param transportDev the device named by the transport
   * @param from the way the frame came in (default `local`: an in-process caller)
   * @returns the outcome; resolves only after an accepted frame is on disk
   * @throws {StoreError} `store_failed` when the frame could not be made durable (do not ack)
   */
  submit(bytes: Uint8Array, transportDev: string, from: IngressContext = {}): Promise<IngestResult> {
    const t0 = from.readAt ?? performance.now();
    const via = from.via ?? 'local';
    // One clock reading for the rules before and after the signature, as `checkFrame` has it.
    // The device (its status and key) is looked up now, on arrival: a revocation that comes
    // while the signature is being checked does not reach this frame, as it would not have
    // reached a frame already queued for its commit (README "How a frame travels").
    const now = this.#o.now();
    const due = checkBeforeSignature(bytes, transportDev, this.#o.lookup, now);
    if (!due.ok) {
      const r = this.#rejected(due, transportDev, via);
      this.#outcome(r, t0, transportDev, via);
      return Promise.resolve(r);
    }
    const dev = due.frame.body.dev;
    const place = this.#order.enter(dev);
    return new Promise<IngestResult>((fulfil, fail) => {
      const next = (valid: boolean) => {
        try {
          const verdict = checkAfterSignature(due.frame, valid, now, this.#o.policy);
          if (!verdict.ok) {
            const r = this.#rejected(verdict, transportDev, via);
            this.#outcome(r, t0, transportDev, via);
            fulfil(r);
            return;
          }
          this.#uncommitted += 1;
          this.#queue.push(
            new Submission(
              { frame: verdict.frame, hash: frameHash(bytes), via, transportDev, readAt: t0 },
              { fulfil, fail, owner: this.#owner },
            ),
          );
          this.#schedule();
        } catch (err) {
          fail(err);
        } finally {
          if (this.#order.open === 0) this.#wakeIdle();
        }
      };
      let called = false;
      try {
        this.#pool.verify(due.frame, due.device.publicKey, dev, (valid) => {
          called = true;
          this.#order.settle(dev, place, () => next(valid));
        });
      } catch (err) {
        // Not checked (a fault of ours, not of the frame): answered as a failure, never accepted.
        if (!called) {
          this.#order.settle(dev, place, () => {
            fail(err);
            if (this.#order.open === 0) this.#wakeIdle();
          });
        }
      }
    });
  }

  /** Tells a frame's answer to the `outcome` subscribers, with its time since it was read. */
  #outcome(r: IngestResult, readAt: number, transportDev: string, via: IngressVia): void {
    this.#tell('outcome', r, (performance.now() - readAt) / 1000, transportDev, via);
  }

  #wakeIdle(): void {
    const waiting = this.#idle;
    this.#idle = [];
    for (const wake of waiting) wake();
  }

  /** Emits to the subscribers; a throwing listener is counted, never lets a frame go unanswered. */
  #tell<K extends keyof IngestEvents>(event: K, ...args: IngestEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: IngestEvents[K]) => boolean)(event, ...args);
    } catch {
      this.counters.listenerErrors += 1;
    }
  }

  /**
   * Runs `fn` where no group commit is under way: at once when none is, else as soon as the
   * one under way has ended and before the next one starts (so a steady load never starves
   * it). A flush reads the log's size before it awaits its data keys and seals its frames
   * to leaf indices from there, so the log's other writer (the shredding records of
   * io/ingest/retention) appends only here. `fn` runs synchronously; its result or error
   * settles the promise.
   */
  betweenFlushes<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = () => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err);
        }
      };
      if (this.#flushing) this.#between.push(run);
      else run();
    });
  }

  /** Waits until every frame handed in (in the signature check or queued) has been answered. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.#order.open > 0) {
        await new Promise<void>((wake) => this.#idle.push(wake));
        continue;
      }
      if (this.#gate.parked > 0) {
        await this.#gate.settled();
        continue;
      }
      if (!this.#flushing && this.#queue.length === 0) return;
      if (!this.#flushing) this.#schedule();
      await this.#flushing;
    }
  }

  /**
   * Answers every frame in flight (`drain`), stops the verify pool's threads and writes the
   * rollups still in memory.
   */
  async close(): Promise<void> {
    await this.#ahead?.stop();
    await this.drain();
    await this.#pool.close();
    this.#rollups.flushNow();
  }

  /** Writes the rollups folded so far now, rather than within `rollupFlushMs`. */
  flushRollups(): void {
    this.#rollups.flushNow();
  }

  /** The rollup writer's figures, and the flushes the store refused. */
  get rollups(): ReturnType<RollupFlusher['stats']> {
    return this.#rollups.stats();
  }

  #rejected(r: Rejection, transportDev: string, via: IngressVia): IngestResult {
    this.counters.rejected += 1;
    this.#rejections.set(r.code, (this.#rejections.get(r.code) ?? 0) + 1);
    const out: Extract<IngestResult, { status: 'rejected' }> = {
      status: 'rejected',
      code: r.code,
      reason: r.reason,
    };
    if (r.dev !== undefined) out.dev = r.dev;
    if (r.seq !== undefined) out.seq = r.seq;
    this.#tell('rejected', out, transportDev, via);
    if (!this.#flushing) this.#schedule();
    return out;
  }

  #schedule(): void {
    if (this.#flushing) return;
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#flush())
      .finally(() => {
        this.#flushing = null;
        if (this.#between.length > 0) for (const run of this.#between.splice(0)) run();
        if (this.#queue.length > 0) this.#schedule();
      });
  }

  async #flush(): Promise<void> {
    const store = this.#o.store;
    const sealedAt = this.#o.now();
    // Only frames whose devices have their data key for now: the others wait for theirs
    // outside this commit (io/data-keys/gate), and come back to the head of the queue.
    const take = this.#gate.admit(this.#queue.splice(0, this.#o.maxBatchFrames), sealedAt);

    const { fresh, duplicates } = sortBatch(take, store, {
      duplicate: ({ frame: { body } }): IngestResult => ({
        status: 'duplicate',
        dev: body.dev,
        seq: body.seq,
      }),
      rejected: (p, r) => p.resolve(this.#rejected(r, p.frame.body.dev, p.via)),
    });
    this.counters.duplicates += duplicates;

    // Counted rejections (from arrival and from the rules above) go into this commit.
    const rejections = this.#rejections;
    this.#rejections = new Map();
    try {
      if (fresh.length > 0) {
        const batchId = store.nextBatchId();
        const firstLeaf = store.size;
        // Each frame under its device's current data key (recorded durably before use);
        // keys are taken in order, the sealing itself runs concurrently.
        const keys = await this.#keys.takeAll(
          fresh.map((p) => p.frame.body.dev),
          sealedAt,
        );
        // Sealed in bulk, synchronously: one COSE_Encrypt0 per frame (node:crypto AES-256-GCM,
        // core/cose-encrypt0), bound to its place in the store by its external AAD.
        const envelopes = sealEncrypt0All(
          fresh.map((p, i) => {
            const k = keys[i] as { id: number; key: CryptoKey };
            const { dev, seq } = p.frame.body;
            return {
              plaintext: p.frame.bytes,
              key: keyObjectOf(k.key),
              externalAad: frameAad(dev, seq, firstLeaf + i, k.id),
            };
          }),
        );
        const frames: NewFrame[] = fresh.map((p) => ({
          dev: p.frame.body.dev,
          seq: p.frame.body.seq,
          hash: p.hash,
          prev: p.frame.body.prev,
          ts: p.frame.body.ts,
          leafHash: hashLeaf(p.frame.bytes),
        }));
        const createdAt = this.#o.now();
        // One transaction (fsync'd): batch row, index, log nodes, sealed frames, counts.
        const leaves = store.commitBatch(
          { id: batchId, envelope: SEALED_FRAMES_MARKER, createdAt, frames },
          () => {
            this.#writeRejections(rejections);
            envelopes.forEach((envelope, i) => {
              this.#keys.putSealedFrame(firstLeaf + i, (keys[i] as { id: number }).id, envelope);
            });
          },
        );
        // Their windows' rollups: in memory now, written behind (io/ingest/rollup-flusher).
        this.#rollups.committed(
          fresh.map((p, i) => {
            const k = keys[i] as { id: number; key: CryptoKey };
            const { dev, ts, obs } = p.frame.body;
            return { dev, ts, obs, keyId: k.id, key: k.key };
          }),
          leaves[leaves.length - 1] as number,
        );
        this.counters.accepted += fresh.length;
        this.counters.batches += 1;
        if (!this.#healthy) this.#tell('storage', { ok: true });
        this.#healthy = true;
        this.#lastError = null;
        fresh.forEach((p, i) => {
          const { dev, seq } = p.frame.body;
          p.resolve({ status: 'accepted', dev, seq, leafIndex: leaves[i] as number });
        });
        // The live stream (dashboards, alarms, the Influx sink) hears of the batch after the
        // acks are on their way (they go out in the microtasks before this), never on their path.
        const live = this.#o.live;
        if (live) setImmediate(() => this.#publishLive(live, fresh, createdAt));
      } else if (rejections.size > 0) {
        store.db.transaction(() => this.#writeRejections(rejections))();
      }
    } catch (err) {
      this.#failed(fresh, err);
      // Keep the counts for the next successful commit.
      for (const [code, n] of rejections) this.#rejections.set(code, (this.#rejections.get(code) ?? 0) + n);
    }
  }

  /** Answers `frames` as not stored (the transport must not ack them); the pipeline is unhealthy. */
  #failed(frames: readonly Submission[], err: unknown): void {
    this.counters.storeFailures += 1;
    const reason = err instanceof StoreError ? err.reason : 'the store could not be written';
    if (this.#healthy) {
      const cause = err instanceof StoreError && err.cause !== undefined ? err.cause : err;
      this.#tell('storage', {
        ok: false,
        reason,
        cause: cause instanceof Error ? cause.message : String(cause),
      });
    }
    this.#healthy = false;
    this.#lastError = reason;
    const failure =
      err instanceof StoreError
        ? err
        : new StoreError('store_failed', 'the batch could not be written', { cause: err });
    for (const p of frames) p.reject(failure);
  }

  #publishLive(live: LiveSink, frames: readonly Submission[], receivedAt: number): void {
    try {
      live.publishAll(
        liveReadingsOf(
          frames.map((p) => p.frame.body),
          receivedAt,
        ),
      );
    } catch {
      this.counters.listenerErrors += 1;
    }
  }

  #writeRejections(counts: Map<string, number>): void {
    for (const [code, n] of counts) this.#o.store.countRejection(code, n);
  }
}
