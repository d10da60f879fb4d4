/**
 * @module io/shared/pg-bindings
 * The admissions of a gateway group in the shared PostgreSQL database (issue 16: "an
 * admission made on A is used by B's next readings and exports"): `PgBindings` implements
 * io/store `BindingBook`, as the data directory's SQLite `Bindings` does, with the same
 * rules, errors and sealing. Owner of the table `ward_bindings` (io/shared/schema).
 *
 * What PostgreSQL holds: devices, beds (in clear: they label tiles), periods, who admitted
 * and discharged (user names), and each patient id SEALED exactly as in SQLite (io/store
 * `sealPatientId`: a JWE for the gateway's envelope recipients, bound by AAD to the row's id,
 * device and start). Never a patient id in clear, nor a hash of one. A gateway opens the ids
 * it sealed since it started from memory, and the others with a recipient private key of its
 * data directory (the group's gateways seal for the same recipients).
 *
 * Reads are synchronous where the SQLite ones are (`idAt`, `bedAt`, `beds`: per reading, per
 * tile), from an in-memory copy of the table kept current by io/shared/pg-copy (LISTEN
 * `vitaltrail_bindings` + a poll every `pollMs`, 2 s). Each reload compares the open
 * binding of every device with the copy's before it and tells `onChange` listeners what
 * changed (an admission: a new open binding; a discharge: an open binding closed and none
 * after it), so every gateway hears each admission and discharge of the group once, whoever
 * made it. Writes run in one transaction under an advisory lock (every gateway's writes one
 * after the other), check the rules against the table itself (not the copy), and reload the
 * copy before they resolve: the writer sees its own write, its listeners have heard it.
 *
 * Rules, as in SQLite: one open binding per device (re-admitting is a transfer), per bed
 * (`bed_occupied`; beds compare by io/store `bedKey`) and per patient (`patient_elsewhere`,
 * for every open binding this gateway can open). The first two are also unique indexes.
 *
 * While the database is unreachable the copy keeps serving (bindings as last seen) and
 * writes fail with `shared_unavailable`. A row that is no valid binding (a manual edit)
 * makes reads fail `integrity_error` until it is fixed.
 */
import type pg from 'pg';
import type { Recipient, RecipientSecret } from '../../core/envelope.js';
import { DEVICE_ID_PATTERN } from '../../protocol/frame.js';
import {
  BED_PATTERN,
  type Binding,
  type BindingBook,
  type BindingChange,
  BindingError,
  bedKey,
  openPatientId,
  PATIENT_ID_PATTERN,
  sealPatientId,
  tellListeners,
} from '../store/index.js';
import { PgCopy } from './pg-copy.js';
import {
  CLOSE_GRACE_MS,
  closeSharedPool,
  openSharedPool,
  rollBack,
  type SharedPostgresOptions,
  SharedStateError,
  settles,
  unavailable as sharedUnavailable,
  sqlState,
} from './postgres.js';
import { BINDINGS_CHANNEL } from './schema.js';

/** How often the table's signature is compared with the copy's. */
export const DEFAULT_BINDINGS_POLL_MS = 2000;

/** Taken by every write's transaction: the group's admissions and discharges one at a time. */
const WRITE_LOCK = 0x5654_4244; // "VTBD"

export interface PgBindingsOptions extends SharedPostgresOptions {
  /** The envelope recipients patient ids are sealed for (the data dir's, kept current). */
  recipients: readonly Recipient[] | (() => readonly Recipient[]);
  /** This host's recipient private keys (may be empty: then only ids sealed here open). */
  secrets: readonly RecipientSecret[];
  /** Fallback poll interval (a missed notification is seen within it). Default 2 s. */
  pollMs?: number;
  now?: () => number;
}

interface Row {
  id: number;
  dev: string;
  bed: string;
  patient: string;
  from: number;
  to: number | null;
  admittedBy: string | null;
  dischargedBy: string | null;
}

interface DbRow {
  id: unknown;
  dev: unknown;
  bed: unknown;
  patient: unknown;
  from_ts: unknown;
  to_ts: unknown;
  admitted_by: unknown;
  discharged_by: unknown;
}

const COLUMNS = 'id, dev, bed, patient, from_ts, to_ts, admitted_by, discharged_by';

const int = (x: unknown): number | null => {
  const n = typeof x === 'string' ? Number(x) : x;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : null;
};
const nameOrNull = (x: unknown): string | null | undefined =>
  x === null ? null : typeof x === 'string' ? x : undefined;

