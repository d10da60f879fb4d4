/**
 * @module test/unit/kgc-ca
 * The KGC as a two-level CA (issue 3): issuing CA, device certificates under it, migration
 * of a root-only KGC, revocation with signed CRLs, gateway TLS certificates carrying the
 * on-chain account, and PKCS#12 bundles (made with node-forge; read back by openssl in
 * `kgc-pkcs12.test.ts`).
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CRL_VALIDITY_DAYS,
  enrollDevice,
  exportPkcs12,
  gatewayAccountOf,
  initKgc,
  issueCertificate,
  issueGatewayCertificate,
  kgcPaths,
  listIssued,
  readKgcTrust,
  readPrivateKey,
  readRevokedSerials,
  refreshCrls,
  revokeDevice,
  verifyCertificateChain,
} from '../../anchor/src/kgc/index.js';
import { makeTempDir } from '../helpers/tmp.js';

const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';
const ACCOUNT = `0x${'Ab'.repeat(20)}`;
let tmp: ReturnType<typeof makeTempDir>;
let kgcDir: string;

beforeAll(async () => {
  tmp = makeTempDir('vt-kgc-ca-');
  kgcDir = join(tmp.dir, 'kgc');
  await initKgc(kgcDir);
});
afterAll(() => tmp.cleanup());

const mode = (p: string) => statSync(p).mode & 0o777;

describe('issuing CA', () => {
  it('behavior: initKgc makes root → issuing CA; devices are issued by the issuing CA and chain to the root', async () => {
    const paths = kgcPaths(kgcDir);
    expect(mode(paths.issuingKey)).toBe(0o600);
    const { rootPem, intermediatesPem } = readKgcTrust(kgcDir);
    const issuing = new X509Certificate(intermediatesPem[0] as string);
    expect(issuing.ca).toBe(true);
    expect(issuing.checkIssued(new X509Certificate(rootPem))).toBe(true);
    const e = await enrollDevice(kgcDir, 'ca-dev', join(tmp.dir, 'dev-ca'));
    const cert = new X509Certificate(e.certPem);
    expect(cert.issuer).toBe(issuing.subject);
    expect(readFileSync(e.issuingCertPath, 'utf8')).toBe(intermediatesPem[0]);
    expect(verifyCertificateChain(e.certPem, rootPem, intermediatesPem, Date.now())).toMatchObject({
      ok: true,
      cn: 'ca-dev',
      serial: cert.serialNumber.toLowerCase(),
    });
    // Without the intermediate the leaf does not reach the root.
    expect(verifyCertificateChain(e.certPem, rootPem, [], Date.now())).toMatchObject({
      ok: false,
      code: 'untrusted_certificate',
    });
  });

  it('behavior: a root-only KGC (earlier release) keeps its root-signed devices and gains an issuing CA', async () => {
    const dir = join(tmp.dir, 'kgc-legacy');
    await initKgc(dir);
    const paths = kgcPaths(dir);
    // The skeleton's layout: a root and device certificates the root signed directly.
    rmSync(paths.issuingKey);
    rmSync(paths.issuingCert);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rootPem = readFileSync(paths.rootCert, 'utf8');
    const legacy = await issueCertificate({
      subject: { commonName: 'old-dev' },
      subjectPublicKey: publicKey,
      issuer: { privateKey: readPrivateKey(paths.rootKey), certPem: rootPem },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    const again = await initKgc(dir);
    expect(again.created).toBe(false);
    expect(existsSync(paths.issuingCert)).toBe(true);
    const trust = readKgcTrust(dir);
    expect(trust.intermediatesPem).toHaveLength(1);
    // The root-signed certificate still verifies with the new trust material.
    expect(
      verifyCertificateChain(legacy.certPem, trust.rootPem, trust.intermediatesPem, Date.now()),
    ).toMatchObject({
      ok: true,
      cn: 'old-dev',
    });
  });
});

describe('revocation', () => {
  it('behavior: revokeDevice lists the serial in a CRL signed by the issuing CA; listIssued shows it revoked', async () => {
    const e = await enrollDevice(kgcDir, 'lost-1', join(tmp.dir, 'dev-lost'));
    const keep = await enrollDevice(kgcDir, 'kept-1', join(tmp.dir, 'dev-kept'));
    const r = await revokeDevice(kgcDir, 'lost-1');
    expect(r).toMatchObject({ serial: e.serial, alreadyRevoked: false });
    const serials = await readRevokedSerials(kgcDir);
    expect(serials.has(e.serial)).toBe(true);
    expect(serials.has(keep.serial)).toBe(false);
    const listed = listIssued(kgcDir);
    expect(listed.find((x) => x.devId === 'lost-1')).toMatchObject({ status: 'revoked' });
    expect(listed.find((x) => x.devId === 'kept-1')).toMatchObject({ status: 'active' });
    expect((await revokeDevice(kgcDir, 'lost-1')).alreadyRevoked).toBe(true);
  });

  it('error: a CRL not signed by the KGC is kgc_corrupt; an unknown device cannot be revoked', async () => {
    const other = join(tmp.dir, 'kgc-other');
    await initKgc(other);
    await enrollDevice(other, 'x-1', join(tmp.dir, 'dev-x'));
    await revokeDevice(other, 'x-1');
    const dir = join(tmp.dir, 'kgc-forged-crl');
    await initKgc(dir);
    mkdirSync(kgcPaths(dir).crlDir);
    writeFileSync(kgcPaths(dir).crl, readFileSync(kgcPaths(other).crl));
    await expect(readRevokedSerials(dir)).rejects.toMatchObject({ code: 'kgc_corrupt' });
    await expect(revokeDevice(dir, 'never-issued')).rejects.toMatchObject({ code: 'kgc_unknown_device' });
  });
});

describe('the public CRL directory', () => {
  it('behavior: refreshCrls signs the issuing CA CRL with nothing revoked into crl/ (0755, crl.pem 0644, no key), current 7 days', async () => {
    const dir = join(tmp.dir, 'kgc-crl-dir');
    await initKgc(dir);
    const paths = kgcPaths(dir);
    expect(existsSync(paths.crl)).toBe(false);
    const before = Date.now();
    const r = await refreshCrls(dir);
    expect(r.crlPath).toBe(paths.crl);
    expect(readdirSync(paths.crlDir)).toEqual(['crl.pem']);
    expect(mode(paths.crlDir)).toBe(0o755);
    expect(mode(paths.crl)).toBe(0o644);
    // One CRL, the issuing CA's, listing nothing; its next update CRL_VALIDITY_DAYS away.
    const blocks = readFileSync(paths.crl, 'utf8').match(/-----BEGIN X509 CRL-----/g) ?? [];
    expect(blocks).toHaveLength(1);
    expect(r.nextUpdate.getTime() - before).toBeGreaterThan((CRL_VALIDITY_DAYS * 86_400 - 60) * 1000);
    expect(r.nextUpdate.getTime() - before).toBeLessThan((CRL_VALIDITY_DAYS * 86_400 + 60) * 1000);
    expect((await readRevokedSerials(dir)).size).toBe(0);
  });

  it('behavior: a crl.pem an earlier release wrote beside the keys is still read, and removed at the next signing', async () => {
    const dir = join(tmp.dir, 'kgc-crl-legacy');
    await initKgc(dir);
    const paths = kgcPaths(dir);
    const e = await enrollDevice(dir, 'old-lost', join(tmp.dir, 'dev-old-lost'));
    await revokeDevice(dir, 'old-lost');
    // The earlier layout: the CRL file beside the keys, no crl/ directory.
    renameSync(paths.crl, paths.legacyCrl);
    rmSync(paths.crlDir, { recursive: true });
    expect((await readRevokedSerials(dir)).has(e.serial)).toBe(true);
    await refreshCrls(dir);
    expect(existsSync(paths.legacyCrl)).toBe(false);
    expect((await readRevokedSerials(dir)).has(e.serial)).toBe(true);
  });
});

describe('gateway certificates', () => {
  it('behavior: serverAuth, SAN localhost/127.0.0.1/names and ethereum:<account>; key 0600; rotation replaces the key', async () => {
    const out = join(tmp.dir, 'gw-tls');
    const g = await issueGatewayCertificate(kgcDir, out, { names: ['gw1.ward3.example'], account: ACCOUNT });
    const cert = new X509Certificate(g.certPem);
    expect(cert.keyUsage).toEqual([SERVER_AUTH_OID]);
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.subjectAltName).toContain('DNS:gw1.ward3.example');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(gatewayAccountOf(readFileSync(g.certPath, 'utf8'))).toBe(ACCOUNT.toLowerCase());
    expect(mode(g.keyPath)).toBe(0o600);
    const { rootPem, intermediatesPem } = readKgcTrust(kgcDir);
    // Issued by the KGC's issuing CA, which chains to the root; yet no device certificate
    // (no clientAuth), so the device chain check refuses it (issue 13).
    const issuing = new X509Certificate(intermediatesPem[0] as string);
    expect(cert.checkIssued(issuing) && cert.verify(issuing.publicKey)).toBe(true);
    expect(verifyCertificateChain(g.certPem, rootPem, intermediatesPem, Date.now())).toMatchObject({
      ok: false,
      code: 'untrusted_certificate',
      reason: 'certificate is not for client authentication (no clientAuth extended key usage)',
    });
    const firstKey = readFileSync(g.keyPath, 'utf8');
    const rotated = await issueGatewayCertificate(kgcDir, out, {
      names: ['gw1.ward3.example'],
      keyType: 'rsa3072',
    });
    expect(readFileSync(rotated.keyPath, 'utf8')).not.toBe(firstKey);
    expect(new X509Certificate(rotated.certPem).publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(gatewayAccountOf(rotated.certPem)).toBeUndefined();
  });

  it('error: bad names and accounts are RangeErrors', async () => {
    const out = join(tmp.dir, 'gw-bad');
    await expect(issueGatewayCertificate(kgcDir, out, { names: [] })).rejects.toThrow(RangeError);
    await expect(issueGatewayCertificate(kgcDir, out, { names: ['bad name'] })).rejects.toThrow(RangeError);
    await expect(
      issueGatewayCertificate(kgcDir, out, { names: ['a.example'], account: '0x12' }),
    ).rejects.toThrow(RangeError);
  });
});

describe('PKCS#12', () => {
  it('behavior: export-p12 writes a 0600 bundle that opens with the passphrase only', async () => {
    const devDir = join(tmp.dir, 'dev-p12');
    await enrollDevice(kgcDir, 'p12-dev', devDir);
    const out = join(tmp.dir, 'p12-dev.p12');
    exportPkcs12(devDir, 'p12-dev', 'correct horse battery', out);
    expect(mode(out)).toBe(0o600);
    const pfx = readFileSync(out);
    expect(() => createSecureContext({ pfx, passphrase: 'correct horse battery' })).not.toThrow();
    expect(() => createSecureContext({ pfx, passphrase: 'wrong passphrase' })).toThrow();
    expect(() => exportPkcs12(devDir, 'p12-dev', 'short', out)).toThrow(RangeError);
  });
});
