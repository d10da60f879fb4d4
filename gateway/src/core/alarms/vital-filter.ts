/**
 * @module core/alarms/vital-filter
 * The physiological limit conditions of one device, after its alarm-fatigue policies
 * (core/alarms/policy; issue 15, after the AAMI Foundation's alarm-fatigue guidance):
 * - the value compared with the limits is the mean of the readings of the last
 *   `averageSeconds` (the latest reading when 0), so one motion artefact does not alarm;
 * - a breach must last `delaySeconds` (reading times) before the condition is present;
 * - once present, the condition stays until the value is back inside the limit by
 *   `hysteresis`, so a value hovering at the limit does not toggle the alarm;
 * - a vital not received for `staleAfterMs` (signal loss: core/alarms/conditions raises
 *   the technical alarm) gives no physiological condition, and its next reading starts
 *   afresh.
 * Pure and clock-free: the I/O shell pushes each reading with its gateway receive time and
 * evaluates with the time now. Memory is bounded: at most `maxSamples` readings per vital.
 */
import { type AlarmLimits, LIMIT_PRIORITY, LIMIT_VITALS, type LimitVital, limitSide } from './limits.js';
import type { AlarmCondition } from './model.js';
import type { AlarmPolicies } from './policy.js';

export interface VitalAlarmFilterOptions {
  /**
   * A vital not received for this long is stale: no physiological condition, and its next
   * reading starts afresh. Default 15 s (core/alarms/conditions `signalLossAfterMs`).
   */
  staleAfterMs?: number;
  /** At most this many readings are kept per vital. Default 256. */
  maxSamples?: number;
}

type Side = 'low' | 'high';

/**
 * One vital's readings and state. Readings are one array of pairs (time, value, time, value,
 * …), oldest first: a ward of 10,000 devices keeps six tracks each, mostly of one reading,
 * and two arrays per track were most of their memory (issue 14's memory bench).
 */
class Track {
  /** Readings, times at even indexes, each value after its time; those from `head` on are kept. */
  samples: number[];
  /** Where the kept readings begin (even): older ones are dropped by moving it, not by copying. */
  head = 0;
  /** A breach seen but not yet `delaySeconds` long: its side and first reading time. */
  breach: { side: Side; since: number } | null = null;
  /** The side of the present condition. */
  present: Side | null = null;

  constructor(at: number, value: number) {
    this.samples = [at, value];
  }

  /** The time of the latest reading. */
  get lastAt(): number {
    return this.samples[this.samples.length - 2] as number;
  }
}

/** Each vital's place in a filter's tracks. */
const VITAL_INDEX = new Map<LimitVital, number>(LIMIT_VITALS.map((v, i) => [v, i]));

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * One device's limit conditions from its readings.
 * @example
 * const f = new VitalAlarmFilter(DEFAULT_POLICIES);
 * f.push('spo2', receivedAt, 85);
 * f.evaluate(DEFAULT_LIMITS, now); // spo2_low once the breach has lasted 10 s
 */
export class VitalAlarmFilter {
  #policies: AlarmPolicies;
  readonly #staleMs: number;
  readonly #max: number;
  /** By the vital's index in LIMIT_VITALS; a vital never received has none. */
  readonly #tracks: (Track | undefined)[] = [];