/** A row as a binding, or null when it is none (a manual edit). */
function rowOf(r: DbRow): Row | null {
  const id = int(r.id);
  const from = int(r.from_ts);
  const to = r.to_ts === null ? null : int(r.to_ts);
  const admittedBy = nameOrNull(r.admitted_by);
  const dischargedBy = nameOrNull(r.discharged_by);
  if (
    id === null ||
    from === null ||
    (r.to_ts !== null && to === null) ||
    typeof r.dev !== 'string' ||
    !DEVICE_ID_PATTERN.test(r.dev) ||
    typeof r.bed !== 'string' ||
    !BED_PATTERN.test(r.bed) ||
    typeof r.patient !== 'string' ||
    admittedBy === undefined ||
    dischargedBy === undefined
  )
    return null;
  return { id, dev: r.dev, bed: r.bed, patient: r.patient, from, to, admittedBy, dischargedBy };
}

const byStart = (a: Row, b: Row): number => a.from - b.from || a.id - b.id;

/**
 * The admissions of a gateway group, in PostgreSQL. Open with `PgBindings.open`, and
 * `close()` when done (it ends the pool, the listener and the poll).
 */
export class PgBindings implements BindingBook {
  readonly #pool: pg.Pool;
  readonly #recipients: () => readonly Recipient[];
  readonly #secrets: readonly RecipientSecret[];
  readonly #now: () => number;
  readonly #copy: PgCopy;
  /** Every row, oldest first; by device, oldest first; the open one of each device. */
  #rows: Row[] = [];
  #byDev = new Map<string, Row[]>();
  #open = new Map<string, Row>();
  #failure: BindingError | null = null;
  #loaded = false;
  /** Opened patient ids by binding id (memory only). */
  readonly #ids = new Map<number, string>();
  readonly #listeners = new Set<(e: BindingChange) => void>();
  #closed = false;

