/**
 * @module protocol/errors
 * The one error base class of VitalTrail (STYLE.md §3, after sigstore `BaseError<T>`
 * and viem `BaseError`): every failure carries a short snake_case `code` from the
 * registry in `error-codes.ts` (a compile error otherwise) and a human `reason` that never
 * contains vitals, keys or other attacker-supplied values.
 */
import type { ErrorCode, ErrorGroup, ErrorGroupCode } from './error-codes.js';

export class VitalTrailError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: string = 'VitalTrailError';
  readonly code: C;
  /** A short human explanation; safe to log and to send to the device. */
  readonly reason: string;

  constructor(code: C, reason: string, options?: { cause?: unknown }) {
    super(`${code}: ${reason}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = reason;
  }

  /** Walks the `cause` chain; returns the first error matching `fn`, or the deepest one. */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this;
    for (;;) {
      if (fn?.(err)) return err;
      const next = err instanceof Error ? err.cause : undefined;
      if (next === undefined) return fn ? undefined : err;
      err = next;
    }
  }
}

/** True when `err` is a VitalTrailError, optionally with one of the given codes. */
export function isVitalTrailError<C extends ErrorCode>(
  err: unknown,
  ...codes: C[]
): err is VitalTrailError<C> {
  return err instanceof VitalTrailError && (codes.length === 0 || codes.includes(err.code as C));
}

/**
 * The system's or SQLite's own code of an error that is not ours (`ENOSPC`, `SQLITE_FULL`,
 * `ECONNREFUSED`), on it or on its cause; null when there is none.
 */
export function systemCode(err: unknown): string | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(c)) return c;
  }
  return null;
}

/**
 * An error's code for a log line (never its message: it may name a device or a path): ours,
 * else the system's or SQLite's own (`systemCode`); `unknown` when there is none.
 */
export function logCode(err: unknown): string {
  return err instanceof VitalTrailError ? err.code : (systemCode(err) ?? 'unknown');
}

/** The constructor `errorClass` returns: a `VitalTrailError` of one registry group's codes. */
export type ErrorClass<G extends ErrorGroup> = new (
  code: ErrorGroupCode<G>,
  reason: string,
  options?: { cause?: unknown },
) => VitalTrailError<ErrorGroupCode<G>>;

/**
 * The base of one module's error class: the codes of registry group `G` only, and `name`
 * (a string, so it survives minified bundles). The module still declares its own class, so
 * `instanceof` and `.name` tell the modules' errors apart.
 * @example
 * export class StoreError extends errorClass<'store'>('StoreError') {}
 */
export function errorClass<G extends ErrorGroup>(name: string): ErrorClass<G> {
  return class extends VitalTrailError<ErrorGroupCode<G>> {
    override readonly name: string = name;
  };
}
