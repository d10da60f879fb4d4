/**
 * @module io/identity/registration
 * What this data directory knows of the chain registry (PROTOCOL.md §4: device id → SHA-256
 * of its certificate's SubjectPublicKeyInfo, status): which device keys were seen registered
 * as active on a given chain's registry. A gateway that anchors on that chain accepts frames
 * only from such keys (`unregistered_device` otherwise, issue 17): a frame signed by a key
 * the registry did not hold before its checkpoint was anchored can never be proven.
 *
 * The record is a cache of the chain, kept in the store's `meta` table (one row per device:
 * the key seen registered last), so a gateway restarted while its chain is down still
 * accepts every device it knew registered. It is written by whoever sees a registration: the
 * KGC commands on this data directory right after their registry transaction (`kgc enroll`,
 * `kgc sync-registry`, `sim --enroll`, the demo) and the gateway itself from the registry's
 * `DeviceRegistered` events (io/identity/identity). Revocation is not recorded here: it
 * reaches the device's store status (io/identity/devices).
 *
 * Trust: the store is the gateway's own; the chain stays the source of truth (the verifier
 * reads it, never this cache).
 */
import type { Hex } from '../../../../anchor/src/ledger/index.js';

/** The registry whose registrations are recorded: a deployment's chain id and registry address. */
export interface RegistryRef {
  chainId: number;
  registry: Hex | string;
}

/** The part of the store this module uses (io/store `GatewayStore`). */
export interface MetaStore {
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
}

const PREFIX = 'registered';

/** The meta key of `dev` on `ref`'s registry. */
export function registrationKey(ref: RegistryRef, dev: string): string {
  return `${PREFIX}:${ref.chainId}:${ref.registry.toLowerCase()}:${dev}`;
}

/**
 * Records that `ref`'s registry holds `spkiSha256` as `dev`'s active key.
 * @example
 * recordRegistration(store, deployment, 'wr-0001', spki);
 */
export function recordRegistration(
  store: MetaStore,
  ref: RegistryRef,
  dev: string,
  spkiSha256: string,
): void {
  store.setMeta(registrationKey(ref, dev), spkiSha256.toLowerCase());
}

/** Whether `spkiSha256` was recorded as `dev`'s registered key on `ref`'s registry. */
export function isRecordedRegistered(
  store: MetaStore,
  ref: RegistryRef,
  dev: string,
  spkiSha256: string,
): boolean {
  return store.getMeta(registrationKey(ref, dev)) === spkiSha256.toLowerCase();
}
