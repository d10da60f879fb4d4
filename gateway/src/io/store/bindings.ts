/**
 * @module io/store/bindings
 * Patient binding (issue 4, "devices are admitted to a patient/bed and discharged;
 * readings carry the binding that was active at their time; the history is kept").
 *
 * A binding is a row `(dev, bed, from, to)` plus the patient id **sealed**: a General JSON
 * JWE (core/envelope `sealBatch`, A256GCM, key wrapped for every active recipient) bound
 * by AAD to its row, device and start. Patient ids never reach the database in clear.
 * No hash of the id is stored either: patient codes have little entropy (e.g. a 4-digit
 * suffix), so any hash whose key sat on the same disk could be reversed by trying every
 * code. Lookups by patient (`devicesOf`) open the bindings with a recipient private key
 * instead (once each, then cached in memory) — admissions are few, readings are many.
 *
 * Beds are stored in clear: they label dashboard tiles and are locations, not identities.
 *
 * `BindingBook` is what the gateway uses of a binding store: `Bindings` (this data
 * directory's SQLite store, the embedded default) and io/shared `PgBindings` (the
 * PostgreSQL database a gateway group shares; issue 16) implement it, with the same sealing
 * (`sealPatientId`, `openPatientId`), rules and errors; one abstract suite runs against both
 * (test/integration/binding-book-abstract.ts). `onChange` tells the gateway's consumers
 * (tile labels, the alarm service's standby, the InfluxDB sink's beds) of every admission
 * and discharge, whoever made it.
 */
import { dirname, join } from 'node:path';
import { openBatch, type Recipient, type RecipientSecret, sealBatch } from '../../core/envelope.js';
import { errorClass, VitalTrailError } from '../../protocol/errors.js';
import { DEVICE_ID_PATTERN } from '../../protocol/frame.js';
import { loadRecipientSecrets, watchRecipients } from './recipients.js';
import type { GatewayStore } from './store.js';

export class BindingError extends errorClass<'bindings'>('BindingError') {}

const PATIENT_CONTENT_TYPE = 'application/vitaltrail-patient-id';
/** Patient ids: 1-64 chars of [A-Za-z0-9._:/-] (MRNs, study codes). */
export const PATIENT_ID_PATTERN = /^[A-Za-z0-9._:/-]{1,64}$/;
/** Beds: 1-32 chars of [A-Za-z0-9 ._/-], e.g. "Bed 12". */
export const BED_PATTERN = /^[A-Za-z0-9 ._/-]{1,32}$/;

export interface Binding {
  patientId: string;
  bed: string;
  from: number;
  to: number | null;
}

export interface BindingsOptions {
  /** Active recipients (default: DATA/gateway/recipients next to the store file). */
  recipients?: readonly Recipient[] | (() => readonly Recipient[]);
  /** Private keys to open patient ids (default: the `*.key.pem` of that directory). */
  secrets?: readonly RecipientSecret[];
  now?: () => number;
}

/** A bed's identity on the ward: "Bed 3", "bed 3" and " Bed  3 " are one bed. */
export function bedKey(bed: string): string {
  return bed.trim().replace(/ +/g, ' ').toLowerCase();
}

interface Row {
  id: number;
  dev: string;
  bed: string;
  patient: string;
  from_ts: number;
  to_ts: number | null;
}

function patientAad(id: number, dev: string, from: number): Uint8Array {
  return new TextEncoder().encode(`vitaltrail-binding/1:${id}:${dev}:${from}`);
}

/**
 * A patient id sealed for `recipients` (General JSON JWE), bound by AAD to the binding's
 * id, device and start: the one form in which a patient id is stored, in either store.
 */
export function sealPatientId(
  patientId: string,
  recipients: readonly Recipient[],
  id: number,
  dev: string,
  from: number,
): Promise<string> {
  return sealBatch(
    new TextEncoder().encode(patientId),
    recipients,
    patientAad(id, dev, from),
    PATIENT_CONTENT_TYPE,
  );
}

/**
 * Opens a sealed patient id with this host's recipient private keys.
 * @throws {BindingError} `no_recipient_key` when none opens it, `integrity_error` when it
 *   does not authenticate (altered, or moved to another row, device or start)
 */
