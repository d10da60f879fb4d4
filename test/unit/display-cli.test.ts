/**
 * @module test/unit/display-cli
 * `vitaltrail displays add|list|revoke` (gateway/src/cli/displays.ts) in-process on a real
 * SQLite store in a temp dir: the token and the address to open are printed once and the
 * table keeps only the token's SHA-256; list never shows tokens; revoke is idempotent and
 * refuses an unknown id; bad names and a directory without a gateway store are refused;
 * enrolments and revocations are in the audit log as `cli:<os user>`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cliActor, registerDisplaysCommands } from '../../gateway/src/cli/displays.js';
import { DisplayRegistry } from '../../gateway/src/io/identity/displays.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Runs `vitaltrail <args>` on a program holding only the displays commands; returns stdout. */
async function run(...args: string[]): Promise<string> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerDisplaysCommands(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'vitaltrail', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** Reads the table as the gateway does. */
function registry<T>(dir: string, fn: (r: DisplayRegistry, raw: Record<string, unknown>[]) => T): T {
  const store = openStore(dataPaths(dir).db);
  try {
    return fn(
      new DisplayRegistry(store),
      store.db.prepare('SELECT * FROM displays').all() as Record<string, unknown>[],
    );
  } finally {
    store.close();
  }
}

describe('vitaltrail displays', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let data: string[];

  beforeEach(() => {
    tmp = makeTempDir('vt-displays-');
    openStore(dataPaths(tmp.dir).db).close(); // a data dir the gateway ran on
    data = ['--data', tmp.dir];
  });
  afterEach(() => tmp.cleanup());

  it('behavior: add prints the id, the address to open and the token once; the table keeps only its hash', async () => {
    const out = await run('displays', 'add', 'Station 7B', '--url', 'https://ward7b.example:8443/', ...data);
    const m =
      /^enrolled display ([0-9a-f]{12}) "Station 7B"\n.*\n {2}(\S+)\ntoken: (\S+)\nrevoke with: vitaltrail displays revoke \1\n$/.exec(
        out,
      );
    expect(m, out).not.toBeNull();
    const [, id, url, token] = m as unknown as [string, string, string, string];
    expect(url).toBe(`https://ward7b.example:8443/#display=${token}`);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    registry(tmp.dir, (r, raw) => {
      expect(r.byToken(token)).toMatchObject({
        id,
        name: 'Station 7B',
        createdBy: cliActor(),
        revokedAt: null,
      });
      expect(raw).toHaveLength(1);
      expect(raw[0]?.token_sha256).toEqual(createHash('sha256').update(token).digest());
      expect(JSON.stringify(Object.values(raw[0] ?? {}))).not.toContain(token);
    });

    const json = JSON.parse(await run('displays', 'add', 'Hall · 2', '--json', ...data)) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({ name: 'Hall · 2', path: `/#display=${json.token}`, revokedAt: null });
  });

  it('behavior: list shows every display and never a token; revoke is idempotent', async () => {
    const first = JSON.parse(await run('displays', 'add', 'Station 7B', '--json', ...data)) as {
      id: string;
      token: string;
    };
    await run('displays', 'add', 'Corridor', ...data);

    const rows = JSON.parse(await run('displays', 'list', '--json', ...data)) as Record<string, unknown>[];
    expect(rows.map((r) => [r.name, r.revokedAt])).toEqual([
      ['Station 7B', null],
      ['Corridor', null],
    ]);
    expect(rows.every((r) => !('token' in r))).toBe(true);
    const table = await run('displays', 'list', ...data);
    expect(table).toMatch(new RegExp(`${first.id}\\s+Station 7B\\s+active`));
    expect(table).toContain('2 display(s)');
    expect(table).not.toContain(first.token);

    expect(await run('displays', 'revoke', first.id, ...data)).toBe(
      `revoked display ${first.id} "Station 7B"\n`,
    );
    expect(await run('displays', 'revoke', first.id, ...data)).toMatch(/was already revoked/);
    registry(tmp.dir, (r) => {
      expect(r.byToken(first.token)).toBeUndefined();
      expect(r.get(first.id)).toMatchObject({ revokedBy: cliActor(), revokedAt: expect.any(Number) });
    });
    expect(await run('displays', 'list', ...data)).toMatch(
      new RegExp(`${first.id}\\s+Station 7B\\s+revoked`),
    );

    const audit = readFileSync(join(tmp.dir, 'gateway', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.map((l) => [l.event, l.user, String(l.detail).split(' ')[1]])).toEqual([
      ['display_enrolled', cliActor(), first.id],
      ['display_enrolled', cliActor(), expect.stringMatching(/^[0-9a-f]{12}$/)],
      ['display_revoked', cliActor(), first.id],
    ]);
    expect(JSON.stringify(audit)).not.toContain(first.token);
  });

  it('error: an unknown id, a bad name and a directory without a gateway store are refused', async () => {
    await expect(run('displays', 'revoke', '000000000000', ...data)).rejects.toMatchObject({
      code: 'bad_usage',
    });
    for (const name of ['', ' Station', 'a\tb', '<b>', 'x'.repeat(65)]) {
      await expect(run('displays', 'add', name, ...data)).rejects.toMatchObject({
        code: 'commander.invalidArgument',
      });
    }
    await expect(run('displays', 'add', 'Station', '--url', 'ftp://x', ...data)).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
    registry(tmp.dir, (r) => expect(r.list()).toEqual([]));
    const empty = makeTempDir('vt-displays-empty-');
    try {
      await expect(run('displays', 'list', '--data', empty.dir)).rejects.toMatchObject({
        code: 'data_dir_missing',
      });
    } finally {
      empty.cleanup();
    }
  });
});
