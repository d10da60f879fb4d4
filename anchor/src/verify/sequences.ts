/**
 * @module verify/sequences
 * Completeness of the disclosed range (PROTOCOL.md §6 "Completeness": a verifier MUST say
 * whether each device's seq chain within the disclosed range is complete, and MUST NOT call
 * a bundle valid when a frame of the range is missing at either end or inside).
 *
 * The chain is PROTOCOL.md §1's: `seq` is 1 for a device's first frame and +1 for each
 * next one, and `prev` is the SHA-256 of the previous frame's bytes (32 zero bytes for
 * seq 1). Both are inside the device's signature, so among frames that verify, a seq run
 * whose every `prev` names the frame before has no frame missing, reordered or replaced.
 *
 * The ends are proven by boundary frames (an additive extension of §5): entries marked
 * `boundary: "before"` / `"after"`, the device's last frame before the range and its first
 * after it, each verified like any entry. Per device, over the valid entries (boundary or
 * not, of one bundle or of several logs together):
 * - start `genesis`: the device's lowest frame is seq 1 with the zero `prev` (nothing can
 *   precede it); `proven`: the lowest frame is a before-boundary; else `open`.
 * - end `proven`: the device's highest frame is an after-boundary; else `open`. Nothing in
 *   an append-only log of signed frames proves that a device has NO later frame without
 *   disclosing every later leaf, so a range that reaches the device's latest anchored frame
 *   has an open end: the verifier cannot exclude that frames after it were withheld.
 * - every gap between consecutive frames (a missing seq, or a `prev` that is not the hash
 *   of the frame before) from the start frame to the end frame is listed with the frames on
 *   both sides; gaps wholly outside the range (between two before-boundaries, or two
 *   after-boundaries, of different logs) are not.
 * The chain is complete when every listed device has both ends `genesis`/`proven`, there is
 * no gap and no conflict, and at least one device is listed. Pure.
 */
import type { Hex } from '../ledger/index.js';
import type { EntryResult } from './entries.js';

/** `prev` of a device's first frame (seq 1): 32 zero bytes (PROTOCOL.md §1). */
export const GENESIS_PREV: Hex = `0x${'0'.repeat(64)}`;

/** An entry on one side of a sequence gap, or at an end of a device's range. */
export interface SequenceSide {
  bundle?: number;
  index: number;
  leafIndex: number;
  seq: number;
  /** The frame's device clock; absent on a shredded frame (its bytes are gone). */
  ts?: number;
  /** Set when the frame is a boundary frame. */
  boundary?: 'before' | 'after';
  /** Set on a shredded frame: a shredding record vouches for its device and seq. */
  shredded?: true;
}

/** A break in one device's frame chain between two entries of the bundle(s). */
export interface SequenceGap {
  dev: string;
  /** `missing`: seqs between the two are absent; `prev_mismatch`: consecutive seqs whose `prev` is not the hash of the frame before. */
  kind: 'missing' | 'prev_mismatch';
  /** First and last missing seq (for `missing`). */
  fromSeq: number;
  toSeq: number;
  before: SequenceSide;
  after: SequenceSide;
}

/** How one end of a device's disclosed range is proven. */
export type RangeStart = 'genesis' | 'proven' | 'open';
export type RangeEnd = 'proven' | 'open';

/** One device's disclosed range and how its ends are proven. */
export interface DeviceRange {
  dev: string;
  /** Distinct frames inside the range (boundary frames not counted). */
  frames: number;
  /** The first and last frames inside the range, when there are any. */
  first?: SequenceSide;
  last?: SequenceSide;
  start: RangeStart;
  end: RangeEnd;
  /** The boundary frames that prove the ends, when present. */
  before?: SequenceSide;
  after?: SequenceSide;
}

/** What the sequence analysis needs of an entry result, with the frame's `prev`. */
export interface SequenceInput {
  /** Which bundle, when several are analysed together. */
  bundle?: number;
  index: number;
  leafIndex: number;
  dev: string;
  seq: number;
  /** Absent on a shredded frame, as `frameHash` and `prev`: the record vouches only for dev and seq. */
  ts?: number;
  frameHash?: Hex;
  prev?: Hex;
  boundary?: 'before' | 'after';
  shredded?: true;
}

