/**
 * @module test/unit/kgc-csr
 * Enrolment from a PKCS#10 request (issue 17; RFC 2986): a key made outside the KGC
 * (node:crypto), its request made by OpenSSL, certified exactly like a KGC-made key (same
 * subject, extensions, validity, issued record), with no private key written; requests that
 * do not parse, are signed by another key, name no device id or another one, or carry a key
 * that is not P-256, refused with their codes.
 *
 * Shell reproduction of the golden request:
 *   openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt > key.pem
 *   openssl req -new -key key.pem -subj /CN=wr-csr-0001 -out req.pem
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CsrError,
  checkCsr,
  enrollDevice,
  enrollDeviceFromCsr,
  initKgc,
  loadX509,
  MAX_CSR_BYTES,
  readKgcTrust,
  verifyCertificateChain,
} from '../../anchor/src/kgc/index.js';
import { makeTempDir } from '../helpers/tmp.js';

const tmp = makeTempDir('vt-kgc-csr-');
const kgcDir = join(tmp.dir, 'kgc');

/** A PKCS#10 request made by OpenSSL for `key` with subject `subj` (e.g. `/CN=wr-1`). */
function opensslCsr(key: KeyObject, subj: string, name: string): string {
  const keyPath = join(tmp.dir, `${name}.key.pem`);
  writeFileSync(keyPath, key.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  return execFileSync('openssl', ['req', '-new', '-key', keyPath, '-subj', subj], { encoding: 'utf8' });
}

/** A request made with @peculiar/x509 over WebCrypto (for keys and names OpenSSL would not mix). */
async function x509Csr(name: string, algorithm: EcKeyGenParams | RsaHashedKeyGenParams): Promise<string> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const signingAlgorithm =
    algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name, keys, signingAlgorithm });
  return csr.toString('pem');
}

function derOf(pem: string): Buffer<ArrayBuffer> {
  const b = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return Buffer.from(new Uint8Array(b)); // a copy on its own ArrayBuffer
}

