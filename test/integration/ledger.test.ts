/**
 * @module test/integration/ledger
 * The abstract LedgerClient suite against the memory ledger and the viem ledger on a real anvil
 * with a real deployment; plus the registry client, error wrapping, and anvil persistence
 * (clean stop, SIGKILL, torn state file).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPublicClient, createTestClient, createWalletClient, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_ABI } from '../../anchor/src/contracts/artifacts.js';
import {
  ANVIL_DEV_KEY,
  type AnvilHandle,
  createMemoryLedger,
  createViemLedger,
  createViemRegistry,
  type Deployment,
  deployContracts,
  fetchAnchors,
  fundAccount,
  type Hex,
  isDeployed,
  LedgerError,
  type RegistryClient,
  startAnvil,
} from '../../anchor/src/ledger/index.js';
import { freePort } from '../../anchor/src/ledger/ports.js';
import { restartablePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';
import { freshHash, ledgerContract } from './ledger-abstract.js';

let node: AnvilHandle;
let deployment: Deployment;
let registry: RegistryClient;
const tmp = makeTempDir('vt-ledger-');

beforeAll(async () => {
  node = await startAnvil();
  deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY });
  registry = createViemRegistry({ rpcUrl: node.rpcUrl, deployment, privateKey: ANVIL_DEV_KEY });
});

afterAll(async () => {
  await node?.stop();
  tmp.cleanup();
});

/** A funded gateway account registered for a fresh logId on `rpcUrl`. */
async function newGateway(
  rpcUrl: string,
  reg: RegistryClient,
): Promise<{ privateKey: Hex; address: Hex; logId: Hex }> {
  const privateKey = generatePrivateKey();
  const { address } = privateKeyToAccount(privateKey);
  await fundAccount(rpcUrl, address);
  const logId = freshHash('log');
  await reg.registerGateway(address, logId);
  return { privateKey, address, logId };
}

/**
 * A fresh gateway's client, automining switched off, and its first anchor (tree size 1)
 * waiting in the mempool. The caller switches automining back on.
 */
async function firstAnchorInMempool() {
  const gw = await newGateway(node.rpcUrl, registry);
  const ledger = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gw.privateKey });
  const chain = createTestClient({ mode: 'anvil', transport: http(node.rpcUrl) });
  await chain.setAutomine(false);
  const first = ledger.anchor({ logId: gw.logId, treeSize: 1, rootHash: freshHash('r'), checkpointTime: 1 });
  first.catch(() => {}); // observed by the caller
  while ((await chain.getTxpoolStatus()).pending < 1) await sleep(10);
  return { gw, ledger, chain, first };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LedgerError);
  return (err as LedgerError).code;
}

ledgerContract('memory', async () => {
  const logId = freshHash('log');
  const ledger = createMemoryLedger({
    account: privateKeyToAccount(generatePrivateKey()).address,
    activeLogIds: [logId],
  });
  return { ledger, logId, foreignLogId: freshHash('log') };
});

ledgerContract('viem on anvil', async () => {
  const gw = await newGateway(node.rpcUrl, registry);
  const other = await newGateway(node.rpcUrl, registry); // a log held by someone else
  const ledger = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gw.privateKey });
  expect(ledger.account).toBe(gw.address);
  return { ledger, logId: gw.logId, foreignLogId: other.logId };
});

