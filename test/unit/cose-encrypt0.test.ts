/**
 * The stored form of a sealed frame (core/cose-encrypt0): a COSE_Encrypt0 with AES-256-GCM
 * (RFC 9052 §5.2-5.3, RFC 9053 §4.1).
 * - It is the COSE Working Group's example AES-GCM-ENC-03 byte for byte (github.com/cose-wg/
 *   Examples, aes-gcm-examples/aes-gcm-enc-03.json, public domain): same key, IV and
 *   plaintext give the example's bytes, and the example opens to its plaintext.
 * - Any output parses with a general CBOR decoder (cbor2) as tag 16 [protected {1: 3},
 *   {5: IV}, ciphertext] and opens, by RFC 9052 alone, with the Enc_structure cbor2 encodes.
 * - The opener refuses every changed, missing or added byte, a non-canonical length, another
 *   external AAD and another key.
 */
import { createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { decode, encode, Tag } from 'cbor2';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  encStructure,
  openEncrypt0,
  sealEncrypt0,
  sealEncrypt0All,
} from '../../gateway/src/core/cose-encrypt0.js';
import { fcRuns } from '../helpers/fc-runs.js';

const hex = (s: string) => Buffer.from(s, 'hex');
/** aes-gcm-enc-03.json: "Encryption example for spec - implicit". */
const EXAMPLE = {
  key: hex('0F1E2D3C4B5A69788796A5B4C3D2E1F01F2E3D4C5B6A798897A6B5C4D3E2F100'),
  iv: hex('02D1F7E6F26C43D4868D87CE'),
  plaintext: Buffer.from('This is the content.'),
  aad: hex('8368456E63727970743043A1010340'),
  cbor: hex(
    'D08343A10103A1054C02D1F7E6F26C43D4868D87CE58249D64A5A59A3B04867DCCF6B8EF82F7D1A3B25EF84ECA2BC5D7593A96E943859A9CC24AD3',
  ),
};

describe('COSE_Encrypt0 sealed frames', () => {
  test('behavior: the COSE WG example AES-GCM-ENC-03 is reproduced byte for byte and opens', () => {
    const key = createSecretKey(EXAMPLE.key);
    const empty = new Uint8Array(0);
    expect(encStructure(empty).toString('hex')).toBe(EXAMPLE.aad.toString('hex'));
    const sealed = sealEncrypt0({ plaintext: EXAMPLE.plaintext, key, externalAad: empty }, EXAMPLE.iv);
    expect(sealed.toString('hex')).toBe(EXAMPLE.cbor.toString('hex'));
    expect(openEncrypt0(EXAMPLE.cbor, key, empty).toString()).toBe('This is the content.');
  });

  test('property: every output is a COSE_Encrypt0 a general CBOR decoder reads and RFC 9052 alone opens', () => {
    const key = createSecretKey(randomBytes(32));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            plaintext: fc.uint8Array({ maxLength: 70_000 }),
            externalAad: fc.uint8Array({ maxLength: 300 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (frames) => {
          const sealed = sealEncrypt0All(frames.map((f) => ({ ...f, key })));
          frames.forEach((f, i) => {
            const bytes = sealed[i] as Buffer;
            expect(Buffer.from(openEncrypt0(bytes, key, f.externalAad))).toEqual(Buffer.from(f.plaintext));
            // The same bytes read by cbor2 and opened by the RFC's recipe.
            const msg = decode(bytes) as Tag;
            expect(msg).toBeInstanceOf(Tag);
            expect(msg.tag).toBe(16);
            // As plain Uint8Arrays: cbor2 gives Buffers, and writes a Buffer back as its toJSON map.
            const u8 = (b: Uint8Array) => Uint8Array.from(b);
            const [p, unprot, c] = msg.contents as [Uint8Array, Map<number, Uint8Array>, Uint8Array];
            const [prot, ct] = [u8(p), u8(c)];
            expect(decode(prot)).toEqual(new Map([[1, 3]]));
            expect([...unprot.keys()]).toEqual([5]);
            const iv = u8(unprot.get(5) as Uint8Array);
            expect(iv.length).toBe(12);
            const d = createDecipheriv('aes-256-gcm', key, iv);
            d.setAAD(encode(['Encrypt0', prot, f.externalAad]));
            d.setAuthTag(ct.subarray(ct.length - 16));
            const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
            expect(plain).toEqual(Buffer.from(f.plaintext));
            // Canonical: cbor2 writes the same bytes back.
            expect(Buffer.from(encode(new Tag(16, [prot, new Map([[5, iv]]), ct])))).toEqual(bytes);
          });
        },
      ),
      { numRuns: fcRuns(100), seed: 11 },
    );
  });

  test('behavior: every frame gets its own IV', () => {
    const key = createSecretKey(randomBytes(32));
    const sealed = sealEncrypt0All(
      Array.from({ length: 50 }, () => ({
        plaintext: Buffer.from('same'),
        key,
        externalAad: Buffer.from('a'),
      })),
    );
    expect(new Set(sealed.map((s) => s.subarray(9, 21).toString('hex'))).size).toBe(50);
  });

  test('error: each changed, dropped or added byte, a long-form length, another external AAD or key is refused', () => {
    const key = createSecretKey(randomBytes(32));
    const other = createSecretKey(randomBytes(32));
    const aad = Buffer.from('vitaltrail-frame/2:wr-0001:5:99:17');
    const frame = randomBytes(40);
    const sealed = sealEncrypt0({ plaintext: frame, key, externalAad: aad }, randomBytes(12));
    expect(openEncrypt0(sealed, key, aad)).toEqual(frame);
    const variants: [string, Uint8Array, typeof key, Uint8Array][] = [];
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const b = Buffer.from(sealed);
        b[i] = (b[i] as number) ^ bit;
        variants.push([`byte ${i} ^ ${bit}`, b, key, aad]);
      }
      variants.push([
        `byte ${i} dropped`,
        Buffer.concat([sealed.subarray(0, i), sealed.subarray(i + 1)]),
        key,
        aad,
      ]);
    }
    variants.push(['a byte added', Buffer.concat([sealed, Buffer.from([0])]), key, aad]);
    variants.push(['empty', new Uint8Array(0), key, aad]);
    // The ciphertext's length head (0x58 n at byte 21) in its two-byte form: the same value.
    const long = Buffer.concat([sealed.subarray(0, 21), Buffer.from([0x59, 0x00]), sealed.subarray(22)]);
    variants.push(['a long-form length', long, key, aad]);
    variants.push(['another external AAD', sealed, key, Buffer.from('vitaltrail-frame/2:wr-0001:5:98:17')]);
    variants.push(['another key', sealed, other, aad]);
    for (const [what, bytes, k, a] of variants) expect(() => openEncrypt0(bytes, k, a), what).toThrow();
  });
});
