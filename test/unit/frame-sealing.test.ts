/**
 * Sealed frames of format 2 (rows written before schema version 11: a flattened JWE, the
 * one jose writes with `sealWithDataKey`) stay readable: the synchronous openers
 * (`openWithDataKeySync`, and `openExactFrameJwe` for the exact text the bulk sealer of that
 * release wrote) open what jose seals, and refuse what jose refuses (any altered byte,
 * another kid, another AAD, another key) and also a stored field with a character added.
 * (The frames this release writes are COSE_Encrypt0: test/unit/cose-encrypt0.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  importDataKey,
  openExactFrameJwe,
  openWithDataKey,
  openWithDataKeySync,
  sealWithDataKey,
} from '../../gateway/src/core/envelope.js';
import { fcRuns } from '../helpers/fc-runs.js';

const aadOf = (n: number) => Buffer.from(`wr-0001\u0000${n}`);

describe('sealed frames of format 2 (JWE)', () => {
  test('property: jose-sealed frames open with both sync openers', async () => {
    const key = await importDataKey(randomBytes(32));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 8 }),
        async (frames) => {
          for (const [i, f] of frames.entries()) {
            const byJose = await sealWithDataKey(f, key, '7', aadOf(i));
            expect(Buffer.from(openWithDataKeySync(byJose, key, '7', aadOf(i)))).toEqual(Buffer.from(f));
            const exact = openExactFrameJwe(byJose, key, '7', aadOf(i));
            expect(exact && Buffer.from(exact)).toEqual(Buffer.from(f));
          }
        },
      ),
      { numRuns: fcRuns(200), seed: 14 },
    );
  });

  test('error: an altered character, another kid, another AAD or another key is integrity_error in both openers', async () => {
    const key = await importDataKey(randomBytes(32));
    const other = await importDataKey(randomBytes(32));
    const jwe = await sealWithDataKey(Buffer.from('frame bytes'), key, '3', aadOf(1));
    const stored = JSON.parse(jwe) as Record<string, string>;
    const variants: [string, string, CryptoKey, string, Uint8Array][] = [];
    for (const field of ['protected', 'iv', 'ciphertext', 'tag']) {
      const v = stored[field] as string;
      const flipped = `${v.slice(0, 2)}${v[2] === 'A' ? 'B' : 'A'}${v.slice(3)}`;
      variants.push([
        `${field} changed`,
        JSON.stringify({ ...stored, [field]: flipped }),
        key,
        '3',
        aadOf(1),
      ]);
      variants.push([
        `${field} lengthened`,
        JSON.stringify({ ...stored, [field]: `${v}=` }),
        key,
        '3',
        aadOf(1),
      ]);
    }
    variants.push(['another kid', jwe, key, '4', aadOf(1)]);
    variants.push(['another AAD', jwe, key, '3', aadOf(2)]);
    variants.push(['another key', jwe, other, '3', aadOf(1)]);
    variants.push(['not JSON', '{', key, '3', aadOf(1)]);
    for (const [what, text, k, kid, aad] of variants) {
      expect(() => openWithDataKeySync(text, k, kid, aad), what).toThrow(
        expect.objectContaining({ code: 'integrity_error' }),
      );
      // jose's base64url decoder accepts a trailing '='; the sync opener is stricter there.
      if (what.endsWith('lengthened')) continue;
      await expect(openWithDataKey(text, k, kid, aad), what).rejects.toMatchObject({
        code: 'integrity_error',
      });
    }
  });
});
