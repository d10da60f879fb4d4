/**
 * @module io/anchoring/chain
 * The embedded ledger of the demo (ARCHITECTURE.md "Real components"): a local anvil
 * node whose state is persisted in the data directory, the contracts deployed once
 * (their addresses kept in `chain/deployment.json`), a KGC account and a gateway account
 * with keys at rest (0600), the gateway registered for its logId. Issue 18: a second gateway
 * account (`chain/gateway-access.key`, 0600) anchors the gateway's access log, registered by
 * the KGC for the access logId when the caller names it (the registry holds one logId per
 * account); a third (`chain/gateway-consent.key`) relays the patients' signed grants (issue 18). Starting again on the
 * same data directory reuses all of it; if the dev chain lost its state, the contracts
 * are deployed again and the change is reported.
 *
 * anvil runs in its own process group (so a Ctrl-C reaches the gateway first), which also
 * means it outlives a SIGKILL of the gateway. Its pid goes to `chain/endpoint.json` as soon as
 * it is spawned; the next start (which holds the data directory's instance lock) finds every
 * anvil on this data directory's state file, by that pid and by a /proc scan (one killed
 * before its pid was written), and stops it with SIGTERM, so it saves its state, before
 * starting a new one: two nodes never write one state file.
 *
 * While the gateway runs, io/anchoring/chain-watchdog restarts a node that died
 * (`restartEmbeddedChain`: the same state file, port and accounts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  type AnvilHandle,
  createViemRegistry,
  type Deployment,
  deployContracts,
  ensureConsentContract,
  fundAccount,
  type Hex,
  LedgerError,
  startAnvil,
} from '../../../../anchor/src/ledger/index.js';
import { VitalTrailError } from '../../protocol/errors.js';
import { createSecret, type DataPaths, ensureDir, readJson, writeJson, writeSecret } from '../ops/index.js';

export interface EmbeddedChain {
  anvil: AnvilHandle;
  rpcUrl: string;
  deployment: Deployment;
  kgcKey: Hex;
  gatewayKey: Hex;
  /** Issue 18: the account key that anchors the access log (`accessAccountKeyPath`); set by every start. */
  accessKey?: Hex;
  /** The access log's logId its account was registered for; absent when the caller named none. */
  accessLogId?: Hex;
  /** True when this start deployed the contracts (first start, or a lost dev chain). */
  deployed: boolean;
  /** The pid of an anvil left over by a killed gateway on this data directory, stopped first. */
  staleAnvilStopped: number | null;
  /** Told once when the node's state file can no longer be written (kept for a restart). */
  onStateError?: (err: unknown) => void;
}

/**
 * Reads a 0x private key file, creating it (0600, whole or not at all) if absent. An empty
 * file is what a start killed mid-write left before secret files were written whole: that key
 * was never used (its start died first), so a new one is made.
 * @throws {VitalTrailError} `config_invalid` when the file holds anything but such a key
 */
export function ensureAccountKey(path: string): Hex {
  if (!existsSync(path)) createSecret(path, `${generatePrivateKey()}\n`);
  else if (readFileSync(path, 'utf8').trim() === '') writeSecret(path, `${generatePrivateKey()}\n`);
  const key = readFileSync(path, 'utf8').trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new VitalTrailError(
      'config_invalid',
      `${path} does not hold a ledger account key (0x and 64 hex digits)`,
    );
  return key as Hex;
}

/**
 * Issue 18: the ledger account key of the access log (io/access), beside `gateway.key`; made
 * (0600) at the first start that needs it, by `ensureAccountKey`.
 */
export function accessAccountKeyPath(paths: DataPaths): string {
  return join(paths.chainDir, 'gateway-access.key');
}

/**
 * Issue 18: the ledger account that submits the patients' signed grants and revocations to the
 * consent contract (it pays their gas; it can sign nothing for a patient), beside `gateway.key`;
 * made (0600) at the first start that needs it. Its own account, so its transactions never race
 * the anchorers' nonces.
 */
export function consentAccountKeyPath(paths: DataPaths): string {
  return join(paths.chainDir, 'gateway-consent.key');
}

export function accountOf(key: Hex): Hex {
  return privateKeyToAccount(key).address;
}

async function hasCode(rpcUrl: string, address: Hex): Promise<boolean> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getCode', params: [address, 'latest'] }),
  });
  const body = (await res.json()) as { result?: string };
  return typeof body.result === 'string' && body.result.length > 2;
}

/** True when `pid` is a live anvil process started on `stateFile` (Linux /proc; false elsewhere). */
function isAnvilOf(pid: number, stateFile: string): boolean {
  try {
    // A zombie or a recycled pid has another (or an empty) command line.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)anvil$/.test(argv[0] ?? '') && argv.includes(stateFile);
  } catch {
    return false;
  }
}

/**
 * Every anvil that runs on `stateFile`: the pid recorded in `endpoint.json` and, on Linux,
 * any other anvil process whose command line names the file (one killed before its pid
 * could be recorded). The caller holds the data directory's instance lock, so none of
 * them belongs to a running gateway.
 */
function anvilsOn(stateFile: string, recorded: unknown): number[] {
  const pids = new Set<number>();
  if (
    typeof recorded === 'number' &&
    Number.isSafeInteger(recorded) &&
    recorded > 1 &&
    recorded !== process.pid
  ) {
    if (isAnvilOf(recorded, stateFile)) pids.add(recorded);
  }
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    // no /proc: only the recorded pid
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== process.pid && isAnvilOf(pid, stateFile)) pids.add(pid);
  }
  return [...pids];
}

