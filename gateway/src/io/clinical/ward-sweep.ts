/**
 * @module io/clinical/ward-sweep
 * The alarm service's once-a-second pass over every bed (pauses that ran out, a bed gone
 * silent, values that aged out of NEWS2, escalation), cut into slices that each hold the
 * event loop a few milliseconds, the next slice on the next turn. Done in one go, the pass
 * held the loop 32 ms on a ward of 10,000 beds with readings flowing, 65 ms with 20,000 alarms
 * open, and 223 ms in the second every bed went offline at once (`npm run bench:alarms`,
 * 2026-12-05): every frame that arrived meanwhile waited for its fsync'd answer behind it.
 * In slices, a frame waits at most one slice; each bed is still visited once a pass, at a
 * clock read as its slice starts (the pass as a whole ends a few turns later than it would
 * have in one go: tens of milliseconds on a ward of 10,000 beds, against a tick of a second).
 *
 * A pass asked for while one runs starts as soon as it ends (never two at once); `stop` ends
 * the pass under way at its current slice.
 */
import { performance } from 'node:perf_hooks';

/** A slice ends once it has taken this long (ms) ... */
export const SWEEP_SLICE_MS = 4;
/** ... or visited this many beds. */
export const SWEEP_SLICE_BEDS = 500;

/** One pass: what it visits and what it does before and after. */
export interface SweepPass {
  /** The beds to visit, in order (read when the pass starts). */
  readonly beds: readonly string[];
  /** Visits one bed at `now` (the clock as its slice started). */
  visit(bed: string, now: number): void;
  /** After the last bed, at `now`. */
  finish(now: number): void;
}

export interface WardSweepOptions {
  /** Starts a pass at `now`: does what comes before the beds and says which to visit. */
  begin: (now: number) => SweepPass;
  now: () => number;
  /** Told when a pass failed (a throw in `begin`, `visit` or `finish` ends that pass; the next one tries again). */
  onError?: (err: unknown) => void;
  sliceMs?: number;
  sliceBeds?: number;
  /** The clock a slice is timed by, ms (default `performance.now`). */
  elapsed?: () => number;
}

export class WardSweep {
  readonly #o: WardSweepOptions;
  readonly #sliceMs: number;
  readonly #sliceBeds: number;
  readonly #elapsed: () => number;
  #pass: SweepPass | null = null;
  #next = 0;
  #again = false;
  #stopped = false;
  #immediate: NodeJS.Immediate | null = null;
  /** Passes finished, and slices run (tests, benchmarks). */
  readonly stats = { passes: 0, slices: 0 };

  constructor(o: WardSweepOptions) {
    this.#o = o;
    this.#sliceMs = o.sliceMs ?? SWEEP_SLICE_MS;
    this.#sliceBeds = o.sliceBeds ?? SWEEP_SLICE_BEDS;
    this.#elapsed = o.elapsed ?? (() => performance.now());
    if (!(this.#sliceMs > 0 && Number.isSafeInteger(this.#sliceBeds) && this.#sliceBeds > 0))
      throw new RangeError('WardSweep: sliceMs must be positive and sliceBeds a positive integer');
  }

  /** A pass is under way. */
  get running(): boolean {
    return this.#pass !== null;
  }

  /** Starts a pass now, its first slice in this turn; while one runs, the next right after it. */
  request(): void {
    if (this.#stopped) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    try {
      this.#pass = this.#o.begin(this.#o.now());
    } catch (err) {
      this.#o.onError?.(err);
      return;
    }
    this.#next = 0;
    this.#slice();
  }

  /** Ends the pass under way (no slice runs after this) and any later one. */
  stop(): void {
    this.#stopped = true;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = null;
    this.#pass = null;
  }

  #slice(): void {
    this.#immediate = null;
    const pass = this.#pass;
    if (!pass) return;
    this.stats.slices += 1;
    const t0 = this.#elapsed();
    const end = Math.min(pass.beds.length, this.#next + this.#sliceBeds);
    try {
      const now = this.#o.now();
      while (this.#next < end) {
        pass.visit(pass.beds[this.#next++] as string, now);
        if (this.#elapsed() - t0 >= this.#sliceMs) break;
      }
      if (this.#next < pass.beds.length) {
        this.#immediate = setImmediate(() => this.#slice());
        return;
      }
      pass.finish(this.#o.now());
      this.stats.passes += 1;
    } catch (err) {
      this.#o.onError?.(err);
    }
    this.#pass = null;
    if (this.#again && !this.#stopped) {
      this.#again = false;
      this.#immediate = setImmediate(() => this.request());
    }
  }
}
