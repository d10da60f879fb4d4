/**
 * @module test/integration/access-cli
 * Issue 18: `vitaltrail export-access`, run in-process through the CLI's `main` (the source,
 * not dist/, so no build is needed): an honest export writes a bundle (0600) that parses and
 * verifies; hostile input is a coded error with exit 2 and nothing written: a bad or reversed
 * `--from`/`--to` (`time_range_invalid`), an unwritable `--out` (`output_path_invalid`), a
 * malformed pseudonym, a missing data directory (`data_dir_missing`).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAccessBundle, verifyAccessBundle } from '../../anchor/src/verify-access/index.js';
import { accessLogOrigin, toHex } from '../../gateway/src/core/log-names.js';
import { AccessLog } from '../../gateway/src/io/access/index.js';
import { loadCheckpointSigner } from '../../gateway/src/io/anchoring/index.js';
import { dataPaths, ensureDir } from '../../gateway/src/io/ops/index.js';
import { openStore } from '../../gateway/src/io/store/index.js';
import { accessEntry, ACCESS_FIXTURE_GATEWAY as GW, PATIENT_A } from '../helpers/access-fixtures.js';
import { runMain as run } from '../helpers/cli-main.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('vitaltrail export-access', () => {
  const tmp = makeTempDir('vt-access-cli-');
  const paths = dataPaths(tmp.dir);
  const anchors: {
    logId: `0x${string}`;
    treeSize: number;
    rootHash: `0x${string}`;
    checkpointTime: number;
    txHash: `0x${string}`;
    blockNumber: number;
  }[] = [];
  let vkey = '';

  beforeAll(() => {
    ensureDir(paths.chainDir);
    writeFileSync(
      paths.deployment,
      JSON.stringify({
        chainId: 31337,
        registry: `0x${'11'.repeat(20)}`,
        anchors: `0x${'22'.repeat(20)}`,
        deployBlock: 0,
      }),
    );
    const signer = loadCheckpointSigner(paths, accessLogOrigin(GW));
    vkey = signer.vkey;
    const store = openStore(paths.db);
    try {
      const log = new AccessLog({ store, gatewayId: GW, signer });
      for (let i = 0; i < 4; i++) log.append(accessEntry({ at: 1000 + i }));
      // Anchored "at" block 7 (the chain is not what this test is about: the anvil test is).
      const c = log.checkpoint(5000)!;
      const txHash = `0x${'ab'.repeat(32)}` as const;
      log.markAnchored(c.treeSize, txHash, 7, 5001);
      anchors.push({
        logId: log.logId,
        treeSize: 4,
        rootHash: toHex(c.root),
        checkpointTime: 5000,
        txHash,
        blockNumber: 7,
      });
      log.append(accessEntry({ at: 6000 })); // not anchored yet
    } finally {
      store.close();
    }
  });
  afterAll(() => tmp.cleanup());

  test('behavior: writes a bundle (0600) of the anchored entries that verifies', async () => {
    const out = join(tmp.dir, 'access.json');
    const r = await run([
      'export-access',
      '--data',
      tmp.dir,
      '--gateway-id',
      GW,
      '--patient-pseudonym',
      PATIENT_A,
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote 4 access entries (0 withheld)');
    expect(r.stdout).toContain('1 newer access entr(ies) are not anchored yet');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const bundle = parseAccessBundle(JSON.parse(readFileSync(out, 'utf8')));
    expect(verifyAccessBundle(bundle, anchors, { vkey }).verdict).toBe('VALID');
  });

  test('error: hostile input is coded, exit 2, and nothing is written', async () => {
    const out = join(tmp.dir, 'never.json');
    const base = ['export-access', '--data', tmp.dir, '--gateway-id', GW];
    const cases: [string[], RegExp][] = [
      [[...base, '--from', 'yesterday', '--out', out], /error: time_range_invalid: /],
      [[...base, '--to', '1.5e3', '--out', out], /error: time_range_invalid: /],
      [
        [...base, '--from', '2000', '--to', '1000', '--out', out],
        /error: time_range_invalid: --from is after --to/,
      ],
      [[...base, '--out', tmp.dir], /error: output_path_invalid: /],
      [[...base, '--out', join(tmp.dir, 'no', 'such', 'dir', 'x.json')], /error: output_path_invalid: /],
      [
        [...base, '--patient-pseudonym', 'PAT-0001', '--out', out],
        /pseudonym is 0x-prefixed hex of 32 bytes/,
      ],
      [['export-access', '--data', join(tmp.dir, 'missing'), '--out', out], /error: data_dir_missing: /],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toContain('    at '); // no stack trace
    }
    expect(existsSync(out)).toBe(false);
  });

  test('error: an output path that is a symlink is refused', async () => {
    const { symlinkSync } = await import('node:fs');
    const dir = join(tmp.dir, 'links');
    mkdirSync(dir);
    symlinkSync(join(dir, 'target.json'), join(dir, 'link.json'));
    const r = await run([
      'export-access',
      '--data',
      tmp.dir,
      '--gateway-id',
      GW,
      '--out',
      join(dir, 'link.json'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: output_path_invalid: /);
    expect(existsSync(join(dir, 'target.json'))).toBe(false);
  });
});
