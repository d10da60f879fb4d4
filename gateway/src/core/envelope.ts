/**
 * @module core/envelope
 * Envelope encryption of stored batches (ARCHITECTURE.md guarantee 4): a JWE in the
 * General JSON serialization (RFC 7516 §7.2.1) produced by `jose`. Each call to
 * `sealBatch` makes a fresh AES-256-GCM content key (enc `A256GCM`, RFC 7518 §5.3)
 * that is wrapped for every recipient: RSA-OAEP-256 for RSA keys (RFC 7518 §4.3) and
 * ECDH-ES+A256KW for P-256 keys (RFC 7518 §4.6). The gateway needs only public keys to
 * seal; opening needs one recipient's private key.
 *
 * The additional authenticated data binds an envelope to its place in the store
 * (batch id and first leaf index), so envelopes cannot be swapped between rows.
 */
import { createDecipheriv, KeyObject, randomBytes } from 'node:crypto';
import { FlattenedEncrypt, type FlattenedJWE, flattenedDecrypt, GeneralEncrypt, type GeneralJWE } from 'jose';
import { errorClass } from '../protocol/errors.js';

export const CONTENT_ENCRYPTION = 'A256GCM';

export interface Recipient {
  /** Key id written in the JWE recipient header, e.g. "records-2026". */
  kid: string;
  publicKey: KeyObject;
}

export interface RecipientSecret {
  kid: string;
  privateKey: KeyObject;
}

export class EnvelopeError extends errorClass<'envelope'>('EnvelopeError') {}

/** Chooses the JWE key-management algorithm for a recipient key (RFC 7518 §4). */
export function keyManagementAlgorithm(key: KeyObject): 'RSA-OAEP-256' | 'ECDH-ES+A256KW' {
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 3072)
      throw new EnvelopeError('unsupported_key', 'RSA recipient keys must be at least 3072 bits');
    return 'RSA-OAEP-256';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ECDH-ES+A256KW';
  }
  throw new EnvelopeError('unsupported_key', 'recipient keys must be RSA-3072+ or EC P-256');
}

/** Content type of the skeleton's batch envelopes (a CBOR array of frames). */
export const BATCH_CONTENT_TYPE = 'application/vitaltrail-batch+cbor';
/** Content type of a data-key envelope (the 32 raw bytes of an AES-256-GCM key). */
export const DATA_KEY_CONTENT_TYPE = 'application/vitaltrail-data-key';

/** Stored JSON (attacker-controlled once on disk): a coded `integrity_error`, never a SyntaxError. */
function parseStored<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new EnvelopeError('integrity_error', `${what} is not valid JSON`, { cause: err });
  }
}

/**
 * Seals `plaintext` for every recipient under a fresh content key.
 * @param cty the JWE `cty` header naming what is sealed (default: a batch of frames)
 * @throws {RangeError} when no recipient is given.
 * @example
 * const jwe = await sealBatch(bytes, recipients, batchAad(7, 1200));
 */
export async function sealBatch(
  plaintext: Uint8Array,
  recipients: readonly Recipient[],
  aad: Uint8Array,
  cty: string = BATCH_CONTENT_TYPE,
): Promise<string> {
  if (recipients.length === 0) throw new RangeError('sealBatch: recipients must not be empty');
  const enc = new GeneralEncrypt(plaintext)
    .setProtectedHeader({ enc: CONTENT_ENCRYPTION, cty })
    .setAdditionalAuthenticatedData(aad);
  for (const r of recipients) {
    enc
      .addRecipient(r.publicKey)
      .setUnprotectedHeader({ alg: keyManagementAlgorithm(r.publicKey), kid: r.kid });
  }
  const jwe: GeneralJWE = await enc.encrypt();
  return JSON.stringify(jwe);
}

/**
 * Opens an envelope with one recipient's private key.
 * @throws {EnvelopeError} `integrity_error` when the envelope was altered (any byte of
 * ciphertext, tag, IV, wrapped key, headers or AAD), `no_recipient_key` when none of the
 * given keys is a recipient. Never returns wrong plaintext.
 */
