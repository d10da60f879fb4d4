/**
 * @module io/devices
 * The gateway's view of the KGC device registry: certificates enrolled in the store
 * (written by `vitaltrail kgc enroll`, possibly from another process), checked against
 * the KGC root and its issuing CA once when loaded, then kept in memory for the per-frame
 * hot path (PROTOCOL.md §1 `unknown_device`, `revoked_device`, `expired_certificate`).
 *
 * A lookup miss reads the store (with a short negative cache, so a flood of frames for
 * unknown ids cannot hammer the database); `refresh()` picks up enrolments and status
 * changes made since the last call. Both make a new enrolment effective within seconds.
 *
 * Revocation has three sources, any one of which suffices: the store's device status
 * (`kgc revoke`), the KGC's signed CRL (`setRevokedSerials`, read by the gateway from
 * `DATA/kgc/crl.pem`), and the chain registry's `DeviceRevoked` events (the gateway marks
 * the store). A device seen revoked for the first time is reported once to `onRevoked`.
 */
import { X509Certificate } from 'node:crypto';
import { spkiSha256, verifyCertificateChain } from '../../../anchor/src/kgc/chain.js';
import type { DeviceRecord } from '../core/acceptance.js';
import type { DeviceRow, GatewayStore } from './store.js';

const NEGATIVE_CACHE_MS = 1000;

/** The KGC's public trust material: the root and its intermediates (the issuing CA). */
export interface KgcTrust {
  rootPem: string;
  intermediatesPem: readonly string[];
}

/** Why a presented client certificate is not the device's current, active one. */
export type PeerCertificateVerdict =
  | { ok: true }
  | { ok: false; code: 'unknown_device' | 'revoked_device' | 'superseded_certificate' };

export type RevocationSource = 'store' | 'crl' | 'registry';

export interface DeviceRegistryOptions {
  now?: () => number;
  /** Called once per device when it is first seen revoked (not for devices revoked before start). */
  onRevoked?: (dev: string, source: RevocationSource) => void;
}

export class DeviceRegistry {
  readonly #store: GatewayStore;
  readonly #trust: KgcTrust;
  readonly #now: () => number;
  readonly #onRevoked: ((dev: string, source: RevocationSource) => void) | undefined;
  readonly #cache = new Map<string, DeviceRecord & { serial: string; spkiSha256: string }>();
  readonly #misses = new Map<string, number>();
  /** Devices known revoked (reported already). */
  readonly #revoked = new Set<string>();
  #revokedSerials: ReadonlySet<string> = new Set();
  #lastRefresh = 0;
  #started = false;

  /**
   * @param kgc the KGC root PEM, or root + intermediates (a root-only KGC of earlier
   *   releases signed devices directly; both verify).
   */
  constructor(
    store: GatewayStore,
    kgc: string | KgcTrust,
    opts: DeviceRegistryOptions | (() => number) = {},
  ) {
    this.#store = store;
    this.#trust = typeof kgc === 'string' ? { rootPem: kgc, intermediatesPem: [] } : kgc;
    const o = typeof opts === 'function' ? { now: opts } : opts;
    this.#now = o.now ?? Date.now;
    this.#onRevoked = o.onRevoked;
  }

