/**
 * @module io/store/recipients
 * Envelope recipients from a directory: `<kid>.pub.pem` files are the public keys the
 * gateway seals every batch for; `<kid>.key.pem` files (0600) are private keys, present
 * only where this host is allowed to open envelopes (the dashboard/export service).
 * `retired/<kid>.pub.pem` are recipients taken out of rotation: new data keys are no longer
 * wrapped for them, but their private keys (still `<kid>.key.pem`) open what they sealed.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { keyManagementAlgorithm, type Recipient, type RecipientSecret } from '../../core/envelope.js';
import { VitalTrailError } from '../../protocol/errors.js';
import { ensureDir, writeSecret } from '../ops/index.js';

const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function listKeys(dir: string, suffix: string): { kid: string; path: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => ({ kid: f.slice(0, -suffix.length), path: join(dir, f) }))
    .filter((k) => KID_PATTERN.test(k.kid))
    .sort((a, b) => a.kid.localeCompare(b.kid));
}

/** @throws {VitalTrailError} `config_invalid` when a key file does not parse or is not RSA-3072+/P-256. */
export function loadRecipients(dir: string): Recipient[] {
  return listKeys(dir, '.pub.pem').map(({ kid, path }) => {
    try {
      const publicKey = createPublicKey(readFileSync(path, 'utf8'));
      keyManagementAlgorithm(publicKey);
      return { kid, publicKey };
    } catch (err) {
      throw new VitalTrailError('config_invalid', `recipient key ${kid} is not a usable public key`, {
        cause: err,
      });
    }
  });
}

export function loadRecipientSecrets(dir: string): RecipientSecret[] {
  return listKeys(dir, '.key.pem').map(({ kid, path }) => ({
    kid,
    privateKey: createPrivateKey(readFileSync(path, 'utf8')),
  }));
}

/**
 * Creates a recipient key pair `<kid>.pub.pem` / `<kid>.key.pem` in `dir`.
 * @param kind 'ec' for P-256 (ECDH-ES+A256KW) or 'rsa' for RSA-3072 (RSA-OAEP-256)
 */
export function createRecipientKey(dir: string, kid: string, kind: 'ec' | 'rsa'): void {
  if (!KID_PATTERN.test(kid)) throw new RangeError('createRecipientKey: kid must match [A-Za-z0-9._-]{1,64}');
  ensureDir(dir);
  const { publicKey, privateKey } =
    kind === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 3072 });
  writeSecret(join(dir, `${kid}.key.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  writeSecret(join(dir, `${kid}.pub.pem`), publicKey.export({ type: 'spki', format: 'pem' }).toString());
}

/** The directory of retired recipients' public keys. */
export function retiredDir(dir: string): string {
  return join(dir, 'retired');
}

/**
 * The active recipient set, re-read only when the directory changes (its mtime), so a
 * `recipients add`/`rotate` takes effect for the next data key without a restart.
 * @throws {VitalTrailError} `config_invalid` as `loadRecipients`.
 * @example
 * const current = watchRecipients(paths.recipientsDir); current(); // Recipient[]
 */
export function watchRecipients(dir: string): () => readonly Recipient[] {
  let stamp = -1;
  let cached: readonly Recipient[] = [];
  return () => {
    const m = statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0; // one call per use: it runs per commit
    if (m !== stamp) {
      cached = loadRecipients(dir);
      stamp = m;
    }
    return cached;
  };
}

/** SHA-256 of the SubjectPublicKeyInfo, hex (names a key in listings). */
export function spkiFingerprint(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export interface RecipientInfo {
  kid: string;
  alg: 'RSA-OAEP-256' | 'ECDH-ES+A256KW';
  fingerprint: string;
  status: 'active' | 'retired';
  /** Whether this host holds the private key (can open what was sealed for it). */
  canOpen: boolean;
}

/** Active and retired recipients of `dir`. */
export function listRecipients(dir: string): RecipientInfo[] {
  const secrets = new Set(listKeys(dir, '.key.pem').map((k) => k.kid));
  const info = (r: Recipient, status: RecipientInfo['status']): RecipientInfo => ({
    kid: r.kid,
    alg: keyManagementAlgorithm(r.publicKey),
    fingerprint: spkiFingerprint(r.publicKey),
    status,
    canOpen: secrets.has(r.kid),
  });
  return [
    ...loadRecipients(dir).map((r) => info(r, 'active')),
    ...loadRecipients(retiredDir(dir)).map((r) => info(r, 'retired')),
  ];
}

/**
 * Adds a recipient from a PEM public key (RSA-3072+ or P-256).
 * @throws {VitalTrailError} `config_invalid` when the key is unusable or the kid is taken.
 */
export function addRecipient(dir: string, kid: string, publicKeyPem: string): void {
  if (!KID_PATTERN.test(kid))
    throw new VitalTrailError('config_invalid', 'kid must match [A-Za-z0-9._-]{1,64}');
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
    keyManagementAlgorithm(key);
  } catch (err) {
    throw new VitalTrailError('config_invalid', 'the public key is not RSA-3072+ or EC P-256', {
      cause: err,
    });
  }
  if (key.type !== 'public') throw new VitalTrailError('config_invalid', 'expected a public key');
  const path = join(dir, `${kid}.pub.pem`);
  if (existsSync(path) || existsSync(join(retiredDir(dir), `${kid}.pub.pem`))) {
    throw new VitalTrailError('config_invalid', 'a recipient with this kid exists (kids are never reused)');
  }
  ensureDir(dir);
  writeFileSync(path, key.export({ type: 'spki', format: 'pem' }).toString(), { mode: 0o644 });
}

/**
 * Takes a recipient out of rotation: new data keys are not wrapped for it; data keys
 * already wrapped for it stay readable with its private key.
 * @throws {VitalTrailError} `not_found` when no active recipient has this kid.
 */
export function retireRecipient(dir: string, kid: string): void {
  const path = join(dir, `${kid}.pub.pem`);
  if (!KID_PATTERN.test(kid) || !existsSync(path)) {
    throw new VitalTrailError('not_found', 'no active recipient has this kid');
  }
  mkdirSync(retiredDir(dir), { recursive: true, mode: 0o700 });
  renameSync(path, join(retiredDir(dir), `${kid}.pub.pem`));
}
