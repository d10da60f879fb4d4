/**
 * @module kgc/csr
 * Device enrolment from a certificate signing request (issue 17): the device, or its factory
 * line, makes its own P-256 key and sends a PKCS#10 request (RFC 2986; the request body of
 * RFC 7030 §4.2.1 `simpleenroll`); the KGC checks it and certifies the key exactly as
 * `enrollDevice` does, without ever seeing the private key.
 *
 * Checks, in order, each refusal a `CsrError`:
 * 1. it parses as one PKCS#10 request, PEM (`CERTIFICATE REQUEST`) or DER [`csr_malformed`];
 * 2. its key is EC P-256 (PROTOCOL.md §1 ES256) [`csr_unsupported_key`];
 * 3. its signature verifies with that key (proof of possession, RFC 2986 §3) [`csr_bad_signature`];
 * 4. its subject has exactly one commonName, a device id (PROTOCOL.md §1), and the one asked
 *    for when the caller names one [`csr_bad_subject`].
 * Nothing else of the request is used: the KGC sets the subject (`CN=<devId>` only), the
 * extensions and the validity; requested extensions and attributes are ignored.
 *
 * Trust: the request is attacker-controlled; its fields are parsed defensively and never
 * echoed in error messages.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { errorClass } from '../../../gateway/src/protocol/errors.js';
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { spkiSha256 } from './chain.js';
import { certifyDeviceKey, type DeviceValidityOptions } from './enrolment.js';
import { loadX509 } from './x509.js';

export class CsrError extends errorClass<'csr'>('CsrError') {}
export type CsrErrorCode = CsrError['code'];

/** A request of ours is well under 1 KiB; anything larger than this is refused unparsed. */
export const MAX_CSR_BYTES = 16 * 1024;

/** RFC 7468 §7 label, and the legacy `NEW CERTIFICATE REQUEST` some tools still write. */
const PEM_BLOCK =
  /-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1?CERTIFICATE REQUEST-----/g;
const PEM_ANY = /-----BEGIN /;

/** What a valid request asks for. */
export interface CheckedCsr {
  devId: string;
  publicKey: KeyObject;
  spkiSha256: `0x${string}`;
}

/** The DER of the one request in `input` (PEM or DER). */
function requestDer(input: string | Uint8Array): Uint8Array {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
  if (bytes.length === 0 || bytes.length > MAX_CSR_BYTES) {
    throw new CsrError('csr_malformed', `the request is empty or larger than ${MAX_CSR_BYTES} bytes`);
  }
  if (bytes[0] === 0x30) return bytes; // DER: a SEQUENCE
  const text = bytes.toString('utf8');
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== 1 || (text.match(new RegExp(PEM_ANY, 'g')) ?? []).length !== 1) {
    throw new CsrError('csr_malformed', 'the input is not exactly one PEM CERTIFICATE REQUEST block');
  }
  const der = Buffer.from((blocks[0]?.[2] ?? '').replace(/\s+/g, ''), 'base64');
  if (der.length === 0 || der[0] !== 0x30) {
    throw new CsrError('csr_malformed', 'the PEM block does not hold a DER request');
  }
  return der;
}

/** The encoded length of the DER SEQUENCE `der` starts with (X.690 §8.1.3 definite length), or -1. */
function derSequenceLength(der: Uint8Array): number {
  if (der.length < 2 || der[0] !== 0x30) return -1;
  const first = der[1] as number;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 3 || der.length < 2 + n) return -1; // indefinite, or longer than any cap
  let len = 0;
  for (let i = 0; i < n; i += 1) len = len * 256 + (der[2 + i] as number);
  return 2 + n + len;
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/**
 * Checks a PKCS#10 request (the module's four checks) and returns the device id and key it
 * asks a certificate for.
 * @param input the request, PEM or DER (attacker-controlled)
 * @param opts.devId the device id the caller expects; the request's CN must equal it
 * @throws {CsrError} `csr_malformed`, `csr_unsupported_key`, `csr_bad_signature`, `csr_bad_subject`
 * @example
 * const { devId, publicKey } = await checkCsr(readFileSync('wr-0042.csr.pem', 'utf8'));
 */
