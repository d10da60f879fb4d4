/**
 * @module test/helpers/http-client
 * JSON calls to a running gateway's HTTP API over real sockets (fetch), carrying a session
 * cookie, for the integration tests that sign in as several users.
 */

/** An answer: status, the JSON body (`{}` when empty) and the session cookie it set, if any. */
export interface Reply {
  status: number;
  body: Record<string, unknown>;
  cookie: string | undefined;
}

/** A JSON call with an optional session cookie; `cookie` is the `name=value` the answer set. */
export async function call(
  base: string,
  method: string,
  url: string,
  cookie?: string,
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: {
      ...(cookie ? { cookie } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const setCookie = res.headers.get('set-cookie');
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    cookie: setCookie ? (setCookie.split(';', 1)[0] as string) : undefined,
  };
}

/** The `error.code` of a coded error answer (undefined otherwise). */
export const errorCode = (r: Reply): string | undefined =>
  (r.body.error as { code?: string } | undefined)?.code;
