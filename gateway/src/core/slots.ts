/**
 * @module core/slots
 * A bound on work in flight: at most `total` holders at once, and at most `perKey` of them
 * for any one key (a user), the way a server bounds its costly requests (InfluxDB's
 * `query-concurrency`, nginx's `limit_conn` per zone and per key). A taker is never queued:
 * it is refused at once, so the caller answers "busy, retry" (HTTP 503 with Retry-After)
 * instead of holding a connection and its memory in a queue. Pure; the HTTP downloads use
 * it (io/http/routes/care/care-export-routes).
 */

/** Gives back a slot; calling it again does nothing. */
export type Release = () => void;

export class Slots {
  readonly #byKey = new Map<string, number>();
  #inUse = 0;

  /** @throws {RangeError} when a bound is not a positive integer. */
  constructor(
    readonly total: number,
    readonly perKey: number,
  ) {
    for (const n of [total, perKey])
      if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('slot bounds are positive integers');
  }

  /** Slots held now, in all. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * A slot for `key`, or null when all `total` are held or `key` holds `perKey`.
   * @example
   * const release = slots.take(user.username);
   * if (!release) return busy();
   * res.once('close', release);
   */
  take(key: string): Release | null {
    const mine = this.#byKey.get(key) ?? 0;
    if (this.#inUse >= this.total || mine >= this.perKey) return null;
    this.#inUse += 1;
    this.#byKey.set(key, mine + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#inUse -= 1;
      const left = (this.#byKey.get(key) ?? 1) - 1;
      if (left === 0) this.#byKey.delete(key);
      else this.#byKey.set(key, left);
    };
  }
}
