/**
 * @module io/loop/slices
 * A list of items visited in slices of the event loop's time: a slice visits items until it
 * has taken `sliceMs` (or visited `sliceItems`), then the next slice waits one turn
 * (`setImmediate`: the loop's timers and I/O, the ingest among them, go first). So a long
 * pass over a ward (io/clinical/ward-sweep: 223 ms in one go on 10,000 beds) or over a big
 * enrolment (io/identity/devices: 5,020 certificate checks, 3.7-4.0 s in one go) holds a
 * frame's fsync'd answer one slice at most.
 *
 * The first slice runs in the caller's turn. The run ends once, told synchronously to
 * `onEnd`: every item visited, halted between two slices (`halt`), or a throw of `visit`
 * (the item it threw on counts as not visited).
 */
import { performance } from 'node:perf_hooks';

export interface SliceOptions<T> {
  /** Visits one item; a throw ends the run. */
  visit: (item: T) => void;
  /** Once, at the end: `complete` when every item was visited, else `visited` were; `err` what `visit` threw. */
  onEnd: (end: { complete: boolean; visited: number; err?: unknown }) => void;
  /** As each slice starts, before its first item (e.g. reads the clock its items are visited at). */
  onSlice?: () => void;
  /** A slice ends once it has taken this long (ms) ... */
  sliceMs: number;
  /** ... or visited this many items (default: no count). */
  sliceItems?: number;
  /** The clock a slice is timed by, ms (default `performance.now`). */
  elapsed?: () => number;
}

/**
 * One visit of `items` in order, a slice at a time (the module notes); `start` runs the first
 * slice in the caller's turn.
 * @example
 * const run = new SlicedVisit(devs, { visit: reload, sliceMs: 8, onEnd: ({ complete }) => done(complete) });
 * this.#run = run; // before start: a halt from within the first slice finds it
 * run.start();
 */
export class SlicedVisit<T> {
  readonly #items: readonly T[];
  readonly #o: SliceOptions<T>;
  readonly #sliceItems: number;
  readonly #elapsed: () => number;
  #immediate: NodeJS.Immediate | undefined;
  #started = false;
  #ended = false;
  #visiting = false;
  #halted = false;
  #visited = 0;
  #slices = 0;

  constructor(items: readonly T[], o: SliceOptions<T>) {
    const sliceItems = o.sliceItems ?? Number.POSITIVE_INFINITY;
    const countOk =
      sliceItems === Number.POSITIVE_INFINITY || (Number.isSafeInteger(sliceItems) && sliceItems > 0);
    if (!(o.sliceMs > 0 && countOk))
      throw new RangeError('SlicedVisit: sliceMs must be positive and sliceItems a positive integer');
    this.#items = items;
    this.#o = o;
    this.#sliceItems = sliceItems;
    this.#elapsed = o.elapsed ?? (() => performance.now());
  }

  /** Items visited so far. */
  get visited(): number {
    return this.#visited;
  }

  /** Slices run so far. */
  get slices(): number {
    return this.#slices;
  }

  /** Runs the first slice now (once; later calls do nothing). */
  start(): void {
    if (this.#started || this.#ended) return;
    this.#started = true;
    this.#slice();
  }

  /** Ends the run at its current item (no item is visited after this); `onEnd` is told, unless it already was. */
  halt(): void {
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    // From within a visit: `onEnd` is told once that visit has returned.
    if (this.#visiting) this.#halted = true;
    else this.#end(undefined);
  }

  #end(err: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    const visited = this.#visited;
    const complete = err === undefined && visited === this.#items.length;
    this.#o.onEnd(err === undefined ? { complete, visited } : { complete, visited, err });
  }

  #slice(): void {
    this.#immediate = undefined;
    if (this.#ended) return;
    this.#slices += 1;
    const items = this.#items;
    try {
      this.#o.onSlice?.();
      const t0 = this.#elapsed();
      const last = Math.min(items.length, this.#visited + this.#sliceItems);
      while (this.#visited < last && !this.#ended) {
        this.#visiting = true;
        this.#o.visit(items[this.#visited] as T);
        this.#visiting = false;
        this.#visited += 1;
        if (this.#halted || this.#elapsed() - t0 >= this.#o.sliceMs) break;
      }
    } catch (err) {
      this.#visiting = false;
      this.#end(err);
      return;
    }
    if (this.#ended) return; // halted in onSlice
    if (this.#halted) this.#end(undefined);
    else if (this.#visited < items.length) this.#immediate = setImmediate(() => this.#slice());
    else this.#end(undefined);
  }
}
