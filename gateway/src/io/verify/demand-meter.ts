/**
 * @module io/verify/demand-meter
 * Measures how much of the event loop the signature checks take, window by window, and says
 * when the verify pool's threads should start or stop (the rule: core/thread-demand).
 * Checks done in the event loop are timed; the cost of one check (`costMs`) is the least
 * reading of each `COST_GROUP` in a row, averaged. A window is read two ways:
 * - *held*: the event-loop time its checks took by the clock, each at most `OUTLIER_FACTOR`
 *   times that cost. This is what the frames behind them wait for, so it starts the threads
 *   and wakes them (`startEarly`, `wakeEarly`, and a window closing while they do not run).
 * - *work*: every check at that cost, there or handed to a thread. This is what the checks
 *   are, so it decides whether the running threads get the load or have gone quiet
 *   (`useThreads`, and a window closing while they run).
 * While the threads run, a timer closes windows without any frames too, so an idle gateway
 * stops them.
 *
 * Why the cost is a least reading. A check is timed by the wall clock, so one the OS
 * preempted (the thread waiting for a core another thread or process holds) reads its whole
 * wait: a check of ~60 µs read as 4-10 ms. A wait only ever adds to a reading, and all the
 * checks of a group are seldom preempted together; a uniformly slower core reads slower in
 * every one. Until 2026-12-06 the cost was the mean of the readings capped at four times that
 * mean, so on a busy host it crept up with the waits (0.1225 ms a check on a host whose checks
 * take ~0.06) and a light load handed to the threads read as more than it was: at 1,000
 * frames/s 12 % of the event loop, over the tenth under which they go quiet, so 62-92 % of
 * those frames went on to the threads (`bench:ingest`'s `pooledShareAt1000`), where a lone
 * frame costs a round trip each way.
 *
 * Why the held time is capped. On a host whose cores are busy with other work (10,000 devices
 * connecting in the bench, the driver on the same cores) the waits alone added up to a
 * quarter of a window and started threads that only add to the contention, and ~8 MB each.
 * With the cap a light load cannot wake the threads however long its checks wait: 1,000
 * checks a second, evenly spread, are at most 12 ms of a 50 ms window at 0.06 ms, under its
 * quarter.
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
/** Checks in a row whose least reading is one measurement of the cost. */
const COST_GROUP = 8;
/** Weight of each group's measurement in the cost (~256 checks, as 1/256 a check was). */
const COST_WEIGHT = 1 / 32;
/** A check holds the event loop for at most this many times the cost (the rest is a wait). */
export const OUTLIER_FACTOR = 4;

export class DemandMeter {
  readonly #policy: DemandPolicy;
  readonly #onChange: (change: 'start' | 'stop') => void;
  #state: DemandState = IDLE_DEMAND;
  #windowStart = performance.now();
  /** This window's checks: the event-loop time they held, and their work (module comment). */
  #heldMs = 0;
  #workMs = 0;
  /** The short window's start and the time held in it so far (core/thread-demand `wakeEarly`). */
  #burstStart = performance.now();
  #burstMs = 0;
  #costMs = FIRST_COST_MS;
  /** The group being read: its least reading so far, and its checks. */
  #groupLeast = Number.POSITIVE_INFINITY;
  #groupChecks = 0;
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
    return useThreads(this.#policy, this.#state, this.#workMs);
  }

  /** The event-loop time of one check, ms: the least reading of each group, averaged. */
  get costMs(): number {
    return this.#costMs;
  }

  /** A check done in the event loop read `ms` by the clock, ending at `now` (performance.now(): read once). */
  measured(ms: number, now: number): void {
    if (ms < this.#groupLeast) this.#groupLeast = ms;
    this.#groupChecks += 1;
    if (this.#groupChecks === COST_GROUP) {
      this.#costMs += (this.#groupLeast - this.#costMs) * COST_WEIGHT;
      this.#groupLeast = Number.POSITIVE_INFINITY;
      this.#groupChecks = 0;
    }
    const held = Math.min(ms, OUTLIER_FACTOR * this.#costMs);
    this.#heldMs += held;
    this.#workMs += this.#costMs;
    this.#tick(now);
    const early = startEarly(this.#policy, this.#state, this.#heldMs);
    if (early.change) {
      this.#state = early.state;
      this.#changed(early.change);
    }
    if (now - this.#burstStart >= this.#policy.wakeMs) {
      this.#burstStart = now;
      this.#burstMs = 0;
    }
    this.#burstMs += held;
    this.#state = wakeEarly(this.#policy, this.#state, this.#burstMs);
  }

  /** `n` checks were handed to the threads together at `now` (one clock reading per batch, not per frame). */
  handedOff(n: number, now = performance.now()): void {
    this.#workMs += n * this.#costMs;
    this.#tick(now);
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
    const read = this.#state.running ? this.#workMs : this.#heldMs;
    const { state, change } = closeWindows(this.#policy, this.#state, read, windows - 1);
    this.#windowStart += windows * this.#policy.windowMs;
    this.#heldMs = 0;
    this.#workMs = 0;
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
