/**
 * @module kgc/kgc
 * The minimal Key Generation Center: the consortium CA of ARCHITECTURE.md ("KGC: CLI
 * commands on local key files"), issuing X.509 v3 certificates (RFC 5280) on P-256 keys
 * (ECDSA with SHA-256, RFC 5758 §3.2) that devices present for mutual TLS and whose
 * SubjectPublicKeyInfo hash goes to the registry (PROTOCOL.md §2 "TLS port", §4).
 *
 * Layout of a KGC directory:
 * - `root.key.pem`   the root private key, PKCS#8, mode 0600
 * - `root.cert.pem`  the self-signed root certificate
 * - `issued/<devId>.cert.pem`  the latest certificate issued to each device
 *
 * Certificates are made with @peculiar/x509 over node's WebCrypto and checked with
 * node:crypto (`./chain.ts`).
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { VitalTrailError } from '../../../gateway/src/protocol/errors.js';
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { certificateValidity, isIssuedBy, parseCertificatePem, spkiSha256 } from './chain.js';
import { readPrivateKey, writePrivateKeyPem } from './keys.js';

export type KgcErrorCode = 'kgc_not_initialized' | 'kgc_incomplete' | 'kgc_corrupt';

export class KgcError extends VitalTrailError<KgcErrorCode> {
  override readonly name = 'KgcError';
}

export interface KgcPaths {
  rootKey: string;
  rootCert: string;
  /** Records of issued device certificates, one `<devId>.cert.pem` each. */
  devicesDir: string;
}

export interface DeviceEnrolment {
  devId: string;
  certPem: string;
  keyPath: string;
  certPath: string;
  rootCertPath: string;
  spkiSha256: `0x${string}`;
  /** Certificate serial number, lowercase hex without leading zero bytes. */
  serial: string;
}

export interface CertificateSubject {
  /** X.520 commonName, 1-64 characters (RFC 5280 Appendix A ub-common-name). */
  commonName: string;
  organization?: string;
}

export type ExtKeyUsageName = 'clientAuth' | 'serverAuth';

export interface IssueCertificateParameters {
  subject: CertificateSubject;
  /** P-256 public key to certify. */
  subjectPublicKey: KeyObject;
  /**
   * The signer: a P-256 private key and the issuing CA certificate. Without `certPem`
   * the certificate is self-signed (issuer name = subject name; `subjectPublicKey` must
   * then be the public half of `privateKey`).
   */
  issuer: { privateKey: KeyObject; certPem?: string };
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints cA (default `false`); CA certificates get keyUsage keyCertSign|cRLSign. */
  isCa?: boolean;
  /** basicConstraints pathLenConstraint, CA certificates only (default: none). */
  pathLength?: number;
  /** extKeyUsage purposes (default `['clientAuth']` for a leaf, none for a CA; `[]` omits the extension). */
  extKeyUsage?: readonly ExtKeyUsageName[];
  /** Serial number in hex (default: a random positive 128-bit number). */
  serial?: string;
}

export interface IssuedCertificate {
  certPem: string;
  /** Lowercase hex without leading zero bytes. */
  serial: string;
}

/** Default root subject and lifetime. */
export const DEFAULT_ROOT_COMMON_NAME = 'VitalTrail KGC Root';
export const DEFAULT_ROOT_ORGANIZATION = 'VitalTrail';
export const DEFAULT_ROOT_VALIDITY_YEARS = 10;
export const DEFAULT_DEVICE_VALIDITY_DAYS = 365;
/**
 * notBefore is set this far in the past by default, so a verifier whose clock lags the
 * KGC's a little still accepts a fresh certificate (the 5-minute skew of PROTOCOL.md §1).
 */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;

/** Device enrolment bundle file names, inside the `outDir` of `enrollDevice`. */
export const DEVICE_KEY_FILE = 'device.key.pem';
export const DEVICE_CERT_FILE = 'device.cert.pem';
export const DEVICE_ROOT_CERT_FILE = 'kgc-root.cert.pem';

const ISSUED_SUFFIX = '.cert.pem';
const DAY_MS = 24 * 60 * 60 * 1000;
/** ECDSA on P-256 (RFC 5480 §2.1.1.1 secp256r1) with SHA-256. */
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const SERIAL_BYTES = 16;
const SERIAL_HEX = /^[0-9a-fA-F]{1,40}$/;
const COMMON_NAME_MAX = 64;

// ---------------------------------------------------------------------------------------
// Loading @peculiar/x509.

