/**
 * @module kgc/chain
 * Certificate-chain checking against the KGC root (ARCHITECTURE.md "Identity is the
 * KGC's"; PROTOCOL.md §1 acceptance rules `expired_certificate`, §4 device registry:
 * the SHA-256 of the certificate's SubjectPublicKeyInfo). Used by the gateway for device
 * admission and by the auditor's verifier.
 *
 * Pure: no files, sockets or timers; the time of the check is a parameter. Parsing and
 * signature checks are node:crypto's `X509Certificate` (OpenSSL), never hand-rolled.
 *
 * Trust: `certPem` and `intermediatesPem` are attacker-controlled; the only trust anchor
 * is `rootPem`, compared by its exact DER bytes. An issuer *name* that matches the root
 * proves nothing: every link is checked by signature (RFC 5280 §6.1.3 (a)(1)).
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import { sha256Hex } from '../../../gateway/src/protocol/digest.js';
import type { ErrorGroupCode } from '../../../gateway/src/protocol/error-codes.js';
import { errorClass } from '../../../gateway/src/protocol/errors.js';

export type CertificateCheckCode = ErrorGroupCode<'certificate'>;

export type CertificateCheck =
  | {
      ok: true;
      /** The leaf's public key. */
      publicKey: KeyObject;
      /** The leaf's subject commonName (the device id for device certificates). */
      cn: string;
      /** The leaf's serial number, lowercase hex (what a CRL names). */
      serial: string;
      /** SHA-256 of the leaf's SubjectPublicKeyInfo DER, 0x-prefixed lowercase hex. */
      spkiSha256: `0x${string}`;
      /** Leaf validity window, milliseconds since the Unix epoch (both ends inclusive). */
      notBefore: number;
      notAfter: number;
      /**
       * Where the whole path is valid (the intersection of every certificate's window):
       * the same check at any time inside it gives the same result.
       */
      pathNotBefore: number;
      pathNotAfter: number;
    }
  | { ok: false; code: CertificateCheckCode; reason: string };

export type CertificateChecker = (
  certPem: string,
  rootPem: string,
  intermediatesPem: readonly string[],
  atMs: number,
) => CertificateCheck;

/** RFC 5280 §4.2.1.12 id-kp-clientAuth: the extended key usage every device certificate carries. */
export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Longest chain accepted, root excluded: bounds the work an attacker can ask for. */
export const MAX_INTERMEDIATES = 8;

/** Thrown by `spkiSha256` for input that is not one PEM certificate. */
export class CertificateError extends errorClass<'certificate'>('CertificateError') {}

const PEM_CERT_BEGIN = '-----BEGIN CERTIFICATE-----';

/**
 * Parses exactly one PEM certificate; anything else (garbage, bundles, keys, non-strings)
 * is `undefined`. Never throws.
 */
