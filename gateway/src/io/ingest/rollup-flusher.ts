/**
 * @module io/ingest/rollup-flusher
 * When the rollups the group commits fold in memory are written (io/store/rollups
 * `RollupWriter`, issue 14): at most `intervalMs` after the first commit that changed one, in
 * transactions of a bounded size with the event loop free between them (commits and acks go
 * on in between), and all of them at close. With `intervalMs` 0, right after each commit and
 * before its frames are answered (write-through: what tests of the rows themselves use).
 *
 * A flush of many windows (10,000 devices change ~10,000 rows every 5 s: ~40 transactions of
 * 512 rows, ~0.25 s of work) is paced: after each transaction the next waits so that the
 * flush takes at most `ROLLUP_FLUSH_DUTY` of the event loop (`pauseAfter`). Back to back, its
 * transactions left the frames that came meanwhile only the gaps between them, and a
 * gateway of 10,000 devices at 1,000 frames/s answered its p99 in 190-265 ms.
 *
 * A flush the store refuses (disk full, a busy file) is tried again after the interval:
 * nothing is lost meanwhile (the aggregates stay in memory), and readers answer the windows
 * not yet written from the raw frames, as they always may.
 */
import { performance } from 'node:perf_hooks';
import type { RollupInput, RollupWriter, RollupWriterStats } from './rollup-writer.js';

/** The default wait before the changed rollups are written. */
export const ROLLUP_FLUSH_MS = 5000;
/** The share of the event loop a flush of several transactions takes at most. */
export const ROLLUP_FLUSH_DUTY = 0.25;

/**
 * The pause after `workMs` of background work that keeps that work to `duty` (0-1] of the
 * time: `workMs × (1 - duty) / duty` (a quarter: three times the work). Pure.
 * @example pauseAfter(6, 0.25) // 18
 */
export function pauseAfter(workMs: number, duty: number): number {
  if (!(duty > 0 && duty <= 1)) throw new RangeError('pauseAfter: duty must be in (0, 1]');
  return Math.max(0, workMs) * ((1 - duty) / duty);
}

export interface RollupFlusherPace {
  /** Share of the event loop a flush takes at most (default `ROLLUP_FLUSH_DUTY`; 1: no pause). */
  duty?: number;
  /** The clock that times each transaction, ms (default `performance.now`). */
  now?: () => number;
}

export class RollupFlusher {
  readonly #writer: RollupWriter;
  readonly #intervalMs: number;
  readonly #duty: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  /** Flushes the store refused, and the last refusal's message (no payload values in it). */
  failures = 0;
  lastError: string | null = null;

  constructor(writer: RollupWriter, intervalMs = ROLLUP_FLUSH_MS, pace: RollupFlusherPace = {}) {
    if (!(Number.isInteger(intervalMs) && intervalMs >= 0))
      throw new RangeError('RollupFlusher: intervalMs must be a non-negative integer');
    this.#writer = writer;
    this.#intervalMs = intervalMs;
    this.#duty = pace.duty ?? ROLLUP_FLUSH_DUTY;
    pauseAfter(0, this.#duty); // throws RangeError on a duty outside (0, 1]
    this.#now = pace.now ?? (() => performance.now());
  }

  /**
   * After the commit that stored `frames` (its highest leaf `lastLeaf`): folds them into
   * their windows and writes now (interval 0) or within the interval.
   */
  committed(frames: readonly RollupInput[], lastLeaf: number): void {
    this.#writer.fold(frames, lastLeaf);
    if (this.#intervalMs === 0) {
      if (!this.#immediate) this.#run(true);
      return;
    }
    if (this.#timer || this.#immediate) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run(false);
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** The writer's figures, what waits, and the flushes the store refused. */
  stats(): RollupWriterStats & { pending: number; failures: number; lastError: string | null } {
    const { failures, lastError } = this;
    return { ...this.#writer.stats, pending: this.#writer.pending, failures, lastError };
  }

  /** Writes everything waiting now (e.g. at the gateway's stop); a refusal is counted, not thrown. */
  flushNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
    try {
      while (!this.#writer.flush());
    } catch (err) {
      this.#failed(err); // the next start finds the windows short and tears them (RollupWriter)
    }
  }

  /**
   * One chunk, or (`whole`) every chunk. What is left goes on after a pause that keeps the
   * flush to its duty (`pauseAfter`), or at the next turn of the loop when that is under 1 ms.
   */
  #run(whole: boolean): void {
    this.#immediate = null;
    try {
      const t0 = this.#now();
      let done = this.#writer.flush();
      while (whole && !done) done = this.#writer.flush();
      if (!done) {
        const pause = pauseAfter(this.#now() - t0, this.#duty);
        if (pause >= 1) {
          this.#timer = setTimeout(() => {
            this.#timer = null;
            this.#run(false);
          }, pause);
          this.#timer.unref();
        } else {
          this.#immediate = setImmediate(() => this.#run(false));
          this.#immediate.unref();
        }
      }
    } catch (err) {
      this.#failed(err);
      this.#timer ??= setTimeout(
        () => {
          this.#timer = null;
          this.#run(false);
        },
        Math.max(this.#intervalMs, ROLLUP_FLUSH_MS),
      );
      this.#timer.unref();
    }
  }

  #failed(err: unknown): void {
    this.failures += 1;
    this.lastError = err instanceof Error ? err.message : 'the rollups could not be written';
  }
}
