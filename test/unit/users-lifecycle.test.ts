/**
 * @module test/unit/users-lifecycle
 * The account lifecycle of the users file (gateway/src/io/identity/users.ts, issue 16):
 * disable, enable, remove and password reset on a real 0600 file in a temp dir; version 1
 * files without the new fields still load; the session store's account sync
 * (gateway/src/io/http/sessions.ts `createAccountSync`) ends exactly the sessions a change
 * no longer allows; `vitaltrail users disable|enable|remove|reset-password` and
 * `add --must-change` in-process (gateway/src/cli/users.ts), each change in the audit log as
 * `cli:<os user>`; `add --role doctor|nurse --clinician` and `--role patient --patient` (issue 18).
 */
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliActor } from '../../gateway/src/cli/displays.js';
import { pseudonymOf } from '../../gateway/src/core/pseudonym.js';
import { createAccountSync, type Session, SessionStore } from '../../gateway/src/io/http/sessions.js';
import { accountStamp, UserFile } from '../../gateway/src/io/identity/users.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { makeTempDir } from '../helpers/tmp.js';
import { runUsersCommand } from '../helpers/users-command.js';

const ROOT = join(import.meta.dirname, '../..');
const PW = 'kim-has-a-long-password-1';
const PW2 = 'a-fresh-password-of-kim-2';

/** The file as stored (not through `list`, which normalises). */
function raw(users: UserFile): Record<string, unknown>[] {
  return (JSON.parse(readFileSync(users.path, 'utf8')) as { users: Record<string, unknown>[] }).users;
}

const run = runUsersCommand;

/** The audit log's events with their `user` and `detail`. */
function auditLines(dir: string): { event: string; user?: string; detail?: string }[] {
  const text = readFileSync(join(dataPaths(dir).gatewayDir, 'audit.log'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; user?: string; detail?: string })
    .map(({ event, user, detail }) => ({ event, user, detail }));
}

describe('UserFile lifecycle', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let users: UserFile;

  beforeEach(async () => {
    tmp = makeTempDir('vt-users-');
    users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add('kim', 'nurse', PW);
    await users.add('lee', 'charge_nurse', PW2);
  });
  afterEach(() => tmp.cleanup());

  it('behavior: a version 1 file without the new fields loads as enabled, no change required', () => {
    const old = new UserFile(join(tmp.dir, 'old.json'));
    copyFileSync(join(ROOT, 'test/fixtures/datadir-v1/gateway/users.json'), old.path);
    const [admin] = old.list();
    expect(admin).toMatchObject({ username: 'admin', role: 'admin' });
    expect(admin?.disabled).toBeUndefined();
    expect(admin?.mustChangePassword).toBeUndefined();
    expect(old.get('admin')).toBeDefined();
  });

  it('behavior: disable keeps the record and its password; get() no longer returns it; enable restores it', async () => {
    const before = users.signature();
    expect(await users.disable('kim')).toBe(true);
    expect(users.signature()).not.toBe(before);
    expect(await users.disable('kim')).toBe(false);
    expect(users.get('kim')).toBeUndefined();
    expect(users.find('kim')).toMatchObject({ username: 'kim', disabled: true });
    expect(raw(users).find((u) => u.username === 'kim')).toMatchObject({ disabled: true });
    // The password still checks out, so sign-in can say account_disabled (only to its holder).
    expect(await users.authenticate('kim', PW)).toMatchObject({ disabled: true });
    expect(statSync(users.path).mode & 0o777).toBe(0o600);
    expect(await users.enable('kim')).toBe(true);
    expect(await users.enable('kim')).toBe(false);
    expect(users.get('kim')?.disabled).toBeUndefined();
    expect(raw(users).find((u) => u.username === 'kim')).not.toHaveProperty('disabled');
    expect(await users.authenticate('kim', PW)).toMatchObject({ username: 'kim' });
  });

  it('behavior: remove deletes the account; the name can be added again as a new account', async () => {
    await users.remove('kim');
    expect(users.find('kim')).toBeUndefined();
    expect(await users.authenticate('kim', PW)).toBeNull();
    expect(users.list().map((u) => u.username)).toEqual(['lee']);
    await users.add('kim', 'auditor', PW2);
    expect(users.get('kim')?.role).toBe('auditor');
  });

  it('behavior: setPassword replaces the hash, sets or clears mustChangePassword and changes the account stamp', async () => {
    const stamp = accountStamp(users.find('kim')!);
    const reset = await users.setPassword('kim', PW2, { mustChange: true });
    expect(reset.mustChangePassword).toBe(true);
    expect(accountStamp(reset)).not.toBe(stamp);
    expect(await users.authenticate('kim', PW)).toBeNull();
    expect(await users.authenticate('kim', PW2)).toMatchObject({ mustChangePassword: true });
    const chosen = await users.setPassword('kim', PW);
    expect(chosen.mustChangePassword).toBeUndefined();
    expect(raw(users).find((u) => u.username === 'kim')).not.toHaveProperty('mustChangePassword');
    // A disabled account stays disabled through a reset.
    await users.disable('lee');
    expect(await users.setPassword('lee', PW, { mustChange: true })).toMatchObject({
      disabled: true,
      mustChangePassword: true,
    });
  });

  it('behavior: add with mustChange stores the flag', async () => {
    await users.add('new.one', 'nurse', PW, { mustChange: true });
    expect(users.get('new.one')?.mustChangePassword).toBe(true);
  });

  it('error: an unknown user is user_not_found for every change; nothing is written', async () => {
    const before = readFileSync(users.path, 'utf8');
    for (const change of [
      () => users.disable('nobody'),
      () => users.enable('nobody'),
      () => users.remove('nobody'),
      () => users.setPassword('nobody', PW),
    ]) {
      await expect(change()).rejects.toMatchObject({ name: 'UserFileError', code: 'user_not_found' });
    }
    expect(readFileSync(users.path, 'utf8')).toBe(before);
  });

  it('error: a flag that is not a boolean is users_corrupt', () => {
    const doc = JSON.parse(readFileSync(users.path, 'utf8')) as { users: Record<string, unknown>[] };
    (doc.users[0] as Record<string, unknown>).disabled = 'yes';
    writeFileSync(users.path, JSON.stringify(doc));
    expect(() => users.list()).toThrow(expect.objectContaining({ code: 'users_corrupt' }));
  });
});

