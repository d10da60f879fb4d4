// @ts-check
/**
 * @module dashboards/doctor/break-glass
 * The doctor's emergency access form (issue 18), shown only when `GET /api/care/me` says
 * `breakGlass: true`: the patient's hospital id (or their pseudonym) and a mandatory reason →
 * `POST /api/care/break-glass {patientId, reason}` (or `POST /api/care/patients/:p/break-glass
 * {reason}`). The gateway records the opening and its reason
 * (the patient sees it); a refusal is shown with its code.
 */
import { postBreakGlass, postBreakGlassById, refusalText } from '../common/care-api.js';
import { byId } from '../common/dom.js';

const PSEUDONYM = /^0x[0-9a-fA-F]{64}$/;
/** A hospital patient id as the gateway takes it. */
const PATIENT_ID = /^[A-Za-z0-9._:/-]{1,64}$/;

/**
 * Wires the form; `onOpened(pseudonym)` opens the patient's view after a granted opening.
 * @param {(patient: string) => void} onOpened
 */
export function wireBreakGlass(onOpened) {
  byId('bg-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const typed = /** @type {HTMLInputElement} */ (byId('bg-patient')).value.trim();
    const reason = /** @type {HTMLInputElement} */ (byId('bg-reason')).value.trim();
    const error = byId('bg-error');
    const ok = byId('bg-ok');
    error.textContent = '';
    ok.textContent = '';
    const byPseudonym = PSEUDONYM.test(typed);
    if (!byPseudonym && !PATIENT_ID.test(typed)) {
      error.textContent = 'Give the patient id (1-64 letters, digits or ._:/-) or their pseudonym.';
      return;
    }
    if (!reason) {
      error.textContent = 'Give the reason for the emergency access.';
      return;
    }
    const submit = /** @type {HTMLButtonElement} */ (byId('bg-submit'));
    submit.disabled = true;
    try {
      const res = byPseudonym
        ? await postBreakGlass(typed.toLowerCase(), reason)
        : await postBreakGlassById(typed, reason);
      if (!res.ok) {
        error.textContent = `Not opened: ${refusalText(res)}`;
        return;
      }
      ok.textContent = 'Opened. The opening and its reason are recorded and shown to the patient.';
      /** @type {HTMLInputElement} */ (byId('bg-reason')).value = '';
      const opened = /** @type {{patient: string}} */ (res.body).patient;
      onOpened(opened);
    } finally {
      submit.disabled = false;
    }
  });
}
