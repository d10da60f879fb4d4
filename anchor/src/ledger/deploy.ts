/**
 * @module anchor/ledger/deploy
 * One-time deployment of the PROTOCOL.md §4 contracts: the registry (its deployer becomes the
 * KGC), then the anchors contract bound to it, then the consent contract (README "Consent on
 * chain (issue 18)") bound to it too. The gateway keeps the returned `Deployment` and never
 * redeploys on boot (STYLE.md §8.2); `isDeployed` tells it whether a kept deployment still
 * exists on the chain (a reset dev chain loses it), and `ensureConsentContract` adds the
 * consent contract to a deployment made before it existed.
 */
import { createWalletClient, http, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  ANCHORS_ABI,
  CONSENT_ABI,
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
import { createReadClient } from './viem.js';
import { toLedgerError } from './viem-errors.js';

type Deployed = { address: Hex; block: bigint };

/** A deployer for `rpcUrl` signing with `deployerKey`: deploys one contract and waits for it. */
function createDeployer(
  rpcUrl: string,
  deployerKey: Hex,
): { reader: PublicClient; deployOne: (a: ContractArtifact, args: readonly unknown[]) => Promise<Deployed> } {
  assertBytes32('deployerKey', deployerKey, true);
  const reader = createReadClient(rpcUrl);
  let account: ReturnType<typeof privateKeyToAccount>;
  try {
    account = privateKeyToAccount(deployerKey);
  } catch {
    throw new RangeError('deployerKey is not a valid secp256k1 key');
  }
  const wallet = createWalletClient({
    account,
    transport: http(rpcUrl, { retryCount: 2, timeout: 10_000 }),
  });
  const deployOne = async (a: ContractArtifact, args: readonly unknown[]): Promise<Deployed> => {
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
  return { reader, deployOne };
}

/**
 * Deploys VitalTrailRegistry (deployer = KGC), then VitalTrailAnchors and VitalTrailConsent bound
 * to it, each waited for.
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
  const { reader, deployOne } = createDeployer(p.rpcUrl, p.deployerKey);
  const artifacts = p.artifacts ?? loadArtifacts();
  let chainId: number;
  try {
    chainId = await reader.getChainId();
  } catch (err) {
    throw toLedgerError(err, 'deploy', 'ledger_unavailable');
  }
  const registry = await deployOne(artifacts.VitalTrailRegistry, []);
  const anchors = await deployOne(artifacts.VitalTrailAnchors, [registry.address]);
  const consent = await deployOne(artifacts.VitalTrailConsent, [registry.address]);
  return {
    chainId,
    registry: registry.address,
    anchors: anchors.address,
    deployBlock: Number(registry.block),
    consent: consent.address,
    consentDeployBlock: Number(consent.block),
  };
}

/**
 * True when `consent` holds a VitalTrailConsent bound to `registry`.
 * @throws {LedgerError} `ledger_unavailable` when the node does not answer.
 */
async function isConsentOf(reader: PublicClient, consent: Hex, registry: Hex): Promise<boolean> {
  try {
    const code = await reader.getCode({ address: consent });
    if (code === undefined || code === '0x') return false;
    // registry() alone would also match the anchors contract: authority() is the consent contract's own.
    const [bound, authority] = await Promise.all([
      reader.readContract({ address: consent, abi: CONSENT_ABI, functionName: 'registry' }),
      reader.readContract({ address: consent, abi: CONSENT_ABI, functionName: 'authority' }),
    ]);
    return bound.toLowerCase() === registry.toLowerCase() && /^0x[0-9a-fA-F]{40}$/.test(authority);
  } catch (err) {
    const e = toLedgerError(err, 'isDeployed', 'ledger_unavailable');
    if (e.code === 'ledger_unavailable') throw e;
    return false; // the code there is not ours
  }
}

/**
 * Makes sure `deployment` has a consent contract on the chain: when `deployment.consent` is
 * absent (a deployment made before issue 18), holds no code (a dev chain that lost it) or is
 * bound to another registry, deploys VitalTrailConsent(registry) and returns the deployment with
 * `consent` and `consentDeployBlock` set; otherwise returns it as it is. The deployer may be
 * any funded account (the contract takes its authority from the registry's `kgc()`); the
 * embedded chain uses the KGC key. The caller saves the returned deployment.
 *
 * @param p.deployment A deployment whose registry is on the chain (check with `isDeployed`).
 * @throws {LedgerError} `ledger_unavailable`, `tx_failed`, `contract_missing` (no registry at
 *   `deployment.registry`), or `artifacts_unavailable`.
 * @example
 * const { deployment, deployed } = await ensureConsentContract({ rpcUrl, deployment: kept, deployerKey: kgcKey });
 * if (deployed) writeJson(deploymentFile, deployment);
 */
export async function ensureConsentContract(p: {
  rpcUrl: string;
  deployment: Deployment;
  deployerKey: Hex;
  artifacts?: ContractArtifacts;
}): Promise<{ deployment: Deployment; deployed: boolean }> {
  const d = p.deployment;
  assertAddress('deployment.registry', d.registry);
  if (d.consent !== undefined) assertAddress('deployment.consent', d.consent);
  const { reader, deployOne } = createDeployer(p.rpcUrl, p.deployerKey);
  try {
    if (d.consent !== undefined && (await isConsentOf(reader, d.consent, d.registry))) {
      return { deployment: d, deployed: false };
    }
    const code = await reader.getCode({ address: d.registry });
    if (code === undefined || code === '0x') {
      throw new LedgerError(
        'contract_missing',
        'ensureConsentContract: no registry at the deployment address',
      );
    }
  } catch (err) {
    throw toLedgerError(err, 'ensureConsentContract', 'ledger_unavailable');
  }
  const consent = await deployOne(p.artifacts?.VitalTrailConsent ?? loadArtifacts().VitalTrailConsent, [
    d.registry,
  ]);
  return {
    deployment: { ...d, consent: consent.address, consentDeployBlock: Number(consent.block) },
    deployed: true,
  };
}

/**
 * True when the node serves `deployment.chainId` and both contracts are there, bound to each
 * other, and so is the consent contract when the deployment names one (a deployment without
 * one stays valid: `ensureConsentContract` adds it). False after a dev chain lost its state
 * (then deploy again and re-register).
 * @throws {LedgerError} `ledger_unavailable` when the node does not answer.
 */
export async function isDeployed(p: { rpcUrl: string; deployment: Deployment }): Promise<boolean> {
  const d = p.deployment;
  assertSafeUint('deployment.chainId', d.chainId, 1);
  assertAddress('deployment.registry', d.registry);
  assertAddress('deployment.anchors', d.anchors);
  if (d.consent !== undefined) assertAddress('deployment.consent', d.consent);
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
    if (bound.toLowerCase() !== d.registry.toLowerCase() || !/^0x[0-9a-fA-F]{40}$/.test(kgc)) return false;
    return d.consent === undefined || (await isConsentOf(reader, d.consent, d.registry));
  } catch (err) {
    const e = toLedgerError(err, 'isDeployed', 'ledger_unavailable');
    if (e.code === 'ledger_unavailable') throw e;
    return false; // the code there is not ours
  }
}
