/**
 * @module test/unit/bench-procs
 * `processCpuMicros` (test/bench/procs): the CPU of a process the bench did not write (e.g.
 * Mosquitto), read from /proc, which `bench:ingest` puts beside the gateway's own CPU per frame.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { processCpuMicros } from '../bench/procs.js';

describe('processCpuMicros', () => {
  it('behavior: reads a process CPU from /proc as process.cpuUsage() counts it, to its 10 ms ticks', () => {
    const spin = (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) createHash('sha256').update('x').digest();
    };
    spin(50);
    const before = processCpuMicros(process.pid);
    const own0 = process.cpuUsage();
    spin(300);
    const own = process.cpuUsage(own0);
    const used = processCpuMicros(process.pid) - before;
    // This process's threads all count in /proc; the spin dominates. Ticks: 10 ms each end.
    expect(used).toBeGreaterThanOrEqual(own.user + own.system - 20_000);
    expect(used).toBeLessThan(own.user + own.system + 200_000);
  });

  it('error: NaN for a process that does not exist, or no pid', () => {
    expect(processCpuMicros(2 ** 22 + 7)).toBeNaN();
    expect(processCpuMicros(undefined)).toBeNaN();
  });
});
