/**
 * @module test/unit/kgc-pkcs12
 * PKCS#12 export (RFC 7292; `anchor/src/kgc/pkcs12.ts`), built in-process with node-forge
 * and read back by the real OpenSSL CLI, the passphrase on its stdin: the key and every
 * certificate come out byte for byte, the algorithms are PBES2 (PBKDF2-HMAC-SHA-256,
 * AES-256-CBC) and an HMAC-SHA-256 MAC, and a wrong passphrase opens nothing.
 * Shell reproduction: `openssl pkcs12 -in dev.p12 -passin stdin -info -noout`.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEVICE_CERT_FILE,
  DEVICE_ISSUING_CERT_FILE,
  DEVICE_KEY_FILE,
  DEVICE_ROOT_CERT_FILE,
  enrollDevice,
  exportPkcs12,
  initKgc,
  KgcError,
} from '../../anchor/src/kgc/index.js';
import { makeTempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'correct horse battery';
let tmp: ReturnType<typeof makeTempDir>;
let devDir: string;
let p12: string;

/** Runs `openssl pkcs12 -in p12 -passin stdin …args` with `passphrase` on stdin. */
function openssl(args: readonly string[], passphrase = PASSPHRASE, file = p12) {
  const r = spawnSync('openssl', ['pkcs12', '-in', file, '-passin', 'stdin', ...args], {
    input: `${passphrase}\n`,
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

beforeAll(async () => {
  tmp = makeTempDir('vt-kgc-p12-');
  const kgcDir = join(tmp.dir, 'kgc');
  await initKgc(kgcDir);
  devDir = join(tmp.dir, 'dev');
  await enrollDevice(kgcDir, 'p12-dev', devDir);
  p12 = join(tmp.dir, 'p12-dev.p12');
  exportPkcs12(devDir, 'p12-dev', PASSPHRASE, p12);
});
afterAll(() => tmp.cleanup());

describe('PKCS#12 export read by openssl', () => {
  it('behavior: the file is mode 0600 and node:tls loads it with the passphrase only', () => {
    expect(statSync(p12).mode & 0o777).toBe(0o600);
    const pfx = readFileSync(p12);
    expect(() => createSecureContext({ pfx, passphrase: PASSPHRASE })).not.toThrow();
    expect(() => createSecureContext({ pfx, passphrase: 'wrong passphrase' })).toThrow();
  });

  it('behavior: openssl -info names PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, and a SHA-256 MAC', () => {
    const r = openssl(['-info', '-noout']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/MAC: sha256, Iteration 2048/);
    const pbes = r.stderr.match(/PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/g) ?? [];
    expect(pbes.length).toBe(2); // the shrouded key bag and the encrypted certificates
    expect(r.stderr).not.toMatch(/RC2|3DES|DES-EDE|sha1,/i);
  });

  it('behavior: -nokeys gives the device certificate, the issuing CA and the root, byte for byte', () => {
    const r = openssl(['-nokeys']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('friendlyName: p12-dev');
    const out = (r.stdout.match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem).raw.toString('hex'));
    const want = [DEVICE_CERT_FILE, DEVICE_ISSUING_CERT_FILE, DEVICE_ROOT_CERT_FILE].map((f) =>
      new X509Certificate(readFileSync(join(devDir, f))).raw.toString('hex'),
    );
    expect(out).toEqual(want);
  });

  it('behavior: -nocerts gives the device key itself, paired with its certificate', () => {
    const r = openssl(['-nocerts', '-nodes']);
    expect(r.status, r.stderr).toBe(0);
    const key = createPrivateKey(r.stdout.slice(r.stdout.indexOf('-----BEGIN PRIVATE KEY-----')));
    const original = createPrivateKey(readFileSync(join(devDir, DEVICE_KEY_FILE)));
    expect(key.export({ format: 'jwk' })).toEqual(original.export({ format: 'jwk' }));
    // The key bag and the device certificate bag carry the same localKeyId (PKCS #9).
    const ids = [...openssl(['-nodes']).stdout.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1]);
    expect(ids.length).toBe(2);
    expect(ids[0]).toBe(ids[1]);
  });

  it('error: a wrong passphrase opens nothing (MAC check fails)', () => {
    const r = openssl(['-info', '-noout'], 'wrong passphrase');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/mac verify (failure|error)/i);
  });

  it('behavior: a non-ASCII passphrase (UTF-8) opens with openssl too', () => {
    const pass = 'pässwörd-€uro';
    const file = join(tmp.dir, 'utf8.p12');
    exportPkcs12(devDir, 'p12-dev', pass, file);
    const r = openssl(['-nokeys'], pass, file);
    expect(r.status, r.stderr).toBe(0);
    expect((r.stdout.match(PEM_CERT) ?? []).length).toBe(3);
    expect(openssl(['-nocerts', '-nodes'], pass, file).status).toBe(0);
  });

  it('error: a short or multi-line passphrase is a RangeError; a missing certificate is pkcs12_failed', () => {
    expect(() => exportPkcs12(devDir, 'p12-dev', 'short', join(tmp.dir, 'x.p12'))).toThrow(RangeError);
    expect(() => exportPkcs12(devDir, 'p12-dev', 'two\nlines here', join(tmp.dir, 'x.p12'))).toThrow(
      RangeError,
    );
    const keyOnly = join(tmp.dir, 'key-only');
    mkdirSync(keyOnly);
    copyFileSync(join(devDir, DEVICE_KEY_FILE), join(keyOnly, DEVICE_KEY_FILE));
    chmodSync(join(keyOnly, DEVICE_KEY_FILE), 0o600);
    expect(() => exportPkcs12(keyOnly, 'p12-dev', PASSPHRASE, join(tmp.dir, 'x.p12'))).toThrow(
      expect.objectContaining({ name: 'KgcError', code: 'pkcs12_failed' }),
    );
    // A certificate of another key: refused, not packed.
    copyFileSync(join(devDir, DEVICE_ROOT_CERT_FILE), join(keyOnly, DEVICE_CERT_FILE));
    expect(() => exportPkcs12(keyOnly, 'p12-dev', PASSPHRASE, join(tmp.dir, 'x.p12'))).toThrow(KgcError);
  });

  it('behavior: the passphrase never reaches a process: pkcs12.ts spawns nothing', () => {
    const src = readFileSync(new URL('../../anchor/src/kgc/pkcs12.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/child_process|spawn|exec/);
  });
});
