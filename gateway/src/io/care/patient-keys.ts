/**
 * @module io/care/patient-keys
 * The patients' signing keys as the patient portal made them (issue 18; store schema v9,
 * table `care_patient_keys`, owned here): per pseudonym, the account registered on the chain
 * and the keystore the portal sealed with the patient's passphrase (anchor/src/consent
 * keystore: PBKDF2-SHA256 + AES-256-GCM in the browser). The gateway keeps the keystore so the
 * patient can sign from any browser; it never has the passphrase, so it cannot open it. The
 * chain's `patientKey(pseudonym)` stays the truth about which key signs for a patient.
 */
import type { GatewayStore } from '../store/index.js';

/** The largest keystore kept, in bytes of its JSON (the portal's is about 300). */
export const KEYSTORE_MAX_BYTES = 2048;

/** A patient's key as kept here. */
export interface PatientKeyRow {
  /** The account's address, lower-case `0x` + 40 hex. */
  address: string;
  /** The portal's keystore JSON, as the portal sent it. */
  keystore: unknown;
  updatedAt: number;
}

type Raw = { address: string; keystore: string; updated_at: number };

/** The `care_patient_keys` table. */
export class PatientKeys {
  readonly #get;
  readonly #put;

  constructor(store: Pick<GatewayStore, 'db'>) {
    this.#get = store.db.prepare(
      'SELECT address, keystore, updated_at FROM care_patient_keys WHERE patient = ?',
    );
    this.#put = store.db.prepare(
      `INSERT INTO care_patient_keys (patient, address, keystore, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (patient) DO UPDATE SET address = excluded.address, keystore = excluded.keystore,
       updated_at = excluded.updated_at`,
    );
  }

  /** The key kept for a pseudonym, or null. */
  get(patient: string): PatientKeyRow | null {
    const r = this.#get.get(patient.toLowerCase()) as Raw | undefined;
    return r ? { address: r.address, keystore: JSON.parse(r.keystore), updatedAt: r.updated_at } : null;
  }

  /**
   * Keeps (or replaces) a patient's key.
   * @throws {RangeError} when the keystore's JSON is over `KEYSTORE_MAX_BYTES`.
   */
  put(patient: string, address: string, keystore: unknown, now = Date.now()): void {
    const json = JSON.stringify(keystore);
    if (Buffer.byteLength(json) > KEYSTORE_MAX_BYTES) throw new RangeError('keystore too large');
    this.#put.run(patient.toLowerCase(), address.toLowerCase(), json, now);
  }
}
