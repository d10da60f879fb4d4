/**
 * @module app/helper-threads
 * The runtime's own helper threads behind the event loop, beside the verify threads (issue
 * 14; README "Benchmarks": "The runtime's helper threads behind the event loop too"). Node
 * starts them before any gateway code runs: V8's platform workers (the garbage collector's
 * parallel and concurrent marking, sweeping and compaction; background compilation),
 * libuv's pool and a few more. At their default priority a major collection took both
 * cores from the verify threads, which run `ingest.verifyNice` steps behind the event loop
 * (core/thread-nice): for 50-100 ms every ~2 s at 5,000 frames/s no verdict came back, and
 * the frames of those moments made the PUBACK's p99. Put at the verify threads' nice, the
 * helpers share what the event loop leaves with the threads they used to starve.
 *
 * On Linux each thread has a nice value of its own and `setpriority(PRIO_PROCESS, tid)`
 * sets one thread's (man 2 setpriority, NOTES); elsewhere nothing is changed. Only a lower
 * priority is ever asked, which needs no privilege. Threads named by the gateway (`vt-…`:
 * the verify and read threads, which set their own) are left as they are, and so is a
 * thread already further behind. The threads are the process's, not one gateway's: the
 * first gateway started in a process sets them (a process runs one gateway outside the test
 * suite); a thread the runtime makes later starts at the event loop's priority.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { niceSteps, OWN_THREAD_PREFIX } from '../core/thread-nice.js';

/** Whether a gateway of this process has placed the threads already (once per process). */
let applied = false;

/**
 * Lowers every other thread of this process (but the gateway's own) to `steps` nice steps
 * behind the calling thread, the event loop; once per process: later calls change nothing.
 * @returns the threads moved by this call
 * @throws {RangeError} when `steps` is not a whole number from 0 to 19
 */
export function niceHelperThreads(steps: number): number {
  niceSteps(steps, 'helper threads');
  if (applied || process.platform !== 'linux') return 0;
  applied = true;
  if (steps === 0) return 0;
  const target = Math.min(19, getPriority(0) + steps);
  let moved = 0;
  let tids: string[];
  let self: string;
  try {
    tids = readdirSync('/proc/self/task');
    self = readlinkSync('/proc/thread-self').split('/').at(-1) as string; // "<pid>/task/<tid>"
  } catch {
    return 0;
  }
  for (const name of tids) {
    if (name === self) continue;
    const tid = Number(name);
    try {
      if (readFileSync(`/proc/self/task/${name}/comm`, 'utf8').startsWith(OWN_THREAD_PREFIX)) continue;
      if (getPriority(tid) >= target) continue;
      setPriority(tid, target);
      moved += 1;
    } catch {
      // The thread ended between the listing and the change, or may not be changed: left be.
    }
  }
  return moved;
}
