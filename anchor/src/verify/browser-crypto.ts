/**
 * @module verify/browser-crypto
 * The browser stand-in for `node:crypto` in the auditor page's bundle of the verifier
 * (issue 6 "an auditor page": the SAME verifier modules, one set of rules). The browser
 * build (`build-browser.ts`) aliases `node:crypto` to this module, so `verify.ts`,
 * `kgc/chain.ts`, `log/hash.ts` and `protocol/frame.ts` run unchanged in a page.
 *
 * It provides exactly what those modules use, synchronously (WebCrypto is async, so it
 * cannot stand in for node's synchronous API): `createHash('sha256')` and `hash` (@noble/hashes),
 * `verify` for ES256 (P-256, @noble/curves; low-S not enforced, as OpenSSL) and Ed25519
 * (@noble/curves, strict RFC 8032 like OpenSSL, not ZIP-215), and an `X509Certificate`
 * with the members `kgc/chain.ts` reads (`raw`, `ca`, `validFrom`, `validTo`,
 * `publicKey`, `checkIssued`, `verify`, `toLegacyObject`), parsed by @peculiar/asn1-x509
 * and asn1js. No primitive is hand-rolled.
 *
 * ES256 verdicts found ahead: the auditor page checks every ES256 frame signature with
 * WebCrypto (asynchronous) before the synchronous verifier runs (`browser-precheck.ts`) and
 * records each verdict here with `recordPrecheckedEs256`, keyed by exactly (the key's SPKI
 * DER, the signed bytes, the signature bytes). `verify` answers an ES256 call from that
 * table when all three match byte for byte, and asks @noble otherwise; a miss can only cost
 * time, never change an answer. `takeSignatureCounts` tells how each answer was obtained.
 * Ed25519 frame signatures and certificate signatures are always checked with @noble.
 *
 * Differences from node:crypto, by design: certificate signatures are checked for
 * ecdsa-with-SHA256 over P-256 only (the KGC's algorithm, PROTOCOL.md §2); any other
 * algorithm does not verify (→ `untrusted_certificate`). `checkIssued` follows OpenSSL's
 * X509_check_issued: issuer name (DER bytes equal), authority/subject key identifiers when
 * both are present, keyCertSign when the issuer has keyUsage. `sign`, `createPrivateKey` and
 * `createPublicKey` are absent (they throw).
 *
 * `Buffer` is the global one: node's in Node, the `buffer` package injected by
 * `build-browser.ts` in the page.
 *
 * Trust: every certificate and signature is attacker-controlled; parse failures throw
 * from the constructor (as node's does) and verification failures return false.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { p256 } from '@noble/curves/p256';
import { sha256 } from '@noble/hashes/sha2';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { fromBER, type Sequence } from 'asn1js';

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';
const OID_ED25519 = '1.3.101.112';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';

function bytesOf(data: string | Uint8Array, encoding?: string): Uint8Array {
  if (typeof data === 'string') {
    if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'utf-8') {
      throw new TypeError('browser-crypto: only utf8 strings are hashed');
    }
    return new TextEncoder().encode(data);
  }
  return data;
}

/** `createHash('sha256')`: update(string|bytes) and digest() → Buffer, digest('hex') → string. */
export function createHash(algorithm: string) {
  if (algorithm !== 'sha256') throw new TypeError('browser-crypto: only sha256 is available');
  const h = sha256.create();
  const hash = {
    update(data: string | Uint8Array, encoding?: string) {
      h.update(bytesOf(data, encoding));
      return hash;
    },
    digest(encoding?: 'hex'): Buffer | string {
      const out = Buffer.from(h.digest());
      return encoding === 'hex' ? out.toString('hex') : out;
    },
  };
  return hash;
}

/** One-shot `hash('sha256', data, 'buffer' | 'hex' | 'binary')`, as node's `crypto.hash` (Node >= 20.12). */
export function hash(
  algorithm: string,
  data: string | Uint8Array,
  outputEncoding: 'buffer' | 'hex' | 'binary' = 'hex',
) {
  const digest = createHash(algorithm).update(data).digest() as Buffer;
  return outputEncoding === 'buffer' ? digest : digest.toString(outputEncoding);
}

