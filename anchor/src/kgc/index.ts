/**
 * @module kgc
 * The Key Generation Center (ARCHITECTURE.md: the consortium CA) and certificate-chain
 * checking (PROTOCOL.md §1 acceptance rules, §2 TLS port, §4 registry SPKI hashes).
 * `chain.ts` is pure and safe to import from the gateway and the auditor's verifier;
 * `kgc.ts` and `keys.ts` work on local key files.
 */
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
  KeyFileError,
  type KeyFileErrorCode,
  PRIVATE_DIR_MODE,
  PRIVATE_KEY_MODE,
  readPrivateKey,
  writePrivateKeyPem,
} from './keys.js';
export {
  type CertificateSubject,
  DEFAULT_DEVICE_VALIDITY_DAYS,
  DEFAULT_ROOT_COMMON_NAME,
  DEFAULT_ROOT_ORGANIZATION,
  DEFAULT_ROOT_VALIDITY_YEARS,
  DEVICE_CERT_FILE,
  DEVICE_KEY_FILE,
  DEVICE_ROOT_CERT_FILE,
  type DeviceEnrolment,
  type ExtKeyUsageName,
  enrollDevice,
  type IssueCertificateParameters,
  type IssuedCertificate,
  initKgc,
  issueCertificate,
  KgcError,
  type KgcErrorCode,
  type KgcPaths,
  kgcPaths,
  listIssued,
  loadX509,
  NOT_BEFORE_BACKDATE_MS,
} from './kgc.js';
