/**
 * @module test/unit/passwords
 * scrypt password hashing (RFC 7914) of gateway/src/core/passwords.ts: round trip,
 * wrong and malformed inputs, salting, and the generated-password format.
 */
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generatePassword,
  HASH_BYTES,
  hashPassword,
  SALT_BYTES,
  SCRYPT_PARAMS,
  verifyPassword,
} from '../../gateway/src/core/passwords.js';

describe('passwords', () => {
  it('behavior: hash then verify round-trips, encoded as scrypt$N$r$p$salt$hash', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    const parts = encoded.split('$');
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 4)).toEqual(['scrypt', '32768', '8', '1']);
    expect(Buffer.from(parts[4]!, 'base64')).toHaveLength(SALT_BYTES);
    expect(Buffer.from(parts[5]!, 'base64')).toHaveLength(HASH_BYTES);
    expect(await verifyPassword('correct horse battery staple', encoded)).toBe(true);
  });

  it('behavior: the stored hash is plain RFC 7914 scrypt, cross-checked with scryptSync', async () => {
    const encoded = await hashPassword('pw-1');
    const [, , , , salt, hash] = encoded.split('$');
    const { N, r, p } = SCRYPT_PARAMS;
    const expected = scryptSync('pw-1', Buffer.from(salt!, 'base64'), HASH_BYTES, {
      N,
      r,
      p,
      maxmem: 64 << 20,
    });
    expect(hash).toBe(expected.toString('base64'));
  });

  it('behavior: a wrong password verifies false', async () => {
    const encoded = await hashPassword('s3cret');
    expect(await verifyPassword('s3cret ', encoded)).toBe(false);
    expect(await verifyPassword('S3cret', encoded)).toBe(false);
    expect(await verifyPassword('', encoded)).toBe(false);
  });

  it('behavior: two hashes of one password differ (random salt) and both verify', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('behavior: Unicode forms of one password match (NFKC)', async () => {
    const encoded = await hashPassword('caf\u00e9');
    expect(await verifyPassword('cafe\u0301', encoded)).toBe(true);
  });

  it('error: malformed or out-of-bounds encodings verify false, never throw', async () => {
    const good = await hashPassword('pw');
    const [, N, r, p, salt, hash] = good.split('$');
    const bad = [
      '',
      'scrypt',
      'bcrypt$32768$8$1$' + salt + '$' + hash,
      `scrypt$${N}$${r}$${p}$${salt}`,
      `scrypt$${N}$${r}$${p}$${salt}$${hash}$extra`,
      `scrypt$32767$${r}$${p}$${salt}$${hash}`, // N not a power of two
      `scrypt$1$${r}$${p}$${salt}$${hash}`,
      `scrypt$${2 ** 21}$${r}$${p}$${salt}$${hash}`, // would need 2 GiB
      `scrypt$${N}$0$${p}$${salt}$${hash}`,
      `scrypt$${N}$${r}$99$${salt}$${hash}`,
      `scrypt$-32768$${r}$${p}$${salt}$${hash}`,
      `scrypt$0x8000$${r}$${p}$${salt}$${hash}`,
      `scrypt$${N}$${r}$${p}$!!notbase64!!$${hash}`,
      `scrypt$${N}$${r}$${p}$${Buffer.alloc(4).toString('base64')}$${hash}`, // salt too short
      `scrypt$${N}$${r}$${p}$${salt}$`,
      `scrypt$${N}$${r}$${p}$${salt}$${Buffer.alloc(8).toString('base64')}`, // hash too short
    ];
    for (const encoded of bad) expect(await verifyPassword('pw', encoded), encoded).toBe(false);
    expect(await verifyPassword('pw', 42 as unknown as string)).toBe(false);
    expect(await verifyPassword('pw', null as unknown as string)).toBe(false);
    // The unaltered hash still verifies, so the cases above fail for the reason intended.
    expect(await verifyPassword('pw', good)).toBe(true);
  });

  it('error: misuse throws TypeError/RangeError naming the parameter', async () => {
    await expect(hashPassword(undefined as unknown as string)).rejects.toThrow(TypeError);
    await expect(hashPassword('')).rejects.toThrow(RangeError);
    await expect(hashPassword('x'.repeat(1025))).rejects.toThrow(/password/);
    await expect(verifyPassword(1 as unknown as string, 'scrypt$')).rejects.toThrow(TypeError);
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