describe('createAccountSync', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let users: UserFile;
  let ended: [string, string][];
  let store: SessionStore;

  beforeEach(async () => {
    tmp = makeTempDir('vt-users-sync-');
    users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add('kim', 'nurse', PW);
    await users.add('lee', 'charge_nurse', PW2);
    ended = [];
    store = new SessionStore(60_000, (s, reason) => ended.push([s.username, reason]));
  });
  afterEach(() => {
    store.endAll('shutdown');
    tmp.cleanup();
  });

  const login = (name: string): Session => store.create(users.find(name)!);

  it('behavior: ends the sessions of a disabled, removed or reset account, and only those', async () => {
    const sync = createAccountSync(store, users, 60_000);
    try {
      const kim = login('kim');
      const lee = login('lee');
      const wall = store.createDisplay({ id: 'd1', name: 'Wall' });
      expect(sync.check()).toBe(0); // unchanged file: nothing read, nothing ends
      await users.disable('kim');
      expect(sync.check()).toBe(1);
      expect(ended).toEqual([['kim', 'disabled']]); // ended for the group too (io/http/sessions)
      expect(store.get(kim.id, false)).toBeUndefined();
      expect(store.get(lee.id, false)).toBe(lee);
      expect(store.get(wall.id, false)).toBe(wall);

      await users.setPassword('lee', PW, { mustChange: true });
      expect(sync.check()).toBe(1);
      expect(store.get(lee.id, false)).toBeUndefined();

      await users.enable('kim');
      const again = login('kim');
      expect(again.mustChangePassword).toBe(false);
      await users.remove('kim');
      expect(sync.check()).toBe(1);
      expect(store.get(again.id, false)).toBeUndefined();
      expect(store.get(wall.id, false)).toBe(wall);
    } finally {
      sync.stop();
    }
  });

  it('behavior: a change that leaves the account as it was (another user added) ends nothing', async () => {
    const sync = createAccountSync(store, users, 60_000);
    try {
      const kim = login('kim');
      await users.add('someone', 'auditor', PW);
      expect(sync.check()).toBe(0);
      expect(store.get(kim.id, false)).toBe(kim);
    } finally {
      sync.stop();
    }
  });

  it('behavior: a users file that does not parse ends nothing until it parses again', async () => {
    const sync = createAccountSync(store, users, 60_000);
    try {
      const kim = login('kim');
      const good = readFileSync(users.path, 'utf8');
      writeFileSync(users.path, '{"version":1,"users":[{"username"');
      expect(sync.check()).toBe(0);
      expect(store.get(kim.id, false)).toBe(kim);
      writeFileSync(users.path, good);
      await users.disable('kim');
      expect(sync.check()).toBe(1);
    } finally {
      sync.stop();
    }
  });
});

