/**
 * @module io/interfaces/receiver-probe
 * `vitaltrail outbound test` (issue 19): one real, harmless round trip to each configured
 * outbound receiver, so an integration engineer can check a connection before the gateway
 * sends anything real. One probe per receiver kind, in one table (`RECEIVER_PROBES`); a new
 * interface adds its target type to `ProbeTargets` and its probe to the table.
 *
 * - `mllp`: one IHE PCD-01 (IHE PCD TF-2 §3.1) `ORU^R01` built by core/hl7/pcd01 for a test
 *   device (`vitaltrail-test`, no vital sign, no patient binding: PID-3 empty, PV1-2 `U`),
 *   MSH-11 `T` (training, HL7 v2.6 table 0103), MSH-10 `vitaltrail-test:<ms>`, over a fresh
 *   MLLP connection by the gateway's own sender (io/interfaces/mllp-receiver), so the ACK's
 *   MSA-1 (HL7 v2.6 §2.9, table 0008) decides exactly as for real deliveries: `AA`/`CA` ok;
 *   `AE`/`AR`/`CE`/`CR` `receiver_rejected`; no connection, no ACK in time, a closed
 *   connection, an ACK of another message (MSA-2), an unknown MSA-1 or an oversized reply
 *   `receiver_unavailable`.
 * - `acm`: one IHE PCD-04 `ORU^R40` (core/hl7/pcd04) to the alarm manager, MSH-11 `T`: the
 *   `cleared` transition (phase `end`, state `inactive`) of a technical `device_offline` alarm
 *   of the test device, no patient, MSH-10 `vitaltrail-test:<ms>`: nothing to page even for a
 *   manager that ignores MSH-11. The ACK decides as for `mllp`.
 * - `fhir`: `GET [base]/metadata` (FHIR R4 http.html#capabilities) with the bearer token, if
 *   any: 200 and a CapabilityStatement of `fhirVersion` 4.0.x ok; 401/403 `receiver_rejected`
 *   (the token); a CapabilityStatement of another FHIR version `receiver_rejected` (it would
 *   refuse R4 resources); anything else `receiver_unavailable`.
 * - `webhook`: one POST of `{"type":"vitaltrail.test/1","id":"test:<ms>","at":<ms>}`, signed
 *   as every delivery is (core/webhook-signature), `X-VitalTrail-Delivery: test:<ms>`. 2xx ok;
 *   4xx but 408/429 `receiver_rejected` (a bad secret: 401); the rest `receiver_unavailable`.
 *
 * Nothing here prints or returns a secret, a token, a URL (webhook URLs often carry a key in
 * their path or query) or a receiver's free text beyond a version and a product name, cut to
 * printable characters (a receiver is not trusted: MSA-3 and OperationOutcome diagnostics are
 * not copied). HTTP redirects are not followed (the token must not travel to another host).
 */
import type { Hl7Message } from '@medplum/core';
import { type HeaderOptions, senderHeader } from '../../core/hl7/er7.js';
import { buildPcd01Message, type Pcd01Reading } from '../../core/hl7/pcd01.js';
import { buildPcd04Message } from '../../core/hl7/pcd04.js';
import { checkpointOrigin } from '../../core/log-names.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../../core/webhook-signature.js';
import type { ErrorGroupCode } from '../../protocol/error-codes.js';
import { MllpReceiver } from './mllp-receiver.js';
import { DeliveryError } from './receiver.js';

/** The receivers a probe exists for, and what each needs (app/options `OutboundOptions` fits). */
export interface ProbeTargets {
  mllp: { host: string; port: number; receivingApplication?: string; receivingFacility?: string };
  acm: { host: string; port: number; receivingApplication?: string; receivingFacility?: string };
  fhir: { url: string; token?: string };
  webhook: { url: string; secret: string };
}
export type ProbeName = keyof ProbeTargets;

export interface ProbeContext {
  /** How long one receiver may take, ms (MLLP: the connection and the wait for the ACK, each). */
  timeoutMs: number;
  /** MSH-4 and the log origin of the test message (as the gateway's own messages). */
  gatewayId: string;
  /** Clock of MSH-7, the test ids and the webhook timestamp. Default `Date.now`. */
  now?: () => number;
}

