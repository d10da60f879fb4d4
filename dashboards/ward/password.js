// @ts-check
/**
 * @module dashboards/ward/password
 * "Choose a new password": shown instead of the ward when the session's `MeDto` says
 * `mustChangePassword` (an account added or reset by an administrator, gateway/src/cli/users.ts).
 * Until the change the gateway answers only `GET /api/me` and `POST /api/password`
 * (403 `password_change_required` elsewhere, gateway/src/io/http/login.ts). All text is
 * written with textContent.
 */
import { errorCode } from '../common/http.js';
import { postPassword } from './api.js';

/** @typedef {import('../common/contract.js').MeDto} MeDto */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** What the gateway's refusals mean to the user (error code or HTTP status). */
const MESSAGES = /** @type {Record<string, string>} */ ({
  bad_credentials: 'The current password is wrong.',
  password_weak: 'Use at least 12 characters, of two kinds or more (letters, digits, symbols).',
  password_unchanged: 'Choose a password other than the current one.',
  too_many_attempts: 'Too many wrong attempts. Wait a moment and try again.',
  account_disabled: 'This account is disabled.',
  0: 'The gateway is unreachable.',
});

/** @type {((me: MeDto) => void) | null} */
let done = null;
/** @type {(() => void) | null} */
let signOut = null;

/** @param {SubmitEvent} ev */
async function onSubmit(ev) {
  ev.preventDefault();
  const current = /** @type {HTMLInputElement} */ ($('pw-current'));
  const next = /** @type {HTMLInputElement} */ ($('pw-next'));
  const confirm = /** @type {HTMLInputElement} */ ($('pw-confirm'));
  const error = $('pw-error');
  const submit = /** @type {HTMLButtonElement} */ ($('pw-submit'));
  error.textContent = '';
  if (next.value !== confirm.value) {
    error.textContent = 'The two new passwords differ.';
    return;
  }
  submit.disabled = true;
  try {
    const res = await postPassword(current.value, next.value);
    if (res.ok) {
      for (const input of [current, next, confirm]) input.value = '';
      hidePasswordForm();
      done?.(/** @type {MeDto} */ (res.body));
      return;
    }
    const code = errorCode(res);
    if (code === 'unauthenticated') {
      signOut?.(); // the session ended meanwhile: back to the sign-in form
      return;
    }
    error.textContent = MESSAGES[String(code)] ?? 'The gateway could not change the password. Try again.';
  } finally {
    submit.disabled = false;
  }
}

/**
 * Shows the form for `me`; after a successful change `onDone` gets the new `MeDto` (the
 * ward), "Log out" calls `onLogout`.
 * @param {MeDto} me
 * @param {(me: MeDto) => void} onDone
 * @param {() => void} onLogout
 */
export function showPasswordForm(me, onDone, onLogout) {
  done = onDone;
  signOut = onLogout;
  const form = /** @type {HTMLFormElement} */ ($('pw-form'));
  if (!form.dataset.wired) {
    form.dataset.wired = 'true';
    form.addEventListener('submit', onSubmit);
    $('pw-logout').addEventListener('click', () => signOut?.());
  }
  $('pw-user').textContent = me.username;
  $('pw-error').textContent = '';
  $('pw-change').hidden = false;
  $('pw-current').focus();
}

/** Hides the form (sign-in form or ward shown instead). */
export function hidePasswordForm() {
  $('pw-change').hidden = true;
}
