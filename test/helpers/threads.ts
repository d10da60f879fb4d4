/**
 * The threads of this process and their nice values, from Linux's `/proc/self/task` (each
 * thread's `stat`, field 19), for the tests and benchmarks of the threads that run behind the
 * event loop (core/thread-nice).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The nice value in a `/proc/<pid>/task/<tid>/stat` line (its 19th field). */
export function niceOf(statLine: string): number {
  // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
  return Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Each thread of this process now, with its nice value (a thread that ends while listed is left out). */
export function threadNices(): { tid: string; nice: number }[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      return [{ tid, nice: niceOf(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')) }];
    } catch {
      return [];
    }
  });
}

/** The ids of this process's threads at nice value `nice` now. */
export function tidsAtNice(nice: number): string[] {
  return threadNices()
    .filter((t) => t.nice === nice)
    .map((t) => t.tid);
}
