/**
 * @module kgc/layout
 * The KGC directory on local files (ARCHITECTURE.md "KGC: CLI commands on local key
 * files"): where each file lives (`kgcPaths`), the KGC's error codes, the atomic write of
 * its public files, and reading its public trust material (`readKgcTrust`), which needs
 * no private key.
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorClass } from '../../../gateway/src/protocol/errors.js';

export class KgcError extends errorClass<'kgc'>('KgcError') {}
export type KgcErrorCode = KgcError['code'];

export interface KgcPaths {
  rootKey: string;
  rootCert: string;
  issuingKey: string;
  issuingCert: string;
  /** Records of issued device certificates, one `<devId>.cert.pem` each (the current one; public). */
  devicesDir: string;
  /** Records of gateway TLS certificates, one `<name>.cert.pem` each. */
  gatewaysDir: string;
  /** Revocation records (JSON). */
  revoked: string;
  /**
   * The KGC's public CRL directory: `crl.pem` only, no key (0755), so it can be shared alone,
   * read-only (docker-compose.yml mounts it into every gateway and into Mosquitto).
   */
  crlDir: string;
  /** The signed CRLs (PEM, one per CA), in `crlDir`. */
  crl: string;
  /** Where releases before the public CRL directory wrote the CRLs (still read, never written). */
  legacyCrl: string;
}

/** Suffix of the certificate records in `issued/` and `gateways/`. */
export const ISSUED_SUFFIX = '.cert.pem';
export const DAY_MS = 24 * 60 * 60 * 1000;

//
// Layout (all under `kgcDir`):
// - `root.key.pem` (0600), `root.cert.pem`: the offline root, self-signed, pathLen 1
// - `issuing.key.pem` (0600), `issuing.cert.pem`: the issuing CA, signed by the root, pathLen 0;
//   it signs device and gateway certificates and its CRL. A KGC made before the issuing CA
//   existed (root only) gets one at the next `initKgc`/`enrollDevice`; the device
//   certificates its root signed directly keep verifying (the chain check takes either).
// - `issued/<devId>.cert.pem`: the current certificate of each device (public, 0644, replaced
//   atomically): the directory gateways with their own data dir follow (`kgc.issuedDir`)
// - `gateways/<name>.cert.pem`: the latest TLS server certificate of each gateway name
// - `revoked.json`: revocation records `{devId, serial, issuer, revokedAt}`
// - `crl/crl.pem`: the CRLs (RFC 5280 §5): the issuing CA's always, the root's only while it
//   has root-signed device certificates revoked; re-signed at every revocation and by
//   `refreshCrls` (`kgc crl`). `crl/` is public (0755, the file 0644) and holds nothing else:
//   a gateway with its own data dir, or a TLS terminator, mounts it read-only. Releases
//   before it wrote `crl.pem` beside the keys; that file is still read and is removed at the
//   next signing.

/** The file layout of a KGC directory. */
export function kgcPaths(kgcDir: string): KgcPaths {
  if (typeof kgcDir !== 'string' || kgcDir.length === 0) {
    throw new TypeError('kgcDir must be a non-empty path string');
  }
  return {
    rootKey: join(kgcDir, 'root.key.pem'),
    rootCert: join(kgcDir, 'root.cert.pem'),
    issuingKey: join(kgcDir, 'issuing.key.pem'),
    issuingCert: join(kgcDir, 'issuing.cert.pem'),
    devicesDir: join(kgcDir, 'issued'),
    gatewaysDir: join(kgcDir, 'gateways'),
    revoked: join(kgcDir, 'revoked.json'),
    crlDir: join(kgcDir, 'crl'),
    crl: join(kgcDir, 'crl', 'crl.pem'),
    legacyCrl: join(kgcDir, 'crl.pem'),
  };
}

/**
 * The KGC's public trust material, readable without any private key (what a gateway
 * needs): the root certificate and the intermediates (the issuing CA, when there is one).
 * @throws {KgcError} `kgc_not_initialized` when there is no root certificate.
 */
export function readKgcTrust(kgcDir: string): { rootPem: string; intermediatesPem: string[] } {
  const paths = kgcPaths(kgcDir);
  if (!existsSync(paths.rootCert)) throw new KgcError('kgc_not_initialized', 'no KGC root in this directory');
  const rootPem = readFileSync(paths.rootCert, 'utf8');
  const intermediatesPem = existsSync(paths.issuingCert) ? [readFileSync(paths.issuingCert, 'utf8')] : [];
  return { rootPem, intermediatesPem };
}

/**
 * Writes a public file (mode 0644 whatever the umask) by temporary file + rename, so
 * readers never see half of it.
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
}
