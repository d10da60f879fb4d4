/**
 * @module io/identity/password-pool
 * Password hashing on its own thread (ARCHITECTURE.md "Ingest path (performance)": nothing
 * the web tier does may take the threads the ack path needs). node:crypto's async `scrypt`
 * runs in libuv's shared 4-thread pool, where WebCrypto sealing and file I/O of the ingest
 * path also run; a burst of sign-ins there stalls frame acknowledgements (issue 13). Here
 * scrypt (RFC 7914) runs as `scryptSync` inside dedicated `worker_threads` workers (one by
 * default, for a 2-core host), and the number of derivations waiting or running is bounded:
 * callers check `saturated` and refuse fast (`login_busy`) instead of queueing.
 *
 * The worker's source is a fixed string evaluated as CommonJS (`eval: true`), so the same
 * code runs from the TypeScript sources and from dist/ without a second entry file.
 *
 * Trust: passwords cross to the worker by structured clone and are never logged; the
 * worker answers only key bytes or a fixed failure.
 */
import type { ScryptOptions } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { ScryptDerive } from '../../core/passwords.js';

/** Default threads: one, so hashing takes at most one core of a 2-core host. */
export const DEFAULT_PASSWORD_THREADS = 1;
/** Default bound on derivations waiting or running (~4 × 0.1-0.3 s of scrypt N=2^15). */
export const DEFAULT_PASSWORD_QUEUE = 4;
/**
 * Default threads kept for checks of priority 0 (addresses with no recent failure and
 * nothing in flight): like PostgreSQL's reserved superuser connections, a sign-in in good
 * standing never waits behind a spray's derivation, only behind other clean ones.
 */