type X509Module = typeof X509;
let x509Module: Promise<X509Module> | undefined;

/**
 * @peculiar/x509 2.x depends on tsyringe, which refuses to load unless the Reflect
 * metadata API exists ("tsyringe requires a reflect polyfill"). x509 only applies
 * `@injectable()` to classes without constructor parameters, so a small, correct
 * metadata store is enough and no `reflect-metadata` dependency is needed. A polyfill
 * loaded earlier is left in place. The functions are installed once, process-wide.
 */
function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<unknown, Map<unknown, unknown>>>();
  const table = (target: object, property: unknown, create: boolean): Map<unknown, unknown> | undefined => {
    let byProperty = store.get(target);
    if (!byProperty) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let byKey = byProperty.get(property);
    if (!byKey && create) {
      byKey = new Map();
      byProperty.set(property, byKey);
    }
    return byKey;
  };
  const getOwnMetadata = (key: unknown, target: object, property?: unknown): unknown =>
    table(target, property, false)?.get(key);
  const api = {
    defineMetadata(key: unknown, value: unknown, target: object, property?: unknown): void {
      table(target, property, true)?.set(key, value);
    },
    getOwnMetadata,
    hasOwnMetadata: (key: unknown, target: object, property?: unknown): boolean =>
      table(target, property, false)?.has(key) ?? false,
    getMetadata(key: unknown, target: object, property?: unknown): unknown {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        const own = table(t, property, false);
        if (own?.has(key)) return own.get(key);
      }
      return undefined;
    },
    hasMetadata(key: unknown, target: object, property?: unknown): boolean {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        if (table(t, property, false)?.has(key)) return true;
      }
      return false;
    },
    metadata:
      (key: unknown, value: unknown) =>
      (target: object, property?: unknown): void =>
        api.defineMetadata(key, value, target, property),
  };
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(Reflect, name, {
      value: fn,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/**
 * Loads @peculiar/x509 once, bound to node's WebCrypto. Any module that uses
 * @peculiar/x509 should load it through here (a static import elsewhere that runs first
 * fails with tsyringe's "requires a reflect polyfill").
 */
export function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    installReflectMetadata();
    const mod = (await import('@peculiar/x509')) as X509Module;
    mod.cryptoProvider.set(webcrypto as unknown as Crypto);
    return mod;
  })();
  return x509Module;
}

// ---------------------------------------------------------------------------------------
// Certificates.

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

function assertDate(d: unknown, what: string): asserts d is Date {
  if (!(d instanceof Date) || !Number.isFinite(d.getTime())) {
    throw new RangeError(`issueCertificate: ${what} must be a valid Date`);
  }
}

function spkiDer(key: KeyObject): Uint8Array<ArrayBuffer> {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

function subjectName(subject: CertificateSubject): X509.JsonName {
  const { commonName, organization } = subject;
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > COMMON_NAME_MAX) {
    throw new RangeError(`issueCertificate: subject.commonName must be 1-${COMMON_NAME_MAX} characters`);
  }
  if (organization !== undefined && (typeof organization !== 'string' || organization.length === 0)) {
    throw new RangeError('issueCertificate: subject.organization must be a non-empty string');
  }
  // JSON names, not "CN=..." strings: no DN escaping questions arise.
  return organization === undefined ? [{ CN: [commonName] }] : [{ O: [organization] }, { CN: [commonName] }];
}

/** A random positive serial of exactly 128 bits (RFC 5280 §4.1.2.2: positive, at most 20 octets). */
function randomSerialHex(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = (bytes[0] ?? 0) | 0x80; // x509 prepends 0x00, keeping the INTEGER positive
  return bytes.toString('hex');
}

/**
 * Issues one X.509 v3 certificate. The low-level helper behind `initKgc` and
 * `enrollDevice`, exported so tests and later tools can build intermediates, expired or
 * not-yet-valid certificates, self-signed leaves and look-alike CAs.
 *
 * Extensions: basicConstraints (critical), keyUsage (critical: digitalSignature for a
 * leaf, keyCertSign|cRLSign for a CA), extKeyUsage, subjectKeyIdentifier, and
 * authorityKeyIdentifier (the issuer's SKI; RFC 5280 §4.2.1.1-§4.2.1.3, §4.2.1.9, §4.2.1.12).
 *
 * @throws {TypeError} when a key is not P-256 or `issuer.certPem` is not a certificate
 *   matching `issuer.privateKey`.
 * @throws {RangeError} for bad names, dates, path length or serial.
 * @example
 * const { certPem } = await issueCertificate({
 *   subject: { commonName: 'ward3-bed12' }, subjectPublicKey: devicePublicKey,
 *   issuer: { privateKey: rootKey, certPem: rootCertPem },
 *   notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000),
 * });
 */
