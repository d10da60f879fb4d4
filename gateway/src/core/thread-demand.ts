/**
 * @module core/thread-demand
 * When a pool of helper threads should run (issue 14: the verify pool started by load).
 * Threads cost memory (~8 MB RSS each, measured) and a hop per batch; at low load the event
 * loop checks faster alone, at high load the threads add capacity. So the pool follows the
 * work: time is cut in windows; each window's busy share is the event-loop time the work
 * took (or would have taken) over the window's length. Threads start after one window at or
 * above `startShare` and stop after `stopAfterWindows` windows in a row under `stopShare`
 * (the gap between the two keeps a load near one edge from starting and stopping them in
 * turn, as a thermostat's does). A window that reaches `startShare` before it ends starts
 * them then (`startEarly`); while they run, a quiet load is still done in the event loop
 * (`useThreads`) until they stop, and a short window (`wakeMs`) at `startShare` hands the
 * load back to them at once (`wakeEarly`).
 *
 * Pure: the caller measures and acts (io/verify/verify-pool).
 */

export interface DemandPolicy {
  /** Length of one window, ms. */
  readonly windowMs: number;
  /** Busy share (0-1) of one window that starts the threads. */
  readonly startShare: number;
  /** Busy share (0-1) under which a window counts as quiet. */
  readonly stopShare: number;
  /** Quiet windows in a row that stop the threads. */
  readonly stopAfterWindows: number;
  /** Length of the short window whose work at `startShare` wakes running threads, ms. */
  readonly wakeMs: number;
}

/**
 * The verify pool's: threads start in the first second in which signature checks took a
 * quarter of the event loop (~4,500 P-256 frames/s on a core that checks 18,000/s) and stop
 * after 30 s under a tenth (~1,800/s). A ward of 1,000 wearables at 1 Hz, or 10,000 at one
 * frame each 10 s, never starts them.
 */
export const VERIFY_DEMAND_POLICY: DemandPolicy = Object.freeze({
  windowMs: 1000,
  startShare: 0.25,
  stopShare: 0.1,
  stopAfterWindows: 30,
  wakeMs: 50,
});

export interface DemandState {
  /** The threads run. */
  readonly running: boolean;
  /** Quiet windows in a row while they run. */
  readonly quietWindows: number;
}

export const IDLE_DEMAND: DemandState = Object.freeze({ running: false, quietWindows: 0 });
/** The state the threads start in. */
const STARTED: DemandState = Object.freeze({ running: true, quietWindows: 0 });

/**
 * Within a window not yet closed, with `busyMsSoFar` of work in it so far: the threads start
 * as soon as that work reaches `startShare` of the window, which would start them when it
 * closes anyway, rather than at its end. A burst (a ward's devices reconnecting after an
 * outage and resending what they kept, the bench's capacity phase) has them up to three
 * quarters of a window sooner.
 * @returns the state, and `change` 'start' when they are to start now
 */
export function startEarly(
  policy: DemandPolicy,
  state: DemandState,
  busyMsSoFar: number,
): { state: DemandState; change: 'start' | null } {
  if (state.running || busyMsSoFar < policy.startShare * policy.windowMs) return { state, change: null };
  return { state: STARTED, change: 'start' };
}

/**
 * Whether work should go to the threads now: they run, and the load has not gone quiet (the
 * last window under `stopShare` and this one so far too). While they wind down towards their
 * stop, a light load is done in the event loop, as before they started: one frame alone on a
 * thread costs a round trip each way (at 1,000 frames/s the gateway took ~1.1 cores with
 * every frame on a thread, ~0.6 with none) and answers later. A window that reaches
 * `stopShare` so far sends work to them again at once.
 */
export function useThreads(policy: DemandPolicy, state: DemandState, busyMsSoFar: number): boolean {
  return state.running && (state.quietWindows === 0 || busyMsSoFar >= policy.stopShare * policy.windowMs);
}

/**
 * Within a short window (`wakeMs`) not yet closed, with `burstMsSoFar` of work in it so far:
 * threads that run but went quiet (`useThreads` false) get the load back as soon as that work
 * reaches `startShare` of the short window, and the count towards their stop starts again.
 * Without it a burst after a quiet spell was checked in the event loop until a tenth of the
 * whole window: ~300 ms of 5,000 frames/s, the frames behind the checks waiting (the p99 of
 * the bench's fixed-rate phase came from its first second). A load that stays light never
 * gets there: 1,000 checks a second take ~6 % of the event loop, a quarter of a short window
 * is ~4 times that.
 * @returns the state, unchanged unless they are to get the load again
 */
export function wakeEarly(policy: DemandPolicy, state: DemandState, burstMsSoFar: number): DemandState {
  if (!state.running || state.quietWindows === 0 || burstMsSoFar < policy.startShare * policy.wakeMs)
    return state;
  return STARTED;
}

/**
 * The state after windows have closed: the first with `busyMs` of work, then `emptyAfter`
 * windows without any (time passed with no work at all).
 * @returns the state, and `change` when the threads are to start or stop
 */
export function closeWindows(
  policy: DemandPolicy,
  state: DemandState,
  busyMs: number,
  emptyAfter = 0,
): { state: DemandState; change: 'start' | 'stop' | null } {
  const share = busyMs / policy.windowMs;
  if (!state.running) {
    return share >= policy.startShare ? { state: STARTED, change: 'start' } : { state, change: null };
  }
  const quiet = share < policy.stopShare ? state.quietWindows + 1 + emptyAfter : emptyAfter;
  if (quiet >= policy.stopAfterWindows) return { state: IDLE_DEMAND, change: 'stop' };
  return { state: { running: true, quietWindows: quiet }, change: null };
}
