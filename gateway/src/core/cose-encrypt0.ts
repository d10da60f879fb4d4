/**
 * @module core/cose-encrypt0
 * The stored form of a sealed frame from schema version 11 on (issue 14): a COSE_Encrypt0
 * (RFC 9052 §5.2, tag 16) with AES-256-GCM (RFC 9053 §4.1, alg 3), the data key known
 * from the row (`sealed_frames.key_id`), so no recipient structure and no kid:
 *
 *     16([ h'A10103',             / protected: {1 (alg): 3 (A256GCM)} /
 *          { 5: h'<12-byte IV>' }, / unprotected: IV /
 *          h'<ciphertext || 16-byte tag>' ])
 *
 * The GCM AAD is the Enc_structure `["Encrypt0", h'A10103', external_aad]` (RFC 9052
 * §5.3), whose external_aad is the frame's place in the store (io/store/sealed `frameAad`:
 * device, seq, leaf index and key id), so a stored frame cannot be moved to another row.
 * The same shape as the COSE Working Group's example AES-GCM-ENC-03, which the unit test
 * opens and reproduces byte for byte.
 *
 * Binary, where the JWE of format 2 was base64url in JSON: 45 % fewer bytes per row and no
 * text to encode at ingest or to decode at every read. Sealed with node:crypto in bulk
 * (one `randomBytes` for all IVs); opened only in the exact layout written here, with
 * canonical (shortest) CBOR lengths: any other byte string is refused, never guessed at.
 */
import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto';

/** COSE alg A256GCM (RFC 9053 §4.1, IANA "COSE Algorithms" value 3). */
const ALG_A256GCM = 3;
/** The protected header, `{1: 3}`, as its CBOR bytes. */
const PROTECTED = Buffer.from([0xa1, 0x01, ALG_A256GCM]);
/** tag 16, array of 3, bstr(3) protected, map of 1 {5: bstr(12) IV}: what precedes the IV. */
const HEAD = Buffer.from([0xd0, 0x83, 0x43, ...PROTECTED, 0xa1, 0x05, 0x4c]);
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** `["Encrypt0", h'A10103', ` of the Enc_structure: what precedes the external_aad. */
const ENC_HEAD = Buffer.concat([
  Buffer.from([0x83, 0x68]),
  Buffer.from('Encrypt0', 'ascii'),
  Buffer.from([0x43]),
  PROTECTED,
]);

/** The head of a CBOR byte string of `n` bytes, in its shortest form (RFC 8949 §4.2.1). */
function bstrHead(n: number): Buffer {
  if (n < 24) return Buffer.from([0x40 | n]);
  if (n < 0x100) return Buffer.from([0x58, n]);
  if (n < 0x10000) return Buffer.from([0x59, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0x5a;
  b.writeUInt32BE(n, 1);
  return b;
}

/** The Enc_structure of RFC 9052 §5.3 for this layout: the GCM AAD. */
export function encStructure(externalAad: Uint8Array): Buffer {
  return Buffer.concat([ENC_HEAD, bstrHead(externalAad.length), externalAad]);
}

/** A frame to seal: its bytes, its data key (node:crypto) and its external AAD. */
export interface Encrypt0Input {
  plaintext: Uint8Array;
  key: KeyObject;
  externalAad: Uint8Array;
}

/**
 * One COSE_Encrypt0 with the IV given. Exported for the RFC example's test; the gateway
 * seals through `sealEncrypt0All`, which draws every IV at random.
 */
export function sealEncrypt0(f: Encrypt0Input, iv: Uint8Array): Buffer {
  if (iv.length !== IV_BYTES) throw new RangeError('COSE_Encrypt0: the IV must be 12 bytes');
  const cipher = createCipheriv('aes-256-gcm', f.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(encStructure(f.externalAad));
  const body = cipher.update(f.plaintext);
  const last = cipher.final();
  const tag = cipher.getAuthTag();
  return Buffer.concat([HEAD, iv, bstrHead(body.length + last.length + TAG_BYTES), body, last, tag]);
}

/** Seals each frame under its own fresh random 96-bit IV (one `randomBytes` for them all). */
export function sealEncrypt0All(frames: readonly Encrypt0Input[]): Buffer[] {
  const ivs = randomBytes(IV_BYTES * frames.length);
  return frames.map((f, i) => sealEncrypt0(f, ivs.subarray(IV_BYTES * i, IV_BYTES * (i + 1))));
}

/**
 * Where the ciphertext starts in `stored` when its length head is canonical and counts
 * exactly the bytes that follow; -1 otherwise.
 */
function ciphertextStart(stored: Uint8Array, at: number): number {
  const ib = stored[at];
  const left = (head: number, n: number) => (stored.length - at - head === n ? at + head : -1);
  if (ib === undefined) return -1;
  if (ib >= 0x40 && ib < 0x58) return left(1, ib - 0x40);
  if (ib === 0x58) {
    const n = stored[at + 1] ?? -1;
    return n >= 24 ? left(2, n) : -1;
  }
  if (ib === 0x59 && stored.length >= at + 3) {
    const n = ((stored[at + 1] as number) << 8) | (stored[at + 2] as number);
    return n >= 0x100 ? left(3, n) : -1;
  }
  if (ib === 0x5a && stored.length >= at + 5) {
    const n = Buffer.from(stored.buffer, stored.byteOffset + at + 1, 4).readUInt32BE(0);
    return n >= 0x10000 ? left(5, n) : -1;
  }
  return -1;
}

/**
 * Opens a COSE_Encrypt0 written by `sealEncrypt0`.
 * @throws {Error} when `stored` is not exactly that layout (canonical lengths, a 12-byte
 * IV, at least a 16-byte tag), or when it does not authenticate under `key` with
 * `externalAad`. Never returns wrong plaintext.
 */
export function openEncrypt0(stored: Uint8Array, key: KeyObject, externalAad: Uint8Array): Buffer {
  const buf = Buffer.isBuffer(stored)
    ? stored
    : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (buf.length < HEAD.length + IV_BYTES || buf.compare(HEAD, 0, HEAD.length, 0, HEAD.length) !== 0)
    throw new Error('not the COSE_Encrypt0 layout of a sealed frame');
  const ivEnd = HEAD.length + IV_BYTES;
  const ct = ciphertextStart(buf, ivEnd);
  if (ct < 0 || buf.length - ct < TAG_BYTES)
    throw new Error('COSE_Encrypt0 ciphertext length is not canonical');
  const tagAt = buf.length - TAG_BYTES;
  const d = createDecipheriv('aes-256-gcm', key, buf.subarray(HEAD.length, ivEnd), {
    authTagLength: TAG_BYTES,
  });
  d.setAAD(encStructure(externalAad));
  d.setAuthTag(buf.subarray(tagAt));
  const plain = d.update(buf.subarray(ct, tagAt));
  const tail = d.final(); // throws when the tag does not authenticate
  return tail.length === 0 ? plain : Buffer.concat([plain, tail]);
}