export async function openBatch(
  envelope: string,
  secrets: readonly RecipientSecret[],
  aad: Uint8Array,
): Promise<Uint8Array> {
  const jwe = parseStored<GeneralJWE>(envelope, 'envelope');
  if (!jwe || typeof jwe !== 'object' || !Array.isArray(jwe.recipients)) {
    throw new EnvelopeError('integrity_error', 'envelope is not a general JWE');
  }
  for (const secret of secrets) {
    const r = jwe.recipients.find((x) => x?.header?.kid === secret.kid);
    if (!r) continue;
    const flat: FlattenedJWE = {
      protected: jwe.protected,
      unprotected: jwe.unprotected,
      header: r.header,
      encrypted_key: r.encrypted_key,
      iv: jwe.iv,
      ciphertext: jwe.ciphertext,
      tag: jwe.tag,
      aad: jwe.aad,
    };
    // The stored aad must be the one we expect: compare before decrypting.
    if (flat.aad !== Buffer.from(aad).toString('base64url')) {
      throw new EnvelopeError('integrity_error', 'envelope is bound to another place in the store');
    }
    try {
      const { plaintext } = await flattenedDecrypt(flat, secret.privateKey, {
        keyManagementAlgorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'],
        contentEncryptionAlgorithms: [CONTENT_ENCRYPTION],
      });
      return plaintext;
    } catch (err) {
      throw new EnvelopeError('integrity_error', 'envelope failed authentication', { cause: err });
    }
  }
  throw new EnvelopeError('no_recipient_key', 'none of the configured keys is a recipient of this envelope');
}

// ---------------------------------------------------------------------------
// Per-frame sealing under a data key (issue 4): a flattened JWE (RFC 7516 §7.2.2) with
// alg "dir" (RFC 7518 §4.5), enc A256GCM and kid = the data key's id. The AAD binds the
// ciphertext to its place (device, seq, leaf, key); it is not stored but rebuilt by the
// reader from the index row, so a ciphertext moved to another row fails authentication.

