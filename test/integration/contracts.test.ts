/**
 * @module test/integration/contracts
 * Every rule of the PROTOCOL.md §4 contracts, exercised with plain viem against a real anvil:
 * KGC-only registry writes, device status and key rotation, gateway binding, anchoring rights,
 * strictly growing tree sizes, and the exact `Anchored` event; plus the gas of `anchor()`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Abi,
  type Account,
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  encodeAbiParameters,
  http,
  keccak256,
  type PublicClient,
  parseAbiItem,
  parseEventLogs,
  type TransactionReceipt,
  toBytes,
  toEventSelector,
  toFunctionSelector,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANCHORED_EVENT,
  ANCHORS_ABI,
  type ContractArtifacts,
  REGISTRY_ABI,
} from '../../anchor/src/contracts/artifacts.js';
import {
  compileContracts,
  contractPaths,
  findRepoRoot,
  loadArtifacts,
  readContractSources,
} from '../../anchor/src/contracts/build.js';
import { ANVIL_DEV_KEY, type AnvilHandle, fundAccount, startAnvil } from '../../anchor/src/ledger/anvil.js';
import { deployContracts } from '../../anchor/src/ledger/deploy.js';
import type { Deployment, Hex } from '../../anchor/src/ledger/types.js';
import { makeTempDir } from '../helpers/tmp.js';

let node: AnvilHandle;
let artifacts: ContractArtifacts;
let deployment: Deployment;
let pub: PublicClient;
const kgc = privateKeyToAccount(ANVIL_DEV_KEY);
let counter = 0;

/** A distinct 32-byte value per call (keys, logIds, roots). */
function fresh(label: string): Hex {
  counter += 1;
  return keccak256(toBytes(`${label}-${counter}`));
}

async function newAccount(): Promise<Account> {
  const a = privateKeyToAccount(generatePrivateKey());
  await fundAccount(node.rpcUrl, a.address);
  return a;
}

type Target = 'registry' | 'anchors';
const abiOf = (t: Target): Abi => (t === 'registry' ? REGISTRY_ABI : ANCHORS_ABI);
const addressOf = (t: Target): Hex => (t === 'registry' ? deployment.registry : deployment.anchors);

/** Sends a write (fixed gas, so no estimate) and returns its successful receipt. */
async function send(
  from: Account,
  t: Target,
  functionName: string,
  args: readonly unknown[],
): Promise<TransactionReceipt> {
  const wallet = createWalletClient({ account: from, transport: http(node.rpcUrl) });
  const hash = await wallet.writeContract({
    address: addressOf(t),
    abi: abiOf(t),
    functionName,
    args,
    chain: null,
    gas: 500_000n,
  });
  const receipt = await pub.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe('success');
  return receipt;
}

/** Asserts that the call reverts with the named custom error (and, if given, its arguments). */
async function expectRevert(
  from: Account,
  t: Target,
  functionName: string,
  args: readonly unknown[],
  errorName: string,
  errorArgs?: readonly unknown[],
): Promise<void> {
  let caught: unknown;
  try {
    await pub.simulateContract({ address: addressOf(t), abi: abiOf(t), functionName, args, account: from });
  } catch (err) {
    caught = err;
  }
  expect(caught, `${functionName} should revert with ${errorName}`).toBeDefined();
  const reverted = (caught as { walk: (fn: (e: unknown) => boolean) => unknown }).walk(
    (e) => (e as Error).name === 'ContractFunctionRevertedError',
  ) as { data?: { errorName: string; args?: readonly unknown[] } } | undefined;
  expect(reverted?.data?.errorName).toBe(errorName);
  if (errorArgs) expect(reverted?.data?.args).toEqual(errorArgs);
}

async function read<T>(t: Target, functionName: string, args: readonly unknown[] = []): Promise<T> {
  return (await pub.readContract({ address: addressOf(t), abi: abiOf(t), functionName, args })) as T;
}

