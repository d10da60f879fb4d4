/**
 * @module io/identity
 * Who may connect and sign in: the device registry and its revocation sources, KGC
 * enrolment on this data directory and from the KGC's issued directory, the broker's
 * mutual-TLS peer checks, dashboard user accounts, their sessions beyond a gateway's memory
 * and enrolled wall displays.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export type {
  BrokerSecurityEvent,
  BrokerTlsOptions,
  ConnectRefusalCode,
  PeerAuthenticator,
} from './broker-security.js';
export { supersededCertificates } from './device-history.js';
export type { DeviceRegistry } from './devices.js';
export {
  DISPLAY_ID_PATTERN,
  DISPLAY_NAME_PATTERN,
  DISPLAY_TOKEN_PATTERN,
  type DisplayEnrolment,
  type DisplayRecord,
  DisplayRegistry,
  displayPath,
} from './displays.js';
export type {
  ChainRegistry,
  CsrEnrolResult,
  EnrolResult,
  RegistryWrite,
  RevokeResult,
  SyncRegistryResult,
} from './enrol.js';
export {
  enrolDevice,
  enrolDeviceFromCsr,
  revokeEnrolledDevice,
  revokeOnRegistry,
  syncRegistry,
} from './enrol.js';
export { createEnrolmentFollower, type EnrolmentFollower } from './enrolment-follow.js';
export { createIdentity, type Identity, type MqttsOptions } from './identity.js';
export {
  DEFAULT_PASSWORD_QUEUE,
  DEFAULT_PASSWORD_THREADS,
  PasswordPool,
  type PasswordPoolOptions,
} from './password-pool.js';
export {
  isRecordedRegistered,
  type RegistryRef,
  recordRegistration,
  registrationKey,
} from './registration.js';
export {
  DEFAULT_SESSION_PRUNE_MS,
  SESSION_HASH_PATTERN,
  type SessionShare,
  type SharedSessionRow,
  SqliteSessions,
  type SqliteSessionsOptions,
} from './session-rows.js';
export {
  type AddOptions,
  accountStamp,
  CLINICIAN_ID_ROLES,
  checkSubject,
  DUMMY_HASH,
  ensureInitialAdmin,
  isRole,
  type PasswordOptions,
  ROLES,
  type Role,
  SUBJECT_PATTERN,
  SUBJECT_ROLES,
  USERNAME_PATTERN,
  type User,
  type UserDirectory,
  UserFile,
  UserFileError,
  withFlags,
} from './users.js';
