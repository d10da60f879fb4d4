/**
 * @module io/http/errors
 * The HTTP API's errors (STYLE.md §3): the `HttpError` class, the one mapping of a coded
 * error to its reply (status and fixed, input-free reason from the registry in
 * `protocol/error-codes.ts`), and the mapping of any thrown value to `{error:{code,reason}}`
 * at the boundary (fastify `createError`).
 */
import { type HttpErrorCode, httpStatusOf } from '../../protocol/error-codes.js';
import { VitalTrailError } from '../../protocol/errors.js';

/** The registered codes that carry an HTTP status. */
export type { HttpErrorCode };

/** The body of an error reply. */
export interface ErrorBody {
  error: { code: HttpErrorCode; reason: string };
}

/**
 * The one mapping of a coded error to its HTTP reply: the registry's status and
 * `{error:{code,reason}}` with the registry's fixed reason (`reason` only where a route
 * documents a more specific fixed text, e.g. the metrics token).
 * @example
 * const r = errorReply('not_admitted'); return reply.code(r.status).send(r.body);
 */
export function errorReply(
  code: HttpErrorCode,
  reason: string = httpStatusOf(code).reason,
): { status: number; body: ErrorBody } {
  return { status: httpStatusOf(code).status, body: { error: { code, reason } } };
}

export class HttpError extends VitalTrailError<HttpErrorCode> {
  override readonly name = 'HttpError';
  readonly status: number;
  /** Seconds for a `Retry-After` header (429 `too_many_attempts`, 503 `login_busy`). */
  readonly retryAfterS: number | undefined;

  constructor(code: HttpErrorCode, retryAfterS?: number) {
    super(code, httpStatusOf(code).reason);
    this.status = httpStatusOf(code).status;
    this.retryAfterS = retryAfterS;
  }
}

export function errorBody(code: HttpErrorCode): ErrorBody {
  return errorReply(code).body;
}

/** Maps any error to a known code; only codes and statuses, never messages, come from outside. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  // The group's shared database is away (io/shared): nothing was changed; retry shortly.
  if (err instanceof VitalTrailError && err.code === 'shared_unavailable')
    return new HttpError('shared_unavailable', 5);
  const e = err as { validation?: unknown; statusCode?: unknown };
  if (e?.validation !== undefined) return new HttpError('bad_request');
  switch (e?.statusCode) {
    case 400:
      return new HttpError('bad_request');
    case 404:
      return new HttpError('not_found');
    case 413:
      return new HttpError('payload_too_large');
    case 415:
      return new HttpError('unsupported_media_type');
    default:
      return new HttpError('internal');
  }
}
