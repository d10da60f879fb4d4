/**
 * @module io/interfaces/fhir-receiver
 * FHIR R4 push (issue 19): a `Receiver` (io/interfaces/receiver) that posts each batch to a
 * hospital FHIR server as `transaction` Bundles of core/fhir/push (`POST <baseUrl>`,
 * `application/fhir+json`), at most `maxReadingsPerRequest` readings per request, in order.
 * Every entry is a conditional create, so a resend (at-least-once delivery) creates nothing new.
 *
 * Outcomes of one request:
 * - 2xx with a `transaction-response` whose every entry status is 2xx: acknowledged.
 * - 4xx (an OperationOutcome), or a 2xx response holding a 4xx entry: refused. A request of
 *   several readings is then resent one reading per transaction, in order, to find the
 *   reading the server refuses: `receiver_rejected` with `delivered` = the readings
 *   acknowledged before it (a transaction is all or nothing, and the creates are conditional,
 *   so resending the earlier ones is harmless).
 * - 401, 403, 408, 429, 5xx, any other status, an unreadable answer, a network error or the
 *   timeout: `receiver_unavailable` (retried by the engine). 401/403 are a configuration
 *   fault (token, grants), never a property of a reading, so they must not dead-letter it.
 *
 * Never logs, and no error reason carries what the server wrote back (its diagnostics may
 * quote patient identifiers or values): only the HTTP status and the OperationOutcome's
 * issue codes and element paths.
 */
import { type PushReading, transactionBundle } from '../../core/fhir/push.js';
import { deliveryError, type OutboundReading, type Receiver } from './receiver.js';

export interface FhirReceiverOptions {
  /** The configured name (the delivery cursor's key). Default `fhir`. */
  name?: string;
  /** The server's base URL; the transaction is POSTed to it, e.g. `https://fhir.example.org/r4`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  bearerToken?: string;
  /** System URI of the hospital's patient identifiers. Default `urn:vitaltrail:patient`. */
  patientSystem?: string;
  /** Readings per transaction. Default 100. */
  maxReadingsPerRequest?: number;
  /** Per request, ms. Default 30,000. */
  timeoutMs?: number;
}

type Outcome = { kind: 'ok' } | { kind: 'rejected' | 'unavailable'; reason: string; cause?: unknown };

const RETRYABLE_4XX = new Set([401, 403, 408, 429]);
const SAFE = /^[A-Za-z0-9_.[\]-]{1,120}$/;

