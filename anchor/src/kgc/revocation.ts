/**
 * @module kgc/revocation
 * Revocation and CRLs (RFC 5280 §5; ARCHITECTURE.md "Identity is the KGC's": revocation
 * reaches the gateway through the CRL or registry events). `revoked.json` holds the
 * records; `crl/crl.pem` the CRLs (the issuing CA's always, the root's while it has revoked
 * certificates), in a public directory of their own that can be shared read-only;
 * `readRevokedSerials` is what a gateway reads (public files only, signatures checked).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { ensureIssuing, type LoadedKgc, openKgc } from './ca.js';
import { ECDSA_SHA256, ecdsaSigningKey } from './certificate.js';
import { isIssuedBy, parseCertificatePem } from './chain.js';
import {
  DAY_MS,
  ISSUED_SUFFIX,
  KgcError,
  type KgcPaths,
  kgcPaths,
  readKgcTrust,
  writeFileAtomic,
} from './layout.js';
import { loadX509 } from './x509.js';

/** A revocation record in `revoked.json`. */
export interface RevocationRecord {
  devId: string;
  serial: string;
  /** Which CA signed the revoked certificate, hence which CRL lists it. */
  issuer: 'root' | 'issuing';
  revokedAt: number;
}

/** The revocation records of `revoked.json` (none when it does not exist). */
export function readRevocations(paths: KgcPaths): RevocationRecord[] {
  if (!existsSync(paths.revoked)) return [];
  const parsed: unknown = JSON.parse(readFileSync(paths.revoked, 'utf8'));
  if (!Array.isArray(parsed)) throw new KgcError('kgc_corrupt', 'revoked.json is not a list');
  return parsed as RevocationRecord[];
}

/** How long a CRL is current (nextUpdate); it is re-signed at every revocation. */
export const CRL_VALIDITY_DAYS = 7;

/**
 * Revokes the current certificate of `devId`: records it in `revoked.json` and re-signs
 * the CRLs in `crl.pem`. Idempotent: revoking a revoked certificate changes nothing.
 * The gateway's store, the chain registry and open sessions are the caller's
 * (`gateway/src/io/identity/enrol.ts` `revokeEnrolledDevice`).
 * @throws {KgcError} `kgc_not_initialized`; `kgc_unknown_device` when the KGC never issued
 *   a certificate to `devId`.
 * @example
 * const { serial } = await revokeDevice(kgcDir, 'ward3-bed12');
 */
export async function revokeDevice(
  kgcDir: string,
  devId: string,
  opts: { at?: Date } = {},
): Promise<{ serial: string; alreadyRevoked: boolean; crlPem: string }> {
  if (typeof devId !== 'string' || !DEVICE_ID_PATTERN.test(devId)) {
    throw new RangeError('revokeDevice: devId must be 1-64 characters of [A-Za-z0-9._-]');
  }
  const kgc = openKgc(kgcDir);
  const recordPath = join(kgc.paths.devicesDir, `${devId}${ISSUED_SUFFIX}`);
  if (!existsSync(recordPath))
    throw new KgcError('kgc_unknown_device', 'the KGC issued no certificate to this device');
  const cert = parseCertificatePem(readFileSync(recordPath, 'utf8'));
  if (!cert) throw new KgcError('kgc_corrupt', 'an issued-certificate record does not parse');
  const serial = cert.serialNumber.toLowerCase();
  const records = readRevocations(kgc.paths);
  const alreadyRevoked = records.some((r) => r.serial === serial);
  if (!alreadyRevoked) {
    const rootCert = parseCertificatePem(kgc.root.certPem);
    const issuer: RevocationRecord['issuer'] = rootCert && isIssuedBy(cert, rootCert) ? 'root' : 'issuing';
    records.push({ devId, serial, issuer, revokedAt: (opts.at ?? new Date()).getTime() });
    writeFileAtomic(kgc.paths.revoked, `${JSON.stringify(records, null, 2)}\n`);
  }
  const { crlPem } = await writeCrls(kgc, records);
  return { serial, alreadyRevoked, crlPem };
}

/**
 * Signs the CRLs again now, from the revocation records: the issuing CA's even when nothing
 * is revoked. A CRL is current for `CRL_VALIDITY_DAYS`; a TLS terminator that checks CRLs
 * (Mosquitto's `crlfile`) refuses every device of a CA whose CRL is missing or past its
 * nextUpdate, so where one does, run this (`kgc crl`) well within that period.
 * @throws {KgcError} `kgc_not_initialized`, `kgc_corrupt`.
 * @example
 * const { nextUpdate } = await refreshCrls(kgcDir);
 */
