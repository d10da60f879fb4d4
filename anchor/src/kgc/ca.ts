/**
 * @module kgc/ca
 * The KGC's two-level CA (ARCHITECTURE.md "Identity is the KGC's"): an offline P-256 root,
 * self-signed with pathLen 1, signs an issuing CA (pathLen 0), which signs device and
 * gateway certificates and its CRL (RFC 5280 §4.2.1.9, §5). `initKgc` creates or checks
 * it; `openKgc` and `ensureIssuing` are what the other KGC steps sign with.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { issueCertificate, NOT_BEFORE_BACKDATE_MS } from './certificate.js';
import { certificateValidity, isIssuedBy, parseCertificatePem } from './chain.js';
import { readPrivateKey, writePrivateKeyPem } from './keys.js';
import { KgcError, type KgcPaths, kgcPaths } from './layout.js';

/** Default root subject and lifetime. */
export const DEFAULT_ROOT_COMMON_NAME = 'VitalTrail KGC Root';
export const DEFAULT_ROOT_ORGANIZATION = 'VitalTrail';
export const DEFAULT_ROOT_VALIDITY_YEARS = 10;
export const DEFAULT_ISSUING_COMMON_NAME = 'VitalTrail KGC Issuing CA';
export const DEFAULT_ISSUING_VALIDITY_YEARS = 5;

export interface CaKey {
  key: KeyObject;
  certPem: string;
  notAfter: number;
}

export interface LoadedKgc {
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

export function openKgc(kgcDir: string): LoadedKgc {
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
export async function ensureIssuing(
  kgc: LoadedKgc,
  validityYears = DEFAULT_ISSUING_VALIDITY_YEARS,
): Promise<CaKey> {
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
