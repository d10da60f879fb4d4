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
import { enrollDevice, revokeDevice } from '../../../../anchor/src/kgc/index.js';
import type { Hex, RegistryClient } from '../../../../anchor/src/ledger/index.js';
import type { DataPaths } from '../ops/index.js';
import type { GatewayStore } from '../store/index.js';

export interface EnrolResult {
  devId: string;
  spkiSha256: Hex;
  deviceDir: string;
  /** Transaction of the on-chain registration, when a registry was given. */
  registryTx: Hex | null;
}

export async function enrolDevice(
  paths: DataPaths,
  store: GatewayStore,
  devId: string,
  registry?: RegistryClient,
): Promise<EnrolResult> {
  const e = await enrollDevice(paths.kgcDir, devId, paths.deviceDir(devId));
  store.upsertDevice({ dev: devId, certPem: e.certPem, spkiSha256: e.spkiSha256, status: 'active' });
  const registryTx = registry ? await registry.registerDevice(devId, e.spkiSha256) : null;
  return { devId, spkiSha256: e.spkiSha256, deviceDir: paths.deviceDir(devId), registryTx };
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
 * const r = await syncRegistry(store, registry, { onWrite: (w) => audit(w) });
 */
export async function syncRegistry(
  store: GatewayStore,
  registry: RegistryClient,
  opts: { onWrite?: (write: RegistryWrite) => void } = {},
): Promise<SyncRegistryResult> {
  const result: SyncRegistryResult = { registered: [], revoked: [], revokedOnChain: [], unchanged: 0 };
  const devices = store.listDevices();
  for (let at = 0; at < devices.length; at += SYNC_BATCH) {
    const batch = devices.slice(at, at + SYNC_BATCH);
    const onChain = await Promise.all(batch.map((d) => registry.getDevice(d.dev)));
    const writes: Promise<RegistryWrite>[] = [];
    const write = (dev: string, action: RegistryWrite['action'], tx: Promise<Hex>) =>
      writes.push(
        tx.then((hash) => {
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
        result.unchanged += 1;
      } else if (chain.status === 'revoked' && sameKey) {
        result.revokedOnChain.push(d.dev);
      } else {
        write(d.dev, 'registered', registry.registerDevice(d.dev, d.spkiSha256 as Hex));
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
