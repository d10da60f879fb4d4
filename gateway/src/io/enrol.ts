/**
 * @module io/enrol
 * Enrolment as the gateway sees it: the KGC issues the device's key and certificate
 * (anchor/src/kgc), the certificate is written to the gateway's store, where a running
 * gateway picks it up within seconds, and, when a ledger is reachable, the device's
 * SPKI hash is registered on chain (PROTOCOL.md §4) so auditors can see which key was
 * valid when.
 */
import { enrollDevice, revokeDevice } from '../../../anchor/src/kgc/kgc.js';
import type { Hex, RegistryClient } from '../../../anchor/src/ledger/types.js';
import type { DataPaths } from './datadir.js';
import type { GatewayStore } from './store.js';

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

/** Registers on chain every enrolled device whose current key the registry does not hold. */
export async function syncRegistry(store: GatewayStore, registry: RegistryClient): Promise<number> {
  let n = 0;
  for (const d of store.listDevices()) {
    if (d.status !== 'active') continue;
    const onChain = await registry.getDevice(d.dev);
    if (onChain.status === 'active' && onChain.spkiHash.toLowerCase() === d.spkiSha256.toLowerCase())
      continue;
    await registry.registerDevice(d.dev, d.spkiSha256 as Hex);
    n += 1;
  }
  return n;
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
  let registryTx: Hex | null = null;
  if (registry) {
    const onChain = await registry.getDevice(devId);
    if (onChain.status === 'active') registryTx = await registry.revokeDevice(devId);
  }
  return { devId, serial: r.serial, alreadyRevoked: r.alreadyRevoked, registryTx };
}
