/**
 * @module io/identity/devices
 * The gateway's view of the KGC device registry: certificates enrolled in the store
 * (written by `vitaltrail kgc enroll`, possibly from another process), checked against
 * the KGC root and its issuing CA once when loaded, then kept in memory for the per-frame
 * hot path (PROTOCOL.md §1 `unknown_device`, `revoked_device`, `expired_certificate`).
 *
 * A lookup miss reads the store (with a short negative cache, so a flood of frames for
 * unknown ids cannot hammer the database); `refresh()` picks up enrolments and status
 * changes made since the last call. Both make a new enrolment effective within seconds.
 *
 * A running gateway refreshes in slices (`refreshInSlices`), its start's first read of every
 * device included: a certificate's chain check costs ~0.8 ms (node:crypto's X509 parse,
 * signature check and key export), so 5,020 devices enrolled at once held the event loop
 * 3.7-4.0 s in one `refresh`, and 10,000 held a gateway's start 7.7 s before it listened. A
 * slice ends after `REFRESH_SLICE_MS`; a device whose frame comes before its turn is read by
 * that lookup; a certificate already checked (a row re-read for its status, or again in the
 * next refresh's overlap) is not checked again; and the devices that keep their key (a
 * revocation) go before new certificates. The first read takes the devices revoked in the
 * store as known (`onRevoked` told them before this start); a revocation after it is news.
 *
 * Revocation has three sources, any one of which suffices: the store's device status
 * (`kgc revoke`), the KGC's signed CRL (`setRevokedSerials`, read by the gateway from
 * `DATA/kgc/crl/crl.pem`), and the chain registry's `DeviceRevoked` events. The CRL's and the
 * registry's revocations mark the store row too, so a restart does not tell them again. A
 * device seen revoked for the first time is reported once to `onRevoked`.
 *
 * On a gateway that anchors on a chain (`registration`), a device whose current key is not
 * recorded registered as active in that chain's registry (io/identity/registration) gets
 * `registered: false` (PROTOCOL.md §4; issue 17: `unregistered_device`); the record is re-read
 * from the store, never asked of the chain per frame, so a chain outage stops no device
 * already known registered.
 *
 * `importIssued` admits a certificate the KGC issued elsewhere (its `issued/` directory,
 * followed by io/enrolment-follow): the same store row `kgc enroll` writes, after the same
 * chain check, unless the device already holds it or something newer, or it is revoked.
 */
import { hash, X509Certificate } from 'node:crypto';
import {
  certificateValidity,
  parseCertificatePem,
  spkiSha256,
  verifyCertificateChain,
} from '../../../../anchor/src/kgc/index.js';
import type { DeviceRecord } from '../../core/acceptance.js';
import type { ErrorGroupCode } from '../../protocol/error-codes.js';
import { DEVICE_ID_PATTERN } from '../../protocol/frame.js';
import { SlicedVisit } from '../loop/index.js';
import type { DeviceRow, GatewayStore } from '../store/index.js';
import { isRecordedRegistered, type RegistryRef, recordRegistration } from './registration.js';

const NEGATIVE_CACHE_MS = 1000;

/** A refresh in slices hands the event loop back once a slice has taken this long (ms). */
const REFRESH_SLICE_MS = 8;

export interface RefreshSliceOptions {
  /** Default `REFRESH_SLICE_MS`. */
  sliceMs?: number;
  /** The clock a slice is timed by, ms (default `performance.now`). */
  elapsed?: () => number;
}

/** What identifies the certificate a record was checked from: SHA-256 of its PEM, hex. */
const pemDigest = (certPem: string): string => hash('sha256', certPem, 'hex');

/** The KGC's public trust material: the root and its intermediates (the issuing CA). */
export interface KgcTrust {
  rootPem: string;
  intermediatesPem: readonly string[];
}

/** Why a presented client certificate is not the device's current, active one. */
export type PeerCertificateVerdict = { ok: true } | { ok: false; code: ErrorGroupCode<'peer_certificate'> };

export type RevocationSource = 'store' | 'crl' | 'registry';

/** Why a certificate offered to `importIssued` is not a device certificate of this KGC, valid now. */
export type IssuedSkipCode = ErrorGroupCode<'issued_skip'>;

/** What `importIssued` did with one certificate. */
export type IssuedImport =
  /** Written to the store as the device's active certificate (`replaced`: it had another one). */
  | { outcome: 'imported'; dev: string; replaced: boolean }
  /** Already the device's certificate here. */
  | { outcome: 'known'; dev: string }
  /** Issued before the certificate this gateway holds for the device: a stale copy. */
  | { outcome: 'older'; dev: string }
  | { outcome: 'revoked'; dev: string; source: RevocationSource }
  /** Not imported; `retry`: not valid yet, so the same file may be importable later. */
  | { outcome: 'skipped'; code: IssuedSkipCode; retry: boolean };