export function parseCertificatePem(pem: unknown): X509Certificate | undefined {
  if (typeof pem !== 'string') return undefined;
  const first = pem.indexOf(PEM_CERT_BEGIN);
  if (first < 0 || pem.indexOf(PEM_CERT_BEGIN, first + 1) >= 0) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/**
 * The trust anchors (root and intermediates) parsed once: every device's chain check names
 * the same few, and each parse costs OpenSSL memory that glibc rarely gives back (a
 * gateway checking 10,000 enrolled devices at start parsed the root 10,000 times).
 * Certificates are immutable, so a parsed one serves every later check; a handful kept.
 */
const anchors = new Map<string, X509Certificate | undefined>();
const MAX_ANCHORS = 16;

function parseAnchorPem(pem: string): X509Certificate | undefined {
  if (anchors.has(pem)) return anchors.get(pem);
  const cert = parseCertificatePem(pem);
  if (anchors.size >= MAX_ANCHORS) anchors.clear();
  anchors.set(pem, cert);
  return cert;
}

function untrusted(reason: string): CertificateCheck {
  return { ok: false, code: 'untrusted_certificate', reason };
}

function expired(reason: string): CertificateCheck {
  return { ok: false, code: 'expired_certificate', reason };
}

/** True when `subject` names `issuer` as its issuer and carries a valid signature by it. Never throws. */
export function isIssuedBy(subject: X509Certificate, issuer: X509Certificate): boolean {
  try {
    // `a.checkIssued(b)`: "a was issued by b" (OpenSSL X509_check_issued: names, AKI/SKI
    // and the issuer's keyUsage); verify: the signature itself (RFC 5280 §6.1.3 (a)(1)).
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Validity window in ms since the Unix epoch; `undefined` when the dates do not parse. */
export function certificateValidity(
  cert: X509Certificate,
): { notBefore: number; notAfter: number } | undefined {
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return undefined;
  return { notBefore, notAfter };
}

function spkiHashOf(cert: X509Certificate, publicKey = cert.publicKey): `0x${string}` {
  // PROTOCOL.md §4: the registry stores SHA-256 of the certificate's SubjectPublicKeyInfo.
  // node re-encodes the key as SPKI DER; for the KGC's P-256 named-curve keys with
  // uncompressed points this is byte-identical to the certificate's own field.
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' }));
}

/** The single commonName of the subject, or `undefined` if there is none or several. */
function commonName(cert: X509Certificate): string | undefined {
  const subject = cert.toLegacyObject().subject as unknown as Record<string, unknown> | undefined;
  const cn = subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}

/**
 * Checks that `certPem` is a leaf certificate chaining to the KGC root `rootPem`, valid
 * at `atMs`. Never throws for bad certificate input: every failure is a coded result.
 *
 * Rules: each link is checked by signature, every issuing certificate is a CA
 * (basicConstraints cA), the top of the chain is `rootPem` byte for byte (DER) and is
 * self-signed; every certificate on the path is valid at `atMs` (RFC 5280 §4.1.2.5, both
 * ends inclusive) else `expired_certificate`; the leaf is not a CA, carries the clientAuth
 * extended key usage (a device certificate) and has exactly one commonName. Trust is decided before time, so an untrusted and expired certificate is
 * reported `untrusted_certificate`. Path building is greedy (root first, then the first
 * intermediate that signed the current certificate); pathLenConstraint is not checked.
 *
 * @throws {TypeError} when `rootPem` is not a string or `intermediatesPem` not an array.
 * @throws {RangeError} when `atMs` is not a finite number.
 * @example
 * const r = verifyCertificateChain(devicePem, kgcRootPem, [], Date.now());
 * if (!r.ok) reject(r.code); else admit(r.cn, r.publicKey);
 */
export const verifyCertificateChain: CertificateChecker = (certPem, rootPem, intermediatesPem, atMs) => {
  if (typeof rootPem !== 'string')
    throw new TypeError('verifyCertificateChain: rootPem must be a PEM string');
  if (!Array.isArray(intermediatesPem)) {
    throw new TypeError('verifyCertificateChain: intermediatesPem must be an array of PEM strings');
  }
  if (typeof atMs !== 'number' || !Number.isFinite(atMs)) {
    throw new RangeError('verifyCertificateChain: atMs must be a finite number of milliseconds');
  }

  const leaf = parseCertificatePem(certPem);
  if (!leaf) return untrusted('certificate does not parse');
  const root = parseAnchorPem(rootPem);
  if (!root) return untrusted('root certificate does not parse');
  if (intermediatesPem.length > MAX_INTERMEDIATES) return untrusted('too many intermediate certificates');
  const intermediates: X509Certificate[] = [];
  for (const pem of intermediatesPem) {
    const cert = typeof pem === 'string' ? parseAnchorPem(pem) : undefined;
    if (!cert) return untrusted('intermediate certificate does not parse');
    // A copy of the root among the intermediates is the root itself.
    if (!cert.raw.equals(root.raw)) intermediates.push(cert);
  }

  // The trust anchor: self-signed CA (RFC 5280 §6.1.1 (d) trust anchor information).
  if (!root.ca || !isIssuedBy(root, root)) return untrusted('root is not a self-signed CA certificate');
  if (leaf.raw.equals(root.raw) || leaf.ca) return untrusted('leaf certificate is a CA certificate');
  // RFC 5280 §4.2.1.12: a device certificate is for TLS client authentication (the KGC issues
  // it with extKeyUsage clientAuth); one without it (e.g. a gateway's serverAuth certificate
  // of the same KGC) is not a device's.
  if (!(leaf.keyUsage ?? []).includes(OID_CLIENT_AUTH))
    return untrusted('certificate is not for client authentication (no clientAuth extended key usage)');

  // Build the path leaf -> ... -> root by signatures, never by names alone.
  const path: X509Certificate[] = [leaf];
  const unused = new Set(intermediates);
  let current = leaf;
  for (;;) {
    if (isIssuedBy(current, root)) break;
    let next: X509Certificate | undefined;
    for (const candidate of unused) {
      // RFC 5280 §6.1.4 (k): every issuing certificate must be a CA.
      if (candidate.ca && isIssuedBy(current, candidate)) {
        next = candidate;
        break;
      }
    }
    if (!next) return untrusted('certificate does not chain to the KGC root');
    unused.delete(next);
    path.push(next);
    current = next;
  }
  path.push(root);

  // RFC 5280 §6.1.3 (a)(2): every certificate on the path is valid at the checked time.
  let leafValidity: { notBefore: number; notAfter: number } | undefined;
  let pathNotBefore = Number.NEGATIVE_INFINITY;
  let pathNotAfter = Number.POSITIVE_INFINITY;
  for (const [i, cert] of path.entries()) {
    const window = certificateValidity(cert);
    if (!window) return untrusted('certificate validity does not parse');
    const what = i === 0 ? 'certificate' : 'an issuing certificate';
    if (atMs < window.notBefore) return expired(`${what} is not yet valid`);
    if (atMs > window.notAfter) return expired(`${what} has expired`);
    if (i === 0) leafValidity = window;
    pathNotBefore = Math.max(pathNotBefore, window.notBefore);
    pathNotAfter = Math.min(pathNotAfter, window.notAfter);
  }
  if (!leafValidity) return untrusted('certificate validity does not parse');

  const cn = commonName(leaf);
  if (cn === undefined) return untrusted('certificate subject has no single commonName');
  const publicKey = leaf.publicKey; // a new key object per call: made once here
  return {
    ok: true,
    publicKey,
    cn,
    serial: leaf.serialNumber.toLowerCase(),
    spkiSha256: spkiHashOf(leaf, publicKey),
    notBefore: leafValidity.notBefore,
    notAfter: leafValidity.notAfter,
    pathNotBefore,
    pathNotAfter,
  };
};

/**
 * SHA-256 of a certificate's SubjectPublicKeyInfo DER as 0x-prefixed lowercase hex: the
 * value the KGC writes to the device registry (PROTOCOL.md §4). Does not check trust.
 * @throws {CertificateError} code `untrusted_certificate` when `certPem` is not one PEM certificate.
 */
export function spkiSha256(certPem: string): `0x${string}` {
  const cert = parseCertificatePem(certPem);
  if (!cert) throw new CertificateError('untrusted_certificate', 'certificate does not parse');
  return spkiHashOf(cert);
}
