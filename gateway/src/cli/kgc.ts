/**
 * @module cli/kgc
 * `vitaltrail kgc …` (the consortium's Key Generation Center: ARCHITECTURE.md "KGC: CLI
 * commands on local key files"). Enrolment, revocation and gateway certificates are
 * written to the gateway's audit log; passphrases come from a file or stdin, never the
 * command line.
 *
 * The registry (PROTOCOL.md §4) is written by the KGC account: `enroll` and `revoke` write it
 * on the embedded chain when it runs (found through DATA/chain/endpoint.json), or on the
 * external chain named by `--rpc` (deployment and key files as for `kgc sync-registry`, which
 * brings an external registry in line with every enrolment and revocation at once). Every
 * registry write is an audit event. `kgc enroll` (with `--csr`, enrolment from the device's
 * own PKCS#10 request, issue 17) and the helpers these commands share live in cli/kgc-enroll.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  devicePkcs12,
  GATEWAY_CERT_FILE,
  GATEWAY_KEY_FILE,
  initKgc,
  issueGatewayCertificate,
  listIssued,
  MIN_P12_PASSPHRASE_LENGTH,
  refreshCrls,
} from '../../../anchor/src/kgc/index.js';
import type { Hex } from '../../../anchor/src/ledger/index.js';
import { ConfigError } from '../app/config.js';
import {
  revokeEnrolledDevice,
  revokeOnRegistry,
  type SyncRegistryResult,
  syncRegistry,
} from '../io/identity/index.js';
import { AuditLog, checkOutputPath, type DataPaths, dataPaths, writeOutputFile } from '../io/ops/index.js';
import { openStore } from '../io/store/index.js';
import {
  assertRegistryReady,
  type ExternalRegistry,
  externalRegistry,
  type RegistryOptionValues,
  withRegistryOptions,
} from './chain-options.js';
import { UsageError } from './errors.js';
import { dataDirOption, deviceIdOption, readSecretLine } from './inputs.js';
import {
  auditNow,
  chainRegistryOf,
  onChainStep,
  registerEnrollCommand,
  registryOf,
  registryWriteEvent,
  withStore,
} from './kgc-enroll.js';

export { reachableChain } from './kgc-enroll.js';

/** Where `kgc gateway-cert` writes by default, and `vitaltrail gateway` looks: DATA/gateway/tls. */
export function gatewayTlsDir(paths: DataPaths): string {
  return join(paths.gatewayDir, 'tls');
}

/** Reads a passphrase: first line of `file`, or one line of stdin (echo off on a terminal). */
async function readPassphrase(file: string | undefined): Promise<string> {
  if (file) return (readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '').toString();
  return readSecretLine('PKCS#12 passphrase: ');
}

/**
 * Adds `kgc init|enroll|revoke|sync-registry|list|gateway-cert|export-p12` to the program.
 * @example
 * registerKgcCommands(program, '.vitaltrail/demo');
 */
