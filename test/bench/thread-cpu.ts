/**
 * @module test/bench/thread-cpu
 * The CPU time of this process's threads by role, read from Linux's per-thread scheduler
 * statistics (`/proc/self/task/<tid>/schedstat`: time on a CPU, ns; `stat`: the nice value):
 * the event loop (the thread whose id is the process id), the verify threads (the threads
 * niced below the event loop: only they are, `ingest.verifyNice`) and the rest (V8's GC and
 * compiler helper threads, libuv's pool, the read threads). Undefined off Linux. A thread that
 * ends between two readings takes its time with it: the split of a span misses it, while the
 * whole process's figure (`process.cpuUsage()`) keeps it; the verify threads stop only after
 * 30 s of little load, so a capacity phase keeps them.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ThreadCpu {
  /** µs on a CPU so far: the event loop, the verify threads, every other thread. */
  loop: number;
  verify: number;
  other: number;
}

/** The nice value in a `/proc/<pid>/task/<tid>/stat` line (its 19th field). */
export function niceOf(statLine: string): number {
  // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

/** Sums the threads' CPU by role; `threads` gives each thread's id, schedstat and stat text. */
export function sumThreadCpu(
  pid: number,
  threads: { tid: number; schedstat: string; stat: string }[],
): ThreadCpu {
  const loop = threads.find((t) => t.tid === pid);
  const loopNice = loop ? niceOf(loop.stat) : 0;
  const out: ThreadCpu = { loop: 0, verify: 0, other: 0 };
  for (const t of threads) {
    const us = Number(t.schedstat.split(' ')[0]) / 1000;
    if (!Number.isFinite(us)) continue;
    if (t.tid === pid) out.loop += us;
    else if (niceOf(t.stat) > loopNice) out.verify += us;
    else out.other += us;
  }
  return out;
}

/** This process's threads' CPU by role now; undefined where `/proc` has no per-thread schedstat. */
export function threadCpu(): ThreadCpu | undefined {
  if (process.platform !== 'linux') return undefined;
  const threads: { tid: number; schedstat: string; stat: string }[] = [];
  try {
    for (const name of readdirSync('/proc/self/task')) {
      try {
        threads.push({
          tid: Number(name),
          schedstat: readFileSync(`/proc/self/task/${name}/schedstat`, 'utf8'),
          stat: readFileSync(`/proc/self/task/${name}/stat`, 'utf8'),
        });
      } catch {
        // The thread ended between the listing and the read: its time is gone with it.
      }
    }
  } catch {
    return undefined;
  }
  return sumThreadCpu(process.pid, threads);
}