describe('vitaltrail users disable|enable|remove|reset-password', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let data: string[];
  let users: UserFile;
  let pwFile: string;

  beforeEach(async () => {
    tmp = makeTempDir('vt-users-cli-');
    mkdirSync(dataPaths(tmp.dir).gatewayDir, { recursive: true });
    data = ['--data', tmp.dir];
    users = new UserFile(dataPaths(tmp.dir).users);
    pwFile = join(tmp.dir, 'pw.txt');
    writeFileSync(pwFile, `${PW}\n`, { mode: 0o600 });
  });
  afterEach(() => tmp.cleanup());

  it('behavior: add makes the user choose a new password unless --no-must-change', async () => {
    expect(
      await run('users', 'add', '--username', 'kim', '--role', 'nurse', '--password-file', pwFile, ...data),
    ).toBe('added kim (nurse)\n');
    expect(users.get('kim')?.mustChangePassword).toBe(true);
    await run(
      'users',
      'add',
      '--username',
      'lee',
      '--role',
      'nurse',
      '--password-file',
      pwFile,
      '--no-must-change',
      ...data,
    );
    expect(users.get('lee')?.mustChangePassword).toBeUndefined();
    const list = JSON.parse(await run('users', 'list', '--json', ...data)) as {
      username: string;
      status: string;
    }[];
    expect(list.map((r) => [r.username, r.status])).toEqual([
      ['kim', 'must-change'],
      ['lee', 'active'],
    ]);
  });

  it("behavior: a doctor is added with its clinician id, a patient with the pseudonym of its id (never the id); each role's option only", async () => {
    const clinician = `0x${'AB'.repeat(32)}`;
    const add = (...args: string[]) => run('users', 'add', '--password-file', pwFile, ...args, ...data);
    await add('--username', 'dr-a', '--role', 'doctor', '--clinician', clinician);
    expect(users.get('dr-a')).toMatchObject({ role: 'doctor', subject: clinician.toLowerCase() });
    await add('--username', 'pat-7', '--role', 'patient', '--patient', 'P-0007');
    const keyFile = dataPaths(tmp.dir).pseudonymKey;
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = Uint8Array.from(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex'));
    expect(users.get('pat-7')).toMatchObject({ role: 'patient', subject: pseudonymOf(key, 'P-0007') });
    expect(readFileSync(users.path, 'utf8')).not.toContain('P-0007');
    // The same patient again (another account, e.g. a legal proxy): the same pseudonym, same key.
    await add('--username', 'proxy-7', '--role', 'patient', '--patient', 'P-0007');
    expect(users.get('proxy-7')?.subject).toBe(users.get('pat-7')?.subject);

    for (const args of [
      ['--username', 'dr-b', '--role', 'doctor'],
      ['--username', 'dr-b', '--role', 'doctor', '--clinician', '0x12'],
      ['--username', 'pat-8', '--role', 'patient'],
      ['--username', 'pat-8', '--role', 'patient', '--patient', 'bad id!'],
      ['--username', 'nia', '--role', 'nurse', '--patient', 'P-0007'],
      ['--username', 'aud', '--role', 'auditor', '--clinician', clinician],
      ['--username', 'nia', '--role', 'nurse', '--clinician', '0x12'],
    ])
      await expect(add(...args)).rejects.toThrow(/--clinician|--patient/);
    // A nurse may name her clinician id (issue 18: a suspension on the chain then bars her).
    await add('--username', 'nia', '--role', 'nurse', '--clinician', clinician);
    expect(users.get('nia')).toMatchObject({ role: 'nurse', subject: clinician.toLowerCase() });
    expect(users.list().map((u) => u.username)).toEqual(['dr-a', 'nia', 'pat-7', 'proxy-7']);
  });

  it('behavior: each command changes the file and appends its audit line as cli:<os user>', async () => {
    await run(
      'users',
      'add',
      '--username',
      'kim',
      '--role',
      'nurse',
      '--password-file',
      pwFile,
      '--no-must-change',
      ...data,
    );
    expect(await run('users', 'disable', '--username', 'kim', ...data)).toBe('disabled kim\n');
    expect(users.find('kim')?.disabled).toBe(true);
    expect(await run('users', 'list', ...data)).toMatch(/kim\s+nurse\s+\d{4}-\S+\s+disabled\n/);
    expect(await run('users', 'enable', '--username', 'kim', ...data)).toBe('enabled kim\n');
    expect(users.get('kim')).toBeDefined();
    writeFileSync(pwFile, `${PW2}\n`);
    await run('users', 'reset-password', '--username', 'kim', '--password-file', pwFile, ...data);
    expect(await users.authenticate('kim', PW2)).toMatchObject({ mustChangePassword: true });
    expect(await run('users', 'remove', '--username', 'kim', ...data)).toBe('removed kim\n');
    expect(users.find('kim')).toBeUndefined();
    const actor = cliActor();
    expect(auditLines(tmp.dir)).toEqual(
      ['user_added', 'user_disabled', 'user_enabled', 'password_reset', 'user_removed'].map((event) => ({
        event,
        user: actor,
        detail: 'user kim',
      })),
    );
    expect(readFileSync(join(dataPaths(tmp.dir).gatewayDir, 'audit.log'), 'utf8')).not.toContain(PW2);
  });

  it('error: reset-password with a weak password is password_weak, an unknown user user_not_found; nothing changes', async () => {
    await run(
      'users',
      'add',
      '--username',
      'kim',
      '--role',
      'nurse',
      '--password-file',
      pwFile,
      '--no-must-change',
      ...data,
    );
    const before = readFileSync(users.path, 'utf8');
    writeFileSync(pwFile, 'short\n');
    await expect(
      run('users', 'reset-password', '--username', 'kim', '--password-file', pwFile, ...data),
    ).rejects.toMatchObject({
      code: 'password_weak',
    });
    await expect(
      run('users', 'reset-password', '--username', 'nobody', '--password-file', pwFile, ...data),
    ).rejects.toMatchObject({
      code: 'user_not_found',
    });
    await expect(run('users', 'disable', '--username', 'nobody', ...data)).rejects.toMatchObject({
      code: 'user_not_found',
    });
    expect(readFileSync(users.path, 'utf8')).toBe(before);
  });
});
