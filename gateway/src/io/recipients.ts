/**
 * @module io/recipients
 * Envelope recipients from a directory: `<kid>.pub.pem` files are the public keys the
 * gateway seals every batch for; `<kid>.key.pem` files (0600) are private keys, present
 * only where this host is allowed to open envelopes (the dashboard/export service).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyManagementAlgorithm, type Recipient, type RecipientSecret } from '../core/envelope.js';
import { VitalTrailError } from '../protocol/errors.js';
import { ensureDir, writeSecret } from './datadir.js';

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
