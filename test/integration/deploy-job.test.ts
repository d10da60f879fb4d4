/**
 * The one-shot deployment job of docker-compose.yml (`vitaltrail chain deploy`, io/deploy-job)
 * against a real dev chain (anvil): deploys and registers once, then reuses.
 */
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AnvilHandle, fundAccount, startAnvil } from '../../anchor/src/ledger/anvil.js';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/io/anchoring/anchoring.js';
import { runDeployJob } from '../../gateway/src/io/anchoring/deploy-job.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('contracts deploy job', () => {
  const tmp = makeTempDir();
  let anvil: AnvilHandle;
  const kgc = generatePrivateKey();
  const gateways = [
    { id: 'gw-1', key: generatePrivateKey() },
    { id: 'gw-2', key: generatePrivateKey() },
  ];

  beforeAll(async () => {
    anvil = await startAnvil();
    await fundAccount(anvil.rpcUrl, privateKeyToAccount(kgc).address);
  });
  afterAll(async () => {
    await anvil?.stop();
    tmp.cleanup();
  });

  test('behavior: deploys and registers once; a second run reuses the deployment and registers nothing', async () => {
    const out = join(tmp.dir, 'deployment.json');
    const first = await runDeployJob({ rpcUrl: anvil.rpcUrl, deployerKey: kgc, out, gateways });
    expect(first.deployed).toBe(true);
    expect(first.registered).toEqual(['gw-1', 'gw-2']);
    const registry = createViemRegistry({
      rpcUrl: anvil.rpcUrl,
      deployment: first.deployment,
      privateKey: kgc,
    });
    for (const g of gateways) {
      const account = privateKeyToAccount(g.key).address;
      expect(await registry.isActiveGateway(account, logIdOf(checkpointOrigin(g.id)))).toBe(true);
    }
    const again = await runDeployJob({ rpcUrl: anvil.rpcUrl, deployerKey: kgc, out, gateways });
    expect(again).toEqual({ deployment: first.deployment, deployed: false, registered: [] });
  });
});