/** One receiver's outcome, as `outbound test --json` prints it. */
export interface ProbeResult {
  receiver: ProbeName;
  ok: boolean;
  code?: ErrorGroupCode<'delivery'>;
  detail: string;
  /** Round trip, ms. */
  ms: number;
}

type Verdict = Pick<ProbeResult, 'ok' | 'code' | 'detail'>;
type Probe<T> = (target: T, c: Required<ProbeContext>) => Promise<Verdict>;

/** The device id of the MLLP test message; never a device of the ward (its PID is empty). */
export const TEST_DEVICE = 'vitaltrail-test';

const ok = (detail: string): Verdict => ({ ok: true, detail });
const unavailable = (detail: string): Verdict => ({ ok: false, code: 'receiver_unavailable', detail });
const rejected = (detail: string): Verdict => ({ ok: false, code: 'receiver_rejected', detail });

/** Receiver-supplied text made safe to print: printable characters only, at most 60. */
function printable(v: unknown): string {
  if (typeof v !== 'string') return '';
  return v.replace(/[\p{Cc}\p{Cf}]/gu, '').slice(0, 60);
}

/** Why a connection failed, without the receiver's address or anything it sent. */
function why(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || /timeout/i.test(err.message)))
    return `no answer within ${timeoutMs} ms`;
  const code =
    (err as { cause?: { code?: unknown }; code?: unknown })?.cause?.code ?? (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'connection failed';
}

/** The synthetic reading of the MLLP test message: no vital sign, no patient. */
function testReading(at: number, gatewayId: string): Pcd01Reading {
  return {
    id: `${TEST_DEVICE}:${at}`,
    dev: TEST_DEVICE,
    seq: at,
    ts: at,
    obs: {},
    leafIndex: 0,
    origin: checkpointOrigin(gatewayId),
  };
}

/** The header of a test message: as the gateway's own, MSH-11 `T` (training). */
function testHeader(
  t: ProbeTargets['mllp'],
  c: Required<ProbeContext>,
  at: number,
  app: string,
): HeaderOptions {
  return { ...senderHeader(c.gatewayId, t, app), now: new Date(at), processingId: 'T' };
}

/**
 * Sends one message over a fresh MLLP connection with the gateway's own sender
 * (io/interfaces/mllp-receiver: the same framing, ACK rules and limits as real deliveries).
 */
async function mllpRoundTrip(
  t: { host: string; port: number },
  msg: Hl7Message,
  c: Required<ProbeContext>,
): Promise<Verdict> {
  let ack = '';
  const sender = new MllpReceiver<Hl7Message>({
    name: 'probe',
    host: t.host,
    port: t.port,
    ackTimeoutMs: c.timeoutMs,
    message: { sendingApp: '', sendingFacility: '', receivingApp: '', receivingFacility: '' },
    build: (m) => m,
    onAck: (code) => {
      ack = code;
    },
  });
  try {
    await sender.deliver([msg]);
    return ok(`ACK ${ack}`);
  } catch (err) {
    if (!(err instanceof DeliveryError)) return unavailable('the probe failed');
    if (err.code === 'receiver_rejected' && ack)
      return rejected(`ACK ${ack} (an engine that refuses training messages, MSH-11 T, answers so too)`);
    return { ok: false, code: err.code, detail: err.reason };
  } finally {
    await sender.close();
  }
}

const probeMllp: Probe<ProbeTargets['mllp']> = (t, c) => {
  const at = c.now();
  return mllpRoundTrip(t, buildPcd01Message(testReading(at, c.gatewayId), testHeader(t, c, at, 'EHR')), c);
};

/** The test alarm's condition (a core/alarms condition code, not an error code). */
const TEST_ALARM_CONDITION = 'device_offline';

const probeAcm: Probe<ProbeTargets['acm']> = (t, c) => {
  const at = c.now();
  const msg = buildPcd04Message(
    {
      id: `${TEST_DEVICE}:${at}`,
      eventId: 0,
      alarmId: '00000000-0000-4000-8000-000000000000',
      dev: TEST_DEVICE,
      code: TEST_ALARM_CONDITION,
      kind: 'technical',
      event: 'cleared',
      priority: 'low',
      at,
      by: null,
    },
    checkpointOrigin(c.gatewayId),
    testHeader(t, c, at, 'AM'),
  );
  return mllpRoundTrip(t, msg, c);
};

