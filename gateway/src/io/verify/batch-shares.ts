/**
 * @module io/verify/batch-shares
 * How the verify pool shares out waiting frames among its workers: one batch per worker
 * with room, least loaded first, each a fair share of what is left up to the batch bound;
 * what is left after (more than `maxBatchFrames` each) goes in further batches while
 * workers have room (at most `maxInFlight` batches each).
 */

export interface LaneLoad {
  /** Batches the worker holds now. */
  readonly held: number;
  /** Frames in them. */
  readonly frames: number;
}

/**
 * @param lanes the workers with room (`held` < `maxInFlight`)
 * @returns per batch the lane's index in `lanes` and its frames `[from, to)` of the waiting list
 */
export function shareBatches(
  waiting: number,
  lanes: readonly LaneLoad[],
  maxBatchFrames: number,
  maxInFlight: number,
): { lane: number; from: number; to: number }[] {
  const order = lanes.map((_, i) => i).sort((a, b) => (lanes[a]?.frames ?? 0) - (lanes[b]?.frames ?? 0));
  const out: { lane: number; from: number; to: number }[] = [];
  let from = 0;
  for (let pass = 0; pass < maxInFlight && from < waiting; pass += 1) {
    const room = order.filter((i) => (lanes[i]?.held ?? maxInFlight) + pass < maxInFlight);
    for (let k = 0; k < room.length && from < waiting; k += 1) {
      const n = Math.min(maxBatchFrames, Math.ceil((waiting - from) / (room.length - k)));
      out.push({ lane: room[k] as number, from, to: from + n });
      from += n;
    }
  }
  return out;
}