export async function openPatientId(
  sealed: string,
  secrets: readonly RecipientSecret[],
  id: number,
  dev: string,
  from: number,
): Promise<string> {
  let plain: Uint8Array;
  try {
    plain = await openBatch(sealed, secrets, patientAad(id, dev, from));
  } catch (err) {
    const code =
      err instanceof VitalTrailError && err.code === 'no_recipient_key'
        ? 'no_recipient_key'
        : 'integrity_error';
    throw new BindingError(code, `binding ${id} could not be opened`, { cause: err });
  }
  return new TextDecoder().decode(plain);
}

/** An admission or a discharge, as `BindingBook.onChange` reports it. */
export type BindingChange =
  | { type: 'admission'; dev: string; bed: string; at: number; by?: string }
  | { type: 'discharge'; dev: string; at: number; by?: string };

/**
 * What the gateway uses of a binding store (see the module doc). Reads that need no key
 * (`idAt`, `bedAt`, `beds`) are synchronous: they run per reading or per tile.
 */
export interface BindingBook {
  /**
   * Admits `dev` to a patient and bed from `at` (default now), closing its open binding
   * first (a transfer); `by` names who did it (reported by `onChange`).
   * @throws {BindingError} `bad_binding`, `bed_occupied`, `patient_elsewhere`
   */
  admit(dev: string, patientId: string, bed: string, at?: number, by?: string): Promise<Binding>;
  /** Ends the device's open binding. @throws {BindingError} `not_admitted` */
  discharge(dev: string, at?: number, by?: string): Promise<{ to: number }>;
  /** The binding active at device time `ts`, if any (opens the patient id). */
  at(dev: string, ts: number): Promise<Binding | null>;
  /** The id of the binding in force at `ts`, if any (no key needed). */
  idAt(dev: string, ts: number): number | null;
  /** The bed bound at `ts`, if any (no key needed). */
  bedAt(dev: string, ts: number): string | null;
  /** Every binding of `dev`, oldest first. */
  history(dev: string): Promise<Binding[]>;
  /** Open bindings of all devices, by device. */
  active(): Promise<(Binding & { dev: string })[]>;
  /** Beds of the open bindings (no patient id, no key needed). */
  beds(): { dev: string; bed: string }[];
  /** Every device a patient was bound to, with the periods, oldest first. */
  devicesOf(patientId: string): Promise<{ dev: string; from: number; to: number | null }[]>;
  /** Every patient ever admitted (the ids opened, each once; issue 18: a pseudonym's patient). */
  patients(): Promise<string[]>;
  /**
   * Calls `fn` once for every admission and discharge stored after this call, whoever made
   * it (for a shared store: any gateway of the group), after it is stored. Returns the
   * unsubscribe function. `fn` must not throw (a throw is swallowed).
   */
  onChange(fn: (e: BindingChange) => void): () => void;
}

/** Calls every listener with `e`; a throwing listener neither stops the others nor the caller. */
export function tellListeners(listeners: Iterable<(e: BindingChange) => void>, e: BindingChange): void {
  for (const fn of listeners) {
    try {
      fn(e);
    } catch {
      // A failing consumer must not undo a stored change nor starve the others.
    }
  }
}

/**
 * Admissions and discharges of devices, with history.
 * @example
 * const b = new Bindings(store);
 * await b.admit('wr-0001', 'P-1234', 'Bed 12');
 * (await b.current('wr-0001'))?.bed; // 'Bed 12'
 */
export class Bindings implements BindingBook {
  readonly #store: GatewayStore;
  readonly #recipients: () => readonly Recipient[];
  readonly #secrets: readonly RecipientSecret[];
  readonly #now: () => number;
  /** Opened patient ids by binding id (memory only). */
  readonly #ids = new Map<number, string>();
  readonly #listeners = new Set<(e: BindingChange) => void>();
  /** The last binding id this instance drew. */
  #lastId = 0;
  readonly #stmts;

