// @ts-check
/**
 * @module dashboards/common/sign-in
 * The sign-in form of the patient portal and the doctor's page (issue 18): the same
 * `POST /api/login` flow as the ward page (dashboards/ward/app.js, gateway/src/io/http/login.ts),
 * the same messages for its refusals (401 wrong credentials, 403 disabled, 429 with
 * retry-after). The form's elements are found by id: `login`, `login-form`, `username`,
 * `password`, `login-error`, `login-submit`.
 */
import { byId } from './dom.js';

/** @typedef {import('./contract.js').MeDto} MeDto */

/**
 * `POST /api/login`, then `onSignedIn(me)`; refusals are written into `#login-error`.
 * @param {(me: MeDto) => void} onSignedIn
 */
export function wireSignIn(onSignedIn) {
  const form = byId('login-form');
  const error = byId('login-error');
  const user = /** @type {HTMLInputElement} */ (byId('username'));
  const pass = /** @type {HTMLInputElement} */ (byId('password'));
  const submit = /** @type {HTMLButtonElement} */ (byId('login-submit'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const res = await fetch('/api/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.value, password: pass.value }),
      });
      pass.value = '';
      if (res.ok) {
        onSignedIn(/** @type {MeDto} */ (await res.json()));
        return;
      }
      if (res.status === 401) error.textContent = 'Wrong username or password.';
      else if (res.status === 403) error.textContent = 'This account is disabled. Ask the hospital.';
      else if (res.status === 429) {
        const wait = Number(res.headers.get('retry-after')) || 1;
        error.textContent = `Too many failed attempts. Try again in ${wait} s.`;
      } else error.textContent = 'The gateway could not sign you in. Try again.';
    } catch {
      error.textContent = 'The gateway is unreachable.';
    } finally {
      submit.disabled = false;
    }
  });
}

/**
 * Shows the sign-in form (with `message`), hiding `main`.
 * @param {HTMLElement} main
 * @param {string} [message]
 */
export function showSignIn(main, message = '') {
  main.hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = message;
  /** @type {HTMLInputElement} */ (byId('username')).focus();
}

/**
 * `POST /api/logout` (signed out locally either way).
 * @returns {Promise<void>}
 */
export async function signOut() {
  try {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  } catch {
    // the server session ends on idle
  }
}

/**
 * A signed-in user whose role this page is not for: where to go instead.
 * @param {string} role
 * @returns {string}
 */
export function homeOf(role) {
  return role === 'patient' ? '/patient/' : role === 'doctor' ? '/doctor/' : '/';
}
