// @ts-check
/**
 * @module dashboards/common/http
 * The pages' fetch wrapper: same-origin JSON calls that never throw. A network failure is
 * status 0; a body that is not JSON is null. Error bodies are the gateway's
 * `{error:{code,reason}}` (core/live-contract `ErrorBody`).
 */

/** @typedef {import('./contract.js').ErrorBody} ErrorBody */

/**
 * The outcome of a JSON call; `body` is `T` when `ok`.
 * @template T
 * @typedef {{ok: true, status: number, body: T} | {ok: false, status: number, body: Partial<ErrorBody> | null}} ApiResult
 */

/**
 * Calls a JSON route of the gateway with the session cookie.
 * @param {string} url
 * @param {'GET' | 'POST' | 'PUT'} [method]
 * @param {unknown} [body] sent as JSON when given
 * @returns {Promise<ApiResult<unknown>>}
 */
export async function requestJson(url, method = 'GET', body = undefined) {
  let res;
  try {
    res = await fetch(url, {
      method,
      credentials: 'same-origin',
      ...(body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {}),
    });
  } catch {
    return { ok: false, status: 0, body: null };
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  return res.ok
    ? { ok: true, status: res.status, body: json }
    : { ok: false, status: res.status, body: json };
}

/**
 * The error code of a failed call, else its HTTP status (0: the gateway is unreachable).
 * @param {ApiResult<unknown>} res
 * @returns {string | number}
 */
export function errorCode(res) {
  return (res.ok ? undefined : res.body?.error?.code) ?? res.status;
}
