/**
 * Frames sealed in bulk with node:crypto (core/envelope `sealFramesWithDataKeys`) are the
 * same flattened JWE jose writes and reads (`sealWithDataKey` / `openWithDataKey`), both
 * ways; the synchronous opener refuses what jose refuses (any altered byte, another kid,
 * another AAD, another key) and also a stored field with a character added.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  importDataKey,
  openWithDataKey,
  openWithDataKeySync,
  sealFramesWithDataKeys,
  sealWithDataKey,
} from '../../gateway/src/core/envelope.js';
import { fcRuns } from '../helpers/fc-runs.js';

const aadOf = (n: number) => Buffer.from(`wr-0001\u0000${n}`);

describe('bulk frame sealing', () => {
  test('property: bulk-sealed frames open with jose and with the sync opener; jose-sealed ones open with both', async () => {
    const key = await importDataKey(randomBytes(32));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 8 }),
        async (frames) => {
          const jwes = sealFramesWithDataKeys(
            frames.map((f, i) => ({ plaintext: f, key, kid: '7', aad: aadOf(i) })),
          );
          for (const [i, f] of frames.entries()) {
            expect(Buffer.from(await openWithDataKey(jwes[i] as string, key, '7', aadOf(i)))).toEqual(
              Buffer.from(f),
            );
            expect(Buffer.from(openWithDataKeySync(jwes[i] as string, key, '7', aadOf(i)))).toEqual(
              Buffer.from(f),
            );
            const byJose = await sealWithDataKey(f, key, '7', aadOf(i));
            expect(Buffer.from(openWithDataKeySync(byJose, key, '7', aadOf(i)))).toEqual(Buffer.from(f));
          }
        },
      ),
      { numRuns: fcRuns(200), seed: 14 },
    );
  });

  test('behavior: every frame gets its own IV', async () => {
    const key = await importDataKey(randomBytes(32));
    const jwes = sealFramesWithDataKeys(
      Array.from({ length: 50 }, (_, i) => ({
        plaintext: Buffer.from('same'),
        key,
        kid: '1',
        aad: aadOf(i),
      })),
    );
    expect(new Set(jwes.map((j) => (JSON.parse(j) as { iv: string }).iv)).size).toBe(50);
  });

  test('error: an altered character, another kid, another AAD or another key is integrity_error in both openers', async () => {
    const key = await importDataKey(randomBytes(32));
    const other = await importDataKey(randomBytes(32));
    const [jwe] = sealFramesWithDataKeys([
      { plaintext: Buffer.from('frame bytes'), key, kid: '3', aad: aadOf(1) },
    ]);
    const stored = JSON.parse(jwe as string) as Record<string, string>;
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
    variants.push(['another kid', jwe as string, key, '4', aadOf(1)]);
    variants.push(['another AAD', jwe as string, key, '3', aadOf(2)]);
    variants.push(['another key', jwe as string, other, '3', aadOf(1)]);
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
