/**
 * @module io/verify/demand-meter
 * Measures how much of the event loop the signature checks take, window by window, and says
 * when the verify pool's threads should start or stop (the rule: core/thread-demand).
 * A check done in the event loop is timed; a check handed to a thread counts at the mean
 * time of one measured here (what it would have cost the event loop). While the threads
 * run, a timer closes windows without any frames too, so an idle gateway stops them.
 *
 * A check is timed by the wall clock, so one the OS preempted (the process waiting for a
 * core other processes hold) reads its whole wait: a check of ~60 µs read as 4-10 ms. On a
 * host whose cores are busy with other work (10,000 devices connecting in the bench, the
 * driver on the same cores) those waits alone added up to a quarter of a window and started
 * threads that only add to the contention, and ~8 MB each. So a check counts for at most
 * `OUTLIER_FACTOR` times the mean of the checks before it.
 */
import { performance } from 'node:perf_hooks';
import {
  closeWindows,
  type DemandPolicy,
  type DemandState,
  IDLE_DEMAND,
  startEarly,
  useThreads,
  wakeEarly,
} from '../../core/thread-demand.js';

/** What one P-256 check costs before any is measured, ms (node:crypto on this VM: ~56 µs). */
const FIRST_COST_MS = 0.06;
/** Weight of each new measurement in the mean cost. */
const COST_WEIGHT = 1 / 256;
/** A check counts for at most this many times the mean cost (the rest is a wait, not work). */
export const OUTLIER_FACTOR = 4;

export class DemandMeter {
  readonly #policy: DemandPolicy;
  readonly #onChange: (change: 'start' | 'stop') => void;
  #state: DemandState = IDLE_DEMAND;
  #windowStart = performance.now();
  #busyMs = 0;
  /** The short window's start and its work so far (core/thread-demand `wakeEarly`). */
  #burstStart = performance.now();
  #burstMs = 0;
  #costMs = FIRST_COST_MS;
  #timer: NodeJS.Timeout | null = null;

  constructor(policy: DemandPolicy, onChange: (change: 'start' | 'stop') => void) {
    this.#policy = policy;
    this.#onChange = onChange;
  }

  /** The threads should run. */
  get running(): boolean {
    return this.#state.running;
  }

  /** Checks should go to the threads now (core/thread-demand `useThreads`). */
  get useThreads(): boolean {
    return useThreads(this.#policy, this.#state, this.#busyMs);
  }

  /** Mean event-loop time of one check, ms. */
  get costMs(): number {
    return this.#costMs;
  }

  /** A check done in the event loop took `ms`, ending at `now` (performance.now(): read once). */
  measured(ms: number, now: number): void {
    const work = Math.min(ms, OUTLIER_FACTOR * this.#costMs);
    this.#costMs += (work - this.#costMs) * COST_WEIGHT;
    this.#busyMs += work;
    this.#tick(now);
    const early = startEarly(this.#policy, this.#state, this.#busyMs);
    if (early.change) {
      this.#state = early.state;
      this.#changed(early.change);
    }
    if (now - this.#burstStart >= this.#policy.wakeMs) {
      this.#burstStart = now;
      this.#burstMs = 0;
    }
    this.#burstMs += work;
    this.#state = wakeEarly(this.#policy, this.#state, this.#burstMs);
  }

  /** `n` checks were handed to the threads together (one clock reading per batch, not per frame). */
  handedOff(n: number): void {
    this.#busyMs += n * this.#costMs;
    this.#tick(performance.now());
  }

  /** Stops the window timer (the pool closes). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(now: number): void {
    const elapsed = now - this.#windowStart;
    if (elapsed < this.#policy.windowMs) return;
    const windows = Math.floor(elapsed / this.#policy.windowMs);
    const { state, change } = closeWindows(this.#policy, this.#state, this.#busyMs, windows - 1);
    this.#windowStart += windows * this.#policy.windowMs;
    this.#busyMs = 0;
    this.#state = state;
    if (change) this.#changed(change);
  }

  #changed(change: 'start' | 'stop'): void {
    if (change === 'start' && !this.#timer) {
      this.#timer = setInterval(() => this.#tick(performance.now()), this.#policy.windowMs);
      this.#timer.unref();
    } else if (change === 'stop') this.close();
    this.#onChange(change);
  }
}
