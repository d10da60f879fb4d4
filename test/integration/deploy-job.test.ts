/**
 * The one-shot deployment job of docker-compose.yml (`vitaltrail chain deploy`, io/deploy-job)
 * against a real dev chain (anvil): deploys and registers once, then reuses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AnvilHandle, fundAccount, startAnvil } from '../../anchor/src/ledger/anvil.js';
import type { Deployment } from '../../anchor/src/ledger/types.js';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
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

  test('behavior: a deployment made before issue 18 (no consent contract) gets one; the registry and anchors are kept', async () => {
    const out = join(tmp.dir, 'deployment.json');
    const {
      consent: _c,
      consentDeployBlock: _b,
      ...before18
    } = JSON.parse(readFileSync(out, 'utf8')) as Deployment;
    writeFileSync(out, `${JSON.stringify(before18, null, 2)}\n`);
    const r = await runDeployJob({ rpcUrl: anvil.rpcUrl, deployerKey: kgc, out, gateways });
    expect(r.deployed).toBe(false);
    expect(r.deployment).toMatchObject({ registry: before18.registry, anchors: before18.anchors });
    expect(r.deployment.consent).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(JSON.parse(readFileSync(out, 'utf8')).consent).toBe(r.deployment.consent);
    // Kept from now on.
    expect(
      (await runDeployJob({ rpcUrl: anvil.rpcUrl, deployerKey: kgc, out, gateways })).deployment,
    ).toEqual(r.deployment);
  });
});
