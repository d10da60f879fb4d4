/**
 * @module io/reading/read-pool
 * Long reads of sealed frames on threads of their own (issue 14: a day of 1 Hz readings
 * within 1 s): the event loop fetches each chunk's rows from SQLite and hands the opening,
 * checking and decoding (io/reading/open-chunk, ~2/3 of a reading's cost) to a read
 * thread, so chunks open on every core at once and the event loop stays free for the
 * ingest's acks while a nurse or an export reads a day.
 *
 * - Threads start on the first job and stop after `idleMs` without one. A thread keeps the
 *   process up only while it holds jobs (ref'd), never while idle (a CLI export ends when
 *   its work does, not 30 s later). A job goes to the thread with the fewest waiting, which
 *   works through its jobs in order; the caller bounds how many it hands in at once.
 * - A job is copied to the thread (its buffers are a chunk's envelopes and hashes, ~250 KB
 *   per 1,024 frames), so when a thread dies with jobs on it, they are opened here, on the
 *   event loop, with the same `openChunk`: never lost, never answered unchecked.
 * - When the thread's code cannot be found (the gateway run from its TypeScript sources,
 *   as the tests do) or a thread fails to start, every job is opened here, as before the
 *   pool.
 *
 * - The threads run `nice` steps behind the thread that made them (core/thread-nice, default
 *   7 as the verify threads'): on a busy machine the event loop, which answers every frame
 *   and raises every alarm, is not kept waiting by a history being read. On an idle machine
 *   it changes nothing.
 *
 * The thread's code is io/reading/read-worker. Nothing about a frame is logged.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BEHIND_EVENT_LOOP_NICE, niceSteps } from '../../core/thread-nice.js';
import { type OpenJob, type OpenResult, openChunk } from './open-chunk.js';

/** Default idle time before the read threads stop. */
export const DEFAULT_READ_IDLE_MS = 30_000;

/** Default nice steps of the read threads behind the thread that made them (core/thread-nice). */
export const DEFAULT_READ_NICE = BEHIND_EVENT_LOOP_NICE;

export interface ReadPoolOptions {
  /** Read threads. Default: the cores (`os.availableParallelism()`), at most 4; 0: none. */
  threads?: number;
  /** The thread's code. Default: read-worker.js beside this module (there only when built). */
  workerUrl?: URL;
  /** Threads stop after this long without a job. Default 30 s. */
  idleMs?: number;
  /** Nice steps of the threads behind the thread that made them, 0-19 (0: the same). Default 7. */
  nice?: number;
}

interface Pending {
  job: OpenJob;
  resolve: (r: OpenResult) => void;
}

interface Lane {
  worker: Worker | null;
  ready: boolean;
  pending: Map<number, Pending>;
  idle: NodeJS.Timeout | null;
}

export class ReadPool {
  readonly #url: URL | null;
  readonly #idleMs: number;
  readonly #nice: number;
  readonly #lanes: Lane[];
  #nextId = 1;
  /** A thread could not start: every job is opened here from then on. */
  #broken = false;
  #closed = false;
  /** Chunks answered by a thread; chunks opened here instead (no thread, or it died). */
  readonly stats = { onThreads: 0, here: 0 };

  constructor(opts: ReadPoolOptions = {}) {
    const url = opts.workerUrl ?? new URL('./read-worker.js', import.meta.url);
    this.#url = existsSync(fileURLToPath(url)) ? url : null;
    this.#idleMs = opts.idleMs ?? DEFAULT_READ_IDLE_MS;
    this.#nice = niceSteps(opts.nice ?? DEFAULT_READ_NICE, 'ReadPool');
    const n = Math.max(0, Math.floor(opts.threads ?? Math.min(4, availableParallelism())));
    this.#lanes = Array.from({ length: n }, () => ({
      worker: null,
      ready: false,
      pending: new Map(),
      idle: null,
    }));
  }

  /** Threads that open jobs (0: every job is opened on the event loop). */
  get threads(): number {
    return this.#url === null || this.#broken || this.#closed ? 0 : this.#lanes.length;
  }

  /** Opens `job` on a read thread, or here when none can (see the module's comment). */
  run(job: OpenJob): Promise<OpenResult> {
    if (this.threads === 0) return Promise.resolve(this.#here(job));
    let lane = this.#lanes[0] as Lane;
    for (const l of this.#lanes) if (l.pending.size < lane.pending.size) lane = l;
    const worker = lane.worker ?? this.#spawn(lane);
    if (worker === null) return Promise.resolve(this.#here(job));
    if (lane.idle) clearTimeout(lane.idle);
    lane.idle = null;
    const id = this.#nextId++;
    worker.ref(); // a thread with work keeps the process up until it answers
    return new Promise<OpenResult>((resolve) => {
      lane.pending.set(id, { job, resolve });
      worker.postMessage({ id, job });
    });
  }

  /** Stops every thread; jobs still on one are opened here. Later jobs are opened here too. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#lanes.map((l) => this.#stop(l)));
  }

  #spawn(lane: Lane): Worker | null {
    let worker: Worker;
    try {
      worker = new Worker(this.#url as URL, { name: 'vitaltrail-read', workerData: { nice: this.#nice } });
    } catch {
      this.#broken = true;
      return null;
    }
    lane.worker = worker;
    lane.ready = false;
    worker.on('message', (m: { ready?: true; id: number; result: OpenResult }) => {
      if (m.ready) {
        if (lane.worker === worker) lane.ready = true;
        return;
      }
      const p = lane.pending.get(m.id);
      if (!p || lane.worker !== worker) return;
      lane.pending.delete(m.id);
      this.stats.onThreads += 1;
      p.resolve(m.result);
      if (lane.pending.size === 0) {
        worker.unref(); // an idle thread never keeps the process up
        if (!this.#closed) {
          lane.idle = setTimeout(() => void this.#stop(lane), this.#idleMs);
          lane.idle.unref();
        }
      }
    });
    worker.on('error', () => {
      // Followed by 'exit', where its jobs are opened here.
    });
    worker.once('exit', () => {
      if (lane.worker !== worker) return;
      if (!lane.ready) this.#broken = true; // its code never loaded: do not try again
      this.#drain(lane);
    });
    // Unref'd once its listeners are on (adding one refs it again): see `run`.
    worker.unref();
    return worker;
  }

  /** The lane's thread is gone: its jobs are opened here, in order. */
  #drain(lane: Lane): void {
    lane.worker = null;
    lane.ready = false;
    if (lane.idle) clearTimeout(lane.idle);
    lane.idle = null;
    const left = [...lane.pending.values()];
    lane.pending.clear();
    for (const p of left) p.resolve(this.#here(p.job));
  }

  #here(job: OpenJob): OpenResult {
    this.stats.here += 1;
    return openChunk(job);
  }

  async #stop(lane: Lane): Promise<void> {
    const worker = lane.worker;
    if (!worker) return;
    this.#drain(lane);
    await worker.terminate();
  }
}

let shared: ReadPool | undefined;

/** The process's read pool (made on first use): every gateway in a process shares it. */
export function sharedReadPool(): ReadPool {
  shared ??= new ReadPool();
  return shared;
}
