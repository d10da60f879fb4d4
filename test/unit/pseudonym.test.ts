/**
 * @module test/unit/pseudonym
 * core/pseudonym (issue 18: the chain sees a pseudonymous patient id): the pseudonym is the
 * keyed hash the module doc defines, recomputed here with node:crypto (an independent
 * implementation); stable for one key and id, different under another key or for another
 * id, never the plain hash of the id; a key of the wrong size or an empty id is refused.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../../gateway/src/core/pseudonym.js';

const key = Uint8Array.from(Buffer.from('11'.repeat(32), 'hex'));

describe('pseudonymOf', () => {
  it('behavior: HMAC-SHA256 of the domain-separated id under the key, as 0x + 64 hex', () => {
    const expected = createHmac('sha256', key)
      .update('vitaltrail/patient-pseudonym/v1\0P-0007')
      .digest('hex');
    expect(pseudonymOf(key, 'P-0007')).toBe(`0x${expected}`);
    expect(pseudonymOf(key, 'P-0007')).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('behavior: stable per key and id; another key or id gives another; never the plain hash', () => {
    const other = randomBytes(PSEUDONYM_KEY_BYTES);
    expect(pseudonymOf(key, 'P-0007')).toBe(pseudonymOf(Uint8Array.from(key), 'P-0007'));
    expect(pseudonymOf(other, 'P-0007')).not.toBe(pseudonymOf(key, 'P-0007'));
    expect(pseudonymOf(key, 'P-0008')).not.toBe(pseudonymOf(key, 'P-0007'));
    expect(pseudonymOf(key, 'P-0007').slice(2)).not.toBe(createHash('sha256').update('P-0007').digest('hex'));
  });

  it('error: a key of another size or an empty id is a RangeError', () => {
    expect(() => pseudonymOf(new Uint8Array(16), 'P-0007')).toThrow(RangeError);
    expect(() => pseudonymOf(key, '')).toThrow(RangeError);
  });
});
