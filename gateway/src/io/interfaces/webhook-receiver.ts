/**
 * @module io/interfaces/webhook-receiver
 * The alarm webhook (issue 19: alarms to pagers, phones, nurse call): every alarm
 * transition POSTed as JSON, one request per transition in order, signed with the shared
 * secret (core/webhook-signature), with `X-VitalTrail-Delivery: <transition id>` for the
 * receiver's de-duplication (a resend after a crash carries the same id). 2xx is delivered;
 * 4xx (but 408 and 429) refused (`receiver_rejected`, a dead letter); anything else, a
 * timeout or no connection is `receiver_unavailable` (retried with backoff).
 */
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../../core/webhook-signature.js';
import type { OutboundAlarm } from './alarm-source.js';
import { deliveryError, type Receiver } from './receiver.js';

export interface WebhookReceiverOptions {
  name?: string;
  url: string;
  /** The shared secret (from a 0600 file). */
  secret: string;
  /** Per request, ms. Default 5000. */
  timeoutMs?: number;
  now?: () => number;
}

export class WebhookReceiver implements Receiver<OutboundAlarm> {
  readonly name: string;
  readonly #o: Required<Omit<WebhookReceiverOptions, 'name'>>;

  constructor(o: WebhookReceiverOptions) {
    this.name = o.name ?? 'webhook';
    this.#o = { timeoutMs: 5000, now: Date.now, ...o };
  }

  async deliver(batch: readonly OutboundAlarm[]): Promise<void> {
    for (const [i, a] of batch.entries()) {
      // The bed, never the patient id (pagers and phones are outside the record system).
      const { binding: _patient, ...alarm } = a;
      const body = JSON.stringify({ type: 'vitaltrail.alarm/1', ...alarm });
      const ts = this.#o.now();
      let res: Response;
      try {
        res = await fetch(this.#o.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-vitaltrail-delivery': a.id,
            [TIMESTAMP_HEADER]: String(ts),
            [SIGNATURE_HEADER]: signWebhook(this.#o.secret, ts, body),
          },
          body,
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        throw deliveryError(
          'receiver_unavailable',
          'the webhook cannot be reached or did not answer in time',
          i,
          err,
        );
      }
      if (res.status >= 200 && res.status < 300) continue;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
        throw deliveryError('receiver_rejected', `the webhook answered ${res.status}`, i);
      throw deliveryError('receiver_unavailable', `the webhook answered ${res.status}`, i);
    }
  }

  async close(): Promise<void> {}
}
