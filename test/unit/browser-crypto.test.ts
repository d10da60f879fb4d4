/**
 * @module test/unit/browser-crypto
 * The auditor page's `node:crypto` stand-in (anchor/src/verify/browser-crypto.ts; issue 6
 * "an auditor page"): ES256 verdicts recorded ahead (by WebCrypto in the page) answer a
 * `verify` call only for exactly the same (SPKI DER, signed bytes, signature bytes); any
 * other call is computed by @noble, which agrees with node:crypto (OpenSSL) on low-S,
 * high-S and broken signatures. To show which path answered, the tests record verdicts
 * that are deliberately wrong.
 */
import {
  generateKeyPairSync,
  type KeyObject as NodeKeyObject,
  X509Certificate as NodeX509Certificate,
  verify as nodeVerify,
  sign,
} from 'node:crypto';
import forge from 'node-forge';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clearPrecheckedEs256,
  KeyObject,
  recordPrecheckedEs256,
  takeSignatureCounts,
  verify,
  X509Certificate,
} from '../../anchor/src/verify/browser-crypto.js';

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  return { privateKey, publicKey, spki, shim: new KeyObject(spki) };
}

function es256(privateKey: NodeKeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
}

const p1363 = (key: KeyObject) => ({ key, dsaEncoding: 'ieee-p1363' as const });

describe('browser-crypto verify with recorded ES256 verdicts', () => {
  afterEach(() => {
    clearPrecheckedEs256();
    takeSignatureCounts();
  });

  it('behavior: a recorded verdict answers exactly its (SPKI, data, signature), @noble every other', () => {
    const a = keyPair();
    const b = keyPair();
    const data = new TextEncoder().encode('Sig_structure bytes of a frame');
    const sig = es256(a.privateKey, data);
    takeSignatureCounts();
    // Deliberately wrong, to see which path answers.
    recordPrecheckedEs256(a.spki, data, sig, false);
    expect(verify('sha256', data, p1363(a.shim), sig)).toBe(false);
    expect(takeSignatureCounts()).toMatchObject({ es256Prechecked: 1, es256Noble: 0 });

    // Each case below has recorded neighbours (one field differs) with the opposite of
    // @noble's answer: a looser key would show.
    const otherData = Uint8Array.from(data);
    otherData[0]! ^= 1;
    const otherSig = Uint8Array.from(sig);
    otherSig[63]! ^= 1;
    const sigB = es256(b.privateKey, data);
    // The same concatenation of signature and data, split one byte later.
    const shifted = { sig: Uint8Array.from([...sig, data[0]!]), data: data.subarray(1) };
    recordPrecheckedEs256(a.spki, otherData, otherSig, true);
    recordPrecheckedEs256(a.spki, data, sigB, false);
    recordPrecheckedEs256(a.spki, shifted.data, sig, true);
    // Its bytes concatenated as the shifted case's are: that case must not read it.
    recordPrecheckedEs256(a.spki, data, sig, true);
    takeSignatureCounts();
    const cases: [KeyObject, Uint8Array, Uint8Array, boolean][] = [
      [a.shim, otherData, sig, false],
      [a.shim, data, otherSig, false],
      [b.shim, data, sigB, true],
      [a.shim, shifted.data, shifted.sig, false],
    ];
    for (const [i, [key, d, s, expected]] of cases.entries()) {
      expect(verify('sha256', d, p1363(key), s), `case ${i}`).toBe(expected);
    }
    expect(takeSignatureCounts()).toMatchObject({ es256Prechecked: 0, es256Noble: cases.length });
    // The DER form (certificates) never reads the table.
    recordPrecheckedEs256(a.spki, data, sig, true);
    expect(verify('sha256', data, a.shim, sig)).toBe(false);
    expect(takeSignatureCounts()).toMatchObject({ es256Prechecked: 0, es256Noble: 1 });
  });

  it('behavior: without recorded verdicts @noble agrees with OpenSSL on low-S, high-S and broken signatures', () => {
    const a = keyPair();
    for (let i = 0; i < 16; i++) {
      const data = new TextEncoder().encode(`frame ${i}`);
      const sig = es256(a.privateKey, data);
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`);
      const twin = Uint8Array.from([
        ...sig.subarray(0, 32),
        ...Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex'),
      ]);
      const broken = Uint8Array.from(sig);
      broken[7]! ^= 0x10;
      for (const candidate of [sig, twin, broken]) {
        const openssl = nodeVerify(
          'sha256',
          data,
          { key: a.publicKey, dsaEncoding: 'ieee-p1363' },
          candidate,
        );
        expect(verify('sha256', data, p1363(a.shim), candidate)).toBe(openssl);
      }
    }
    expect(takeSignatureCounts()).toMatchObject({ es256Prechecked: 0, es256Noble: 48 });
  });

  it('error: after clearPrecheckedEs256 nothing recorded answers any more', () => {
    const a = keyPair();
    const data = new TextEncoder().encode('x');
    const sig = es256(a.privateKey, data);
    recordPrecheckedEs256(a.spki, data, sig, false);
    clearPrecheckedEs256();
    expect(verify('sha256', data, p1363(a.shim), sig)).toBe(true);
  });
});

describe('browser-crypto X509Certificate', () => {
  /** A self-signed certificate with this serial (hex, as DER's INTEGER content). */
  function certWithSerial(serialHex: string): string {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = serialHex;
    cert.validity.notBefore = new Date('2026-01-01T00:00:00Z');
    cert.validity.notAfter = new Date('2027-01-01T00:00:00Z');
    cert.setSubject([{ name: 'commonName', value: 'serial-test' }]);
    cert.setIssuer([{ name: 'commonName', value: 'serial-test' }]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
  }

  it('behavior: serialNumber is node:crypto’s, with and without a leading sign byte, short and long', () => {
    for (const serial of ['01', '0a', '00ff01', '7f' + '11'.repeat(19), '00' + '9c'.repeat(16), '1234']) {
      const pem = certWithSerial(serial);
      expect(new X509Certificate(pem).serialNumber).toBe(new NodeX509Certificate(pem).serialNumber);
    }
  });
});
