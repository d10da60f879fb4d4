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
 * the pass under way at its current bed.
 */
import { SlicedVisit } from '../loop/index.js';

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
  #run: SlicedVisit<string> | null = null;
  #again = false;
  #stopped = false;
  #immediate: NodeJS.Immediate | null = null;
  /** Passes finished, and slices run (tests, benchmarks). */
  readonly stats = { passes: 0, slices: 0 };

  constructor(o: WardSweepOptions) {
    this.#o = o;
    this.#sliceMs = o.sliceMs ?? SWEEP_SLICE_MS;
    this.#sliceBeds = o.sliceBeds ?? SWEEP_SLICE_BEDS;
    if (!(this.#sliceMs > 0 && Number.isSafeInteger(this.#sliceBeds) && this.#sliceBeds > 0))
      throw new RangeError('WardSweep: sliceMs must be positive and sliceBeds a positive integer');
  }

  /** A pass is under way. */
  get running(): boolean {
    return this.#run !== null;
  }

  /** Starts a pass now, its first slice in this turn; while one runs, the next right after it. */
  request(): void {
    if (this.#stopped) return;
    if (this.#run) {
      this.#again = true;
      return;
    }
    let pass: SweepPass;
    try {
      pass = this.#o.begin(this.#o.now());
    } catch (err) {
      this.#o.onError?.(err);
      return;
    }
    let now = 0;
    const run = new SlicedVisit(pass.beds, {
      visit: (bed) => pass.visit(bed, now),
      onSlice: () => {
        this.stats.slices += 1;
        now = this.#o.now();
      },
      onEnd: ({ complete, err }) => this.#ended(pass, complete, err),
      sliceMs: this.#sliceMs,
      sliceItems: this.#sliceBeds,
      ...(this.#o.elapsed ? { elapsed: this.#o.elapsed } : {}),
    });
    this.#run = run;
    run.start();
  }

  /** Ends the pass under way (no bed is visited after this) and any later one. */
  stop(): void {
    this.#stopped = true;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = null;
    const run = this.#run;
    this.#run = null;
    run?.halt();
  }

  #ended(pass: SweepPass, complete: boolean, err: unknown): void {
    this.#run = null;
    if (this.#stopped) return;
    if (err !== undefined) this.#o.onError?.(err);
    else if (complete)
      try {
        pass.finish(this.#o.now());
        this.stats.passes += 1;
      } catch (e) {
        this.#o.onError?.(e);
      }
    if (this.#again) {
      this.#again = false;
      this.#immediate = setImmediate(() => {
        this.#immediate = null;
        this.request();
      });
    }
  }
}
