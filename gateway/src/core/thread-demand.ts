/**
 * @module core/thread-demand
 * When a pool of helper threads should run (issue 14: the verify pool started by load).
 * Threads cost memory (~8 MB RSS each, measured) and a hop per batch; at low load the event
 * loop checks faster alone, at high load the threads add capacity. So the pool follows the
 * work: time is cut in windows; each window's busy share is the event-loop time the work
 * took (or would have taken) over the window's length. Threads start after one window at or
 * above `startShare` and stop after `stopAfterWindows` windows in a row under `stopShare`
 * (the gap between the two keeps a load near one edge from starting and stopping them in
 * turn, as a thermostat's does).
 *
 * Pure: the caller measures and acts (io/ingest/verify-pool).
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
});

export interface DemandState {
  /** The threads run. */
  readonly running: boolean;
  /** Quiet windows in a row while they run. */
  readonly quietWindows: number;
}

export const IDLE_DEMAND: DemandState = Object.freeze({ running: false, quietWindows: 0 });

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
    return share >= policy.startShare
      ? { state: { running: true, quietWindows: 0 }, change: 'start' }
      : { state, change: null };
  }
  const quiet = share < policy.stopShare ? state.quietWindows + 1 + emptyAfter : emptyAfter;
  if (quiet >= policy.stopAfterWindows) return { state: IDLE_DEMAND, change: 'stop' };
  return { state: { running: true, quietWindows: quiet }, change: null };
}
