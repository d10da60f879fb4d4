/**
 * @module core/ingress-limits
 * The per-connection limits of the MQTT edge (README "Security" → "Limits"): a token
 * bucket for the PUBLISH rate (a device over its rate is slowed down, never dropped: the
 * edge stops reading its socket until a token is due), a sliding count of rejected
 * frames (too many in a window closes the connection), and a bounded set of cool-downs
 * (a client closed for rejections may not reconnect from the same address for a while).
 * Pure: every call takes `now` (milliseconds).
 */
import { DEFAULT_PACKET_LIMITS, type MqttPacketLimits } from '../protocol/mqtt-framing.js';

export interface RateLimit {
  /** Sustained PUBLISH packets per second; 0 turns the limit off. */
  perSecond: number;
  /** Packets that may arrive at once above the sustained rate. */
  burst: number;
}

export interface RejectionLimit {
  /** This many rejected frames within `windowMs` closes the connection; 0 turns it off. */
  max: number;
  windowMs: number;
  /** How long the same client id may not reconnect from the same address. */
  cooldownMs: number;
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimit> = { perSecond: 200, burst: 400 };
export const DEFAULT_REJECTION_LIMIT: Readonly<RejectionLimit> = {
  max: 50,
  windowMs: 10_000,
  cooldownMs: 60_000,
};

/** The broker edge's limits (README "Security" → "Limits"; config `mqtt.limits`). */
export interface MqttLimits extends MqttPacketLimits {
  /** A CONNECT must be complete this long after the connection opened. */
  connectTimeoutMs: number;
  /** A packet begun must be complete within this. */
  packetTimeoutMs: number;
  /** PUBLISH packets per connection (over the rate the socket is read more slowly). */
  rate: RateLimit;
  /** Rejected frames that close a connection, and the cool-down after. */
  rejections: RejectionLimit;
}

export const DEFAULT_MQTT_LIMITS: Readonly<MqttLimits> = {
  ...DEFAULT_PACKET_LIMITS,
  connectTimeoutMs: 10_000,
  packetTimeoutMs: 10_000,
  rate: DEFAULT_RATE_LIMIT,
  rejections: DEFAULT_REJECTION_LIMIT,
};

/**
 * The rejections that count towards the limit: frames the device's current key does not
 * stand behind (garbage, forgeries, another device's or an unknown or unregistered device's
 * frames) and publishes outside the device's topic. A correctly signed frame rejected for the device's
 * own state (`clock_skew`, `too_old`, `replay_conflict`, `chain_mismatch`: a wrong clock, a
 * replay after lost state) is a fault to report to it, not a flood: it does not count.
 */
const COUNTED = new Set([
  'malformed',
  'identity_mismatch',
  'unknown_device',
  'revoked_device',
  'expired_certificate',
  'unregistered_device',
  'bad_signature',
  'topic_not_allowed',
]);

/** True when a rejection with this code counts towards the rejection limit. */
export function countsTowardsLimit(code: string): boolean {
  return COUNTED.has(code);
}

/** A token bucket (RFC 2697's committed rate and burst, one colour). */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(limit: RateLimit, now: number) {
    this.#rate = limit.perSecond;
    this.#burst = Math.max(1, limit.burst);
    this.#tokens = this.#burst;
    this.#at = now;
  }

  /** Takes `n` tokens (the balance may go negative: the debt is waited off). */
  take(n: number, now: number): void {
    if (this.#rate <= 0) return;
    this.#refill(now);
    this.#tokens -= n;
  }

  /** Milliseconds until the balance is positive again; 0 when it is now. */
  waitMs(now: number): number {
    if (this.#rate <= 0) return 0;
    this.#refill(now);
    return this.#tokens > 0 ? 0 : Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
  }

  #refill(now: number): void {
    const dt = Math.max(0, now - this.#at);
    this.#at = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + (dt * this.#rate) / 1000);
  }
}

/** Rejections of one connection within a sliding window. */
export class RejectionWindow {
  readonly #limit: RejectionLimit;
  #times: number[] = [];
  readonly #codes = new Map<string, number>();

  constructor(limit: RejectionLimit) {
    this.#limit = limit;
  }

  /**
   * Counts one rejection.
   * @returns true when the limit is reached (the caller closes the connection)
   */
  add(code: string, now: number): boolean {
    if (this.#limit.max <= 0) return false;
    this.#times.push(now);
    this.#codes.set(code, (this.#codes.get(code) ?? 0) + 1);
    const from = now - this.#limit.windowMs;
    let drop = 0;
    while (drop < this.#times.length && (this.#times[drop] as number) < from) drop++;
    if (drop > 0) this.#times.splice(0, drop);
    return this.#times.length >= this.#limit.max;
  }

  /** The most frequent rejection code so far (the cause an alarm and the audit name). */
  get cause(): string {
    let best = '';
    let n = 0;
    for (const [code, count] of this.#codes) if (count > n) [best, n] = [code, count];
    return best;
  }

  get count(): number {
    return this.#times.length;
  }
}

/** Keys that may not reconnect until their time is up; bounded (oldest first out). */
export class Cooldowns {
  readonly #until = new Map<string, number>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  add(key: string, until: number): void {
    this.#until.delete(key);
    this.#until.set(key, until);
    if (this.#until.size > this.#max) {
      const oldest = this.#until.keys().next().value;
      if (oldest !== undefined) this.#until.delete(oldest);
    }
  }

  /** True while `key` is cooling down. */
  has(key: string, now: number): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#until.delete(key);
    return false;
  }

  /** How many keys are cooling down now. */
  active(now: number): number {
    let n = 0;
    for (const [key, until] of this.#until) {
      if (until > now) n++;
      else this.#until.delete(key);
    }
    return n;
  }
}
