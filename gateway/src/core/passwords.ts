/**
 * @module core/passwords
 * Password hashing for dashboard accounts (ARCHITECTURE.md "Roles": every human user
 * has their own account). A memory-hard KDF, scrypt (RFC 7914), from node:crypto; no
 * sockets, files or timers here.
 *
 * Encoded form: `scrypt$N$r$p$saltB64$hashB64` (standard base64, no line breaks), so
 * parameters can be raised later without invalidating stored hashes.
 *
 * Trust: the `encoded` string of `verifyPassword` comes from the users file; it is
 * parsed defensively and any malformed or out-of-bounds value makes it return `false`
 * (never throw), so one corrupt record cannot take the login route down.
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost parameters (RFC 7914 §2): cost N (a power of two), block size r, parallelism p. */
export interface ScryptParameters {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** RFC 7914 §2: cost N (a power of two), block size r, parallelism p. N = 2^15 ≈ 32 MiB. */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const satisfies ScryptParameters;
export const SALT_BYTES = 16;
export const HASH_BYTES = 32;
/** Upper bounds accepted when verifying, so a tampered record cannot ask for gigabytes. */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
/** Longest password we hash; longer input is treated as a wrong password. */
export const MAX_PASSWORD_LENGTH = 1024;

/** Shortest password a new account may have (NIST SP 800-63B §5.1.1.2 asks at least 8; we ask 12). */
export const MIN_PASSWORD_LENGTH = 12;

/**
 * The policy for a new account's password: at least `MIN_PASSWORD_LENGTH` characters
 * (Unicode code points) and not all of one class (lowercase, uppercase, digits, other).
 * Returns what is wrong, or `undefined` when the password is acceptable. Never logs or
 * returns the password.
 * @example passwordPolicyProblem('short') // 'shorter than 12 characters'
 */
export function passwordPolicyProblem(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `shorter than ${MIN_PASSWORD_LENGTH} characters`;
  const classes = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{Ll}\p{Lu}\p{Nd}]/u].filter((c) => c.test(password));
  if (classes.length < 2) return 'made of one character class only (mix letters, digits or symbols)';
  return undefined;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** RFC 7914 §6: scrypt uses 128·N·r·p bytes; leave headroom above that for node's check. */
function maxmemFor(N: number, r: number, p: number): number {
  return 128 * N * r * p + 16 * 1024 * 1024;
}

/**
 * Derives an scrypt key: node:crypto's `scrypt` (libuv's thread pool) by default; the
 * gateway passes one that runs on its own password thread (io/identity/password-pool).
 */
export type ScryptDerive = (
  password: string,
  salt: Buffer,
  keylen: number,
  options: ScryptOptions,
) => Promise<Buffer>;

function scryptAsync(
  password: string,
  salt: Buffer,
  keylen: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** NIST SP 800-63B §5.1.1.2: normalise Unicode so the same password typed differently still matches. */
function normalise(password: string): string {
  return password.normalize('NFKC');
}

function checkPassword(password: unknown, fn: string): asserts password is string {
  if (typeof password !== 'string') throw new TypeError(`${fn}: password must be a string`);
}

/** RFC 7914 §2 (N a power of two above 1), within the bounds `verifyPassword` accepts. */
function inBounds({ N, r, p }: ScryptParameters): boolean {
  const int = (x: number, max: number) => Number.isSafeInteger(x) && x >= 1 && x <= max;
  return int(N, MAX_N) && N >= 2 && (N & (N - 1)) === 0 && int(r, MAX_R) && int(p, MAX_P);
}

export interface HashPasswordOptions {
  /**
   * scrypt cost. Default `SCRYPT_PARAMS` (N=2^15, r=8, p=1), which every account gets; the
   * gateway never passes another. Tests pass a cheaper set to run fast. Must be a set
   * `verifyPassword` accepts: N a power of two from 2 to 2^20, r 1-32, p 1-16.
   */
  params?: ScryptParameters;
}

/**
 * Hashes a password with scrypt (N=2^15, r=8, p=1 unless `options.params`) and a fresh
 * 16-byte random salt.
 * @throws {TypeError} when `password` is not a string.
 * @throws {RangeError} when `password` is empty or longer than 1024 characters, or
 * `options.params` is outside the bounds above.
 * @example
 * const encoded = await hashPassword('correct horse'); // "scrypt$32768$8$1$…$…"
 */
export async function hashPassword(password: string, options: HashPasswordOptions = {}): Promise<string> {
  checkPassword(password, 'hashPassword');
  if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw new RangeError(`hashPassword: password must be 1-${MAX_PASSWORD_LENGTH} characters`);
  }
  const params = options.params ?? SCRYPT_PARAMS;
  if (!inBounds(params)) {
    throw new RangeError(
      `hashPassword: options.params must have N a power of two in 2-${MAX_N}, r 1-${MAX_R}, p 1-${MAX_P}`,
    );
  }
  const { N, r, p } = params;
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(normalise(password), salt, HASH_BYTES, {
    N,
    r,
    p,
    maxmem: maxmemFor(N, r, p),
  });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseUint(s: string | undefined): number | null {
  if (s === undefined || !/^[1-9][0-9]{0,9}$/.test(s)) return null;
  return Number(s);
}

function parseB64(s: string | undefined, min: number, max: number): Buffer | null {
  if (s === undefined || !B64.test(s)) return null;
  const buf = Buffer.from(s, 'base64');
  return buf.length >= min && buf.length <= max ? buf : null;
}

/** Parses `scrypt$N$r$p$salt$hash`; null on anything malformed or outside the accepted bounds. */
function parseEncoded(encoded: string): ParsedHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const N = parseUint(parts[1]);
  const r = parseUint(parts[2]);
  const p = parseUint(parts[3]);
  if (N === null || r === null || p === null) return null;
  if (!inBounds({ N, r, p })) return null;
  const salt = parseB64(parts[4], SALT_BYTES, 64);
  const hash = parseB64(parts[5], 16, 64);
  if (!salt || !hash) return null;
  return { N, r, p, salt, hash };
}

/**
 * Checks a password against an encoded scrypt hash in constant time.
 * Returns false for a wrong password, for a malformed `encoded` string and when `derive` fails.
 * @param derive the scrypt implementation; default node:crypto's on libuv's thread pool
 * @throws {TypeError} when `password` is not a string.
 */
export async function verifyPassword(
  password: string,
  encoded: string,
  derive: ScryptDerive = scryptAsync,
): Promise<boolean> {
  checkPassword(password, 'verifyPassword');
  if (typeof encoded !== 'string' || password.length > MAX_PASSWORD_LENGTH) return false;
  const parsed = parseEncoded(encoded);
  if (!parsed) return false;
  const { N, r, p, salt, hash } = parsed;
  let candidate: Buffer;
  try {
    candidate = await derive(normalise(password), salt, hash.length, {
      N,
      r,
      p,
      maxmem: maxmemFor(N, r, p),
    });
  } catch {
    return false;
  }
  return timingSafeEqual(candidate, hash);
}

/** Alphabet of `generatePassword`: base64url, 6 bits per character. */
const GENERATED_LENGTH = 20;

/**
 * A random 20-character URL-safe password (120 bits from the CSPRNG).
 * @example
 * generatePassword(); // e.g. "q3V_0c9mXl2-aN8rTt4w"
 */
export function generatePassword(): string {
  // 15 random bytes encode to exactly 20 base64url characters (RFC 4648 §5), no padding.
  return randomBytes((GENERATED_LENGTH * 6) / 8).toString('base64url');
}
