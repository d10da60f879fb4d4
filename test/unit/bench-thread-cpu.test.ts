import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { classify, cpuBetween, threadTimes } from '../bench/thread-cpu.js';
import { niceOf } from '../helpers/threads.js';

// A /proc/<pid>/task/<tid>/stat line: pid, (comm), state, then fields 4-52; field 19 is nice.
const stat = (tid: number, comm: string, nice: number) =>
  `${tid} (${comm}) S 1 ${tid} ${tid} 0 -1 4194560 100 0 0 0 5 3 0 0 ${20 + nice} ${nice} 1 0 1000 0 0`;

describe('bench thread CPU by role', () => {
  it('reads the nice value past a command name holding spaces and parentheses', () => {
    expect(niceOf(stat(7, 'node', 0))).toBe(0);
    expect(niceOf(stat(8, 'a) (b c', 7))).toBe(7);
    expect(niceOf(stat(9, 'x', -5))).toBe(-5);
  });

  it('names the thread of the pid the event loop, the threads named vt-verify verify threads, the rest other', () => {
    const times = classify(100, [
      { tid: 100, schedstat: '5000000 10 3\n', comm: 'node\n' },
      { tid: 101, schedstat: '2000000 10 3\n', comm: 'node\n' },
      { tid: 102, schedstat: '3000000 10 3\n', comm: 'vt-verify\n' },
      { tid: 103, schedstat: '4000000 10 3\n', comm: 'vt-verify\n' },
      { tid: 104, schedstat: 'garbage', comm: 'vt-verify\n' },
      { tid: 105, schedstat: '1000000 10 3\n', comm: 'vt-read\n' }, // a read thread: not a check
    ]);
    expect(times).toEqual([
      { tid: 100, us: 5000, role: 'loop' },
      { tid: 101, us: 2000, role: 'other' },
      { tid: 102, us: 3000, role: 'verify' },
      { tid: 103, us: 4000, role: 'verify' },
      { tid: 105, us: 1000, role: 'other' },
    ]);
    expect(cpuBetween([], times)).toEqual({ loop: 5000, verify: 7000, other: 3000 });
  });

  it('counts a span thread by thread: a thread made in it from nothing, a thread ended in it not at all', () => {
    const a = [
      { tid: 1, us: 100, role: 'loop' as const },
      { tid: 2, us: 500, role: 'verify' as const },
      { tid: 3, us: 900, role: 'verify' as const }, // ends before b
    ];
    const b = [
      { tid: 1, us: 150, role: 'loop' as const },
      { tid: 2, us: 520, role: 'verify' as const },
      { tid: 4, us: 30, role: 'other' as const }, // made after a
    ];
    expect(cpuBetween(a, b)).toEqual({ loop: 50, verify: 20, other: 30 });
  });

  it("reads this process's threads: the event loop's and a niced thread's time as each worked", async () => {
    const a = threadTimes();
    if (process.platform !== 'linux') {
      expect(a).toBeUndefined();
      return;
    }
    expect(a).toBeDefined();
    // Each spin counts its own thread's CPU time (/proc/thread-self), not the clock: on a
    // loaded machine a thread gets less CPU than the wall time it spins. A running thread's
    // schedstat may lag by up to a scheduler tick (it is brought up to date at the tick or
    // when the thread stops), hence the margins below.
    const own = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
    const end = own() + 25;
    while (own() < end) {
      // spin
    }
    const b = threadTimes() as NonNullable<typeof a>;
    expect(cpuBetween(a as NonNullable<typeof a>, b).loop).toBeGreaterThanOrEqual(15_000);
    // A worker that names itself as the verify threads do counts as a verify thread.
    const w = new Worker(
      `const fs = require('node:fs'); const { parentPort } = require('node:worker_threads');
       fs.writeFileSync('/proc/thread-self/comm', 'vt-verify');
       const own = () => Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
       // \`on\`, not \`once\`: a listener keeps the thread alive until it is terminated, after
       // the reading below (with \`once\` it could end, and take its time with it, before).
       parentPort.on('message', () => { const e = own() + 40; while (own() < e) {} parentPort.postMessage('spun'); });
       parentPort.postMessage('ready');`,
      { eval: true },
    );
    await new Promise((resolve) => w.once('message', resolve));
    const c = threadTimes() as NonNullable<typeof a>;
    w.postMessage('spin');
    await new Promise((resolve) => w.once('message', resolve));
    const d = threadTimes() as NonNullable<typeof a>;
    await w.terminate();
    expect(cpuBetween(c, d).verify).toBeGreaterThanOrEqual(30_000);
  });
});
