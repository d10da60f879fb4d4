/**
 * @module test/unit/kgc
 * The KGC (anchor/src/kgc) on real files in a temp dir, and certificate-chain checking
 * (PROTOCOL.md §1 `expired_certificate`, §2 TLS port CN = device id, §4 SPKI SHA-256).
 * Every certificate here is real: made with @peculiar/x509, checked with node:crypto.
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateError,
  DEFAULT_ROOT_COMMON_NAME,
  DEFAULT_ROOT_ORGANIZATION,
  enrollDevice,
  initKgc,
  issueCertificate,
  KeyFileError,
  KgcError,
  kgcPaths,
  listIssued,
  loadX509,
  readPrivateKey,
  spkiSha256,
  verifyCertificateChain,
  writePrivateKeyPem,
} from '../../anchor/src/kgc/index.js';
import {
  decodeFrame,
  type FrameBody,
  signFrame,
  verifyFrameSignature,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';
import { makeTempDir } from '../helpers/tmp.js';

const DAY = 24 * 60 * 60 * 1000;
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

function p256(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function fileMode(path: string): number {
  return statSync(path).mode & 0o777;
}

function body(dev: string): FrameBody {
  return { v: 1, dev, seq: 1, ts: Date.now(), prev: ZERO_HASH, obs: { hr: 72, spo2: 98 } };
}

let tmp: { dir: string; cleanup: () => void };
let kgcDir: string;
let rootCertPem: string;
let issuingCertPem: string;
let rootKey: KeyObject;

beforeAll(async () => {
  tmp = makeTempDir('vt-kgc-');
  kgcDir = join(tmp.dir, 'kgc');
  ({ rootCertPem, issuingCertPem } = await initKgc(kgcDir));
  rootKey = readPrivateKey(kgcPaths(kgcDir).rootKey);
});

afterAll(() => tmp.cleanup());

describe('initKgc', () => {
  it('behavior: creates a 0600 root key and a self-signed CA root certificate', () => {
    const paths = kgcPaths(kgcDir);
    expect(fileMode(paths.rootKey)).toBe(0o600);
    expect(readFileSync(paths.rootCert, 'utf8')).toBe(rootCertPem);
    const root = new X509Certificate(rootCertPem);
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true); // a.checkIssued(b): a was issued by b
    expect(root.verify(root.publicKey)).toBe(true);
    expect(root.subject).toBe(`O=${DEFAULT_ROOT_ORGANIZATION}\nCN=${DEFAULT_ROOT_COMMON_NAME}`);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(root.publicKey.equals(createPublicKey(rootKey))).toBe(true);
  });

  it('behavior: is idempotent, loading the existing root', async () => {
    const again = await initKgc(kgcDir, { commonName: 'Other Root' });
    expect(again).toEqual({ rootCertPem, issuingCertPem, created: false });
  });

  it('behavior: honours commonName and validityYears for a new root', async () => {
    const dir = join(tmp.dir, 'kgc-custom');
    const { rootCertPem: pem, created } = await initKgc(dir, { commonName: 'Ward Root', validityYears: 2 });
    expect(created).toBe(true);
    const cert = new X509Certificate(pem);
    expect(cert.subject).toContain('CN=Ward Root');
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * DAY);
    expect(years).toBeCloseTo(2, 1);
  });

  it('error: a directory holding only the root key is kgc_incomplete, not silently replaced', async () => {
    const dir = join(tmp.dir, 'kgc-half');
    await initKgc(dir);
    const certPath = kgcPaths(dir).rootCert;
    unlinkSync(certPath);
    await expect(initKgc(dir)).rejects.toMatchObject({ name: 'KgcError', code: 'kgc_incomplete' });
    expect(existsSync(certPath)).toBe(false);
  });

  it('error: a root key that does not match the root certificate is kgc_corrupt', async () => {
    const dir = join(tmp.dir, 'kgc-mismatch');
    await initKgc(dir);
    writePrivateKeyPem(
      kgcPaths(dir).rootKey,
      p256().privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      {
        overwrite: true,
      },
    );
    const err = await initKgc(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KgcError);
    expect(err).toMatchObject({ code: 'kgc_corrupt' });
  });

  it('error: a root key readable by others is refused with key_permissions', async () => {
    const dir = join(tmp.dir, 'kgc-open');
    await initKgc(dir);
    chmodSync(kgcPaths(dir).rootKey, 0o644);
    await expect(initKgc(dir)).rejects.toMatchObject({ name: 'KeyFileError', code: 'key_permissions' });
  });
});

describe('enrollDevice', () => {
  it('behavior: issues CN=devId, clientAuth, non-CA, chaining to the root via the issuing CA, with the bundle on disk', async () => {
    const outDir = join(tmp.dir, 'dev-a');
    const e = await enrollDevice(kgcDir, 'ward3-bed12', outDir);
    const cert = new X509Certificate(e.certPem);
    expect(cert.subject).toBe('CN=ward3-bed12');
    expect(cert.issuer).toBe(new X509Certificate(issuingCertPem).subject);
    expect(cert.keyUsage).toEqual([CLIENT_AUTH_OID]); // node names extKeyUsage "keyUsage"
    expect(cert.ca).toBe(false);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    // RFC 5280 §4.1.2.2: positive, 128-bit random serial (top bit forced on).
    expect(e.serial).toMatch(/^[89a-f][0-9a-f]{31}$/);
    expect(e.serial).toBe(cert.serialNumber.toLowerCase());

    expect(readFileSync(e.certPath, 'utf8')).toBe(e.certPem);
    expect(readFileSync(e.rootCertPath, 'utf8')).toBe(rootCertPem);
    expect(readFileSync(join(kgcPaths(kgcDir).devicesDir, 'ward3-bed12.cert.pem'), 'utf8')).toBe(e.certPem);
    expect(fileMode(e.keyPath)).toBe(0o600);

    const r = verifyCertificateChain(e.certPem, rootCertPem, [issuingCertPem], Date.now());
    expect(r).toMatchObject({ ok: true, cn: 'ward3-bed12', spkiSha256: e.spkiSha256 });
    if (!r.ok) throw new Error('unreachable');
    expect(r.notBefore).toBe(Date.parse(cert.validFrom));
    expect(r.notAfter).toBe(Date.parse(cert.validTo));
    expect(r.notAfter - r.notBefore).toBe(365 * DAY);
  });

  it('behavior: spkiSha256 is SHA-256 of the SubjectPublicKeyInfo DER, as node and the certificate bytes give it', async () => {
    const e = await enrollDevice(kgcDir, 'spki-dev', join(tmp.dir, 'dev-spki'));
    const der = new X509Certificate(e.certPem).publicKey.export({ type: 'spki', format: 'der' });
    const expected = `0x${createHash('sha256').update(der).digest('hex')}`;
    expect(e.spkiSha256).toBe(expected);
    expect(spkiSha256(e.certPem)).toBe(expected);
    // The certificate's own SPKI field, byte for byte (not node's re-encoding of the key).
    const x509 = await loadX509();
    const literal = new Uint8Array(new x509.X509Certificate(e.certPem).publicKey.rawData);
    expect(`0x${createHash('sha256').update(literal).digest('hex')}`).toBe(expected);
    // The device's private key belongs to that SPKI.
    const priv = readPrivateKey(e.keyPath);
    expect(`0x${createHash('sha256').update(spkiOfPrivate(priv)).digest('hex')}`).toBe(expected);
  });

  it('behavior: a frame signed with the device key verifies with the key the chain check returns', async () => {
    const e = await enrollDevice(kgcDir, 'signer-1', join(tmp.dir, 'dev-signer'));
    const r = verifyCertificateChain(e.certPem, rootCertPem, [issuingCertPem], Date.now());
    if (!r.ok) throw new Error(r.reason);
    const frame = decodeFrame(signFrame(body('signer-1'), readPrivateKey(e.keyPath)));
    expect(verifyFrameSignature(frame, r.publicKey)).toBe(true);
    const other = decodeFrame(signFrame(body('signer-1'), p256().privateKey));
    expect(verifyFrameSignature(other, r.publicKey)).toBe(false);
  });

  it('behavior: re-enrolling a device issues a new key and certificate and replaces the record', async () => {
    const outDir = join(tmp.dir, 'dev-re');
    const first = await enrollDevice(kgcDir, 'reenrol', outDir);
    const firstKeyPem = readFileSync(first.keyPath, 'utf8');
    const second = await enrollDevice(kgcDir, 'reenrol', outDir);
    expect(second.serial).not.toBe(first.serial);
    expect(second.spkiSha256).not.toBe(first.spkiSha256);
    expect(readFileSync(second.keyPath, 'utf8')).not.toBe(firstKeyPem);
    expect(fileMode(second.keyPath)).toBe(0o600);
    const rec = listIssued(kgcDir).filter((x) => x.devId === 'reenrol');
    expect(rec).toHaveLength(1);
    expect(rec[0]?.serial).toBe(second.serial);
  });

  it('behavior: listIssued returns every recorded device, sorted, with serial and notAfter', async () => {
    const dir = join(tmp.dir, 'kgc-list');
    await initKgc(dir);
    expect(listIssued(dir)).toEqual([]);
    const b = await enrollDevice(dir, 'b-2', join(tmp.dir, 'list-b'));
    const a = await enrollDevice(dir, 'a.1', join(tmp.dir, 'list-a'));
    expect(listIssued(dir)).toEqual([
      {
        devId: 'a.1',
        certPem: a.certPem,
        serial: a.serial,
        notAfter: Date.parse(new X509Certificate(a.certPem).validTo),
        status: 'active',
      },
      {
        devId: 'b-2',
        certPem: b.certPem,
        serial: b.serial,
        notAfter: Date.parse(new X509Certificate(b.certPem).validTo),
        status: 'active',
      },
    ]);
  });

  it('error: an invalid devId is a RangeError naming devId, and nothing is written', async () => {
    // '.', '..' and '-x': issue 13 (an id names DATA/devices/<id>/ and a CLI value).
    for (const bad of ['', 'a/b', 'dev id', '../x', 'x'.repeat(65), 'é', '.', '..', '-x']) {
      const outDir = join(tmp.dir, 'dev-bad');
      await expect(enrollDevice(kgcDir, bad, outDir)).rejects.toThrow(RangeError);
      await expect(enrollDevice(kgcDir, bad, outDir)).rejects.toThrow(/devId/);
      expect(existsSync(outDir)).toBe(false);
    }
  });

  it('error: enrolling against a directory without a root is kgc_not_initialized', async () => {
    await expect(
      enrollDevice(join(tmp.dir, 'no-kgc'), 'dev-1', join(tmp.dir, 'dev-none')),
    ).rejects.toMatchObject({
      code: 'kgc_not_initialized',
    });
  });

  it('error: a device certificate may not outlive the root', async () => {
    await expect(
      enrollDevice(kgcDir, 'too-long', join(tmp.dir, 'dev-long'), { validityDays: 20 * 365 }),
    ).rejects.toThrow(RangeError);
  });
});

describe('key files', () => {
  const pem = () => p256().privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  it('behavior: writePrivateKeyPem creates parent dirs and a 0600 file that readPrivateKey loads', () => {
    const path = join(tmp.dir, 'keys', 'deep', 'k.pem');
    const text = pem();
    writePrivateKeyPem(path, text);
    expect(fileMode(path)).toBe(0o600);
    expect(readPrivateKey(path).export({ type: 'pkcs8', format: 'pem' })).toBe(text);
  });

  it('error: readPrivateKey refuses a 0644 key file with key_permissions', () => {
    const path = join(tmp.dir, 'keys', 'open.pem');
    writePrivateKeyPem(path, pem());
    chmodSync(path, 0o644);
    const err = (() => {
      try {
        readPrivateKey(path);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KeyFileError);
    expect(err).toMatchObject({ code: 'key_permissions' });
    chmodSync(path, 0o640);
    expect(() => readPrivateKey(path)).toThrow(expect.objectContaining({ code: 'key_permissions' }));
  });

  it('error: writePrivateKeyPem refuses to overwrite unless asked, and an overwrite is 0600 again', () => {
    const path = join(tmp.dir, 'keys', 'once.pem');
    const first = pem();
    writePrivateKeyPem(path, first);
    expect(() => writePrivateKeyPem(path, pem())).toThrow(expect.objectContaining({ code: 'key_exists' }));
    expect(readFileSync(path, 'utf8')).toBe(first);
    chmodSync(path, 0o644);
    const second = pem();
    writePrivateKeyPem(path, second, { overwrite: true });
    expect(readFileSync(path, 'utf8')).toBe(second);
    expect(fileMode(path)).toBe(0o600);
  });

  it('error: non-key input is a TypeError, and a non-key file is key_invalid', () => {
    expect(() => writePrivateKeyPem(join(tmp.dir, 'keys', 'x.pem'), 'not a key')).toThrow(TypeError);
    expect(() => writePrivateKeyPem(join(tmp.dir, 'keys', 'y.pem'), rootCertPem)).toThrow(TypeError);
    const path = join(tmp.dir, 'keys', 'junk.pem');
    writeFileSync(path, 'junk', { mode: 0o600 });
    expect(() => readPrivateKey(path)).toThrow(expect.objectContaining({ code: 'key_invalid' }));
  });
});

describe('verifyCertificateChain refusals', () => {
  const now = () => Date.now();
  const leafOf = async (issuer: { privateKey: KeyObject; certPem?: string }, cn: string, extra = {}) => {
    const { publicKey, privateKey } = p256();
    const { certPem } = await issueCertificate({
      subject: { commonName: cn },
      subjectPublicKey: issuer.certPem === undefined ? createPublicKey(issuer.privateKey) : publicKey,
      issuer,
      notBefore: new Date(now() - DAY),
      notAfter: new Date(now() + DAY),
      ...extra,
    });
    return { certPem, privateKey };
  };

  it('error: a leaf without the clientAuth extended key usage is untrusted_certificate (issue 13)', async () => {
    const issuer = { privateKey: readPrivateKey(kgcPaths(kgcDir).issuingKey), certPem: issuingCertPem };
    for (const extKeyUsage of [[], ['serverAuth']] as const) {
      const { certPem } = await leafOf(issuer, 'wr-no-client-auth', { extKeyUsage });
      expect(verifyCertificateChain(certPem, rootCertPem, [issuingCertPem], now())).toEqual({
        ok: false,
        code: 'untrusted_certificate',
        reason: 'certificate is not for client authentication (no clientAuth extended key usage)',
      });
    }
    const { certPem } = await leafOf(issuer, 'wr-client-auth'); // the default: clientAuth
    expect(verifyCertificateChain(certPem, rootCertPem, [issuingCertPem], now()).ok).toBe(true);
  });

  it('error: a certificate whose notAfter has passed is expired_certificate (and ok inside its window)', async () => {
    const notBefore = new Date(now() - 10 * DAY);
    const notAfter = new Date(now() - DAY);
    const e = await enrollDevice(kgcDir, 'old-dev', join(tmp.dir, 'dev-old'), { notBefore, notAfter });
    expect(verifyCertificateChain(e.certPem, rootCertPem, [issuingCertPem], now())).toEqual({
      ok: false,
      code: 'expired_certificate',
      reason: 'certificate has expired',
    });
    // Five days ago the leaf was valid but the root (made 5 minutes ago) was not yet.
    expect(verifyCertificateChain(e.certPem, rootCertPem, [issuingCertPem], now() - 5 * DAY)).toEqual({
      ok: false,
      code: 'expired_certificate',
      reason: 'an issuing certificate is not yet valid',
    });
  });

  it('behavior: the validity window is inclusive at both ends, to the second (RFC 5280 §4.1.2.5)', async () => {
    const start = Math.floor(now() / 1000) * 1000 - 120_000; // inside the root's lifetime
    const end = start + 60_000;
    const e = await enrollDevice(kgcDir, 'window-dev', join(tmp.dir, 'dev-window'), {
      notBefore: new Date(start),
      notAfter: new Date(end),
    });
    const at = (t: number) => verifyCertificateChain(e.certPem, rootCertPem, [issuingCertPem], t);
    expect(at(start)).toMatchObject({ ok: true, notBefore: start, notAfter: end });
    expect(at(end)).toMatchObject({ ok: true });
    expect(at(start - 1)).toMatchObject({
      code: 'expired_certificate',
      reason: 'certificate is not yet valid',
    });
    expect(at(end + 1)).toMatchObject({ code: 'expired_certificate', reason: 'certificate has expired' });
  });

  it('error: a certificate not yet valid is expired_certificate', async () => {
    const notBefore = new Date(now() + DAY);
    const e = await enrollDevice(kgcDir, 'future-dev', join(tmp.dir, 'dev-future'), { notBefore });
    expect(verifyCertificateChain(e.certPem, rootCertPem, [issuingCertPem], now())).toEqual({
      ok: false,
      code: 'expired_certificate',
      reason: 'certificate is not yet valid',
    });
  });

  it('error: a self-signed leaf with a device CN is untrusted_certificate', async () => {
    const { privateKey } = p256();
    const { certPem } = await leafOf({ privateKey }, 'ward3-bed12');
    const self = new X509Certificate(certPem);
    expect(self.verify(self.publicKey)).toBe(true);
    expect(verifyCertificateChain(certPem, rootCertPem, [], now())).toMatchObject({
      ok: false,
      code: 'untrusted_certificate',
    });
  });

  it("error: a fake CA with the root's exact subject DN cannot issue trusted certificates", async () => {
    const fake = p256();
    const root = new X509Certificate(rootCertPem);
    const { certPem: fakeCaPem } = await issueCertificate({
      subject: { commonName: DEFAULT_ROOT_COMMON_NAME, organization: DEFAULT_ROOT_ORGANIZATION },
      subjectPublicKey: fake.publicKey,
      issuer: { privateKey: fake.privateKey },
      notBefore: new Date(now() - DAY),
      notAfter: new Date(now() + DAY),
      isCa: true,
    });
    const fakeCa = new X509Certificate(fakeCaPem);
    expect(fakeCa.subject).toBe(root.subject);
    expect(fakeCa.issuer).toBe(root.issuer);
    const { certPem } = await leafOf({ privateKey: fake.privateKey, certPem: fakeCaPem }, 'ward3-bed12');
    expect(new X509Certificate(certPem).issuer).toBe(root.subject);

    for (const intermediates of [[], [fakeCaPem], [fakeCaPem, fakeCaPem]]) {
      expect(verifyCertificateChain(certPem, rootCertPem, intermediates, now())).toEqual({
        ok: false,
        code: 'untrusted_certificate',
        reason: 'certificate does not chain to the KGC root',
      });
    }
    // The same leaf is well-formed: it passes against the CA that really issued it.
    expect(verifyCertificateChain(certPem, fakeCaPem, [], now())).toMatchObject({
      ok: true,
      cn: 'ward3-bed12',
    });
  });

  it('behavior: root -> intermediate CA -> leaf verifies with the intermediate and fails without it', async () => {
    const inter = p256();
    const { certPem: interPem } = await issueCertificate({
      subject: { commonName: 'VitalTrail Ward Intermediate', organization: DEFAULT_ROOT_ORGANIZATION },
      subjectPublicKey: inter.publicKey,
      issuer: { privateKey: rootKey, certPem: rootCertPem },
      notBefore: new Date(now() - DAY),
      notAfter: new Date(now() + 2 * DAY),
      isCa: true,
      pathLength: 0,
    });
    const { certPem, privateKey } = await leafOf(
      { privateKey: inter.privateKey, certPem: interPem },
      'icu-7',
    );
    const r = verifyCertificateChain(certPem, rootCertPem, [interPem], now());
    expect(r).toMatchObject({ ok: true, cn: 'icu-7', spkiSha256: spkiSha256(certPem) });
    if (!r.ok) throw new Error(r.reason);
    expect(verifyFrameSignature(decodeFrame(signFrame(body('icu-7'), privateKey)), r.publicKey)).toBe(true);
    // A redundant copy of the root among the intermediates changes nothing.
    expect(verifyCertificateChain(certPem, rootCertPem, [rootCertPem, interPem], now())).toMatchObject({
      ok: true,
    });

    expect(verifyCertificateChain(certPem, rootCertPem, [], now())).toMatchObject({
      ok: false,
      code: 'untrusted_certificate',
    });
  });

  it('error: an expired intermediate makes the chain expired_certificate', async () => {
    const inter = p256();
    const { certPem: interPem } = await issueCertificate({
      subject: { commonName: 'Short Intermediate' },
      subjectPublicKey: inter.publicKey,
      issuer: { privateKey: rootKey, certPem: rootCertPem },
      notBefore: new Date(now() - 3 * DAY),
      notAfter: new Date(now() - 2 * DAY),
      isCa: true,
    });
    const { certPem } = await leafOf({ privateKey: inter.privateKey, certPem: interPem }, 'icu-8');
    expect(verifyCertificateChain(certPem, rootCertPem, [interPem], now())).toEqual({
      ok: false,
      code: 'expired_certificate',
      reason: 'an issuing certificate has expired',
    });
  });

  it('error: a non-CA certificate cannot act as an intermediate', async () => {
    const device = await enrollDevice(kgcDir, 'not-a-ca', join(tmp.dir, 'dev-notca'));
    const { certPem } = await leafOf(
      { privateKey: readPrivateKey(device.keyPath), certPem: device.certPem },
      'child-of-leaf',
    );
    expect(new X509Certificate(certPem).verify(new X509Certificate(device.certPem).publicKey)).toBe(true);
    expect(verifyCertificateChain(certPem, rootCertPem, [device.certPem], now())).toMatchObject({
      ok: false,
      code: 'untrusted_certificate',
    });
  });

  it('error: a CA certificate (the root itself, or an intermediate) is refused as a leaf', async () => {
    expect(verifyCertificateChain(rootCertPem, rootCertPem, [], now())).toMatchObject({
      code: 'untrusted_certificate',
      reason: 'leaf certificate is a CA certificate',
    });
  });

  it('error: a tampered certificate is untrusted_certificate', async () => {
    const e = await enrollDevice(kgcDir, 'tamper', join(tmp.dir, 'dev-tamper'));
    const der = Buffer.from(new X509Certificate(e.certPem).raw);
    const last = der.length - 1;
    der[last] = (der[last] ?? 0) ^ 0x01; // inside the signature value
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(verifyCertificateChain(pem, rootCertPem, [], now())).toMatchObject({
      ok: false,
      code: 'untrusted_certificate',
    });
  });

  it('error: garbage PEM is untrusted_certificate "certificate does not parse" and never throws', () => {
    const garbage: unknown[] = [
      '',
      'garbage',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      '-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n',
      p256().privateKey.export({ type: 'pkcs8', format: 'pem' }),
      rootCertPem + rootCertPem, // a bundle is not one certificate
      undefined,
      null,
      42,
      Buffer.from('x'),
    ];
    for (const g of garbage) {
      expect(verifyCertificateChain(g as string, rootCertPem, [], now())).toEqual({
        ok: false,
        code: 'untrusted_certificate',
        reason: 'certificate does not parse',
      });
    }
    expect(verifyCertificateChain(rootCertPem, 'junk', [], now())).toMatchObject({
      code: 'untrusted_certificate',
    });
    expect(verifyCertificateChain(rootCertPem, rootCertPem, ['junk'], now())).toMatchObject({
      code: 'untrusted_certificate',
    });
    expect(() => spkiSha256('garbage')).toThrow(CertificateError);
  });

  it('error: misuse (bad atMs, non-array intermediates) throws TypeError/RangeError', () => {
    expect(() => verifyCertificateChain(rootCertPem, rootCertPem, [], Number.NaN)).toThrow(RangeError);
    expect(() => verifyCertificateChain(rootCertPem, rootCertPem, 'x' as unknown as string[], 0)).toThrow(
      TypeError,
    );
  });
});

describe('issueCertificate misuse', () => {
  it('error: non-P-256 keys, empty windows and bad names are refused', async () => {
    const { publicKey, privateKey } = p256();
    const base = {
      subject: { commonName: 'x' },
      subjectPublicKey: publicKey,
      issuer: { privateKey: rootKey, certPem: rootCertPem },
      notBefore: new Date(),
      notAfter: new Date(Date.now() + DAY),
    };
    const ed = generateKeyPairSync('ed25519');
    await expect(issueCertificate({ ...base, subjectPublicKey: ed.publicKey })).rejects.toThrow(TypeError);
    await expect(issueCertificate({ ...base, notAfter: base.notBefore })).rejects.toThrow(RangeError);
    await expect(issueCertificate({ ...base, subject: { commonName: '' } })).rejects.toThrow(RangeError);
    await expect(issueCertificate({ ...base, issuer: { privateKey, certPem: rootCertPem } })).rejects.toThrow(
      /does not match/,
    );
    await expect(issueCertificate({ ...base, issuer: { privateKey: rootKey } })).rejects.toThrow(
      /self-signed/,
    );
  });
});

function spkiOfPrivate(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
}
