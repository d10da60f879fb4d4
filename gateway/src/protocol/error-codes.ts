/**
 * @module protocol/error-codes
 * The one registry of every code VitalTrail raises or returns (STYLE.md §3, after fastify's
 * `FST_ERR_*`): each code's one meaning and, where it crosses HTTP, its status and the fixed,
 * input-free reason sent in `{error:{code,reason}}`. `ERROR_GROUPS` names the vocabularies
 * that use each code (the PROTOCOL.md §1 rejections, the verifier's entry verdicts, one per
 * error class), and the per-module code types are derived from it, so a module cannot raise
 * an unregistered code. A code is never renamed, reused with another meaning, or defined a
 * second time; `test/unit/codes.test.ts` keeps this table, the README and the sources in sync.
 * Pure data: imported by gateway/, anchor/ (including the verifier) and firmware-sim/.
 */
import { KEY_ERROR_CODES } from './error-codes-keys.js';
import { ERROR_GROUPS } from './error-groups.js';

/** One registered code. */
export interface ErrorCodeSpec {
  /** What the code means, in every vocabulary that uses it (the README's text). */
  readonly meaning: string;
  /** Where the code crosses HTTP: its status and the fixed reason sent with it. */
  readonly http?: { readonly status: number; readonly reason: string };
}

