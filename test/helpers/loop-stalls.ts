/**
 * @module test/helpers/loop-stalls
 * How long work held this process's event loop: the longest wait of a 1 ms timer while it ran
 * (and `tailMs` after, so a hold at its very end is seen too), beside its whole time. Used by
 * `bench:downloads` and the care-downloads test (a download made in one turn of the loop holds
 * it for most of its time; one made in slices, for a small part).
 */

/** `fn`'s result, the longest wait of a 1 ms timer while it ran, and its time (ms, rounded). */
export async function loopStalls<T>(
  fn: () => Promise<T>,
  tailMs = 20,
): Promise<{ out: T; longestMs: number; ms: number }> {
  let longestMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longestMs = Math.max(longestMs, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  try {
    const out = await fn();
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, tailMs));
    return { out, longestMs: Math.round(longestMs), ms: Math.round(ms) };
  } finally {
    clearInterval(timer);
  }
}