/**
 * Stops every anvil that a previous gateway on this data directory left running (it was
 * killed with SIGKILL, possibly before it recorded the pid). SIGTERM first (anvil saves its
 * state), SIGKILL after `timeoutMs`.
 * @returns the stopped pid (the first, when several), or null when there was none.
 * @example
 * await stopStaleAnvil(dataPaths(dir)); // before startAnvil on the same state file
 */
export async function stopStaleAnvil(paths: DataPaths, timeoutMs = 10_000): Promise<number | null> {
  let recorded: unknown;
  try {
    recorded = readJson<{ pid?: unknown }>(paths.endpoint)?.pid;
  } catch {
    recorded = undefined; // a torn endpoint.json: the /proc scan still finds it
  }
  const pids = anvilsOn(paths.anvilState, recorded);
  if (pids.length === 0) return null;
  const signal = (s: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, s);
      } catch {
        // already gone
      }
    }
  };
  const alive = () => pids.some((pid) => isAnvilOf(pid, paths.anvilState));
  signal('SIGTERM');
  let deadline = Date.now() + timeoutMs;
  let killed = false;
  while (alive()) {
    if (Date.now() > deadline) {
      if (killed) throw new LedgerError('anvil_failed', 'a stale anvil of this data directory does not stop');
      signal('SIGKILL');
      killed = true;
      deadline = Date.now() + 2000;
    }
    await sleep(25);
  }
  return pids[0] as number;
}

/**
 * Starts the embedded chain for a data directory and makes sure the contracts are
 * deployed and the gateway account is registered for `logId`.
 */
export async function startEmbeddedChain(
  paths: DataPaths,
  logId: Hex,
  opts: { port?: number; accessLogId?: Hex; onStateError?: (err: unknown) => void } = {},
): Promise<EmbeddedChain> {
  ensureDir(paths.chainDir);
  const kgcKey = ensureAccountKey(paths.kgcAccountKey);
  const gatewayKey = ensureAccountKey(paths.gatewayAccountKey);
  const accessKey = ensureAccountKey(accessAccountKeyPath(paths));
  const consentKey = ensureAccountKey(consentAccountKeyPath(paths));
  const stale = await stopStaleAnvil(paths);
  const anvil = await startAnvil({
    stateFile: paths.anvilState,
    ...(opts.port ? { port: opts.port } : {}),
    ...(opts.onStateError ? { onStateError: opts.onStateError } : {}),
    // Recorded before anything else, so a start killed at any later point leaves a pid the
    // next start finds and stops (no orphan anvil rewriting the same state file).
    onSpawn: (pid) => writeJson(paths.endpoint, { pid }),
  });
  try {
    // Dev chain only: fund our accounts from nothing (anvil_setBalance).
    await fundAccount(anvil.rpcUrl, accountOf(kgcKey));
    await fundAccount(anvil.rpcUrl, accountOf(gatewayKey));
    await fundAccount(anvil.rpcUrl, accountOf(accessKey));
    await fundAccount(anvil.rpcUrl, accountOf(consentKey));
    let deployment = readJson<Deployment>(paths.deployment);
    let deployed = false;
    if (
      !deployment ||
      deployment.chainId !== anvil.chainId ||
      !(await hasCode(anvil.rpcUrl, deployment.anchors))
    ) {
      deployment = await deployContracts({ rpcUrl: anvil.rpcUrl, deployerKey: kgcKey });
      writeJson(paths.deployment, deployment);
      deployed = true;
    }
    // Issue 18: a deployment made before the consent contract existed gets it now, from the KGC.
    const withConsent = await ensureConsentContract({
      rpcUrl: anvil.rpcUrl,
      deployment,
      deployerKey: kgcKey,
    });
    if (withConsent.deployed) {
      deployment = withConsent.deployment;
      writeJson(paths.deployment, deployment);
    }
    const registry = createViemRegistry({ rpcUrl: anvil.rpcUrl, deployment, privateKey: kgcKey });
    if (!(await registry.isActiveGateway(accountOf(gatewayKey), logId))) {
      await registry.registerGateway(accountOf(gatewayKey), logId);
    }
    // Issue 18: the access log's own account (one logId per registered account).
    if (opts.accessLogId && !(await registry.isActiveGateway(accountOf(accessKey), opts.accessLogId))) {
      await registry.registerGateway(accountOf(accessKey), opts.accessLogId);
    }
    writeJson(paths.endpoint, { rpcUrl: anvil.rpcUrl, pid: anvil.pid });
    return {
      anvil,
      rpcUrl: anvil.rpcUrl,
      deployment,
      kgcKey,
      gatewayKey,
      accessKey,
      ...(opts.accessLogId ? { accessLogId: opts.accessLogId } : {}),
      deployed,
      staleAnvilStopped: stale,
      ...(opts.onStateError ? { onStateError: opts.onStateError } : {}),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/**
 * Starts the embedded chain again after its node died (io/anchoring/chain-watchdog): on the
 * same state file and the same port (the gateway's ledger client keeps its RPC URL), with the
 * same accounts; the contracts are deployed again and the gateway registered again only if
 * the node lost them (a torn state file with no usable backup).
 * @throws {LedgerError} `anvil_failed` (the port is taken, the node does not answer),
 *   `ledger_unavailable`, `tx_failed`.
 */
export function restartEmbeddedChain(
  paths: DataPaths,
  logId: Hex,
  previous: EmbeddedChain,
): Promise<EmbeddedChain> {
  return startEmbeddedChain(paths, logId, {
    port: previous.anvil.port,
    ...(previous.accessLogId ? { accessLogId: previous.accessLogId } : {}),
    ...(previous.onStateError ? { onStateError: previous.onStateError } : {}),
  });
}
