/**
 * @module protocol/error-groups
 * The vocabularies of the one code registry (protocol/error-codes): which codes each
 * protocol list, error class or result type uses, and the meanings of one group. Split from
 * the registry to keep each file to one table; pure data, re-exported by protocol/error-codes,
 * which checks at compile time that every code named here is registered.
 */
/**
 * The vocabularies that use each code: the protocol's (PROTOCOL.md §1 rejections, verifier
 * verdicts) and one per error class or result type. A code shared by several groups has the
 * one meaning above in all of them.
 */
export const ERROR_GROUPS = {
  /** PROTOCOL.md §1: sent to devices on `vt/v1/dev/{dev}/rejects` and in serial naks. */
  rejection: [
    'malformed',
    'identity_mismatch',
    'unknown_device',
    'revoked_device',
    'expired_certificate',
    'bad_signature',
    'clock_skew',
    'too_old',
    'replay_conflict',
    'chain_mismatch',
    'unregistered_device',
  ],
  /** The verifier's verdict for one bundle entry. */
  entry: [
    'valid',
    'malformed',
    'bad_signature',
    'untrusted_certificate',
    'bad_inclusion_proof',
    'checkpoint_not_anchored',
    'inconsistent_checkpoints',
    'unknown_device',
    'revoked_at_time',
    'shredded',
  ],
  /** The verifier's verdict for one shredding record (protocol/shred-record). */
  shredding: [
    'valid',
    'malformed',
    'bad_inclusion_proof',
    'checkpoint_not_anchored',
    'inconsistent_checkpoints',
    'retention_not_met',
  ],
  /** The access log's verifier (issue 18): the verdict for one access-bundle entry or missing index. */
  access_entry: [
    'valid',
    'withheld',
    'malformed',
    'leaf_hash_mismatch',
    'bad_inclusion_proof',
    'checkpoint_not_anchored',
    'inconsistent_checkpoints',
    'bad_note',
    'entry_out_of_order',
    'out_of_scope',
    'entry_missing',
    'consent_not_found',
    'consent_wrong_patient',
    'consent_wrong_doctor',
    'consent_not_in_force',
    'consent_out_of_scope',
  ],
  /** `AccessEvidenceError`: the saved chain evidence of an access bundle (anchor/src/verify-access/evidence-format). */
  access_evidence: ['malformed', 'evidence_mismatch'],
  /** The access log's verifier (issue 18): the verdict for one cited checkpoint (its signed note included). */
  access_checkpoint: ['valid', 'checkpoint_not_anchored', 'inconsistent_checkpoints', 'bad_note'],
  /** The verifier's verdict for one cited checkpoint. */
  checkpoint: ['valid', 'checkpoint_not_anchored', 'inconsistent_checkpoints'],
  /** `HttpError`: the dashboard server and its route modules. */
  http: [
    'bad_request',
    'unauthenticated',
    'bad_credentials',
    'forbidden',
    'bad_origin',
    'not_found',
    'payload_too_large',
    'unsupported_media_type',
    'too_many_attempts',
    'login_busy',
    'export_busy',
    'internal',
    'display_token_invalid',
    'account_disabled',
    'password_change_required',
    'password_weak',
    'password_unchanged',
  ],
  /** Coded errors the data routes answer with their HTTP status. */
  data_http: [
    'bad_request',
    'not_found',
    'too_many_readings',
    'not_admitted',
    'integrity_error',
    'no_recipient_key',
    'bed_occupied',
    'patient_elsewhere',
  ],
  /** A doctor's access to a patient's data (core/consent-policy, issue 18). */
  consent: [
    'consent_required',
    'consent_out_of_scope',
    'clinician_suspended',
    'consent_rejected',
    'patient_key_exists',
    'registrar_unavailable',
    'break_glass_reason_required',
    'break_glass_reason_invalid',
  ],
  /** The patient portal's keys and signing, in the browser (anchor/src/consent keystore, browser). */
  consent_key: [
    'wrong_passphrase',
    'keystore_invalid',
    'keystore_mismatch',
    'passphrase_weak',
    'private_key_invalid',
    'crypto_unavailable',
    'grant_invalid',
  ],
  /** `/readyz` and `/metrics`. */
  metrics_http: ['not_ready', 'ledger_unavailable', 'anchoring_stalled', 'unauthenticated'],
  /** Why `/readyz` answers 503 (core/health), in the order they are judged. */
  readiness: ['not_ready', 'ledger_unavailable', 'anchoring_stalled'],
  alarm: ['alarm_not_found', 'alarm_not_active', 'limits_invalid'],
  frame: ['malformed'],
  bundle: ['malformed'],
  serial_line: ['bad_cobs', 'bad_crc', 'too_short', 'oversize'],
  config: ['config_invalid'],
  /** The data directory's instance lock (io/ops/instance-lock). */
  instance: ['data_dir_in_use'],
  /** `VitalTrailError`s of the CLI commands. */
  cli: [
    'bad_usage',
    'config_invalid',
    'time_range_invalid',
    'input_too_large',
    'data_dir_missing',
    'evidence_mismatch',
  ],
  users_cli: ['password_missing', 'password_weak', 'user_not_found'],
  /** `OutputPathError`: the safe writer of user-named output files (io/ops/safe-write.ts). */
  output: ['output_path_invalid'],
  /** `BackupError`: online backup and restore of a data directory (io/ops/backup.ts). */
  backup: ['backup_invalid', 'output_path_invalid'],
  users: ['users_corrupt', 'user_exists', 'user_not_found'],
  /** `SharedStateError`: the PostgreSQL state a gateway group shares (io/shared). */
  shared: ['shared_unavailable'],
  audit: ['audit_locked', 'audit_corrupt', 'audit_write_failed'],
  audit_check: [
    'malformed_line',
    'out_of_sequence',
    'chain_broken',
    'truncated',
    'head_mismatch',
    'head_missing',
    'torn_tail',
    'file_missing',
  ],
  chain_check: [
    'size_not_increasing',
    'anchor_beyond_log',
    'root_mismatch',
    'inconsistent_anchors',
    'bad_note',
    'missing_on_chain',
  ],
  store: ['store_failed', 'integrity_error', 'not_found'],
  sealed: ['integrity_error', 'no_recipient_key', 'store_failed'],
  bindings: [
    'not_admitted',
    'bad_binding',
    'no_recipient_key',
    'integrity_error',
    'bed_occupied',
    'patient_elsewhere',
  ],
  envelope: ['integrity_error', 'no_recipient_key', 'unsupported_key'],
  export: ['integrity_error', 'not_found', 'not_anchored', 'shredded'],
  fhir_export: ['bad_request', 'not_found'],
  recipients: ['config_invalid', 'not_found'],
  influx: ['sink_closed'],
  /** `DeliveryError`: the outbound interfaces (io/interfaces/delivery). */
  delivery: ['receiver_unavailable', 'receiver_rejected'],
  external_broker: ['broker_unreachable', 'subscription_refused'],
  /** Why the MQTT listener refused a connection (TLS handshake or CONNACK). */
  connect_refusal: [
    'client_id_invalid',
    'no_client_certificate',
    'client_id_mismatch',
    'unknown_device',
    'revoked_device',
    'superseded_certificate',
    'expired_certificate',
    'self_signed_certificate',
    'untrusted_certificate',
    'wrong_certificate_purpose',
    'protocol_version',
    'handshake_failed',
    'client_id_in_use',
    'client_cooling_down',
  ],
  /** Why the MQTT broker's edge closed a connection (README "Security" → "Limits"). */
  mqtt_edge: [
    'packet_too_large',
    'malformed_packet',
    'protocol_violation',
    'connect_timeout',
    'packet_timeout',
    'topic_not_allowed',
    'rejection_limit',
  ],
  /** Why a presented client certificate is not the device's current, active one. */
  peer_certificate: ['unknown_device', 'revoked_device', 'superseded_certificate'],
  /** Why a file of the KGC's issued directory was not imported. */
  issued_skip: ['untrusted_certificate', 'expired_certificate', 'invalid_device_id'],
  enrolment_follow: ['issued_dir_unreadable', 'registry_unavailable', 'io_error'],
  merkle: ['bad_inclusion_proof', 'bad_consistency_proof'],
  note: ['malformed_note', 'bad_vkey', 'unverified_note'],
  ledger: [
    'tree_size_not_increasing',
    'not_active_gateway',
    'not_kgc',
    'registry_rejected',
    'consent_rejected',
    'ledger_unavailable',
    'contract_missing',
    'tx_failed',
    'bad_ledger_data',
    'anvil_failed',
    'artifacts_unavailable',
  ],
  kgc: ['kgc_not_initialized', 'kgc_incomplete', 'kgc_corrupt', 'kgc_unknown_device', 'pkcs12_failed'],
  /** `CsrError`: why the KGC refused a certificate signing request (anchor/src/kgc/csr.ts). */
  csr: ['csr_malformed', 'csr_bad_signature', 'csr_bad_subject', 'csr_unsupported_key'],
  key_file: ['key_exists', 'key_permissions', 'key_invalid'],
  /** `CertificateError` and the certificate checks of the KGC chain module. */
  certificate: ['untrusted_certificate', 'expired_certificate'],
  sim_link: ['connect_failed', 'publish_failed', 'link_closed'],
  sim_state: ['bad_state_file'],
} as const;
