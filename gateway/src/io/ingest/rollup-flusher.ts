/**
 * @module io/ingest/rollup-flusher
 * When the rollups the group commits fold in memory are written (io/store/rollups
 * `RollupWriter`, issue 14): at most `intervalMs` after the first commit that changed one, in
 * transactions of a bounded size with the event loop free between them (commits and acks go
 * on in between), and all of them at close. With `intervalMs` 0, right after each commit and
 * before its frames are answered (write-through: what tests of the rows themselves use).
 *
 * A flush the store refuses (disk full, a busy file) is tried again after the interval:
 * nothing is lost meanwhile (the aggregates stay in memory), and readers answer the windows
 * not yet written from the raw frames, as they always may.
 */
import type { RollupInput, RollupWriter, RollupWriterStats } from './rollup-writer.js';

/** The default wait before the changed rollups are written. */
export const ROLLUP_FLUSH_MS = 5000;

export class RollupFlusher {
  readonly #writer: RollupWriter;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  /** Flushes the store refused, and the last refusal's message (no payload values in it). */
  failures = 0;
  lastError: string | null = null;

  constructor(writer: RollupWriter, intervalMs = ROLLUP_FLUSH_MS) {
    if (!(Number.isInteger(intervalMs) && intervalMs >= 0))
      throw new RangeError('RollupFlusher: intervalMs must be a non-negative integer');
    this.#writer = writer;
    this.#intervalMs = intervalMs;
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

  /** One chunk, or (`whole`) every chunk; what is left goes on at the next turn of the loop. */
  #run(whole: boolean): void {
    this.#immediate = null;
    try {
      let done = this.#writer.flush();
      while (whole && !done) done = this.#writer.flush();
      if (!done) {
        this.#immediate = setImmediate(() => this.#run(false));
        this.#immediate.unref();
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
