// @ts-check
/**
 * @module dashboards/patient/consents
 * The patient's consents (issue 18): `GET /api/care/consents` as a table (doctor, status,
 * scope, data range, validity window, purpose, grant transaction) with a Revoke button on each
 * consent that is in force or not yet valid. Revoking signs EIP-712 `Revocation{consentId}` in
 * the browser with the patient's key (dashboards/patient/key `unlockKey`) and sends only the
 * signature: `POST /api/care/consents/:id/revoke`. Coded refusals are shown with their reason.
 */
import { postRevoke, refusalText } from '../common/care-api.js';
import { rangeText, scopeText, shortId, statusText } from '../common/care-format.js';
import { appendCell, byId } from '../common/dom.js';
import { errorText } from '../common/format.js';
import { consentLib, unlockKey } from './key.js';

/** @typedef {import('../common/care-api.js').CareMe} CareMe */
/** @typedef {import('../common/care-api.js').CareConsent} CareConsent */

/**
 * The doctor's user name when the patient's doctor list knows the clinician id.
 * @param {ReadonlyMap<string, string>} names clinician id (lower-case) → user name
 * @param {string} id
 */
const doctorName = (names, id) => names.get(id.toLowerCase()) ?? shortId(id);

/**
 * Fills the consents table, newest validity first.
 * @param {CareConsent[]} consents
 * @param {ReadonlyMap<string, string>} names
 * @param {(id: string) => void} onRevoke
 */
export function renderConsents(consents, names, onRevoke) {
  const tbody = /** @type {HTMLTableSectionElement} */ (byId('consent-table').querySelector('tbody'));
  const rows = [...consents].sort((a, b) => b.validFrom - a.validFrom);
  tbody.replaceChildren(
    ...rows.map((c) => {
      const tr = document.createElement('tr');
      tr.dataset.consent = c.id;
      tr.dataset.status = c.status;
      appendCell(tr, doctorName(names, c.doctor));
      appendCell(tr, statusText(c.status), `status ${c.status}`);
      appendCell(tr, scopeText(c.scope));
      appendCell(tr, rangeText(c.dataFrom, c.dataUntil));
      appendCell(tr, rangeText(c.validFrom, c.validUntil));
      appendCell(tr, c.purpose);
      appendCell(tr, c.grantTx ? shortId(c.grantTx) : '—');
      /** @type {HTMLElement} */ (tr.children[6]).title = c.grantTx ?? '';
      const td = document.createElement('td');
      if (c.status === 'in_force' || c.status === 'not_yet') {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'revoke';
        b.textContent = 'Revoke';
        b.setAttribute(
          'aria-label',
          `Revoke the consent for ${doctorName(names, c.doctor)} (${shortId(c.id)})`,
        );
        b.addEventListener('click', () => onRevoke(c.id));
        td.append(b);
      }
      tr.append(td);
      return tr;
    }),
  );
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    appendCell(tr, 'You have not granted any doctor access yet.', 'empty');
    /** @type {HTMLTableCellElement} */ (tr.firstChild).colSpan = 8;
    tbody.append(tr);
  }
}

/**
 * Signs and sends the revocation of `consentId`; `done` reloads the page's lists.
 * @param {CareMe} me
 * @param {string} consentId
 * @param {(message: string) => Promise<void>} done
 */
export async function revoke(me, consentId, done) {
  const error = byId('consent-error');
  const ok = byId('consent-ok');
  error.textContent = '';
  ok.textContent = '';
  if (!me.chain) return;
  document.body.dataset.busy = 'revoke';
  try {
    const pass = /** @type {HTMLInputElement} */ (byId('sign-pass'));
    const account = await unlockKey(me, pass.value);
    pass.value = '';
    const signature = await consentLib().signRevocation(
      account,
      me.chain,
      /** @type {`0x${string}`} */ (consentId),
    );
    const res = await postRevoke(consentId, signature);
    if (!res.ok) {
      error.textContent = `Not revoked: ${refusalText(res)}`;
      return;
    }
    await done(
      `Revoked consent ${shortId(consentId)} (transaction ${res.body.txHash}, block ${res.body.block}).`,
    );
  } catch (err) {
    error.textContent = `Not revoked: ${errorText(err)}`;
  } finally {
    delete document.body.dataset.busy;
  }
}
