/**
 * @module io/devices
 * The gateway's view of the KGC device registry: certificates enrolled in the store
 * (written by `vitaltrail kgc enroll`, possibly from another process), checked against
 * the KGC root once when loaded, then kept in memory for the per-frame hot path.
 *
 * A lookup miss reads the store (with a short negative cache, so a flood of frames for
 * unknown ids cannot hammer the database); `refresh()` picks up enrolments and status
 * changes made since the last call. Both make a new enrolment effective within seconds.
 */
import { X509Certificate } from 'node:crypto';
import { verifyCertificateChain } from '../../../anchor/src/kgc/chain.js';
import type { DeviceRecord } from '../core/acceptance.js';
import type { DeviceRow, GatewayStore } from './store.js';

const NEGATIVE_CACHE_MS = 1000;

export class DeviceRegistry {
  readonly #store: GatewayStore;
  readonly #rootPem: string;
  readonly #now: () => number;
  readonly #cache = new Map<string, DeviceRecord>();
  readonly #misses = new Map<string, number>();
  #lastRefresh = 0;

  constructor(store: GatewayStore, kgcRootPem: string, now: () => number = Date.now) {
    this.#store = store;
    this.#rootPem = kgcRootPem;
    this.#now = now;
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
    }
  }

  /** Device ids currently known and trusted. */
  known(): string[] {
    return [...this.#cache.keys()];
  }

  #toRecord(row: DeviceRow): DeviceRecord | undefined {
    const check = verifyCertificateChain(row.certPem, this.#rootPem, [], this.#now());
    if (check.ok) {
      if (check.cn !== row.dev) return undefined;
      return {
        dev: row.dev,
        publicKey: check.publicKey,
        status: row.status,
        notBefore: check.notBefore,
        notAfter: check.notAfter,
      };
    }
    if (check.code === 'expired_certificate') {
      // Trusted issuer, outside its validity window now: keep it so frames get
      // `expired_certificate` rather than `unknown_device`.
      const cert = new X509Certificate(row.certPem);
      const notBefore = Date.parse(cert.validFrom);
      // Only a certificate the KGC really issued earns the more specific code.
      const trusted = verifyCertificateChain(row.certPem, this.#rootPem, [], notBefore);
      if (!trusted.ok || trusted.cn !== row.dev) return undefined;
      return {
        dev: row.dev,
        publicKey: cert.publicKey,
        status: row.status,
        notBefore,
        notAfter: Date.parse(cert.validTo),
      };
    }
    return undefined;
  }
}
