/**
 * @module io/identity/device-history
 * The certificates a device had before its current one. A re-enrolment replaces the row of
 * `devices` (io/store/store `upsertDevice`); a trigger of the schema (version 4) keeps the
 * certificate it replaced in `device_certificates`, so that a disclosure of older frames
 * carries the certificate that signed them (PROTOCOL.md §6: "`devices` may hold several
 * certificates of one device (re-enrolment); an entry is checked against the one whose key
 * signed it"). Certificates replaced before version 4 were not kept.
 */
import type { GatewayStore } from '../store/index.js';

/** The certificates (PEM) `dev` had before its current one, oldest first. */
export function supersededCertificates(store: GatewayStore, dev: string): string[] {
  return store.db
    .prepare('SELECT cert_pem FROM device_certificates WHERE dev = ? ORDER BY superseded_at, cert_pem')
    .pluck()
    .all(dev) as string[];
}
