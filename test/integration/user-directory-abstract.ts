/**
 * @module test/integration/user-directory-abstract
 * The abstract `UserDirectory` suite (STYLE.md §4, after aedes-persistence `abstract.js`, as
 * ledger-abstract.ts is for ledgers): every account store (io/identity `UserFile`, the
 * embedded default; io/shared `PgUserDirectory`, a gateway group's PostgreSQL) must keep the
 * same rules: records, flags, errors and codes, password checks, and a `signature()` that
 * changes at every write and at no read.
 */
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../gateway/src/core/passwords.js';
import {
  accountStamp,
  type User,
  type UserDirectory,
  UserFileError,
} from '../../gateway/src/io/identity/users.js';
import { expectCode as expectCodeOf, fixturePerTest, rejection } from '../helpers/contract.js';
import { until } from '../helpers/wait.js';

/** A fresh, empty store, and another directory on the same store (another gateway or process). */
export interface UserDirectoryFixture {
  users: UserDirectory;
  twin(): Promise<UserDirectory>;
  /** Closes the directory, its twins and the store. */
  close(): Promise<void>;
}

const PW = 'correct horse battery 1';
const PW2 = 'another staple 22';

const expectCode = (p: Promise<unknown>, code: string): Promise<void> => expectCodeOf(p, UserFileError, code);

