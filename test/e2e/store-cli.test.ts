/**
 * `vitaltrail recipients add|list|rotate`, `export-fhir` and `shred` through the built CLI
 * (run `npm run build` first), on a data dir prepared as the gateway's.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { loadRecipientSecrets } from '../../gateway/src/io/store/recipients.js';
import { runCli } from '../helpers/cli.js';
import { sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('store CLI', () => {
  const tmp = makeTempDir('vt-store-cli-');
  const data = join(tmp.dir, 'data');
  const pubFile = (kind: 'ec' | 'rsa', name: string) => {
    const { publicKey } =
      kind === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 3072 });
    const f = join(tmp.dir, name);
    writeFileSync(f, publicKey.export({ type: 'spki', format: 'pem' }));
    return f;
  };

  beforeAll(() => {
    // A store with one frame, sealed for a local key pair (so export-fhir can open it).
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const dir = dataPaths(data).recipientsDir;
    const rig = sealedRig(data, [{ kid: 'local', publicKey }]);
    const d = rig.device('wr-cli');
    return rig.ingest.submit(d.next({}, { hr: 61, sbp: 118, dbp: 76 }), 'wr-cli').then(() => {
      rig.store.close();
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'local.key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600,
      });
      writeFileSync(join(dir, 'local.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    });
  });

  afterAll(() => tmp.cleanup());

  test('behavior: add, list and rotate recipients; the retired key keeps its private key', async () => {
    const add = await runCli([
      'recipients',
      'add',
      '--kid',
      'archive',
      '--public-key',
      pubFile('rsa', 'a.pem'),
      '--data',
      data,
    ]);
    expect(add.code).toBe(0);
    const rot = await runCli([
      'recipients',
      'rotate',
      '--kid',
      'local',
      '--new-kid',
      'local-2027',
      '--public-key',
      pubFile('ec', 'b.pem'),
      '--data',
      data,
    ]);
    expect(rot.code).toBe(0);
    const list = await runCli(['recipients', 'list', '--json', '--data', data]);
    const rows = JSON.parse(list.stdout) as { kid: string; alg: string; status: string; canOpen: boolean }[];
    expect(rows.map((r) => [r.kid, r.alg, r.status, r.canOpen])).toEqual([
      ['archive', 'RSA-OAEP-256', 'active', false],
      ['local-2027', 'ECDH-ES+A256KW', 'active', false],
      ['local', 'ECDH-ES+A256KW', 'retired', true],
    ]);
    expect(loadRecipientSecrets(dataPaths(data).recipientsDir).map((s) => s.kid)).toEqual(['local']);
  });

  test('error: a reused kid or a weak key exits 2 with a coded message', async () => {
    const reuse = await runCli([
      'recipients',
      'add',
      '--kid',
      'local',
      '--public-key',
      pubFile('ec', 'c.pem'),
      '--data',
      data,
    ]);
    expect(reuse.code).toBe(2);
    expect(reuse.stderr).toMatch(/^error: config_invalid: /m);
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const weak = join(tmp.dir, 'weak.pem');
    writeFileSync(weak, publicKey.export({ type: 'spki', format: 'pem' }));
    const w = await runCli(['recipients', 'add', '--kid', 'weak', '--public-key', weak, '--data', data]);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/^error: config_invalid: /m);
  });

  test('behavior: export-fhir writes a 0600 Bundle opened with the retired key; shred then hides the data', async () => {
    const out = join(tmp.dir, 'fhir.json');
    const r = await runCli(['export-fhir', '--device', 'wr-cli', '--out', out, '--data', data]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote 2 observations/);
    expect(statSync(out).mode & 0o077).toBe(0);
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {
      type: string;
      entry: { resource: { resourceType: string } }[];
    };
    expect(bundle.type).toBe('collection');
    expect(bundle.entry.filter((e) => e.resource.resourceType === 'Provenance')).toHaveLength(2);

    const both = await runCli(['export-fhir', '--out', out, '--data', data]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^error: bad_usage: /m);

    // Retention 0 days with a 1-minute window: the (past) window is shredded.
    await new Promise((res) => setTimeout(res, 10));
    const s = await runCli([
      'shred',
      '--retention-days',
      '0.0000001',
      '--window-minutes',
      '0.001',
      '--data',
      data,
    ]);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/shredded 1 data keys/);
    expect(s.stdout).toMatch(/^deleted 1 ciphertexts; \d+\.\d MiB of the store are free for new frames$/m);
    const after = await runCli(['export-fhir', '--device', 'wr-cli', '--out', out, '--data', data]);
    expect(after.stdout).toMatch(/wrote 0 observations .*1 readings shredded/);
    expect(existsSync(out)).toBe(true);
  });
});
