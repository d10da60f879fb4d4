/**
 * app/heap: the V8 heap growing factor a gateway sets for its process (issue 14, the
 * 10,000-device memory figure; the figures themselves are `npm run bench:ingest`'s).
 * The flag is process-wide, so each case runs in a Node child process of its own.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** The built module (the suite runs after `npm run build`, as the crash children do). */
const HEAP = new URL('../../dist/gateway/src/app/heap.js', import.meta.url).pathname;

/** Runs `body` in a fresh Node process and returns its stdout. */
function inChild(body: string): string {
  const script = `import { applyHeapGrowingPercent } from ${JSON.stringify(HEAP)};\n${body}`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  }).trim();
}

describe('applyHeapGrowingPercent', () => {
  it('behavior: the first call sets the factor for the process; a later one changes nothing and says what holds', () => {
    expect(inChild('console.log(applyHeapGrowingPercent(25), applyHeapGrowingPercent(80));')).toBe('25 25');
    expect(inChild('console.log(applyHeapGrowingPercent(0), applyHeapGrowingPercent(25));')).toBe('0 0');
  });

  it("behavior: with 25 %, a heap that keeps a live set and promotes garbage stays far below V8's own growth", () => {
    // 60 MB live, and 1 MB a round that lives 30 rounds (old enough to be promoted, then
    // garbage): V8's own factor let the heap reach ~385 MB here, 25 % ~160 MB.
    const peakMb = (percent: number) =>
      Number(
        inChild(`applyHeapGrowingPercent(${percent});
          const live = Array.from({ length: 60 }, () => new Array(131072).fill(1.5));
          const window = [];
          let peak = 0;
          for (let r = 0; r < 600; r++) {
            window.push(Array.from({ length: 8 }, () => new Array(16384).fill(r + 0.5)));
            if (window.length > 30) window.shift();
            peak = Math.max(peak, process.memoryUsage().heapUsed);
          }
          console.log(live.length === 60 ? Math.round(peak / 1048576) : -1);`),
      );
    const tuned = peakMb(25);
    const own = peakMb(0);
    expect(tuned).toBeGreaterThan(60);
    expect(tuned).toBeLessThan(own * 0.7);
  });

  it('error: a percent outside 0-400 or not an integer is refused before anything is set', () => {
    expect(
      inChild(
        `for (const p of [-1, 401, 2.5]) { try { applyHeapGrowingPercent(p); console.log('set'); } catch (e) { console.log(e.name); } }
         console.log(applyHeapGrowingPercent(10));`,
      ),
    ).toBe('RangeError\nRangeError\nRangeError\n10');
  });
});
