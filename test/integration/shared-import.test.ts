/**
 * @module test/integration/shared-import
 * `vitaltrail shared import` (cli/shared-import, issue 16): a lone gateway's data directory
 * joins a group. On a real data directory (KGC, recipient key, enrolled devices, users file,
 * SQLite admissions and settings) and a real PostgreSQL already holding some of the group's
 * state:
 * - accounts are copied with their password hashes (the nurse signs in to the group with the
 *   password she had), role and flags; a name the group has already keeps the group's account;
 * - each admitted device's whole history is copied (same patient, bed, times), an open
 *   admission stays open; a device the group admitted already is left alone; a history the
 *   group's rules refuse now (the bed is taken) is reported `bed_occupied` and the command
 *   says so (exit code 1 from the CLI);
 * - per-patient settings are copied where the group has none;
 * - every copied item is audited in the data directory's audit log;
 * - `--dry-run` copies nothing; a second run copies nothing twice; a running gateway's data
 *   directory is refused (`data_dir_in_use`);
 * - the CLI (the built one: `npm run build`) prints the report and fails without a group.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySource } from '../../gateway/src/cli/gateway-config.js';
import { importIntoGroup } from '../../gateway/src/cli/shared-import.js';
import { AlarmStore } from '../../gateway/src/io/clinical/alarm-store.js';
import { UserFile } from '../../gateway/src/io/identity/index.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { lockDataDir } from '../../gateway/src/io/ops/index.js';
import { PgBindings, PgPatientSettings, PgUserDirectory } from '../../gateway/src/io/shared/index.js';
import {
  Bindings,
  loadRecipientSecrets,
  openStore,
  watchRecipients,
} from '../../gateway/src/io/store/index.js';
import { runCli } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { makeTempDir } from '../helpers/tmp.js';

const T = Date.UTC(2026, 10, 20, 8, 0, 0);
const H = 3_600_000;
const PW = 'ward-3b-night-shift-1';

const { server } = usePostgres();
const tmp = makeTempDir('vt-shared-import-');
afterAll(() => tmp.cleanup());

describe('vitaltrail shared import: a lone gateway joins a group', () => {
  let paths: DataPaths;
  let url: string;
  let source: GatewaySource;
  let cfgFile: string;
  const pg = () => ({ url, password: server().password });

  beforeAll(async () => {
    paths = await prepareDataDir(join(tmp.dir, 'lone'), ['wr-0001', 'wr-0002', 'wr-0003', 'wr-0004']);
    const users = new UserFile(paths.users);
    await users.add('dana', 'charge_nurse', PW);
    await users.add('eli', 'nurse', 'eli-original-pass-1', { mustChange: true });
    await users.add('fay', 'nurse', 'fay-original-pass-1');
    await users.disable('fay');
    const store = openStore(paths.db);
    try {
      const local = new Bindings(store);
      await local.admit('wr-0001', 'P-1001', 'Bed 1', T);
      await local.discharge('wr-0001', T + H);
      await local.admit('wr-0001', 'P-1002', 'Bed 1', T + 2 * H);
      await local.admit('wr-0002', 'P-2001', 'Bed 2', T);
      await local.admit('wr-0003', 'P-3001', 'Bed 3', T);
      await local.admit('wr-0004', 'P-4001', 'Bed 7', T);
      const alarms = new AlarmStore(store);
      alarms.putSettingsJson('wr-0001', '{"spo2Scale":2}', 'dana', T + 10);
      alarms.putSettingsJson('wr-0002', '{"oxygen":true}', 'dana', T + 20);
    } finally {
      store.close();
    }

    // The group has: eli (an admin there), wr-0003 admitted elsewhere, another device in
    // Bed 7, and settings for wr-0002.
    url = await server().createDatabase();
    const users2 = await PgUserDirectory.open(pg());
    const secrets = loadRecipientSecrets(paths.recipientsDir);
    const book = await PgBindings.open({
      ...pg(),
      recipients: watchRecipients(paths.recipientsDir),
      secrets,
    });
    const settings = await PgPatientSettings.open({ ...pg(), gatewayId: 'gw-a' });
    try {
      await users2.add('eli', 'admin', 'group-eli-password-1');
      await book.admit('wr-0003', 'P-9003', 'Bed 30', T - H);
      await book.admit('wr-0009', 'P-9009', 'Bed 7', T - H);
      settings.putSettingsJson('wr-0002', '{"oxygen":false}', 'gina', T - 5);
      await settings.flush();
    } finally {
      await settings.close();
      await book.close();
      await users2.close();
    }
    const pwFile = join(tmp.dir, 'pg-password');
    writeFileSync(pwFile, `${server().password}\n`, { mode: 0o600 });
    cfgFile = join(tmp.dir, 'lone.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        dataDir: paths.root,
        gatewayId: 'gw-c',
        shared: { postgres: { url, passwordFile: pwFile } },
      }),
    );
    source = { dataDir: paths.root, gatewayId: 'gw-c', postgres: pg() };
  }, 60_000);

  it('behavior: --dry-run reports and copies nothing; a running gateway is refused', async () => {
    const dry = await importIntoGroup(source, true);
    expect(dry.users.copied).toEqual(['dana', 'fay']);
    expect(dry.admissions.copied).toEqual(['wr-0001 (2)', 'wr-0002 (1)', 'wr-0004 (1)']);
    expect(dry.settings.copied).toEqual(['wr-0001']);
    const users = await PgUserDirectory.open(pg());
    try {
      expect(users.list().map((u) => u.username)).toEqual(['eli']);
    } finally {
      await users.close();
    }
    const lock = lockDataDir(paths.gatewayDir);
    try {
      await expect(importIntoGroup(source)).rejects.toMatchObject({ code: 'data_dir_in_use' });
    } finally {
      lock.release();
    }
  });

  it('behavior: copies accounts, admission histories and settings the group lacks, keeps what it has, audits each', async () => {
    const r = await importIntoGroup(source);
    expect(r.users).toEqual({ copied: ['dana', 'fay'], present: ['eli'], refused: [] });
    expect(r.admissions).toEqual({
      copied: ['wr-0001 (2)', 'wr-0002 (1)'],
      present: ['wr-0003'],
      refused: ['wr-0004: bed_occupied'],
    });
    expect(r.settings).toEqual({ copied: ['wr-0001'], present: ['wr-0002'], refused: [] });

    const users = await PgUserDirectory.open(pg());
    const secrets = loadRecipientSecrets(paths.recipientsDir);
    const book = await PgBindings.open({
      ...pg(),
      recipients: watchRecipients(paths.recipientsDir),
      secrets,
    });
    const settings = await PgPatientSettings.open({ ...pg(), gatewayId: 'gw-a' });
    try {
      // Dana signs in to the group with the password she had; Fay stays disabled; Eli is the group's.
      expect((await users.authenticate('dana', PW))?.role).toBe('charge_nurse');
      expect(users.find('fay')?.disabled).toBe(true);
      expect(users.get('fay')).toBeUndefined();
      expect(users.find('eli')?.role).toBe('admin');
      expect(await users.authenticate('eli', 'eli-original-pass-1')).toBeNull();
      // The histories as they were, open admissions open.
      expect(await book.history('wr-0001')).toEqual([
        { patientId: 'P-1001', bed: 'Bed 1', from: T, to: T + H },
        { patientId: 'P-1002', bed: 'Bed 1', from: T + 2 * H, to: null },
      ]);
      expect(await book.history('wr-0002')).toEqual([
        { patientId: 'P-2001', bed: 'Bed 2', from: T, to: null },
      ]);
      expect(await book.history('wr-0003')).toEqual([
        { patientId: 'P-9003', bed: 'Bed 30', from: T - H, to: null },
      ]);
      expect(await book.history('wr-0004')).toEqual([]);
      expect(settings.settingsJson('wr-0001')).toBe('{"spo2Scale":2}');
      expect(settings.settingsJson('wr-0002')).toBe('{"oxygen":false}');
    } finally {
      await settings.close();
      await book.close();
      await users.close();
    }

    const lines = readFileSync(join(paths.gatewayDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; dev?: string; detail?: string; user?: string })
      .filter((l) => l.detail?.endsWith('imported into the group'));
    expect(lines.map((l) => [l.event, l.dev ?? l.detail])).toEqual([
      ['user_added', 'user dana imported into the group'],
      ['user_added', 'user fay imported into the group'],
      ['admission', 'wr-0001'],
      ['discharge', 'wr-0001'],
      ['admission', 'wr-0001'],
      ['admission', 'wr-0002'],
      ['patient_settings', 'wr-0001'],
    ]);
    for (const l of lines) expect(l.user).toMatch(/^cli(:|$)/);
  });

  it('behavior: run again, nothing is copied twice; the CLI prints it and exits 1 for the refusal', async () => {
    const again = await importIntoGroup(source);
    expect(again.users.copied).toEqual([]);
    expect(again.admissions.copied).toEqual([]);
    expect(again.settings.copied).toEqual([]);
    expect(again.admissions.present).toEqual(['wr-0001', 'wr-0002', 'wr-0003']);

    const cli = await runCli(['shared', 'import', '--config', cfgFile]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('accounts: copied 0; already in the group 3 (dana, eli, fay)');
    expect(cli.stdout).toContain('admissions: copied 0; already in the group 3');
    expect(cli.stdout).toContain('refused 1 (wr-0004: bed_occupied)');
  });

  it('error: a config file without shared.postgres is refused (exit 2), nothing read', async () => {
    const lone = join(tmp.dir, 'no-group.json');
    writeFileSync(lone, JSON.stringify({ dataDir: paths.root, gatewayId: 'gw-c' }));
    const r = await runCli(['shared', 'import', '--config', lone]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: the config file names no shared\.postgres/);
  });
});
