/**
 * @module kgc/enrolment
 * Device enrolment (PROTOCOL.md §2 "TLS port", §4 registry): a fresh P-256 key and a
 * clientAuth certificate `CN=<devId>` from the issuing CA, recorded in `issued/` before it
 * is handed out, and the list of what the KGC has issued with its revocation status.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { ensureIssuing, openKgc } from './ca.js';
import { issueCertificate, NOT_BEFORE_BACKDATE_MS } from './certificate.js';
import { certificateValidity, parseCertificatePem, spkiSha256 } from './chain.js';
import { writePrivateKeyPem } from './keys.js';
import { DAY_MS, ISSUED_SUFFIX, KgcError, kgcPaths, writeFileAtomic } from './layout.js';
import { readRevocations } from './revocation.js';

export interface DeviceEnrolment {
  devId: string;
  certPem: string;
  keyPath: string;
  certPath: string;
  rootCertPath: string;
  issuingCertPath: string;
  spkiSha256: `0x${string}`;
  /** Certificate serial number, lowercase hex without leading zero bytes. */
  serial: string;
}

export const DEFAULT_DEVICE_VALIDITY_DAYS = 365;

/** Device enrolment bundle file names, inside the `outDir` of `enrollDevice`. */
export const DEVICE_KEY_FILE = 'device.key.pem';
export const DEVICE_CERT_FILE = 'device.cert.pem';
export const DEVICE_ROOT_CERT_FILE = 'kgc-root.cert.pem';
export const DEVICE_ISSUING_CERT_FILE = 'kgc-issuing.cert.pem';

/**
 * Enrols a device: a fresh P-256 key and a certificate `CN=<devId>` issued by the KGC's
 * issuing CA (keyUsage digitalSignature, extKeyUsage clientAuth, basicConstraints cA false,
 * SKI/AKI, random 128-bit serial). Records the certificate as `kgcDir/issued/<devId>.cert.pem`,
 * then writes the device bundle `outDir/device.key.pem` (0600), `device.cert.pem`,
 * `kgc-issuing.cert.pem` and `kgc-root.cert.pem`. Re-enrolling a device issues a new key
 * and certificate and replaces the files; the gateway trusts only the latest one it holds.
 * @param opts.validityDays lifetime (default 365) from `notBefore`;
 *   `opts.notBefore` default: 5 minutes before now; `opts.notAfter` overrides the lifetime.
 * @throws {RangeError} when `devId` is not 1-64 chars of [A-Za-z0-9._-], the window is
 *   empty, or the certificate would outlive the issuing CA.
 * @throws {KgcError} `kgc_not_initialized` when `kgcDir` holds no root.
 * @example
 * const e = await enrollDevice(kgcDir, 'ward3-bed12', '/etc/vitaltrail/device');
 * // registry.register(e.devId, e.spkiSha256)
 */
export async function enrollDevice(
  kgcDir: string,
  devId: string,
  outDir: string,
  opts: DeviceValidityOptions = {},
): Promise<DeviceEnrolment> {
  if (typeof outDir !== 'string' || outDir.length === 0) {
    throw new TypeError('enrollDevice: outDir must be a non-empty path string');
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { certPem, serial, issuingCertPem, rootCertPem } = await certifyDeviceKey(
    kgcDir,
    devId,
    publicKey,
    opts,
    'enrollDevice',
  );
  const keyPath = join(outDir, DEVICE_KEY_FILE);
  const certPath = join(outDir, DEVICE_CERT_FILE);
  const rootCertPath = join(outDir, DEVICE_ROOT_CERT_FILE);
  const issuingCertPath = join(outDir, DEVICE_ISSUING_CERT_FILE);
  writePrivateKeyPem(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
    overwrite: true,
  });
  writeFileSync(certPath, certPem, { mode: 0o644 });
  writeFileSync(issuingCertPath, issuingCertPem, { mode: 0o644 });
  writeFileSync(rootCertPath, rootCertPem, { mode: 0o644 });
  return {
    devId,
    certPem,
    keyPath,
    certPath,
    rootCertPath,
    issuingCertPath,
    spkiSha256: spkiSha256(certPem),
    serial,
  };
}

/** Validity of a device certificate (`enrollDevice`, `enrollDeviceFromCsr`). */
export interface DeviceValidityOptions {
  validityDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}

/** A device certificate the KGC issued and recorded, with the chain a device needs to present it. */
export interface CertifiedDeviceKey {
  certPem: string;
  serial: string;
  issuingCertPem: string;
  rootCertPem: string;
}

