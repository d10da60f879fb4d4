/**
 * @module kgc/certificate
 * Issuing one X.509 v3 certificate (RFC 5280) on a P-256 key, signed with ECDSA and
 * SHA-256 (RFC 5758 §3.2): the low-level step behind the CA, device enrolment and gateway
 * certificates. Built with @peculiar/x509 over node's WebCrypto (`./x509.ts`); parsed back
 * with node:crypto (`./chain.ts`).
 */
import { createPublicKey, type KeyObject, randomBytes, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { parseCertificatePem } from './chain.js';
import { loadX509 } from './x509.js';

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

/**
 * notBefore is set this far in the past by default, so a verifier whose clock lags the
 * KGC's a little still accepts a fresh certificate (the 5-minute skew of PROTOCOL.md §1).
 */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;

/** ECDSA on P-256 (RFC 5480 §2.1.1.1 secp256r1) with SHA-256. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const SERIAL_BYTES = 16;
const SERIAL_HEX = /^[0-9a-fA-F]{1,40}$/;
const COMMON_NAME_MAX = 64;

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

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: subjectDn,
    issuer: issuerName,
    notBefore,
    notAfter,
    publicKey: subjectSpki,
    signingKey: await ecdsaSigningKey(issuer.privateKey),
    signingAlgorithm: ECDSA_SHA256,
    extensions,
  });
  const certPem = `${cert.toString('pem').trim()}\n`;
  return { certPem, serial: serialOf(certPem) };
}

/** A P-256 private key as the WebCrypto signing key @peculiar/x509's generators sign with. */
export async function ecdsaSigningKey(privateKey: KeyObject): Promise<CryptoKey> {
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign'])) as unknown as CryptoKey;
}

/** Serial number of a PEM certificate as lowercase hex without leading zero bytes. */
function serialOf(certPem: string): string {
  const cert = parseCertificatePem(certPem);
  if (!cert) throw new TypeError('serialOf: not a PEM certificate');
  return cert.serialNumber.toLowerCase();
}
