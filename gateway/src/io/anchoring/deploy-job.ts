/**
 * @module io/anchoring/deploy-job
 * The one-shot contract deployment of the production shape (docker-compose.yml
 * `contracts-deploy`): deploys the registry and anchors contracts on a consortium chain
 * (PROTOCOL.md §4) once, and registers each gateway's account with its logId. Idempotent:
 * run again, it reuses a deployment that is still on chain and skips registered gateways,
 * so a restarted job never redeploys (STYLE.md §8.2 "redeploy on every boot").
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { privateKeyToAccount } from 'viem/accounts';
import {
  createViemRegistry,
  type Deployment,
  deployContracts,
  type Hex,
  isDeployed,
} from '../../../../anchor/src/ledger/index.js';
import { checkpointOrigin, logIdOf } from './anchoring.js';

export interface DeployJobParameters {
  rpcUrl: string;
  /** The KGC account key (it deploys and writes the registry). */
  deployerKey: Hex;
  /** Deployment JSON: read when present, written after a deployment. */
  out: string;
  /** Gateways to register: id (checkpoint origin `vitaltrail/<id>`) and ledger account key. */
  gateways: readonly { id: string; key: Hex }[];
}

export interface DeployJobResult {
  deployment: Deployment;
  deployed: boolean;
  /** Gateway ids registered by this run (the others were registered already). */
  registered: string[];
}

/**
 * Deploys (if needed) and registers the gateways (if needed).
 * @throws {LedgerError} `ledger_unavailable`, `tx_failed`, `registry_rejected` from the chain
 * @example
 * await runDeployJob({ rpcUrl: 'http://besu-1:8545', deployerKey, out: 'deployment.json', gateways });
 */
export async function runDeployJob(p: DeployJobParameters): Promise<DeployJobResult> {
  let deployment: Deployment | undefined = existsSync(p.out)
    ? (JSON.parse(readFileSync(p.out, 'utf8')) as Deployment)
    : undefined;
  let deployed = false;
  if (!deployment || !(await isDeployed({ rpcUrl: p.rpcUrl, deployment }))) {
    deployment = await deployContracts({ rpcUrl: p.rpcUrl, deployerKey: p.deployerKey });
    writeFileSync(p.out, `${JSON.stringify(deployment, null, 2)}\n`);
    deployed = true;
  }
  const registry = createViemRegistry({ rpcUrl: p.rpcUrl, deployment, privateKey: p.deployerKey });
  const registered: string[] = [];
  for (const g of p.gateways) {
    const account = privateKeyToAccount(g.key).address;
    const logId = logIdOf(checkpointOrigin(g.id));
    if (await registry.isActiveGateway(account, logId)) continue;
    await registry.registerGateway(account, logId);
    registered.push(g.id);
  }
  return { deployment, deployed, registered };
}
