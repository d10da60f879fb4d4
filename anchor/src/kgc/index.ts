/**
 * @module kgc
 * The Key Generation Center (ARCHITECTURE.md: the consortium CA) and certificate-chain
 * checking (PROTOCOL.md §1 acceptance rules, §2 TLS port, §4 registry SPKI hashes): the one
 * way into `anchor/src/kgc/` from outside it.
 *
 * Rooms: `chain.ts` (pure chain checks; the verifier's browser bundle imports it directly,
 * since this barrel also reaches node:fs), `keys.ts` (private key files), `layout.ts` (the
 * KGC directory, its errors, its public trust material), `x509.ts` (loading
 * @peculiar/x509), `certificate.ts` (issuing one certificate), `ca.ts` (root and issuing
 * CA), `enrolment.ts` (device certificates), `csr.ts` (enrolment from a PKCS#10 request), `revocation.ts` (revocation and CRLs),
 * `gateway-certificate.ts` (TLS server certificates), `pkcs12.ts` (PKCS#12 export).
 */
export {
  DEFAULT_ISSUING_COMMON_NAME,
  DEFAULT_ISSUING_VALIDITY_YEARS,
  DEFAULT_ROOT_COMMON_NAME,
  DEFAULT_ROOT_ORGANIZATION,
  DEFAULT_ROOT_VALIDITY_YEARS,
  initKgc,
} from './ca.js';
export {
  type CertificateSubject,
  type ExtKeyUsageName,
  type IssueCertificateParameters,
  type IssuedCertificate,
  issueCertificate,
  NOT_BEFORE_BACKDATE_MS,
} from './certificate.js';
export {
  type CertificateCheck,
  type CertificateCheckCode,
  type CertificateChecker,
  CertificateError,
  certificateValidity,
  isIssuedBy,
  MAX_INTERMEDIATES,
  parseCertificatePem,
  spkiSha256,
  verifyCertificateChain,
} from './chain.js';
export {
  type CheckedCsr,
  type CsrEnrolment,
  CsrError,
  type CsrErrorCode,
  checkCsr,
  enrollDeviceFromCsr,
  MAX_CSR_BYTES,
} from './csr.js';
export {
  type CertifiedDeviceKey,
  certifyDeviceKey,
  DEFAULT_DEVICE_VALIDITY_DAYS,
  DEVICE_CERT_FILE,
  DEVICE_ISSUING_CERT_FILE,
  DEVICE_KEY_FILE,
  DEVICE_ROOT_CERT_FILE,
  type DeviceEnrolment,
  type DeviceValidityOptions,
  enrollDevice,
  type IssuedRecord,
  listIssued,
} from './enrolment.js';
export {
  DEFAULT_GATEWAY_CERT_VALIDITY_DAYS,
  ETHEREUM_URI_PREFIX,
  GATEWAY_CA_FILE,
  GATEWAY_CERT_FILE,
  GATEWAY_KEY_FILE,
  type GatewayCertificate,
  gatewayAccountOf,
  issueGatewayCertificate,
} from './gateway-certificate.js';
export {
  KeyFileError,
  type KeyFileErrorCode,
  PRIVATE_DIR_MODE,
  PRIVATE_KEY_MODE,
  readPrivateKey,
  writePrivateKeyPem,
} from './keys.js';
export { KgcError, type KgcErrorCode, type KgcPaths, kgcPaths, readKgcTrust } from './layout.js';
export { devicePkcs12, exportPkcs12, MIN_P12_PASSPHRASE_LENGTH } from './pkcs12.js';
export {
  CRL_VALIDITY_DAYS,
  type RevocationRecord,
  readRevokedSerials,
  refreshCrls,
  revokeDevice,
} from './revocation.js';
export { loadX509 } from './x509.js';
