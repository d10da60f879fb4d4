/**
 * @module cli/chain-options
 * How the CLI acts on an external chain (a consortium network, PROTOCOL.md §4) with a ledger
 * account: the key from a file only its owner may read (never argv or the environment,
 * STYLE.md §8.3), the deployment file of `vitaltrail chain deploy`, the JSON-RPC URL, and the
 * confirmations to wait. `chain deploy` reads its keys here; `kgc sync-registry` and
 * `kgc enroll|revoke --rpc` also take their registry options and open the KGC's registry here.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { REGISTRY_ABI } from '../../../anchor/src/contracts/index.js';
// The ledger's types and argument checks only: its clients (viem, ~350 modules) are loaded
// with import() once a command talks to a chain (test/unit/cli-load.test.ts).
import {
  assertAddress,
  assertSafeUint,
  type Deployment,
  type Hex,
  LEDGER_ERROR_CODES,
  LedgerError,
  type RegistryClient,
} from '../../../anchor/src/ledger/types.js';
import { ConfigError, readSecretFile } from '../app/config.js';
import type { DataPaths } from '../io/ops/index.js';

/** The ledger's clients, loaded when a command first talks to a chain. */
export const ledgerClients = () => import('../../../anchor/src/ledger/index.js');

/**
 * Reads a ledger account key: `0x` and 32 bytes of hex, in a file of mode 0600.
 * @param field the option that named the file (error messages name it, never the key)
 * @param source the command, for the error message
 * @throws {ConfigError} `config_invalid` when the file is missing, empty, readable by group or
 *   others, or holds no key
 * @example
 * const key = readAccountKey('--key-file', '/vt/kgc/chain/kgc.key', 'chain deploy');
 */
export function readAccountKey(field: string, path: string, source: string): Hex {
  let key: string;
  try {
    key = readSecretFile(field, path);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems, source);
    throw err;
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new ConfigError([`${field}: must hold a 0x-prefixed 32-byte hex key`], source);
  return key as Hex;
}

/**
 * Reads the deployment file `vitaltrail chain deploy` writes: `{chainId, registry, anchors,
 * deployBlock}`. Whether those contracts are on the chain is `assertRegistryReady`'s question.
 * @throws {ConfigError} `config_invalid` when the file is missing, not JSON, or not a deployment
 */
export function readDeploymentFile(field: string, path: string, source: string): Deployment {
  let d: unknown;
  try {
    d = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'is not valid JSON';
    throw new ConfigError([`${field}: ${why}`], source);
  }
  try {
    if (typeof d !== 'object' || d === null) throw new TypeError('not an object');
    const x = d as Partial<Deployment>;
    assertSafeUint('chainId', x.chainId, 1);
    assertAddress('registry', x.registry);
    assertAddress('anchors', x.anchors);
    assertSafeUint('deployBlock', x.deployBlock);
  } catch (err) {
    // The assertion messages name the field, never its value.
    throw new ConfigError([`${field}: not a deployment file (${(err as Error).message})`], source);
  }
  return d as Deployment;
}

function rpcUrlOption(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('--rpc must be an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('--rpc must be an http(s) URL');
  return value;
}

function confirmationsOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1000)
    throw new InvalidArgumentError('--confirmations must be an integer from 0 to 1000');
  return n;
}

/** The values of the options `withRegistryOptions` adds (and `--data`). */
export interface RegistryOptionValues {
  data: string;
  rpc?: string;
  deployment?: string;
  keyFile?: string;
  confirmations?: number;
}

/**
 * Adds `--rpc`, `--deployment`, `--key-file` and `--confirmations` to a command that writes
 * the registry as the KGC. `--deployment` defaults to DATA/chain/deployment.json and
 * `--key-file` to DATA/chain/kgc.key (where `vitaltrail chain deploy` and the production
 * bootstrap keep them); `--confirmations` defaults to 0 (final on QBFT/IBFT).
 * @param rpc `required` for commands that only act on the chain; `optional` where `--rpc`
 *   turns the chain step on
 */
export function withRegistryOptions(cmd: Command, rpc: 'required' | 'optional'): Command {
  const rpcHelp = 'JSON-RPC URL of the chain whose registry the KGC account writes';
  if (rpc === 'required') cmd.requiredOption('--rpc <url>', rpcHelp, rpcUrlOption);
  else cmd.option('--rpc <url>', `${rpcHelp} (an external chain: a failure there is an error)`, rpcUrlOption);
  return cmd
    .option('--deployment <file>', 'deployment JSON of `chain deploy` (default: DATA/chain/deployment.json)')
    .option('--key-file <file>', 'the KGC account key, 0x hex, mode 0600 (default: DATA/chain/kgc.key)')
    .option(
      '--confirmations <n>',
      'blocks to wait after the including one (default 0: final on QBFT)',
      confirmationsOption,
    );
}

/** The KGC's registry on an external chain, as named by the options. */
export interface ExternalRegistry {
  rpcUrl: string;
  deployment: Deployment;
  registry: RegistryClient;
}

/**
 * Opens the registry the options name, reading the deployment and key files; no I/O on the
 * chain yet. Undefined without `--rpc`.
 * @throws {ConfigError} `config_invalid` for `--deployment`/`--key-file`/`--confirmations`
 *   without `--rpc`, or a missing or malformed deployment or key file
 */
export async function externalRegistry(
  o: RegistryOptionValues,
  paths: DataPaths,
  source: string,
): Promise<ExternalRegistry | undefined> {
  if (!o.rpc) {
    if (o.deployment !== undefined || o.keyFile !== undefined || o.confirmations !== undefined)
      throw new ConfigError(['--deployment, --key-file and --confirmations need --rpc'], source);
    return undefined;
  }
  const deployment = readDeploymentFile('--deployment', o.deployment ?? paths.deployment, source);
  const privateKey = readAccountKey('--key-file', o.keyFile ?? paths.kgcAccountKey, source);
  return {
    rpcUrl: o.rpc,
    deployment,
    registry: (await ledgerClients()).createViemRegistry({
      rpcUrl: o.rpc,
      deployment,
      privateKey,
      confirmations: o.confirmations ?? 0,
    }),
  };
}

/**
 * Checks, before any write, that the node answers, serves the deployment's chain id, holds
 * both contracts there, and that the key is the registry's KGC account.
 * @throws {LedgerError} `ledger_unavailable` (no answer), `contract_missing` (wrong deployment
 *   file or chain), `not_kgc` (the key is another account's)
 */
export async function assertRegistryReady(chain: ExternalRegistry, source: string): Promise<void> {
  const { createReadClient, isDeployed, toLedgerError } = await ledgerClients();
  if (!(await isDeployed({ rpcUrl: chain.rpcUrl, deployment: chain.deployment })))
    throw new LedgerError(
      'contract_missing',
      `${source}: the deployment's contracts are not on this chain (wrong --deployment, or another chain id)`,
    );
  let kgc: Hex;
  try {
    kgc = await createReadClient(chain.rpcUrl, chain.deployment.chainId).readContract({
      address: chain.deployment.registry,
      abi: REGISTRY_ABI,
      functionName: 'kgc',
    });
  } catch (err) {
    throw toLedgerError(err, source, 'ledger_unavailable');
  }
  if (kgc.toLowerCase() !== chain.registry.account.toLowerCase())
    throw new LedgerError(
      'not_kgc',
      `${source}: ${LEDGER_ERROR_CODES.not_kgc}; --key-file holds another account`,
    );
}
