/**
 * @module io/anchoring/chain-calls
 * The gateway's calls to the chain, as one thing a stop can end. Every chain client the
 * gateway makes (the anchorers' ledgers, the registry poll's reader) takes `signal`; at stop,
 * `abortAfter(ms)` gives the last flush to the chain that long, then aborts every call still in
 * flight (and fails every later one at once), so a chain that accepts connections and never
 * answers (a black hole) cannot hold the stop for viem's timeouts and retries (3 × 10 s per
 * call, several calls in turn). `abort()` ends them at once (the stop's end).
 *
 * At start, the first read of the chain waits `firstContactMs` at most; when it was not
 * answered in that time (`noteUnanswered`), the later first reads of the start do not wait
 * again (`firstWaitMs` is 0): one unanswered chain holds the start once, not once per step.
 */

/** Default: how long a stop waits for the chain (the last anchors) before aborting its calls. */
export const DEFAULT_CHAIN_STOP_MS = 5000;

export class ChainCalls {
  readonly #ac = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #unanswered = false;

  /** The start's first read of the chain was not answered in time: the next ones do not wait. */
  noteUnanswered(): void {
    this.#unanswered = true;
  }

  /** How long a first read of the start may wait: `ms`, or 0 once one was not answered. */
  firstWaitMs(ms: number): number {
    return this.#unanswered ? 0 : ms;
  }

  /** Aborts when the gateway gives up on the chain (`abortAfter`, `abort`). */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  get aborted(): boolean {
    return this.#ac.signal.aborted;
  }

  /** Aborts every call to the chain in `ms` unless `abort` came first; never holds the process. */
  abortAfter(ms: number): void {
    if (this.#timer || this.aborted) return;
    this.#timer = setTimeout(() => this.abort(), ms);
    this.#timer.unref();
  }

  /** Aborts every call to the chain in flight; later calls fail at once. Idempotent. */
  abort(): void {
    clearTimeout(this.#timer);
    if (!this.aborted) this.#ac.abort(new Error('the gateway stopped'));
  }
}
