import { describe, expect, it } from 'vitest';
import { type CpuProfile, callers, streaks, timeline, windowShares } from '../bench/profile-window.js';

/**
 * A made-up profile: root → main → {work → hash, (garbage collector)}, plus (idle). Samples
 * every 100 ms for 2 s: the first second all idle, the second idle once, then hash 5, work 2,
 * gc 2 (the last sample has no following gap: it weighs nothing).
 */
function profile(): CpuProfile {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 1 });
  const nodes = [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 6] },
    { id: 2, callFrame: frame('(idle)') },
    { id: 3, callFrame: frame('main', 'file:///x/dist/gateway/src/a.js'), children: [4, 5] },
    { id: 4, callFrame: frame('work', 'file:///x/node_modules/lib/w.js'), children: [7] },
    { id: 5, callFrame: frame('(garbage collector)') },
    { id: 6, callFrame: frame('(program)') },
    { id: 7, callFrame: frame('hash', 'node:internal/crypto/hash') },
  ];
  const second = [2, 7, 7, 7, 7, 7, 4, 4, 5, 5];
  const samples = [...Array(10).fill(2), ...second];
  return {
    nodes,
    startTime: 1_000_000,
    samples,
    // Each sample 100 ms after the last; the first at the start.
    timeDeltas: samples.map((_, i) => (i === 0 ? 0 : 100_000)),
  };
}

describe('profile-window (the bench tool that cuts a CPU profile to one phase)', () => {
  it('timeline: the busy and GC share of each bin', () => {
    const bins = timeline(profile(), 1);
    expect(bins.map((b) => b.from)).toEqual([0, 1]);
    expect(bins[0]?.busy).toBe(0);
    expect(bins[1]?.busy).toBeCloseTo(8 / 9, 6);
    expect(bins[1]?.gc).toBeCloseTo(1 / 9, 6);
  });

  it('window: self and inclusive shares of the window only, names cut to package or build tree', () => {
    const w = windowShares(profile(), 1, 2);
    expect(w.ms).toBe(900);
    expect(w.busy).toBeCloseTo(8 / 9, 6);
    expect(w.self.map((s) => s.name)).toEqual([
      'hash internal/crypto/hash:1',
      'work nm:lib/w.js:1',
      '(garbage collector) :1',
    ]);
    expect(w.self[0]?.share).toBeCloseTo(5 / 9, 6);
    const incl = new Map(w.inclusive.map((s) => [s.name, s.share]));
    expect(incl.get('main gateway/src/a.js:1')).toBeCloseTo(8 / 9, 6);
    expect(incl.get('work nm:lib/w.js:1')).toBeCloseTo(7 / 9, 6);
    expect(incl.get('(root) :1')).toBeCloseTo(8 / 9, 6);
    // The idle first second is outside this window.
    expect(windowShares(profile(), 0, 1).busy).toBe(0);
  });

  it('callers: the paths through which a function spent the window', () => {
    const c = callers(profile(), 1, 2, 'hash', 3);
    expect(c).toHaveLength(1);
    expect(c[0]?.name).toBe('hash internal/crypto/hash:1 < work nm:lib/w.js:1 < main gateway/src/a.js:1');
    expect(c[0]?.share).toBeCloseTo(5 / 9, 6);
    expect(callers(profile(), 1, 2, 'nothing')).toEqual([]);
  });

  it('streaks: runs of busy samples between idle ones, longest first, with what ran in each', () => {
    // The second second: idle at 1.0 s, then 800 ms busy (hash 500, work 200, gc 100).
    const [one, ...none] = streaks(profile(), 0, 2, 20);
    expect(none).toEqual([]);
    expect(one?.from).toBeCloseTo(1.1, 6);
    expect(one?.ms).toBeCloseTo(800, 6);
    expect(one?.gcShare).toBeCloseTo(1 / 8, 6);
    const incl = new Map(one?.inclusive.map((s) => [s.name, s.share]));
    expect(incl.get('main gateway/src/a.js:1')).toBeCloseTo(1, 6);
    expect(incl.get('work nm:lib/w.js:1')).toBeCloseTo(7 / 8, 6);
    expect(incl.get('hash internal/crypto/hash:1')).toBeCloseTo(5 / 8, 6);
    // Nothing but idle in the first second.
    expect(streaks(profile(), 0, 1, 0)).toEqual([]);

    // Two streaks split by an idle sample (10 ms apart): 20 ms of hash, then 10 ms of work.
    const p = profile();
    p.samples = [2, 7, 7, 2, 4, 2];
    p.timeDeltas = p.samples.map((_, i) => (i === 0 ? 0 : 10_000));
    expect(streaks(p, 0, 1, 5).map((s) => [s.ms, s.from])).toEqual([
      [20, 0.01],
      [10, 0.04],
    ]);
    expect(streaks(p, 0, 1, 15).map((s) => s.ms)).toEqual([20]);
  });
});
