/**
 * @module io/identity/enrol
 * Enrolment as the gateway sees it: the KGC issues the device's key and certificate
 * (anchor/src/kgc), the certificate is written to the gateway's store, where a running
 * gateway picks it up within seconds, and, when a ledger is reachable, the device's
 * SPKI hash is registered on chain (PROTOCOL.md §4) so auditors can see which key was
 * valid when. `syncRegistry` brings a registry in line with every enrolment and revocation
 * of the store at once: the demo at start, `vitaltrail kgc sync-registry` for an external
 * chain (the production shape registers its ward that way).
 */
import { enrollDevice, enrollDeviceFromCsr, revokeDevice } from '../../../../anchor/src/kgc/index.js';
import type { Hex, RegistryClient } from '../../../../anchor/src/ledger/index.js';
import type { DataPaths } from '../ops/index.js';
import type { GatewayStore } from '../store/index.js';
import { type RegistryRef, recordRegistration } from './registration.js';

/**
 * A registry to write, with the deployment it belongs to: each registration is then also
 * recorded in the store (io/identity/registration), so a gateway on this data directory that
 * anchors on that chain accepts the device at once (issue 17).
 */
export interface ChainRegistry {
  client: RegistryClient;
  ref: RegistryRef;
}

/** The client of a `RegistryClient | ChainRegistry`, and its deployment when known. */
function split(registry: RegistryClient | ChainRegistry): { client: RegistryClient; ref?: RegistryRef } {
  return 'client' in registry ? registry : { client: registry };
}

/** Registers `devId`'s key and records the registration (with a known deployment). */
async function register(
  store: GatewayStore,
  registry: RegistryClient | ChainRegistry,
  devId: string,
  spki: Hex,
): Promise<Hex> {
  const { client, ref } = split(registry);
  const tx = await client.registerDevice(devId, spki);
  if (ref) recordRegistration(store, ref, devId, spki);
  return tx;
}

export interface EnrolResult {
  devId: string;
  spkiSha256: Hex;
  deviceDir: string;
  /** Transaction of the on-chain registration, when a registry was given. */
  registryTx: Hex | null;
}

/**
 * Enrols a device with a key the KGC makes (DATA/devices/<id>/), writes it to the store and,
 * given a registry, registers its key there (recorded in the store with a `ChainRegistry`).
 * @throws {LedgerError} from the registry, after the local enrolment is done.
 */
export async function enrolDevice(
  paths: DataPaths,
  store: GatewayStore,
  devId: string,
  registry?: RegistryClient | ChainRegistry,
): Promise<EnrolResult> {
  const e = await enrollDevice(paths.kgcDir, devId, paths.deviceDir(devId));
  store.upsertDevice({ dev: devId, certPem: e.certPem, spkiSha256: e.spkiSha256, status: 'active' });
  const registryTx = registry ? await register(store, registry, devId, e.spkiSha256) : null;
  return { devId, spkiSha256: e.spkiSha256, deviceDir: paths.deviceDir(devId), registryTx };
}

export interface CsrEnrolResult {
  devId: string;
  spkiSha256: Hex;
  certPem: string;
  serial: string;
  /** The KGC issuing CA and root certificates (the device's TLS chain). */
  issuingCertPem: string;
  rootCertPem: string;
  /** Transaction of the on-chain registration, when a registry was given. */
  registryTx: Hex | null;
}

/**
 * Enrols a device from its PKCS#10 request (anchor/src/kgc/csr; issue 17): the KGC checks
 * the request and certifies the device's own key, the certificate goes to the store like any
 * enrolment's, and, given a registry, the key is registered there. No private key is made,
 * seen or stored.
 * @param opts.devId the device id expected in the request's commonName
 * @throws {CsrError} `csr_malformed`, `csr_unsupported_key`, `csr_bad_signature`,
 *   `csr_bad_subject`: nothing is issued or written.
 * @throws {LedgerError} from the registry, after the local enrolment is done.
 * @example
 * const r = await enrolDeviceFromCsr(paths, store, readFileSync('wr-0042.csr', 'utf8'));
 */
export async function enrolDeviceFromCsr(
  paths: DataPaths,
  store: GatewayStore,
  csr: string | Uint8Array,
  opts: { devId?: string; registry?: RegistryClient | ChainRegistry } = {},
): Promise<CsrEnrolResult> {
  const e = await enrollDeviceFromCsr(
    paths.kgcDir,
    csr,
    opts.devId === undefined ? {} : { devId: opts.devId },
  );
  store.upsertDevice({ dev: e.devId, certPem: e.certPem, spkiSha256: e.spkiSha256, status: 'active' });
  const registryTx = opts.registry ? await register(store, opts.registry, e.devId, e.spkiSha256) : null;
  return { ...e, registryTx };
}

/** One registry write of `syncRegistry`. */
export interface RegistryWrite {
  dev: string;
  action: 'registered' | 'revoked';
  tx: Hex;
}

