/**
 * @module test/unit/verify-sequences-model
 * `analyseSequences` (anchor/src/verify/sequences.ts) keeps a device's frames in a list
 * while their seqs rise, the order a bundle lists them in, and moves them into a map keyed
 * by seq at the first one that does not. Its report must be exactly that of the plain
 * algorithm, which keys every frame by seq: checked against that algorithm (kept here as
 * the model) on random inputs, rising or not, with repeats, conflicts, boundary frames,
 * shredded frames, prev mismatches and genesis frames, the report compared field by field
 * and as JSON (key order included).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  analyseSequences,
  type DeviceRange,
  GENESIS_PREV,
  type SequenceGap,
  type SequenceInput,
  type SequenceReport,
  type SequenceSide,
} from '../../anchor/src/verify/index.js';
import { fcRuns } from '../helpers/fc-runs.js';

const FC = { seed: 1453, numRuns: fcRuns(2000) };

// ---------------------------------------------------------------------------------------
// The model: every (dev, seq) in a map, sorted per device afterwards.

interface Seen {
  e: SequenceInput;
  inRange: boolean;
  before: boolean;
  after: boolean;
}

function side(e: SequenceInput): SequenceSide {
  const s: SequenceSide = { index: e.index, leafIndex: e.leafIndex, seq: e.seq };
  if (e.ts !== undefined) s.ts = e.ts;
  if (e.bundle !== undefined) s.bundle = e.bundle;
  if (e.boundary !== undefined) s.boundary = e.boundary;
  if (e.shredded) s.shredded = true;
  return s;
}

function model(inputs: readonly SequenceInput[], listed: Iterable<string> = []): SequenceReport {
  const byDev = new Map<string, Map<number, Seen>>();
  for (const dev of listed) if (!byDev.has(dev)) byDev.set(dev, new Map());
  let duplicates = 0;
  const conflicts = new Map<string, { dev: string; seq: number; indexes: number[] }>();
  for (const e of inputs) {
    let seqs = byDev.get(e.dev);
    if (!seqs) {
      seqs = new Map();
      byDev.set(e.dev, seqs);
    }
    let seen = seqs.get(e.seq);
    if (!seen) {
      seen = { e, inRange: false, before: false, after: false };
      seqs.set(e.seq, seen);
    } else if (seen.e.frameHash === e.frameHash || seen.e.shredded || e.shredded) {
      duplicates++;
    } else {
      const key = `${e.dev}\u0000${e.seq}`;
      const c = conflicts.get(key) ?? { dev: e.dev, seq: e.seq, indexes: [seen.e.index] };
      c.indexes.push(e.index);
      conflicts.set(key, c);
      continue;
    }
    if (e.boundary === 'before') seen.before = true;
    else if (e.boundary === 'after') seen.after = true;
    else seen.inRange = true;
  }
  const gaps: SequenceGap[] = [];
  const devices: DeviceRange[] = [];
  let openEnds = 0;
  for (const [dev, seqs] of byDev) {
    const sorted = [...seqs.values()].sort((a, b) => a.e.seq - b.e.seq);
    const lowest = sorted[0];
    const highest = sorted.at(-1);
    const onlyBefore = (s: Seen) => s.before && !s.inRange && !s.after;
    const onlyAfter = (s: Seen) => s.after && !s.inRange && !s.before;
    for (let k = 1; k < sorted.length; k++) {
      const a = sorted[k - 1]!;
      const b = sorted[k]!;
      if ((onlyBefore(a) && onlyBefore(b)) || (onlyAfter(a) && onlyAfter(b))) continue;
      if (b.e.seq > a.e.seq + 1) {
        gaps.push({
          dev,
          kind: 'missing',
          fromSeq: a.e.seq + 1,
          toSeq: b.e.seq - 1,
          before: side(a.e),
          after: side(b.e),
        });
      } else if (!a.e.shredded && !b.e.shredded && b.e.prev !== a.e.frameHash) {
        gaps.push({
          dev,
          kind: 'prev_mismatch',
          fromSeq: b.e.seq,
          toSeq: b.e.seq,
          before: side(a.e),
          after: side(b.e),
        });
      }
    }
    const inRange = sorted.filter((s) => s.inRange);
    const range: DeviceRange = {
      dev,
      frames: inRange.length,
      start:
        lowest === undefined
          ? 'open'
          : onlyBefore(lowest)
            ? 'proven'
            : lowest.e.seq === 1 && (lowest.e.shredded || lowest.e.prev === GENESIS_PREV)
              ? 'genesis'
              : 'open',
      end: highest !== undefined && onlyAfter(highest) ? 'proven' : 'open',
    };
    if (inRange.length > 0) {
      range.first = side(inRange[0]!.e);
      range.last = side(inRange.at(-1)!.e);
    }
    if (range.start === 'proven') range.before = side(lowest!.e);
    if (range.end === 'proven') range.after = side(highest!.e);
    if (range.start === 'open') openEnds++;
    if (range.end === 'open') openEnds++;
    devices.push(range);
  }
  gaps.sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : x.fromSeq - y.fromSeq));
  devices.sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : 0));
  let distinct = 0;
  for (const seqs of byDev.values()) distinct += seqs.size;
  return {
    distinct,
    gaps,
    duplicates,
    conflicts: [...conflicts.values()],
    devices,
    openEnds,
    complete: devices.length > 0 && gaps.length === 0 && conflicts.size === 0 && openEnds === 0,
  };
}

// ---------------------------------------------------------------------------------------
// Inputs: chains of a few devices, mostly in rising seq, hashes from a small set.

/** Hash `n` as 0x-hex; 0 is the genesis prev. */
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as `0x${string}`;

