/**
 * @module test/integration/binding-book-abstract
 * The abstract `BindingBook` suite (STYLE.md §4, as user-directory-abstract.ts is for account
 * stores): every admissions book (io/store `Bindings`, the data dir's SQLite store; io/shared
 * `PgBindings`, a gateway group's PostgreSQL) must keep the same rules: admissions,
 * transfers and discharges with their history, the binding in force at a time, the rules
 * (`bed_occupied` whatever the spelling, `patient_elsewhere`, `bad_binding`, `not_admitted`)
 * with nothing changed by a refusal, `onChange` told of each change once, patient ids never
 * stored in clear nor hashed, another book on the same store seeing the admissions, and two
 * admissions of one bed at once: exactly one wins.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type BindingBook, type BindingChange, BindingError } from '../../gateway/src/io/store/bindings.js';
import { expectCode as expectCodeOf, fixturePerTest } from '../helpers/contract.js';
import { until } from '../helpers/wait.js';

/** A fresh, empty store, another book on it (another gateway), and its stored text. */
export interface BindingBookFixture {
  book: BindingBook;
  /** Another book on the same store, with the same recipients and private keys. */
  twin(): Promise<BindingBook>;
  /** Every stored row of the store's bindings table, as text (what a disk or a dump holds). */
  storedText(): Promise<string>;
  /** Closes the book, its twins and the store. */
  close(): Promise<void>;
}

const T = Date.UTC(2026, 11, 2, 8, 0, 0);
/** A code of little entropy, as hospitals use: what a hash would not protect. */
const PATIENT = 'ZZTEST-4711';

const expectCode = (p: Promise<unknown>, code: string): Promise<void> => expectCodeOf(p, BindingError, code);

