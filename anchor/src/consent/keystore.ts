/**
 * @module anchor/consent/keystore
 * A patient's key at rest (issue 18, README "The patient portal and the doctor's page"): the
 * 32-byte secp256k1 private key the portal made (or imported) in the browser, sealed under the
 * patient's passphrase so the gateway can keep it without being able to use it.
 *
 * Format (JSON, version 1), every field required and nothing else read:
 * `{v: 1, kdf: 'PBKDF2-SHA256', iterations: 600000, salt, iv, ciphertext, address}` where
 * `salt` (16 random bytes), `iv` (12 random bytes) and `ciphertext` (32 key bytes + 16 tag
 * bytes) are standard base64 with padding; the AES-256-GCM key is
 * PBKDF2-HMAC-SHA256(UTF-8 passphrase, salt, 600000 iterations, 32 bytes); no additional data;
 * `address` is the key's EIP-55 account address, checked against the opened key.
 *
 * Browser-safe: WebCrypto (`globalThis.crypto.subtle`, Node 20 has it too) and viem only. The
 * keystore is hostile input (it comes back from the gateway): its shape and sizes are checked
 * before any work, and the iteration count is fixed, so a keystore cannot make the browser
 * derive for minutes. Failures are `ConsentKeyError`s with a code (never the passphrase or key).
 */
import { getAddress, type Hex, isAddress } from 'viem';
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';

/** The only keystore version. */
export const KEYSTORE_VERSION = 1;
/** PBKDF2-SHA256 iterations (OWASP 2023 for PBKDF2-HMAC-SHA256). */
export const KEYSTORE_ITERATIONS = 600_000;
/** The shortest passphrase the portal accepts, in characters. */
export const MIN_PASSPHRASE_CHARS = 12;
/** The longest passphrase, in characters (a bound on the work, not on the choice). */
export const MAX_PASSPHRASE_CHARS = 1024;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const KEY_BYTES = 32;
const TAG_BYTES = 16;

/** A sealed private key (see the module header). */
export interface Keystore {
  v: 1;
  kdf: 'PBKDF2-SHA256';
  iterations: number;
  /** base64 of 16 bytes. */
  salt: string;
  /** base64 of 12 bytes. */
  iv: string;
  /** base64 of 48 bytes: AES-256-GCM of the 32-byte key, then its tag. */
  ciphertext: string;
  /** The key's account address (EIP-55). */
  address: Hex;
}

/** What can go wrong with a key in the browser, by code. */
export type ConsentKeyErrorCode =
  | 'passphrase_weak'
  | 'wrong_passphrase'
  | 'keystore_invalid'
  | 'keystore_mismatch'
  | 'private_key_invalid'
  | 'grant_invalid'
  | 'crypto_unavailable';

/** A coded failure of the key functions; `reason` says what to do, never a secret. */
export class ConsentKeyError extends Error {
  readonly code: ConsentKeyErrorCode;
  readonly reason: string;
  constructor(code: ConsentKeyErrorCode, reason: string) {
    super(`${code}: ${reason}`);
    this.name = 'ConsentKeyError';
    this.code = code;
    this.reason = reason;
  }
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s)
    throw new ConsentKeyError('crypto_unavailable', 'this browser has no WebCrypto (use https or localhost)');
  return s;
}

/** Standard base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of standard base64 `text`, which must decode to exactly `length` bytes.
 * @throws {ConsentKeyError} `keystore_invalid` naming `field`.
 */
function fromBase64(text: unknown, length: number, field: string): Uint8Array<ArrayBuffer> {
  if (typeof text !== 'string' || text.length > 128 || !BASE64.test(text))
    throw new ConsentKeyError('keystore_invalid', `${field} is not base64`);
  const bin = atob(text);
  if (bin.length !== length)
    throw new ConsentKeyError('keystore_invalid', `${field} must be ${length} bytes`);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** @throws {ConsentKeyError} `passphrase_weak` below 12 or above 1024 characters. */
export function assertPassphrase(passphrase: unknown): asserts passphrase is string {
  if (typeof passphrase !== 'string' || [...passphrase].length < MIN_PASSPHRASE_CHARS)
    throw new ConsentKeyError(
      'passphrase_weak',
      `use a passphrase of at least ${MIN_PASSPHRASE_CHARS} characters`,
    );
  if ([...passphrase].length > MAX_PASSPHRASE_CHARS)
    throw new ConsentKeyError(
      'passphrase_weak',
      `use a passphrase of at most ${MAX_PASSPHRASE_CHARS} characters`,
    );
}

async function aesKey(passphrase: string, salt: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const s = subtle();
  const base = await s.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return s.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations: KEYSTORE_ITERATIONS },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;

/**
 * The account of a raw private key (`0x` + 64 hex, or 64 hex: what a wallet exports).
 * @throws {ConsentKeyError} `private_key_invalid` when it is not one (zero or beyond the curve order too).
 */
export function accountOfPrivateKey(privateKey: unknown): { account: PrivateKeyAccount; privateKey: Hex } {
  const text = typeof privateKey === 'string' ? privateKey.trim() : '';
  const hex = (text.startsWith('0x') || text.startsWith('0X') ? `0x${text.slice(2)}` : `0x${text}`) as Hex;
  if (!PRIVATE_KEY.test(hex))
    throw new ConsentKeyError('private_key_invalid', 'a private key is 64 hexadecimal digits (0x optional)');
  try {
    return { account: privateKeyToAccount(hex.toLowerCase() as Hex), privateKey: hex.toLowerCase() as Hex };
  } catch {
    throw new ConsentKeyError('private_key_invalid', 'this is not a valid secp256k1 private key');
  }
}

/**
 * Seals `privateKey` under `passphrase` (fresh salt and iv).
 * @throws {ConsentKeyError} `passphrase_weak`, `private_key_invalid`, `crypto_unavailable`.
 * @example
 * const keystore = await sealKey(generatePrivateKey(), 'a long passphrase');
 */
export async function sealKey(privateKey: Hex, passphrase: string): Promise<Keystore> {
  assertPassphrase(passphrase);
  const { account, privateKey: pk } = accountOfPrivateKey(privateKey);
  const salt = globalThis.crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await aesKey(passphrase, salt);
  const plain = new Uint8Array(KEY_BYTES);
  for (let i = 0; i < KEY_BYTES; i++) plain[i] = Number.parseInt(pk.slice(2 + 2 * i, 4 + 2 * i), 16);
  const sealed = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv }, key, plain));
  plain.fill(0);
  return {
    v: KEYSTORE_VERSION,
    kdf: 'PBKDF2-SHA256',
    iterations: KEYSTORE_ITERATIONS,
    salt: toBase64(salt),
    iv: toBase64(iv),
    ciphertext: toBase64(sealed),
    address: account.address,
  };
}

