// @ts-check
/**
 * @module dashboards/ward/api
 * The ward page's calls to the gateway: JSON routes (a 401 means the session ended: the
 * page returns to the sign-in form, or a wall display signs in again with its token),
 * sign-in, a wall display's sign-in, sign-out, the session check and a user's own
 * password change.
 */
import { requestJson } from '../common/http.js';
import { emit, SESSION_ENDED_TEXT, state } from './state.js';

/**
 * @template T
 * @typedef {import('../common/http.js').ApiResult<T>} ApiResult
 */

/**
 * JSON API call; a 401 while signed in ends the session on the page.
 * @param {string} url
 * @param {'GET' | 'POST' | 'PUT'} [method]
 * @param {unknown} [body]
 * @returns {Promise<ApiResult<unknown>>}
 */
export async function api(url, method = 'GET', body = undefined) {
  const res = await requestJson(url, method, body);
  if (res.status === 401 && state.wanted) emit('session-ended', SESSION_ENDED_TEXT);
  return res;
}

/**
 * `POST /api/login`; the caller reads the answer (MeDto, 401, 429 with retry-after).
 * @param {string} username
 * @param {string} password
 * @returns {Promise<Response>} rejects when the gateway is unreachable
 */
export function postLogin(username, password) {
  return fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

/**
 * `POST /api/display/session`: a wall display's token for a session (200 MeDto; 401
 * `display_token_invalid` when the display was unenrolled; 429 while refusals back off).
 * @param {string} token
 * @returns {Promise<Response>} rejects when the gateway is unreachable
 */
export function postDisplaySession(token) {
  /** @type {import('../common/contract.js').DisplaySessionRequest} */
  const body = { token };
  return fetch('/api/display/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/**
 * `POST /api/logout`; signed out locally either way (the server session ends on idle).
 * @returns {Promise<void>}
 */
export async function postLogout() {
  try {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  } catch {
    // Signed out locally either way; the server session ends on idle.
  }
}

/**
 * `GET /api/me`: whether the session still lives (200 MeDto, 401).
 * @returns {Promise<Response>} rejects when the gateway is unreachable
 */
export function getMe() {
  return fetch('/api/me', { credentials: 'same-origin' });
}

/**
 * `POST /api/password` {current, next}: 200 MeDto; 401 `bad_credentials` (wrong current
 * password, the session lives on), 400 `password_weak`/`password_unchanged`. Not through
 * `api()`: that 401 must not end the session on the page.
 * @param {string} current
 * @param {string} next
 * @returns {Promise<ApiResult<unknown>>}
 */
export function postPassword(current, next) {
  /** @type {import('../common/contract.js').PasswordChangeRequest} */
  const body = { current, next };
  return requestJson('/api/password', 'POST', body);
}