export interface SyncRegistryResult {
  /** Active devices registered (new, or with a key the registry did not hold), in store order. */
  registered: RegistryWrite[];
  /** Revoked devices whose key was still active in the registry, now revoked there. */
  revoked: RegistryWrite[];
  /**
   * Active here, but the registry revoked this very key (e.g. another consortium member
   * revoked it on chain). The registry never takes a revoked key back: re-enrol the device
   * (a new key), or revoke it here too.
   */
  revokedOnChain: string[];
  /** Devices the registry already matched (status and key). */
  unchanged: number;
}

/** Devices read from the registry at once (one `eth_call` each). */
const SYNC_BATCH = 32;

/**
 * Brings the registry in line with the enrolments in the store (PROTOCOL.md §4: device id →
 * SHA-256 of SPKI, status): registers every active device whose current key the registry
 * does not hold as active, and revokes on chain every device revoked here whose key is still
 * active there. A device revoked here and never registered stays unregistered (the registry
 * trusts it nowhere). Idempotent: a second run writes nothing. Writes within a batch are
 * pipelined (nonces in order); `onWrite` hears of each one as its receipt arrives.
 * @throws {LedgerError} from the registry (`ledger_unavailable`, `contract_missing`, `not_kgc`,
 *   `registry_rejected`, `tx_failed`) after the writes in flight have settled; those that
 *   landed were reported to `onWrite`, and a run again does the rest.
 * @example
 * @param opts.devices only these devices of the store (default: every one)
 * const r = await syncRegistry(store, registry, { onWrite: (w) => audit(w) });
 */
export async function syncRegistry(
  store: GatewayStore,
  chainRegistry: RegistryClient | ChainRegistry,
  opts: { onWrite?: (write: RegistryWrite) => void; devices?: readonly string[] } = {},
): Promise<SyncRegistryResult> {
  const { client: registry, ref } = split(chainRegistry);
  const result: SyncRegistryResult = { registered: [], revoked: [], revokedOnChain: [], unchanged: 0 };
  const only = opts.devices ? new Set(opts.devices) : undefined;
  const devices = store.devices().filter((d) => only?.has(d.dev) ?? true);
  for (let at = 0; at < devices.length; at += SYNC_BATCH) {
    const batch = devices.slice(at, at + SYNC_BATCH);
    const onChain = await Promise.all(batch.map((d) => registry.getDevice(d.dev)));
    const writes: Promise<RegistryWrite>[] = [];
    const write = (dev: string, action: RegistryWrite['action'], tx: Promise<Hex>, spki?: Hex) =>
      writes.push(
        tx.then((hash) => {
          if (spki && ref) recordRegistration(store, ref, dev, spki);
          const w: RegistryWrite = { dev, action, tx: hash };
          opts.onWrite?.(w);
          return w;
        }),
      );
    for (const [i, d] of batch.entries()) {
      const chain = onChain[i]!;
      const sameKey = chain.spkiHash.toLowerCase() === d.spkiSha256.toLowerCase();
      if (d.status === 'revoked') {
        if (chain.status === 'active') write(d.dev, 'revoked', registry.revokeDevice(d.dev));
        else result.unchanged += 1;
      } else if (chain.status === 'active' && sameKey) {
        if (ref) recordRegistration(store, ref, d.dev, d.spkiSha256);
        result.unchanged += 1;
      } else if (chain.status === 'revoked' && sameKey) {
        result.revokedOnChain.push(d.dev);
      } else {
        const spki = d.spkiSha256 as Hex;
        write(d.dev, 'registered', registry.registerDevice(d.dev, spki), spki);
      }
    }
    const settled = await Promise.allSettled(writes);
    for (const s of settled) if (s.status === 'fulfilled') result[s.value.action].push(s.value);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  }
  return result;
}

/**
 * Revokes the device's key in the registry if it is active there.
 * @returns the transaction, or null when the registry did not hold it as active.
 */
export async function revokeOnRegistry(registry: RegistryClient, devId: string): Promise<Hex | null> {
  const onChain = await registry.getDevice(devId);
  return onChain.status === 'active' ? registry.revokeDevice(devId) : null;
}

export interface RevokeResult {
  devId: string;
  serial: string;
  alreadyRevoked: boolean;
  /** Transaction of the on-chain revocation, when a registry was given and the device was active there. */
  registryTx: Hex | null;
}

/**
 * Revokes a device everywhere the gateway side can: the KGC's record and signed CRL, the
 * store's device status (a running gateway refuses its frames with `revoked_device` and
 * closes its sessions within one refresh), and the chain registry when given.
 * @throws {KgcError} `kgc_unknown_device` when the KGC never issued a certificate to `devId`.
 * @example
 * await revokeEnrolledDevice(paths, store, 'wr-0042', registry);
 */
export async function revokeEnrolledDevice(
  paths: DataPaths,
  store: GatewayStore,
  devId: string,
  registry?: RegistryClient,
): Promise<RevokeResult> {
  const r = await revokeDevice(paths.kgcDir, devId);
  const row = store.getDevice(devId);
  if (row && row.status !== 'revoked') store.upsertDevice({ ...row, status: 'revoked' });
  const registryTx = registry ? await revokeOnRegistry(registry, devId) : null;
  return { devId, serial: r.serial, alreadyRevoked: r.alreadyRevoked, registryTx };
}
