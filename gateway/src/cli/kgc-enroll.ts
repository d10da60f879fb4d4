/**
 * @module cli/kgc-enroll
 * `vitaltrail kgc enroll` (issue 3; issue 17 for `--csr`) and the helpers the KGC commands
 * share: the data directory's running chain, the registry a command writes, audit lines and
 * the store. With `--device` the KGC makes the device's key; with `--csr FILE` the device
 * made it and sends a PKCS#10 request (RFC 2986), which the KGC checks (anchor/src/kgc/csr)
 * and certifies without ever seeing the private key: only the certificate is written, to
 * `--out`. Either way the device goes to the store and, when a chain is configured or
 * running, its key is registered there before the command returns (PROTOCOL.md §4), so a
 * gateway anchoring on that chain accepts its first frame.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { initKgc, MAX_CSR_BYTES } from '../../../anchor/src/kgc/index.js';
import type { Deployment, Hex } from '../../../anchor/src/ledger/index.js';
import {
  type ChainRegistry,
  enrolDevice,
  enrolDeviceFromCsr,
  type RegistryWrite,
  recordRegistration,
} from '../io/identity/index.js';
import {
  AuditLog,
  checkOutputPath,
  type DataPaths,
  dataPaths,
  readJson,
  writeOutputFile,
} from '../io/ops/index.js';
import { type GatewayStore, openStore } from '../io/store/index.js';
import {
  assertRegistryReady,
  type ExternalRegistry,
  externalRegistry,
  ledgerClients,
  type RegistryOptionValues,
  withRegistryOptions,
} from './chain-options.js';
import { CliError, UsageError } from './errors.js';
import { dataDirOption, deviceIdOption } from './inputs.js';

/** The chain the data dir's embedded node serves, if it is running. */
export async function reachableChain(
  dataDir: string,
): Promise<{ rpcUrl: string; deployment: Deployment; kgcKey: Hex } | null> {
  const paths = dataPaths(dataDir);
  const endpoint = readJson<{ rpcUrl: string }>(paths.endpoint);
  const deployment = readJson<Deployment>(paths.deployment);
  if (!endpoint || !deployment) return null;
  try {
    const res = await fetch(endpoint.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1500),
    });
    if (!res.ok) return null;
  } catch {
    return null;
  }
  const kgcKey = readFileSync(paths.kgcAccountKey, 'utf8').trim() as Hex;
  return { rpcUrl: endpoint.rpcUrl, deployment, kgcKey };
}

export async function registryOf(dataDir: string): Promise<ChainRegistry | undefined> {
  const chain = await reachableChain(dataDir);
  return chain
    ? {
        client: (await ledgerClients()).createViemRegistry({
          rpcUrl: chain.rpcUrl,
          deployment: chain.deployment,
          privateKey: chain.kgcKey,
        }),
        ref: chain.deployment,
      }
    : undefined;
}

/** The registry of `--rpc …`, with its deployment (registrations are recorded in the store). */
export function chainRegistryOf(external: ExternalRegistry): ChainRegistry {
  return { client: external.registry, ref: external.deployment };
}

/**
 * Reads a certificate signing request file of at most `MAX_CSR_BYTES`, checked on the open
 * descriptor before reading (the file is the requester's).
 * @throws {CliError} `input_too_large` over the cap; {UsageError} when it cannot be read.
 */
function readCsrFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new UsageError('--csr: the file cannot be read');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError('--csr: not a regular file');
    if (st.size > MAX_CSR_BYTES)
      throw new CliError(
        'input_too_large',
        `--csr: the request is larger than the cap of ${MAX_CSR_BYTES} bytes`,
      );
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

interface EnrollOptions extends RegistryOptionValues {
  device?: string;
  csr?: string;
  out?: string;
  json?: boolean;
}

/** Appends one event to DATA/gateway/audit.log (shared with a running gateway under its lock). */
export function auditNow(paths: DataPaths, ...event: Parameters<AuditLog['append']>): void {
  const audit = new AuditLog(paths.gatewayDir);
  audit.append(...event);
  audit.flush();
  audit.close();
}