export async function issueCertificate(params: IssueCertificateParameters): Promise<IssuedCertificate> {
  const { subject, subjectPublicKey, issuer, notBefore, notAfter } = params;
  const isCa = params.isCa ?? false;
  if (!isP256(subjectPublicKey))
    throw new TypeError('issueCertificate: subjectPublicKey must be a P-256 key');
  if (!issuer || !isP256(issuer.privateKey) || issuer.privateKey.type !== 'private') {
    throw new TypeError('issueCertificate: issuer.privateKey must be a P-256 private key');
  }
  assertDate(notBefore, 'notBefore');
  assertDate(notAfter, 'notAfter');
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new RangeError('issueCertificate: notAfter must be later than notBefore');
  }
  const pathLength = params.pathLength;
  if (pathLength !== undefined && (!isCa || !Number.isSafeInteger(pathLength) || pathLength < 0)) {
    throw new RangeError('issueCertificate: pathLength must be a non-negative integer, for a CA only');
  }
  const serialHex = params.serial ?? randomSerialHex();
  if (!SERIAL_HEX.test(serialHex)) throw new RangeError('issueCertificate: serial must be 1-40 hex digits');
  const subjectDn = subjectName(subject);

  const x509 = await loadX509();
  const subjectSpki = spkiDer(subjectPublicKey);
  const issuerSpki = spkiDer(issuer.privateKey);

  let issuerName: X509.JsonName | X509.Name;
  let authorityKeyId: X509.AuthorityKeyIdentifierExtension;
  if (issuer.certPem === undefined) {
    if (!Buffer.from(subjectSpki).equals(Buffer.from(issuerSpki))) {
      throw new TypeError(
        'issueCertificate: a self-signed certificate needs subjectPublicKey = issuer public key',
      );
    }
    issuerName = subjectDn;
    authorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(subjectSpki);
  } else {
    const issuerCert = parseCertificatePem(issuer.certPem);
    if (!issuerCert) throw new TypeError('issueCertificate: issuer.certPem is not a PEM certificate');
    if (!issuerCert.publicKey.equals(createPublicKey(issuer.privateKey))) {
      throw new TypeError('issueCertificate: issuer.privateKey does not match issuer.certPem');
    }
    const parsed = new x509.X509Certificate(issuer.certPem);
    issuerName = parsed.subjectName; // the issuer's exact DN encoding (RFC 5280 §4.1.2.4)
    const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
    authorityKeyId = ski
      ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
      : await x509.AuthorityKeyIdentifierExtension.create(issuerSpki);
  }

  const U = x509.KeyUsageFlags;
  const extKeyUsage = params.extKeyUsage ?? (isCa ? [] : ['clientAuth']);
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(isCa, pathLength, true),
    new x509.KeyUsagesExtension(isCa ? U.keyCertSign | U.cRLSign : U.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(subjectSpki),
    authorityKeyId,
  ];
  if (extKeyUsage.length > 0) {
    extensions.push(new x509.ExtendedKeyUsageExtension(extKeyUsage.map((u) => x509.ExtendedKeyUsage[u])));
  }

  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    issuer.privateKey.export({ type: 'pkcs8', format: 'der' }),
    EC_P256,
    false,
    ['sign'],
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: subjectDn,
    issuer: issuerName,
    notBefore,
    notAfter,
    publicKey: subjectSpki,
    signingKey: signingKey as unknown as CryptoKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions,
  });
  const certPem = `${cert.toString('pem').trim()}\n`;
  return { certPem, serial: serialOf(certPem) };
}

/** Serial number of a PEM certificate as lowercase hex without leading zero bytes. */
function serialOf(certPem: string): string {
  const cert = parseCertificatePem(certPem);
  if (!cert) throw new TypeError('serialOf: not a PEM certificate');
  return cert.serialNumber.toLowerCase();
}

// ---------------------------------------------------------------------------------------
// The KGC on local files.

/** The file layout of a KGC directory. */
export function kgcPaths(kgcDir: string): KgcPaths {
  if (typeof kgcDir !== 'string' || kgcDir.length === 0) {
    throw new TypeError('kgcDir must be a non-empty path string');
  }
  return {
    rootKey: join(kgcDir, 'root.key.pem'),
    rootCert: join(kgcDir, 'root.cert.pem'),
    devicesDir: join(kgcDir, 'issued'),
  };
}

