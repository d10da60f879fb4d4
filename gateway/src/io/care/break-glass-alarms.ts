/**
 * @module io/care/break-glass-alarms
 * Where the ward's central station shows a break-glass opening (issue 18: "raises an alert to
 * the charge nurse"): the technical alarm `break_glass_access` (core/alarms
 * `breakGlassConditions`, low priority) on the bed tile of each device bound to the patient
 * now, or on the gateway's own line when no such device shows alarms (the patient not bound
 * here now, or every one of their beds in standby), while the opening is in force. The
 * io/clinical alarm service asks `conditions(now)` at every tick (`scopedConditions`), so the
 * alarm ends at the first tick after the opening's end; it is acknowledged like any other.
 *
 * `conditions` is synchronous and cheap: it reads a copy of the openings in force and of the
 * patients' devices, which `refresh` re-reads (the openings from io/care/break-glass, the
 * devices from the admissions, io/store `BindingBook.active`, their ids turned to pseudonyms)
 * at every opening, at every admission or discharge, and every `refreshMs`. An opening whose
 * patient's devices are not read yet waits for the read, so its alarm never first shows on the
 * gateway's line and then moves.
 */
import { type AlarmCondition, breakGlassConditions } from '../../core/alarms/index.js';
import type { BreakGlassOpening } from '../../core/break-glass.js';
import { GATEWAY_SCOPE } from '../clinical/index.js';
import type { BindingBook } from '../store/index.js';
import type { BreakGlassBook } from './break-glass.js';

export interface BreakGlassAlarmsOptions {
  book: BreakGlassBook;
  bindings: Pick<BindingBook, 'active' | 'onChange'>;
  /** A patient id's pseudonym (io/care `PatientIndex.pseudonymOf`). */
  pseudonymOf: (patientId: string) => string;
  /** Whether a device's bed is in standby (it shows no alarm then). Default: never. */
  inStandby?: (dev: string) => boolean;
  /** How often the copy is re-read besides the changes (ms). Default 10 000. */
  refreshMs?: number;
  now?: () => number;
  /** Told of a failed read (the copy stays; the next read tries again). Must not throw. */
  onError?: (err: unknown) => void;
}

const NONE: ReadonlyMap<string, readonly AlarmCondition[]> = new Map();

export class BreakGlassAlarms {
  readonly #o: BreakGlassAlarmsOptions;
  readonly #now: () => number;
  #openings: BreakGlassOpening[] = [];
  /** The devices bound now to each patient of an opening (pseudonym → devices), as last read. */
  #devices = new Map<string, string[]>();
  #reading: Promise<void> = Promise.resolve();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: (() => void)[];

  constructor(o: BreakGlassAlarmsOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#unsubscribe = [
      o.book.onOpened((opening) => {
        this.#openings.push(opening);
        void this.refresh();
      }),
      o.bindings.onChange(() => void this.refresh()),
    ];
    this.#timer = setInterval(() => void this.refresh(), o.refreshMs ?? 10_000);
    this.#timer.unref();
  }

  /** The alarm conditions of the openings in force at `now`, by scope (device id or `gateway`). */
  conditions(now: number): ReadonlyMap<string, readonly AlarmCondition[]> {
    if (this.#openings.length === 0) return NONE;
    const standby = this.#o.inStandby ?? (() => false);
    const inputs = [];
    for (const o of this.#openings) {
      const devices = this.#devices.get(o.patient);
      if (devices === undefined) continue; // not read yet
      const showing = devices.filter((d) => !standby(d));
      inputs.push({ ...o, scopes: showing.length > 0 ? showing : [GATEWAY_SCOPE] });
    }
    return breakGlassConditions(inputs, now);
  }

  /** Re-reads the openings in force and their patients' devices (one read at a time, in turn). */
  refresh(): Promise<void> {
    this.#reading = this.#reading.then(async () => {
      try {
        const openings = this.#o.book.allInForce(this.#now());
        const devices = new Map<string, string[]>();
        if (openings.length > 0) {
          for (const o of openings) devices.set(o.patient, []);
          for (const b of await this.#o.bindings.active()) {
            const p = this.#o.pseudonymOf(b.patientId);
            devices.get(p)?.push(b.dev);
          }
        }
        // An opening stored while this read ran is read by the one it queued, right after.
        this.#openings = openings;
        this.#devices = devices;
      } catch (err) {
        try {
          this.#o.onError?.(err);
        } catch {
          // The alarm goes on from the copy.
        }
      }
    });
    return this.#reading;
  }

  close(): void {
    clearInterval(this.#timer);
    for (const u of this.#unsubscribe) u();
  }
}
