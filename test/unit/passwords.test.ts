/**
 * @module test/unit/passwords
 * scrypt password hashing (RFC 7914) of gateway/src/core/passwords.ts: round trip,
 * wrong and malformed inputs, salting, and the generated-password format. The hashing
 * tests (passwords-suite.ts) run here at a cheap test-only cost; the production cost is
 * checked once here (the default, as the README states it) and the whole suite runs at it
 * in test/slow/passwords.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  generatePassword,
  hashPassword,
  SALT_BYTES,
  SCRYPT_PARAMS,
  verifyPassword,
} from '../../gateway/src/core/passwords.js';
import { passwordTests, TEST_SCRYPT_PARAMS } from './passwords-suite.js';

describe('passwords (test-only cost N=2^4)', () => {
  passwordTests(TEST_SCRYPT_PARAMS);
});

describe('passwords', () => {
  it('behavior: the production cost is the default and is what the README states (N=2^15, r=8, p=1)', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const stated =
      /scrypt password hashes \(RFC 7914, N = 2\^(\d+), r = (\d+), p = (\d+), (\d+)-byte salt\)/.exec(readme);
    expect(stated, 'README Security section states the scrypt parameters').not.toBeNull();
    const [, log2N, r, p, salt] = stated!.map(Number);
    expect({ N: 2 ** log2N!, r, p }).toEqual(SCRYPT_PARAMS);
    expect(salt).toBe(SALT_BYTES);
    expect(SCRYPT_PARAMS).toEqual({ N: 2 ** 15, r: 8, p: 1 });
    const encoded = await hashPassword('correct horse battery staple');
    // One production hash (a tenth of a second); verifying at this cost is in the slow tier.
    expect(encoded.split('$').slice(0, 4)).toEqual(['scrypt', '32768', '8', '1']);
  });

  it('error: misuse throws TypeError/RangeError naming the parameter', async () => {
    await expect(hashPassword(undefined as unknown as string)).rejects.toThrow(TypeError);
    await expect(hashPassword('')).rejects.toThrow(RangeError);
    await expect(hashPassword('x'.repeat(1025))).rejects.toThrow(/password/);
    await expect(verifyPassword(1 as unknown as string, 'scrypt$')).rejects.toThrow(TypeError);
  });

  it('error: a cost outside what verifyPassword accepts is a RangeError naming options.params', async () => {
    for (const params of [
      { N: 2 ** 15 - 1, r: 8, p: 1 }, // not a power of two
      { N: 1, r: 8, p: 1 },
      { N: 2 ** 21, r: 8, p: 1 },
      { N: 16, r: 0, p: 1 },
      { N: 16, r: 8, p: 17 },
      { N: 16, r: 1.5, p: 1 },
    ]) {
      await expect(hashPassword('pw', { params }), JSON.stringify(params)).rejects.toThrow(/options\.params/);
      await expect(hashPassword('pw', { params })).rejects.toThrow(RangeError);
    }
  });

  it('behavior: generatePassword gives 20 URL-safe characters, different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const pw = generatePassword();
      expect(pw).toMatch(/^[A-Za-z0-9_-]{20}$/);
      seen.add(pw);
    }
    expect(seen.size).toBe(200);
  });
});