/** A certificate `importIssued` will write, once no registry says its key is revoked. */
interface IssuedCandidate {
  outcome: 'new';
  dev: string;
  certPem: string;
  spkiSha256: `0x${string}`;
  replaced: boolean;
}

export interface DeviceRegistryOptions {
  now?: () => number;
  /** Called once per device when it is first seen revoked (not for devices revoked before start). */
  onRevoked?: (dev: string, source: RevocationSource) => void;
  /**
   * The registry of the chain this gateway anchors on (issue 17): a device whose current key
   * it is not recorded to hold as active (io/identity/registration) gets `registered: false`,
   * so its frames are `unregistered_device`. Default: none (a gateway that anchors nowhere).
   */
  registration?: RegistryRef;
}

type CachedRecord = DeviceRecord & { serial: string; spkiSha256: string; pemSha256: string };

export class DeviceRegistry {
  readonly #store: GatewayStore;
  readonly #trust: KgcTrust;
  readonly #now: () => number;
  readonly #onRevoked: ((dev: string, source: RevocationSource) => void) | undefined;
  readonly #registration: RegistryRef | undefined;
  readonly #cache = new Map<string, CachedRecord>();
  readonly #misses = new Map<string, number>();
  /** Devices known revoked (reported already). */
  readonly #revoked = new Set<string>();
  #revokedSerials: ReadonlySet<string> = new Set();
  #lastRefresh = 0;
  #started = false;
  /** The refresh in slices under way. */
  #slicing: { done: Promise<boolean>; run: SlicedVisit<string> } | null = null;

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
    this.#registration = o.registration;
  }

  lookup(dev: string): DeviceRecord | undefined {
    const hit = this.#cache.get(dev);
    if (hit) {
      // Not registered when cached: the enrolling process may have registered it since (one
      // store read per frame of an unregistered device, whose frames the rejection limit
      // bounds; never a chain call).
      return hit.registered === false ? this.#recheckRegistration(dev, hit) : hit;
    }
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

  /** Reloads devices enrolled or changed since the last refresh, in one go (tests, tools). */
  refresh(): void {
    for (const dev of this.#changed()) this.#reload(dev);
    this.#reloaded();
  }

  /**
   * `refresh`, a slice at a time (the module notes): the first slice now, each next one on a
   * later turn of the event loop. Resolves true once every device is reloaded, false when
   * `stopRefreshing` ended it first (the devices it had not reached are read by the next
   * refresh). A call while one runs returns that one's promise.
   * @example
   * if (await devices.refreshInSlices()) for (const dev of devices.known()) hub.addDevice(dev);
   */
  refreshInSlices(o: RefreshSliceOptions = {}): Promise<boolean> {
    if (this.#slicing) return this.#slicing.done;
    const since = this.#lastRefresh;
    let devs: string[];
    try {
      devs = this.#changed();
    } catch (err) {
      return Promise.reject(err);
    }
    let resolve!: (complete: boolean) => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<boolean>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    const run = new SlicedVisit(devs, {
      visit: (dev) => this.#reload(dev),
      onEnd: ({ complete, err }) => {
        this.#slicing = null;
        if (!complete) this.#lastRefresh = Math.min(this.#lastRefresh, since); // the rest read again
        if (err !== undefined) reject(err);
        else if (!complete) resolve(false);
        else
          try {
            this.#reloaded();
            resolve(true);
          } catch (e) {
            reject(e);
          }
      },
      sliceMs: o.sliceMs ?? REFRESH_SLICE_MS,
      ...(o.elapsed ? { elapsed: o.elapsed } : {}),
    });
    this.#slicing = { done, run };
    run.start();
    return done;
  }

  /** Ends the refresh in slices under way, if any, at its current slice (its promise resolves false). */
  stopRefreshing(): void {
    this.#slicing?.run.halt();
  }

  /**
   * The devices whose rows were written since the last refresh (every 2 s: only those, not a
   * listing of every device), those that keep the key they had first (a status change: no
   * chain check), then the others.
   */
  #changed(): string[] {
    const since = this.#lastRefresh;
    const readAt = Date.now() - 1000; // overlap: rows written during this read are seen next time
    const rows = this.#store.devicesChangedSince(since); // a read that fails changes nothing
    this.#lastRefresh = readAt;
    const first = !this.#started;
    this.#started = true; // a revocation from here on is news (the first read's, below, are not)
    const same: string[] = [];
    const other: string[] = [];
    for (const { dev, spkiSha256, status } of rows) {
      if (first && status === 'revoked') this.#revoked.add(dev); // revoked before this start
      (this.#cache.get(dev)?.spkiSha256 === spkiSha256 ? same : other).push(dev);
    }
    return other.length === 0 ? same : same.concat(other);
  }

  /** Re-reads one device's row; a certificate already checked is not checked again. */
  #reload(dev: string): void {
    const row = this.#store.getDevice(dev);
    const held = this.#cache.get(dev);
    const pemSha256 = row && pemDigest(row.certPem);
    const rec =
      row === undefined || pemSha256 === undefined
        ? undefined
        : held !== undefined && held.pemSha256 === pemSha256
          ? this.#restated(held, row)
          : this.#toRecord(row, pemSha256);
    if (rec) this.#cache.set(dev, rec);
    else this.#cache.delete(dev);
    this.#misses.delete(dev);
    if (rec?.status === 'revoked') {
      if (row?.status === 'revoked') this.#noteRevoked(dev, 'store');
      else this.#crlRevoked(dev, rec);
    }
    // Active again (re-enrolled): its next revocation is news again.
    else if (rec?.status === 'active') this.#revoked.delete(dev);
  }

  /** A record whose certificate is unchanged, with the row's status (and registration) now. */
  #restated(held: CachedRecord, row: DeviceRow): CachedRecord {
    const status: CachedRecord['status'] =
      row.status === 'revoked' || this.#revokedSerials.has(held.serial) ? 'revoked' : 'active';
    const rec = status === held.status ? held : { ...held, status };
    return this.#registration ? this.#recheckRegistration(row.dev, rec) : rec;
  }

  /** After a refresh: devices not registered yet are asked again. */
  #reloaded(): void {
    for (const [dev, rec] of this.#cache) if (rec.registered === false) this.#recheckRegistration(dev, rec);
  }

  /**
   * The chain registry holds `spkiSha256` as `dev`'s active key (a `DeviceRegistered` event,
   * issue 17): recorded in the store, and the device's frames are accepted at once if it is
   * its current key. Without a `registration` registry, nothing happens.
   */
  noteRegistered(dev: string, spkiSha256: string): void {
    if (!this.#registration) return;
    recordRegistration(this.#store, this.#registration, dev, spkiSha256);
    const rec = this.#cache.get(dev);
    if (rec && rec.registered === false) this.#recheckRegistration(dev, rec);
  }

  #recheckRegistration(dev: string, rec: CachedRecord): CachedRecord {
    const registered =
      this.#registration === undefined ||
      isRecordedRegistered(this.#store, this.#registration, dev, rec.spkiSha256);
    if (registered === rec.registered) return rec;
    const next = { ...rec, registered };
    this.#cache.set(dev, next);
    return next;
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
        this.#crlRevoked(dev, rec);
      }
    }
  }

  /** How many devices are known and trusted (`known().length` without the list). */
  get size(): number {
    return this.#cache.size;
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

  /**
   * Imports a device certificate the KGC issued (PROTOCOL.md §1 "a certificate issued by the
   * KGC, valid now, not revoked"): writes the row `kgc enroll` writes (certificate, SPKI hash,
   * status active), replacing an older certificate of the device (a re-enrolment), and
   * makes it effective at once. Nothing is written when the device already holds this
   * certificate or a newer one, or when it is revoked: the store holds it revoked, its serial
   * is on the CRL, or `keyRevoked` (the chain registry) says so.
   *
   * Attacker-controlled: `certPem` is whatever the directory holds. Only the chain to this
   * gateway's KGC root and intermediates (the same check as `lookup`) makes it a device
   * certificate; its subject CN names the device.
   * @param keyRevoked asks the chain registry about the key (PROTOCOL.md §4); when it
   *   rejects, nothing is written and the rejection propagates (try again later).
   * @example
   * const r = await devices.importIssued(pem, identity.isKeyRevoked);
   * if (r.outcome === 'skipped') log.warn('issued certificate skipped', { code: r.code });
   */
  async importIssued(
    certPem: string,
    keyRevoked?: (spkiSha256: `0x${string}`) => Promise<boolean>,
  ): Promise<IssuedImport> {
    let verdict = this.#assessIssued(certPem);
    if (verdict.outcome !== 'new') return verdict;
    if (keyRevoked) {
      if (await keyRevoked(verdict.spkiSha256)) {
        return { outcome: 'revoked', dev: verdict.dev, source: 'registry' };
      }
      verdict = this.#assessIssued(certPem); // the store may have changed while the registry answered
      if (verdict.outcome !== 'new') return verdict;
    }
    const { dev, replaced } = verdict;
    this.#store.upsertDevice({ dev, certPem, spkiSha256: verdict.spkiSha256, status: 'active' });
    const row = this.#store.getDevice(dev);
    const rec = row && this.#toRecord(row);
    if (rec) this.#cache.set(dev, rec);
    else this.#cache.delete(dev);
    this.#misses.delete(dev);
    this.#revoked.delete(dev); // a new certificate: its revocation, when it comes, is news again
    return { outcome: 'imported', dev, replaced };
  }

  #assessIssued(certPem: string): Exclude<IssuedImport, { outcome: 'imported' }> | IssuedCandidate {
    const now = this.#now();
    const check = verifyCertificateChain(certPem, this.#trust.rootPem, this.#trust.intermediatesPem, now);
    if (!check.ok) {
      const leaf = check.code === 'expired_certificate' ? parseCertificatePem(certPem) : undefined;
      const notBefore = leaf && certificateValidity(leaf)?.notBefore;
      return { outcome: 'skipped', code: check.code, retry: notBefore !== undefined && now < notBefore };
    }
    const dev = check.cn;
    if (!DEVICE_ID_PATTERN.test(dev)) return { outcome: 'skipped', code: 'invalid_device_id', retry: false };
    const cert = new X509Certificate(certPem); // parses: the chain check just did
    if (this.#revokedSerials.has(cert.serialNumber.toLowerCase()))
      return { outcome: 'revoked', dev, source: 'crl' };
    const row = this.#store.getDevice(dev);
    if (row) {
      const held = parseCertificatePem(row.certPem);
      if (held?.raw.equals(cert.raw)) {
        return row.status === 'revoked'
          ? { outcome: 'revoked', dev, source: 'store' }
          : { outcome: 'known', dev };
      }
      const heldFrom = held && certificateValidity(held)?.notBefore;
      if (heldFrom !== undefined && check.notBefore < heldFrom) return { outcome: 'older', dev };
    }
    return { outcome: 'new', dev, certPem, spkiSha256: check.spkiSha256, replaced: row !== undefined };
  }

  /** Marks a device revoked now (e.g. from a registry event), reporting it once. */
  markRevoked(dev: string, source: RevocationSource): void {
    const rec = this.#cache.get(dev);
    if (rec && rec.status !== 'revoked') this.#cache.set(dev, { ...rec, status: 'revoked' });
    this.#noteRevoked(dev, source);
  }

  /**
   * A device the CRL revokes while its store row is active: the row is marked revoked too (as
   * `kgc revoke` and the chain registry's events mark it), so the next start takes it as
   * revoked before it, not as news told again at every start. Only the row that still holds
   * the listed certificate (`pemSha256`) is marked; a re-enrolment's new one is not. The mark is
   * best effort: a store that cannot be written leaves the revocation in memory, in force, and
   * told again by the next start as before.
   */
  #crlRevoked(dev: string, rec: CachedRecord): void {
    try {
      const row = this.#store.getDevice(dev);
      if (row?.status === 'active' && pemDigest(row.certPem) === rec.pemSha256)
        this.#store.upsertDevice({ ...row, status: 'revoked' });
    } catch {
      // In force in memory all the same (the caller's cache); only the next start tells it again.
    }
    this.#noteRevoked(dev, 'crl');
  }

  #noteRevoked(dev: string, source: RevocationSource): void {
    if (this.#revoked.has(dev)) return;
    this.#revoked.add(dev);
    if (this.#started) this.#onRevoked?.(dev, source);
  }

  /** `pemSha256`: the row's PEM digest, when the caller has it already. */
  #toRecord(row: DeviceRow, pemSha256 = pemDigest(row.certPem)): CachedRecord | undefined {
    const rec = this.#toTrustedRecord(row, pemSha256);
    if (!rec || !this.#registration) return rec;
    const registered = isRecordedRegistered(this.#store, this.#registration, row.dev, rec.spkiSha256);
    return { ...rec, registered };
  }

  #toTrustedRecord(row: DeviceRow, pemSha256: string): CachedRecord | undefined {
    const { rootPem, intermediatesPem } = this.#trust;
    const check = verifyCertificateChain(row.certPem, rootPem, intermediatesPem, this.#now());
    const revoked = (serial: string) => row.status === 'revoked' || this.#revokedSerials.has(serial);
    if (check.ok) {
      // The chain check parsed the leaf: no second parse (10,000 devices at start).
      if (check.cn !== row.dev) return undefined;
      const serial = check.serial;
      const status = revoked(serial) ? 'revoked' : 'active';
      return {
        dev: row.dev,
        publicKey: check.publicKey,
        status,
        notBefore: check.notBefore,
        notAfter: check.notAfter,
        serial,
        spkiSha256: check.spkiSha256,
        pemSha256,
      };
    }
    if (check.code === 'expired_certificate') {
      // verifyCertificateChain decides trust before time: `expired_certificate` means the
      // chain to the KGC holds and only the validity window fails. Keep the record so
      // frames get `expired_certificate` rather than `unknown_device`.
      const cert = new X509Certificate(row.certPem);
      const serial = cert.serialNumber.toLowerCase();
      const status = revoked(serial) ? 'revoked' : 'active';
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
        pemSha256,
      };
    }
    return undefined;
  }
}
