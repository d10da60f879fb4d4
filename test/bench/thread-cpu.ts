/**
 * @module test/bench/thread-cpu
 * The CPU time of this process's threads by role, read from Linux's per-thread scheduler
 * statistics (`/proc/self/task/<tid>/schedstat`: time on a CPU, ns; `comm`: the thread's
 * name): the event loop (the thread whose id is the process id), the verify threads (named
 * `vt-verify` by their code, core/thread-nice) and the rest (V8's GC and compiler helper
 * threads, libuv's pool, and the read threads, io/reading, which a capacity phase does not
 * start). Until 2026-12-07 13:00 the verify threads were told by their nice value, below
 * the event loop's; since then V8's and libuv's threads run at it too (app/helper-threads).
 * Undefined off Linux.
 *
 * A span's time is counted thread by thread (`cpuBetween`): a thread made during the span
 * counts from nothing, and a thread that ended during it is missing from the split (the whole
 * process's figure, `process.cpuUsage()`, keeps it). The verify threads stop only after 30 s
 * of little load, so a capacity phase keeps them.
 */
import { VERIFY_THREAD_NAME } from '../../gateway/src/core/thread-nice.js';
import { eachThread } from '../helpers/threads.js';

export interface ThreadCpu {
  /** µs on a CPU: the event loop, the verify threads, every other thread. */
  loop: number;
  verify: number;
  other: number;
}

/** One thread's time on a CPU so far (µs) and its role. */
export interface ThreadTime {
  tid: number;
  us: number;
  role: keyof ThreadCpu;
}

/** Each thread's time and role; `threads` gives each thread's id, schedstat text and name (`comm`). */
export function classify(
  pid: number,
  threads: { tid: number; schedstat: string; comm: string }[],
): ThreadTime[] {
  const out: ThreadTime[] = [];
  for (const t of threads) {
    const us = Number(t.schedstat.split(' ')[0]) / 1000;
    if (!Number.isFinite(us)) continue;
    const role = t.tid === pid ? 'loop' : t.comm.trim() === VERIFY_THREAD_NAME ? 'verify' : 'other';
    out.push({ tid: t.tid, us, role });
  }
  return out;
}

/** The time each role spent between two readings, thread by thread (see the module's comment). */
export function cpuBetween(a: readonly ThreadTime[], b: readonly ThreadTime[]): ThreadCpu {
  const before = new Map(a.map((t) => [t.tid, t.us]));
  const out: ThreadCpu = { loop: 0, verify: 0, other: 0 };
  for (const t of b) out[t.role] += Math.max(0, t.us - (before.get(t.tid) ?? 0));
  return out;
}

/** This process's threads now; undefined where `/proc` has no per-thread schedstat. */
export function threadTimes(): ThreadTime[] | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // A thread that ends between the listing and the read is left out: its time is gone with it.
    const threads = eachThread((tid, file) => ({
      tid: Number(tid),
      schedstat: file('schedstat'),
      comm: file('comm'),
    }));
    return classify(process.pid, threads);
  } catch {
    return undefined;
  }
}
