// @ts-check
/**
 * @module dashboards/ward/vitals
 * Names, ranks and texts of the vitals, NEWS2 bands and alarm priorities, as the ward
 * page shows them. Band names come from the contract (dashboards/common/contract.js).
 */
import { NEWS2_BANDS } from '../common/contract.js';

/** @typedef {import('../common/contract.js').News2Dto} News2Dto */
/** @typedef {import('../common/contract.js').News2Band} News2Band */
/** @typedef {import('../common/contract.js').AlarmPriority} AlarmPriority */
/** @typedef {import('../common/contract.js').LimitVital} LimitVital */

/** A tile turns grey ("offline") when its last frame is older than this. */
export const OFFLINE_AFTER_MS = 30_000;
/** Vitals shown as integers (temp is shown in °C). */
export const VITAL_FIELDS = /** @type {const} */ (['hr', 'spo2', 'rr', 'sbp', 'dbp']);
/** @type {readonly LimitVital[]} */
export const LIMIT_VITALS = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'];
/** @type {Readonly<Record<string, string>>} */
export const VITAL_NAMES = {
  hr: 'HR',
  spo2: 'SpO₂',
  rr: 'RR',
  temp: 'Temp',
  sbp: 'Systolic BP',
  dbp: 'Diastolic BP',
  consciousness: 'Consciousness (ACVPU)',
};
/** Short names, where space is tight (tiles, the alarm-off indicator). @type {Readonly<Record<string, string>>} */
export const VITAL_SHORT = { hr: 'HR', spo2: 'SpO₂', rr: 'RR', temp: 'Temp', sbp: 'SBP', dbp: 'DBP' };
/** @type {Readonly<Record<AlarmPriority | 'none', number>>} */
export const PRIORITY_RANK = { none: 0, low: 1, medium: 2, high: 3 };
/** Band rank: its place in the contract's list, lowest first (`none`: no score yet). */
export const BAND_RANK = /** @type {Readonly<Record<News2Band | 'none', number>>} */ (
  Object.fromEntries([['none', 0], ...NEWS2_BANDS.map((b, i) => [b, i])])
);
/** @type {Readonly<Record<News2Band, string>>} */
export const BAND_TEXT = { zero: '0', low: 'low', low_medium: 'single 3', medium: 'medium', high: 'high' };
/** Roles that admit and discharge (the store's admission API). */
export const ADMIT_ROLES = new Set(['admin', 'charge_nurse']);

/**
 * The score as shown on a badge: `≥n` when partial.
 * @param {News2Dto | null} n
 * @returns {string}
 */
export function news2Text(n) {
  if (!n) return '—';
  return n.partial ? `≥${n.score}` : String(n.score);
}
