/**
 * The production-shape commands through the built CLI (`npm run build` first):
 * `config check` (clear errors with code and field path, exit 2; effective settings with
 * their sources), `gateway --config` (refuses an invalid file before starting anything),
 * `config mosquitto` (the generated broker config) and `scaleout count`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('production CLI', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  test('error: config check and gateway --config name every problem with code and path, exit 2', async () => {
    const file = join(tmp.dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ http: { port: 'eighty' }, mqtt: { mode: 'external' } }));
    for (const args of [
      ['config', 'check', file],
      ['gateway', '--config', file],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `error: config_invalid: ${file}: http.port: must be an integer from 0 to 65535; dataDir: is required; mqtt.url: is required`,
      );
    }
  });

  test('behavior: config check prints the effective settings and where each came from', async () => {
    const file = join(tmp.dir, 'ok.json');
    writeFileSync(
      file,
      JSON.stringify({ dataDir: 'data', mqtt: { mode: 'external', url: 'mqtts://broker:8883' } }),
    );
    process.env.VITALTRAIL_HTTP__PORT = '9191';
    try {
      const r = await runCli(['config', 'check', file, '--json']);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.values).toMatchObject({
        dataDir: join(tmp.dir, 'data'),
        'http.port': 9191,
        'mqtt.lanes': 8,
      });
      expect(out.sources).toMatchObject({ dataDir: 'file', 'http.port': 'env', 'mqtt.lanes': 'default' });
    } finally {
      delete process.env.VITALTRAIL_HTTP__PORT;
    }
  });

  test('behavior: config mosquitto writes a config with max_queued_messages 0 and an ACL', async () => {
    const out = join(tmp.dir, 'mosquitto.conf');
    const acl = join(tmp.dir, 'acl');
    const r = await runCli([
      'config',
      'mosquitto',
      '--out',
      out,
      '--acl-out',
      acl,
      '--gateway',
      'gateway:gw-1',
    ]);
    expect(r.code).toBe(0);
    const conf = readFileSync(out, 'utf8');
    expect(conf).toContain('\nmax_queued_messages 0\n');
    expect(conf).toContain('\nrequire_certificate true\n');
    expect(conf).toContain('\nallow_anonymous false\n');
    expect(readFileSync(acl, 'utf8')).toContain('user gateway:gw-1\ntopic read vt/v1/dev/+/frames');
  });

  test('behavior: scaleout count reads several data dirs', async () => {
    const a = join(tmp.dir, 'a');
    await prepareDataDir(a, ['wr-0001']);
    const r = await runCli(['scaleout', 'count', '--data', a, '--data', a, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ distinct: 0, duplicates: 0, conflicts: 0 });
  });
});