interface LoadedKgc {
  paths: KgcPaths;
  rootKey: KeyObject;
  rootCertPem: string;
  rootNotAfter: number;
}

/** Reads the root key and certificate and checks that they belong together. */
function loadKgc(paths: KgcPaths): LoadedKgc {
  const rootKey = readPrivateKey(paths.rootKey);
  const rootCertPem = readFileSync(paths.rootCert, 'utf8');
  const cert = parseCertificatePem(rootCertPem);
  const window = cert && certificateValidity(cert);
  if (!cert || !window || !cert.ca || !isIssuedBy(cert, cert)) {
    throw new KgcError('kgc_corrupt', 'the root certificate is not a self-signed CA certificate');
  }
  if (!cert.publicKey.equals(createPublicKey(rootKey))) {
    throw new KgcError('kgc_corrupt', 'the root key does not match the root certificate');
  }
  return { paths, rootKey, rootCertPem, rootNotAfter: window.notAfter };
}

function openKgc(kgcDir: string): LoadedKgc {
  const paths = kgcPaths(kgcDir);
  const hasKey = existsSync(paths.rootKey);
  const hasCert = existsSync(paths.rootCert);
  if (!hasKey && !hasCert) throw new KgcError('kgc_not_initialized', 'no KGC root in this directory');
  if (!hasKey || !hasCert) {
    throw new KgcError('kgc_incomplete', 'the KGC directory holds only one of root key and root certificate');
  }
  return loadKgc(paths);
}

/**
 * Creates the KGC root (a P-256 key, mode 0600, and a self-signed CA certificate) in
 * `kgcDir`, or loads and checks the existing one. Idempotent: options are ignored when
 * the root exists.
 * @param opts.commonName root subject CN (default `VitalTrail KGC Root`, O=VitalTrail).
 * @param opts.validityYears root lifetime (default 10), from 5 minutes before now.
 * @throws {KgcError} `kgc_incomplete` when only one of key and certificate exists,
 *   `kgc_corrupt` when they do not match; {KeyFileError} `key_permissions` for a root
 *   key readable by group or others.
 * @example
 * const { rootCertPem, created } = await initKgc('/var/lib/vitaltrail/kgc');
 */
