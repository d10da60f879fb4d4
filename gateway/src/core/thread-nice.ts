/**
 * @module core/thread-nice
 * How far the gateway's worker threads run behind its event loop: the signature checks
 * (io/verify) and the long reads (io/reading). The event loop is the ingest's one serial
 * stage (it parses, commits and answers every frame, and raises every alarm), so when more
 * threads want the cores than there are, it runs first and the threads take what it leaves
 * (README "Benchmarks": "The verify threads behind the event loop", "The read threads behind
 * the event loop"). On Linux each thread lowers its own nice value by these steps when it
 * starts (the threads' code: io/verify/verify-worker, io/reading/read-worker); elsewhere a
 * thread cannot be niced alone and runs as the process does. The runtime's own helper
 * threads (V8's collector, libuv's pool) are put at the verify threads' value by
 * app/helper-threads.
 */

/**
 * The names the gateway's own threads give themselves on Linux (`/proc/thread-self/comm`,
 * at most 15 bytes), so `top -H` and `ps -L` tell them apart, and app/helper-threads leaves
 * them to set their own nice value.
 */
export const VERIFY_THREAD_NAME = 'vt-verify';
export const READ_THREAD_NAME = 'vt-read';
/** What both names begin with. */
export const OWN_THREAD_PREFIX = 'vt-';

/** The default steps behind the event loop: at 7 a contending thread weighs ~1/5 of one at 0. */
export const BEHIND_EVENT_LOOP_NICE = 7;

/**
 * `steps` when it is a whole number of nice steps, 0-19 (19 is the lowest priority).
 * @throws {RangeError} naming `who` otherwise
 */
export function niceSteps(steps: number, who: string): number {
  if (!Number.isSafeInteger(steps) || steps < 0 || steps > 19)
    throw new RangeError(`${who}: nice must be an integer from 0 to 19`);
  return steps;
}
