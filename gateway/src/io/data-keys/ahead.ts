/**
 * @module io/data-keys/ahead
 * Data keys made before the frames that need them arrive (issue 14; io/data-keys/ring),
 * off the commit's path and a chunk at a time, the event loop free between chunks:
 * - **the next window's keys**, from `leadMs` before the end of each window, for every
 *   device that used a key in it: at the top of the hour the ward's frames find their keys
 *   made, where each device's first frame of the hour otherwise waited for its own;
 * - **a device's key when it connects** (`expect`), so its first frame does not wait for it.
 *   Only for an enrolled, active device (a connection is no reason to make keys for an
 *   unknown id), and at most `maxExpected` waiting at a time; a device left out simply has
 *   its key made with its first frame, as before.
 * A key the store could not record is counted (`failures`, `lastError`) and not retried
 * here: the frame that needs it makes it (and is answered `store_failed` if that fails too).
 */
import type { DataKeyRing } from './ring.js';

export interface KeysAheadOptions {
  /** How long before a window ends its successors are made. Default min(5 min, window / 4). */
  leadMs?: number;
  /** Keys made together (one transaction) before the event loop turns. Default 64. */
  chunk?: number;
  /** How often the window's end is looked for. Default min(15 s, lead / 3). */
  checkMs?: number;
  /** Devices whose key `expect` may have waiting at once. Default 20,000. */
  maxExpected?: number;
}

export interface KeysAheadStats {
  failures: number;
  lastError: string | null;
}

export class KeysAhead {
  readonly #ring: DataKeyRing;
  readonly #now: () => number;
  /** Whether `dev` is an enrolled, active device (its frames would be checked). */
  readonly #active: (dev: string) => boolean;
  readonly #leadMs: number;
  readonly #chunk: number;
  readonly #checkMs: number;
  readonly #maxExpected: number;
  readonly #expected = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  readonly stats: KeysAheadStats = { failures: 0, lastError: null };

  constructor(
    ring: DataKeyRing,
    now: () => number,
    active: (dev: string) => boolean,
    opts: KeysAheadOptions = {},
  ) {
    this.#ring = ring;
    this.#now = now;
    this.#active = active;
    this.#leadMs = opts.leadMs ?? Math.min(300_000, ring.windowMs / 4);
    this.#chunk = opts.chunk ?? 64;
    this.#checkMs = opts.checkMs ?? Math.max(1, Math.min(15_000, Math.floor(this.#leadMs / 3)));
    this.#maxExpected = opts.maxExpected ?? 20_000;
    if (!(this.#leadMs > 0 && this.#leadMs < ring.windowMs))
      throw new RangeError('KeysAhead: leadMs must be positive and shorter than the key window');
    if (!(Number.isInteger(this.#chunk) && this.#chunk >= 1))
      throw new RangeError('KeysAhead: chunk must be a positive integer');
  }

  /** Looks for the window's end every `checkMs` from now on (an unref'd timer). */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.run(), this.#checkMs);
    this.#timer.unref();
  }

  /**
   * Makes the keys now due: those of the devices that connected, then (within `leadMs` of the
   * window's end) the next window's. What the timer runs; resolves when done.
   */
  run(): Promise<void> {
    return this.#serially(true);
  }

  /** A device connected: its key for now is made soon, unless it has one or is not active. */
  expect(dev: string): void {
    if (this.#stopped || this.#expected.size >= this.#maxExpected || !this.#active(dev)) return;
    this.#expected.add(dev);
    if (this.#expected.size === 1) setImmediate(() => void this.#serially(false));
  }

  /** Stops the timer and waits for the chunk being made. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#expected.clear();
    await this.#running;
  }

  /** One run at a time (the keys of one chunk are made together, never twice). */
  #serially(ahead: boolean): Promise<void> {
    const next = (this.#running ?? Promise.resolve()).then(() => this.#work(ahead));
    this.#running = next;
    void next.finally(() => {
      if (this.#running === next) this.#running = null;
    });
    return next;
  }

  /** The connected devices' keys, then (`ahead`) the next window's, a chunk at a time. */
  async #work(ahead: boolean): Promise<void> {
    try {
      while (!this.#stopped) {
        let made = 0;
        if (this.#expected.size > 0) {
          const devs: string[] = [];
          for (const dev of this.#expected) {
            if (devs.length >= this.#chunk) break;
            devs.push(dev);
          }
          for (const dev of devs) this.#expected.delete(dev);
          await this.#ring.prepare(devs, this.#now()); // those with a key already are skipped
          made = devs.length;
        } else if (ahead) {
          made = await this.#ring.prepareAhead(this.#now(), this.#leadMs, this.#chunk);
        }
        if (made === 0) return;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      this.stats.failures += 1;
      this.stats.lastError = err instanceof Error ? err.message : 'a data key could not be made';
    }
  }
}