/** Registers the suite under `describe(name)`; `open` runs once per test. */
export function describeUserDirectory(name: string, open: () => Promise<UserDirectoryFixture>): void {
  describe(`UserDirectory contract: ${name}`, () => {
    const fx = fixturePerTest(open);
    const fresh = async (): Promise<UserDirectory> => (await fx.fresh()).users;

    it('behavior: an empty store lists nobody and finds nobody', async () => {
      const users = await fresh();
      expect(users.list()).toEqual([]);
      expect(users.find('ana')).toBeUndefined();
      expect(users.get('ana')).toBeUndefined();
      expect(await users.authenticate('ana', PW)).toBeNull();
    });

    it('behavior: add makes a record found by find, get and list (sorted by name), hashed with scrypt', async () => {
      const users = await fresh();
      const before = Date.now();
      await users.add('zoe', 'nurse', PW);
      await users.add('ana', 'charge_nurse', PW2, { mustChange: true });
      await users.add('Bob', 'auditor', PW);
      expect(users.list().map((u) => u.username)).toEqual(['Bob', 'ana', 'zoe']);
      const zoe = users.find('zoe') as User;
      expect(zoe).toEqual({
        username: 'zoe',
        role: 'nurse',
        passwordHash: expect.stringMatching(/^scrypt\$32768\$8\$1\$/),
        createdAt: expect.any(Number),
      });
      expect(zoe.createdAt).toBeGreaterThanOrEqual(before);
      expect(zoe.createdAt).toBeLessThanOrEqual(Date.now());
      expect(await verifyPassword(PW, zoe.passwordHash)).toBe(true);
      expect(users.get('ana')).toMatchObject({ role: 'charge_nurse', mustChangePassword: true });
      expect(users.find('ana')?.disabled).toBeUndefined();
    });

    it('error: add refuses a taken name (user_exists), a bad name or role (TypeError), an empty password (RangeError)', async () => {
      const users = await fresh();
      await users.add('ana', 'nurse', PW);
      await expectCode(users.add('ana', 'admin', PW2), 'user_exists');
      expect(users.find('ana')?.role).toBe('nurse');
      expect(await rejection(users.add('no spaces', 'nurse', PW))).toBeInstanceOf(TypeError);
      expect(await rejection(users.add('x'.repeat(65), 'nurse', PW))).toBeInstanceOf(TypeError);
      expect(await rejection(users.add('kim', 'root' as never, PW))).toBeInstanceOf(TypeError);
      expect(await rejection(users.add('kim', 'nurse', ''))).toBeInstanceOf(RangeError);
      expect(users.list().map((u) => u.username)).toEqual(['ana']);
    });

    it('behavior: a doctor names its clinician id and a patient its pseudonym (subject); the stamp covers it', async () => {
      const users = await fresh();
      const clinician = `0x${'ab'.repeat(32)}`;
      const pseudonym = `0x${'0c'.repeat(32)}`;
      await users.add('dr-a', 'doctor', PW, { subject: clinician });
      await users.add('pat-7', 'patient', PW, { subject: pseudonym, mustChange: true });
      expect(users.find('dr-a')).toMatchObject({ role: 'doctor', subject: clinician });
      expect(users.get('pat-7')).toMatchObject({
        role: 'patient',
        subject: pseudonym,
        mustChangePassword: true,
      });
      const doctor = users.find('dr-a') as User;
      expect(accountStamp(doctor)).not.toBe(accountStamp({ ...doctor, subject: `0x${'cd'.repeat(32)}` }));
      // A nurse's stamp is as it was before subjects existed (sessions of older releases hold).
      await users.add('nia', 'nurse', PW);
      const nia = users.find('nia') as User;
      expect(nia.subject).toBeUndefined();
      expect(accountStamp(nia)).toBe(accountStamp({ role: nia.role, passwordHash: nia.passwordHash }));
    });

    it('behavior: a nurse or charge nurse may name a clinician id (issue 18), read back as stored', async () => {
      const users = await fresh();
      await users.add('nia', 'nurse', PW, { subject: `0x${'ab'.repeat(32)}` });
      await users.add('cn', 'charge_nurse', PW, { subject: `0x${'cd'.repeat(32)}` });
      expect(users.find('nia')?.subject).toBe(`0x${'ab'.repeat(32)}`);
      expect(users.find('cn')?.subject).toBe(`0x${'cd'.repeat(32)}`);
    });

    it('error: a doctor or patient without a well-formed subject, or another role with one, is a TypeError; nothing stored', async () => {
      const users = await fresh();
      expect(await rejection(users.add('dr-b', 'doctor', PW))).toBeInstanceOf(TypeError);
      expect(await rejection(users.add('dr-b', 'doctor', PW, { subject: '0xAB' }))).toBeInstanceOf(TypeError);
      expect(
        await rejection(users.add('pat-8', 'patient', PW, { subject: `0x${'AB'.repeat(32)}` })),
      ).toBeInstanceOf(TypeError);
      expect(
        await rejection(users.add('aud', 'auditor', PW, { subject: `0x${'ab'.repeat(32)}` })),
      ).toBeInstanceOf(TypeError);
      expect(await rejection(users.add('nia', 'nurse', PW, { subject: '0xAB' }))).toBeInstanceOf(TypeError);
      expect(users.list()).toEqual([]);
    });

    it('behavior: two adds of one name at once: one wins, the other is user_exists', async () => {
      const users = await fresh();
      const results = await Promise.allSettled([
        users.add('ana', 'nurse', PW),
        users.add('ana', 'admin', PW2),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(failed.reason).toMatchObject({ name: 'UserFileError', code: 'user_exists' });
      expect(users.list()).toHaveLength(1);
    });

    it('behavior: authenticate returns the user for the right password, null for a wrong one or an unknown name', async () => {
      const users = await fresh();
      await users.add('ana', 'nurse', PW);
      expect(await users.authenticate('ana', PW)).toMatchObject({ username: 'ana', role: 'nurse' });
      expect(await users.authenticate('ana', PW2)).toBeNull();
      expect(await users.authenticate('bob', PW)).toBeNull();
      expect(await users.authenticate('not a name', PW)).toBeNull();
      expect(await users.authenticate(42 as never, PW)).toBeNull();
      expect(await users.authenticate('ana', null as never)).toBeNull();
    });

    it('behavior: disable and enable flip the flag once each (false when already so); get hides a disabled account', async () => {
      const users = await fresh();
      await users.add('ana', 'nurse', PW, { mustChange: true });
      expect(await users.disable('ana')).toBe(true);
      expect(await users.disable('ana')).toBe(false);
      expect(users.get('ana')).toBeUndefined();
      expect(users.find('ana')).toMatchObject({ disabled: true, mustChangePassword: true });
      // A disabled account still authenticates (sign-in then says account_disabled).
      expect(await users.authenticate('ana', PW)).toMatchObject({ disabled: true });
      expect(await users.enable('ana')).toBe(true);
      expect(await users.enable('ana')).toBe(false);
      expect(users.get('ana')).toMatchObject({ username: 'ana', mustChangePassword: true });
      expect(users.get('ana')?.disabled).toBeUndefined();
    });

    it('error: disable, enable, remove and setPassword of an unknown name are user_not_found', async () => {
      const users = await fresh();
      await users.add('ana', 'nurse', PW);
      await expectCode(users.disable('bob'), 'user_not_found');
      await expectCode(users.enable('bob'), 'user_not_found');
      await expectCode(users.remove('bob'), 'user_not_found');
      await expectCode(users.setPassword('bob', PW2), 'user_not_found');
      expect(users.list().map((u) => u.username)).toEqual(['ana']);
    });

    it('behavior: remove deletes the account; the name may be added again as a new account', async () => {
      const users = await fresh();
      await users.add('ana', 'nurse', PW);
      await users.add('bob', 'nurse', PW);
      await users.remove('ana');
      expect(users.find('ana')).toBeUndefined();
      expect(await users.authenticate('ana', PW)).toBeNull();
      await expectCode(users.remove('ana'), 'user_not_found');
      await users.add('ana', 'auditor', PW2);
      expect(users.find('ana')?.role).toBe('auditor');
      expect(users.list().map((u) => u.username)).toEqual(['ana', 'bob']);
    });

    it('behavior: setPassword replaces the password, sets or clears must-change, keeps disabled, and changes the stamp', async () => {
      const users = await fresh();
      await users.add('ana', 'nurse', PW);
      const stamp = accountStamp(users.find('ana') as User);
      await users.disable('ana');
      const updated = await users.setPassword('ana', PW2, { mustChange: true });
      expect(updated).toMatchObject({
        username: 'ana',
        role: 'nurse',
        disabled: true,
        mustChangePassword: true,
      });
      expect(users.find('ana')).toEqual(updated);
      expect(accountStamp(updated)).not.toBe(stamp);
      expect(await users.authenticate('ana', PW)).toBeNull();
      expect(await users.authenticate('ana', PW2)).toMatchObject({ username: 'ana' });
      const chosen = await users.setPassword('ana', PW);
      expect(chosen.mustChangePassword).toBeUndefined();
      expect(await rejection(users.setPassword('ana', ''))).toBeInstanceOf(RangeError);
    });

    it('behavior: signature changes at every write, and not at reads or at a write that changes nothing', async () => {
      const users = await fresh();
      const seen = new Set<string>();
      const next = (): string => {
        const s = users.signature();
        expect(seen.has(s), `signature ${s} is new`).toBe(false);
        seen.add(s);
        return s;
      };
      next();
      await users.add('ana', 'nurse', PW);
      let s = next();
      users.list();
      users.find('ana');
      await users.authenticate('ana', PW);
      expect(users.signature()).toBe(s);
      await users.disable('ana');
      s = next();
      expect(await users.disable('ana')).toBe(false);
      expect(users.signature()).toBe(s);
      await users.enable('ana');
      next();
      await users.setPassword('ana', PW2);
      next();
      await users.add('bob', 'nurse', PW);
      next();
      await users.remove('ana');
      next();
    });

    it('behavior: a second directory on the same store sees every change (within 3 s), and its writes are seen back', async () => {
      const users = await fresh();
      const other = await fx.current().twin();
      await users.add('ana', 'nurse', PW);
      await until(() => other.find('ana') !== undefined, 3000, 'the twin sees the new account');
      const s = other.signature();
      await users.disable('ana');
      await until(() => other.get('ana') === undefined, 3000, 'the twin sees the account disabled');
      expect(other.signature()).not.toBe(s);
      await other.setPassword('ana', PW2);
      await until(
        () => users.find('ana')?.passwordHash === other.find('ana')?.passwordHash,
        3000,
        'the first sees the new password',
      );
      expect(await users.authenticate('ana', PW2)).toMatchObject({ disabled: true });
      await other.remove('ana');
      await until(() => users.find('ana') === undefined, 3000, 'the first sees the removal');
    });
  });
}
