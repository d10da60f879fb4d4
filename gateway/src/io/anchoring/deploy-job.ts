/**
 * @module io/anchoring/deploy-job
 * The one-shot contract deployment of the production shape (docker-compose.yml
 * `contracts-deploy`): deploys the registry and anchors contracts on a consortium chain
 * (PROTOCOL.md §4) once, and registers each gateway's account with its logId (and, issue 18,
 * the gateway's access-log account with the access logId, when given). Idempotent:
 * run again, it reuses a deployment that is still on chain and skips registered gateways,
 * so a restarted job never redeploys (STYLE.md §8.2 "redeploy on every boot").
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { privateKeyToAccount } from 'viem/accounts';
import {
  createViemRegistry,
  type Deployment,
  deployContracts,
  ensureConsentContract,
  type Hex,
  isDeployed,
} from '../../../../anchor/src/ledger/index.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../../core/log-names.js';

export interface DeployJobParameters {
  rpcUrl: string;
  /** The KGC account key (it deploys and writes the registry). */
  deployerKey: Hex;
  /** Deployment JSON: read when present, written after a deployment. */
  out: string;
  /** Gateways to register: id (checkpoint origin `vitaltrail/<id>`) and ledger account key. */
  gateways: readonly { id: string; key: Hex; accessKey?: Hex }[];
}

export interface DeployJobResult {
  deployment: Deployment;
  deployed: boolean;
  /** Gateway ids registered by this run (the others were registered already). */
  registered: string[];
  /** Gateway ids whose access-log account this run registered (issue 18; only when some gateway has an `accessKey`). */
  registeredAccess?: string[];
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
  } else {
    // A deployment made before issue 18 gets its consent contract (kept when it has one).
    const c = await ensureConsentContract({ rpcUrl: p.rpcUrl, deployment, deployerKey: p.deployerKey });
    if (c.deployed) writeFileSync(p.out, `${JSON.stringify(c.deployment, null, 2)}\n`);
    deployment = c.deployment;
  }
  const registry = createViemRegistry({ rpcUrl: p.rpcUrl, deployment, privateKey: p.deployerKey });
  const registered: string[] = [];
  const registeredAccess: string[] = [];
  for (const g of p.gateways) {
    const account = privateKeyToAccount(g.key).address;
    const logId = logIdOf(checkpointOrigin(g.id));
    if (!(await registry.isActiveGateway(account, logId))) {
      await registry.registerGateway(account, logId);
      registered.push(g.id);
    }
    if (g.accessKey === undefined) continue;
    const accessAccount = privateKeyToAccount(g.accessKey).address;
    const accessLogId = logIdOf(accessLogOrigin(g.id));
    if (await registry.isActiveGateway(accessAccount, accessLogId)) continue;
    await registry.registerGateway(accessAccount, accessLogId);
    registeredAccess.push(g.id);
  }
  return {
    deployment,
    deployed,
    registered,
    ...(p.gateways.some((g) => g.accessKey !== undefined) ? { registeredAccess } : {}),
  };
}