export const DEFAULT_RESERVED_THREADS = 1;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
parentPort.on('message', (m) => {
  let key = null;
  try { key = scryptSync(m.password, Buffer.from(m.salt), m.keylen, m.options); } catch {}
  parentPort.postMessage({ id: m.id, key });
});
`;

export interface PasswordPoolOptions {
  /** Worker threads hashing passwords. Default 1. */
  threads?: number;
  /** Derivations waiting or running at most; `saturated` is true at this bound. Default 4. */
  maxQueue?: number;
  /**
   * Further threads that take only priority-0 checks, with a queue bound of their own
   * (`maxQueue` more clean checks). Default 1; 0 turns the reserve off.
   */
  reservedThreads?: number;
}

interface Job {
  id: number;
  priority: number;
  message: unknown;
  resolve: (key: Buffer) => void;
  reject: (err: Error) => void;
}

interface Lane {
  worker: Worker;
  /** The job on this thread, if any: one at a time, so the queue order is ours. */
  running: Job | null;
}

/**
 * A bounded pool of scrypt threads. `derive` has the shape `verifyPassword` takes.
 * @throws {RangeError} when `threads` or `maxQueue` is not a positive integer.
 * @example
 * const pool = new PasswordPool();
 * if (!pool.saturated) await users.authenticate(name, password, pool.derive);
 * await pool.close();
 */
export class PasswordPool {
  readonly threads: number;
  readonly maxQueue: number;
  readonly reservedThreads: number;
  readonly #lanes: (Lane | null)[];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #pending = 0;
  #closed = false;

  constructor(opts: PasswordPoolOptions = {}) {
    this.threads = opts.threads ?? DEFAULT_PASSWORD_THREADS;
    this.maxQueue = opts.maxQueue ?? DEFAULT_PASSWORD_QUEUE;
    if (!Number.isSafeInteger(this.threads) || this.threads < 1 || this.threads > 16) {
      throw new RangeError('PasswordPool: threads must be an integer from 1 to 16');
    }
    if (!Number.isSafeInteger(this.maxQueue) || this.maxQueue < 1 || this.maxQueue > 1024) {
      throw new RangeError('PasswordPool: maxQueue must be an integer from 1 to 1024');
    }
    this.reservedThreads = opts.reservedThreads ?? DEFAULT_RESERVED_THREADS;
    if (
      !Number.isSafeInteger(this.reservedThreads) ||
      this.reservedThreads < 0 ||
      this.reservedThreads > 16
    ) {
      throw new RangeError('PasswordPool: reservedThreads must be an integer from 0 to 16');
    }
    this.#lanes = Array.from({ length: this.threads + this.reservedThreads }, () => null);
  }

  /** Derivations waiting or running. */
  get pending(): number {
    return this.#pending;
  }

  /** True when a new derivation would exceed `maxQueue`: refuse the sign-in instead. */
  get saturated(): boolean {
    return this.saturatedFor(1);
  }

  /**
   * Whether a check of `priority` would be refused: any check beyond `maxQueue`; with a
   * reserve, priority 0 only beyond `2 × maxQueue` (the reserve's own bound).
   */
  saturatedFor(priority: number): boolean {
    const bound = priority === 0 && this.reservedThreads > 0 ? 2 * this.maxQueue : this.maxQueue;
    return this.#pending >= bound;
  }

  /** scrypt on a pool thread; rejects when the pool is saturated or closed (a wrong password to `verifyPassword`). */
  readonly derive: ScryptDerive = (password, salt, keylen, options) =>
    this.#enqueue(0, password, salt, keylen, options);

  /**
   * `derive` with a queue priority: lower runs first, equal ones in arrival order. The
   * login route passes the source address's recent failures, so a spraying address waits
   * behind everyone else while the rightful user's check runs next.
   */
  deriveWithPriority(priority: number): ScryptDerive {
    return (password, salt, keylen, options) => this.#enqueue(priority, password, salt, keylen, options);
  }

  /** Stops the threads; derivations waiting or in flight are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.reject(new Error('password pool closed'));
    await Promise.all(
      this.#lanes.map(async (lane, i) => {
        if (!lane) return;
        this.#lanes[i] = null;
        this.#fail(lane);
        await lane.worker.terminate();
      }),
    );
  }

  #enqueue(
    priority: number,
    password: string,
    salt: Buffer,
    keylen: number,
    options: ScryptOptions,
  ): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new Error('password pool closed'));
    if (this.saturatedFor(priority)) return Promise.reject(new Error('password pool saturated'));
    const id = this.#nextId++;
    this.#pending += 1;
    const opts: ScryptOptions = { N: options.N, r: options.r, p: options.p, maxmem: options.maxmem };
    const message = { id, password, salt: new Uint8Array(salt), keylen, options: opts };
    return new Promise<Buffer>((resolve, reject) => {
      // Sorted insert: after every job of the same or a lower priority.
      let at = this.#queue.length;
      while (at > 0 && (this.#queue[at - 1] as Job).priority > priority) at -= 1;
      this.#queue.splice(at, 0, { id, priority, message, resolve, reject });
      this.#dispatch();
    }).finally(() => {
      this.#pending -= 1;
    });
  }

  /** Hands queued jobs to idle threads, starting threads as needed; reserved threads take only priority 0. */
  #dispatch(): void {
    for (let i = 0; i < this.#lanes.length && this.#queue.length > 0; i++) {
      const reserved = i >= this.threads;
      if (reserved && (this.#queue[0] as Job).priority !== 0) continue; // sorted: no clean job waits
      if (this.#lanes[i]?.running) continue;
      const lane = this.#lanes[i] ?? this.#start(i);
      const job = this.#queue.shift() as Job;
      lane.running = job;
      lane.worker.postMessage(job.message);
    }
  }

  #start(i: number): Lane {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref(); // an idle pool never holds the process open
    const lane: Lane = { worker, running: null };
    worker.on('message', (m: { id: number; key: Uint8Array | null }) => {
      const job = lane.running;
      if (!job || job.id !== m.id) return;
      lane.running = null;
      if (m.key) job.resolve(Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength));
      else job.reject(new Error('scrypt failed'));
      this.#dispatch();
    });
    const lost = () => {
      // A dead thread fails its job; the next dispatch starts a fresh one.
      if (this.#lanes[i] === lane) this.#lanes[i] = null;
      this.#fail(lane);
      if (!this.#closed) this.#dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    this.#lanes[i] = lane;
    return lane;
  }

  #fail(lane: Lane): void {
    lane.running?.reject(new Error('password thread stopped'));
    lane.running = null;
  }
}
