/**
 * @module io/care
 * Patients and doctors (issue 18): the gateway's copy of the consents and doctors on the
 * consortium chain and the decision on a doctor's request (`ConsentBook`); which patient a
 * pseudonym names (`PatientIndex`); break-glass openings (`BreakGlassBook`) and their alarm on
 * the central station (`BreakGlassAlarms`).
 */
export { BREAK_GLASS_LIST_MAX, BreakGlassBook } from './break-glass.js';
export { BreakGlassAlarms, type BreakGlassAlarmsOptions } from './break-glass-alarms.js';
export { ClinicianBar, type ClinicianBarOptions, DEFAULT_CLINICIAN_REFRESH_MS } from './clinician-bar.js';
export {
  ConsentBook,
  type ConsentBookOptions,
  type ConsentSource,
  DEFAULT_CONSENT_MAX_STALE_MS,
  DEFAULT_CONSENT_REFRESH_MS,
  termsOf,
} from './consent-book.js';
export { PatientIndex } from './patient-index.js';
export { KEYSTORE_MAX_BYTES, type PatientKeyRow, PatientKeys } from './patient-keys.js';
