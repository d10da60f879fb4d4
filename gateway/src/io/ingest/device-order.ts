/**
 * @module io/ingest/device-order
 * Arrival order per device across the verify pool (issue 14). Frames of one device may be
 * checked by different worker threads and answered out of order; the group commit's dedupe
 * and chain rules (PROTOCOL.md §1: `(dev, seq)` once, `prev` against the neighbours) must
 * still see them in the order they arrived. Each frame takes a place in its device's line
 * on arrival (`enter`); its continuation runs once its verdict is known (`settle`) and
 * every frame of the device that arrived before it has run. Devices do not wait for each
 * other.
 */

/** A frame's place in its device's line. */
export interface Place {
  /** What to run once every earlier place of the device has run; null until settled. */
  run: (() => void) | null;
}

export class DeviceOrder {
  readonly #lines = new Map<string, Place[]>();

  /** Places taken and not yet run, over every device. */
  #open = 0;

  get open(): number {
    return this.#open;
  }

  /** Takes the next place in `dev`'s line (call in arrival order). */
  enter(dev: string): Place {
    const place: Place = { run: null };
    const line = this.#lines.get(dev);
    if (line) line.push(place);
    else this.#lines.set(dev, [place]);
    this.#open += 1;
    return place;
  }

  /**
   * Settles `place`: `run` runs now if every earlier place of `dev` has run, else right
   * after the last of them; places after it that were settled already run next, in order.
   * A throwing `run` does not hold up the line (the error is rethrown after the line moved on).
   */
  settle(dev: string, place: Place, run: () => void): void {
    place.run = run;
    const line = this.#lines.get(dev);
    if (!line || line[0] !== place) return;
    let failure: { err: unknown } | null = null;
    while (line.length > 0 && (line[0] as Place).run !== null) {
      const next = line.shift() as Place;
      this.#open -= 1;
      try {
        (next.run as () => void)();
      } catch (err) {
        failure ??= { err };
      }
    }
    if (line.length === 0) this.#lines.delete(dev);
    if (failure) throw failure.err;
  }
}
