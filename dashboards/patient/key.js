// @ts-check
/**
 * @module dashboards/patient/key
 * "Your key" of the patient portal (issue 18): shows whether a key is registered for the
 * patient's pseudonym on the chain, and when none is, makes one in this browser (or imports a
 * wallet's raw private key), seals it under the patient's passphrase (anchor/src/consent/keystore:
 * PBKDF2-SHA256 600000 + AES-256-GCM, WebCrypto) and registers it: `PUT /api/care/me/key`
 * `{address, keystore, proof}`, the proof the key's EIP-191 signature. The passphrase and the
 * private key never leave the browser; the gateway keeps the sealed keystore only.
 * `unlockKey` opens the stored keystore when the patient signs, and keeps the account for five
 * minutes (then forgets it).
 */
import { putKey, refusalText } from '../common/care-api.js';
import { byId } from '../common/dom.js';
import { errorText } from '../common/format.js';

/** @typedef {import('../common/care-api.js').CareMe} CareMe */
/** @typedef {import('../../anchor/src/consent/browser.js').VitalTrailConsentApi} ConsentApi */
/** @typedef {Awaited<ReturnType<ConsentApi['unlock']>>} Account */

/** How long an opened key stays usable without the passphrase again. */
const UNLOCKED_MS = 5 * 60_000;

/** @type {{account: Account, until: number} | null} */
let unlocked = null;

/**
 * The signing bundle (`/care/consent.js`, `globalThis.VitalTrailConsent`).
 * @returns {ConsentApi}
 * @throws {Error} when the bundle did not load.
 */
export function consentLib() {
  const lib = /** @type {{VitalTrailConsent?: ConsentApi}} */ (globalThis).VitalTrailConsent;
  if (!lib) throw new Error('the signing module (/care/consent.js) did not load; reload the page');
  return lib;
}

/**
 * Renders the key's state for `me`; the forms show when no key is registered, or when one is
 * but this portal keeps no sealed copy of it (then only an import of that same key helps).
 * @param {CareMe} me
 */
export function renderKey(me) {
  const k = me.patientKey ?? { address: null, keystore: null };
  const state = byId('key-state');
  byId('key-create').hidden = Boolean(k.address);
  if (!me.chain) {
    state.textContent =
      'This hospital has no consent contract on a chain: consents cannot be granted here yet.';
    byId('key-forms').hidden = true;
  } else if (k.address && k.keystore) {
    state.textContent = `Your key ${k.address} is registered for you on the consortium chain; it is sealed under your passphrase.`;
    byId('key-forms').hidden = true;
  } else if (k.address) {
    state.textContent = `A key (${k.address}) is registered for you on the chain, but this portal keeps no sealed copy of it. Import that key to sign here.`;
    byId('key-forms').hidden = false;
  } else {
    state.textContent =
      'You have no key yet. Make one (or bring one from a wallet) to grant doctors access to your data.';
    byId('key-forms').hidden = false;
  }
  document.body.dataset.key = k.address && k.keystore ? 'registered' : 'none';
}

/**
 * Opens the stored keystore with `passphrase` (or reuses the account opened in the last five
 * minutes) and checks it is the key registered on the chain.
 * @param {CareMe} me
 * @param {string} passphrase
 * @returns {Promise<Account>}
 * @throws {Error} coded (`wrong_passphrase`, `keystore_mismatch`, …) or plain.
 */
export async function unlockKey(me, passphrase) {
  const k = me.patientKey;
  if (!k?.address || !k.keystore) throw new Error('register your key first ("Your key" above)');
  if (
    unlocked &&
    unlocked.until > Date.now() &&
    unlocked.account.address.toLowerCase() === k.address.toLowerCase() &&
    !passphrase
  ) {
    unlocked.until = Date.now() + UNLOCKED_MS;
    return unlocked.account;
  }
  if (!passphrase) throw new Error('enter the passphrase of your key to sign');
  const account = await consentLib().unlock(k.keystore, passphrase, k.address);
  unlocked = { account, until: Date.now() + UNLOCKED_MS };
  return account;
}

/** Forgets the opened key (sign-out). */
export function lockKey() {
  unlocked = null;
}

/**
 * Wires the two forms; `onRegistered` reloads the page's state after a registration.
 * @param {() => CareMe | null} currentMe
 * @param {(message: string) => Promise<void>} onRegistered
 */
export function wireKeyForms(currentMe, onRegistered) {
  const error = byId('key-error');
  /**
   * @param {HTMLFormElement} form
   * @param {(lib: ConsentApi, pass: string) => Promise<{account: Account, keystore: import('../common/care-api.js').Keystore}>} make
   * @param {string} passId
   * @param {string} againId
   */
  const wire = (form, make, passId, againId) =>
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const me = currentMe();
      const pass = /** @type {HTMLInputElement} */ (byId(passId));
      const again = /** @type {HTMLInputElement} */ (byId(againId));
      if (!me) return;
      if (pass.value !== again.value) {
        error.textContent = 'The two passphrases differ.';
        return;
      }
      const submit = /** @type {HTMLButtonElement} */ (form.querySelector('button[type=submit]'));
      submit.disabled = true;
      document.body.dataset.busy = 'key';
      byId('status').textContent = 'Sealing your key (this takes a second)…';
      try {
        const lib = consentLib();
        const { account, keystore } = await make(lib, pass.value);
        const { address, proof } = await lib.signKeyProof(account, /** @type {`0x${string}`} */ (me.subject));
        byId('status').textContent = 'Registering your key on the consortium chain…';
        const res = await putKey({ address, keystore, proof });
        if (!res.ok) {
          error.textContent = `Not registered: ${refusalText(res)}`;
          return;
        }
        for (const input of form.querySelectorAll('input')) input.value = '';
        unlocked = { account, until: Date.now() + UNLOCKED_MS };
        await onRegistered(
          res.body.txHash
            ? `Your key ${address} is registered (transaction ${res.body.txHash}, block ${res.body.block}).`
            : `Your key ${address} was already registered; its sealed copy is now kept here.`,
        );
      } catch (err) {
        error.textContent = errorText(err) ?? 'The key could not be made.';
      } finally {
        submit.disabled = false;
        delete document.body.dataset.busy;
        if (byId('status').textContent?.endsWith('…')) byId('status').textContent = '';
      }
    });
  wire(
    /** @type {HTMLFormElement} */ (byId('key-create')),
    (lib, p) => lib.createKey(p),
    'kc-pass',
    'kc-pass2',
  );
  wire(
    /** @type {HTMLFormElement} */ (byId('key-import')),
    (lib, p) => lib.importKey(/** @type {HTMLInputElement} */ (byId('ki-key')).value, p),
    'ki-pass',
    'ki-pass2',
  );
}
