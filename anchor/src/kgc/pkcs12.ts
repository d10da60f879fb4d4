/**
 * @module kgc/pkcs12
 * PKCS#12 bundles for devices that load one (RFC 7292; README "export-p12"): the device
 * key, its certificate and the KGC chain in one passphrase-protected file, built
 * in-process with node-forge (the design card's library), so the passphrase is never in
 * a command line, the environment or a log.
 *
 * The algorithms are OpenSSL 3's `pkcs12 -export` defaults, which any current tool opens:
 * the key in a pkcs8ShroudedKeyBag and the certificates in an EncryptedData, both PBES2
 * (RFC 8018 §6.2) with PBKDF2-HMAC-SHA-256 and AES-256-CBC; the integrity MAC is
 * HMAC-SHA-256 keyed by the PKCS#12 KDF (RFC 7292 Appendix B.2) with SHA-256. No RC2,
 * 3DES or SHA-1 MAC (forge's own `toPkcs12Asn1` only does RSA keys and a SHA-1 MAC, so
 * the PFX is assembled here from forge's PBES2, KDF, HMAC and ASN.1 primitives).
 */
import { createHash, createHmac, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { parseCertificatePem } from './chain.js';
import {
  DEVICE_CERT_FILE,
  DEVICE_ISSUING_CERT_FILE,
  DEVICE_KEY_FILE,
  DEVICE_ROOT_CERT_FILE,
} from './enrolment.js';
import { readPrivateKey, writeOwnerOnlyFile } from './keys.js';
import { KgcError } from './layout.js';

/** Shortest PKCS#12 passphrase accepted. */
export const MIN_P12_PASSPHRASE_LENGTH = 8;

/** PBKDF2 and MAC-KDF iterations: OpenSSL 3's default (PKCS12_DEFAULT_ITER). */
const ITERATIONS = 2048;
/** Salt length in bytes (NIST SP 800-132 §5.1: at least 128 bits). */
const SALT_BYTES = 16;

/** RFC 7292 §4, Appendix D; PKCS #9 (RFC 2985 §5.5); PKCS #7 (RFC 2315 §14). */
const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const CTX = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
const set = (items: Asn1[]): Asn1 => asn1.create(U, T.SET, true, items);
const oid = (id: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
const octets = (bytes: string): Asn1 => asn1.create(U, T.OCTETSTRING, false, bytes);
const integer = (n: number): Asn1 => asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
const explicit0 = (inner: Asn1): Asn1 => asn1.create(CTX, 0, true, [inner]);
const der = (node: Asn1): string => asn1.toDer(node).getBytes();
const binary = (b: Uint8Array): string => Buffer.from(b).toString('binary');

/** A ContentInfo of type data (RFC 2315 §8) holding `content`'s DER. */
function dataContentInfo(content: Asn1): Asn1 {
  return seq([oid(OID.data), explicit0(octets(der(content)))]);
}

/** PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) over `plain`'s DER: [algorithm, ciphertext octets]. */
function pbes2(plain: Asn1, password: string): { algorithm: Asn1; ciphertext: string } {
  const epki = forge.pki.encryptPrivateKeyInfo(plain, password, {
    algorithm: 'aes256',
    prfAlgorithm: 'sha256',
    count: ITERATIONS,
    saltSize: SALT_BYTES,
  });
  const [algorithm, encrypted] = epki.value as Asn1[];
  if (!algorithm || !encrypted) throw new KgcError('pkcs12_failed', 'PBES2 encryption failed');
  return { algorithm, ciphertext: encrypted.value as string };
}

/** The PFX (RFC 7292 §4) as DER: certificate bags in an EncryptedData, the key shrouded, a SHA-256 MAC. */
function buildPfx(p: {
  pkcs8: Uint8Array;
  certs: readonly Uint8Array[];
  name: string;
  passphrase: string;
}): Buffer {
  const utf8 = forge.util.encodeUtf8(p.passphrase); // PBES2 takes the passphrase's UTF-8 bytes
  const leaf = p.certs[0];
  if (!leaf) throw new KgcError('pkcs12_failed', 'no device certificate');
  // localKeyId pairs the key with its certificate: SHA-1 of the certificate, as OpenSSL
  // writes it (an identifier, not a security property).
  const attributes = set([
    seq([oid(OID.friendlyName), set([asn1.create(U, T.BMPSTRING, false, p.name)])]), // forge writes a BMPString as UTF-16BE
    seq([oid(OID.localKeyId), set([octets(createHash('sha1').update(leaf).digest('binary'))])]),
  ]);
  const certBags = p.certs.map((cert, i) => {
    const bag = [
      oid(OID.certBag),
      explicit0(seq([oid(OID.x509Certificate), explicit0(octets(binary(cert)))])),
    ];
    return seq(i === 0 ? [...bag, attributes] : bag);
  });
  const certs = pbes2(seq(certBags), utf8);
  const encryptedCerts = seq([
    oid(OID.encryptedData),
    explicit0(
      seq([integer(0), seq([oid(OID.data), certs.algorithm, asn1.create(CTX, 0, false, certs.ciphertext)])]),
    ),
  ]);
  const key = pbes2(asn1.fromDer(binary(p.pkcs8)), utf8);
  const keyBag = seq([
    oid(OID.pkcs8ShroudedKeyBag),
    explicit0(seq([key.algorithm, octets(key.ciphertext)])),
    attributes,
  ]);
  const authSafe = der(seq([encryptedCerts, dataContentInfo(seq([keyBag]))]));

  // RFC 7292 Appendix B.2: MAC key from the BMPString passphrase, ID 3, with SHA-256.
  const macSalt = randomBytes(SALT_BYTES).toString('binary');
  const macKey = forge.pkcs12.generateKey(
    p.passphrase,
    forge.util.createBuffer(macSalt),
    3,
    ITERATIONS,
    32,
    forge.md.sha256.create(),
  );
  const mac = createHmac('sha256', Buffer.from(macKey.getBytes(), 'binary'))
    .update(Buffer.from(authSafe, 'binary'))
    .digest('binary');
  const macData = seq([
    seq([seq([oid(OID.sha256), asn1.create(U, T.NULL, false, '')]), octets(mac)]),
    octets(macSalt),
    integer(ITERATIONS),
  ]);
  const pfx = seq([integer(3), seq([oid(OID.data), explicit0(octets(authSafe))]), macData]);
  return Buffer.from(der(pfx), 'binary');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The DER of every certificate in the PEM files that exist among `paths`. */
function chainDer(paths: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const path of paths) {
    if (!existsSync(path)) continue;
    for (const block of readFileSync(path, 'utf8').match(PEM_CERT) ?? []) {
      try {
        out.push(new X509Certificate(block).raw);
      } catch (err) {
        throw new KgcError('pkcs12_failed', 'a KGC chain certificate does not parse', { cause: err });
      }
    }
  }
  return out;
}

/**
 * Writes a PKCS#12 file (mode 0600) holding the device key, its certificate and the KGC
 * chain (issuing CA, root), protected by `passphrase` (PBES2 AES-256-CBC with
 * PBKDF2-HMAC-SHA-256, HMAC-SHA-256 MAC; see the module doc). Built in-process: the
 * passphrase never leaves this function.
 * @throws {RangeError} when the passphrase is shorter than 8 characters or holds a line break.
 * @throws {KeyFileError} `key_permissions` or `key_invalid` for the device key file.
 * @throws {KgcError} `pkcs12_failed` when the device certificate is missing, does not
 *   parse, or does not match the key.
 * @example
 * exportPkcs12('DATA/devices/wr-0001', 'wr-0001', passphrase, 'wr-0001.p12');
 */
export function exportPkcs12(deviceDir: string, devId: string, passphrase: string, outPath: string): void {
  const pfx = devicePkcs12(deviceDir, devId, passphrase);
  writeOwnerOnlyFile(outPath, pfx, 'w');
}

/**
 * The bytes `exportPkcs12` writes, for a caller that writes them itself (the CLI, through
 * its safe writer of user-named files). Same checks and errors as `exportPkcs12`.
 * @example writeOutputFile('wr-0001.p12', devicePkcs12('DATA/devices/wr-0001', 'wr-0001', passphrase));
 */
export function devicePkcs12(deviceDir: string, devId: string, passphrase: string): Uint8Array {
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
  const key = readPrivateKey(join(deviceDir, DEVICE_KEY_FILE)); // refuses a key file readable by others
  const certPath = join(deviceDir, DEVICE_CERT_FILE);
  const cert = existsSync(certPath) ? parseCertificatePem(readFileSync(certPath, 'utf8')) : undefined;
  if (!cert) throw new KgcError('pkcs12_failed', 'the device certificate is missing or does not parse');
  if (!cert.publicKey.equals(createPublicKey(key))) {
    throw new KgcError('pkcs12_failed', 'the device key does not match the device certificate');
  }
  const pfx = buildPfx({
    pkcs8: key.export({ type: 'pkcs8', format: 'der' }),
    certs: [
      cert.raw,
      ...chainDer([DEVICE_ISSUING_CERT_FILE, DEVICE_ROOT_CERT_FILE].map((f) => join(deviceDir, f))),
    ],
    name: devId,
    passphrase,
  });
  return pfx;
}
