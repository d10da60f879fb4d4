// @ts-check
/**
 * @module dashboards/patient/grant
 * The form that lets a doctor see the patient's data (issue 18): a doctor from
 * `GET /api/care/doctors` (the portal signs their clinician id), the scope (vital signs, ECG),
 * the history range (last 24 h, 7 or 30 days, or custom), how long it is valid (24 h, 7 or 30
 * days from now) and the purpose (at most 200 UTF-8 bytes, public on the chain: the form says
 * so). The grant is signed in the browser (EIP-712 `Consent`, anchor/src/consent/browser
 * `signGrant`) and only the signed message goes to `POST /api/care/consents`, which relays it to
 * the consent contract. The contract's own rules are checked before signing (coded
 * `grant_invalid`), its refusals shown as `consent_rejected` with the rule.
 */
import { postGrant, refusalText } from '../common/care-api.js';
import { shortId, utf8Bytes } from '../common/care-format.js';
import { byId } from '../common/dom.js';
import { errorText } from '../common/format.js';
import { consentLib, unlockKey } from './key.js';

/** @typedef {import('../common/care-api.js').CareMe} CareMe */
/** @typedef {import('../common/care-api.js').Doctor} Doctor */

const $in = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (byId(id));
const $sel = (/** @type {string} */ id) => /** @type {HTMLSelectElement} */ (byId(id));

/**
 * The doctors the patient may pick (suspended ones are listed, disabled).
 * @param {Doctor[]} doctors
 */
export function fillDoctors(doctors) {
  const sel = $sel('g-doctor');
  const keep = sel.value;
  sel.replaceChildren(
    ...doctors.map((d) => {
      const o = document.createElement('option');
      o.value = d.clinicianId;
      o.textContent = d.suspended ? `${d.username} (suspended)` : d.username;
      o.disabled = d.suspended === true;
      return o;
    }),
  );
  if (doctors.some((d) => d.clinicianId === keep)) sel.value = keep;
}

/**
 * The terms the form describes, at `now`.
 * @param {string} patient
 * @param {number} now
 * @returns {import('../../anchor/src/consent/browser.js').GrantTerms}
 * @throws {Error} on a custom range that is not filled in.
 */
export function termsOf(patient, now) {
  const history = $sel('g-history').value;
  let dataFrom = now - Number(history);
  let dataUntil = 0;
  if (history === 'custom') {
    dataFrom = Date.parse($in('g-from').value);
    dataUntil = $in('g-until').value ? Date.parse($in('g-until').value) : 0;
    if (!Number.isFinite(dataFrom) || !Number.isFinite(dataUntil))
      throw new Error('choose the start of the range');
  }
  const scope = ($in('g-vitals').checked ? 1 : 0) | ($in('g-ecg').checked ? 2 : 0);
  if (scope === 0) throw new Error('choose vital signs, ECG or both');
  return {
    patient: /** @type {`0x${string}`} */ (patient),
    doctor: /** @type {`0x${string}`} */ ($sel('g-doctor').value),
    scope,
    dataFrom: Math.max(0, dataFrom),
    dataUntil,
    // a minute back: the doctor may use it at once, whatever the clocks' skew
    validFrom: now - 60_000,
    validUntil: now + Number($sel('g-valid').value),
    purpose: $in('g-purpose').value.trim(),
  };
}

/**
 * Wires the form; `done` reloads the lists after a grant.
 * @param {() => CareMe | null} currentMe
 * @param {(message: string) => Promise<void>} done
 */
export function wireGrant(currentMe, done) {
  const purpose = $in('g-purpose');
  const count = () => {
    const n = utf8Bytes(purpose.value);
    byId('g-bytes').textContent = String(n);
    purpose.setCustomValidity(n > 200 ? 'At most 200 bytes (letters with accents count two).' : '');
  };
  purpose.addEventListener('input', count);
  $sel('g-history').addEventListener('change', () => {
    byId('g-custom').hidden = $sel('g-history').value !== 'custom';
  });
  byId('grant').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const me = currentMe();
    const error = byId('consent-error');
    const ok = byId('consent-ok');
    error.textContent = '';
    ok.textContent = '';
    if (!me?.chain) return;
    const submit = /** @type {HTMLButtonElement} */ (byId('g-submit'));
    submit.disabled = true;
    document.body.dataset.busy = 'grant';
    try {
      const terms = termsOf(me.subject, Date.now());
      const pass = $in('sign-pass');
      const account = await unlockKey(me, pass.value);
      pass.value = '';
      const signed = await consentLib().signGrant(account, me.chain, terms);
      const res = await postGrant({ message: signed.message, signature: signed.signature });
      if (!res.ok) {
        error.textContent = `Not granted: ${refusalText(res)}`;
        return;
      }
      purpose.value = '';
      count();
      await done(
        `Granted: consent ${shortId(res.body.consent.id)} for ${$sel('g-doctor').selectedOptions[0]?.textContent} (transaction ${res.body.txHash}, block ${res.body.block}).`,
      );
    } catch (err) {
      error.textContent = `Not granted: ${errorText(err)}`;
    } finally {
      submit.disabled = false;
      delete document.body.dataset.busy;
    }
  });
}
