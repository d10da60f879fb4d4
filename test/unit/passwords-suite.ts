/**
 * @module test/unit/passwords-suite
 * The scrypt (RFC 7914) password tests of gateway/src/core/passwords.ts for one cost
 * parameter set: round trip and encoding, a cross-check with node's scryptSync, wrong
 * passwords, salting, NFKC, and malformed encodings. `test/unit/passwords.test.ts` runs it
 * at a cheap test-only cost; `test/slow/passwords.test.ts` at the production cost.
 */
import { scryptSync } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  HASH_BYTES,
  hashPassword,
  SALT_BYTES,
  type ScryptParameters,
  verifyPassword,
} from '../../gateway/src/core/passwords.js';

/** Test-only cost: N = 2^4 instead of 2^15 (r, p as in production), about 2,000 times less work. */
export const TEST_SCRYPT_PARAMS = { N: 2 ** 4, r: 8, p: 1 } as const satisfies ScryptParameters;

/** Registers the tests (call inside a `describe`) for hashes made with `params`. */
export function passwordTests(params: ScryptParameters): void {
  const hash = (password: string) => hashPassword(password, { params });

  it('behavior: hash then verify round-trips, encoded as scrypt$N$r$p$salt$hash', async () => {
    const encoded = await hash('correct horse battery staple');
    const parts = encoded.split('$');
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 4)).toEqual(['scrypt', String(params.N), String(params.r), String(params.p)]);
    expect(Buffer.from(parts[4]!, 'base64')).toHaveLength(SALT_BYTES);
    expect(Buffer.from(parts[5]!, 'base64')).toHaveLength(HASH_BYTES);
    expect(await verifyPassword('correct horse battery staple', encoded)).toBe(true);
  });

  it('behavior: the stored hash is plain RFC 7914 scrypt, cross-checked with scryptSync', async () => {
    const encoded = await hash('pw-1');
    const [, , , , salt, stored] = encoded.split('$');
    const { N, r, p } = params;
    const expected = scryptSync('pw-1', Buffer.from(salt!, 'base64'), HASH_BYTES, {
      N,
      r,
      p,
      maxmem: 64 << 20,
    });
    expect(stored).toBe(expected.toString('base64'));
  });

  it('behavior: a wrong password verifies false', async () => {
    const encoded = await hash('s3cret');
    expect(await verifyPassword('s3cret ', encoded)).toBe(false);
    expect(await verifyPassword('S3cret', encoded)).toBe(false);
    expect(await verifyPassword('', encoded)).toBe(false);
  });

  it('behavior: two hashes of one password differ (random salt) and both verify', async () => {
    const [a, b] = await Promise.all([hash('same'), hash('same')]);
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('behavior: Unicode forms of one password match (NFKC)', async () => {
    const encoded = await hash('caf\u00e9');
    expect(await verifyPassword('cafe\u0301', encoded)).toBe(true);
  });

  it('error: malformed or out-of-bounds encodings verify false, never throw', async () => {
    const good = await hash('pw');
    const [, N, r, p, salt, stored] = good.split('$');
    const bad = [
      '',
      'scrypt',
      'bcrypt$32768$8$1$' + salt + '$' + stored,
      `scrypt$${N}$${r}$${p}$${salt}`,
      `scrypt$${N}$${r}$${p}$${salt}$${stored}$extra`,
      `scrypt$32767$${r}$${p}$${salt}$${stored}`, // N not a power of two
      `scrypt$1$${r}$${p}$${salt}$${stored}`,
      `scrypt$${2 ** 21}$${r}$${p}$${salt}$${stored}`, // would need 2 GiB
      `scrypt$${N}$0$${p}$${salt}$${stored}`,
      `scrypt$${N}$${r}$99$${salt}$${stored}`,
      `scrypt$-32768$${r}$${p}$${salt}$${stored}`,
      `scrypt$0x8000$${r}$${p}$${salt}$${stored}`,
      `scrypt$${N}$${r}$${p}$!!notbase64!!$${stored}`,
      `scrypt$${N}$${r}$${p}$${Buffer.alloc(4).toString('base64')}$${stored}`, // salt too short
      `scrypt$${N}$${r}$${p}$${salt}$`,
      `scrypt$${N}$${r}$${p}$${salt}$${Buffer.alloc(8).toString('base64')}`, // hash too short
    ];
    for (const encoded of bad) expect(await verifyPassword('pw', encoded), encoded).toBe(false);
    expect(await verifyPassword('pw', 42 as unknown as string)).toBe(false);
    expect(await verifyPassword('pw', null as unknown as string)).toBe(false);
    // The unaltered hash still verifies, so the cases above fail for the reason intended.
    expect(await verifyPassword('pw', good)).toBe(true);
  });
}
