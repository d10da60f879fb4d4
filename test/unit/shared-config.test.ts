/**
 * @module test/unit/shared-config
 * `shared.postgres.*` (issue 16, the state a gateway group shares): the URL may name the user
 * but never a password (`config_invalid`, the value never echoed), the password comes from a
 * 0600 file, both reach `GatewayOptions.shared`, and io/shared's pool settings are taken from
 * the URL alone (no password of the URL or of PG* variables sneaks in).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  gatewayOptionsFromConfig,
  sharedOptionsFromConfig,
  validateConfig,
} from '../../gateway/src/app/config.js';
import { poolConfig } from '../../gateway/src/io/shared/index.js';
import { problemsOf } from '../helpers/config-problems.js';
import { makeTempDir } from '../helpers/tmp.js';

const withUrl = (url: string, passwordFile?: string) => ({
  dataDir: '/d',
  shared: { postgres: { url, ...(passwordFile ? { passwordFile } : {}) } },
});

describe('shared.postgres config', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  test('behavior: a URL naming the user (and sslmode) is taken; the password comes from its 0600 file', () => {
    const pw = join(tmp.dir, 'pg-pw');
    writeFileSync(pw, 's3cret-of-the-db\n', { mode: 0o600 });
    for (const url of [
      'postgres://vitaltrail@db:5432/vitaltrail',
      'postgresql://db/vitaltrail?sslmode=verify-full',
      'postgres://vt@[::1]:5433/vt',
    ]) {
      const cfg = validateConfig(withUrl(url, pw), {}, '/');
      expect(gatewayOptionsFromConfig(cfg).shared).toEqual({
        postgres: { url, password: 's3cret-of-the-db', queryTimeoutMs: 10_000 },
      });
    }
    const noPw = validateConfig(withUrl('postgres://vitaltrail@db/vitaltrail'), {}, '/');
    expect(sharedOptionsFromConfig(noPw)).toEqual({
      postgres: { url: 'postgres://vitaltrail@db/vitaltrail', queryTimeoutMs: 10_000 },
    });
    // shared.postgres.queryTimeoutSeconds: the bound on one statement (io/shared), 10 s unless set.
    const slow = validateConfig(
      withUrl('postgres://vitaltrail@db/vitaltrail'),
      { VITALTRAIL_SHARED__POSTGRES__QUERY_TIMEOUT_SECONDS: '2.5' },
      '/',
    );
    expect(sharedOptionsFromConfig(slow)?.postgres.queryTimeoutMs).toBe(2500);
    expect(gatewayOptionsFromConfig(validateConfig({ dataDir: '/d' }, {}, '/')).shared).toBeUndefined();
  });

  test('error: a password inside the URL is config_invalid, and the problem never shows it', () => {
    const problems = problemsOf(() =>
      validateConfig(withUrl('postgres://vitaltrail:hunter2-secret@db:5432/vitaltrail'), {}, '/'),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^shared\.postgres\.url: must be a postgres:\/\/user@host/);
    expect(problems.join(' ')).not.toContain('hunter2');
    // The environment is checked the same way, and named.
    const env = problemsOf(() =>
      validateConfig(
        { dataDir: '/d' },
        { VITALTRAIL_SHARED__POSTGRES__URL: 'postgres://u:hunter2-secret@db/x' },
        '/',
      ),
    );
    expect(env[0]).toContain('(from VITALTRAIL_SHARED__POSTGRES__URL)');
    expect(env.join(' ')).not.toContain('hunter2');
  });

  test('error: other schemes, other query parameters, a password file without a URL or too open', () => {
    for (const url of [
      'mysql://u@db/x',
      'postgres://u@db/x?sslmode=prefer',
      'postgres://u@db/x?password=p',
    ]) {
      expect(problemsOf(() => validateConfig(withUrl(url), {}, '/'))[0]).toMatch(/^shared\.postgres\.url: /);
    }
    const pw = join(tmp.dir, 'open-pw');
    writeFileSync(pw, 'x\n');
    chmodSync(pw, 0o644);
    expect(
      problemsOf(() =>
        validateConfig({ dataDir: '/d', shared: { postgres: { passwordFile: pw } } }, {}, '/'),
      ),
    ).toEqual(['shared.postgres.url: is required']);
    const cfg = validateConfig(withUrl('postgres://u@db/x', pw), {}, '/');
    expect(problemsOf(() => gatewayOptionsFromConfig(cfg))[0]).toMatch(
      /^shared\.postgres\.passwordFile: .*chmod 600/,
    );
  });

  test('behavior: the pool takes host, port, user and database from the URL, the password only from the file', () => {
    expect(poolConfig({ url: 'postgres://vt%40x@db.example:6543/ward%201', password: 'p' })).toMatchObject({
      host: 'db.example',
      port: 6543,
      user: 'vt@x',
      database: 'ward 1',
      password: 'p',
    });
    const bare = poolConfig({ url: 'postgresql://[::1]/vt?sslmode=verify-full' });
    expect(bare).toMatchObject({ host: '::1', port: 5432, database: 'vt', ssl: true });
    expect(bare).not.toHaveProperty('password');
    expect(() => poolConfig({ url: 'postgres://u:p@db/x' })).toThrow(
      expect.objectContaining({ code: 'shared_unavailable' }),
    );
  });
});