/** Runs `fn` on the store at `db` and closes the store, whatever `fn` does. */
export async function withStore<T>(db: string, fn: (store: GatewayStore) => Promise<T>): Promise<T> {
  const store = openStore(db);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** A write of the KGC account to the chain registry, as an audit event (a key change). */
export function registryWriteEvent(w: RegistryWrite): Parameters<AuditLog['append']> {
  const event = w.action === 'registered' ? 'device_registered_on_chain' : 'device_revoked_on_chain';
  return [event, { dev: w.dev, source: 'kgc', detail: `tx ${w.tx}` }];
}

/**
 * The chain step of `enroll`/`revoke`, after the local one is done and printed: a failure is
 * still an error (exit 2), with a line saying what already happened and how to finish.
 */
export async function onChainStep<T>(step: () => Promise<T>, done: 'enrolled' | 'revoked'): Promise<T> {
  try {
    return await step();
  } catch (err) {
    process.stderr.write(
      `${done} here, but not on chain: run \`vitaltrail kgc sync-registry\` once the chain is reachable\n`,
    );
    throw err;
  }
}

/**
 * Adds `kgc enroll` to the `kgc` command.
 * @example
 * registerEnrollCommand(program.command('kgc'), '.vitaltrail/demo');
 */
export function registerEnrollCommand(kgc: Command, defaultDataDir: string): void {
  withRegistryOptions(
    kgc
      .command('enroll')
      .description(
        'issue a device certificate and register the device with the gateway, and on chain: on the external ' +
          'chain of --rpc (checked before anything is issued), else on the embedded chain when it is running; a ' +
          'running gateway accepts it within seconds. With --device the KGC makes the key (PEM files in ' +
          'DATA/devices/<id>/); with --csr the device made it and sends a PKCS#10 request (its CN is the device ' +
          'id): the KGC checks the request and writes only the certificate, to --out, never seeing the private key',
      )
      .option(
        '--device <id>',
        "device id, 1-64 chars of [A-Za-z0-9._-], not '.' or '..', not starting with '-' (with --csr: the id the request must name)",
        deviceIdOption,
      )
      .option('--csr <file>', "the device's PKCS#10 certificate signing request (PEM or DER, P-256 key)")
      .option('--out <file>', 'with --csr: where to write the certificate (PEM)')
      .option('--json', 'print JSON')
      .addOption(dataDirOption(defaultDataDir)),
    'optional',
  ).action(async (o: EnrollOptions) => {
    if (o.csr === undefined && o.device === undefined)
      throw new UsageError("required option '--device <id>' or '--csr <file>' not specified");
    if (o.csr !== undefined && o.out === undefined) throw new UsageError('--csr needs --out <file>');
    if (o.csr === undefined && o.out !== undefined) throw new UsageError('--out goes with --csr');
    const paths = dataPaths(o.data);
    const external = await externalRegistry(o, paths, 'kgc enroll');
    const csr = o.csr === undefined ? undefined : readCsrFile(o.csr);
    if (o.out !== undefined) checkOutputPath(o.out); // before anything is issued
    if (external) await assertRegistryReady(external, 'kgc enroll');
    await initKgc(paths.kgcDir);
    const r = await withStore(paths.db, async (store) => {
      if (csr === undefined) {
        const e = await enrolDevice(paths, store, o.device as string);
        return { devId: e.devId, spkiSha256: e.spkiSha256, deviceDir: e.deviceDir, serial: null };
      }
      const e = await enrolDeviceFromCsr(
        paths,
        store,
        csr,
        o.device === undefined ? {} : { devId: o.device },
      );
      writeOutputFile(o.out as string, e.certPem);
      return { devId: e.devId, spkiSha256: e.spkiSha256, deviceDir: null, serial: e.serial };
    });
    auditNow(paths, 'device_enrolled', {
      dev: r.devId,
      source: 'kgc',
      ...(csr === undefined ? {} : { detail: 'csr' }),
    });
    const summary = {
      dev: r.devId,
      spkiSha256: r.spkiSha256,
      ...(r.deviceDir === null
        ? { certificate: o.out as string, serial: r.serial }
        : { deviceDir: r.deviceDir }),
    };
    if (!o.json) {
      process.stdout.write(
        r.deviceDir === null
          ? `enrolled ${r.devId} from its request\n  certificate: ${o.out}\n  SPKI SHA-256: ${r.spkiSha256}\n`
          : `enrolled ${r.devId}\n  key and certificate: ${r.deviceDir}\n  SPKI SHA-256: ${r.spkiSha256}\n`,
      );
    }
    const registry = external ? chainRegistryOf(external) : await registryOf(o.data);
    if (!registry) {
      if (o.json) process.stdout.write(`${JSON.stringify({ ...summary, registryTx: null }, null, 2)}\n`);
      else
        process.stdout.write(
          '  not registered on chain yet (no running chain); the demo registers it at its next start, ' +
            '`kgc sync-registry --rpc URL` on an external chain\n',
        );
      return;
    }
    const tx = await onChainStep(() => registry.client.registerDevice(r.devId, r.spkiSha256), 'enrolled');
    await withStore(paths.db, async (store) =>
      recordRegistration(store, registry.ref, r.devId, r.spkiSha256),
    );
    auditNow(paths, ...registryWriteEvent({ dev: r.devId, action: 'registered', tx }));
    process.stdout.write(
      o.json
        ? `${JSON.stringify({ ...summary, registryTx: tx }, null, 2)}\n`
        : `  registered on chain: tx ${tx}\n`,
    );
  });
}
