/**
 * @module core/bundle-parts
 * A time range cut into parts that each hold at most `max` frames, from the frames counted in
 * consecutive pieces of it (io/queries/bundle-parts counts them): consecutive pieces are
 * joined while their sum stays within `max`. A piece over `max` on its own (one that could
 * not be cut finer) is a part of its own. A piece with no frame joins its neighbour, so no
 * part is empty unless the whole range is. What the patient portal downloads a disclosure
 * bundle in, when the range holds more frames than one bundle carries. Pure.
 */

/** Both ends inclusive (ms), and the frames it holds. */
export interface RangePart {
  from: number;
  to: number;
  frames: number;
}

/**
 * Joins consecutive `pieces` (ascending, each starting right after the one before) into as few
 * parts as the greedy cut gives, each within `max` frames where a piece allows it.
 * @example
 * groupParts([{ from: 0, to: 9, frames: 60 }, { from: 10, to: 19, frames: 50 }], 100);
 * // [{ from: 0, to: 9, frames: 60 }, { from: 10, to: 19, frames: 50 }]
 */
export function groupParts(pieces: readonly RangePart[], max: number): RangePart[] {
  const parts: RangePart[] = [];
  let cur: RangePart | undefined;
  for (const p of pieces) {
    if (cur !== undefined && cur.frames + p.frames <= max) {
      cur.to = p.to;
      cur.frames += p.frames;
    } else {
      cur = { from: p.from, to: p.to, frames: p.frames };
      parts.push(cur);
    }
  }
  return parts;
}
