/**
 * @module core/webhook-signature
 * The signature of VitalTrail's alarm webhook (README "Alarm webhook"), both ways: the
 * gateway signs what it sends, and the receiver signs the acknowledgement it sends back.
 * HMAC-SHA256 with the shared secret over `<timestamp>.<body>` (the scheme Stripe and
 * GitHub use, with the timestamp inside the MAC so a captured request cannot be replayed
 * after the tolerance), hex, in `X-VitalTrail-Signature: sha256=<hex>` beside
 * `X-VitalTrail-Timestamp: <ms since epoch>`. Verification compares in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-vitaltrail-signature';
export const TIMESTAMP_HEADER = 'x-vitaltrail-timestamp';
/** How far a signed timestamp may be from the verifier's clock. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

/** `sha256=<hex>` of `<timestamp>.<body>`. */
export function signWebhook(secret: string | Uint8Array, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Whether `signature` signs `body` at `timestamp` under `secret`, and `timestamp` is within
 * the tolerance of `now`.
 */
export function verifyWebhook(
  secret: string | Uint8Array,
  timestamp: string | undefined,
  body: string,
  signature: string | undefined,
  now: number,
): boolean {
  if (timestamp === undefined || signature === undefined || !/^\d{1,16}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(now - ts) > SIGNATURE_TOLERANCE_MS) return false;
  const want = Buffer.from(signWebhook(secret, ts, body));
  const got = Buffer.from(signature);
  return got.length === want.length && timingSafeEqual(got, want);
}
