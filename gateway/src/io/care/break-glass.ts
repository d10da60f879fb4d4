/**
 * @module io/care/break-glass
 * Break-glass openings as this gateway keeps them (issue 18; store schema v10, table
 * `care_break_glass`, owned here): who opened which patient's record (the pseudonym, never a
 * patient id), under what reason, from when until when. Durable: an opening outlives a restart
 * and stays in force until its end. Local: each gateway keeps its own (a gateway group shares
 * none; README "Break-glass"). The rules are core/break-glass; the route that opens one is
 * io/http/routes/care/care-break-glass-routes, the central station's alarm io/care/break-glass-alarms.
 */
import { type BreakGlassOpening, type BreakGlassRole, inForceAt } from '../../core/break-glass.js';
import type { GatewayStore } from '../store/index.js';

/** The most openings one listing returns (newest first). */
export const BREAK_GLASS_LIST_MAX = 500;

type Row = {
  id: number;
  username: string;
  actor: string;
  role: string;
  patient: string;
  reason: string;
  at: number;
  until: number;
};

const COLUMNS = 'id, username, actor, role, patient, reason, at, until';
const openingOf = (r: Row): BreakGlassOpening => ({ ...r, role: r.role as BreakGlassRole });

/** The `care_break_glass` table. */
export class BreakGlassBook {
  readonly #insert;
  readonly #forUser;
  readonly #ofPatient;
  readonly #ofUser;
  readonly #inForce;
  readonly #listeners = new Set<(o: BreakGlassOpening) => void>();

  constructor(store: Pick<GatewayStore, 'db'>) {
    const db = store.db;
    this.#insert = db.prepare(
      `INSERT INTO care_break_glass (username, actor, role, patient, reason, at, until)
       VALUES (@username, @actor, @role, @patient, @reason, @at, @until)`,
    );
    this.#forUser = db.prepare(
      `SELECT ${COLUMNS} FROM care_break_glass WHERE username = ? AND patient = ? AND at <= ? AND until > ?
       ORDER BY until DESC LIMIT 1`,
    );
    this.#ofPatient = db.prepare(
      `SELECT ${COLUMNS} FROM care_break_glass WHERE patient = ? ORDER BY at DESC, id DESC LIMIT ?`,
    );
    this.#ofUser = db.prepare(
      `SELECT ${COLUMNS} FROM care_break_glass WHERE username = ? ORDER BY at DESC, id DESC LIMIT ?`,
    );
    this.#inForce = db.prepare(
      `SELECT ${COLUMNS} FROM care_break_glass WHERE at <= ? AND until > ? ORDER BY at, id`,
    );
  }

  /**
   * Stores an opening (the reason already checked: core/break-glass `breakGlassReason`) and
   * tells the listeners (`onOpened`).
   * @throws {RangeError} when `until` is not after `at`
   */
  open(o: Omit<BreakGlassOpening, 'id'>): BreakGlassOpening {
    if (!(o.until > o.at)) throw new RangeError('BreakGlassBook.open: until must be after at');
    const row = { ...o, patient: o.patient.toLowerCase() };
    const id = Number(this.#insert.run(row).lastInsertRowid);
    const opening = { id, ...row };
    for (const fn of this.#listeners) {
      try {
        fn(opening);
      } catch {
        // A listener (the central station's alarm) must not undo a stored opening.
      }
    }
    return opening;
  }

  /** The opening of `username` for `patient` in force at `now` (the one lasting longest), or null. */
  inForce(username: string, patient: string, now: number): BreakGlassOpening | null {
    const r = this.#forUser.get(username, patient.toLowerCase(), now, now) as Row | undefined;
    return r && inForceAt(r, now) ? openingOf(r) : null;
  }

  /** Every opening in force at `now`, oldest first. */
  allInForce(now: number): BreakGlassOpening[] {
    return (this.#inForce.all(now, now) as Row[]).map(openingOf);
  }

  /** A patient's openings (by pseudonym), or a user's, newest first, at most `limit`. */
  of(who: { patient: string } | { username: string }, limit = BREAK_GLASS_LIST_MAX): BreakGlassOpening[] {
    const n = Math.min(Math.max(1, limit), BREAK_GLASS_LIST_MAX);
    const rows =
      'patient' in who
        ? this.#ofPatient.all(who.patient.toLowerCase(), n)
        : this.#ofUser.all(who.username, n);
    return (rows as Row[]).map(openingOf);
  }

  /** Calls `fn` after every opening stored here; returns the unsubscribe. `fn` must not throw. */
  onOpened(fn: (o: BreakGlassOpening) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}