export const ERROR_CODES = {
  // PROTOCOL.md §1 acceptance rules (rejections sent to devices).
  malformed: {
    meaning:
      'the input does not parse as its documented format: a frame as a tagged COSE_Sign1 with a valid v1 body (PROTOCOL.md §1), a bundle or chain-evidence file as its documented shape',
  },
  identity_mismatch: { meaning: 'kid, body dev and the transport identity are not the same device' },
  unknown_device: {
    meaning:
      'no certificate is known for the device (the gateway has none enrolled; the verifier finds none in the bundle)',
  },
  revoked_device: { meaning: 'the device certificate has been revoked' },
  expired_certificate: {
    meaning: 'the device certificate is not valid at this time (expired or not yet valid)',
  },
  bad_signature: { meaning: "the signature does not verify with the device certificate's key" },
  clock_skew: { meaning: 'ts is more than 5 minutes ahead of the gateway clock' },
  too_old: { meaning: 'ts is older than the retention horizon' },
  replay_conflict: { meaning: 'different bytes were already accepted for this (dev, seq)' },
  chain_mismatch: { meaning: 'prev does not match the hash of the neighbouring accepted frame' },
  unregistered_device: {
    meaning:
      "the gateway anchors on a chain whose registry does not hold the device's current key as active (its frames could never be proven)",
  },

  // The verifier's entry and checkpoint verdicts.
  valid: { meaning: 'every check passed' },
  untrusted_certificate: {
    meaning:
      'the certificate does not parse or does not chain to the KGC root (the verifier also reports a device certificate that was not valid at the frame time with it)',
  },
  bad_inclusion_proof: {
    meaning:
      'the inclusion proof does not prove the leaf in the tree of the cited checkpoint (size and root)',
  },
  checkpoint_not_anchored: { meaning: 'no Anchored event on chain carries this logId, tree size and root' },
  inconsistent_checkpoints: { meaning: 'the cited checkpoints are not proven to extend one another' },
  revoked_at_time: {
    meaning:
      "the device was revoked in the registry at or before the anchoring block of the first checkpoint covering the frame's log position",
  },
  shredded: {
    meaning:
      'the frame was destroyed under the retention policy: its leaf hash is proven in the anchored log and an anchored shredding record lists it (not a failure)',
  },
  receiver_unavailable: {
    meaning:
      'an outbound receiver (MLLP, FHIR server, webhook) cannot be reached or did not answer in time; the message is retried with backoff',
  },
  receiver_rejected: {
    meaning:
      'an outbound receiver refused a message (HL7 ACK AE/AR, FHIR 4xx, webhook 4xx); it is set aside as a dead letter, shown by `vitaltrail outbound status`',
  },
  retention_not_met: {
    meaning:
      "a shredding record destroys a data key whose window had not yet aged past the record's retention when it was destroyed",
  },

  // HTTP API (dashboard, data, alarm, log and metrics routes).
  bad_request: {
    meaning: 'the request does not match the API',
    http: { status: 400, reason: 'the request does not match the API' },
  },
  unauthenticated: {
    meaning: 'the request carries no valid session (or, on /metrics, no metrics token)',
    http: { status: 401, reason: 'sign in first' },
  },
  bad_credentials: {
    meaning: 'wrong username or password',
    http: { status: 401, reason: 'wrong username or password' },
  },
  forbidden: {
    meaning: 'the role of the session may not use this route',
    http: { status: 403, reason: 'this role may not see live patient data' },
  },
  consent_required: {
    meaning:
      "a doctor asked for a patient's data without a consent of that patient in force for them on the chain now (never granted, expired, not yet valid, or revoked)",
    http: { status: 403, reason: 'no consent of this patient is in force for you' },
  },
  consent_out_of_scope: {
    meaning:
      "the patient's consents in force for this doctor do not hold what was asked: the scope (vitals, ECG) or the whole time range",
    http: { status: 403, reason: 'the consent does not cover this scope or range' },
  },
  clinician_suspended: {
    meaning: 'the doctor is suspended in the consortium registry: no consent opens a patient to them',
    http: { status: 403, reason: 'your registration is suspended' },
  },
  bad_origin: {
    meaning: 'a state-changing request came from another origin',
    http: { status: 403, reason: 'cross-origin request refused' },
  },
  not_found: {
    meaning: 'the named resource (device, patient, recipient, record or file) does not exist here',
    http: { status: 404, reason: 'no such resource' },
  },
  alarm_not_found: {
    meaning: 'no open alarm has this id',
    http: { status: 404, reason: 'no open alarm with this id' },
  },
  alarm_not_active: {
    meaning: 'the alarm is already acknowledged',
    http: { status: 409, reason: 'the alarm is already acknowledged' },
  },
  not_admitted: {
    meaning: 'the device is not admitted',
    http: { status: 409, reason: 'the device is not admitted' },
  },
  limits_invalid: {
    meaning:
      'alarm limits or alarm policies refused: a low limit at or above the high one, a limit outside the physiological range of its vital, or a policy value outside its bounds (README "Alarm defaults")',
    http: { status: 400, reason: 'alarm limits or policies out of range' },
  },
  bed_occupied: {
    meaning: 'the bed is held by another admitted device; discharge it first (one patient per bed)',
    http: { status: 409, reason: 'the bed is occupied' },
  },
  patient_elsewhere: {
    meaning:
      'the patient is admitted on another device or bed; discharge or transfer first (one bed per patient)',
    http: { status: 409, reason: 'the patient is admitted elsewhere' },
  },
  account_disabled: {
    meaning: 'the account is disabled (`vitaltrail users disable`); an administrator can enable it',
    http: { status: 403, reason: 'this account is disabled' },
  },
  password_change_required: {
    meaning:
      'the account must choose a new password first (`POST /api/password`); until then only `GET /api/me` answers',
    http: { status: 403, reason: 'choose a new password first' },
  },
  display_token_invalid: {
    meaning: 'the display enrolment token is unknown or was revoked',
    http: { status: 401, reason: 'this display is not enrolled' },
  },
  payload_too_large: {
    meaning: 'the request body is too large',
    http: { status: 413, reason: 'request body too large' },
  },
  unsupported_media_type: {
    meaning: 'the request body is not application/json',
    http: { status: 415, reason: 'send application/json' },
  },
  too_many_attempts: {
    meaning:
      'too many failed sign-ins from this address (for this user, or for any); wait and retry (Retry-After)',
    http: { status: 429, reason: 'too many failed sign-ins; wait and retry' },
  },
  login_busy: {
    meaning: 'too many sign-ins are being checked at once; retry after Retry-After seconds',
    http: { status: 503, reason: 'too many sign-ins at once; retry shortly' },
  },
  export_busy: {
    meaning:
      'as many downloads (FHIR export, disclosure bundle, ECG) are being built as the gateway allows at once, in all or for this user; retry after Retry-After seconds',
    http: { status: 503, reason: 'too many downloads at once; retry shortly' },
  },
  too_many_readings: {
    meaning:
      'the range holds more readings than one answer carries (100,000 by default): ask for a shorter range, the latest N (limit) or the trend',
    http: {
      status: 422,
      reason:
        'too many readings for one answer; shorten the range, or ask for the latest (limit) or the trend',
    },
  },
  internal: {
    meaning: 'an unexpected failure (the code is logged; no details are sent)',
    http: { status: 500, reason: 'internal error' },
  },
  not_ready: {
    meaning: 'the store or the MQTT side is not up (readiness probe)',
    http: { status: 503, reason: 'the store or the MQTT side is not up' },
  },
  anchoring_stalled: {
    meaning:
      'the oldest checkpoint in the anchoring outbox is older than the readiness threshold (anchoring makes no progress)',
    http: { status: 503, reason: 'anchoring makes no progress' },
  },

  // Sealed store, envelopes, bindings, exports.
  integrity_error: {
    meaning: 'stored data does not authenticate or does not match the log',
    http: { status: 500, reason: 'stored data does not authenticate' },
  },
  no_recipient_key: {
    meaning: 'none of the recipient private keys on this host opens the data',
    http: { status: 503, reason: 'this host holds no key to open patient data' },
  },
  store_failed: {
    meaning: 'the store could not be written or opened (I/O error, disk full, unsupported schema)',
  },
  bad_binding: { meaning: 'an admission names an invalid device id, patient id or bed' },
  unsupported_key: { meaning: 'a recipient key is not RSA-3072+ or EC P-256' },
  not_anchored: {
    meaning: 'no checkpoint has been anchored yet, so nothing can be proven against one',
    http: { status: 409, reason: 'nothing is anchored yet; retry after the next checkpoint' },
  },
  sink_closed: { meaning: 'the InfluxDB sink is closed' },

  // Configuration, CLI, users, audit log.
  config_invalid: {
    meaning: 'the configuration or the data directory is not usable (the reason names what)',
  },
  data_dir_in_use: {
    meaning: 'another running gateway holds this data directory (its instance lock names the pid)',
  },
  bad_usage: { meaning: 'the command-line options do not fit together' },
  password_missing: { meaning: 'no password was given on stdin or in the file' },
  users_corrupt: { meaning: 'the users file does not parse or holds an invalid record' },
  user_exists: { meaning: 'a user with this name already exists' },
  user_not_found: { meaning: 'no user with this name in the users file' },
  shared_unavailable: {
    meaning:
      'the shared state database of a gateway group (PostgreSQL, `shared.postgres`) cannot be reached, refuses the credentials, or holds a newer schema than this gateway',
    http: { status: 503, reason: "the gateway group's shared database cannot be reached; retry shortly" },
  },
  audit_locked: { meaning: 'the audit log is locked by another process' },
  audit_write_failed: { meaning: 'audit events could not be written before the writer stopped' },
  audit_corrupt: {
    meaning:
      'a line the audit writer must read does not parse (the last one; when rotating, also the first), or the archive name a rotation needs is taken',
  },
  malformed_line: { meaning: 'an audit log line is not JSON' },
  out_of_sequence: {
    meaning:
      "an audit log line does not carry the next number (in a group's `ward_audit`: a row's id, or a gateway's line number, does not follow)",
  },
  chain_broken: {
    meaning:
      "an audit log line's prev is not the SHA-256 of the line before (in a group's `ward_audit`: a row's prev, hash or line_hash does not recompute, or differs from the gateway's file line)",
  },
  truncated: { meaning: 'the audit head names more lines than the log has' },
  head_mismatch: { meaning: 'the audit head does not name a line of this log' },
  head_missing: { meaning: 'the audit log has lines but no head' },
  torn_tail: { meaning: 'the last audit log line has no newline (an interrupted write)' },
  file_missing: {
    meaning:
      'an audit log file is missing from the chain: the first line of the next file (or of the oldest, not 1) skips numbers',
  },
  output_path_invalid: {
    meaning:
      'an output path (--out) is refused: a directory, a symbolic link (dangling or not), not a regular file, or in a directory that does not exist; for backup --out and restore --data: anything but a new or empty directory beside (not inside) the data directory or backup',
  },
  time_range_invalid: {
    meaning:
      'a time bound (--from/--to) is not a time, is negative or beyond the largest safe millisecond count, or from is after to',
  },
  input_too_large: {
    meaning: 'an input file is larger than its stated cap (the reason names the cap and its flag)',
  },
  evidence_mismatch: {
    meaning:
      "the chain evidence is of another chain or anchors contract than the bundle names, or holds no anchor of the bundle's log (evidence of another log); for an access bundle also: a consent contract that is not of the bundle's registry, or access evidence fetched for another log, consent contract or bundle (a consent the bundle cites that the evidence neither holds nor lists absent)",
  },
  data_dir_missing: {
    meaning: 'the data directory (--data) does not exist; only kgc init, demo and restore create one',
  },
  backup_invalid: {
    meaning:
      'a backup cannot be made (the data directory has no store, the copy fails PRAGMA integrity_check or its checkpoints do not match its log) or does not match its manifest (a file missing, added, or of another size or SHA-256; the manifest malformed)',
  },
  password_weak: {
    meaning: 'the password is shorter than 12 characters or made of one character class only',
    http: { status: 400, reason: 'use at least 12 characters of two classes or more' },
  },
  password_unchanged: {
    meaning: 'the new password is the current one; choose another',
    http: { status: 400, reason: 'choose a password other than the current one' },
  },

  // `anchors verify-chain` problems.
  size_not_increasing: { meaning: 'an anchor does not grow the tree size of the one before it' },
  anchor_beyond_log: { meaning: 'an anchor names a tree size the local log does not have' },
  root_mismatch: { meaning: 'an anchored root is not the local log root at that size' },
  inconsistent_anchors: { meaning: 'the consistency proof between two consecutive anchors does not verify' },
  bad_note: { meaning: 'the signed checkpoint note does not verify or names another root' },
  missing_on_chain: { meaning: 'a checkpoint the store calls anchored has no anchor on chain' },

  // Transports: serial lines, MQTT connection refusals, the external broker.
  bad_cobs: { meaning: 'a serial message does not decode as COBS' },
  bad_crc: { meaning: 'a serial message fails its CRC-32' },
  too_short: { meaning: 'a serial message is shorter than its CRC-32 trailer' },
  oversize: { meaning: 'a serial message is longer than the largest frame allows' },
  client_id_invalid: { meaning: 'the MQTT client id is not a well-formed device id' },
  no_client_certificate: { meaning: 'the TLS client presented no certificate' },
  client_id_mismatch: { meaning: 'the MQTT client id is not the CN of the client certificate' },
  superseded_certificate: { meaning: "the presented certificate is not the device's current one" },
  self_signed_certificate: { meaning: 'the TLS client certificate is self-signed' },
  wrong_certificate_purpose: { meaning: 'the TLS client certificate is not for client authentication' },
  protocol_version: { meaning: 'the TLS client offered no acceptable protocol version' },
  handshake_failed: { meaning: 'the TLS handshake failed for another reason' },
  client_id_in_use: {
    meaning: 'on the plain listener, the client id is already connected (no session takeover there)',
  },
  client_cooling_down: {
    meaning:
      'the client id was closed for repeated rejected frames and may not reconnect from this address yet',
  },
  packet_too_large: { meaning: 'an MQTT packet is larger than its limit (refused at its fixed header)' },
  malformed_packet: { meaning: 'an MQTT packet does not parse as MQTT 3.1.1' },
  protocol_violation: { meaning: 'an MQTT packet breaks a MUST of MQTT 3.1.1' },
  connect_timeout: { meaning: 'no complete CONNECT arrived in time after the connection opened' },
  packet_timeout: { meaning: 'an MQTT packet was begun and not completed in time' },
  topic_not_allowed: {
    meaning:
      "a client published outside its own frames topic: to another device's, the connection is closed; elsewhere, acknowledged and dropped",
  },
  rejection_limit: { meaning: "too many of a client's frames were rejected within the window" },
  broker_unreachable: { meaning: 'no CONNACK from the external broker in time' },
  subscription_refused: { meaning: 'the external broker refused the shared subscription' },

  // Enrolment from the KGC's issued directory.
  invalid_device_id: { meaning: "the certificate's CN is not a valid device id" },
  issued_dir_unreadable: { meaning: "the KGC's issued-certificate directory cannot be read" },
  registry_unavailable: {
    meaning: 'the device registry on chain cannot be reached; new enrolments wait for it',
  },
  io_error: { meaning: 'an import failed with an error that has no code of its own' },

  // Transparency log: proofs and signed notes.
  bad_consistency_proof: {
    meaning: 'the consistency proof does not prove that the larger tree extends the smaller',
  },
  malformed_note: { meaning: 'the text is not a well-formed signed note or checkpoint' },
  bad_vkey: { meaning: 'the verifier key is not a C2SP Ed25519 vkey' },
  unverified_note: { meaning: 'no signature of the given key verifies over the note text' },

  // The access log's verifier (issue 18, anchor/src/verify-access), beside the codes above.
  withheld: {
    meaning:
      "another patient's access entry in a patient's access bundle: only its leaf hash is disclosed, proven in the anchored log (not a failure)",
  },
  leaf_hash_mismatch: {
    meaning:
      'the access entry bytes do not hash to the leaf hash the bundle gives (SHA-256 of 0x00 and the bytes): the entry was altered',
  },
  entry_out_of_order: {
    meaning:
      'the access entry does not come after the one before it in the bundle in strictly increasing leaf index (a reordered or repeated entry)',
  },
  out_of_scope: {
    meaning:
      "the access entry lies outside its bundle's scope: another patient or gateway than the bundle's, a leaf index outside its range, or withheld in a bundle of every patient",
  },
  entry_missing: {
    meaning:
      "a leaf index inside the access bundle's range has no entry, full or withheld: an entry was deleted",
  },
  consent_not_found: {
    meaning:
      "the access entry's consent is not on the chain of the evidence: no grant with its id in the consent contract (a forged consent signature, which the contract refuses), or another chain",
  },
  consent_wrong_patient: {
    meaning: "the access entry's consent was given by another patient than the entry's",
  },
  consent_wrong_doctor: {
    meaning: "the access entry's consent names another doctor than the entry's actor",
  },
  consent_not_in_force: {
    meaning:
      "the access entry's consent was not in force for it: granted in a later block than the one that anchored the entry, or the access time before its window, at or after its end, or at or after its revocation",
  },

  // Ledger clients, the local dev node, contract artifacts.
  tree_size_not_increasing: { meaning: 'the tree size does not exceed the last anchored one of this log' },
  not_active_gateway: { meaning: 'the account is not an active gateway registered for this log' },
  not_kgc: { meaning: 'only the KGC account may write the registry' },
  registry_rejected: { meaning: 'the registry refused the change (the reason names the rule)' },
  consent_rejected: {
    meaning:
      "the consent contract refused a patient's signed grant or revocation (the reason names the rule)",
    http: { status: 422, reason: 'the consent contract refused it' },
  },
  // The patient portal's registration and break-glass (issue 18; its keystore codes: protocol/error-codes-keys).
  patient_key_exists: {
    meaning:
      'another signing key is already registered on the chain for this patient: only the registration authority (the KGC) replaces it',
    http: { status: 409, reason: 'a different key is already registered for you' },
  },
  break_glass_reason_required: {
    meaning:
      'a break-glass request came without a reason (absent, or blank once trimmed): the reason is mandatory',
    http: { status: 400, reason: 'a reason is required to break the glass' },
  },
  break_glass_reason_invalid: {
    meaning:
      'the reason of a break-glass request is over 500 Unicode code points, or holds a control character (a line break included) or a lone surrogate',
    http: { status: 400, reason: 'the reason must be one line of at most 500 characters' },
  },
  registrar_unavailable: {
    meaning:
      "this gateway holds no registration authority account, so the KGC registers patients' keys itself (`vitaltrail consent register-patient-key`)",
    http: { status: 503, reason: 'this gateway cannot register keys; ask the registration office' },
  },
  ledger_unavailable: {
    meaning: 'the JSON-RPC endpoint did not answer',
    http: { status: 503, reason: 'the ledger does not answer' },
  },
  contract_missing: { meaning: 'no contract at the deployment address (reset chain, or wrong chain)' },
  tx_failed: { meaning: 'the transaction failed for another reason' },
  bad_ledger_data: { meaning: 'the ledger returned a value outside the expected range' },
  anvil_failed: { meaning: 'the local dev node did not start or stop' },
  artifacts_unavailable: { meaning: 'no compiled contracts, and no compiler to make them' },

  // Keys and key files: protocol/error-codes-keys.
  ...KEY_ERROR_CODES,

  // The device simulator.
  connect_failed: { meaning: 'the simulator could not connect or set up its MQTT session' },
  publish_failed: { meaning: "the simulator's publish failed" },
  link_closed: { meaning: 'the simulator link is closed, or was closed before the PUBACK' },
  bad_state_file: { meaning: 'the device state file cannot be read or is not a valid state' },
} as const satisfies Record<string, ErrorCodeSpec>;