export interface SequenceReport {
  /** Distinct (dev, seq) among the valid entries: each reading counted once, however many logs hold it. */
  distinct: number;
  /** Breaks in a device's chain between entries that are present, within the range. */
  gaps: SequenceGap[];
  /** Entries whose (dev, seq) and bytes were already seen (e.g. the same frame in two logs): counted once. */
  duplicates: number;
  /** (dev, seq) pairs seen with different bytes. */
  conflicts: { dev: string; seq: number; indexes: number[] }[];
  /** Every device (listed in the bundle, or with a valid entry), by id: its range and ends. */
  devices: DeviceRange[];
  /** Ends of device ranges that are `open` (not proven). */
  openEnds: number;
  /** No gap, no conflict, every end proven, at least one device (module doc). */
  complete: boolean;
}

/**
 * The sequence inputs of a report's valid and shredded entries, tagged with `bundle` when
 * given. A shredded entry holds its place in the chain by the seq its shredding record
 * gives; its `prev` link cannot be checked (README "Shredding records").
 */
export function sequenceInputs(entries: readonly EntryResult[], bundle?: number): SequenceInput[] {
  const out: SequenceInput[] = [];
  for (const e of entries) {
    if (e.dev === undefined || e.seq === undefined) continue;
    if (e.code === 'shredded') {
      const s: SequenceInput = {
        index: e.index,
        leafIndex: e.leafIndex,
        dev: e.dev,
        seq: e.seq,
        shredded: true,
      };
      if (bundle !== undefined) s.bundle = bundle;
      if (e.boundary !== undefined) s.boundary = e.boundary;
      out.push(s);
      continue;
    }
    if (e.code !== 'valid') continue;
    if (bundle === undefined) {
      // A valid entry result carries every field of a SequenceInput: no copy.
      out.push(e as SequenceInput);
      continue;
    }
    const s: SequenceInput = {
      bundle,
      index: e.index,
      leafIndex: e.leafIndex,
      dev: e.dev,
      seq: e.seq,
      ts: e.ts!,
      frameHash: e.frameHash!,
      prev: e.prev!,
    };
    if (e.boundary !== undefined) s.boundary = e.boundary;
    out.push(s);
  }
  return out;
}

/** One distinct (dev, seq): its first entry and the roles it has in any bundle. */
interface Seen {
  e: SequenceInput;
  inRange: boolean;
  before: boolean;
  after: boolean;
}

/** Roles of a distinct (dev, seq), as bits: inside the range, before-boundary, after-boundary. */
const IN_RANGE = 1;
const BEFORE = 2;
const AFTER = 4;

function roleOf(e: SequenceInput): number {
  return e.boundary === 'before' ? BEFORE : e.boundary === 'after' ? AFTER : IN_RANGE;
}

/**
 * One device's frames as they arrive. A bundle lists each device's frames in increasing
 * seq (log order), so while every seq is above the one before, `list` holds them and no
 * (dev, seq) can repeat; the first one that is not moves them into `seqs`, keyed by seq,
 * where repeats are counted or reported as conflicts.
 */
interface DeviceFrames {
  list: SequenceInput[];
  seqs: Map<number, Seen> | undefined;
}

/** `list` moved into a map, as if each of its (distinct) entries had been seen there first. */
function toSeen(list: readonly SequenceInput[]): Map<number, Seen> {
  const seqs = new Map<number, Seen>();
  for (const e of list) {
    const role = roleOf(e);
    seqs.set(e.seq, { e, inRange: role === IN_RANGE, before: role === BEFORE, after: role === AFTER });
  }
  return seqs;
}

function side(e: SequenceInput): SequenceSide {
  const s: SequenceSide = { index: e.index, leafIndex: e.leafIndex, seq: e.seq };
  if (e.ts !== undefined) s.ts = e.ts;
  if (e.bundle !== undefined) s.bundle = e.bundle;
  if (e.boundary !== undefined) s.boundary = e.boundary;
  if (e.shredded) s.shredded = true;
  return s;
}

/**
 * Finds gaps and chain breaks in each device's frames (PROTOCOL.md §1 `seq` and `prev`),
 * decides how each end of each device's range is proven (module doc), and counts an
 * identical (dev, seq) once (ARCHITECTURE.md scale-out: one frame may sit in two logs).
 * @param inputs - the valid entries (`sequenceInputs`).
 * @param listed - devices the bundle(s) name; one without a valid entry has both ends open.
 * @example
 * const { complete, gaps, devices } = analyseSequences(sequenceInputs(report.entries), ['wr-0001']);
 */
