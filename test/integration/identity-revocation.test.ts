/**
 * @module test/integration/identity-revocation
 * Revocation of a streaming device against a real anvil chain with the registry contract
 * (issue 3; PROTOCOL.md §4): a revocation written only to the chain registry (by the KGC
 * account) is followed by the gateway through `DeviceRevoked` events — the device's open
 * MQTT session is closed, frames signed after it are `revoked_device`, well within 60 s —
 * and `kgc revoke` (revokeEnrolledDevice) writes KGC, CRL, store and chain; the registry
 * then shows the key revoked since a block.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRevokedSerials } from '../../anchor/src/kgc/index.js';
import { ANVIL_DEV_KEY, type AnvilHandle, startAnvil } from '../../anchor/src/ledger/anvil.js';
import { deployContracts } from '../../anchor/src/ledger/deploy.js';
import type { Deployment, RegistryClient } from '../../anchor/src/ledger/types.js';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { enrolDevice, revokeEnrolledDevice } from '../../gateway/src/io/identity/enrol.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
let node: AnvilHandle;
let deployment: Deployment;
let registry: RegistryClient;
let paths: DataPaths;
let gw: RunningGateway;

beforeAll(async () => {
  tmp = makeTempDir('vt-revoke-');
  node = await startAnvil();
  deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY });
  registry = createViemRegistry({ rpcUrl: node.rpcUrl, deployment, privateKey: ANVIL_DEV_KEY });
  paths = await prepareDataDir(join(tmp.dir, 'data'), []);
  const store = openStore(paths.db);
  try {
    for (const dev of ['wr-live', 'wr-cli']) await enrolDevice(paths, store, dev, registry);
  } finally {
    store.close();
  }
  gw = (await startGateway({
    dataDir: paths.root,
    logger: silentLogger,
    ledger: { rpcUrl: node.rpcUrl, deployment, privateKey: generatePrivateKey(), maxBackoffMs: 60_000 },
    checkpointIntervalMs: 3_600_000,
    deviceRefreshMs: 200,
    revocationPollMs: 200,
  })) as RunningGateway;
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await node?.stop();
  tmp.cleanup();
});

describe('revocation of a streaming device', () => {
  it('behavior: a registry-only revocation closes the session within 60 s; later frames are revoked_device', async () => {
    const client = await mqtt.connectAsync(gw.broker.url, {
      clientId: 'wr-live',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    const chain = new FrameChain('wr-live', deviceKey(paths, 'wr-live'));
    let closedAt = 0;
    client.once('close', () => {
      closedAt = Date.now();
    });
    // Stream at 20 Hz until the gateway closes the session.
    let streamed = 0;
    const streaming = (async () => {
      while (closedAt === 0) {
        try {
          await client.publishAsync('vt/v1/dev/wr-live/frames', Buffer.from(chain.next()), { qos: 1 });
          streamed += 1;
        } catch {
          break;
        }
        await sleep(50);
      }
    })();
    while (streamed < 5) await sleep(20);
    expect(gw.store.getFrame('wr-live', 5)).toBeDefined();

    const revokedAt = Date.now();
    await registry.revokeDevice('wr-live'); // on chain only: no KGC file, no store write by us
    while (closedAt === 0 && Date.now() - revokedAt < 60_000) await sleep(25);
    client.end(true); // a publish in flight when the session was cut never settles: do not await the loop
    void streaming;
    expect(closedAt).toBeGreaterThan(0);
    expect(closedAt - revokedAt).toBeLessThan(60_000);

    const r = await gw.ingest.submit(chain.next(), 'wr-live');
    expect(r).toMatchObject({ status: 'rejected', code: 'revoked_device' });
    expect(gw.store.getDevice('wr-live')?.status).toBe('revoked');
    const onChain = await registry.getDevice('wr-live');
    expect(onChain.status).toBe('revoked');
    expect(onChain.sinceBlock).toBeGreaterThan(0);
  }, 70_000);

  it('behavior: revokeEnrolledDevice writes the CRL, the store and the registry', async () => {
    const r = await revokeEnrolledDevice(paths, gw.store, 'wr-cli', registry);
    expect(r.registryTx).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await readRevokedSerials(paths.kgcDir)).has(r.serial)).toBe(true);
    expect(gw.store.getDevice('wr-cli')?.status).toBe('revoked');
    expect((await registry.getDevice('wr-cli')).status).toBe('revoked');
    // Idempotent: the chain is not asked twice.
    expect((await revokeEnrolledDevice(paths, gw.store, 'wr-cli', registry)).registryTx).toBeNull();
  });
});