beforeAll(async () => {
  node = await startAnvil();
  pub = createPublicClient({ transport: http(node.rpcUrl), pollingInterval: 100 }) as PublicClient;
  artifacts = loadArtifacts();
  deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY, artifacts });
});

afterAll(async () => {
  await node?.stop();
});

describe('VitalTrail contracts on anvil', () => {
  it('behavior: the compiled ABIs are exactly the ABI fragments the clients use', () => {
    // Everything but solc's annotations (internalType, empty names, anonymous: false), keys sorted.
    const norm = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(norm);
      if (typeof v !== 'object' || v === null) return v;
      const entries = Object.entries(v)
        .filter(
          ([k, x]) =>
            k !== 'internalType' &&
            !(k === 'name' && x === '') &&
            !((k === 'anonymous' || k === 'indexed') && x === false),
        )
        .sort(([a], [b]) => a.localeCompare(b));
      return Object.fromEntries(entries.map(([k, x]) => [k, norm(x)]));
    };
    const sigs = (abi: Abi) =>
      abi
        .filter((i) => i.type !== 'constructor')
        .map((i) => JSON.stringify(norm(i)))
        .sort();
    expect(sigs(artifacts.VitalTrailRegistry.abi)).toEqual(sigs(REGISTRY_ABI));
    expect(sigs(artifacts.VitalTrailAnchors.abi)).toEqual(sigs(ANCHORS_ABI));
    expect(sigs(artifacts.VitalTrailAnchors.abi)).toContainEqual(sigs([parseAbiItem(ANCHORED_EVENT)])[0]);
  });

  it('behavior: loadArtifacts compiles missing or stale artifacts and says clearly when it cannot', () => {
    const t = makeTempDir('vt-artifacts-');
    try {
      const sourcesDir = join(t.dir, 'anchor', 'contracts');
      mkdirSync(sourcesDir, { recursive: true });
      const sources = readContractSources(contractPaths(findRepoRoot()).sourcesDir);
      for (const [name, text] of Object.entries(sources)) writeFileSync(join(sourcesDir, name), text);
      const artifactFile = contractPaths(t.dir).artifactFile;

      const built = loadArtifacts(t.dir); // no build/contracts.json: compiled and written
      expect(built.sourceHash).toBe(artifacts.sourceHash);
      expect(built.VitalTrailAnchors.bytecode).toBe(artifacts.VitalTrailAnchors.bytecode);
      expect(JSON.parse(readFileSync(artifactFile, 'utf8')).sourceHash).toBe(built.sourceHash);

      writeFileSync(artifactFile, JSON.stringify({ ...built, sourceHash: 'stale' }));
      expect(loadArtifacts(t.dir).sourceHash).toBe(built.sourceHash); // stale: rebuilt

      expect(() => compileContracts(sources, null)).toThrow(
        expect.objectContaining({ code: 'artifacts_unavailable' }),
      );
      expect(() => compileContracts({ 'Bad.sol': 'contract {' })).toThrow(/solc failed/);
      rmSync(join(t.dir, 'anchor'), { recursive: true });
      rmSync(artifactFile);
      expect(() => loadArtifacts(t.dir)).toThrow(expect.objectContaining({ code: 'artifacts_unavailable' }));
    } finally {
      t.cleanup();
    }
  });

  it('behavior: the deployer is the KGC and the anchors contract is bound to the registry', async () => {
    expect(await read<Hex>('registry', 'kgc')).toBe(kgc.address);
    expect((await read<Hex>('anchors', 'registry')).toLowerCase()).toBe(deployment.registry.toLowerCase());
    expect(deployment.chainId).toBe(node.chainId);
  });

  it('error: only the KGC writes the registry (NotKgc)', async () => {
    const other = await newAccount();
    await expectRevert(other, 'registry', 'registerDevice', ['dev-1', fresh('k')], 'NotKgc');
    await expectRevert(other, 'registry', 'revokeDevice', ['dev-1'], 'NotKgc');
    await expectRevert(other, 'registry', 'registerGateway', [other.address, fresh('log')], 'NotKgc');
    await expectRevert(other, 'registry', 'setGatewayActive', [other.address, true], 'NotKgc');
  });

  it('behavior: registering a device stores its key, status active and the block, and emits DeviceRegistered', async () => {
    const spki = fresh('spki');
    const r = await send(kgc, 'registry', 'registerDevice', ['wr-0001', spki]);
    const [hash, status, since] = await read<[Hex, number, bigint]>('registry', 'device', ['wr-0001']);
    expect([hash, status, since]).toEqual([spki, 1, r.blockNumber]);
    const [ev] = parseEventLogs({ abi: REGISTRY_ABI, eventName: 'DeviceRegistered', logs: r.logs });
    expect(ev?.args).toEqual({ devIdHash: keccak256(toBytes('wr-0001')), devId: 'wr-0001', spkiHash: spki });
    expect(await read('registry', 'device', ['never-registered'])).toEqual([`0x${'0'.repeat(64)}`, 0, 0n]);
  });

  it('behavior: key rotation re-registers the device with a new key and emits DeviceRegistered again', async () => {
    const [k1, k2] = [fresh('spki'), fresh('spki')];
    await send(kgc, 'registry', 'registerDevice', ['rot-1', k1]);
    await expectRevert(kgc, 'registry', 'registerDevice', ['rot-1', k1], 'KeyUnchanged');
    const r = await send(kgc, 'registry', 'registerDevice', ['rot-1', k2]);
    expect(parseEventLogs({ abi: REGISTRY_ABI, eventName: 'DeviceRegistered', logs: r.logs })).toHaveLength(
      1,
    );
    expect(await read('registry', 'device', ['rot-1'])).toEqual([k2, 1, r.blockNumber]);
  });

  it('behavior: revocation sets status revoked since its block; only a never-revoked key brings the device back', async () => {
    const [k1, k2] = [fresh('spki'), fresh('spki')];
    await send(kgc, 'registry', 'registerDevice', ['rev-1', k1]);
    const r = await send(kgc, 'registry', 'revokeDevice', ['rev-1']);
    expect(await read('registry', 'device', ['rev-1'])).toEqual([k1, 2, r.blockNumber]);
    const [ev] = parseEventLogs({ abi: REGISTRY_ABI, eventName: 'DeviceRevoked', logs: r.logs });
    expect(ev?.args).toEqual({ devIdHash: keccak256(toBytes('rev-1')), devId: 'rev-1' });
    expect(await read('registry', 'isKeyRevoked', [k1])).toBe(true);

    await expectRevert(kgc, 'registry', 'revokeDevice', ['rev-1'], 'DeviceNotActive');
    await expectRevert(kgc, 'registry', 'revokeDevice', ['never-registered'], 'DeviceNotActive');
    await expectRevert(kgc, 'registry', 'registerDevice', ['rev-1', k1], 'KeyRevoked');
    await expectRevert(kgc, 'registry', 'registerDevice', ['other-dev', k1], 'KeyRevoked');
    const back = await send(kgc, 'registry', 'registerDevice', ['rev-1', k2]);
    expect(await read('registry', 'device', ['rev-1'])).toEqual([k2, 1, back.blockNumber]);
  });

  it('error: malformed device ids and zero hashes are refused (no free text on chain)', async () => {
    for (const bad of ['', 'x'.repeat(65), 'has space', 'ünï', 'a/b', 'name@ward']) {
      await expectRevert(kgc, 'registry', 'registerDevice', [bad, fresh('spki')], 'InvalidDeviceId');
    }
    await send(kgc, 'registry', 'registerDevice', ['A-z_0.9', fresh('spki')]);
    await send(kgc, 'registry', 'registerDevice', ['x'.repeat(64), fresh('spki')]);
    await expectRevert(kgc, 'registry', 'registerDevice', ['ok-dev', `0x${'0'.repeat(64)}`], 'ZeroValue');
  });

  it('behavior: a gateway is bound to one logId, and a logId to one active gateway', async () => {
    const [gw, gw2] = [await newAccount(), await newAccount()];
    const logId = fresh('log');
    const r = await send(kgc, 'registry', 'registerGateway', [gw.address, logId]);
    const [ev] = parseEventLogs({ abi: REGISTRY_ABI, eventName: 'GatewayRegistered', logs: r.logs });
    expect(ev?.args).toEqual({ account: gw.address, logId });
    expect(await read('registry', 'gateway', [gw.address])).toEqual([logId, true]);
    expect(await read('registry', 'isActiveGateway', [gw.address, logId])).toBe(true);
    expect(await read('registry', 'isActiveGateway', [gw.address, fresh('log')])).toBe(false);
    expect(await read('registry', 'isActiveGateway', [gw2.address, logId])).toBe(false);

    await expectRevert(
      kgc,
      'registry',
      'registerGateway',
      [gw.address, fresh('log')],
      'GatewayAlreadyRegistered',
    );
    await expectRevert(kgc, 'registry', 'registerGateway', [gw2.address, logId], 'LogIdTaken');
    await expectRevert(
      kgc,
      'registry',
      'registerGateway',
      [`0x${'0'.repeat(40)}`, fresh('log')],
      'ZeroValue',
    );
    await expectRevert(kgc, 'registry', 'registerGateway', [gw2.address, `0x${'0'.repeat(64)}`], 'ZeroValue');
    await expectRevert(kgc, 'registry', 'setGatewayActive', [gw2.address, false], 'UnknownGateway');
  });

  it('behavior: a logId moves to a new gateway account only after its holder is deactivated', async () => {
    const [oldGw, newGw] = [await newAccount(), await newAccount()];
    const logId = fresh('log');
    await send(kgc, 'registry', 'registerGateway', [oldGw.address, logId]);
    const off = await send(kgc, 'registry', 'setGatewayActive', [oldGw.address, false]);
    const [ev] = parseEventLogs({ abi: REGISTRY_ABI, eventName: 'GatewayStatusChanged', logs: off.logs });
    expect(ev?.args).toEqual({ account: oldGw.address, active: false });
    await send(kgc, 'registry', 'registerGateway', [newGw.address, logId]);
    expect(await read('registry', 'isActiveGateway', [newGw.address, logId])).toBe(true);
    await expectRevert(kgc, 'registry', 'setGatewayActive', [oldGw.address, true], 'LogIdTaken');
  });

  it('error: only an active gateway anchors, and only its own logId (NotActiveGateway)', async () => {
    const [gw, stranger] = [await newAccount(), await newAccount()];
    const [logId, otherLog] = [fresh('log'), fresh('log')];
    await send(kgc, 'registry', 'registerGateway', [gw.address, logId]);
    await expectRevert(stranger, 'anchors', 'anchor', [logId, 1n, fresh('root'), 1n], 'NotActiveGateway');
    await expectRevert(kgc, 'anchors', 'anchor', [logId, 1n, fresh('root'), 1n], 'NotActiveGateway');
    await expectRevert(gw, 'anchors', 'anchor', [otherLog, 1n, fresh('root'), 1n], 'NotActiveGateway');
    await send(gw, 'anchors', 'anchor', [logId, 1n, fresh('root'), 1n]);
  });

  it('error: a deactivated gateway is refused until reactivated', async () => {
    const gw = await newAccount();
    const logId = fresh('log');
    await send(kgc, 'registry', 'registerGateway', [gw.address, logId]);
    await send(gw, 'anchors', 'anchor', [logId, 1n, fresh('root'), 1n]);
    await send(kgc, 'registry', 'setGatewayActive', [gw.address, false]);
    expect(await read('registry', 'isActiveGateway', [gw.address, logId])).toBe(false);
    await expectRevert(gw, 'anchors', 'anchor', [logId, 2n, fresh('root'), 2n], 'NotActiveGateway');
    const on = await send(kgc, 'registry', 'setGatewayActive', [gw.address, true]);
    expect(
      parseEventLogs({ abi: REGISTRY_ABI, eventName: 'GatewayStatusChanged', logs: on.logs }),
    ).toHaveLength(1);
    const again = await send(kgc, 'registry', 'setGatewayActive', [gw.address, true]);
    expect(again.logs).toHaveLength(0); // no change, no event
    await send(gw, 'anchors', 'anchor', [logId, 2n, fresh('root'), 2n]);
  });

  it('error: treeSize must strictly grow (equal, smaller and a first 0 refused) and the root be non-zero', async () => {
    const gw = await newAccount();
    const logId = fresh('log');
    await send(kgc, 'registry', 'registerGateway', [gw.address, logId]);
    await expectRevert(gw, 'anchors', 'anchor', [logId, 0n, fresh('root'), 1n], 'TreeSizeNotIncreasing', [
      0n,
      0n,
    ]);
    await send(gw, 'anchors', 'anchor', [logId, 10n, fresh('root'), 1n]);
    await expectRevert(gw, 'anchors', 'anchor', [logId, 10n, fresh('root'), 2n], 'TreeSizeNotIncreasing', [
      10n,
      10n,
    ]);
    await expectRevert(gw, 'anchors', 'anchor', [logId, 9n, fresh('root'), 2n], 'TreeSizeNotIncreasing', [
      10n,
      9n,
    ]);
    await expectRevert(gw, 'anchors', 'anchor', [logId, 11n, `0x${'0'.repeat(64)}`, 2n], 'ZeroRootHash');
    await send(gw, 'anchors', 'anchor', [logId, 11n, fresh('root'), 2n]);
    expect((await read<[bigint]>('anchors', 'latest', [logId]))[0]).toBe(11n);
  });

  it('behavior: the Anchored event decodes exactly, latest() matches, and anchor() stays under 150k gas', async () => {
    const gw = await newAccount();
    const logId = fresh('log');
    await send(kgc, 'registry', 'registerGateway', [gw.address, logId]);
    const gas: bigint[] = [];
    for (const [size, time] of [
      [1024n, 1_767_225_600_000n],
      [2048n, 1_767_225_660_000n],
    ] as const) {
      const root = fresh('root');
      const r = await send(gw, 'anchors', 'anchor', [logId, size, root, time]);
      gas.push(r.gasUsed);
      expect(r.logs).toHaveLength(1);
      const log = r.logs[0]!;
      expect(log.address.toLowerCase()).toBe(deployment.anchors.toLowerCase());
      // topic0 is the PROTOCOL.md §4 signature; logId is the only indexed field
      expect(log.topics).toEqual([toEventSelector('Anchored(bytes32,uint64,bytes32,uint64)'), logId]);
      expect(log.data).toBe(
        encodeAbiParameters(
          [{ type: 'uint64' }, { type: 'bytes32' }, { type: 'uint64' }],
          [size, root, time],
        ),
      );
      const ev = decodeEventLog({ abi: ANCHORS_ABI, data: log.data, topics: log.topics });
      expect(ev).toEqual({
        eventName: 'Anchored',
        args: { logId, treeSize: size, rootHash: root, checkpointTime: time },
      });
      expect(await read('anchors', 'latest', [logId])).toEqual([size, root, time, r.blockNumber]);
    }
    console.log(`[gas] VitalTrailAnchors.anchor(): first anchor of a log ${gas[0]}, next anchor ${gas[1]}`);
    for (const g of gas) expect(g).toBeLessThan(150_000n);
  });

  it('error: the anchors contract refuses a registry address without code', async () => {
    const wallet = createWalletClient({ account: kgc, transport: http(node.rpcUrl) });
    const { abi, bytecode } = artifacts.VitalTrailAnchors;
    let caught: unknown;
    try {
      await wallet.deployContract({ abi, bytecode, args: [kgc.address], chain: null });
    } catch (err) {
      caught = err;
    }
    // viem cannot decode a constructor's custom error (no ABI entry in scope): check its selector.
    expect(String((caught as Error)?.message)).toContain(toFunctionSelector('RegistryNotContract()'));
  });
});