/** Registers the suite under `describe(name)`; `open` runs once per test. */
export function describeBindingBook(name: string, open: () => Promise<BindingBookFixture>): void {
  describe(`BindingBook contract: ${name}`, () => {
    const fx = fixturePerTest(open);
    const fresh = async (): Promise<BindingBook> => (await fx.fresh()).book;

    it('behavior: an empty book has no binding at any time', async () => {
      const book = await fresh();
      expect(book.beds()).toEqual([]);
      expect(await book.active()).toEqual([]);
      expect(await book.history('wr-0001')).toEqual([]);
      expect(await book.at('wr-0001', T)).toBeNull();
      expect(book.idAt('wr-0001', T)).toBeNull();
      expect(book.bedAt('wr-0001', T)).toBeNull();
      expect(await book.devicesOf(PATIENT)).toEqual([]);
      expect(await book.patients()).toEqual([]);
    });

    it('behavior: admit, transfer and discharge keep the history; at/idAt/bedAt give the binding in force', async () => {
      const book = await fresh();
      expect(await book.admit('wr-0001', PATIENT, 'Bed 7', T)).toEqual({
        patientId: PATIENT,
        bed: 'Bed 7',
        from: T,
        to: null,
      });
      expect(await book.at('wr-0001', T - 1)).toBeNull();
      expect(await book.at('wr-0001', T)).toEqual({ patientId: PATIENT, bed: 'Bed 7', from: T, to: null });
      const first = book.idAt('wr-0001', T);
      expect(first).toEqual(expect.any(Number));
      expect(book.bedAt('wr-0001', T + 5)).toBe('Bed 7');
      expect(book.beds()).toEqual([{ dev: 'wr-0001', bed: 'Bed 7' }]);

      // A second admission of the device is a transfer: the first binding ends when it begins.
      await book.admit('wr-0001', PATIENT, 'Bed 9', T + 100);
      expect(await book.history('wr-0001')).toEqual([
        { patientId: PATIENT, bed: 'Bed 7', from: T, to: T + 100 },
        { patientId: PATIENT, bed: 'Bed 9', from: T + 100, to: null },
      ]);
      expect(book.bedAt('wr-0001', T + 99)).toBe('Bed 7');
      expect(book.bedAt('wr-0001', T + 100)).toBe('Bed 9');
      expect(book.idAt('wr-0001', T + 99)).toBe(first);
      expect(book.idAt('wr-0001', T + 100)).not.toBe(first);
      expect(await book.active()).toEqual([
        { dev: 'wr-0001', patientId: PATIENT, bed: 'Bed 9', from: T + 100, to: null },
      ]);

      expect(await book.discharge('wr-0001', T + 200)).toEqual({ to: T + 200 });
      expect(await book.at('wr-0001', T + 199)).toMatchObject({ bed: 'Bed 9', to: T + 200 });
      expect(await book.at('wr-0001', T + 200)).toBeNull();
      expect(book.idAt('wr-0001', T + 300)).toBeNull();
      expect(book.beds()).toEqual([]);
      expect(await book.active()).toEqual([]);
      // A discharge before the binding began ends it at its start, never before.
      await book.admit('wr-0002', 'P-2', 'Bed 2', T + 500);
      expect(await book.discharge('wr-0002', T + 400)).toEqual({ to: T + 500 });
    });

    it('behavior: devicesOf gives every device a patient was bound to, with the periods, oldest first', async () => {
      const book = await fresh();
      await book.admit('wr-0001', PATIENT, 'Bed 1', T);
      await book.admit('wr-0002', 'P-other', 'Bed 2', T + 10);
      await book.discharge('wr-0001', T + 50);
      await book.admit('wr-0003', PATIENT, 'Bed 3', T + 60);
      expect(await book.devicesOf(PATIENT)).toEqual([
        { dev: 'wr-0001', from: T, to: T + 50 },
        { dev: 'wr-0003', from: T + 60, to: null },
      ]);
      expect(await book.devicesOf('P-nobody')).toEqual([]);
      // Every patient ever admitted, each once (a discharged one too).
      expect((await book.patients()).sort()).toEqual(['P-other', PATIENT].sort());
      expect(book.beds()).toEqual([
        { dev: 'wr-0002', bed: 'Bed 2' },
        { dev: 'wr-0003', bed: 'Bed 3' },
      ]);
    });

    it('error: an occupied bed (whatever its spelling), a patient elsewhere, bad input and a device not admitted are refused, changing nothing', async () => {
      const book = await fresh();
      await book.admit('wr-0001', PATIENT, 'Bed 3', T);
      for (const bed of ['Bed 3', 'bed 3', ' BED  3']) {
        await expectCode(book.admit('wr-0002', 'P-2', bed, T + 1), 'bed_occupied');
      }
      await expectCode(book.admit('wr-0002', PATIENT, 'Bed 4', T + 1), 'patient_elsewhere');
      await expectCode(book.admit('../etc', 'P-2', 'Bed 4', T + 1), 'bad_binding');
      await expectCode(book.admit('wr-0002', 'P 2 <script>', 'Bed 4', T + 1), 'bad_binding');
      await expectCode(book.admit('wr-0002', 'P-2', 'Bed;4', T + 1), 'bad_binding');
      await expectCode(book.discharge('wr-0002', T + 1), 'not_admitted');
      expect(await book.history('wr-0002')).toEqual([]);
      expect(book.beds()).toEqual([{ dev: 'wr-0001', bed: 'Bed 3' }]);
      // The device itself may move within its own bed's spelling (a transfer, no conflict).
      await book.admit('wr-0001', PATIENT, 'bed 3', T + 2);
      expect(book.beds()).toEqual([{ dev: 'wr-0001', bed: 'bed 3' }]);
      // Discharged, the bed and the patient are free again.
      await book.discharge('wr-0001', T + 3);
      await book.admit('wr-0002', PATIENT, 'Bed 3', T + 4);
      expect(book.bedAt('wr-0002', T + 4)).toBe('Bed 3');
    });

    it('behavior: onChange hears each admission, transfer and discharge once, with who did it; refusals and unsubscribed listeners hear nothing', async () => {
      const book = await fresh();
      const heard: BindingChange[] = [];
      const off = book.onChange((e) => heard.push(e));
      book.onChange(() => {
        throw new Error('a failing listener changes nothing');
      });
      await book.admit('wr-0001', PATIENT, 'Bed 1', T, 'carla');
      await expectCode(book.admit('wr-0002', 'P-2', 'bed 1', T + 1, 'carla'), 'bed_occupied');
      await book.admit('wr-0001', PATIENT, 'Bed 5', T + 10, 'dora');
      await book.discharge('wr-0001', T + 20, 'carla');
      expect(heard).toEqual([
        { type: 'admission', dev: 'wr-0001', bed: 'Bed 1', at: T, by: 'carla' },
        { type: 'admission', dev: 'wr-0001', bed: 'Bed 5', at: T + 10, by: 'dora' },
        { type: 'discharge', dev: 'wr-0001', at: T + 20, by: 'carla' },
      ]);
      off();
      await book.admit('wr-0002', 'P-2', 'Bed 2', T + 30);
      expect(heard).toHaveLength(3);
    });

    it('behavior: the patient id is stored sealed: not in clear, nor as a hash; the bed is in clear', async () => {
      const book = await fresh();
      await book.admit('wr-0001', PATIENT, 'Bed 7', T);
      await book.admit('wr-0002', 'MRN-000123', 'Bed 8', T);
      const text = await fx.current().storedText();
      expect(text).toContain('Bed 7'); // the scan sees the rows
      for (const id of [PATIENT, 'MRN-000123']) {
        expect(text).not.toContain(id);
        expect(text.toLowerCase()).not.toContain(id.toLowerCase());
        const sha = createHash('sha256').update(id).digest();
        for (const form of [sha.toString('hex'), sha.toString('base64'), sha.toString('base64url')])
          expect(text).not.toContain(form);
      }
      // A JWE for the recipients instead (General JSON: the protected header and the recipients).
      expect(text).toMatch(/"recipients"/);
    });

    it('behavior: another book on the same store sees the admissions and opens the patient ids', async () => {
      const book = await fresh();
      const other = await fx.current().twin();
      await book.admit('wr-0001', PATIENT, 'Bed 7', T);
      await until(() => other.bedAt('wr-0001', T + 1) === 'Bed 7', 3000, 'the other book sees the admission');
      expect(await other.at('wr-0001', T + 1)).toEqual({
        patientId: PATIENT,
        bed: 'Bed 7',
        from: T,
        to: null,
      });
      expect(other.idAt('wr-0001', T)).toBe(book.idAt('wr-0001', T));
      // Its rules count the admission made by the first: neither the bed nor the patient is free.
      await expectCode(other.admit('wr-0002', 'P-2', 'bed 7', T + 2), 'bed_occupied');
      await expectCode(other.admit('wr-0002', PATIENT, 'Bed 8', T + 2), 'patient_elsewhere');
      await other.discharge('wr-0001', T + 3);
      await until(() => book.bedAt('wr-0001', T + 4) === null, 3000, 'the first book sees the discharge');
      expect(await book.history('wr-0001')).toEqual([
        { patientId: PATIENT, bed: 'Bed 7', from: T, to: T + 3 },
      ]);
    });

    it('behavior: two admissions of one bed at once, through two books: exactly one wins', async () => {
      const book = await fresh();
      const other = await fx.current().twin();
      for (let round = 0; round < 5; round++) {
        const bed = `Bed ${20 + round}`;
        const at = T + round * 1000;
        const results = await Promise.allSettled([
          book.admit(`wr-a${round}`, `P-a${round}`, bed, at),
          other.admit(`wr-b${round}`, `P-b${round}`, bed.toLowerCase(), at),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won, `round ${round}`).toHaveLength(1);
        expect(lost[0]?.reason).toMatchObject({ name: 'BindingError', code: 'bed_occupied' });
      }
      await until(() => book.beds().length === 5, 3000, 'the first book sees every winner');
      expect(new Set(book.beds().map((b) => b.bed.toLowerCase())).size).toBe(5);
    });

    it('behavior: admissions at once through one book: one patient twice, exactly one wins; other devices all win, each its own binding', async () => {
      const book = await fresh();
      const same = await Promise.allSettled([
        book.admit('wr-0001', PATIENT, 'Bed 1', T),
        book.admit('wr-0002', PATIENT, 'Bed 2', T),
      ]);
      expect(same.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(same.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { name: 'BindingError', code: 'patient_elsewhere' },
      });
      const devs = ['wr-0003', 'wr-0004', 'wr-0005', 'wr-0006'];
      await Promise.all(devs.map((d, i) => book.admit(d, `P-${i}`, `Bed ${10 + i}`, T + 1)));
      const ids = devs.map((d) => book.idAt(d, T + 1));
      expect(new Set(ids).size).toBe(devs.length);
      for (const [i, d] of devs.entries()) expect((await book.at(d, T + 1))?.patientId).toBe(`P-${i}`);
    });
  });
}