  lookup(dev: string): DeviceRecord | undefined {
    const hit = this.#cache.get(dev);
    if (hit) return hit;
    const now = this.#now();
    const missAt = this.#misses.get(dev);
    if (missAt !== undefined && now - missAt < NEGATIVE_CACHE_MS) return undefined;
    const row = this.#store.getDevice(dev);
    const rec = row ? this.#toRecord(row) : undefined;
    if (rec) {
      this.#cache.set(dev, rec);
      this.#misses.delete(dev);
    } else {
      if (this.#misses.size > 10_000) this.#misses.clear();
      this.#misses.set(dev, now);
    }
    return rec;
  }

  /** Reloads devices enrolled or changed since the last refresh. */
  refresh(): void {
    const since = this.#lastRefresh;
    this.#lastRefresh = Date.now() - 1000; // overlap: rows written during this read are seen next time
    for (const row of this.#store.listDevices()) {
      if (row.updatedAt < since) continue;
      const rec = this.#toRecord(row);
      if (rec) this.#cache.set(row.dev, rec);
      else this.#cache.delete(row.dev);
      this.#misses.delete(row.dev);
      if (rec?.status === 'revoked') this.#noteRevoked(row.dev, 'store');
    }
    this.#started = true;
  }

  /**
   * Replaces the set of revoked certificate serials (lowercase hex, from the KGC's CRL).
   * A cached device whose certificate is listed becomes revoked at once.
   */
  setRevokedSerials(serials: ReadonlySet<string>): void {
    this.#revokedSerials = serials;
    for (const [dev, rec] of this.#cache) {
      if (rec.status === 'active' && serials.has(rec.serial)) {
        this.#cache.set(dev, { ...rec, status: 'revoked' });
        this.#noteRevoked(dev, 'crl');
      }
    }
  }

  /** Device ids currently known and trusted. */
  known(): string[] {
    return [...this.#cache.keys()];
  }

  /**
   * Whether a TLS client certificate (already chain-checked) is the current, active
   * certificate of `dev`: the store's certificate for the device has the same key, and
   * neither the store, the CRL nor the registry says revoked.
   */
  checkPeerCertificate(dev: string, peer: { spkiSha256: string; serial: string }): PeerCertificateVerdict {
    if (this.#revokedSerials.has(peer.serial.toLowerCase())) return { ok: false, code: 'revoked_device' };
    this.lookup(dev);
    const rec = this.#cache.get(dev);
    if (!rec) return { ok: false, code: 'unknown_device' };
    if (rec.status === 'revoked') return { ok: false, code: 'revoked_device' };
    if (rec.spkiSha256.toLowerCase() !== peer.spkiSha256.toLowerCase()) {
      return { ok: false, code: 'superseded_certificate' };
    }
    return { ok: true };
  }

  /** Marks a device revoked now (e.g. from a registry event), reporting it once. */
  markRevoked(dev: string, source: RevocationSource): void {
    const rec = this.#cache.get(dev);
    if (rec && rec.status !== 'revoked') this.#cache.set(dev, { ...rec, status: 'revoked' });
    this.#noteRevoked(dev, source);
  }

  #noteRevoked(dev: string, source: RevocationSource): void {
    if (this.#revoked.has(dev)) return;
    this.#revoked.add(dev);
    if (this.#started) this.#onRevoked?.(dev, source);
  }

  #toRecord(row: DeviceRow): (DeviceRecord & { serial: string; spkiSha256: string }) | undefined {
    const { rootPem, intermediatesPem } = this.#trust;
    const check = verifyCertificateChain(row.certPem, rootPem, intermediatesPem, this.#now());
    const cert = new X509Certificate(row.certPem);
    const serial = cert.serialNumber.toLowerCase();
    const status = row.status === 'revoked' || this.#revokedSerials.has(serial) ? 'revoked' : 'active';
    if (check.ok) {
      if (check.cn !== row.dev) return undefined;
      return {
        dev: row.dev,
        publicKey: check.publicKey,
        status,
        notBefore: check.notBefore,
        notAfter: check.notAfter,
        serial,
        spkiSha256: check.spkiSha256,
      };
    }
    if (check.code === 'expired_certificate') {
      // verifyCertificateChain decides trust before time: `expired_certificate` means the
      // chain to the KGC holds and only the validity window fails. Keep the record so
      // frames get `expired_certificate` rather than `unknown_device`.
      const cns = cert.subject.split('\n').filter((l) => l.startsWith('CN='));
      if (cns.length !== 1 || cns[0] !== `CN=${row.dev}`) return undefined;
      return {
        dev: row.dev,
        publicKey: cert.publicKey,
        status,
        notBefore: Date.parse(cert.validFrom),
        notAfter: Date.parse(cert.validTo),
        serial,
        spkiSha256: spkiSha256(row.certPem),
      };
    }
    return undefined;
  }
}