  constructor(store: GatewayStore, opts: BindingsOptions = {}) {
    this.#store = store;
    const dir = join(dirname(store.db.name), 'recipients');
    const r = opts.recipients ?? watchRecipients(dir);
    this.#recipients = typeof r === 'function' ? r : () => r;
    this.#secrets = opts.secrets ?? loadRecipientSecrets(dir);
    this.#now = opts.now ?? Date.now;
    const db = store.db;
    this.#stmts = {
      open: db.prepare(
        'SELECT * FROM bindings WHERE dev = ? AND to_ts IS NULL ORDER BY from_ts DESC LIMIT 1',
      ),
      close: db.prepare('UPDATE bindings SET to_ts = ? WHERE id = ?'),
      insert: db.prepare('INSERT INTO bindings (id, dev, bed, patient, from_ts) VALUES (?, ?, ?, ?, ?)'),
      maxId: db.prepare('SELECT coalesce(max(id), 0) FROM bindings').pluck(),
      history: db.prepare('SELECT * FROM bindings WHERE dev = ? ORDER BY from_ts, id'),
      devices: db.prepare('SELECT DISTINCT dev FROM bindings ORDER BY dev').pluck(),
      all: db.prepare('SELECT * FROM bindings ORDER BY from_ts, id'),
      active: db.prepare('SELECT * FROM bindings WHERE to_ts IS NULL ORDER BY dev'),
      at: db.prepare(
        'SELECT * FROM bindings WHERE dev = ? AND from_ts <= ? AND (to_ts IS NULL OR to_ts > ?) ORDER BY from_ts DESC LIMIT 1',
      ),
    };
  }

  /**
   * Admits `dev` to a patient and bed from `at` (default now); an open binding of the
   * device is closed at `at` first (a transfer). One patient per bed and one bed per
   * patient at a time: another device's open binding may hold neither the same bed (beds
   * compare without case and repeated spaces, so "Bed 3" and "bed  3" are one bed) nor the
   * same patient. The patient check covers every open binding this host can open (ids it
   * sealed since start, or any with a recipient private key here); patient ids are never
   * stored in a form that could be compared without a key (see the module doc). Both
   * checks run again in the write's transaction, so of two admissions at once (one bed, or
   * one patient) exactly one is stored. `by` names who admitted (told to `onChange`).
   * @throws {BindingError} `bad_binding` for an invalid device id, patient id or bed;
   *   `bed_occupied`, `patient_elsewhere`.
   */
  async admit(
    dev: string,
    patientId: string,
    bed: string,
    at: number = this.#now(),
    by?: string,
  ): Promise<Binding> {
    if (!DEVICE_ID_PATTERN.test(dev)) throw new BindingError('bad_binding', 'invalid device id');
    if (!PATIENT_ID_PATTERN.test(patientId)) throw new BindingError('bad_binding', 'invalid patient id');
    if (!BED_PATTERN.test(bed)) throw new BindingError('bad_binding', 'invalid bed');
    this.#checkBed(dev, bed);
    for (const r of this.#stmts.active.all() as Row[]) {
      if (r.dev !== dev && (await this.#patientIfOpenable(r)) === patientId)
        throw new BindingError('patient_elsewhere', 'the patient is admitted on another device');
    }
    // Drawn before sealing (the AAD names it): above every stored id and every id this
    // instance drew for an admission still sealing, so two admissions at once never share one.
    const id = Math.max(this.#stmts.maxId.get() as number, this.#lastId) + 1;
    this.#lastId = id;
    const sealed = await sealPatientId(patientId, this.#recipients(), id, dev, at);
    this.#store.db.transaction(() => {
      // Again: another admission may have taken the bed, or the patient, while we sealed.
      this.#checkBed(dev, bed);
      for (const r of this.#stmts.active.all() as Row[]) {
        if (r.dev !== dev && this.#ids.get(r.id) === patientId)
          throw new BindingError('patient_elsewhere', 'the patient is admitted on another device');
      }
      const open = this.#stmts.open.get(dev) as Row | undefined;
      if (open) this.#stmts.close.run(Math.max(at, open.from_ts), open.id);
      this.#stmts.insert.run(id, dev, bed, sealed, at);
      this.#ids.set(id, patientId);
    })();
    tellListeners(this.#listeners, { type: 'admission', dev, bed, at, ...(by !== undefined ? { by } : {}) });
    return { patientId, bed, from: at, to: null };
  }

  /**
   * Ends the device's open binding at `at` (default now).
   * @throws {BindingError} `not_admitted` when the device has no open binding.
   */
  async discharge(dev: string, at: number = this.#now(), by?: string): Promise<{ to: number }> {
    const open = this.#stmts.open.get(dev) as Row | undefined;
    if (!open) throw new BindingError('not_admitted', 'the device is not admitted');
    const to = Math.max(at, open.from_ts);
    this.#stmts.close.run(to, open.id);
    tellListeners(this.#listeners, { type: 'discharge', dev, at: to, ...(by !== undefined ? { by } : {}) });
    return { to };
  }

  /**
   * As `BindingBook.onChange`, for the changes made through this instance: a data dir's
   * store is written by its one gateway (the CLI reads bindings, it never admits).
   */
  onChange(fn: (e: BindingChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** The open binding of `dev`, if any. @throws {BindingError} as `history`. */
  async current(dev: string): Promise<Binding | null> {
    const r = this.#stmts.open.get(dev) as Row | undefined;
    return r ? this.#binding(r) : null;
  }

  /** The binding active at device time `ts`, if any. */
  async at(dev: string, ts: number): Promise<Binding | null> {
    const r = this.#stmts.at.get(dev, ts, ts) as Row | undefined;
    return r ? this.#binding(r) : null;
  }

  /** The id of the binding in force at `ts`, if any (no key needed): PCD-01 interval groups. */
  idAt(dev: string, ts: number): number | null {
    const r = this.#stmts.at.get(dev, ts, ts) as Row | undefined;
    return r?.id ?? null;
  }

  /** The bed bound at `ts`, if any (no patient id, no key needed): the alarm webhook's bed. */
  bedAt(dev: string, ts: number): string | null {
    const r = this.#stmts.at.get(dev, ts, ts) as Row | undefined;
    return r?.bed ?? null;
  }

  /**
   * Every binding of `dev`, oldest first.
   * @throws {BindingError} `no_recipient_key` without a private key that opens them,
   * `integrity_error` when a stored binding was altered.
   */
  async history(dev: string): Promise<Binding[]> {
    const rows = this.#stmts.history.all(dev) as Row[];
    const out: Binding[] = [];
    for (const r of rows) out.push(await this.#binding(r));
    return out;
  }

  /** Every device that was ever admitted, in id order (`vitaltrail shared import`). */
  devices(): string[] {
    return this.#stmts.devices.all() as string[];
  }

  /** Open bindings of all devices, by device. */
  async active(): Promise<(Binding & { dev: string })[]> {
    const out: (Binding & { dev: string })[] = [];
    for (const r of this.#stmts.active.all() as Row[]) out.push({ dev: r.dev, ...(await this.#binding(r)) });
    return out;
  }

  /** Beds of the open bindings (no patient id, no key needed): to restore tile labels. */
  beds(): { dev: string; bed: string }[] {
    return (this.#stmts.active.all() as Row[]).map((r) => ({ dev: r.dev, bed: r.bed }));
  }

  /** Every device a patient was bound to, with the periods, oldest first. */
  async devicesOf(patientId: string): Promise<{ dev: string; from: number; to: number | null }[]> {
    const out: { dev: string; from: number; to: number | null }[] = [];
    for (const r of this.#stmts.all.all() as Row[]) {
      if ((await this.#patient(r)) === patientId) out.push({ dev: r.dev, from: r.from_ts, to: r.to_ts });
    }
    return out;
  }

  async patients(): Promise<string[]> {
    const ids = new Set<string>();
    for (const r of this.#stmts.all.all() as Row[]) ids.add(await this.#patient(r));
    return [...ids];
  }

  #checkBed(dev: string, bed: string): void {
    const key = bedKey(bed);
    for (const r of this.#stmts.active.all() as Row[]) {
      if (r.dev !== dev && bedKey(r.bed) === key)
        throw new BindingError('bed_occupied', 'another device is admitted to this bed');
    }
  }

  /** The patient id of a row, or null when no key here opens it (then it cannot be compared). */
  async #patientIfOpenable(r: Row): Promise<string | null> {
    try {
      return await this.#patient(r);
    } catch (err) {
      if (err instanceof BindingError && err.code === 'no_recipient_key') return null;
      throw err;
    }
  }

  async #binding(r: Row): Promise<Binding> {
    return { patientId: await this.#patient(r), bed: r.bed, from: r.from_ts, to: r.to_ts };
  }

  async #patient(r: Row): Promise<string> {
    const hit = this.#ids.get(r.id);
    if (hit !== undefined) return hit;
    const id = await openPatientId(r.patient, this.#secrets, r.id, r.dev, r.from_ts);
    this.#ids.set(r.id, id);
    return id;
  }
}
