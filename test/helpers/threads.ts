/**
 * The threads of this process, their nice values and names, from Linux's `/proc/self/task`
 * (each thread's `stat`, field 19, and `comm`), for the tests and benchmarks of the threads
 * that run behind the event loop (core/thread-nice, app/helper-threads).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The nice value in a `/proc/<pid>/task/<tid>/stat` line (its 19th field). */
export function niceOf(statLine: string): number {
  // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
  return Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[16]);
}

/**
 * `read(tid, file)` for each thread of this process now, `file(name)` reading its
 * `/proc/self/task/<tid>/<name>`; a thread that ends while it is read is left out.
 */
export function eachThread<T>(read: (tid: string, file: (name: string) => string) => T): T[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      return [read(tid, (name) => readFileSync(`/proc/self/task/${tid}/${name}`, 'utf8'))];
    } catch {
      return [];
    }
  });
}

/** Each thread of this process now, with its nice value and name. */
export function threadNices(): { tid: string; nice: number; name: string }[] {
  return eachThread((tid, file) => ({ tid, nice: niceOf(file('stat')), name: file('comm').trim() }));
}

/** The ids of this process's threads at nice value `nice` now (only those named `name`, when given). */
export function tidsAtNice(nice: number, name?: string): string[] {
  return threadNices()
    .filter((t) => t.nice === nice && (name === undefined || t.name === name))
    .map((t) => t.tid);
}