export async function initKgc(
  kgcDir: string,
  opts: { commonName?: string; validityYears?: number } = {},
): Promise<{ rootCertPem: string; created: boolean }> {
  const paths = kgcPaths(kgcDir);
  if (existsSync(paths.rootKey) || existsSync(paths.rootCert)) {
    return { rootCertPem: openKgc(kgcDir).rootCertPem, created: false };
  }
  const years = opts.validityYears ?? DEFAULT_ROOT_VALIDITY_YEARS;
  if (typeof years !== 'number' || !Number.isFinite(years) || years <= 0 || years > 100) {
    throw new RangeError('initKgc: opts.validityYears must be a number in (0, 100]');
  }
  const notBefore = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfter = new Date(notBefore);
  notAfter.setUTCMonth(notAfter.getUTCMonth() + Math.round(years * 12));

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { certPem } = await issueCertificate({
    subject: {
      commonName: opts.commonName ?? DEFAULT_ROOT_COMMON_NAME,
      organization: DEFAULT_ROOT_ORGANIZATION,
    },
    subjectPublicKey: publicKey,
    issuer: { privateKey },
    notBefore,
    notAfter,
    isCa: true,
  });
  // Key first, then certificate ('wx': never replace a root another process just made).
  writePrivateKeyPem(paths.rootKey, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(paths.rootCert, certPem, { flag: 'wx', mode: 0o644 });
  mkdirSync(paths.devicesDir, { recursive: true });
  return { rootCertPem: certPem, created: true };
}

/**
 * Enrols a device: a fresh P-256 key and a certificate `CN=<devId>` issued by the KGC
 * root (keyUsage digitalSignature, extKeyUsage clientAuth, basicConstraints cA false,
 * random 128-bit serial). Records the certificate as `kgcDir/issued/<devId>.cert.pem`,
 * then writes the device bundle `outDir/device.key.pem` (0600), `device.cert.pem` and
 * `kgc-root.cert.pem`. Re-enrolling a device issues a new key and certificate and
 * replaces the files; the previous certificate stays valid until it expires unless the
 * registry marks the old key revoked.
 * @param opts.validityDays lifetime (default 365) from `notBefore`;
 *   `opts.notBefore` default: 5 minutes before now; `opts.notAfter` overrides the lifetime.
 * @throws {RangeError} when `devId` is not 1-64 chars of [A-Za-z0-9._-], the window is
 *   empty, or the certificate would outlive the root.
 * @throws {KgcError} `kgc_not_initialized` when `kgcDir` holds no root.
 * @example
 * const e = await enrollDevice(kgcDir, 'ward3-bed12', '/etc/vitaltrail/device');
 * // registry.register(e.devId, e.spkiSha256)
 */
export async function enrollDevice(
  kgcDir: string,
  devId: string,
  outDir: string,
  opts: { validityDays?: number; notBefore?: Date; notAfter?: Date } = {},
): Promise<DeviceEnrolment> {
  // PROTOCOL.md §1: device ids are 1-64 chars of [A-Za-z0-9._-]; the CN is the device id (§2).
  if (typeof devId !== 'string' || !DEVICE_ID_PATTERN.test(devId)) {
    throw new RangeError('enrollDevice: devId must be 1-64 characters of [A-Za-z0-9._-]');
  }
  if (typeof outDir !== 'string' || outDir.length === 0) {
    throw new TypeError('enrollDevice: outDir must be a non-empty path string');
  }
  const days = opts.validityDays ?? DEFAULT_DEVICE_VALIDITY_DAYS;
  if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0) {
    throw new RangeError('enrollDevice: opts.validityDays must be a positive number');
  }
  const notBefore = opts.notBefore ?? new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  if (!(notBefore instanceof Date)) throw new RangeError('enrollDevice: opts.notBefore must be a Date');
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS);
  if (!(notAfter instanceof Date)) throw new RangeError('enrollDevice: opts.notAfter must be a Date');

  const kgc = openKgc(kgcDir);
  if (notAfter.getTime() > kgc.rootNotAfter) {
    throw new RangeError('enrollDevice: the certificate would outlive the KGC root certificate');
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { certPem, serial } = await issueCertificate({
    subject: { commonName: devId },
    subjectPublicKey: publicKey,
    issuer: { privateKey: kgc.rootKey, certPem: kgc.rootCertPem },
    notBefore,
    notAfter,
    extKeyUsage: ['clientAuth'],
  });

  // Record before release: a certificate is never handed out without a KGC record.
  mkdirSync(kgc.paths.devicesDir, { recursive: true });
  writeFileSync(join(kgc.paths.devicesDir, `${devId}${ISSUED_SUFFIX}`), certPem, { mode: 0o644 });

  const keyPath = join(outDir, DEVICE_KEY_FILE);
  const certPath = join(outDir, DEVICE_CERT_FILE);
  const rootCertPath = join(outDir, DEVICE_ROOT_CERT_FILE);
  writePrivateKeyPem(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
    overwrite: true,
  });
  writeFileSync(certPath, certPem, { mode: 0o644 });
  writeFileSync(rootCertPath, kgc.rootCertPem, { mode: 0o644 });
  return { devId, certPem, keyPath, certPath, rootCertPath, spkiSha256: spkiSha256(certPem), serial };
}

/**
 * The certificates recorded in `kgcDir/issued/`, sorted by device id (latest per device).
 * @throws {KgcError} `kgc_corrupt` when a record does not parse.
 */
export function listIssued(
  kgcDir: string,
): { devId: string; certPem: string; serial: string; notAfter: number }[] {
  const { devicesDir } = kgcPaths(kgcDir);
  if (!existsSync(devicesDir)) return [];
  const out: { devId: string; certPem: string; serial: string; notAfter: number }[] = [];
  for (const file of readdirSync(devicesDir)) {
    if (!file.endsWith(ISSUED_SUFFIX)) continue;
    const devId = file.slice(0, -ISSUED_SUFFIX.length);
    if (!DEVICE_ID_PATTERN.test(devId)) continue;
    const certPem = readFileSync(join(devicesDir, file), 'utf8');
    const cert = parseCertificatePem(certPem);
    const window = cert && certificateValidity(cert);
    if (!cert || !window) throw new KgcError('kgc_corrupt', 'an issued-certificate record does not parse');
    out.push({ devId, certPem, serial: cert.serialNumber.toLowerCase(), notAfter: window.notAfter });
  }
  return out.sort((a, b) => (a.devId < b.devId ? -1 : a.devId > b.devId ? 1 : 0));
}