const probeFhir: Probe<ProbeTargets['fhir']> = async (t, c) => {
  const base = new URL(t.url.endsWith('/') ? t.url : `${t.url}/`);
  let status: number;
  let body: unknown;
  try {
    const res = await fetch(new URL('metadata', base), {
      headers: {
        accept: 'application/fhir+json',
        ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
      },
      redirect: 'manual',
      signal: AbortSignal.timeout(c.timeoutMs),
    });
    status = res.status;
    const text = await res.text();
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  } catch (err) {
    return unavailable(`GET [base]/metadata: ${why(err, c.timeoutMs)}`);
  }
  if (status === 401 || status === 403)
    return rejected(`HTTP ${status}: the server refuses the token (outbound.fhir.tokenFile)`);
  if (status !== 200) return unavailable(`GET [base]/metadata answered HTTP ${status}`);
  const cs = body as {
    resourceType?: unknown;
    fhirVersion?: unknown;
    software?: { name?: unknown; version?: unknown };
  };
  if (cs?.resourceType !== 'CapabilityStatement')
    return unavailable(
      'GET [base]/metadata is not a CapabilityStatement (is outbound.fhir.url a FHIR base URL?)',
    );
  const version = printable(cs.fhirVersion);
  if (!version.startsWith('4.0.')) return rejected(`FHIR ${version || 'version unknown'}, not R4 (4.0.x)`);
  const software = [printable(cs.software?.name), printable(cs.software?.version)].filter(Boolean).join(' ');
  return ok(`FHIR ${version}${software ? `, ${software}` : ''}`);
};

const probeWebhook: Probe<ProbeTargets['webhook']> = async (t, c) => {
  const at = c.now();
  const id = `test:${at}`;
  const body = JSON.stringify({ type: 'vitaltrail.test/1', id, at });
  let status: number;
  try {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-vitaltrail-delivery': id,
        [TIMESTAMP_HEADER]: String(at),
        [SIGNATURE_HEADER]: signWebhook(t.secret, at, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(c.timeoutMs),
    });
    status = res.status;
    await res.arrayBuffer().catch(() => undefined);
  } catch (err) {
    return unavailable(`POST: ${why(err, c.timeoutMs)}`);
  }
  if (status >= 200 && status < 300) return ok(`HTTP ${status}`);
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    const hint =
      status === 401 || status === 403 ? ': check the shared secret (outbound.webhook.secretFile)' : '';
    return rejected(`HTTP ${status}${hint}`);
  }
  return unavailable(`HTTP ${status}`);
};

/** One probe per receiver kind, in the order `outbound test` reports them. */
export const RECEIVER_PROBES: { readonly [K in ProbeName]: Probe<ProbeTargets[K]> } = {
  mllp: probeMllp,
  acm: probeAcm,
  fhir: probeFhir,
  webhook: probeWebhook,
};

/**
 * Probes the named receivers of `targets` at once; the results come in `names` order. A probe
 * never throws: an unexpected failure is `receiver_unavailable`.
 * @throws {TypeError} when a named receiver has no target (the caller checks the config first)
 * @example
 * const rows = await probeReceivers({ webhook: { url, secret } }, ['webhook'], { timeoutMs: 5000, gatewayId: 'gw-1' });
 */
export function probeReceivers(
  targets: Partial<ProbeTargets>,
  names: readonly ProbeName[],
  context: ProbeContext,
): Promise<ProbeResult[]> {
  const c: Required<ProbeContext> = { now: Date.now, ...context };
  return Promise.all(
    names.map(async <K extends ProbeName>(name: K): Promise<ProbeResult> => {
      const target = targets[name];
      if (target === undefined) throw new TypeError(`targets.${name} is not configured`);
      const t0 = performance.now();
      const probe = RECEIVER_PROBES[name] as Probe<ProbeTargets[K]>;
      const v = await probe(target as ProbeTargets[K], c).catch(() => unavailable('the probe failed'));
      return { receiver: name, ...v, ms: Math.round(performance.now() - t0) };
    }),
  );
}
