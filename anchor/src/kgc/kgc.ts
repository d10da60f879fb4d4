/**
 * @module kgc/kgc
 * The minimal Key Generation Center: the consortium CA of ARCHITECTURE.md ("KGC: CLI
 * commands on local key files"), issuing X.509 v3 certificates (RFC 5280) on P-256 keys
 * (ECDSA with SHA-256, RFC 5758 §3.2) that devices present for mutual TLS and whose
 * SubjectPublicKeyInfo hash goes to the registry (PROTOCOL.md §2 "TLS port", §4).
 *
 * A two-level CA: an offline root signs an issuing CA, which signs device certificates
 * (clientAuth), gateway TLS certificates (serverAuth, with the gateway's on-chain account)
 * and the CRL (RFC 5280 §5). The directory layout is described at `kgcPaths`.
 *
 * Certificates are made with @peculiar/x509 over node's WebCrypto and checked with
 * node:crypto (`./chain.ts`).
 */

import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, webcrypto } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { VitalTrailError } from '../../../gateway/src/protocol/errors.js';
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { certificateValidity, isIssuedBy, parseCertificatePem, spkiSha256 } from './chain.js';
import { PRIVATE_KEY_MODE, readPrivateKey, writePrivateKeyPem } from './keys.js';

export type KgcErrorCode =
  | 'kgc_not_initialized'
  | 'kgc_incomplete'
  | 'kgc_corrupt'
  | 'kgc_unknown_device'
  | 'pkcs12_failed';

export class KgcError extends VitalTrailError<KgcErrorCode> {
  override readonly name = 'KgcError';
}

export interface KgcPaths {
  rootKey: string;
  rootCert: string;
  issuingKey: string;
  issuingCert: string;
  /** Records of issued device certificates, one `<devId>.cert.pem` each (the current one; public). */
  devicesDir: string;
  /** Records of gateway TLS certificates, one `<name>.cert.pem` each. */
  gatewaysDir: string;
  /** Revocation records (JSON). */
  revoked: string;
  /** The signed CRLs (PEM, one per CA). */
  crl: string;
}

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

export interface CertificateSubject {
  /** X.520 commonName, 1-64 characters (RFC 5280 Appendix A ub-common-name). */
  commonName: string;
  organization?: string;
}

export type ExtKeyUsageName = 'clientAuth' | 'serverAuth';

