/**
 * @module test/unit/ward-sweep
 * io/clinical/ward-sweep on the real event loop: a pass visits every bed once, in order, in
 * slices cut by count and by time, with other work between its slices; a pass asked for
 * during one follows it (never two at once); stop ends a pass at its slice; a throw ends
 * that pass only.
 */
import { describe, expect, it } from 'vitest';
import { type SweepPass, WardSweep } from '../../gateway/src/io/clinical/ward-sweep.js';

const beds = (n: number) => Array.from({ length: n }, (_, i) => `bed-${i}`);
const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A sweep whose passes log what they did (`log`) and whose clock moves by one each read. */
function rig(n: number, opts: { sliceBeds?: number; sliceMs?: number } = {}) {
  const log: string[] = [];
  let clock = 0;
  const sweep = new WardSweep({
    begin: (now): SweepPass => {
      log.push(`begin@${now}`);
      return {
        beds: beds(n),
        visit: (bed, at) => log.push(`${bed}@${at}`),
        finish: (at) => log.push(`finish@${at}`),
      };
    },
    now: () => clock++,
    sliceBeds: opts.sliceBeds ?? 4,
    sliceMs: opts.sliceMs ?? 1000,
  });
  return { log, sweep };
}

describe('io/clinical/ward-sweep', () => {
  it('behavior: a pass visits every bed once, in order, one slice a turn, each slice at its own clock reading', async () => {
    const { log, sweep } = rig(10);
    sweep.request();
    // The first slice runs at once, in the caller's turn; the rest wait for later turns.
    expect(log).toEqual(['begin@0', 'bed-0@1', 'bed-1@1', 'bed-2@1', 'bed-3@1']);
    expect(sweep.running).toBe(true);
    await turns();
    expect(log).toEqual([
      'begin@0',
      ...['bed-0@1', 'bed-1@1', 'bed-2@1', 'bed-3@1'],
      ...['bed-4@2', 'bed-5@2', 'bed-6@2', 'bed-7@2'],
      ...['bed-8@3', 'bed-9@3'],
      'finish@4',
    ]);
    expect(sweep.running).toBe(false);
    expect(sweep.stats).toEqual({ passes: 1, slices: 3 });
  });

  it('behavior: other work runs between two slices (the event loop turns)', async () => {
    const { log, sweep } = rig(8);
    setImmediate(() => log.push('socket'));
    sweep.request();
    await turns();
    // Queued before the pass began, it runs after the first slice, before the second.
    expect(log.slice(log.indexOf('bed-3@1'), log.indexOf('bed-4@2') + 1)).toEqual([
      'bed-3@1',
      'socket',
      'bed-4@2',
    ]);
    expect(log.at(-1)).toBe('finish@3');
  });

  it('behavior: a slice ends once it has taken sliceMs, whatever its count', async () => {
    const visited: number[] = [];
    let ms = 0; // the slice's clock: each bed costs 3 ms of it
    const sweep = new WardSweep({
      begin: () => ({
        beds: beds(6),
        visit: () => {
          ms += 3;
          visited.push(sweep.stats.slices);
        },
        finish: () => {},
      }),
      now: () => 0,
      elapsed: () => ms,
      sliceMs: 5,
      sliceBeds: 100,
    });
    sweep.request();
    await turns();
    // Two beds a slice: the second passes 5 ms and ends it.
    expect(visited).toEqual([1, 1, 2, 2, 3, 3]);
    expect(sweep.stats).toEqual({ passes: 1, slices: 3 });
  });

  it('behavior: passes asked for while one runs make one more pass after it, never two at once', async () => {
    const { log, sweep } = rig(6);
    sweep.request();
    sweep.request();
    sweep.request();
    await turns();
    const pass = (c: number) => [
      `begin@${c}`,
      ...[0, 1, 2, 3].map((i) => `bed-${i}@${c + 1}`),
      ...[4, 5].map((i) => `bed-${i}@${c + 2}`),
      `finish@${c + 3}`,
    ];
    // The second begins only once the first has finished.
    expect(log).toEqual([...pass(0), ...pass(4)]);
    expect(sweep.stats.passes).toBe(2);
  });

  it('behavior: stop ends the pass under way at its slice, and no pass starts after it', async () => {
    const { log, sweep } = rig(10);
    sweep.request();
    sweep.request();
    sweep.stop();
    await turns();
    expect(log).toEqual(['begin@0', 'bed-0@1', 'bed-1@1', 'bed-2@1', 'bed-3@1']);
    sweep.request();
    await turns();
    expect(log).toHaveLength(5);
    expect(sweep.running).toBe(false);
  });

  it('hostile: a throw ends that pass (reported), and the next pass starts afresh', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const seen: string[] = [];
    const sweep = new WardSweep({
      begin: () => ({
        beds: beds(5),
        visit: (bed) => {
          if (fail && bed === 'bed-2') throw new Error('history write failed');
          seen.push(bed);
        },
        finish: () => seen.push('finish'),
      }),
      now: () => 0,
      sliceBeds: 2,
      onError: (e) => errors.push(e),
    });
    sweep.request();
    await turns();
    expect(seen).toEqual(['bed-0', 'bed-1']);
    expect(errors).toHaveLength(1);
    expect(sweep.running).toBe(false);
    fail = false;
    sweep.request();
    await turns();
    expect(seen.slice(2)).toEqual(['bed-0', 'bed-1', 'bed-2', 'bed-3', 'bed-4', 'finish']);
    // A throw in begin is reported too, and starts nothing.
    const broken = new WardSweep({
      begin: () => {
        throw new Error('no beds');
      },
      now: () => 0,
      onError: (e) => errors.push(e),
    });
    broken.request();
    expect(broken.running).toBe(false);
    expect(errors).toHaveLength(2);
  });

  it('contract: slices of no beds or no time are refused', () => {
    const o = { begin: () => ({ beds: [], visit: () => {}, finish: () => {} }), now: () => 0 };
    expect(() => new WardSweep({ ...o, sliceBeds: 0 })).toThrow(RangeError);
    expect(() => new WardSweep({ ...o, sliceBeds: 1.5 })).toThrow(RangeError);
    expect(() => new WardSweep({ ...o, sliceMs: 0 })).toThrow(RangeError);
    expect(() => new WardSweep({ ...o, sliceMs: Number.NaN })).toThrow(RangeError);
  });
});
