// @ts-check
/**
 * @module dashboards/common/care-format
 * How the patient portal and the doctor's page word consents and accesses (issue 18): scope,
 * data range, validity window, status, short ids, the basis of an access. Pure.
 */
import { formatDateTime } from './format.js';

/** @typedef {import('./care-api.js').CareConsent} CareConsent */
/** @typedef {import('./care-api.js').AccessBasis} AccessBasis */

/**
 * "vital signs", "ECG", "vital signs and ECG".
 * @param {number} scope bits: 1 vitals, 2 ECG
 * @returns {string}
 */
export function scopeText(scope) {
  const parts = [];
  if (scope & 1) parts.push('vital signs');
  if (scope & 2) parts.push('ECG');
  return parts.length ? parts.join(' and ') : `scope ${scope}`;
}

/**
 * A range of ms times: "2 Dec 14:05 – 3 Dec 14:05"; `until` 0 is an open end ("from … on").
 * @param {number} from
 * @param {number} until
 * @returns {string}
 */
export function rangeText(from, until) {
  return until ? `${formatDateTime(from)} – ${formatDateTime(until)}` : `from ${formatDateTime(from)} on`;
}

/** @type {Record<CareConsent['status'], string>} */
const STATUS = { in_force: 'in force', not_yet: 'not yet valid', expired: 'expired', revoked: 'revoked' };

/**
 * @param {CareConsent['status']} status
 * @returns {string}
 */
export const statusText = (status) => STATUS[status] ?? status;

/**
 * "0x3f24…446a": a long hex id, shortened for a table (the whole id is its title).
 * @param {string} hex
 * @returns {string}
 */
export const shortId = (hex) => (hex.length > 14 ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : hex);

/**
 * The basis of an access in words.
 * @param {AccessBasis} basis
 * @returns {string}
 */
export function basisText(basis) {
  switch (basis.type) {
    case 'ward':
      return 'ward team (admitted)';
    case 'self':
      return 'you';
    case 'consent':
      return `consent ${shortId(basis.consentId)}`;
    case 'break_glass':
      return `BREAK-GLASS: ${basis.reason}`;
    default:
      return String(/** @type {{type: unknown}} */ (basis).type);
  }
}

/**
 * UTF-8 length of `text` in bytes (the contract limits `purpose` to 200).
 * @param {string} text
 * @returns {number}
 */
export const utf8Bytes = (text) => new TextEncoder().encode(text).length;