  private constructor(pool: pg.Pool, o: PgBindingsOptions, pollMs: number) {
    this.#pool = pool;
    const r = o.recipients;
    this.#recipients = typeof r === 'function' ? r : () => r;
    this.#secrets = o.secrets;
    this.#now = o.now ?? Date.now;
    this.#copy = new PgCopy({
      pool,
      channel: BINDINGS_CHANNEL,
      pollMs,
      load: () => this.#load(),
      signature: async () => {
        const s = await this.#query<{ n: string; m: string }>(
          'SELECT count(*) AS n, coalesce(max(change_no), 0) AS m FROM ward_bindings',
          [],
        );
        return `pg:${s.rows[0]?.n}:${s.rows[0]?.m}`;
      },
    });
  }

  /**
   * Connects, migrates the shared schema, listens for changes and loads the bindings.
   * @throws {SharedStateError} `shared_unavailable` when the database cannot be used
   * @throws {BindingError} `integrity_error` when a row is no valid binding
   * @example const book = await PgBindings.open({ url, password, recipients, secrets });
   */
  static async open(o: PgBindingsOptions): Promise<PgBindings> {
    const pollMs = o.pollMs ?? DEFAULT_BINDINGS_POLL_MS;
    if (!Number.isFinite(pollMs) || pollMs < 10) throw new RangeError('PgBindings: pollMs must be >= 10');
    const pool = await openSharedPool(o);
    const book = new PgBindings(pool, o, pollMs);
    try {
      await book.#copy.start();
      if (book.#failure) throw book.#failure;
    } catch (err) {
      await book.close();
      throw err;
    }
    return book;
  }

  /**
   * As io/store `Bindings.admit`, for the whole group: the rules are checked against the
   * table under the write lock, so of two gateways admitting to one bed at once exactly one
   * succeeds.
   * @throws {BindingError} `bad_binding`, `bed_occupied`, `patient_elsewhere`
   * @throws {SharedStateError} `shared_unavailable`
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
    const key = bedKey(bed);
    // Refused at once when the copy already shows the bed taken; the table decides below.
    for (const r of this.#open.values())
      if (r.dev !== dev && bedKey(r.bed) === key)
        throw new BindingError('bed_occupied', 'another device is admitted to this bed');
    const next = await this.#query<{ id: string }>("SELECT nextval('ward_bindings_id') AS id", []);
    const id = Number(next.rows[0]?.id);
    const sealed = await sealPatientId(patientId, this.#recipients(), id, dev, at);
    await this.#transaction(async (c) => {
      const open = (await c.query<DbRow>(`SELECT ${COLUMNS} FROM ward_bindings WHERE to_ts IS NULL`)).rows;
      const rows = open.map((r) => rowOf(r)).filter((r): r is Row => r !== null);
      for (const r of rows)
        if (r.dev !== dev && bedKey(r.bed) === key)
          throw new BindingError('bed_occupied', 'another device is admitted to this bed');
      for (const r of rows)
        if (r.dev !== dev && (await this.#patientIfOpenable(r)) === patientId)
          throw new BindingError('patient_elsewhere', 'the patient is admitted on another device');
      await c.query(
        'UPDATE ward_bindings SET to_ts = GREATEST($2, from_ts), discharged_by = $3 WHERE dev = $1 AND to_ts IS NULL',
        [dev, at, by ?? null],
      );
      await c.query(
        `INSERT INTO ward_bindings (id, dev, bed, bed_key, patient, from_ts, admitted_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, dev, bed, key, sealed, at, by ?? null],
      );
      // Before the commit: an admission of this gateway waiting for the lock compares with it.
      this.#ids.set(id, patientId);
    });
    await this.#refresh();
    return { patientId, bed, from: at, to: null };
  }

  /**
   * Ends the device's open binding at `at` (default now), whatever gateway opened it.
   * @throws {BindingError} `not_admitted`
   * @throws {SharedStateError} `shared_unavailable`
   */
  async discharge(dev: string, at: number = this.#now(), by?: string): Promise<{ to: number }> {
    const to = await this.#transaction(async (c) => {
      const r = await c.query<{ to_ts: string }>(
        `UPDATE ward_bindings SET to_ts = GREATEST($2, from_ts), discharged_by = $3
         WHERE dev = $1 AND to_ts IS NULL RETURNING to_ts`,
        [dev, at, by ?? null],
      );
      const row = r.rows[0];
      if (row === undefined) throw new BindingError('not_admitted', 'the device is not admitted');
      return Number(row.to_ts);
    });
    await this.#refresh();
    return { to };
  }

  async at(dev: string, ts: number): Promise<Binding | null> {
    const r = this.#rowAt(dev, ts);
    return r ? this.#binding(r) : null;
  }

  idAt(dev: string, ts: number): number | null {
    return this.#rowAt(dev, ts)?.id ?? null;
  }

  bedAt(dev: string, ts: number): string | null {
    return this.#rowAt(dev, ts)?.bed ?? null;
  }

  async history(dev: string): Promise<Binding[]> {
    const out: Binding[] = [];
    for (const r of this.#read().byDev.get(dev) ?? []) out.push(await this.#binding(r));
    return out;
  }

  async active(): Promise<(Binding & { dev: string })[]> {
    const out: (Binding & { dev: string })[] = [];
    for (const r of this.#activeRows()) out.push({ dev: r.dev, ...(await this.#binding(r)) });
    return out;
  }

  beds(): { dev: string; bed: string }[] {
    return this.#activeRows().map((r) => ({ dev: r.dev, bed: r.bed }));
  }

  async devicesOf(patientId: string): Promise<{ dev: string; from: number; to: number | null }[]> {
    const out: { dev: string; from: number; to: number | null }[] = [];
    for (const r of this.#read().rows)
      if ((await this.#patient(r)) === patientId) out.push({ dev: r.dev, from: r.from, to: r.to });
    return out;
  }

  async patients(): Promise<string[]> {
    const ids = new Set<string>();
    for (const r of this.#read().rows) ids.add(await this.#patient(r));
    return [...ids];
  }

  onChange(fn: (e: BindingChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reloads the copy now (tells the listeners what changed). @throws {SharedStateError} */
  refresh(): Promise<void> {
    return this.#copy.refresh();
  }

  /** Ends the poll, the listener and the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const copy = this.#copy.close(); // a load under way ends with the pool (bounded)
    await closeSharedPool(this.#pool);
    await settles(copy, CLOSE_GRACE_MS);
  }

  /** The copy, or `integrity_error` while the table holds a row that is no binding. */
  #read(): { rows: Row[]; byDev: Map<string, Row[]>; open: Map<string, Row> } {
    if (this.#failure) throw this.#failure;
    return { rows: this.#rows, byDev: this.#byDev, open: this.#open };
  }

  #activeRows(): Row[] {
    return [...this.#read().open.values()].sort((a, b) => (a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : 0));
  }

  /** The binding in force at `ts`: the latest start at or before it, not ended by then. */
  #rowAt(dev: string, ts: number): Row | null {
    const rows = this.#read().byDev.get(dev) ?? [];
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = rows[i] as Row;
      if (r.from <= ts && (r.to === null || r.to > ts)) return r;
    }
    return null;
  }

  /** The copy reloaded after a write; a failed reload is left to the notification and poll. */
  async #refresh(): Promise<void> {
    await this.#copy.refresh().catch(() => {});
  }

  async #binding(r: Row): Promise<Binding> {
    return { patientId: await this.#patient(r), bed: r.bed, from: r.from, to: r.to };
  }

  async #patient(r: Row): Promise<string> {
    const hit = this.#ids.get(r.id);
    if (hit !== undefined) return hit;
    const id = await openPatientId(r.patient, this.#secrets, r.id, r.dev, r.from);
    this.#ids.set(r.id, id);
    return id;
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

  /** Reads the table into the copy and tells the listeners what changed; returns its signature. */
  async #load(): Promise<string> {
    const r = await this.#query<DbRow & { change_no: string }>(
      `SELECT ${COLUMNS}, change_no FROM ward_bindings`,
      [],
    );
    let max = 0n;
    for (const row of r.rows) if (BigInt(row.change_no) > max) max = BigInt(row.change_no);
    const signature = `pg:${r.rows.length}:${max}`;
    const rows = r.rows.map((x) => rowOf(x));
    if (rows.some((x) => x === null)) {
      this.#failure = new BindingError('integrity_error', 'a row of the shared bindings table is no binding');
      return signature;
    }
    const all = (rows as Row[]).sort(byStart);
    const byDev = new Map<string, Row[]>();
    const open = new Map<string, Row>();
    for (const row of all) {
      byDev.set(row.dev, [...(byDev.get(row.dev) ?? []), row]);
      if (row.to === null) open.set(row.dev, row);
    }
    const before = this.#open;
    const first = !this.#loaded;
    this.#rows = all;
    this.#byDev = byDev;
    this.#open = open;
    this.#failure = null;
    this.#loaded = true;
    if (!first)
      for (const e of changesBetween(before, open, all, this.#now)) tellListeners(this.#listeners, e);
    return signature;
  }

  async #transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new SharedStateError('shared_unavailable', 'the shared bindings book is closed');
    let c: pg.PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    // A connection lost while held emits 'error': unheard, it would end the process. The
    // statement in flight fails instead, and the pool drops the client on release.
    const lost = (): void => {};
    c.on('error', lost);
    let drop: Error | undefined;
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      drop = await rollBack(c, err); // a connection the server did not answer is dropped
      if (err instanceof BindingError) throw err;
      // The unique indexes: a write that did not take the lock (an operator's) got there first.
      if (sqlState(err) === '23505') throw new BindingError('bed_occupied', 'another device holds the bed');
      throw unavailable(err);
    } finally {
      c.off('error', lost);
      c.release(drop);
    }
  }

  async #query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new SharedStateError('shared_unavailable', 'the shared bindings book is closed');
    try {
      return await this.#pool.query<R>(sql, params);
    } catch (err) {
      throw unavailable(err);
    }
  }
}

/** The failure of the bindings table, in words safe to log. */
const unavailable = (err: unknown): SharedStateError => sharedUnavailable('the shared bindings table', err);

/**
 * What changed between two copies, device by device: a new open binding is an admission
 * (a transfer too); an open binding gone, with none after it, is a discharge. Oldest first.
 */
function changesBetween(
  before: ReadonlyMap<string, Row>,
  after: ReadonlyMap<string, Row>,
  rows: readonly Row[],
  now: () => number,
): BindingChange[] {
  const out: BindingChange[] = [];
  const by = (name: string | null) => (name !== null ? { by: name } : {});
  for (const [dev, r] of after) {
    if (before.get(dev)?.id !== r.id)
      out.push({ type: 'admission', dev, bed: r.bed, at: r.from, ...by(r.admittedBy) });
  }
  for (const [dev, old] of before) {
    if (after.has(dev)) continue;
    const closed = rows.find((r) => r.id === old.id);
    out.push({ type: 'discharge', dev, at: closed?.to ?? now(), ...by(closed?.dischargedBy ?? null) });
  }
  return out.sort((a, b) => a.at - b.at);
}
