/**
 * @module test/e2e/kgc-cli
 * The built `vitaltrail kgc …`, `audit verify` and `devices gaps` commands as an operator
 * runs them (issue 3): enrol, list, revoke, gateway certificate with the chain account,
 * PKCS#12 with a passphrase file, usage errors with exit 2, and the audit log verified
 * intact, then tampered. Needs `npm run build` first (npm test does it).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
let data: string;

beforeAll(() => {
  tmp = makeTempDir('vt-kgc-cli-');
  data = join(tmp.dir, 'data');
});
afterAll(() => tmp.cleanup());

describe('vitaltrail kgc', () => {
  it('behavior: init, enroll, revoke and list; every step in an intact audit log; tampering exits 1', async () => {
    expect((await runCli(['kgc', 'init', '--data', data])).code).toBe(0);
    for (const dev of ['wr-0001', 'wr-0002']) {
      const r = await runCli(['kgc', 'enroll', '--device', dev, '--data', data]);
      expect(r.code, r.stderr).toBe(0);
    }
    const rev = await runCli(['kgc', 'revoke', '--device', 'wr-0001', '--data', data]);
    expect(rev.code, rev.stderr).toBe(0);
    expect(rev.stdout).toMatch(/^revoked wr-0001 \(certificate serial [0-9a-f]+\)/);
    // `kgc crl` signs the CRL again (no revocation needed) into the public crl/ directory.
    const crl = await runCli(['kgc', 'crl', '--data', data]);
    expect(crl.code, crl.stderr).toBe(0);
    expect(crl.stdout).toMatch(/^signed \S+\/kgc\/crl\/crl\.pem \(next update \d{4}-\d\d-\d\dT/);
    expect(statSync(join(data, 'kgc', 'crl', 'crl.pem')).mode & 0o777).toBe(0o644);
    const list = await runCli(['kgc', 'list', '--json', '--data', data]);
    expect(
      (JSON.parse(list.stdout) as { dev: string; status: string }[]).map((r) => [r.dev, r.status]),
    ).toEqual([
      ['wr-0001', 'revoked'],
      ['wr-0002', 'active'],
    ]);
    const gaps = await runCli(['devices', 'gaps', '--device', 'wr-0002', '--json', '--data', data]);
    expect(gaps.stdout.trim()).toBe('[]');

    const ok = await runCli(['audit', 'verify', '--json', '--data', data]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, lines: 4 });
    const log = join(data, 'gateway', 'audit.log');
    const lines = readFileSync(log, 'utf8').split('\n');
    lines[1] = (lines[1] as string).replace('wr-0001', 'wr-0009');
    writeFileSync(log, lines.join('\n'));
    const bad = await runCli(['audit', 'verify', '--data', data]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('line 3: chain_broken');
  }, 60_000);

  it('behavior: gateway-cert carries the account; export-p12 reads the passphrase from a file; bad input exits 2', async () => {
    const account = `0x${'12'.repeat(20)}`;
    const g = await runCli([
      'kgc',
      'gateway-cert',
      '--name',
      'gw1.example',
      '--account',
      account,
      '--data',
      data,
    ]);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toContain(`account: ${account}`);

    const pass = join(tmp.dir, 'pass');
    writeFileSync(pass, 'long enough passphrase\n', { mode: 0o600 });
    const out = join(tmp.dir, 'wr-0002.p12');
    const p12 = await runCli([
      'kgc',
      'export-p12',
      '--device',
      'wr-0002',
      '--out',
      out,
      '--passphrase-file',
      pass,
      '--data',
      data,
    ]);
    expect(p12.code, p12.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(() =>
      createSecureContext({ pfx: readFileSync(out), passphrase: 'long enough passphrase' }),
    ).not.toThrow();

    writeFileSync(pass, 'short\n');
    const short = await runCli([
      'kgc',
      'export-p12',
      '--device',
      'wr-0002',
      '--out',
      out,
      '--passphrase-file',
      pass,
      '--data',
      data,
    ]);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/^error: /);
    const unknown = await runCli(['kgc', 'revoke', '--device', 'never-issued', '--data', data]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error: kgc_unknown_device:');
    const badName = await runCli(['kgc', 'gateway-cert', '--name', 'bad name', '--data', data]);
    expect(badName.code).toBe(2);
  }, 60_000);
});
