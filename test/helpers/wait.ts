/**
 * @module test/helpers/wait
 * Polling until a condition holds, for tests that watch real processes (ports, brokers,
 * chains) settle.
 */

/**
 * Resolves once `fn()` is true; checks every `everyMs` (default 20 ms).
 * @throws {Error} `timed out: <what>` after `ms`.
 */
export async function until(fn: () => boolean, ms: number, what: string, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