function pemOf(der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64.trim()}\n-----END CERTIFICATE REQUEST-----\n`;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CsrError);
    return (err as CsrError).code;
  }
  throw new Error('expected a CsrError');
}

beforeAll(async () => {
  await initKgc(kgcDir);
});
afterAll(() => tmp.cleanup());

describe('enrolment from a PKCS#10 request', () => {
  test('behavior: a key made outside the KGC is certified like a KGC-made one, and no private key is written', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = opensslCsr(privateKey, '/CN=wr-csr-0001', 'golden');
    const spki = publicKey.export({ type: 'spki', format: 'der' });

    const checked = await checkCsr(csr);
    expect(checked.devId).toBe('wr-csr-0001');
    expect(checked.spkiSha256).toBe(`0x${createHash('sha256').update(spki).digest('hex')}`);
    expect(await checkCsr(derOf(csr))).toMatchObject({ devId: 'wr-csr-0001' }); // DER too

    const before = readdirSync(kgcDir, { recursive: true, encoding: 'utf8' });
    const e = await enrollDeviceFromCsr(kgcDir, csr);
    expect(e.devId).toBe('wr-csr-0001');
    expect(e.spkiSha256).toBe(checked.spkiSha256);
    const cert = new X509Certificate(e.certPem);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spki)).toBe(true);
    const trust = readKgcTrust(kgcDir);
    const chain = verifyCertificateChain(e.certPem, trust.rootPem, trust.intermediatesPem, Date.now());
    expect(chain).toMatchObject({ ok: true, cn: 'wr-csr-0001', spkiSha256: e.spkiSha256 });

    // The same profile as a KGC-made key's certificate: subject, extensions, lifetime.
    const made = await enrollDevice(kgcDir, 'wr-made-0001', join(tmp.dir, 'made'));
    const twin = new X509Certificate(made.certPem);
    expect(cert.subject).toBe('CN=wr-csr-0001');
    expect(cert.issuer).toBe(twin.issuer);
    expect(cert.keyUsage).toEqual(twin.keyUsage);
    expect(cert.ca).toBe(false);
    const lifetime = (c: X509Certificate) => Date.parse(c.validTo) - Date.parse(c.validFrom);
    expect(Math.abs(lifetime(cert) - lifetime(twin))).toBeLessThan(10_000);
    const x509 = await loadX509();
    const oids = (pem: string) =>
      new x509.X509Certificate(pem).extensions.map((x) => `${x.type}:${x.critical}`).sort();
    expect(oids(e.certPem)).toEqual(oids(made.certPem));

    // Recorded as issued (gateways following the KGC import it); no new private key anywhere.
    expect(readFileSync(join(kgcDir, 'issued', 'wr-csr-0001.cert.pem'), 'utf8')).toBe(e.certPem);
    const added = readdirSync(kgcDir, { recursive: true, encoding: 'utf8' }).filter(
      (f) => !before.includes(f),
    );
    expect(added.filter((f) => /key/.test(f))).toEqual([]);
    expect(existsSync(join(tmp.dir, 'wr-csr-0001'))).toBe(false);
  });

  test('error: a request whose signature does not verify is csr_bad_signature', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const der = derOf(opensslCsr(key, '/CN=wr-csr-0002', 'forged'));
    const flipped = Buffer.from(der);
    flipped[flipped.length - 2] = (flipped[flipped.length - 2] ?? 0) ^ 0x01; // inside the signature's s
    expect(await refusal(checkCsr(pemOf(flipped)))).toBe('csr_bad_signature');

    // A request signed by another key than the one it names (a stolen public key).
    const x509 = await loadX509();
    const other = await x509Csr('CN=wr-csr-0002', { name: 'ECDSA', namedCurve: 'P-256' });
    const victim = new x509.Pkcs10CertificateRequest(derOf(opensslCsr(key, '/CN=wr-csr-0002', 'victim')));
    const thief = new x509.Pkcs10CertificateRequest(derOf(other));
    const swapped = Buffer.from(derOf(other));
    const theirs = Buffer.from(thief.publicKey.rawData);
    const mine = Buffer.from(victim.publicKey.rawData);
    const at = swapped.indexOf(theirs);
    expect(at).toBeGreaterThan(0);
    mine.copy(swapped, at);
    expect(await refusal(checkCsr(pemOf(swapped)))).toBe('csr_bad_signature');
    expect(existsSync(join(kgcDir, 'issued', 'wr-csr-0002.cert.pem'))).toBe(false);
  });

  test('error: a subject without exactly one device-id commonName, or not the id asked for, is csr_bad_subject', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    for (const [subj, name] of [
      ['/CN=ward 3 bed 12', 'space'],
      ['/CN=..', 'dots'],
      ['/CN=-rf', 'dash'],
      ['/CN=wr\\/0001', 'slash'],
      ['/O=VitalTrail', 'no-cn'],
      ['/CN=wr-a/CN=wr-b', 'two-cn'],
    ] as const) {
      const csr = opensslCsr(key, subj, name);
      expect(await refusal(enrollDeviceFromCsr(kgcDir, csr)), subj).toBe('csr_bad_subject');
    }
    const csr = opensslCsr(key, '/CN=wr-csr-0003', 'asked');
    expect(await refusal(checkCsr(csr, { devId: 'wr-csr-0004' }))).toBe('csr_bad_subject');
    expect((await checkCsr(csr, { devId: 'wr-csr-0003' })).devId).toBe('wr-csr-0003');
  });

  test('error: a key other than EC P-256 is csr_unsupported_key', async () => {
    const p384 = await x509Csr('CN=wr-csr-0005', { name: 'ECDSA', namedCurve: 'P-384' });
    expect(await refusal(checkCsr(p384))).toBe('csr_unsupported_key');
    const rsa = await x509Csr('CN=wr-csr-0005', {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    });
    expect(await refusal(checkCsr(rsa))).toBe('csr_unsupported_key');
  });

  test('error: input that is not one PKCS#10 request is csr_malformed, never a SyntaxError', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const good = opensslCsr(key, '/CN=wr-csr-0006', 'malformed');
    const made = await enrollDevice(kgcDir, 'wr-made-0002', join(tmp.dir, 'made2'));
    for (const [what, input] of [
      ['empty', ''],
      ['text', 'hello'],
      ['a certificate', made.certPem],
      ['two requests', good + good],
      ['truncated DER', derOf(good).subarray(0, 40)],
      ['trailing bytes', Buffer.concat([derOf(good), Buffer.from([0])])],
      ['random DER-looking bytes', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])],
      ['too large', Buffer.alloc(MAX_CSR_BYTES + 1, 0x30)],
    ] as const) {
      expect(await refusal(checkCsr(input)).catch((e: Error) => `${what}: ${e.message}`), what).toBe(
        'csr_malformed',
      );
    }
  });
});
