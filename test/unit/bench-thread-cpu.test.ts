import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { niceOf, sumThreadCpu, threadCpu } from '../bench/thread-cpu.js';

// A /proc/<pid>/task/<tid>/stat line: pid, (comm), state, then fields 4-52; field 19 is nice.
const stat = (tid: number, comm: string, nice: number) =>
  `${tid} (${comm}) S 1 ${tid} ${tid} 0 -1 4194560 100 0 0 0 5 3 0 0 ${20 + nice} ${nice} 1 0 1000 0 0`;

describe('bench thread CPU by role', () => {
  it('reads the nice value past a command name holding spaces and parentheses', () => {
    expect(niceOf(stat(7, 'node', 0))).toBe(0);
    expect(niceOf(stat(8, 'a) (b c', 7))).toBe(7);
    expect(niceOf(stat(9, 'x', -5))).toBe(-5);
  });

  it('counts the thread named by the pid as the event loop, niced threads as verify threads, the rest as other', () => {
    const sum = sumThreadCpu(100, [
      { tid: 100, schedstat: '5000000 10 3\n', stat: stat(100, 'node', 2) },
      { tid: 101, schedstat: '2000000 10 3\n', stat: stat(101, 'node', 2) },
      { tid: 102, schedstat: '3000000 10 3\n', stat: stat(102, 'node', 9) },
      { tid: 103, schedstat: '4000000 10 3\n', stat: stat(103, 'node', 9) },
      { tid: 104, schedstat: 'garbage', stat: stat(104, 'node', 9) },
    ]);
    expect(sum).toEqual({ loop: 5000, verify: 7000, other: 2000 });
  });

  it("reads this process's threads: the event loop's and a niced thread's time as each worked", async () => {
    const a = threadCpu();
    if (process.platform !== 'linux') {
      expect(a).toBeUndefined();
      return;
    }
    expect(a).toBeDefined();
    // Each spin counts its own thread's CPU time (/proc/thread-self), not the clock: on a
    // loaded machine a thread gets less CPU than the wall time it spins. A running thread's
    // schedstat may lag by up to a scheduler tick (it is brought up to date at the tick or
    // when the thread stops), hence the margins below.
    const spinCpuMs = (ms: number) => {
      const own = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
      const end = own() + ms;
      while (own() < end) {
        // spin
      }
    };
    spinCpuMs(25);
    const b = threadCpu()!;
    expect(b.loop - a!.loop).toBeGreaterThanOrEqual(15_000);
    // A worker that lowers its own priority, as the verify threads do, counts as a verify thread.
    const w = new Worker(
      `const os = require('node:os'); const fs = require('node:fs'); const { parentPort } = require('node:worker_threads');
       os.setPriority(0, Math.min(19, os.getPriority(0) + 5));
       const own = () => Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
       parentPort.once('message', () => { const e = own() + 40; while (own() < e) {} parentPort.postMessage('spun'); });
       parentPort.postMessage('ready');`,
      { eval: true },
    );
    await new Promise((resolve) => w.once('message', resolve));
    const c = threadCpu()!;
    w.postMessage('spin');
    await new Promise((resolve) => w.once('message', resolve));
    const d = threadCpu()!;
    await w.terminate();
    expect(d.verify - c.verify).toBeGreaterThanOrEqual(30_000);
    expect(d.verify).toBeGreaterThan(b.verify);
  });
});
