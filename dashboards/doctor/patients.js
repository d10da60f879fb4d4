// @ts-check
/**
 * @module dashboards/doctor/patients
 * The doctor's patients (issue 18): `GET /api/care/patients` (the patients whose consent is in
 * force for the doctor now, by id) as a table with each consent's scope, data range, validity
 * and purpose, and an Open button; and the range a view asks for: within the consent's data
 * range (`dataFrom`, `dataUntil` unless open) and at most the last 24 hours, so the gateway
 * never has to refuse it as `consent_out_of_scope`.
 */
import { rangeText, scopeText, shortId } from '../common/care-format.js';
import { appendCell, byId } from '../common/dom.js';

/** @typedef {import('../common/care-api.js').ConsentedPatient} ConsentedPatient */
/** @typedef {import('../common/care-api.js').CareConsent} CareConsent */

/** The longest range a view asks for by default. */
export const VIEW_MS = 24 * 3_600_000;

/**
 * The consent holding every bit of `scope` (1 vitals, 2 ECG, 3 both) that covers the most
 * recent data.
 * @param {CareConsent[]} consents
 * @param {number} scope
 * @returns {CareConsent | undefined}
 */
export function scopeConsent(consents, scope) {
  const end = (/** @type {CareConsent} */ c) => (c.dataUntil === 0 ? Number.POSITIVE_INFINITY : c.dataUntil);
  return consents
    .filter((c) => (c.scope & scope) === scope)
    .sort((a, b) => end(b) - end(a) || a.dataFrom - b.dataFrom)[0];
}

/**
 * The consent that serves a view of vital signs: the one covering the most recent data.
 * @param {CareConsent[]} consents
 * @returns {CareConsent | undefined}
 */
export function vitalsConsent(consents) {
  return scopeConsent(consents, 1);
}

/**
 * The range to ask for under `consent` at `now`: its data range, cut to the last `maxMs`.
 * @param {CareConsent} consent
 * @param {number} now
 * @param {number} [maxMs]
 * @returns {{from: number, to: number} | null} null when the consent's range is wholly in the future
 */
export function clampRange(consent, now, maxMs = VIEW_MS) {
  const to = consent.dataUntil === 0 ? now : Math.min(now, consent.dataUntil);
  const from = Math.max(consent.dataFrom, to - maxMs);
  return from <= to ? { from, to } : null;
}

/**
 * Fills the patients table.
 * @param {ConsentedPatient[]} patients
 * @param {(p: ConsentedPatient) => void} onOpen
 */
export function renderPatients(patients, onOpen) {
  const tbody = /** @type {HTMLTableSectionElement} */ (byId('patient-table').querySelector('tbody'));
  tbody.replaceChildren(
    ...patients.map((p) => {
      const c = vitalsConsent(p.consents) ?? p.consents[0];
      const tr = document.createElement('tr');
      tr.dataset.patient = p.patient;
      appendCell(tr, `${p.patientId} (${shortId(p.patient)})`);
      appendCell(tr, c ? scopeText(c.scope) : '');
      appendCell(tr, c ? rangeText(c.dataFrom, c.dataUntil) : '');
      appendCell(tr, c ? rangeText(c.validFrom, c.validUntil) : '');
      appendCell(tr, c?.purpose ?? '');
      const td = document.createElement('td');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'open';
      b.textContent = 'Open';
      b.setAttribute('aria-label', `Open the readings of ${p.patientId}`);
      b.addEventListener('click', () => onOpen(p));
      td.append(b);
      tr.append(td);
      return tr;
    }),
  );
  if (patients.length === 0) {
    const tr = document.createElement('tr');
    appendCell(tr, 'No patient consents to you now.', 'empty');
    /** @type {HTMLTableCellElement} */ (tr.firstChild).colSpan = 6;
    tbody.append(tr);
  }
}
