/**
 * @module anchor/ledger/deploy
 * One-time deployment of the PROTOCOL.md §4 contracts: the registry (its deployer becomes the
 * KGC), then the anchors contract bound to it. The gateway keeps the returned `Deployment` and
 * never redeploys on boot (STYLE.md §8.2); `isDeployed` tells it whether a kept deployment still
 * exists on the chain (a reset dev chain loses it).
 */
import { createWalletClient, http, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  ANCHORS_ABI,
  type ContractArtifact,
  type ContractArtifacts,
  loadArtifacts,
  REGISTRY_ABI,
} from '../contracts/index.js';
import {
  assertAddress,
  assertBytes32,
  assertSafeUint,
  type Deployment,
  type Hex,
  LedgerError,
} from './types.js';
import { createReadClient, toLedgerError } from './viem.js';

/**
 * Deploys VitalTrailRegistry (deployer = KGC) and then VitalTrailAnchors, each waited for.
 *
 * @param p.deployerKey The KGC account's key; it must hold gas funds.
 * @param p.artifacts Default: `loadArtifacts()`.
 * @throws {LedgerError} `ledger_unavailable`, `tx_failed`, or `artifacts_unavailable`.
 * @example
 * const deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: kgcKey });
 */
export async function deployContracts(p: {
  rpcUrl: string;
  deployerKey: Hex;
  artifacts?: ContractArtifacts;
}): Promise<Deployment> {
  assertBytes32('deployerKey', p.deployerKey, true);
  const artifacts = p.artifacts ?? loadArtifacts();
  const reader = createReadClient(p.rpcUrl);
  let chainId: number;
  try {
    chainId = await reader.getChainId();
  } catch (err) {
    throw toLedgerError(err, 'deploy', 'ledger_unavailable');
  }
  let account: ReturnType<typeof privateKeyToAccount>;
  try {
    account = privateKeyToAccount(p.deployerKey);
  } catch {
    throw new RangeError('deployerKey is not a valid secp256k1 key');
  }
  const wallet = createWalletClient({
    account,
    transport: http(p.rpcUrl, { retryCount: 2, timeout: 10_000 }),
  });
  const deployOne = async (
    a: ContractArtifact,
    args: readonly unknown[],
  ): Promise<{ address: Hex; block: bigint }> => {
    try {
      const hash = await wallet.deployContract({ abi: a.abi, bytecode: a.bytecode, args, chain: null });
      const r = await reader.waitForTransactionReceipt({ hash, timeout: 60_000 });
      if (r.status !== 'success' || !r.contractAddress)
        throw new LedgerError('tx_failed', 'deploy: the deployment reverted');
      return { address: r.contractAddress, block: r.blockNumber };
    } catch (err) {
      throw toLedgerError(err, 'deploy');
    }
  };
  const registry = await deployOne(artifacts.VitalTrailRegistry, []);
  const anchors = await deployOne(artifacts.VitalTrailAnchors, [registry.address]);
  return {
    chainId,
    registry: registry.address,
    anchors: anchors.address,
    deployBlock: Number(registry.block),
  };
}

/**
 * True when the node serves `deployment.chainId` and both contracts are there, bound to each
 * other. False after a dev chain lost its state (then deploy again and re-register).
 * @throws {LedgerError} `ledger_unavailable` when the node does not answer.
 */
export async function isDeployed(p: { rpcUrl: string; deployment: Deployment }): Promise<boolean> {
  const d = p.deployment;
  assertSafeUint('deployment.chainId', d.chainId, 1);
  assertAddress('deployment.registry', d.registry);
  assertAddress('deployment.anchors', d.anchors);
  const reader: PublicClient = createReadClient(p.rpcUrl);
  try {
    if ((await reader.getChainId()) !== d.chainId) return false;
    for (const address of [d.registry, d.anchors]) {
      const code = await reader.getCode({ address });
      if (code === undefined || code === '0x') return false;
    }
    const [bound, kgc] = await Promise.all([
      reader.readContract({ address: d.anchors, abi: ANCHORS_ABI, functionName: 'registry' }),
      reader.readContract({ address: d.registry, abi: REGISTRY_ABI, functionName: 'kgc' }),
    ]);
    return bound.toLowerCase() === d.registry.toLowerCase() && /^0x[0-9a-fA-F]{40}$/.test(kgc);
  } catch (err) {
    const e = toLedgerError(err, 'isDeployed', 'ledger_unavailable');
    if (e.code === 'ledger_unavailable') throw e;
    return false; // the code there is not ours
  }
}