/** Every registered code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes that cross HTTP (those with a status). */
export type HttpErrorCode = {
  [K in ErrorCode]: (typeof ERROR_CODES)[K] extends { readonly http: object } ? K : never;
}[ErrorCode];

export { ERROR_GROUPS };

/** Compile-time check: every code a group names is registered above. */
export const REGISTERED_GROUPS: Readonly<Record<string, readonly ErrorCode[]>> = ERROR_GROUPS;

export type ErrorGroup = keyof typeof ERROR_GROUPS;

/** The codes of one group, e.g. `type StoreErrorCode = ErrorGroupCode<'store'>`. */
export type ErrorGroupCode<G extends ErrorGroup> = (typeof ERROR_GROUPS)[G][number];

/** `{ code: meaning }` of one group, in the group's order (the README tables of that group). */
export function meaningsOf<G extends ErrorGroup>(group: G): { readonly [K in ErrorGroupCode<G>]: string } {
  const out: Record<string, string> = {};
  for (const code of ERROR_GROUPS[group]) out[code] = ERROR_CODES[code].meaning;
  return Object.freeze(out) as { readonly [K in ErrorGroupCode<G>]: string };
}

/** True when `code` is a registered code (own keys only: `toString` is not a code). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The HTTP status and the fixed reason of a code that crosses HTTP. */
export function httpStatusOf(code: HttpErrorCode): { readonly status: number; readonly reason: string } {
  return ERROR_CODES[code].http;
}