/**
 * Certifies a device's P-256 public key: the one issuing step of every device enrolment,
 * whoever made the key (the KGC in `enrollDevice`, the device in `enrollDeviceFromCsr`).
 * A certificate `CN=<devId>` (keyUsage digitalSignature, extKeyUsage clientAuth,
 * basicConstraints cA false, SKI/AKI, random 128-bit serial), recorded as
 * `kgcDir/issued/<devId>.cert.pem` before it is returned. The KGC never holds the device's
 * private key here.
 * @throws {RangeError} when `devId` is not a device id, the window is empty, or the
 *   certificate would outlive the issuing CA.
 * @throws {TypeError} when `publicKey` is not a P-256 key.
 * @throws {KgcError} `kgc_not_initialized` when `kgcDir` holds no root.
 */
export async function certifyDeviceKey(
  kgcDir: string,
  devId: string,
  publicKey: KeyObject,
  opts: DeviceValidityOptions = {},
  caller = 'certifyDeviceKey',
): Promise<CertifiedDeviceKey> {
  // PROTOCOL.md §1: device ids are 1-64 chars of [A-Za-z0-9._-]; the CN is the device id (§2).
  if (typeof devId !== 'string' || !DEVICE_ID_PATTERN.test(devId)) {
    throw new RangeError(`${caller}: devId must be 1-64 characters of [A-Za-z0-9._-]`);
  }
  const days = opts.validityDays ?? DEFAULT_DEVICE_VALIDITY_DAYS;
  if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0) {
    throw new RangeError(`${caller}: opts.validityDays must be a positive number`);
  }
  const notBefore = opts.notBefore ?? new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  if (!(notBefore instanceof Date)) throw new RangeError(`${caller}: opts.notBefore must be a Date`);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS);
  if (!(notAfter instanceof Date)) throw new RangeError(`${caller}: opts.notAfter must be a Date`);

  const kgc = openKgc(kgcDir);
  const issuing = await ensureIssuing(kgc);
  if (notAfter.getTime() > issuing.notAfter) {
    throw new RangeError(`${caller}: the certificate would outlive the KGC issuing CA certificate`);
  }
  const { certPem, serial } = await issueCertificate({
    subject: { commonName: devId },
    subjectPublicKey: publicKey,
    issuer: { privateKey: issuing.key, certPem: issuing.certPem },
    notBefore,
    notAfter,
    extKeyUsage: ['clientAuth'],
  });

  // Record before release: a certificate is never handed out without a KGC record. Gateways
  // follow this directory (gateway config `kgc.issuedDir`): replaced whole, never half-written.
  mkdirSync(kgc.paths.devicesDir, { recursive: true });
  writeFileAtomic(join(kgc.paths.devicesDir, `${devId}${ISSUED_SUFFIX}`), certPem);
  return { certPem, serial, issuingCertPem: issuing.certPem, rootCertPem: kgc.root.certPem };
}

/** One certificate recorded by the KGC, as `listIssued` returns it. */
export interface IssuedRecord {
  devId: string;
  certPem: string;
  serial: string;
  notAfter: number;
  status: 'active' | 'revoked';
  /** When the certificate was revoked (ms since epoch), if it was. */
  revokedAt?: number;
}

/**
 * The certificates recorded in `kgcDir/issued/`, sorted by device id (latest per device),
 * with their revocation status.
 * @throws {KgcError} `kgc_corrupt` when a record does not parse.
 */
export function listIssued(kgcDir: string): IssuedRecord[] {
  const paths = kgcPaths(kgcDir);
  if (!existsSync(paths.devicesDir)) return [];
  const revoked = new Map(readRevocations(paths).map((r) => [r.serial, r.revokedAt]));
  const out: IssuedRecord[] = [];
  for (const file of readdirSync(paths.devicesDir)) {
    if (!file.endsWith(ISSUED_SUFFIX)) continue;
    const devId = file.slice(0, -ISSUED_SUFFIX.length);
    if (!DEVICE_ID_PATTERN.test(devId)) continue;
    const certPem = readFileSync(join(paths.devicesDir, file), 'utf8');
    const cert = parseCertificatePem(certPem);
    const window = cert && certificateValidity(cert);
    if (!cert || !window) throw new KgcError('kgc_corrupt', 'an issued-certificate record does not parse');
    const serial = cert.serialNumber.toLowerCase();
    const revokedAt = revoked.get(serial);
    out.push({
      devId,
      certPem,
      serial,
      notAfter: window.notAfter,
      status: revokedAt === undefined ? 'active' : 'revoked',
      ...(revokedAt === undefined ? {} : { revokedAt }),
    });
  }
  return out.sort((a, b) => (a.devId < b.devId ? -1 : a.devId > b.devId ? 1 : 0));
}