/** How the signature checks of `verify` and `X509Certificate.verify` were answered. */
export interface SignatureCounts {
  /** ES256 checks answered from a verdict recorded ahead (`recordPrecheckedEs256`). */
  es256Prechecked: number;
  /** ES256 checks computed by @noble/curves (P-256). */
  es256Noble: number;
  /** Ed25519 checks computed by @noble/curves. */
  ed25519Noble: number;
  /** Certificate signatures (ecdsa-with-SHA256) computed by @noble/curves. */
  certificateNoble: number;
}

const counts: SignatureCounts = { es256Prechecked: 0, es256Noble: 0, ed25519Noble: 0, certificateNoble: 0 };

/** The counts since the last call (or since the module loaded), then zeroes them. */
export function takeSignatureCounts(): SignatureCounts {
  const out = { ...counts };
  counts.es256Prechecked = 0;
  counts.es256Noble = 0;
  counts.ed25519Noble = 0;
  counts.certificateNoble = 0;
  return out;
}

/** Recorded ES256 verdicts by `precheckKey`. */
const prechecked = new Map<string, boolean>();

/** The bytes as a one-byte-per-char string (exact, injective for a given length). */
function latin1(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 4096) {
    out += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

/** Exactly (SPKI, data, signature): both lengths lead, so no two triples share a key. */
function precheckKey(spki: Uint8Array, data: Uint8Array, signature: Uint8Array): string {
  return `${spki.length}.${signature.length}.${latin1(spki)}${latin1(signature)}${latin1(data)}`;
}

/**
 * Records the ES256 verdict (SHA-256, signature r||s as COSE and WebCrypto write it) of
 * `signature` over `data` by the P-256 key whose SubjectPublicKeyInfo DER is `spki`;
 * `verify` then answers exactly that check from it. The caller vouches that the verdict
 * is the one @noble/curves (low-S not enforced) would give.
 */
export function recordPrecheckedEs256(
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  ok: boolean,
): void {
  prechecked.set(precheckKey(spki, data, signature), ok);
}

/** Forgets every recorded verdict (after a bundle is verified: they are only memory then). */
export function clearPrecheckedEs256(): void {
  prechecked.clear();
}

/** A public key as `kgc/chain.ts` and `protocol/frame.ts` handle it: its SPKI DER. */
export class KeyObject {
  readonly type = 'public';
  readonly asymmetricKeyType: 'ec' | 'ed25519' | undefined;
  /** P-256 uncompressed point or Ed25519 32-byte key. */
  readonly #point: Uint8Array;
  readonly #spki: Uint8Array;

  constructor(spkiDer: Uint8Array) {
    const seq = fromBER(toArrayBuffer(spkiDer));
    if (seq.offset === -1) throw new TypeError('browser-crypto: public key does not parse');
    const [alg, bits] = (seq.result as Sequence).valueBlock.value as [
      Sequence,
      { valueBlock: { valueHexView: Uint8Array } },
    ];
    const oids = (alg.valueBlock.value as { valueBlock: { toString(): string } }[]).map((o) =>
      o.valueBlock.toString(),
    );
    this.#spki = spkiDer;
    this.#point = bits.valueBlock.valueHexView;
    if (oids[0] === OID_EC_PUBLIC_KEY && oids[1] === OID_P256) this.asymmetricKeyType = 'ec';
    else if (oids[0] === OID_ED25519) this.asymmetricKeyType = 'ed25519';
    else this.asymmetricKeyType = undefined;
  }

  export(_opts: { type: 'spki'; format: 'der' }): Buffer {
    return Buffer.from(this.#spki);
  }

  /** @internal The SubjectPublicKeyInfo DER itself (not a copy): read, never write. */
  get spkiDer(): Uint8Array {
    return this.#spki;
  }

  /** @internal Whether @noble/curves reads the key as a P-256 point (else every ES256 check fails). */
  isNobleP256(): boolean {
    if (this.asymmetricKeyType !== 'ec') return false;
    try {
      p256.ProjectivePoint.fromHex(this.#point);
      return true;
    } catch {
      return false;
    }
  }

  /** @internal ECDSA / EdDSA verification on the key's raw form. */
  verifyRaw(prehashed: boolean, data: Uint8Array, signature: Uint8Array, der: boolean): boolean {
    try {
      if (this.asymmetricKeyType === 'ec' && prehashed) {
        return p256.verify(signature, sha256(data), this.#point, {
          prehash: false,
          lowS: false,
          format: der ? 'der' : 'compact',
        });
      }
      if (this.asymmetricKeyType === 'ed25519' && !prehashed) {
        return ed25519.verify(signature, data, this.#point, { zip215: false });
      }
    } catch {
      return false;
    }
    return false;
  }
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * node's `crypto.verify` for the two uses of `protocol/frame.ts`: `('sha256', data,
 * {key, dsaEncoding: 'ieee-p1363'}, sig)` (ES256) and `(null, data, key, sig)` (EdDSA).
 */
export function verify(
  algorithm: string | null,
  data: Uint8Array,
  key: KeyObject | { key: KeyObject; dsaEncoding?: 'der' | 'ieee-p1363' },
  signature: Uint8Array,
): boolean {
  const k = key instanceof KeyObject ? key : key.key;
  const der = key instanceof KeyObject || key.dsaEncoding !== 'ieee-p1363';
  if (!(k instanceof KeyObject)) return false;
  if (algorithm === 'sha256') {
    if (k.asymmetricKeyType !== 'ec') return false;
    if (!der && prechecked.size > 0) {
      const known = prechecked.get(precheckKey(k.spkiDer, data, signature));
      if (known !== undefined) {
        counts.es256Prechecked++;
        return known;
      }
    }
    counts.es256Noble++;
    return k.verifyRaw(true, data, signature, der);
  }
  if (algorithm === null) {
    if (k.asymmetricKeyType !== 'ed25519') return false;
    counts.ed25519Noble++;
    return k.verifyRaw(false, data, signature, false);
  }
  return false;
}

/** Not available in the browser: the verifier never signs. */
export function sign(): never {
  throw new TypeError('browser-crypto: signing is not available in the auditor page');
}

/**
 * Not available in the browser: the verifier never makes keys. `log/note.ts` (signed
 * checkpoint notes, in the log barrel the verifier imports) names these; its functions
 * are not called by the verifier, so esbuild drops them from the bundle.
 */
export function createPrivateKey(): never {
  throw new TypeError('browser-crypto: key creation is not available in the auditor page');
}

/**
 * A public key from its SubjectPublicKeyInfo DER, the one form `log/note.ts` reads (the
 * Ed25519 key of a C2SP vkey, for the access log's signed checkpoint notes); any other form
 * is not available in the browser (see `createPrivateKey`).
 */
export function createPublicKey(opts?: { key?: unknown; format?: string; type?: string }): KeyObject {
  if (opts?.format === 'der' && opts.type === 'spki' && opts.key instanceof Uint8Array)
    return new KeyObject(Uint8Array.from(opts.key));
  throw new TypeError('browser-crypto: key creation is not available in the auditor page');
}

interface Raw {
  tbs: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
}

/** The DER pieces that must be compared or verified byte for byte (never re-encoded). */
function rawParts(der: Uint8Array): Raw {
  const top = fromBER(toArrayBuffer(der));
  if (top.offset === -1) throw new TypeError('browser-crypto: certificate does not parse');
  const tbsBlock = (top.result as Sequence).valueBlock.value[0] as Sequence;
  const fields = tbsBlock.valueBlock.value;
  // TBSCertificate (RFC 5280 §4.1): [0] version is optional, then serial, signature,
  // issuer, validity, subject, subjectPublicKeyInfo.
  const off = fields[0]?.idBlock.tagClass === 3 ? 1 : 0;
  const view = (i: number) => {
    const f = fields[off + i];
    if (!f) throw new TypeError('browser-crypto: certificate does not parse');
    return f.valueBeforeDecodeView;
  };
  return { tbs: tbsBlock.valueBeforeDecodeView, issuer: view(2), subject: view(4), spki: view(5) };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The members of node's `X509Certificate` that `kgc/chain.ts` uses. */
export class X509Certificate {
  readonly raw: Buffer;
  readonly ca: boolean;
  /** The extended key usage OIDs, as node:crypto's `keyUsage` (undefined without the extension). */
  readonly keyUsage: string[] | undefined;
  readonly validFrom: string;
  readonly validTo: string;
  /** As node:crypto's: the serial's magnitude in uppercase hex, whole bytes, no leading zero byte. */
  readonly serialNumber: string;
  readonly publicKey: KeyObject;
  readonly #cert: Certificate;
  readonly #parts: Raw;

  constructor(pem: string) {
    const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
    if (!body) throw new TypeError('browser-crypto: not a PEM certificate');
    this.raw = Buffer.from(body[1]!.replace(/\s+/g, ''), 'base64');
    this.#cert = AsnConvert.parse(this.raw, Certificate);
    this.#parts = rawParts(this.raw);
    const tbs = this.#cert.tbsCertificate;
    this.validFrom = tbs.validity.notBefore.getTime().toISOString();
    this.validTo = tbs.validity.notAfter.getTime().toISOString();
    const serial = new Uint8Array(tbs.serialNumber);
    let first = 0;
    while (first < serial.length - 1 && serial[first] === 0) first++;
    this.serialNumber = Buffer.from(serial.subarray(first)).toString('hex').toUpperCase();
    const bc = this.#extension(id_ce_basicConstraints, BasicConstraints);
    this.ca = bc?.cA === true;
    const eku = this.#extension(id_ce_extKeyUsage, ExtendedKeyUsage);
    this.keyUsage = eku ? eku.map(String) : undefined;
    this.publicKey = new KeyObject(this.#parts.spki);
  }

  #extension<T>(oid: string, type: new () => T): T | undefined {
    const ext = this.#cert.tbsCertificate.extensions?.find((e) => e.extnID === oid);
    return ext ? AsnConvert.parse(ext.extnValue, type) : undefined;
  }

  /** OpenSSL X509_check_issued: "this was issued by `issuer`" (names, key ids, keyUsage). */
  checkIssued(issuer: X509Certificate): boolean {
    if (!sameBytes(this.#parts.issuer, issuer.#parts.subject)) return false;
    const aki = this.#extension(id_ce_authorityKeyIdentifier, AuthorityKeyIdentifier)?.keyIdentifier;
    const ski = issuer.#extension(id_ce_subjectKeyIdentifier, SubjectKeyIdentifier);
    if (aki && ski && !sameBytes(new Uint8Array(aki.buffer), new Uint8Array(ski.buffer))) return false;
    const ku = issuer.#extension(id_ce_keyUsage, KeyUsage);
    if (ku && (ku.toNumber() & KeyUsageFlags.keyCertSign) === 0) return false;
    return true;
  }

  /** The certificate's signature by `publicKey` (ecdsa-with-SHA256 only). */
  verify(publicKey: KeyObject): boolean {
    if (this.#cert.signatureAlgorithm.algorithm !== OID_ECDSA_SHA256) return false;
    if (publicKey.asymmetricKeyType === 'ec') counts.certificateNoble++;
    return publicKey.verifyRaw(true, this.#parts.tbs, new Uint8Array(this.#cert.signatureValue), true);
  }

  /** `subject.CN`: one string when there is one commonName, an array for several. */
  toLegacyObject(): { subject: Record<string, string | string[]> } {
    const cns: string[] = [];
    for (const rdn of this.#cert.tbsCertificate.subject) {
      for (const atv of rdn) if (atv.type === OID_CN) cns.push(atv.value.toString());
    }
    const subject: Record<string, string | string[]> = {};
    if (cns.length === 1) subject.CN = cns[0]!;
    else if (cns.length > 1) subject.CN = cns;
    return { subject };
  }
}
