/**
 * @module io/data-keys/gate
 * Keeps a group commit from waiting for another device's data key (issue 14). Making a key
 * costs ~0.2-1.5 ms (io/data-keys/ring); when a commit made the keys of its frames
 * itself, every frame of it waited for them: at the top of the hour, when each device of a
 * ward needs a new key, a 1,000-device ward's commit waited ~0.6 s and a 5,000-device
 * one's ~2 s (measured, README "Data keys before they are needed").
 *
 * So a commit takes only the frames whose devices have their key for the commit's time;
 * the frames of a device without one are set aside, in order, while its key is made, then go
 * back to the head of the queue for the next commit. A device with frames set aside has
 * every later frame set aside behind them, so its frames are still committed in the order
 * they arrived (the chain rules, io/ingest/batch-rules, see them in that order).
 */
import type { DataKeyRing } from './ring.js';

/** What the gate needs of a queued frame. */
export interface Gated {
  frame: { body: { dev: string } };
}

export class KeyGate<P extends Gated> {
  readonly #ring: DataKeyRing;
  readonly #onReady: (frames: P[]) => void;
  readonly #onFailed: (frames: P[], err: unknown) => void;
  /** Frames set aside, by device, in arrival order. */
  readonly #parked = new Map<string, P[]>();
  readonly #making = new Set<Promise<void>>();
  #count = 0;

  /**
   * @param onReady gets the frames set aside once their devices' keys are recorded
   * @param onFailed gets them when their keys could not be recorded (answer them as failed)
   */
  constructor(
    ring: DataKeyRing,
    onReady: (frames: P[]) => void,
    onFailed: (frames: P[], err: unknown) => void,
  ) {
    this.#ring = ring;
    this.#onReady = onReady;
    this.#onFailed = onFailed;
  }

  /** Frames set aside now. */
  get parked(): number {
    return this.#count;
  }

  /**
   * The frames of `take` (in queue order) a commit at gateway time `now` can seal at once;
   * the others are set aside until their devices' keys are made.
   */
  admit(take: P[], now: number): P[] {
    const open: string[] = [];
    for (const p of take) if (!this.#parked.has(p.frame.body.dev)) open.push(p.frame.body.dev);
    const missing = this.#ring.missing(open, now);
    if (missing.length === 0 && this.#parked.size === 0) return take;
    const short = new Set(missing);
    const out: P[] = [];
    for (const p of take) {
      const dev = p.frame.body.dev;
      const held = this.#parked.get(dev);
      if (held) held.push(p);
      else if (short.has(dev)) this.#parked.set(dev, [p]);
      else {
        out.push(p);
        continue;
      }
      this.#count += 1;
    }
    if (missing.length > 0) this.#make(missing, now);
    return out;
  }

  /** Resolves once no key is being made for frames set aside (they have been handed back). */
  async settled(): Promise<void> {
    while (this.#making.size > 0) await Promise.all(this.#making);
  }

  #make(devs: string[], now: number): void {
    const making: Promise<void> = this.#ring.prepare(devs, now).then(
      () => this.#release(devs, making, undefined),
      (err: unknown) => this.#release(devs, making, err ?? new Error('data key not made')),
    );
    this.#making.add(making);
  }

  #release(devs: readonly string[], making: Promise<void>, err: unknown): void {
    this.#making.delete(making);
    const frames: P[] = [];
    for (const dev of devs) {
      const held = this.#parked.get(dev);
      if (!held) continue;
      this.#parked.delete(dev);
      for (const p of held) frames.push(p);
    }
    this.#count -= frames.length;
    if (frames.length === 0) return;
    if (err === undefined) this.#onReady(frames);
    else this.#onFailed(frames, err);
  }
}