/** Issue codes and element paths of an OperationOutcome (no diagnostics: they may quote PHI). */
function issueSummary(body: unknown): string {
  const issues = (body as { resourceType?: unknown; issue?: unknown } | null)?.issue;
  if (!Array.isArray(issues)) return '';
  const parts: string[] = [];
  for (const i of issues.slice(0, 3) as { code?: unknown; expression?: unknown }[]) {
    const code = typeof i?.code === 'string' && SAFE.test(i.code) ? i.code : 'unknown';
    const at = Array.isArray(i?.expression)
      ? i.expression.filter((e): e is string => typeof e === 'string' && SAFE.test(e)).slice(0, 2)
      : [];
    parts.push(at.length > 0 ? `${code} at ${at.join(', ')}` : code);
  }
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

function statusOf(entry: unknown): number {
  const s = (entry as { response?: { status?: unknown } } | null)?.response?.status;
  const m = typeof s === 'string' ? /^\s*(\d{3})\b/.exec(s) : null;
  return m ? Number(m[1]) : 0;
}

/** Posts batches as FHIR transactions; see the module comment for the outcomes. */
export class FhirReceiver implements Receiver {
  readonly name: string;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #patientSystem: string | undefined;
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #closing = new AbortController();

  constructor(o: FhirReceiverOptions) {
    const url = new URL(o.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('baseUrl must be http(s)');
    this.name = o.name ?? 'fhir';
    this.#url = url.href;
    this.#headers = {
      'content-type': 'application/fhir+json',
      accept: 'application/fhir+json',
      prefer: 'return=minimal',
      ...(o.bearerToken ? { authorization: `Bearer ${o.bearerToken}` } : {}),
    };
    this.#patientSystem = o.patientSystem;
    this.#max = Math.max(1, Math.floor(o.maxReadingsPerRequest ?? 100));
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  async deliver(batch: readonly OutboundReading[]): Promise<void> {
    let delivered = 0;
    for (let i = 0; i < batch.length; i += this.#max) {
      const chunk = batch.slice(i, i + this.#max);
      const got = await this.#post(chunk);
      if (got.kind === 'unavailable')
        throw deliveryError('receiver_unavailable', got.reason, delivered, got.cause);
      if (got.kind === 'ok') {
        delivered += chunk.length;
        continue;
      }
      if (chunk.length === 1) throw deliveryError('receiver_rejected', got.reason, delivered);
      // Which reading? One per transaction, in order, until the server refuses one.
      for (const r of chunk) {
        const one = await this.#post([r]);
        if (one.kind !== 'ok') {
          throw deliveryError(
            `receiver_${one.kind}`,
            one.reason,
            delivered,
            one.kind === 'rejected' ? undefined : one.cause,
          );
        }
        delivered++;
      }
    }
  }

  async close(): Promise<void> {
    this.#closing.abort();
  }

  async #post(readings: readonly PushReading[]): Promise<Outcome> {
    if (this.#closing.signal.aborted) return { kind: 'unavailable', reason: 'the FHIR receiver is closed' };
    const bundle = transactionBundle(
      readings,
      this.#patientSystem === undefined ? {} : { patientSystem: this.#patientSystem },
    );
    let status: number;
    let body: unknown;
    // One controller for the deadline and for close(). Not `AbortSignal.any([AbortSignal.timeout(…),
    // …])`: on Node 20 a collection can take the timeout's signal, and a server that never
    // answers then holds the delivery for good (measured: not aborted after 15 s of a 2 s
    // timeout, with a collection every 200 ms).
    const ctl = new AbortController();
    const timer = setTimeout(
      () => ctl.abort(new DOMException(`no answer within ${this.#timeoutMs} ms`, 'TimeoutError')),
      this.#timeoutMs,
    );
    const onClose = () => ctl.abort(this.#closing.signal.reason);
    this.#closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify(bundle),
        signal: ctl.signal,
      });
      status = res.status;
      const text = await res.text();
      try {
        body = text.length > 0 ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return {
        kind: 'unavailable',
        reason: timedOut
          ? `no answer from the FHIR server within ${this.#timeoutMs} ms`
          : 'the FHIR server cannot be reached',
        cause: err,
      };
    } finally {
      clearTimeout(timer);
      this.#closing.signal.removeEventListener('abort', onClose);
    }
    if (status >= 200 && status < 300) return this.#judge(body, bundle.entry.length);
    if (status >= 400 && status < 500 && !RETRYABLE_4XX.has(status)) {
      return {
        kind: 'rejected',
        reason: `the FHIR server refused the transaction: HTTP ${status}${issueSummary(body)}`,
      };
    }
    return { kind: 'unavailable', reason: `the FHIR server answered HTTP ${status}${issueSummary(body)}` };
  }

  #judge(body: unknown, sent: number): Outcome {
    const b = body as { resourceType?: unknown; type?: unknown; entry?: unknown } | undefined;
    if (b?.resourceType !== 'Bundle' || b.type !== 'transaction-response' || !Array.isArray(b.entry)) {
      return { kind: 'unavailable', reason: 'the FHIR server did not answer with a transaction-response' };
    }
    if (b.entry.length !== sent) {
      return {
        kind: 'unavailable',
        reason: `the transaction-response has ${b.entry.length} entries for ${sent} sent`,
      };
    }
    for (const [i, e] of b.entry.entries()) {
      const s = statusOf(e);
      if (s >= 200 && s < 300) continue;
      const outcome = (e as { response?: { outcome?: unknown } } | null)?.response?.outcome;
      const kind = s >= 400 && s < 500 && !RETRYABLE_4XX.has(s) ? 'rejected' : 'unavailable';
      return {
        kind,
        reason: `the FHIR server answered ${s || 'no status'} for entry ${i}${issueSummary(outcome)}`,
      };
    }
    return { kind: 'ok' };
  }
}
