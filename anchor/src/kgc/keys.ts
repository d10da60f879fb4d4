/**
 * @module kgc/keys
 * Private key files at rest for the KGC and enrolled devices (ARCHITECTURE.md "KGC: CLI
 * commands on local key files"; preamble rule: private keys on disk with mode 0600).
 * PKCS#8 PEM (RFC 5958, RFC 7468 §10), parsed and written by node:crypto only.
 */
import { createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errorClass } from '../../../gateway/src/protocol/errors.js';

export class KeyFileError extends errorClass<'key_file'>('KeyFileError') {}
export type KeyFileErrorCode = KeyFileError['code'];

/** Owner read/write only. */
export const PRIVATE_KEY_MODE = 0o600;
/** Directories created for key files: owner only. */
export const PRIVATE_DIR_MODE = 0o700;

/** Group and other permission bits: any of them set makes a key file refused. */
const GROUP_OTHER_BITS = 0o077;

/**
 * Writes a PEM private key with mode 0600, creating missing parent directories (0700).
 * An overwrite is atomic (temporary file in the same directory, then rename); the mode is
 * set on the descriptor before any key byte is written.
 * @param opts.overwrite replace an existing file (default `false`: refuse).
 * @throws {TypeError} when `path` is empty or `pem` is not a private key.
 * @throws {KeyFileError} code `key_exists` when the file exists and `overwrite` is not set.
 * @example
 * writePrivateKeyPem('/etc/vitaltrail/kgc/root.key.pem', key.export({ type: 'pkcs8', format: 'pem' }) as string);
 */
export function writePrivateKeyPem(path: string, pem: string, opts: { overwrite?: boolean } = {}): void {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError('writePrivateKeyPem: path must be a non-empty string');
  }
  if (typeof pem !== 'string') throw new TypeError('writePrivateKeyPem: pem must be a string');
  try {
    createPrivateKey(pem);
  } catch {
    throw new TypeError('writePrivateKeyPem: pem is not a PEM private key');
  }
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });

  if (!opts.overwrite) {
    try {
      writeOwnerOnlyFile(path, pem);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new KeyFileError('key_exists', 'a private key file already exists at this path', {
          cause: err,
        });
      }
      throw err;
    }
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeOwnerOnlyFile(tmp, pem);
    renameSync(tmp, path); // atomic replace: readers see the old key or the new one
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Opens `path` with `flags` and mode 0600 and writes `data`. The default 'wx' is
 * O_CREAT | O_EXCL: an existing file (or a planted symlink) is never followed or truncated;
 * 'w' truncates an existing file. The umask applies to the mode given to open; the fchmod
 * pins exactly 0600 on the descriptor whatever it was.
 */
export function writeOwnerOnlyFile(path: string, data: string | Uint8Array, flags: 'wx' | 'w' = 'wx'): void {
  const fd = openSync(path, flags, PRIVATE_KEY_MODE);
  try {
    fchmodSync(fd, PRIVATE_KEY_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a PEM private key, refusing a file that group or others may access (the check is
 * on the opened descriptor, so the file cannot be swapped between check and read).
 * @throws {KeyFileError} code `key_permissions` when the mode has any group/other bit;
 *   code `key_invalid` when the file is not a PEM private key.
 * @example
 * const key = readPrivateKey(join(kgcDir, 'root.key.pem'));
 */
export function readPrivateKey(path: string): KeyObject {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError('readPrivateKey: path must be a non-empty string');
  }
  const fd = openSync(path, 'r');
  let pem: Buffer;
  try {
    const { mode } = fstatSync(fd);
    if ((mode & GROUP_OTHER_BITS) !== 0) {
      throw new KeyFileError(
        'key_permissions',
        'private key file is accessible by group or others; restrict it to mode 0600',
      );
    }
    pem = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new KeyFileError('key_invalid', 'file is not a PEM private key', { cause: err });
  }
}