  /** @throws {RangeError} when `staleAfterMs` or `maxSamples` is not a positive integer. */
  constructor(policies: AlarmPolicies, opts: VitalAlarmFilterOptions = {}) {
    this.#policies = policies;
    this.#staleMs = opts.staleAfterMs ?? 15_000;
    this.#max = opts.maxSamples ?? 256;
    if (!Number.isSafeInteger(this.#staleMs) || this.#staleMs <= 0)
      throw new RangeError('VitalAlarmFilter: staleAfterMs must be a positive integer');
    if (!Number.isSafeInteger(this.#max) || this.#max <= 0)
      throw new RangeError('VitalAlarmFilter: maxSamples must be a positive integer');
  }

  /** Changes the policies (a patient's settings changed); they apply from the next evaluation. */
  setPolicies(policies: AlarmPolicies): void {
    this.#policies = policies;
  }

  /** Records one reading of a vital, at its gateway receive time. An older reading than the latest is ignored. */
  push(vital: LimitVital, at: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(at)) return;
    const i = VITAL_INDEX.get(vital);
    if (i === undefined) return;
    const t = this.#tracks[i];
    if (t && at < t.lastAt) return;
    if (!t || at - t.lastAt > this.#staleMs) {
      while (this.#tracks.length < i) this.#tracks.push(undefined); // packed, not holey
      this.#tracks[i] = new Track(at, value);
      return;
    }
    const s = t.samples;
    const windowMs = this.#policies[vital].averageSeconds * 1000;
    if (t.lastAt <= at - windowMs) {
      // The usual case (no averaging, or readings further apart than the window): the new
      // reading is the only one kept. Written in place: no allocation per reading.
      s[0] = at;
      s[1] = value;
      if (s.length > 2) s.length = 2;
      t.head = 0;
      return;
    }
    // Keep the averaging window only (the latest reading at least), and never more than maxSamples.
    s.push(at, value);
    const oldest = s.length - 2 * this.#max;
    let head = t.head;
    while (head < s.length - 2 && ((s[head] as number) <= at - windowMs || head < oldest)) head += 2;
    if (2 * head >= s.length) {
      // Half the array dropped: move the rest to the front (amortised O(1) per reading; a
      // copy loop, since copyWithin allocates a number per element of a double array).
      const rest = s.length - head;
      for (let k = 0; k < rest; k++) s[k] = s[head + k] as number;
      s.length = rest;
      head = 0;
    }
    t.head = head;
  }

  /**
   * Advances each vital's state with its latest readings and returns the limit conditions
   * present now, with the compared (mean) value. Evaluate after each push: a breach is
   * timed from the first evaluation that sees it. Evaluating again without a new reading
   * changes nothing, except that new limits apply at once.
   */
  evaluate(limits: AlarmLimits, now: number): AlarmCondition[] {
    const out: AlarmCondition[] = [];
    LIMIT_VITALS.forEach((v, vi) => {
      const t = this.#tracks[vi];
      if (!t) return;
      const lastAt = t.lastAt;
      if (now - lastAt > this.#staleMs) return; // a stale value raises no physiological alarm
      const policy = this.#policies[v];
      const windowMs = policy.averageSeconds * 1000;
      const s = t.samples;
      let sum = 0;
      let n = 0;
      for (let i = s.length - 2; i >= t.head; i -= 2) {
        if (n > 0 && (s[i] as number) <= lastAt - windowMs) break;
        sum += s[i + 1] as number;
        n++;
      }
      const mean = sum / n;
      const limit = limits[v];
      if (t.present !== null) {
        const edge = limit[t.present];
        // Back inside by the hysteresis margin (or the limit switched off): the condition ends.
        const inside =
          edge === null ||
          (t.present === 'low' ? mean >= edge + policy.hysteresis : mean <= edge - policy.hysteresis);
        if (inside) {
          t.present = null;
          t.breach = null;
        }
      }
      if (t.present === null) {
        const side = limitSide(mean, limit);
        if (side === null) t.breach = null;
        else {
          if (t.breach?.side !== side) t.breach = { side, since: lastAt };
          if (lastAt - t.breach.since >= policy.delaySeconds * 1000) {
            t.present = side;
            t.breach = null;
          }
        }
      }
      if (t.present !== null) {
        out.push({
          code: `${v}_${t.present}`,
          kind: 'physiological',
          priority: LIMIT_PRIORITY[v][t.present],
          value: round1(mean),
          limit: limit[t.present] as number,
        });
      }
    });
    return out;
  }

  /** Forgets every reading and state (e.g. a new patient on the device). */
  reset(): void {
    this.#tracks.length = 0;
  }
}