/** A flattened JWE without its `aad` member (the reader supplies it). */
export interface StoredFrameJwe {
  protected: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

/** Imports 32 raw bytes as a non-extractable AES-256-GCM key for jose's "dir" mode. */
export async function importDataKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== 32) throw new EnvelopeError('integrity_error', 'a data key must be 32 bytes');
  const copy = new Uint8Array(raw);
  try {
    return await crypto.subtle.importKey('raw', copy, { name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
  } finally {
    copy.fill(0);
  }
}

/**
 * A fresh data key: 32 random bytes sealed for every recipient (`DATA_KEY_CONTENT_TYPE`) and
 * imported; the raw bytes are zeroed before it returns.
 * @throws {RangeError} when no recipient is given.
 * @example
 * const { key, envelope } = await createDataKey(recipients, dataKeyAad(id, 'wr-1', windowStart));
 */
export async function createDataKey(
  recipients: readonly Recipient[],
  aad: Uint8Array,
): Promise<{ key: CryptoKey; envelope: string }> {
  const raw = randomBytes(32);
  try {
    const key = await importDataKey(raw);
    return { key, envelope: await sealBatch(raw, recipients, aad, DATA_KEY_CONTENT_TYPE) };
  } finally {
    raw.fill(0);
  }
}

/**
 * Opens a data key sealed by `createDataKey` and imports it; the raw bytes are zeroed.
 * @throws {EnvelopeError} as `openBatch`, and `integrity_error` for a key that is not 32 bytes.
 */
export async function openDataKey(
  envelope: string,
  secrets: readonly RecipientSecret[],
  aad: Uint8Array,
): Promise<CryptoKey> {
  const raw = await openBatch(envelope, secrets, aad);
  try {
    return await importDataKey(raw);
  } finally {
    raw.fill(0);
  }
}

/**
 * Seals one frame under a data key; jose draws a fresh 96-bit IV per call.
 * @returns the stored JSON (a flattened JWE without `aad`).
 * @example
 * const stored = await sealWithDataKey(frameBytes, key, '17', frameAad('wr-1', 5, 99, 17));
 */
export async function sealWithDataKey(
  plaintext: Uint8Array,
  key: CryptoKey,
  kid: string,
  aad: Uint8Array,
): Promise<string> {
  const jwe = await new FlattenedEncrypt(plaintext)
    .setProtectedHeader({ alg: 'dir', enc: CONTENT_ENCRYPTION, kid })
    .setAdditionalAuthenticatedData(aad)
    .encrypt(key);
  const stored: StoredFrameJwe = {
    protected: jwe.protected as string,
    iv: jwe.iv as string,
    ciphertext: jwe.ciphertext,
    tag: jwe.tag as string,
  };
  return JSON.stringify(stored);
}

/**
 * Opens a frame sealed by `sealWithDataKey`.
 * @throws {EnvelopeError} `integrity_error` when any byte was altered, the kid is not
 * `kid`, or `aad` is not the one it was sealed with. Never returns wrong plaintext.
 */
export async function openWithDataKey(
  stored: string,
  key: CryptoKey,
  kid: string,
  aad: Uint8Array,
): Promise<Uint8Array> {
  const s = parseStored<StoredFrameJwe>(stored, 'sealed frame');
  try {
    const { plaintext, protectedHeader } = await flattenedDecrypt(
      {
        protected: s.protected,
        iv: s.iv,
        ciphertext: s.ciphertext,
        tag: s.tag,
        aad: Buffer.from(aad).toString('base64url'),
      },
      key,
      { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: [CONTENT_ENCRYPTION] },
    );
    if (protectedHeader?.kid !== kid) throw new Error('kid mismatch');
    return plaintext;
  } catch (err) {
    throw new EnvelopeError('integrity_error', 'sealed frame failed authentication', { cause: err });
  }
}

/** The node:crypto view of a data key (a CryptoKey has one underneath; kept per key), for the sync ciphers. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
export function keyObjectOf(key: CryptoKey): KeyObject {
  let k = keyObjects.get(key);
  if (!k) {
    k = KeyObject.from(key);
    keyObjects.set(key, k);
  }
  return k;
}

/**
 * Opens a frame sealed by `sealWithDataKey` (a row of format 2: rows before schema version 11
 * and the bulk sealer of that release wrote exactly this JWE), synchronously, with
 * the same checks as `openWithDataKey`: the protected header must be exactly alg `dir`, enc
 * `A256GCM` and this kid (no other member: jose would refuse an unknown critical one, and we
 * write none), a 96-bit IV and a 128-bit tag.
 * @throws {EnvelopeError} `integrity_error` when any byte was altered, the kid is not `kid`,
 * or `aad` is not the one it was sealed with. Never returns wrong plaintext.
 */
export function openWithDataKeySync(
  stored: string,
  key: CryptoKey,
  kid: string,
  aad: Uint8Array,
): Uint8Array {
  const s = parseStored<StoredFrameJwe>(stored, 'sealed frame');
  try {
    const header = JSON.parse(b64u(s.protected).toString('utf8')) as Record<string, unknown>;
    const names = Object.keys(header).sort().join(',');
    if (
      names !== 'alg,enc,kid' ||
      header.alg !== 'dir' ||
      header.enc !== CONTENT_ENCRYPTION ||
      header.kid !== kid
    )
      throw new Error('unexpected protected header');
    const iv = b64u(s.iv);
    const tag = b64u(s.tag);
    if (iv.length !== 12 || tag.length !== 16) throw new Error('bad IV or tag length');
    const decipher = createDecipheriv('aes-256-gcm', keyObjectOf(key), iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(`${s.protected}.${Buffer.from(aad).toString('base64url')}`, 'ascii'));
    decipher.setAuthTag(tag);
    const out = Buffer.concat([decipher.update(b64u(s.ciphertext)), decipher.final()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new EnvelopeError('integrity_error', 'sealed frame failed authentication', { cause: err });
  }
}

/** The protected header the bulk sealer of format 2 wrote for a kid, base64url (a few kept). */
const exactHeaders = new Map<string, string>();
function exactHeader(kid: string): string {
  let h = exactHeaders.get(kid);
  if (h === undefined) {
    h = Buffer.from(`{"alg":"dir","enc":"${CONTENT_ENCRYPTION}","kid":"${kid}"}`).toString('base64url');
    if (exactHeaders.size >= 4096) exactHeaders.clear();
    exactHeaders.set(kid, h);
  }
  return h;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * base64url (RFC 4648 §5) to bytes only when the text is its canonical form: no padding,
 * no character outside the alphabet (Buffer's decoder would skip it), no stray bits in the
 * last character. Cheaper than re-encoding to compare.
 */
function canonicalBase64url(text: string): Buffer | undefined {
  if (text.includes('+') || text.includes('/') || text.includes('=')) return undefined;
  const b = Buffer.from(text, 'base64url');
  if (Math.ceil((b.length * 4) / 3) !== text.length) return undefined;
  const r = b.length % 3;
  if (r !== 0 && BASE64URL.indexOf(text[text.length - 1] as string) % (r === 1 ? 16 : 4) !== 0)
    return undefined;
  return b;
}

/**
 * The fast path of `openWithDataKeySync` for the rows of format 2 (before schema version 11)
 * this gateway wrote: the stored text read in place as the exact JSON its bulk sealer wrote
 * (`{"protected":"…","iv":"…",
 * "ciphertext":"…","tag":"…"}` with the protected header exactly alg `dir`, enc `A256GCM`
 * and this kid; base64url members hold no quote), no parse and no copies. Undefined when
 * the text is not exactly that (then `openWithDataKeySync` opens or refuses it).
 * @throws {Error} when it is that shape and does not authenticate (GCM tag)
 */
export function openExactFrameJwe(
  text: string,
  key: CryptoKey,
  kid: string,
  aad: Uint8Array,
): Uint8Array | undefined {
  const header = exactHeader(kid);
  const head = `{"protected":"${header}","iv":"`;
  if (!text.startsWith(head) || !text.endsWith('"}')) return undefined;
  const ivEnd = text.indexOf('"', head.length);
  if (ivEnd < 0 || !text.startsWith('","ciphertext":"', ivEnd)) return undefined;
  const ctStart = ivEnd + 16;
  const ctEnd = text.indexOf('"', ctStart);
  if (ctEnd < 0 || !text.startsWith('","tag":"', ctEnd)) return undefined;
  const tagStart = ctEnd + 9;
  if (text.indexOf('"', tagStart) !== text.length - 2) return undefined;
  const iv = canonicalBase64url(text.slice(head.length, ivEnd));
  const ciphertext = canonicalBase64url(text.slice(ctStart, ctEnd));
  const tag = canonicalBase64url(text.slice(tagStart, text.length - 2));
  if (iv?.length !== 12 || tag?.length !== 16 || !ciphertext) return undefined;
  const d = createDecipheriv('aes-256-gcm', keyObjectOf(key), iv, { authTagLength: 16 });
  const aadText = Buffer.from(aad.buffer, aad.byteOffset, aad.byteLength).toString('base64url');
  d.setAAD(Buffer.from(`${header}.${aadText}`, 'latin1'));
  d.setAuthTag(tag);
  const plain = d.update(ciphertext);
  const tail = d.final(); // throws when the tag does not authenticate
  return tail.length === 0 ? plain : Buffer.concat([plain, tail]);
}

/**
 * Strict base64url (RFC 4648 §5, no padding, canonical): Buffer's decoder skips characters
 * it does not know, so a stored field with one more character would open as if unaltered.
 */
function b64u(field: unknown): Buffer {
  if (typeof field !== 'string' || !/^[A-Za-z0-9_-]*$/.test(field)) throw new Error('not base64url');
  const bytes = Buffer.from(field, 'base64url');
  if (bytes.toString('base64url') !== field) throw new Error('not canonical base64url');
  return bytes;
}
