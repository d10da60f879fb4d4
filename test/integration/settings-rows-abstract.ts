/**
 * @module test/integration/settings-rows-abstract
 * The abstract suite of the per-patient settings rows (io/clinical `PatientSettingsRows`;
 * STYLE.md §4, as binding-book-abstract.ts is for admissions): the data dir's SQLite store
 * (io/clinical `AlarmStore`) and a gateway group's PostgreSQL (io/shared `PgPatientSettings`)
 * must behave alike under the alarm service's settings book (io/clinical/patient-settings):
 * nothing stored reads as the defaults; a change reads back at once, whole, the latest one
 * winning; a refused change (`limits_invalid`) stores nothing; another reader of the same
 * store (a restarted gateway, another gateway of the group) sees what was stored, standby
 * included; and what is stored is configuration, never a reading or an ACVPU entry.
 */
import { describe, expect, it } from 'vitest';
import { AlarmError, DEFAULT_LIMITS, DEFAULT_POLICIES } from '../../gateway/src/core/alarms/index.js';
import type { PatientSettingsRows } from '../../gateway/src/io/clinical/index.js';
import { PatientSettingsBook } from '../../gateway/src/io/clinical/patient-settings.js';
import { fixturePerTest } from '../helpers/contract.js';

/** A fresh, empty store, another reader of it, and its stored text. */
export interface SettingsRowsFixture {
  rows: PatientSettingsRows;
  /** Another reader of the same store, once what `rows` wrote is there. */
  twin(): Promise<PatientSettingsRows>;
  /** Every stored settings row, as text (what a disk or a dump holds). */
  storedText(): Promise<string>;
  close(): Promise<void>;
}

const T = Date.UTC(2026, 11, 3, 8, 0, 0);
const DEV = 'wr-0001';

/** Registers the suite under `describe(name)`; `open` runs once per test. */
export function describeSettingsRows(name: string, open: () => Promise<SettingsRowsFixture>): void {
  describe(`PatientSettingsRows contract: ${name}`, () => {
    const fx = fixturePerTest(open);
    const bookOf = (rows: PatientSettingsRows) => new PatientSettingsBook(rows, DEFAULT_POLICIES);

    it('behavior: nothing stored reads as the defaults', async () => {
      const { rows } = await fx.fresh();
      expect(rows.settingsJson(DEV)).toBeUndefined();
      expect(bookOf(rows).settings(DEV)).toMatchObject({
        spo2Scale: 1,
        oxygen: false,
        limits: DEFAULT_LIMITS,
      });
    });

    it('behavior: a change reads back at once and whole; the latest wins; another reader sees it', async () => {
      const f = await fx.fresh();
      const book = bookOf(f.rows);
      book.update(DEV, { limits: { hr: { low: 45, high: 140 } }, spo2Scale: 2 }, 'charge.lee', T);
      book.update(DEV, { limits: { hr: { low: 40, high: 150 } }, oxygen: true }, 'charge.lee', T + 1);
      const want = { spo2Scale: 2, oxygen: true, limits: { ...DEFAULT_LIMITS, hr: { low: 40, high: 150 } } };
      expect(bookOf(f.rows).settings(DEV)).toMatchObject(want);
      const other = bookOf(await f.twin());
      expect(other.settings(DEV)).toMatchObject(want);
    });

    it('error: a refused change (limits_invalid) stores nothing', async () => {
      const f = await fx.fresh();
      const book = bookOf(f.rows);
      book.update(DEV, { limits: { hr: { low: 45, high: 140 } } }, 'charge.lee', T);
      const before = f.rows.settingsJson(DEV);
      expect(() =>
        book.update(DEV, { limits: { hr: { low: 150, high: 140 } } }, 'charge.lee', T + 1),
      ).toThrow(expect.objectContaining({ name: AlarmError.name, code: 'limits_invalid' }));
      expect(f.rows.settingsJson(DEV)).toBe(before);
      expect(bookOf(await f.twin()).settings(DEV).limits.hr).toEqual({ low: 45, high: 140 });
    });

    it('behavior: a standby is stored with its reason, user and end; ended, it is gone for every reader', async () => {
      const f = await fx.fresh();
      const book = bookOf(f.rows);
      const paused = { reason: 'paused' as const, since: T, by: 'nurse.kim', until: T + 600_000 };
      book.setStandby(DEV, paused, 'nurse.kim', T);
      expect(bookOf(await f.twin()).standby(DEV)).toEqual(paused);
      book.setStandby(DEV, null, 'nurse.kim', T + 1);
      expect(bookOf(await f.twin()).standby(DEV)).toBeNull();
    });

    it("behavior: devices without settings of their own share the ward's, frozen; one patient's policies reach that patient alone", async () => {
      const f = await fx.fresh();
      const book = bookOf(f.rows);
      const a = book.settings(DEV);
      const b = book.settings('wr-0002');
      // One object for every such device (issue 14: 10,000 devices kept a copy each).
      expect(a.policies).toBe(b.policies);
      expect(a.limits).toBe(b.limits);
      expect(a.policies).toEqual(DEFAULT_POLICIES);
      expect(a.limits).toEqual(DEFAULT_LIMITS);
      // Shared, so nothing may change it in place.
      expect(() => {
        a.policies.hr.delaySeconds = 0;
      }).toThrow(TypeError);
      expect(() => {
        a.limits.hr = { low: 0, high: 300 };
      }).toThrow(TypeError);
      book.update(DEV, { policies: { spo2: { delaySeconds: 0 } } }, 'charge.lee', T);
      expect(book.settings(DEV).policies.spo2).toEqual({ ...DEFAULT_POLICIES.spo2, delaySeconds: 0 });
      expect(book.settings('wr-0002').policies).toBe(b.policies);
      expect(book.settings('wr-0002').policies.spo2.delaySeconds).toBe(10);
      expect(bookOf(await f.twin()).settings(DEV).policies.spo2.delaySeconds).toBe(0);
    });

    it('behavior: what is stored is configuration: no ACVPU entry, no reading', async () => {
      const f = await fx.fresh();
      bookOf(f.rows).update(
        DEV,
        { consciousness: 'V', limits: { spo2: { low: 91, high: null } } },
        'nurse.kim',
        T,
      );
      const text = await f.storedText();
      expect(text).toContain('"spo2"');
      expect(text).not.toContain('consciousness');
      expect(text).not.toMatch(/"V"/);
    });
  });
}
