/**
 * @module io/http/login-throttle
 * Sign-in throttling without a targeted lockout (issue 13; the model is Auth0's brute-force
 * protection: per user *and* source address, plus suspicious-address throttling, plus a
 * global bound). Pure bookkeeping on the caller's clock, no timers:
 *
 * - per (username, address): 3 free failures, then 1 s, 2 s, 4 s … 60 s. A guesser on one
 *   address slows only their own tries at that name; the rightful user on another address
 *   is never refused for it (a per-username backoff refused the right password too).
 * - per address, any username: 10 free failures, then the same doubling backoff, and at
 *   most 2 sign-ins in flight, so a spray of random usernames from one host is refused
 *   fast instead of taking the password thread.
 * - globally: the password pool's bound (io/identity/password-pool), checked by the route.
 *
 * A failure is forgotten 15 minutes after the last one. Trust: usernames and addresses are
 * attacker-controlled keys; the maps are bounded (oldest entry dropped first).
 */

/** The limits; every field has the default named in its doc. */
export interface LoginLimits {
  /** Failures per (username, address) before any wait. Default 3. */
  userFreeFailures: number;
  /** Failures per address (any username) before any wait. Default 10. */
  addressFreeFailures: number;
  /** Sign-ins being checked at once per address. Default 2. */
  addressInFlight: number;
  /** First wait after the free failures; doubles each failure. Default 1000 ms. */
  backoffBaseMs: number;
  /** Longest wait. Default 60 000 ms. */
  backoffMaxMs: number;
  /** A key's failures are forgotten this long after its last one. Default 15 min. */
  forgetAfterMs: number;
  /** Bound on remembered keys of each kind. Default 10 000. */
  maxEntries: number;
}

export const DEFAULT_LOGIN_LIMITS: Readonly<LoginLimits> = {
  userFreeFailures: 3,
  addressFreeFailures: 10,
  addressInFlight: 2,
  backoffBaseMs: 1000,
  backoffMaxMs: 60_000,
  forgetAfterMs: 15 * 60_000,
  maxEntries: 10_000,
};

interface Failures {
  count: number;
  last: number;
  until: number;
}

/** Failure counts per key, bounded, oldest-failure-first. */
class FailureMap {
  readonly #m = new Map<string, Failures>();
  constructor(
    readonly free: number,
    readonly limits: LoginLimits,
  ) {}

  waitMs(key: string, now: number): number {
    const f = this.#m.get(key);
    if (!f) return 0;
    if (now - f.last >= this.limits.forgetAfterMs) {
      this.#m.delete(key);
      return 0;
    }
    return f.until > now ? f.until - now : 0;
  }

  count(key: string, now: number): number {
    const f = this.#m.get(key);
    return f && now - f.last < this.limits.forgetAfterMs ? f.count : 0;
  }

  fail(key: string, now: number): void {
    const old = this.#m.get(key);
    const count = (old && now - old.last < this.limits.forgetAfterMs ? old.count : 0) + 1;
    const { backoffBaseMs, backoffMaxMs } = this.limits;
    const delay =
      count <= this.free ? 0 : Math.min(backoffMaxMs, backoffBaseMs * 2 ** (count - this.free - 1));
    this.#m.delete(key); // re-insert: Map order is then oldest-failure-first
    this.#m.set(key, { count, last: now, until: now + delay });
    if (this.#m.size > this.limits.maxEntries) {
      const oldest = this.#m.keys().next().value;
      if (oldest !== undefined) this.#m.delete(oldest);
    }
  }

  clear(key: string): void {
    this.#m.delete(key);
  }
}

export class LoginThrottle {
  readonly limits: Readonly<LoginLimits>;
  readonly #byUser: FailureMap;
  readonly #byAddress: FailureMap;
  readonly #userInFlight = new Set<string>();
  readonly #addressInFlight = new Map<string, number>();

  /** @throws {RangeError} when a limit is not a non-negative safe integer (in-flight ≥ 1). */
  constructor(limits: Partial<LoginLimits> = {}) {
    const l = { ...DEFAULT_LOGIN_LIMITS, ...limits };
    for (const [k, v] of Object.entries(l)) {
      if (!Number.isSafeInteger(v) || v < (k === 'addressInFlight' || k === 'maxEntries' ? 1 : 0)) {
        throw new RangeError(`LoginThrottle: limits.${k} must be a non-negative integer`);
      }
    }
    this.limits = l;
    this.#byUser = new FailureMap(l.userFreeFailures, l);
    this.#byAddress = new FailureMap(l.addressFreeFailures, l);
  }

  /**
   * Whether a check of `username` from `address` must wait for the ones in flight: one at a
   * time per (user, address), so a parallel burst cannot skip the backoff, and at most
   * `addressInFlight` per address. Not a failure: the route answers it `login_busy` (three
   * nurses behind one NAT signing in at once were told "too many failed sign-ins").
   */
  busy(username: string, address: string): boolean {
    return (
      this.#userInFlight.has(pairKey(username, address)) ||
      (this.#addressInFlight.get(address) ?? 0) >= this.limits.addressInFlight
    );
  }

  /** Milliseconds of backoff, for its failures, before `username` may be tried from `address`; 0 when allowed now. */
  waitMs(username: string, address: string, now: number): number {
    return Math.max(
      this.#byUser.waitMs(pairKey(username, address), now),
      this.#byAddress.waitMs(address, now),
    );
  }

  /**
   * The password queue's priority of a new check from `address` (lower runs first): its
   * recent failures (any username) plus its checks already in flight, so a spraying
   * address waits behind a first attempt from anywhere else.
   */
  priorityOf(address: string, now: number): number {
    return this.#byAddress.count(address, now) + (this.#addressInFlight.get(address) ?? 0);
  }

  begin(username: string, address: string): void {
    this.#userInFlight.add(pairKey(username, address));
    this.#addressInFlight.set(address, (this.#addressInFlight.get(address) ?? 0) + 1);
  }

  end(username: string, address: string, ok: boolean, now: number): void {
    const pair = pairKey(username, address);
    this.#userInFlight.delete(pair);
    const n = (this.#addressInFlight.get(address) ?? 1) - 1;
    if (n <= 0) this.#addressInFlight.delete(address);
    else this.#addressInFlight.set(address, n);
    if (ok) {
      this.#byUser.clear(pair);
      return; // an address's failures stay: one valid account must not reset a spray's count
    }
    this.#byUser.fail(pair, now);
    this.#byAddress.fail(address, now);
  }
}

/** Addresses hold no NUL, so the key splits unambiguously at its last NUL. */
function pairKey(username: string, address: string): string {
  return `${username}\u0000${address}`;
}
