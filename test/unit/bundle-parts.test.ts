/**
 * @module test/unit/bundle-parts
 * core/bundle-parts `groupParts`: consecutive counted pieces of a range joined into parts of at
 * most `max` frames, contiguous and covering the range; empty pieces join a neighbour (no
 * empty part unless the whole range is); a piece over `max` alone is a part of its own.
 */
import { describe, expect, it } from 'vitest';
import { groupParts, type RangePart } from '../../gateway/src/core/bundle-parts.js';

/** Pieces of 10 ms each from 0, holding `counts` frames. */
const pieces = (...counts: number[]): RangePart[] =>
  counts.map((frames, i) => ({ from: i * 10, to: i * 10 + 9, frames }));

describe('groupParts', () => {
  it('behavior: joins consecutive pieces while the sum stays within max; parts contiguous, covering the range', () => {
    const parts = groupParts(pieces(25, 25, 25, 25, 25, 10, 0, 0, 20), 100);
    expect(parts).toEqual([
      { from: 0, to: 39, frames: 100 },
      { from: 40, to: 89, frames: 55 },
    ]);
    expect(parts.reduce((n, p) => n + p.frames, 0)).toBe(155);
  });

  it('behavior: empty pieces join a neighbour: the leading quiet hours go with the first frames', () => {
    expect(groupParts(pieces(0, 0, 0, 60, 50, 0), 100)).toEqual([
      { from: 0, to: 39, frames: 60 },
      { from: 40, to: 59, frames: 50 },
    ]);
    expect(groupParts(pieces(0, 0), 100)).toEqual([{ from: 0, to: 19, frames: 0 }]);
    expect(groupParts([], 100)).toEqual([]);
  });

  it('edge: a piece over max alone (a millisecond that cannot be cut) is a part of its own', () => {
    expect(groupParts(pieces(30, 250, 0, 30), 100)).toEqual([
      { from: 0, to: 9, frames: 30 },
      { from: 10, to: 19, frames: 250 },
      { from: 20, to: 39, frames: 30 },
    ]);
  });

  it('behavior: does not change the pieces it was given', () => {
    const given = pieces(10, 10);
    groupParts(given, 100);
    expect(given).toEqual(pieces(10, 10));
  });
});