describe('viem clients', () => {
  it('behavior: the registry client registers, rotates and revokes devices, and reports gateways', async () => {
    const [k1, k2] = [freshHash('spki'), freshHash('spki')];
    expect(await registry.getDevice('ward3-bed7')).toEqual({
      spkiHash: `0x${'0'.repeat(64)}`,
      status: 'none',
      sinceBlock: 0,
    });
    const tx = await registry.registerDevice('ward3-bed7', k1);
    expect(tx).toMatch(/^0x[0-9a-f]{64}$/);
    const a = await registry.getDevice('ward3-bed7');
    expect(a).toMatchObject({ spkiHash: k1, status: 'active' });
    await registry.registerDevice('ward3-bed7', k2);
    const b = await registry.getDevice('ward3-bed7');
    expect(b.spkiHash).toBe(k2);
    expect(b.sinceBlock).toBeGreaterThan(a.sinceBlock);
    await registry.revokeDevice('ward3-bed7');
    expect((await registry.getDevice('ward3-bed7')).status).toBe('revoked');
    expect(await codeOf(registry.registerDevice('ward3-bed7', k2))).toBe('registry_rejected');
    expect(await codeOf(registry.revokeDevice('ward3-bed7'))).toBe('registry_rejected');

    const gw = await newGateway(node.rpcUrl, registry);
    expect(await registry.isActiveGateway(gw.address, gw.logId)).toBe(true);
    await registry.setGatewayActive(gw.address, false);
    expect(await registry.isActiveGateway(gw.address, gw.logId)).toBe(false);
    const ledger = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gw.privateKey });
    expect(
      await codeOf(
        ledger.anchor({ logId: gw.logId, treeSize: 1, rootHash: freshHash('r'), checkpointTime: 1 }),
      ),
    ).toBe('not_active_gateway');
    await registry.setGatewayActive(gw.address, true);
    await ledger.anchor({ logId: gw.logId, treeSize: 1, rootHash: freshHash('r'), checkpointTime: 1 });
  });

  it('error: a registry write from another account is not_kgc; bad arguments throw TypeError', async () => {
    const stranger = generatePrivateKey();
    await fundAccount(node.rpcUrl, privateKeyToAccount(stranger).address);
    const notKgc = createViemRegistry({ rpcUrl: node.rpcUrl, deployment, privateKey: stranger });
    expect(await codeOf(notKgc.registerDevice('dev-x', freshHash('spki')))).toBe('not_kgc');
    await expect(registry.registerDevice('bad id', freshHash('spki'))).rejects.toThrow(/devId/);
    await expect(registry.registerGateway('0x12' as Hex, freshHash('log'))).rejects.toThrow(TypeError);
    await expect(
      registry.setGatewayActive(privateKeyToAccount(stranger).address, 1 as unknown as boolean),
    ).rejects.toThrow(/active/);
    expect(() => createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: '0xabc' as Hex })).toThrow(
      /privateKey/,
    );
  });

  it('error: an anchor that passed its estimate but reverts on chain is still decoded (not_active_gateway)', async () => {
    const reader = createPublicClient({ transport: http(node.rpcUrl) });
    const { gw, chain, first: anchored } = await firstAnchorInMempool();
    try {
      // The KGC deactivates the gateway with a higher tip: anvil orders it first in the block.
      const kgc = createWalletClient({
        account: privateKeyToAccount(ANVIL_DEV_KEY),
        transport: http(node.rpcUrl),
      });
      await kgc.writeContract({
        address: deployment.registry,
        abi: REGISTRY_ABI,
        functionName: 'setGatewayActive',
        args: [gw.address, false],
        chain: null,
        gas: 100_000n,
        maxFeePerGas: 200_000_000_000n,
        maxPriorityFeePerGas: 100_000_000_000n,
      });
      await chain.mine({ blocks: 1 });
      expect(await codeOf(anchored)).toBe('not_active_gateway');
      const block = await reader.getBlock({ includeTransactions: true });
      expect(block.transactions).toHaveLength(2); // the anchor was mined, and reverted
      const anchorTx = block.transactions.find((t) => t.from.toLowerCase() === gw.address.toLowerCase());
      expect((await reader.getTransactionReceipt({ hash: anchorTx!.hash })).status).toBe('reverted');
    } finally {
      await chain.setAutomine(true);
    }
  });

  it('behavior: resync gives up on a transaction in flight at once (ledger_unavailable), and the next anchor goes through', async () => {
    // A node restarted from older state never mines what the old one took: without this the
    // anchor waited out its 60 s receipt timeout (the chain-watchdog e2e test timed out on it).
    const { gw, ledger, chain, first } = await firstAnchorInMempool();
    let mined = false;
    try {
      ledger.resync?.();
      // Rejected before anything is mined (the test's own timeout would end a 60 s wait).
      expect(await codeOf(first)).toBe('ledger_unavailable');
      expect((await chain.getTxpoolStatus()).pending).toBe(1);
      await chain.setAutomine(true);
      await chain.mine({ blocks: 1 }); // the abandoned transaction lands after all
      mined = true;
      const next = await ledger.anchor({
        logId: gw.logId,
        treeSize: 2,
        rootHash: freshHash('r'),
        checkpointTime: 2,
      });
      expect(next.blockNumber).toBeGreaterThan(0);
      expect((await ledger.getAnchors(gw.logId)).map((a) => a.treeSize)).toEqual([1, 2]);
    } finally {
      if (!mined) await chain.setAutomine(true);
    }
  });

  it('behavior: fetchAnchors reads the same records as the gateway client, read-only', async () => {
    const gw = await newGateway(node.rpcUrl, registry);
    const ledger = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gw.privateKey });
    await ledger.anchor({ logId: gw.logId, treeSize: 3, rootHash: freshHash('r'), checkpointTime: 9 });
    await ledger.anchor({ logId: gw.logId, treeSize: 4, rootHash: freshHash('r'), checkpointTime: 10 });
    const fetched = await fetchAnchors({ rpcUrl: node.rpcUrl, deployment, logId: gw.logId });
    expect(fetched).toEqual(await ledger.getAnchors(gw.logId));
    expect(fetched.map((a) => a.treeSize)).toEqual([3, 4]);
  });

  it('error: contract_missing for addresses without code; isDeployed tells a kept deployment from a lost one', async () => {
    const empty = { ...deployment, anchors: privateKeyToAccount(generatePrivateKey()).address };
    const gw = await newGateway(node.rpcUrl, registry);
    const ledger = createViemLedger({ rpcUrl: node.rpcUrl, deployment: empty, privateKey: gw.privateKey });
    const a = { logId: gw.logId, treeSize: 1, rootHash: freshHash('r'), checkpointTime: 1 };
    expect(await codeOf(ledger.anchor(a))).toBe('contract_missing'); // the transfer "succeeds": no event
    expect(await codeOf(ledger.latestAnchor(gw.logId))).toBe('contract_missing');
    expect(await codeOf(fetchAnchors({ rpcUrl: node.rpcUrl, deployment: empty, logId: gw.logId }))).toBe(
      'contract_missing',
    );
    expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment })).toBe(true);
    expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment: empty })).toBe(false);
    expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment: { ...deployment, chainId: 1 } })).toBe(false);
    const wrongChain = createViemLedger({
      rpcUrl: node.rpcUrl,
      deployment: { ...deployment, chainId: 1 },
      privateKey: gw.privateKey,
    });
    expect(await codeOf(wrongChain.latestAnchor(gw.logId))).toBe('contract_missing');
  });

  it('error: ledger_unavailable when the node is down, with neither the URL nor the input in the message', async () => {
    const port = await freePort();
    const down = `http://127.0.0.1:${port}`;
    const logId = freshHash('log');
    const ledger = createViemLedger({ rpcUrl: down, deployment, privateKey: generatePrivateKey() });
    for (const p of [
      ledger.anchor({ logId, treeSize: 1, rootHash: freshHash('r'), checkpointTime: 1 }),
      ledger.latestAnchor(logId),
      ledger.getAnchors(logId),
      fetchAnchors({ rpcUrl: down, deployment, logId }),
    ]) {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LedgerError);
      expect((err as LedgerError).code).toBe('ledger_unavailable');
      expect((err as LedgerError).message).not.toContain(String(port));
      expect((err as LedgerError).message).not.toContain(logId.slice(2, 18));
      expect((err as LedgerError).cause).toBeInstanceOf(Error); // viem's error, kept for debugging
    }
  });
});