export interface IssueCertificateParameters {
  subject: CertificateSubject;
  /** P-256 public key to certify (RSA ≥ 3072 bits is accepted for a `serverAuth`-only leaf). */
  subjectPublicKey: KeyObject;
  /** subjectAltName entries (RFC 5280 §4.2.1.6); omitted when empty. */
  subjectAltNames?: { dns?: readonly string[]; ip?: readonly string[]; uri?: readonly string[] };
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
export const DEFAULT_ISSUING_COMMON_NAME = 'VitalTrail KGC Issuing CA';
export const DEFAULT_ISSUING_VALIDITY_YEARS = 5;
/**
 * notBefore is set this far in the past by default, so a verifier whose clock lags the
 * KGC's a little still accepts a fresh certificate (the 5-minute skew of PROTOCOL.md §1).
 */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;

/** Device enrolment bundle file names, inside the `outDir` of `enrollDevice`. */
export const DEVICE_KEY_FILE = 'device.key.pem';
export const DEVICE_CERT_FILE = 'device.cert.pem';
export const DEVICE_ROOT_CERT_FILE = 'kgc-root.cert.pem';
export const DEVICE_ISSUING_CERT_FILE = 'kgc-issuing.cert.pem';

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

function isRsa3072(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 3072;
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
  const serverOnly = params.extKeyUsage?.length === 1 && params.extKeyUsage[0] === 'serverAuth';
  if (!isP256(subjectPublicKey) && !(serverOnly && !isCa && isRsa3072(subjectPublicKey)))
    throw new TypeError('issueCertificate: subjectPublicKey must be a P-256 key (RSA-3072+ for TLS servers)');
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
  const san = params.subjectAltNames;
  const generalNames: X509.JsonGeneralName[] = [
    ...(san?.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(san?.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(san?.uri ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  if (generalNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(generalNames));

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

//
// Layout (all under `kgcDir`):
// - `root.key.pem` (0600), `root.cert.pem`: the offline root, self-signed, pathLen 1
// - `issuing.key.pem` (0600), `issuing.cert.pem`: the issuing CA, signed by the root, pathLen 0;
//   it signs device and gateway certificates and its CRL. A KGC made before the issuing CA
//   existed (root only) gets one at the next `initKgc`/`enrollDevice`; the device
//   certificates its root signed directly keep verifying (the chain check takes either).
// - `issued/<devId>.cert.pem`: the current certificate of each device (public, 0644, replaced
//   atomically): the directory gateways with their own data dir follow (`kgc.issuedDir`)
// - `gateways/<name>.cert.pem`: the latest TLS server certificate of each gateway name
// - `revoked.json`: revocation records `{devId, serial, issuer, revokedAt}`
// - `crl.pem`: the CRLs (RFC 5280 §5), one per CA that signed a revoked certificate, re-signed
//   at every revocation (the root's only while it has root-signed device certificates revoked).

/** The file layout of a KGC directory. */
export function kgcPaths(kgcDir: string): KgcPaths {
  if (typeof kgcDir !== 'string' || kgcDir.length === 0) {
    throw new TypeError('kgcDir must be a non-empty path string');
  }
  return {
    rootKey: join(kgcDir, 'root.key.pem'),
    rootCert: join(kgcDir, 'root.cert.pem'),
    issuingKey: join(kgcDir, 'issuing.key.pem'),
    issuingCert: join(kgcDir, 'issuing.cert.pem'),
    devicesDir: join(kgcDir, 'issued'),
    gatewaysDir: join(kgcDir, 'gateways'),
    revoked: join(kgcDir, 'revoked.json'),
    crl: join(kgcDir, 'crl.pem'),
  };
}

interface CaKey {
  key: KeyObject;
  certPem: string;
  notAfter: number;
}

interface LoadedKgc {
  paths: KgcPaths;
  root: CaKey;
  /** Absent in a root-only KGC until `ensureIssuing` runs. */
  issuing: CaKey | undefined;
}

/** Reads a CA key and certificate and checks that they belong together (and, for a sub-CA, its issuer). */
function loadCa(keyPath: string, certPath: string, what: string, parentPem?: string): CaKey {
  const key = readPrivateKey(keyPath);
  const certPem = readFileSync(certPath, 'utf8');
  const cert = parseCertificatePem(certPem);
  const window = cert && certificateValidity(cert);
  const parent = parentPem === undefined ? cert : parseCertificatePem(parentPem);
  if (!cert || !window || !cert.ca || !parent || !isIssuedBy(cert, parent)) {
    throw new KgcError('kgc_corrupt', `the ${what} certificate is not a CA certificate of this KGC`);
  }
  if (!cert.publicKey.equals(createPublicKey(key))) {
    throw new KgcError('kgc_corrupt', `the ${what} key does not match the ${what} certificate`);
  }
  return { key, certPem, notAfter: window.notAfter };
}

function openKgc(kgcDir: string): LoadedKgc {
  const paths = kgcPaths(kgcDir);
  const hasKey = existsSync(paths.rootKey);
  const hasCert = existsSync(paths.rootCert);
  if (!hasKey && !hasCert) throw new KgcError('kgc_not_initialized', 'no KGC root in this directory');
  if (!hasKey || !hasCert) {
    throw new KgcError('kgc_incomplete', 'the KGC directory holds only one of root key and root certificate');
  }
  const root = loadCa(paths.rootKey, paths.rootCert, 'root');
  const hasIssuingKey = existsSync(paths.issuingKey);
  if (hasIssuingKey !== existsSync(paths.issuingCert)) {
    throw new KgcError('kgc_incomplete', 'the KGC directory holds only one of issuing key and certificate');
  }
  const issuing = hasIssuingKey
    ? loadCa(paths.issuingKey, paths.issuingCert, 'issuing CA', root.certPem)
    : undefined;
  return { paths, root, issuing };
}

/** Creates the issuing CA of a KGC that has none yet (new KGCs, and root-only KGCs of earlier releases). */
async function ensureIssuing(kgc: LoadedKgc, validityYears = DEFAULT_ISSUING_VALIDITY_YEARS): Promise<CaKey> {
  if (kgc.issuing) return kgc.issuing;
  const notBefore = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfter = new Date(Math.min(addYears(notBefore, validityYears).getTime(), kgc.root.notAfter));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { certPem } = await issueCertificate({
    subject: { commonName: DEFAULT_ISSUING_COMMON_NAME, organization: DEFAULT_ROOT_ORGANIZATION },
    subjectPublicKey: publicKey,
    issuer: { privateKey: kgc.root.key, certPem: kgc.root.certPem },
    notBefore,
    notAfter,
    isCa: true,
    pathLength: 0,
  });
  writePrivateKeyPem(kgc.paths.issuingKey, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(kgc.paths.issuingCert, certPem, { flag: 'wx', mode: 0o644 });
  kgc.issuing = { key: privateKey, certPem, notAfter: notAfter.getTime() };
  return kgc.issuing;
}

function addYears(from: Date, years: number): Date {
  const d = new Date(from);
  d.setUTCMonth(d.getUTCMonth() + Math.round(years * 12));
  return d;
}

/**
 * Creates the KGC (a P-256 root key, mode 0600, its self-signed CA certificate, and an
 * issuing CA signed by the root) in `kgcDir`, or loads and checks the existing one,
 * adding the issuing CA to a root-only KGC. Idempotent: options are ignored when the root exists.
 * @param opts.commonName root subject CN (default `VitalTrail KGC Root`, O=VitalTrail).
 * @param opts.validityYears root lifetime (default 10), from 5 minutes before now; the
 *   issuing CA lives 5 years (at most as long as the root).
 * @throws {KgcError} `kgc_incomplete` when only one of key and certificate exists,
 *   `kgc_corrupt` when they do not match; {KeyFileError} `key_permissions` for a CA
 *   key readable by group or others.
 * @example
 * const { rootCertPem, created } = await initKgc('/var/lib/vitaltrail/kgc');
 */
export async function initKgc(
  kgcDir: string,
  opts: { commonName?: string; validityYears?: number } = {},
): Promise<{ rootCertPem: string; issuingCertPem: string; created: boolean }> {
  const paths = kgcPaths(kgcDir);
  if (existsSync(paths.rootKey) || existsSync(paths.rootCert)) {
    const kgc = openKgc(kgcDir);
    const issuing = await ensureIssuing(kgc);
    return { rootCertPem: kgc.root.certPem, issuingCertPem: issuing.certPem, created: false };
  }
  const years = opts.validityYears ?? DEFAULT_ROOT_VALIDITY_YEARS;
  if (typeof years !== 'number' || !Number.isFinite(years) || years <= 0 || years > 100) {
    throw new RangeError('initKgc: opts.validityYears must be a number in (0, 100]');
  }
  const notBefore = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfter = addYears(notBefore, years);

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
    pathLength: 1,
  });
  // Key first, then certificate ('wx': never replace a root another process just made).
  writePrivateKeyPem(paths.rootKey, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(paths.rootCert, certPem, { flag: 'wx', mode: 0o644 });
  mkdirSync(paths.devicesDir, { recursive: true });
  const kgc: LoadedKgc = {
    paths,
    root: { key: privateKey, certPem, notAfter: notAfter.getTime() },
    issuing: undefined,
  };
  const issuing = await ensureIssuing(kgc, Math.min(DEFAULT_ISSUING_VALIDITY_YEARS, years));
  return { rootCertPem: certPem, issuingCertPem: issuing.certPem, created: true };
}

/**
 * The KGC's public trust material, readable without any private key (what a gateway
 * needs): the root certificate and the intermediates (the issuing CA, when there is one).
 * @throws {KgcError} `kgc_not_initialized` when there is no root certificate.
 */
export function readKgcTrust(kgcDir: string): { rootPem: string; intermediatesPem: string[] } {
  const paths = kgcPaths(kgcDir);
  if (!existsSync(paths.rootCert)) throw new KgcError('kgc_not_initialized', 'no KGC root in this directory');
  const rootPem = readFileSync(paths.rootCert, 'utf8');
  const intermediatesPem = existsSync(paths.issuingCert) ? [readFileSync(paths.issuingCert, 'utf8')] : [];
  return { rootPem, intermediatesPem };
}

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
  const issuing = await ensureIssuing(kgc);
  if (notAfter.getTime() > issuing.notAfter) {
    throw new RangeError('enrollDevice: the certificate would outlive the KGC issuing CA certificate');
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
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

  const keyPath = join(outDir, DEVICE_KEY_FILE);
  const certPath = join(outDir, DEVICE_CERT_FILE);
  const rootCertPath = join(outDir, DEVICE_ROOT_CERT_FILE);
  const issuingCertPath = join(outDir, DEVICE_ISSUING_CERT_FILE);
  writePrivateKeyPem(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
    overwrite: true,
  });
  writeFileSync(certPath, certPem, { mode: 0o644 });
  writeFileSync(issuingCertPath, issuing.certPem, { mode: 0o644 });
  writeFileSync(rootCertPath, kgc.root.certPem, { mode: 0o644 });
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

/** A revocation record in `revoked.json`. */
export interface RevocationRecord {
  devId: string;
  serial: string;
  /** Which CA signed the revoked certificate, hence which CRL lists it. */
  issuer: 'root' | 'issuing';
  revokedAt: number;
}

function readRevocations(paths: KgcPaths): RevocationRecord[] {
  if (!existsSync(paths.revoked)) return [];
  const parsed: unknown = JSON.parse(readFileSync(paths.revoked, 'utf8'));
  if (!Array.isArray(parsed)) throw new KgcError('kgc_corrupt', 'revoked.json is not a list');
  return parsed as RevocationRecord[];
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

// ---------------------------------------------------------------------------------------
// Revocation and CRLs (RFC 5280 §5).

/** How long a CRL is current (nextUpdate); it is re-signed at every revocation. */
export const CRL_VALIDITY_DAYS = 7;

/**
 * Revokes the current certificate of `devId`: records it in `revoked.json` and re-signs
 * the CRLs in `crl.pem`. Idempotent: revoking a revoked certificate changes nothing.
 * The gateway's store, the chain registry and open sessions are the caller's
 * (`gateway/src/io/identity/enrol.ts` `revokeEnrolledDevice`).
 * @throws {KgcError} `kgc_not_initialized`; `kgc_unknown_device` when the KGC never issued
 *   a certificate to `devId`.
 * @example
 * const { serial } = await revokeDevice(kgcDir, 'ward3-bed12');
 */
export async function revokeDevice(
  kgcDir: string,
  devId: string,
  opts: { at?: Date } = {},
): Promise<{ serial: string; alreadyRevoked: boolean; crlPem: string }> {
  if (typeof devId !== 'string' || !DEVICE_ID_PATTERN.test(devId)) {
    throw new RangeError('revokeDevice: devId must be 1-64 characters of [A-Za-z0-9._-]');
  }
  const kgc = openKgc(kgcDir);
  const recordPath = join(kgc.paths.devicesDir, `${devId}${ISSUED_SUFFIX}`);
  if (!existsSync(recordPath))
    throw new KgcError('kgc_unknown_device', 'the KGC issued no certificate to this device');
  const cert = parseCertificatePem(readFileSync(recordPath, 'utf8'));
  if (!cert) throw new KgcError('kgc_corrupt', 'an issued-certificate record does not parse');
  const serial = cert.serialNumber.toLowerCase();
  const records = readRevocations(kgc.paths);
  const alreadyRevoked = records.some((r) => r.serial === serial);
  if (!alreadyRevoked) {
    const rootCert = parseCertificatePem(kgc.root.certPem);
    const issuer: RevocationRecord['issuer'] = rootCert && isIssuedBy(cert, rootCert) ? 'root' : 'issuing';
    records.push({ devId, serial, issuer, revokedAt: (opts.at ?? new Date()).getTime() });
    writeFileAtomic(kgc.paths.revoked, `${JSON.stringify(records, null, 2)}\n`);
  }
  const crlPem = await writeCrls(kgc, records);
  return { serial, alreadyRevoked, crlPem };
}

/** Signs the CRLs of both CAs from `records` and writes them to `crl.pem`. */
async function writeCrls(kgc: LoadedKgc, records: readonly RevocationRecord[]): Promise<string> {
  const x509 = await loadX509();
  const issuing = await ensureIssuing(kgc);
  const thisUpdate = new Date();
  const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_DAYS * DAY_MS);
  const pems: string[] = [];
  for (const [which, ca] of [
    ['issuing', issuing],
    ['root', kgc.root],
  ] as const) {
    const entries = records.filter((r) => r.issuer === which);
    if (which === 'root' && entries.length === 0) continue; // the issuing CA's CRL always exists
    const caCert = new x509.X509Certificate(ca.certPem);
    const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
    const signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      ca.key.export({ type: 'pkcs8', format: 'der' }),
      EC_P256,
      false,
      ['sign'],
    );
    const crl = await x509.X509CrlGenerator.create({
      issuer: caCert.subjectName,
      thisUpdate,
      nextUpdate,
      signingKey: signingKey as unknown as CryptoKey,
      signingAlgorithm: ECDSA_SHA256,
      ...(ski ? { extensions: [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] } : {}),
      entries: entries.map((r) => ({
        serialNumber: r.serial,
        revocationDate: new Date(r.revokedAt),
        reason: x509.X509CrlReason.keyCompromise,
      })),
    });
    // RFC 7468 §5 label "X509 CRL" (what OpenSSL writes; x509's own PEM says "CRL").
    const b64 = Buffer.from(crl.rawData).toString('base64').replace(/.{64}/g, '$&\n').trim();
    pems.push(`-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----`);
  }
  const crlPem = `${pems.join('\n')}\n`;
  writeFileAtomic(kgc.paths.crl, crlPem);
  return crlPem;
}

/**
 * Writes a public file (mode 0644 whatever the umask) by temporary file + rename, so
 * readers never see half of it.
 */
function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
}

const CRL_PEM_BLOCK = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/g;

/**
 * The serials (lowercase hex) listed in `kgcDir/crl.pem`, after checking every CRL's
 * signature against the KGC root or its issuing CA. What the gateway reads: public files only.
 * No CRL file means nothing is revoked.
 * @throws {KgcError} `kgc_corrupt` when a CRL does not parse or is not signed by a KGC CA.
 * @example
 * if ((await readRevokedSerials(kgcDir)).has(peerSerial)) refuse();
 */
export async function readRevokedSerials(kgcDir: string): Promise<Set<string>> {
  const paths = kgcPaths(kgcDir);
  const out = new Set<string>();
  if (!existsSync(paths.crl)) return out;
  const x509 = await loadX509();
  const { rootPem, intermediatesPem } = readKgcTrust(kgcDir);
  const cas = [rootPem, ...intermediatesPem].map((pem) => new x509.X509Certificate(pem));
  for (const block of readFileSync(paths.crl, 'utf8').matchAll(CRL_PEM_BLOCK)) {
    let crl: X509.X509Crl;
    try {
      crl = new x509.X509Crl(new Uint8Array(Buffer.from(block[1] ?? '', 'base64')));
    } catch (err) {
      throw new KgcError('kgc_corrupt', 'a CRL does not parse', { cause: err });
    }
    let trusted = false;
    for (const ca of cas) {
      if (ca.subject !== crl.issuer) continue;
      if (await crl.verify({ publicKey: ca.publicKey })) trusted = true;
    }
    if (!trusted) throw new KgcError('kgc_corrupt', 'a CRL is not signed by a KGC certificate authority');
    for (const entry of crl.entries) out.add(entry.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ''));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Gateway TLS server certificates.

/** Lifetime of a gateway TLS certificate (CA/Browser Forum's 397-day ceiling). */
export const DEFAULT_GATEWAY_CERT_VALIDITY_DAYS = 397;
/** File names of a gateway's TLS material inside the `outDir` of `issueGatewayCertificate`. */
export const GATEWAY_KEY_FILE = 'server.key.pem';
export const GATEWAY_CERT_FILE = 'server.cert.pem';
export const GATEWAY_CA_FILE = 'ca.cert.pem';
/**
 * The gateway's on-chain account is carried as a subjectAltName URI `ethereum:0x<40 hex>`
 * (the EIP-681 scheme, without chain id or function): ordinary X.509 tooling shows it,
 * and no private extension OID is needed.
 */
export const ETHEREUM_URI_PREFIX = 'ethereum:';
const ACCOUNT_PATTERN = /^0x[0-9a-fA-F]{40}$/;
const IPV4_PATTERN = /^\d{1,3}(\.\d{1,3}){3}$/;
const DNS_NAME_PATTERN =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface GatewayCertificate {
  certPem: string;
  serial: string;
  keyPath: string;
  /** The leaf followed by the issuing CA: what the TLS server presents. */
  certPath: string;
  /** The KGC root: what clients trust. */
  caPath: string;
  account: `0x${string}` | undefined;
}

/**
 * Issues a TLS server certificate for a gateway: a fresh key (P-256 by default, or
 * RSA-3072), CN = the first name, subjectAltName DNS `localhost` + IP `127.0.0.1`, `::1`
 * + every `names` entry, and `ethereum:<account>` when given; extKeyUsage serverAuth,
 * signed by the issuing CA. Writes `outDir/server.key.pem` (0600, atomically replaced:
 * this is how a certificate is rotated), `server.cert.pem` (leaf + issuing CA) and
 * `ca.cert.pem` (root), and records it in `kgcDir/gateways/<first name>.cert.pem`.
 * @throws {RangeError} for an empty or invalid name list or an account that is not 0x + 40 hex.
 * @throws {KgcError} `kgc_not_initialized`.
 * @example
 * await issueGatewayCertificate(kgcDir, 'DATA/gateway/tls', { names: ['gw1.ward3.example'], account });
 */
export async function issueGatewayCertificate(
  kgcDir: string,
  outDir: string,
  opts: {
    names: readonly string[];
    account?: string;
    keyType?: 'p256' | 'rsa3072';
    validityDays?: number;
  },
): Promise<GatewayCertificate> {
  const names = [...new Set(opts.names)];
  if (names.length === 0 || !names.every((n) => DNS_NAME_PATTERN.test(n) || IPV4_PATTERN.test(n))) {
    throw new RangeError('issueGatewayCertificate: names must be DNS names or IPv4 addresses');
  }
  if (opts.account !== undefined && !ACCOUNT_PATTERN.test(opts.account)) {
    throw new RangeError('issueGatewayCertificate: account must be 0x followed by 40 hex digits');
  }
  const days = opts.validityDays ?? DEFAULT_GATEWAY_CERT_VALIDITY_DAYS;
  if (!Number.isFinite(days) || days <= 0)
    throw new RangeError('issueGatewayCertificate: validityDays must be positive');
  const kgc = openKgc(kgcDir);
  const issuing = await ensureIssuing(kgc);
  const notBefore = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfter = new Date(Math.min(notBefore.getTime() + days * DAY_MS, issuing.notAfter));
  const { privateKey, publicKey } =
    opts.keyType === 'rsa3072'
      ? generateKeyPairSync('rsa', { modulusLength: 3072 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dns = ['localhost', ...names.filter((n) => !IPV4_PATTERN.test(n) && n !== 'localhost')];
  const ip = ['127.0.0.1', '::1', ...names.filter((n) => IPV4_PATTERN.test(n) && n !== '127.0.0.1')];
  const commonName = names[0] as string;
  const { certPem, serial } = await issueCertificate({
    subject: { commonName, organization: DEFAULT_ROOT_ORGANIZATION },
    subjectPublicKey: publicKey,
    issuer: { privateKey: issuing.key, certPem: issuing.certPem },
    notBefore,
    notAfter,
    extKeyUsage: ['serverAuth'],
    subjectAltNames: {
      dns,
      ip,
      ...(opts.account ? { uri: [`${ETHEREUM_URI_PREFIX}${opts.account.toLowerCase()}`] } : {}),
    },
  });
  mkdirSync(kgc.paths.gatewaysDir, { recursive: true });
  writeFileSync(join(kgc.paths.gatewaysDir, `${commonName}${ISSUED_SUFFIX}`), certPem, { mode: 0o644 });
  const keyPath = join(outDir, GATEWAY_KEY_FILE);
  const certPath = join(outDir, GATEWAY_CERT_FILE);
  const caPath = join(outDir, GATEWAY_CA_FILE);
  writePrivateKeyPem(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
    overwrite: true,
  });
  writeFileAtomic(certPath, `${certPem}${issuing.certPem}`);
  writeFileAtomic(caPath, kgc.root.certPem);
  return {
    certPem,
    serial,
    keyPath,
    certPath,
    caPath,
    account: opts.account ? (opts.account.toLowerCase() as `0x${string}`) : undefined,
  };
}

/**
 * The on-chain account a gateway certificate carries (subjectAltName `ethereum:0x…`),
 * lowercase; `undefined` when there is none. Does not check trust.
 */
export function gatewayAccountOf(certPem: string): `0x${string}` | undefined {
  const cert = parseCertificatePem(certPem.slice(0, certPem.indexOf('-----END CERTIFICATE-----') + 25));
  const m = cert?.subjectAltName?.match(/URI:ethereum:(0x[0-9a-fA-F]{40})(?:,|$)/);
  return m ? (m[1]?.toLowerCase() as `0x${string}`) : undefined;
}

// ---------------------------------------------------------------------------------------
// PKCS#12 bundles.

/** Shortest PKCS#12 passphrase accepted. */
export const MIN_P12_PASSPHRASE_LENGTH = 8;

/**
 * Writes a PKCS#12 file (mode 0600) holding the device key, its certificate and the KGC
 * chain (issuing CA, root), encrypted with `passphrase` (OpenSSL 3 defaults: AES-256-CBC,
 * PBKDF2, SHA-256 MAC). Made by the system `openssl pkcs12 -export`; the passphrase goes
 * through its stdin (`-passout stdin`), never the command line or the environment.
 * @throws {RangeError} when the passphrase is shorter than 8 characters or holds a line break.
 * @throws {KgcError} `pkcs12_failed` when openssl is missing or fails.
 * @example
 * exportPkcs12('DATA/devices/wr-0001', 'wr-0001', passphrase, 'wr-0001.p12');
 */
export function exportPkcs12(deviceDir: string, devId: string, passphrase: string, outPath: string): void {
  if (
    typeof passphrase !== 'string' ||
    passphrase.length < MIN_P12_PASSPHRASE_LENGTH ||
    /[\r\n]/.test(passphrase)
  ) {
    throw new RangeError(
      `exportPkcs12: the passphrase must be at least ${MIN_P12_PASSPHRASE_LENGTH} characters on one line`,
    );
  }
  if (!DEVICE_ID_PATTERN.test(devId)) throw new RangeError('exportPkcs12: devId must be a device id');
  const keyPath = join(deviceDir, DEVICE_KEY_FILE);
  readPrivateKey(keyPath); // refuses a key file readable by others, before openssl reads it
  const chain = [DEVICE_ISSUING_CERT_FILE, DEVICE_ROOT_CERT_FILE]
    .map((f) => join(deviceDir, f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, 'utf8'))
    .join('');
  const chainPath = join(deviceDir, `.p12-chain.${randomBytes(6).toString('hex')}.pem`);
  writeFileSync(chainPath, chain, { mode: 0o600 });
  try {
    const r = spawnSync(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-inkey',
        keyPath,
        '-in',
        join(deviceDir, DEVICE_CERT_FILE),
        '-certfile',
        chainPath,
        '-name',
        devId,
        '-passout',
        'stdin',
      ],
      { input: `${passphrase}\n`, maxBuffer: 1 << 20, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    if (r.error || r.status !== 0 || !r.stdout || r.stdout.length === 0) {
      throw new KgcError('pkcs12_failed', 'openssl pkcs12 -export failed (is openssl installed?)', {
        cause: r.error,
      });
    }
    const fd = openSync(outPath, 'w', PRIVATE_KEY_MODE);
    try {
      fchmodSync(fd, PRIVATE_KEY_MODE);
      writeFileSync(fd, r.stdout);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(chainPath, { force: true });
  }
}