export function registerKgcCommands(program: Command, defaultDataDir: string): void {
  const kgc = program
    .command('kgc')
    .description(
      "the consortium's Key Generation Center: root + issuing CA (P-256), device and gateway certificates, CRL",
    );
  kgc
    .command('init')
    .description(
      'create the KGC root key (0600), its self-signed certificate and the issuing CA, if not there yet ' +
        '(adds the issuing CA to a root-only KGC)',
    )
    .addOption(dataDirOption(defaultDataDir))
    .action(async (o) => {
      const paths = dataPaths(o.data);
      const r = await initKgc(paths.kgcDir);
      if (r.created) auditNow(paths, 'kgc_initialized', {});
      process.stdout.write(
        `${r.created ? 'created' : 'already initialised'}: KGC root ${paths.kgcRootCert} (issuing CA in ${paths.kgcDir})\n`,
      );
    });

  registerEnrollCommand(kgc, defaultDataDir);

  withRegistryOptions(
    kgc
      .command('revoke')
      .description(
        'revoke a device: KGC record and signed CRL, gateway store (a running gateway refuses its frames and ' +
          'closes its sessions within seconds), then the chain registry: the external chain of --rpc, else the ' +
          'embedded chain when it is running',
      )
      .requiredOption('--device <id>', 'device id', deviceIdOption)
      .addOption(dataDirOption(defaultDataDir)),
    'optional',
  ).action(async (o: RegistryOptionValues & { device: string }) => {
    const paths = dataPaths(o.data);
    // Option files first; the chain only after the local revocation, which must not wait for it.
    const external = await externalRegistry(o, paths, 'kgc revoke');
    const r = await withStore(paths.db, (store) => revokeEnrolledDevice(paths, store, o.device));
    auditNow(paths, 'device_revoked', { dev: r.devId, serial: r.serial, source: 'kgc' });
    process.stdout.write(
      `${r.alreadyRevoked ? 'already revoked' : 'revoked'} ${r.devId} (certificate serial ${r.serial})\n`,
    );
    const registry = external?.registry ?? (await registryOf(o.data))?.client;
    const tx = registry
      ? await onChainStep(async () => {
          if (external) await assertRegistryReady(external, 'kgc revoke');
          return revokeOnRegistry(registry, r.devId);
        }, 'revoked')
      : null;
    if (tx) auditNow(paths, ...registryWriteEvent({ dev: r.devId, action: 'revoked', tx }));
    process.stdout.write(
      tx
        ? `  revoked on chain: tx ${tx}\n`
        : '  not revoked on chain (no running chain, or not active there)\n',
    );
  });

  withRegistryOptions(
    kgc
      .command('sync-registry')
      .description(
        "bring a chain's registry in line with the enrolments in DATA (the KGC's): register every active device " +
          'the registry does not hold with its current key, revoke there every device revoked here; safe to run ' +
          'again (writes nothing when in line); exit 1 when a key active here is revoked on chain',
      )
      .addOption(dataDirOption(defaultDataDir))
      .option('--json', 'print JSON'),
    'required',
  ).action(async (o: RegistryOptionValues & { json?: boolean }) => {
    const source = 'kgc sync-registry';
    const paths = dataPaths(o.data);
    if (!existsSync(paths.db))
      throw new ConfigError(['--data: no enrolments there (no DATA/gateway/gateway.db)'], source);
    const chain = (await externalRegistry(o, paths, source)) as ExternalRegistry;
    await assertRegistryReady(chain, source);
    const store = openStore(paths.db);
    const audit = new AuditLog(paths.gatewayDir);
    let r: SyncRegistryResult;
    try {
      r = await syncRegistry(store, chainRegistryOf(chain), {
        onWrite: (w) => {
          if (!o.json) process.stdout.write(`  ${w.action.padEnd(10)} ${w.dev}  tx ${w.tx}\n`);
          audit.append(...registryWriteEvent(w));
        },
      });
    } finally {
      store.close();
      audit.close();
    }
    audit.throwIfUnwritten(); // the chain writes stand; their audit lines did not: say so (exit 2)
    if (o.json) {
      process.stdout.write(
        `${JSON.stringify({ registry: chain.deployment.registry, chainId: chain.deployment.chainId, ...r }, null, 2)}\n`,
      );
    } else {
      for (const dev of r.revokedOnChain)
        process.stdout.write(
          `  NOT REGISTERED ${dev}: its key is revoked on chain; re-enrol it (kgc enroll) or revoke it here\n`,
        );
      process.stdout.write(
        `registry ${chain.deployment.registry} (chain ${chain.deployment.chainId}): ${r.registered.length} ` +
          `registered, ${r.revoked.length} revoked, ${r.unchanged} already in line` +
          (r.revokedOnChain.length ? `, ${r.revokedOnChain.length} revoked on chain but active here` : '') +
          '\n',
      );
    }
    if (r.revokedOnChain.length > 0) process.exitCode = 1;
  });

  kgc
    .command('crl')
    .description(
      'sign the CRLs again now, from the revocation records, into DATA/kgc/crl/crl.pem (public: share that ' +
        'directory read-only); each is current for 7 days, so where a TLS terminator checks them (Mosquitto ' +
        'crlfile) run this daily',
    )
    .addOption(dataDirOption(defaultDataDir))
    .action(async (o) => {
      const r = await refreshCrls(dataPaths(o.data).kgcDir);
      process.stdout.write(`signed ${r.crlPath} (next update ${r.nextUpdate.toISOString()})\n`);
    });

  kgc
    .command('list')
    .description('list the device certificates the KGC issued: id, status, serial, expiry')
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((o) => {
      const rows = listIssued(dataPaths(o.data).kgcDir).map((r) => ({
        dev: r.devId,
        status: r.status,
        serial: r.serial,
        notAfter: new Date(r.notAfter).toISOString(),
        ...(r.revokedAt ? { revokedAt: new Date(r.revokedAt).toISOString() } : {}),
      }));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${'DEVICE'.padEnd(24)} ${'STATUS'.padEnd(8)} ${'SERIAL'.padEnd(32)} NOT AFTER\n`);
      for (const r of rows) {
        process.stdout.write(
          `${r.dev.padEnd(24)} ${r.status.padEnd(8)} ${r.serial.padEnd(32)} ${r.notAfter}\n`,
        );
      }
      process.stdout.write(`${rows.length} device certificate(s)\n`);
    });

  kgc
    .command('gateway-cert')
    .description(
      'issue (or rotate) the gateway TLS server certificate: serverAuth, SAN localhost/127.0.0.1/::1 + names, ' +
        'and the on-chain account as SAN URI ethereum:0x…; writes server.key.pem (0600), server.cert.pem, ca.cert.pem',
    )
    .requiredOption('--name <name...>', 'DNS names or IPv4 addresses the gateway is reached at (first = CN)')
    .option(
      '--account <0x…>',
      "the gateway's on-chain account (default: DATA/chain/gateway.key's, if present)",
    )
    .option('--key-type <type>', 'p256 | rsa3072', 'p256')
    .option('--out <dir>', 'output directory (default DATA/gateway/tls)')
    .addOption(dataDirOption(defaultDataDir))
    .action(async (o) => {
      const paths = dataPaths(o.data);
      if (o.keyType !== 'p256' && o.keyType !== 'rsa3072')
        throw new UsageError('--key-type must be p256 or rsa3072');
      const account = o.account ?? (await defaultGatewayAccount(paths));
      const out = o.out ?? gatewayTlsDir(paths);
      try {
        const g = await issueGatewayCertificate(paths.kgcDir, out, {
          names: o.name,
          ...(account ? { account } : {}),
          keyType: o.keyType,
        });
        auditNow(paths, 'gateway_certificate_issued', { serial: g.serial, detail: o.name.join(',') });
        process.stdout.write(
          `gateway certificate ${g.serial}\n  key: ${g.keyPath}\n  chain: ${g.certPath}\n  clients trust: ${g.caPath}\n` +
            `  account: ${g.account ?? '(none)'}\n  a running gateway uses it after a restart\n`,
        );
      } catch (err) {
        if (err instanceof RangeError)
          throw new UsageError(err.message.replace(/^issueGatewayCertificate: /, ''));
        throw err;
      }
    });

  kgc
    .command('export-p12')
    .description(
      `write the device's key, certificate and KGC chain as PKCS#12 (mode 0600), encrypted with a passphrase ` +
        `(at least ${MIN_P12_PASSPHRASE_LENGTH} characters) read from --passphrase-file or stdin, never the command line`,
    )
    .requiredOption('--device <id>', 'device id', deviceIdOption)
    .requiredOption('--out <file>', 'output file (.p12)')
    .option(
      '--passphrase-file <file>',
      'read the passphrase from the first line of this file (default: stdin)',
    )
    .addOption(dataDirOption(defaultDataDir))
    .action(async (o) => {
      const paths = dataPaths(o.data);
      checkOutputPath(o.out); // before the passphrase prompt
      const passphrase = await readPassphrase(o.passphraseFile);
      try {
        writeOutputFile(o.out, devicePkcs12(paths.deviceDir(o.device), o.device, passphrase));
      } catch (err) {
        if (err instanceof RangeError) throw new UsageError(err.message.replace(/^exportPkcs12: /, ''));
        throw err;
      }
      process.stdout.write(`wrote ${o.out} (PKCS#12, mode 0600)\n`);
    });
}

async function defaultGatewayAccount(paths: DataPaths): Promise<string | undefined> {
  try {
    return await accountOf(readFileSync(paths.gatewayAccountKey, 'utf8').trim() as Hex);
  } catch {
    return undefined;
  }
}

async function accountOf(key: Hex): Promise<string> {
  const { privateKeyToAccount } = await import('viem/accounts');
  return privateKeyToAccount(key).address;
}

/**
 * The gateway's TLS server certificate in DATA/gateway/tls, issued on first use (names
 * localhost/127.0.0.1, the gateway's chain account as SAN URI). Used by the demo.
 * @example
 * const { certPath, keyPath } = await ensureGatewayCertificate(paths, gatewayKey);
 */
export async function ensureGatewayCertificate(
  paths: DataPaths,
  gatewayKey?: Hex,
): Promise<{ certPath: string; keyPath: string; issued: boolean }> {
  const dir = gatewayTlsDir(paths);
  const certPath = join(dir, GATEWAY_CERT_FILE);
  const keyPath = join(dir, GATEWAY_KEY_FILE);
  if (existsSync(certPath) && existsSync(keyPath)) return { certPath, keyPath, issued: false };
  const account = gatewayKey ? await accountOf(gatewayKey) : undefined;
  const g = await issueGatewayCertificate(paths.kgcDir, dir, {
    names: ['localhost'],
    ...(account ? { account } : {}),
  });
  auditNow(paths, 'gateway_certificate_issued', { serial: g.serial, detail: 'localhost' });
  return { certPath, keyPath, issued: true };
}