export async function refreshCrls(
  kgcDir: string,
): Promise<{ crlPath: string; crlPem: string; nextUpdate: Date }> {
  const kgc = openKgc(kgcDir);
  const { crlPem, nextUpdate } = await writeCrls(kgc, readRevocations(kgc.paths));
  return { crlPath: kgc.paths.crl, crlPem, nextUpdate };
}

/**
 * Signs the CRLs of both CAs from `records` and writes them to `crl/crl.pem` (the directory
 * public: 0755); a CRL file of an earlier release beside the keys is removed after.
 */
async function writeCrls(
  kgc: LoadedKgc,
  records: readonly RevocationRecord[],
): Promise<{ crlPem: string; nextUpdate: Date }> {
  const x509 = await loadX509();
  const issuing = await ensureIssuing(kgc);
  const thisUpdate = new Date();
  const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_DAYS * DAY_MS);
  const pems: string[] = [];
  for (const [which, ca] of [
    ['issuing', issuing],
    ['root', kgc.root],
  ] as const) {
    const entries = records.filter((r) => r.issuer === which);
    if (which === 'root' && entries.length === 0) continue; // the issuing CA's CRL always exists
    const caCert = new x509.X509Certificate(ca.certPem);
    const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
    const crl = await x509.X509CrlGenerator.create({
      issuer: caCert.subjectName,
      thisUpdate,
      nextUpdate,
      signingKey: await ecdsaSigningKey(ca.key),
      signingAlgorithm: ECDSA_SHA256,
      ...(ski ? { extensions: [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] } : {}),
      entries: entries.map((r) => ({
        serialNumber: r.serial,
        revocationDate: new Date(r.revokedAt),
        reason: x509.X509CrlReason.keyCompromise,
      })),
    });
    // RFC 7468 §5 label "X509 CRL" (what OpenSSL writes; x509's own PEM says "CRL").
    const b64 = Buffer.from(crl.rawData).toString('base64').replace(/.{64}/g, '$&\n').trim();
    pems.push(`-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----`);
  }
  const crlPem = `${pems.join('\n')}\n`;
  mkdirSync(kgc.paths.crlDir, { recursive: true });
  // Public whatever the umask: others mount it read-only.
  if ((statSync(kgc.paths.crlDir).mode & 0o777) !== 0o755) chmodSync(kgc.paths.crlDir, 0o755);
  writeFileAtomic(kgc.paths.crl, crlPem);
  rmSync(kgc.paths.legacyCrl, { force: true });
  return { crlPem, nextUpdate };
}

const CRL_PEM_BLOCK = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/g;

/**
 * The serials (lowercase hex) listed in `kgcDir/crl/crl.pem` (and in `kgcDir/crl.pem`, where
 * an earlier release wrote it), after checking every CRL's signature against the KGC root or
 * its issuing CA. What the gateway reads: public files only, every poll (no caching), so a
 * CRL file replaced under it counts from the next read. No CRL file means nothing is revoked.
 * @throws {KgcError} `kgc_corrupt` when a CRL does not parse or is not signed by a KGC CA.
 * @example
 * if ((await readRevokedSerials(kgcDir)).has(peerSerial)) refuse();
 */
export async function readRevokedSerials(kgcDir: string): Promise<Set<string>> {
  const paths = kgcPaths(kgcDir);
  const out = new Set<string>();
  const files = [paths.crl, paths.legacyCrl].filter((f) => existsSync(f));
  if (files.length === 0) return out;
  const x509 = await loadX509();
  const { rootPem, intermediatesPem } = readKgcTrust(kgcDir);
  const cas = [rootPem, ...intermediatesPem].map((pem) => new x509.X509Certificate(pem));
  const blocks = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(CRL_PEM_BLOCK)]);
  for (const block of blocks) {
    let crl: X509.X509Crl;
    try {
      crl = new x509.X509Crl(new Uint8Array(Buffer.from(block[1] ?? '', 'base64')));
    } catch (err) {
      throw new KgcError('kgc_corrupt', 'a CRL does not parse', { cause: err });
    }
    let trusted = false;
    for (const ca of cas) {
      if (ca.subject !== crl.issuer) continue;
      if (await crl.verify({ publicKey: ca.publicKey })) trusted = true;
    }
    if (!trusted) throw new KgcError('kgc_corrupt', 'a CRL is not signed by a KGC certificate authority');
    for (const entry of crl.entries) out.add(entry.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ''));
  }
  return out;
}
