/**
 * app/helper-threads: the runtime's helper threads (V8's platform workers, libuv's pool) put
 * behind the event loop with the verify threads (issue 14, the p99 at 5,000 frames/s; the
 * figures are `npm run bench:ingest`'s). The threads are the process's and the change is
 * made once per process, so each case runs in a Node child process of its own, on the
 * built module (the suite runs after `npm run build`, as the crash children do). Linux only:
 * elsewhere nothing is changed and there is no per-thread nice value to read.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { niceHelperThreads } from '../../gateway/src/app/helper-threads.js';

const MODULE = new URL('../../dist/gateway/src/app/helper-threads.js', import.meta.url).pathname;

interface Thread {
  nice: number;
  name: string;
}
interface Seen {
  moved: number;
  again: number;
  pid: number;
  self: string;
  before: Record<string, Thread>;
  after: Record<string, Thread>;
}

/**
 * In a fresh process: a thread named as the gateway's (`vt-verify`) at +2 and an unnamed one
 * already at +12, then `calls` (the module's function as `nice`), each thread's nice value
 * and name before and after.
 */
function inChild(calls: string): Seen {
  const script = `
import { niceHelperThreads as nice } from ${JSON.stringify(MODULE)};
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
const threads = () => Object.fromEntries(readdirSync('/proc/self/task').flatMap((t) => {
  try {
    const s = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
    const name = readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim();
    return [[t, { nice: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]), name }]];
  } catch { return []; }
}));
const spawn = (code) => { const w = new Worker(code + "; require('node:worker_threads').parentPort.postMessage(1); setInterval(() => {}, 1000);", { eval: true, execArgv: [] }); return once(w, 'message'); };
await spawn("require('node:fs').writeFileSync('/proc/thread-self/comm', 'vt-verify'); require('node:os').setPriority(0, require('node:os').getPriority(0) + 2)");
await spawn("require('node:os').setPriority(0, require('node:os').getPriority(0) + 12)");
const before = threads();
const [moved, again] = [${calls}];
console.log(JSON.stringify({ moved, again, pid: process.pid, self: readlinkSync('/proc/thread-self').split('/').at(-1), before, after: threads() }));
process.exit(0);
`;
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    }),
  ) as Seen;
}

describe.runIf(process.platform === 'linux')('niceHelperThreads', () => {
  it('behavior: the first call puts every other thread 7 steps behind the calling one, once; the gateway’s own threads and those further behind stay', () => {
    const seen = inChild('nice(7), nice(3)');
    expect(seen.self).toBe(String(seen.pid)); // a process's main thread: its event loop
    const own = seen.before[seen.self]?.nice as number;
    expect(seen.after[seen.self]?.nice).toBe(own);
    const helpers = Object.entries(seen.before).filter(
      ([tid, t]) => tid !== seen.self && !t.name.startsWith('vt-') && t.nice < own + 7,
    );
    expect(helpers.length).toBeGreaterThanOrEqual(4); // V8's platform workers at least
    for (const [tid] of helpers) expect(seen.after[tid]?.nice).toBe(own + 7);
    expect(seen.moved).toBe(helpers.length);
    expect(seen.again).toBe(0); // once per process: the 3 asked later changes nothing
    const named = Object.entries(seen.after).filter(([, t]) => t.name === 'vt-verify');
    expect(named.map(([, t]) => t.nice)).toEqual([own + 2]);
    expect(Object.values(seen.after).filter((t) => t.nice === own + 12)).toHaveLength(1);
  });

  it('behavior: 0 leaves every thread as it is, and a later call too', () => {
    const seen = inChild('nice(0), nice(7)');
    expect([seen.moved, seen.again]).toEqual([0, 0]);
    for (const [tid, t] of Object.entries(seen.before)) expect(seen.after[tid]?.nice).toBe(t.nice);
  });
});

describe('niceHelperThreads, its argument', () => {
  it('behavior: a value out of 0-19 or not whole is refused before anything is changed', () => {
    for (const bad of [-1, 20, 2.5, Number.NaN]) expect(() => niceHelperThreads(bad)).toThrow(RangeError);
  });
});
