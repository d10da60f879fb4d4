/**
 * @module kgc/gateway-certificate
 * TLS server certificates for gateways (PROTOCOL.md §2 "TLS port"): serverAuth, signed by
 * the issuing CA, with the gateway's on-chain account as a subjectAltName URI, and the
 * account read back from such a certificate.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ROOT_ORGANIZATION, ensureIssuing, openKgc } from './ca.js';
import { issueCertificate, NOT_BEFORE_BACKDATE_MS } from './certificate.js';
import { parseCertificatePem } from './chain.js';
import { writePrivateKeyPem } from './keys.js';
import { DAY_MS, ISSUED_SUFFIX, writeFileAtomic } from './layout.js';

/** Lifetime of a gateway TLS certificate (CA/Browser Forum's 397-day ceiling). */
export const DEFAULT_GATEWAY_CERT_VALIDITY_DAYS = 397;
/** File names of a gateway's TLS material inside the `outDir` of `issueGatewayCertificate`. */
export const GATEWAY_KEY_FILE = 'server.key.pem';
export const GATEWAY_CERT_FILE = 'server.cert.pem';
export const GATEWAY_CA_FILE = 'ca.cert.pem';
/**
 * The gateway's on-chain account is carried as a subjectAltName URI `ethereum:0x<40 hex>`
 * (the EIP-681 scheme, without chain id or function): ordinary X.509 tooling shows it,
 * and no private extension OID is needed.
 */
export const ETHEREUM_URI_PREFIX = 'ethereum:';
const ACCOUNT_PATTERN = /^0x[0-9a-fA-F]{40}$/;
const IPV4_PATTERN = /^\d{1,3}(\.\d{1,3}){3}$/;
const DNS_NAME_PATTERN =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface GatewayCertificate {
  certPem: string;
  serial: string;
  keyPath: string;
  /** The leaf followed by the issuing CA: what the TLS server presents. */
  certPath: string;
  /** The KGC root: what clients trust. */
  caPath: string;
  account: `0x${string}` | undefined;
}

/**
 * Issues a TLS server certificate for a gateway: a fresh key (P-256 by default, or
 * RSA-3072), CN = the first name, subjectAltName DNS `localhost` + IP `127.0.0.1`, `::1`
 * + every `names` entry, and `ethereum:<account>` when given; extKeyUsage serverAuth,
 * signed by the issuing CA. Writes `outDir/server.key.pem` (0600, atomically replaced:
 * this is how a certificate is rotated), `server.cert.pem` (leaf + issuing CA) and
 * `ca.cert.pem` (root), and records it in `kgcDir/gateways/<first name>.cert.pem`.
 * @throws {RangeError} for an empty or invalid name list or an account that is not 0x + 40 hex.
 * @throws {KgcError} `kgc_not_initialized`.
 * @example
 * await issueGatewayCertificate(kgcDir, 'DATA/gateway/tls', { names: ['gw1.ward3.example'], account });
 */
export async function issueGatewayCertificate(
  kgcDir: string,
  outDir: string,
  opts: {
    names: readonly string[];
    account?: string;
    keyType?: 'p256' | 'rsa3072';
    validityDays?: number;
  },
): Promise<GatewayCertificate> {
  const names = [...new Set(opts.names)];
  if (names.length === 0 || !names.every((n) => DNS_NAME_PATTERN.test(n) || IPV4_PATTERN.test(n))) {
    throw new RangeError('issueGatewayCertificate: names must be DNS names or IPv4 addresses');
  }
  if (opts.account !== undefined && !ACCOUNT_PATTERN.test(opts.account)) {
    throw new RangeError('issueGatewayCertificate: account must be 0x followed by 40 hex digits');
  }
  const days = opts.validityDays ?? DEFAULT_GATEWAY_CERT_VALIDITY_DAYS;
  if (!Number.isFinite(days) || days <= 0)
    throw new RangeError('issueGatewayCertificate: validityDays must be positive');
  const kgc = openKgc(kgcDir);
  const issuing = await ensureIssuing(kgc);
  const notBefore = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfter = new Date(Math.min(notBefore.getTime() + days * DAY_MS, issuing.notAfter));
  const { privateKey, publicKey } =
    opts.keyType === 'rsa3072'
      ? generateKeyPairSync('rsa', { modulusLength: 3072 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dns = ['localhost', ...names.filter((n) => !IPV4_PATTERN.test(n) && n !== 'localhost')];
  const ip = ['127.0.0.1', '::1', ...names.filter((n) => IPV4_PATTERN.test(n) && n !== '127.0.0.1')];
  const commonName = names[0] as string;
  const { certPem, serial } = await issueCertificate({
    subject: { commonName, organization: DEFAULT_ROOT_ORGANIZATION },
    subjectPublicKey: publicKey,
    issuer: { privateKey: issuing.key, certPem: issuing.certPem },
    notBefore,
    notAfter,
    extKeyUsage: ['serverAuth'],
    subjectAltNames: {
      dns,
      ip,
      ...(opts.account ? { uri: [`${ETHEREUM_URI_PREFIX}${opts.account.toLowerCase()}`] } : {}),
    },
  });
  mkdirSync(kgc.paths.gatewaysDir, { recursive: true });
  writeFileSync(join(kgc.paths.gatewaysDir, `${commonName}${ISSUED_SUFFIX}`), certPem, { mode: 0o644 });
  const keyPath = join(outDir, GATEWAY_KEY_FILE);
  const certPath = join(outDir, GATEWAY_CERT_FILE);
  const caPath = join(outDir, GATEWAY_CA_FILE);
  writePrivateKeyPem(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
    overwrite: true,
  });
  writeFileAtomic(certPath, `${certPem}${issuing.certPem}`);
  writeFileAtomic(caPath, kgc.root.certPem);
  return {
    certPem,
    serial,
    keyPath,
    certPath,
    caPath,
    account: opts.account ? (opts.account.toLowerCase() as `0x${string}`) : undefined,
  };
}

/**
 * The on-chain account a gateway certificate carries (subjectAltName `ethereum:0x…`),
 * lowercase; `undefined` when there is none. Does not check trust.
 */
export function gatewayAccountOf(certPem: string): `0x${string}` | undefined {
  const cert = parseCertificatePem(certPem.slice(0, certPem.indexOf('-----END CERTIFICATE-----') + 25));
  const m = cert?.subjectAltName?.match(/URI:ethereum:(0x[0-9a-fA-F]{40})(?:,|$)/);
  return m ? (m[1]?.toLowerCase() as `0x${string}`) : undefined;
}
