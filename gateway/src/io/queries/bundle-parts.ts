/**
 * @module io/queries/bundle-parts
 * Where to cut a patient's range so that each part's disclosure bundle holds at most `max`
 * frames (the bound a bundle download is refused past, 422 `too_many_readings`): the frames of
 * the patient's devices, each within its binding period, counted from the frame index an hour
 * of device time at a time (a turn of the event loop between two), an hour over a quarter of
 * `max` halved until each piece holds at most that, then joined greedily (core/bundle-parts):
 * pieces that small fill each part to at least three quarters of `max` before the next one
 * begins (but the last). Counts only: no frame is
 * read or opened. The patient portal downloads a long range in these parts.
 */
import { groupParts, type RangePart } from '../../core/bundle-parts.js';
import { windowsOf } from '../reading/index.js';
import type { GatewayStore } from '../store/index.js';

export type { RangePart } from '../../core/bundle-parts.js';

/**
 * The parts of `from`..`to` (inclusive, device clock) whose bundles hold at most `max` frames
 * each, counting the frames of each of `periods` (a device and the part of the range it was
 * the patient's) that fall in a part. A millisecond holding more than `max` frames is a part
 * over `max` (its bundle will be refused).
 * @example const parts = await bundleParts(store, periods, from, to, 100_000);
 */
export async function bundleParts(
  store: Pick<GatewayStore, 'countFrames'>,
  periods: readonly { dev: string; from: number; to: number }[],
  from: number,
  to: number,
  max: number,
): Promise<RangePart[]> {
  const count = (a: number, b: number): number => {
    let n = 0;
    for (const p of periods) {
      const lo = Math.max(a, p.from);
      const hi = Math.min(b, p.to);
      if (lo <= hi) n += store.countFrames(p.dev, lo, hi + 1);
    }
    return n;
  };
  const piece = Math.max(1, Math.floor(max / 4));
  const pieces: RangePart[] = [];
  const cut = (a: number, b: number, n: number): void => {
    if (n <= piece || b <= a) {
      pieces.push({ from: a, to: b, frames: n });
      return;
    }
    const mid = Math.floor((a + b) / 2);
    const left = count(a, mid);
    cut(a, mid, left);
    cut(mid + 1, b, n - left);
  };
  for await (const [a, b] of windowsOf(from, to)) cut(a, b, count(a, b));
  return groupParts(pieces, max);
}
