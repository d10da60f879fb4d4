/**
 * @module test/e2e/chain-deploy-access
 * `vitaltrail chain deploy --access ID=KEYFILE` (issue 18): on an external chain (a real anvil
 * node, as a consortium chain), the deploy job registers each gateway's access-log account for
 * its access logId beside its readings' account, so the access log's checkpoints are anchored
 * there; a second run registers nothing new; an `--access` naming no `--gateway` exits 2 before
 * any write. The built CLI; needs the build.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AnvilHandle, fundAccount, startAnvil } from '../../anchor/src/ledger/anvil.js';
import type { Deployment } from '../../anchor/src/ledger/types.js';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { accountOf, ensureAccountKey } from '../../gateway/src/io/anchoring/chain.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('vitaltrail chain deploy --access: the access log’s account registered', () => {
  const tmp = makeTempDir('vt-deploy-access-');
  let anvil: AnvilHandle;
  const file = (name: string) => join(tmp.dir, name);

  beforeAll(async () => {
    anvil = await startAnvil({});
    for (const name of ['kgc.key', 'gw.key', 'gw-access.key'])
      await fundAccount(anvil.rpcUrl, accountOf(ensureAccountKey(file(name))));
  }, 60_000);

  afterAll(async () => {
    await anvil?.stop();
    tmp.cleanup();
  });

  const deploy = (...extra: string[]) =>
    runCli([
      'chain',
      'deploy',
      '--rpc',
      anvil.rpcUrl,
      '--key-file',
      file('kgc.key'),
      '--out',
      file('deployment.json'),
      '--gateway',
      `gw-1=${file('gw.key')}`,
      ...extra,
    ]);

  test('behavior: both accounts of gw-1 registered for their logIds; again: none new; a stray --access exits 2', async () => {
    const stray = await deploy('--access', `gw-9=${file('gw-access.key')}`);
    expect([stray.code, stray.stderr]).toEqual([
      2,
      expect.stringContaining('--access names no --gateway: gw-9'),
    ]);

    const first = await deploy('--access', `gw-1=${file('gw-access.key')}`);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('registered gateways: gw-1');
    expect(first.stdout).toContain('registered access logs: gw-1');
    const deployment = JSON.parse(readFileSync(file('deployment.json'), 'utf8')) as Deployment;
    const registry = createViemRegistry({
      rpcUrl: anvil.rpcUrl,
      deployment,
      privateKey: ensureAccountKey(file('kgc.key')),
    });
    const access = accountOf(ensureAccountKey(file('gw-access.key')));
    const readings = accountOf(ensureAccountKey(file('gw.key')));
    expect(await registry.isActiveGateway(access, logIdOf(accessLogOrigin('gw-1')))).toBe(true);
    expect(await registry.isActiveGateway(readings, logIdOf(checkpointOrigin('gw-1')))).toBe(true);
    // The access account anchors the access log only, not the readings' log.
    expect(await registry.isActiveGateway(access, logIdOf(checkpointOrigin('gw-1')))).toBe(false);

    const again = await deploy('--access', `gw-1=${file('gw-access.key')}`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('registered access logs: none new');
  }, 120_000);
});
