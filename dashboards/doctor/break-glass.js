// @ts-check
/**
 * @module dashboards/doctor/break-glass
 * The doctor's emergency access form (issue 18), shown only when `GET /api/care/me` says
 * `breakGlass: true`: a patient pseudonym and a mandatory reason → `POST
 * /api/care/patients/:p/break-glass {reason}`. The gateway records the opening and its reason
 * (the patient sees it); a refusal is shown with its code.
 */
import { postBreakGlass, refusalText } from '../common/care-api.js';
import { byId } from '../common/dom.js';

const PSEUDONYM = /^0x[0-9a-fA-F]{64}$/;

/**
 * Wires the form; `onOpened(pseudonym)` opens the patient's view after a granted opening.
 * @param {(patient: string) => void} onOpened
 */
export function wireBreakGlass(onOpened) {
  byId('bg-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const patient = /** @type {HTMLInputElement} */ (byId('bg-patient')).value.trim().toLowerCase();
    const reason = /** @type {HTMLInputElement} */ (byId('bg-reason')).value.trim();
    const error = byId('bg-error');
    const ok = byId('bg-ok');
    error.textContent = '';
    ok.textContent = '';
    if (!PSEUDONYM.test(patient)) {
      error.textContent = 'A patient pseudonym is 0x and 64 hexadecimal digits.';
      return;
    }
    if (!reason) {
      error.textContent = 'Give the reason for the emergency access.';
      return;
    }
    const submit = /** @type {HTMLButtonElement} */ (byId('bg-submit'));
    submit.disabled = true;
    try {
      const res = await postBreakGlass(patient, reason);
      if (!res.ok) {
        error.textContent = `Not opened: ${refusalText(res)}`;
        return;
      }
      ok.textContent = 'Opened. The opening and its reason are recorded and shown to the patient.';
      /** @type {HTMLInputElement} */ (byId('bg-reason')).value = '';
      onOpened(patient);
    } finally {
      submit.disabled = false;
    }
  });
}
