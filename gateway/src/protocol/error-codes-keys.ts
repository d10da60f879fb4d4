/**
 * @module protocol/error-codes-keys
 * The codes of key material, part of the one registry (protocol/error-codes, which spreads
 * them into `ERROR_CODES`): the KGC's directory and private key files, enrolment from a
 * certificate signing request, and the patient portal's keystore. Split from the registry
 * to keep each file to one concern; the same rules hold (never renamed, never reused), and
 * the registry's `satisfies` checks each entry's shape.
 */
export const KEY_ERROR_CODES = {
  // The patient portal's keystore and signing (anchor/src/consent keystore, browser; issue 18).
  wrong_passphrase: {
    meaning: 'the patient portal could not open the keystore with this passphrase (AES-GCM refused it)',
  },
  keystore_invalid: {
    meaning: "a patient keystore is not the portal's format (version, KDF, iteration count, field sizes)",
  },
  keystore_mismatch: {
    meaning:
      'the key a keystore opens to is not the account the keystore names, or not the key registered for the patient',
  },
  passphrase_weak: { meaning: 'the passphrase chosen for a new patient key is shorter than 12 characters' },
  private_key_invalid: {
    meaning:
      'a private key imported into the patient portal is not 32 bytes of hex that make a secp256k1 key',
  },
  crypto_unavailable: { meaning: 'the browser offers no WebCrypto (the portal needs https or localhost)' },
  grant_invalid: {
    meaning:
      'the portal refused to sign a grant that breaks a rule of the consent contract (scope, window, range, purpose length)',
  },

  // KGC and private key files.
  kgc_not_initialized: { meaning: 'no KGC root in the directory (run vitaltrail kgc init)' },
  kgc_incomplete: { meaning: 'the KGC directory holds a CA key without its certificate, or the reverse' },
  kgc_corrupt: {
    meaning: 'a KGC file (CA certificate or key, issued record, revocations, CRL) does not parse or match',
  },
  kgc_unknown_device: { meaning: 'the KGC issued no certificate to this device' },

  // Enrolment from a certificate signing request (PKCS#10, RFC 2986).
  csr_malformed: {
    meaning: 'the certificate signing request does not parse as one PEM or DER PKCS#10 request',
  },
  csr_bad_signature: {
    meaning: "the certificate signing request's signature does not verify with the key it names",
  },
  csr_bad_subject: {
    meaning:
      'the certificate signing request subject has no single commonName that is a valid device id (or not the one asked for)',
  },
  csr_unsupported_key: { meaning: 'the certificate signing request names a key that is not EC P-256' },
  pkcs12_failed: { meaning: 'no PKCS#12 file: the device certificate is missing or does not match the key' },
  key_exists: { meaning: 'a private key file already exists at this path' },
  key_permissions: { meaning: 'a private key file is accessible by group or others (needs mode 0600)' },
  key_invalid: { meaning: 'the file is not a PEM private key' },
} as const;