const step = fc.record({
  dev: fc.constantFrom('d-a', 'd-b', 'd-c'),
  /** How the seq moves from the device's last one: mostly +1, sometimes a jump, a repeat or a step back. */
  move: fc.oneof(
    { weight: 8, arbitrary: fc.constant(1) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: 4 }) },
    { weight: 1, arbitrary: fc.integer({ min: -3, max: 0 }) },
  ),
  boundary: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('before' as const, 'after' as const) },
  ),
  shredded: fc.oneof(
    { weight: 12, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  /** 0: the chain's own hashes; else a hash from a small set (conflicts, prev mismatches). */
  noise: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) },
  ),
  bundle: fc.constantFrom(undefined, 0, 1),
});

type StepValue = typeof step extends fc.Arbitrary<infer T> ? T : never;

function inputsOf(steps: readonly StepValue[]): SequenceInput[] {
  const last = new Map<string, number>();
  return steps.map((s, index): SequenceInput => {
    const seq = Math.max(1, (last.get(s.dev) ?? 0) + s.move);
    last.set(s.dev, seq);
    const e: SequenceInput = { index, leafIndex: 10 * index, dev: s.dev, seq };
    if (s.bundle !== undefined) e.bundle = s.bundle;
    if (s.boundary !== undefined) e.boundary = s.boundary;
    if (s.shredded) {
      e.shredded = true;
      return e;
    }
    const base = s.dev.charCodeAt(2) * 1_000_000;
    e.ts = 1_700_000_000_000 + seq;
    e.frameHash = h(s.noise === 0 ? base + seq : 900 + s.noise);
    e.prev = seq === 1 && s.noise === 0 ? GENESIS_PREV : h(s.noise === 0 ? base + seq - 1 : 950 + s.noise);
    return e;
  });
}

describe('analyseSequences against the plain algorithm', () => {
  it('property: the same report as keying every frame by seq, on random chains', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.subarray(['d-a', 'd-b', 'd-z']), (steps, listed) => {
        const inputs = inputsOf(steps);
        const got = analyseSequences(inputs, listed);
        const want = model(inputs, listed);
        expect(got).toStrictEqual(want);
        expect(JSON.stringify(got)).toBe(JSON.stringify(want));
      }),
      FC,
    );
  });

  it('behavior: a rising chain and the same chain with a repeat at the end differ only by the repeat', () => {
    const steps: StepValue[] = [1, 1, 1, 1].map((move) => ({
      dev: 'd-a',
      move,
      boundary: undefined,
      shredded: false,
      noise: 0,
      bundle: undefined,
    }));
    const rising = inputsOf(steps);
    const repeated = [...rising, { ...rising[2]!, index: 4, leafIndex: 40 }];
    expect(analyseSequences(rising)).toStrictEqual(model(rising));
    expect(analyseSequences(repeated)).toStrictEqual(model(repeated));
    expect(analyseSequences(repeated).duplicates).toBe(1);
    expect(analyseSequences(rising).complete).toBe(false); // an open end: nothing proves the last frame
  });
});
