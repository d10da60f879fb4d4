/**
 * @module io/identity/enrolment-follow
 * A gateway with its own data directory learns the KGC's enrolments from the KGC's
 * directory of issued device certificates (config `kgc.issuedDir`; ARCHITECTURE.md
 * "Identity is the KGC's", "Scale-out": each gateway keeps its own store). Device
 * certificates are public and self-authenticating — each chains to the KGC root and its CN
 * is the device id — so the KGC's `issued/` directory, mounted read-only, is enough: no
 * database is shared.
 *
 * At start and then every `intervalMs` the directory is listed and every `*.pem` whose
 * mtime or size changed since it was last read is offered to
 * `DeviceRegistry.importIssued` (chain check against this gateway's own KGC root and
 * issuing CA, revocation by store, CRL and registry, re-enrolment replaces the older
 * certificate). An unchanged directory costs one `stat` per device. A file that is not a
 * device certificate of this KGC, valid now, gets one coded warning (`code`, file name:
 * nothing else from it) and is counted through `onSkipped`; it is read again only when it
 * changes (or, not yet valid, at every scan until it is).
 *
 * Trust: the directory's contents are attacker-controlled; nothing in them is trusted
 * before the chain check, and the trust anchors come from `DATA/kgc`, never from here.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VitalTrailError } from '../../protocol/errors.js';
import type { Logger } from '../ops/index.js';
import type { DeviceRegistry, IssuedImport, IssuedSkipCode } from './devices.js';

/** Default interval between two reads of the issued directory. */
export const DEFAULT_ENROLMENT_POLL_MS = 5000;
/** A certificate of ours is about 1 KiB; larger files are skipped unread. */
const MAX_CERTIFICATE_FILE_BYTES = 64 * 1024;
const CERTIFICATE_FILE = /\.pem$/;

export interface EnrolmentFollowOptions {
  /** The KGC's directory of issued device certificates, e.g. `KGCDATA/kgc/issued` (read access is enough). */
  dir: string;
  devices: DeviceRegistry;
  log: Logger;
  /** The chain registry's view of a key (`Identity.isKeyRevoked`); without it, store and CRL only. */
  isKeyRevoked?: (spkiSha256: `0x${string}`) => Promise<boolean>;
  /** A device certificate written to the store: a new device, or a re-enrolment (`replaced`). */
  onImported?: (dev: string, replaced: boolean) => void;
  /** A file skipped, once per version of the file. */
  onSkipped?: (code: IssuedSkipCode) => void;
  /** Default 5 s. */
  intervalMs?: number;
}

/** What one scan did. */
export interface EnrolmentScan {
  imported: number;
  skipped: number;
  /** Certificates left for the next scan (the registry did not answer, or the store failed). */
  deferred: number;
}

export interface EnrolmentFollower {
  /** Reads the directory once; concurrent calls share one scan. Never rejects. */
  scan(): Promise<EnrolmentScan>;
  /** Scans every `intervalMs` until `stop()`. */
  start(): void;
  stop(): void;
}

interface SeenFile {
  /** mtime and size when last read. */
  signature: string;
  /** Read again at every scan (not valid yet). */
  retry: boolean;
  /** The skip code it got, so a warning is given once per version. */
  code?: IssuedSkipCode;
}

/** The registry did not answer in this scan: new keys wait for the next one. */
class RegistryUnavailable extends Error {}

/**
 * Follows the KGC's issued-certificates directory.
 * @example
 * const follower = createEnrolmentFollower({ dir: '/vt/kgc-issued', devices, log });
 * await follower.scan(); // before frames are taken
 * follower.start();
 */
export function createEnrolmentFollower(opts: EnrolmentFollowOptions): EnrolmentFollower {
  const { dir, devices, log } = opts;
  const intervalMs = opts.intervalMs ?? DEFAULT_ENROLMENT_POLL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError('createEnrolmentFollower: intervalMs must be a positive number');
  }
  const seen = new Map<string, SeenFile>();
  let dirFailing = false;
  let registryFailing = false;
  let running: Promise<EnrolmentScan> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const report = (name: string, r: IssuedImport, fresh: boolean, summary: EnrolmentScan): void => {
    if (r.outcome === 'imported') {
      summary.imported += 1;
      log.info('device enrolled from the KGC', { dev: r.dev, replaced: r.replaced });
      opts.onImported?.(r.dev, r.replaced);
    } else if (r.outcome === 'skipped') {
      if (!fresh) return;
      summary.skipped += 1;
      log.warn('issued certificate skipped', { code: r.code, file: name });
      opts.onSkipped?.(r.code);
    } else if (fresh) {
      log.debug('issued certificate not imported', { dev: r.dev, outcome: r.outcome });
    }
  };

  const scanOnce = async (): Promise<EnrolmentScan> => {
    const summary: EnrolmentScan = { imported: 0, skipped: 0, deferred: 0 };
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => CERTIFICATE_FILE.test(n)).sort();
    } catch {
      if (!dirFailing) log.warn('KGC issued directory not readable', { code: 'issued_dir_unreadable' });
      dirFailing = true;
      return summary;
    }
    dirFailing = false;
    const present = new Set(names);
    for (const name of seen.keys()) if (!present.has(name)) seen.delete(name);
    // At most one registry timeout per scan: once it fails, new keys wait for the next scan.
    let registryDown = false;
    let registryAnswered = false;
    const askRegistry = opts.isKeyRevoked;
    const keyRevoked = askRegistry
      ? async (spki: `0x${string}`): Promise<boolean> => {
          if (registryDown) throw new RegistryUnavailable();
          try {
            const revoked = await askRegistry(spki);
            registryAnswered = true;
            return revoked;
          } catch {
            registryDown = true;
            throw new RegistryUnavailable();
          }
        }
      : undefined;
    for (const name of names) {
      const path = join(dir, name);
      let signature: string;
      let pem: string | undefined;
      try {
        const st = await stat(path);
        if (!st.isFile()) continue;
        signature = `${st.mtimeMs}:${st.size}`;
        const prior = seen.get(name);
        if (prior && prior.signature === signature && !prior.retry) continue;
        if (st.size <= MAX_CERTIFICATE_FILE_BYTES) pem = await readFile(path, 'utf8');
      } catch {
        continue; // gone since the listing
      }
      let r: IssuedImport;
      try {
        r =
          pem === undefined
            ? { outcome: 'skipped', code: 'untrusted_certificate', retry: false }
            : await devices.importIssued(pem, keyRevoked);
      } catch (err) {
        summary.deferred += 1; // not recorded as seen: read again next scan
        if (!(err instanceof RegistryUnavailable)) {
          log.warn('enrolment import failed; will retry', {
            code: err instanceof VitalTrailError ? err.code : 'io_error',
          });
        }
        continue;
      }
      const prior = seen.get(name);
      const code = r.outcome === 'skipped' ? r.code : undefined;
      const fresh = !prior || prior.signature !== signature || prior.code !== code;
      seen.set(name, {
        signature,
        retry: r.outcome === 'skipped' && r.retry,
        ...(code ? { code } : {}),
      });
      report(name, r, fresh, summary);
    }
    if (registryDown && !registryFailing) {
      registryFailing = true;
      log.warn('registry not reachable; new enrolments wait for it', { code: 'registry_unavailable' });
    } else if (registryAnswered && !registryDown && registryFailing) {
      registryFailing = false;
      log.info('registry reachable again; enrolments resume');
    }
    return summary;
  };

  const scan = (): Promise<EnrolmentScan> => {
    running ??= scanOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    scan,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        void scan();
      }, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