describe('anvil persistence', () => {
  /** Deploys, registers one gateway and anchors size 1 on a node with state in `file`. */
  async function setUp(file: string) {
    // Started again on the same port (below): one below the ephemeral range.
    const n = await startAnvil({ stateFile: file, port: await restartablePort() });
    const d = await deployContracts({ rpcUrl: n.rpcUrl, deployerKey: ANVIL_DEV_KEY });
    const reg = createViemRegistry({ rpcUrl: n.rpcUrl, deployment: d, privateKey: ANVIL_DEV_KEY });
    const gw = await newGateway(n.rpcUrl, reg);
    const root = freshHash('root');
    const ledger = createViemLedger({ rpcUrl: n.rpcUrl, deployment: d, privateKey: gw.privateKey });
    await ledger.anchor({ logId: gw.logId, treeSize: 1, rootHash: root, checkpointTime: 1 });
    return { n, d, gw, root };
  }

  it('behavior: a stopped node comes back from its state file with the deployment, anchors and events', async () => {
    const file = join(tmp.dir, 'clean.json');
    const { n, d, gw, root } = await setUp(file);
    expect(n.state).toBe('new');
    await n.stop();
    await n.stop(); // idempotent

    const again = await startAnvil({ stateFile: file, port: n.port });
    try {
      expect(again.state).toBe('loaded');
      expect(await isDeployed({ rpcUrl: again.rpcUrl, deployment: d })).toBe(true);
      const ledger = createViemLedger({ rpcUrl: again.rpcUrl, deployment: d, privateKey: gw.privateKey });
      expect(await ledger.latestAnchor(gw.logId)).toEqual({ treeSize: 1, rootHash: root });
      expect((await ledger.getAnchors(gw.logId)).map((a) => a.rootHash)).toEqual([root]);
      await ledger.anchor({ logId: gw.logId, treeSize: 2, rootHash: freshHash('root'), checkpointTime: 2 });
      expect(
        await codeOf(ledger.anchor({ logId: gw.logId, treeSize: 1, rootHash: root, checkpointTime: 1 })),
      ).toBe('tree_size_not_increasing');
    } finally {
      await again.stop();
    }
  });

  it('behavior: SIGKILL of anvil loses at most the last ~1-2 s: an anchor 2.5 s old survives', async () => {
    const file = join(tmp.dir, 'killed.json');
    const { n, d, gw, root } = await setUp(file);
    await sleep(2500);
    process.kill(n.pid, 'SIGKILL');
    await n.stop(); // resolves once the killed process is reaped

    const again = await startAnvil({ stateFile: file });
    try {
      expect(['loaded', 'restored_backup']).toContain(again.state);
      const ledger = createViemLedger({ rpcUrl: again.rpcUrl, deployment: d, privateKey: gw.privateKey });
      expect(await ledger.latestAnchor(gw.logId)).toEqual({ treeSize: 1, rootHash: root });
      expect(
        (await fetchAnchors({ rpcUrl: again.rpcUrl, deployment: d, logId: gw.logId })).map((a) => a.treeSize),
      ).toEqual([1]);
    } finally {
      await again.stop();
    }
  });

  it('behavior: the state file is written when the chain moves, whole (a new file renamed over it), never while it is idle', async () => {
    const file = join(tmp.dir, 'idle.json');
    const { n } = await setUp(file);
    try {
      const blockOf = () =>
        Number(
          (JSON.parse(readFileSync(file, 'utf8')) as { best_block_number: number | string })
            .best_block_number,
        );
      const head = async () =>
        Number(await createPublicClient({ transport: http(n.rpcUrl) }).getBlockNumber());
      const deadline = Date.now() + 10_000;
      while (!(existsSync(file) && blockOf() === (await head())) && Date.now() < deadline) await sleep(100);
      expect(blockOf()).toBe(await head()); // the anchor's block is on disk
      const before = statSync(file);
      await sleep(2500); // idle: anvil's own --state-interval 1 rewrote it twice meanwhile
      const idle = statSync(file);
      expect([idle.ino, idle.mtimeMs, idle.size]).toEqual([before.ino, before.mtimeMs, before.size]);
      await createTestClient({ mode: 'anvil', transport: http(n.rpcUrl) }).mine({ blocks: 1 });
      const mined = await head();
      while (blockOf() !== mined && Date.now() < deadline + 5_000) await sleep(100);
      expect(blockOf()).toBe(mined);
      expect(statSync(file).ino).not.toBe(before.ino); // replaced by rename, never torn in place
    } finally {
      await n.stop();
    }
  });

  it('behavior: a torn state file is moved aside and the backup of the last good start is restored', async () => {
    const file = join(tmp.dir, 'torn.json');
    const { n, d } = await setUp(file);
    await n.stop();
    const second = await startAnvil({ stateFile: file }); // loads it and keeps file.bak
    expect(second.state).toBe('loaded');
    await second.stop();
    writeFileSync(file, '{"block":{"number":"0x'); // what a SIGKILL during a dump leaves

    const third = await startAnvil({ stateFile: file });
    try {
      expect(third.state).toBe('restored_backup');
      expect(readdirSync(tmp.dir).some((f) => f.startsWith('torn.json.corrupt-'))).toBe(true);
      expect(await isDeployed({ rpcUrl: third.rpcUrl, deployment: d })).toBe(true);
    } finally {
      await third.stop();
    }
  });

  it('error: anvil_failed when the port is taken; a torn file without backup starts a new chain', async () => {
    const err = await startAnvil({ port: node.port }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LedgerError);
    expect((err as LedgerError).code).toBe('anvil_failed');

    const file = join(tmp.dir, 'garbage.json');
    writeFileSync(file, 'not json');
    const fresh = await startAnvil({ stateFile: file });
    try {
      expect(fresh.state).toBe('reset');
      expect(existsSync(`${file}.bak`)).toBe(false);
    } finally {
      await fresh.stop();
    }
  });
});