export function analyseSequences(
  inputs: readonly SequenceInput[],
  listed: Iterable<string> = [],
): SequenceReport {
  const byDev = new Map<string, DeviceFrames>();
  for (const dev of listed) if (!byDev.has(dev)) byDev.set(dev, { list: [], seqs: undefined });
  let duplicates = 0;
  const conflicts = new Map<string, { dev: string; seq: number; indexes: number[] }>();
  for (const e of inputs) {
    let frames = byDev.get(e.dev);
    if (!frames) {
      frames = { list: [], seqs: undefined };
      byDev.set(e.dev, frames);
    }
    if (frames.seqs === undefined) {
      const list = frames.list;
      if (list.length === 0 || e.seq > list[list.length - 1]!.seq) {
        list.push(e);
        continue;
      }
      frames.seqs = toSeen(list);
    }
    const seqs = frames.seqs;
    let seen = seqs.get(e.seq);
    if (!seen) {
      seen = { e, inRange: false, before: false, after: false };
      seqs.set(e.seq, seen);
    } else if (seen.e.frameHash === e.frameHash || seen.e.shredded || e.shredded) {
      // A shredded frame's bytes are unknown: one at the same (dev, seq) counts as the same.
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
  let distinct = 0;
  for (const [dev, frames] of byDev) {
    // The device's distinct frames in increasing seq, and the roles of each.
    let sorted: readonly SequenceInput[];
    let roles: Uint8Array;
    if (frames.seqs === undefined) {
      sorted = frames.list;
      roles = new Uint8Array(sorted.length);
      for (let k = 0; k < sorted.length; k++) roles[k] = roleOf(sorted[k]!);
    } else {
      const seen = [...frames.seqs.values()].sort((a, b) => a.e.seq - b.e.seq);
      sorted = seen.map((s) => s.e);
      roles = Uint8Array.from(
        seen,
        (s) => (s.inRange ? IN_RANGE : 0) | (s.before ? BEFORE : 0) | (s.after ? AFTER : 0),
      );
    }
    distinct += sorted.length;
    const device = deviceRange(dev, sorted, roles, gaps);
    if (device.start === 'open') openEnds++;
    if (device.end === 'open') openEnds++;
    devices.push(device);
  }
  gaps.sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : x.fromSeq - y.fromSeq));
  devices.sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : 0));
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

/**
 * One device's range and ends, its gaps pushed to `gaps`: `sorted` its distinct frames in
 * increasing seq, `roles` the roles of each (bits).
 */
function deviceRange(
  dev: string,
  sorted: readonly SequenceInput[],
  roles: Uint8Array,
  gaps: SequenceGap[],
): DeviceRange {
  for (let k = 1; k < sorted.length; k++) {
    const a = sorted[k - 1]!;
    const b = sorted[k]!;
    // Outside the range: between two frames before it, or two after it (several logs).
    if ((roles[k - 1] === BEFORE && roles[k] === BEFORE) || (roles[k - 1] === AFTER && roles[k] === AFTER))
      continue;
    if (b.seq > a.seq + 1) {
      gaps.push({
        dev,
        kind: 'missing',
        fromSeq: a.seq + 1,
        toSeq: b.seq - 1,
        before: side(a),
        after: side(b),
      });
    } else if (!a.shredded && !b.shredded && b.prev !== a.frameHash) {
      gaps.push({
        dev,
        kind: 'prev_mismatch',
        fromSeq: b.seq,
        toSeq: b.seq,
        before: side(a),
        after: side(b),
      });
    }
  }
  let first = -1;
  let last = -1;
  let frames = 0;
  for (let k = 0; k < sorted.length; k++) {
    if ((roles[k]! & IN_RANGE) === 0) continue;
    if (first < 0) first = k;
    last = k;
    frames++;
  }
  const lowest = sorted[0];
  const highest = sorted.at(-1);
  const range: DeviceRange = {
    dev,
    frames,
    start:
      lowest === undefined
        ? 'open'
        : roles[0] === BEFORE
          ? 'proven'
          : lowest.seq === 1 && (lowest.shredded || lowest.prev === GENESIS_PREV)
            ? 'genesis'
            : 'open',
    end: highest !== undefined && roles[sorted.length - 1] === AFTER ? 'proven' : 'open',
  };
  if (frames > 0) {
    range.first = side(sorted[first]!);
    range.last = side(sorted[last]!);
  }
  if (range.start === 'proven') range.before = side(lowest!);
  if (range.end === 'proven') range.after = side(highest!);
  return range;
}