export async function checkCsr(
  input: string | Uint8Array,
  opts: { devId?: string } = {},
): Promise<CheckedCsr> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new TypeError('checkCsr: input must be a string or bytes');
  }
  const der = requestDer(input);
  const x509 = await loadX509();
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  let publicKey: KeyObject;
  try {
    // The whole input must be the request: no trailing bytes after the DER SEQUENCE.
    if (derSequenceLength(der) !== der.length) throw new Error('not one DER SEQUENCE');
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der).buffer);
    publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    throw new CsrError('csr_malformed', 'the input does not parse as a PKCS#10 request', { cause: err });
  }
  if (!isP256(publicKey)) {
    throw new CsrError('csr_unsupported_key', 'the requested key is not an EC P-256 key');
  }
  let signed = false;
  try {
    signed = csr.signatureAlgorithm.name === 'ECDSA' && (await csr.verify());
  } catch {
    signed = false; // an undecodable signature does not verify
  }
  if (!signed) {
    throw new CsrError('csr_bad_signature', 'the request signature does not verify with its key');
  }
  let cns: string[];
  try {
    cns = csr.subjectName.getField('CN');
  } catch (err) {
    throw new CsrError('csr_bad_subject', 'the request subject does not parse', { cause: err });
  }
  const devId = cns.length === 1 ? cns[0] : undefined;
  if (devId === undefined || !DEVICE_ID_PATTERN.test(devId)) {
    throw new CsrError(
      'csr_bad_subject',
      'the request subject must hold exactly one commonName, a device id (1-64 chars of [A-Za-z0-9._-])',
    );
  }
  if (opts.devId !== undefined && devId !== opts.devId) {
    throw new CsrError('csr_bad_subject', 'the request commonName is not the device id asked for');
  }
  // The registry's key hash (PROTOCOL.md §4): SHA-256 of the SubjectPublicKeyInfo DER.
  const spki = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' }));
  return { devId, publicKey, spkiSha256: `0x${spki.digest('hex')}` };
}

/** A certificate issued from a request. */
export interface CsrEnrolment {
  devId: string;
  certPem: string;
  serial: string;
  spkiSha256: `0x${string}`;
  /** The KGC issuing CA and root certificates, for the device's TLS chain. */
  issuingCertPem: string;
  rootCertPem: string;
}

/**
 * Enrols a device from its PKCS#10 request: `checkCsr`, then the certificate every
 * enrolment gets (`certifyDeviceKey`: `CN=<devId>`, clientAuth, the same validity), recorded
 * in `kgcDir/issued/` (gateways following it import it). No private key is made or stored.
 * Re-enrolling a device replaces its certificate, as `enrollDevice` does.
 * @throws {CsrError} when the request is refused (see `checkCsr`).
 * @throws {KgcError} `kgc_not_initialized` when `kgcDir` holds no root.
 * @example
 * const e = await enrollDeviceFromCsr(kgcDir, csrPem);
 * writeFileSync(`${e.devId}.cert.pem`, e.certPem);
 */
export async function enrollDeviceFromCsr(
  kgcDir: string,
  input: string | Uint8Array,
  opts: DeviceValidityOptions & { devId?: string } = {},
): Promise<CsrEnrolment> {
  const { devId: expected, ...validity } = opts;
  const req = await checkCsr(input, expected === undefined ? {} : { devId: expected });
  const c = await certifyDeviceKey(kgcDir, req.devId, req.publicKey, validity, 'enrollDeviceFromCsr');
  return {
    devId: req.devId,
    certPem: c.certPem,
    serial: c.serial,
    spkiSha256: spkiSha256(c.certPem),
    issuingCertPem: c.issuingCertPem,
    rootCertPem: c.rootCertPem,
  };
}
