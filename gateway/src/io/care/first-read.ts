/**
 * @module io/care/first-read
 * How long the gateway's start waits for the first read of the chain's consent contract
 * (`ConsentBook.open`, `ClinicianBar.open`): past it the start goes on with what it has (no
 * consent, no barred account) and the read finishes in the background. A chain that accepts
 * connections and never answers would otherwise hold the start for viem's 3 × 10 s per read.
 */

/** Default of the `firstReadMs` options. */
export const DEFAULT_FIRST_READ_MS = 3000;

/** Resolves true once `work` settled, or false after `ms` (the work goes on); never rejects. */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