/**
 * Checks the shape of a keystore (hostile input) and returns it typed.
 * @throws {ConsentKeyError} `keystore_invalid` naming the field.
 */
export function parseKeystore(input: unknown): Keystore {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new ConsentKeyError('keystore_invalid', 'a keystore is a JSON object');
  const k = input as Record<string, unknown>;
  if (k.v !== KEYSTORE_VERSION) throw new ConsentKeyError('keystore_invalid', 'unknown keystore version');
  if (k.kdf !== 'PBKDF2-SHA256') throw new ConsentKeyError('keystore_invalid', 'unknown key derivation');
  if (k.iterations !== KEYSTORE_ITERATIONS)
    throw new ConsentKeyError('keystore_invalid', `iterations must be ${KEYSTORE_ITERATIONS}`);
  fromBase64(k.salt, SALT_BYTES, 'salt');
  fromBase64(k.iv, IV_BYTES, 'iv');
  fromBase64(k.ciphertext, KEY_BYTES + TAG_BYTES, 'ciphertext');
  if (typeof k.address !== 'string' || !isAddress(k.address, { strict: false }))
    throw new ConsentKeyError('keystore_invalid', 'address is not an account address');
  return {
    v: KEYSTORE_VERSION,
    kdf: 'PBKDF2-SHA256',
    iterations: KEYSTORE_ITERATIONS,
    salt: k.salt as string,
    iv: k.iv as string,
    ciphertext: k.ciphertext as string,
    address: getAddress(k.address),
  };
}

/**
 * Opens a keystore with its passphrase: the private key and its account.
 * @throws {ConsentKeyError} `keystore_invalid` (shape), `wrong_passphrase` (the passphrase does
 *   not open it, or the ciphertext was altered: AES-GCM cannot tell the two apart),
 *   `keystore_mismatch` (it opens, but to a key other than its `address`).
 * @example
 * const { account } = await openKeystore(me.patientKey.keystore, passphrase);
 */
export async function openKeystore(
  input: unknown,
  passphrase: string,
): Promise<{ account: PrivateKeyAccount; privateKey: Hex }> {
  const k = parseKeystore(input);
  if (
    typeof passphrase !== 'string' ||
    passphrase.length === 0 ||
    passphrase.length > MAX_PASSPHRASE_CHARS * 4
  )
    throw new ConsentKeyError('wrong_passphrase', 'enter the passphrase of this key');
  const key = await aesKey(passphrase, fromBase64(k.salt, SALT_BYTES, 'salt'));
  let plain: Uint8Array;
  try {
    plain = new Uint8Array(
      await subtle().decrypt(
        { name: 'AES-GCM', iv: fromBase64(k.iv, IV_BYTES, 'iv') },
        key,
        fromBase64(k.ciphertext, KEY_BYTES + TAG_BYTES, 'ciphertext'),
      ),
    );
  } catch {
    throw new ConsentKeyError(
      'wrong_passphrase',
      'this passphrase does not open your key (or the stored key was altered)',
    );
  }
  const hex = `0x${[...plain].map((b) => b.toString(16).padStart(2, '0')).join('')}` as Hex;
  plain.fill(0);
  const opened = accountOfPrivateKey(hex);
  if (opened.account.address !== k.address)
    throw new ConsentKeyError('keystore_mismatch', 'the stored key does not match its address');
  return opened;
}

/**
 * A new key, made with viem's `generatePrivateKey` (WebCrypto's random numbers), sealed under
 * `passphrase`.
 * @throws {ConsentKeyError} `passphrase_weak`, `crypto_unavailable`.
 */
export async function createKey(
  passphrase: string,
): Promise<{ account: PrivateKeyAccount; keystore: Keystore }> {
  assertPassphrase(passphrase);
  const privateKey = generatePrivateKey();
  return { account: privateKeyToAccount(privateKey), keystore: await sealKey(privateKey, passphrase) };
}

/**
 * A key brought from a wallet (its raw private key), sealed under `passphrase` so the portal
 * can keep it like a key it made.
 * @throws {ConsentKeyError} `private_key_invalid`, `passphrase_weak`.
 */
export async function importKey(
  privateKey: string,
  passphrase: string,
): Promise<{ account: PrivateKeyAccount; keystore: Keystore }> {
  const { account, privateKey: pk } = accountOfPrivateKey(privateKey);
  return { account, keystore: await sealKey(pk, passphrase) };
}
