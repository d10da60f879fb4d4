/**
 * @module io/http/routes/care/care-export-routes
 * A patient's ECG and downloads under consent (issue 18). Contract:
 * - `GET /api/care/patients/:patient/ecg?from=ms&to=ms` (doctor, patient) →
 *   `{patient, from, to, basis, strips: [{dev, seq, ts, fs, s}]}`: the ECG waveform of every
 *   frame that carries one (`s`: base64 of the int16 little-endian microvolt samples, as the
 *   live socket sends them; `fs` in Hz) from every device bound to the patient, each within its
 *   binding period; at most `maxEcgRangeMs` (1 h) per request, 400 `bad_request` beyond. A
 *   doctor needs a consent that holds ECG (`consent_out_of_scope` otherwise). Access `ecg`.
 * - `GET /api/care/patients/:patient/fhir?from=ms&to=ms` → a FHIR R4 Bundle
 *   (`application/fhir+json`, a download) of the patient's vital-sign Observations, the same
 *   as `vitaltrail export-fhir --patient` over that range (io/outbound `exportFhir`); at most
 *   `maxFhirRangeMs` (6 h: its readings are read whole) per request. Vitals scope (a FHIR
 *   export holds no waveform). Access `fhir_export`.
 * - `GET /api/care/patients/:patient/bundle?from=ms&to=ms` → the disclosure bundle
 *   (PROTOCOL.md §5, as `vitaltrail export --patient`, verified by `vitaltrail verify`;
 *   `application/json`, a download, streamed) of the patient's frames within each binding
 *   period. A doctor needs a consent holding vitals **and** ECG (a signed frame cannot be cut,
 *   so any frame may carry a waveform), else `consent_out_of_scope`. Boundary frames (README "Completeness") are kept only when they are the patient's
 *   own (the device bound to them at the frame's time) and, for a doctor, inside a consent in
 *   force: otherwise that end stays open (the verifier says INCOMPLETE; `--allow-gaps`). The
 *   access logged covers every frame disclosed, boundaries included. 409 `not_anchored`
 *   before the first anchored checkpoint. Access `bundle_export`.
 * - `GET /api/care/patients/:patient/bundle/parts?from=ms&to=ms` → `{patient, from, to,
 *   maxReadings, parts: [{from, to, frames}]}`: where to cut the range so that each part's
 *   bundle holds at most `maxReadings` frames (the bound the bundle is refused past, 422
 *   `too_many_readings`), counted from the frame index (io/queries `bundleParts`; no frame
 *   read, nothing disclosed but the counts, so no access is logged; the same rules as the
 *   bundle; at most 8 days per request, 400 `bad_request` beyond). The patient portal asks it
 *   when the bundle is refused for its size and downloads the parts. Not a download slot.
 * The three are downloads: at most `downloads` (default 2, `http.downloads`) are made at once,
 * one per user; another is refused at once with 503 `export_busy` and `Retry-After: 5`. The
 * FHIR Bundle and the disclosure bundle are streamed as they are made, in 10 ms slices of the
 * event loop (io/outbound/time-slices), so a long one never holds the ingest up.
 * In a gateway group the ECG holds every gateway's strips (`sources: {gateways, missing}`, as
 * the readings: io/http/routes/care/care-group); the FHIR export and the bundle are this
 * gateway's readings only (a group's complete export is one per gateway: a bundle is proven
 * against one gateway's log, and the verifier takes several).
 * The rules of the readings (io/http/routes/care/care-guard `authorize`): a patient only their own,
 * a doctor only under a consent in force holding the scope and the whole range; refusals
 * coded and told to `onRefused`; each access told to `onAccess` before the answer is sent.
 */
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deployment } from '../../../../../../anchor/src/ledger/index.js';
import { SCOPE_ECG, SCOPE_VITALS } from '../../../../core/consent-policy.js';
import { checkpointOrigin, logIdOf } from '../../../../core/log-names.js';
import { Slots } from '../../../../core/slots.js';
import { VitalTrailError } from '../../../../protocol/errors.js';
import { decodeFrame, isSafeFrame } from '../../../../protocol/frame.js';
import type { DataPaths } from '../../../ops/index.js';
import {
  bundleText,
  type EntryJson,
  type ExportPlan,
  exportFhir,
  inTimeSlices,
  planExport,
} from '../../../outbound/index.js';
import { bundleParts, DEFAULT_MAX_READINGS } from '../../../queries/index.js';
import { WINDOWED_MAX_MS } from '../../../reading/index.js';
import { type GatewayStore, SealedError, SealedReader } from '../../../store/index.js';
import { errorReply, HttpError } from '../../errors.js';
import type { HttpRoutes } from '../../route-contract.js';
import { CARE_ROLES } from '../../route-roles.js';
import { withPeers } from '../peer-fanout.js';
import { mergeRows } from './care-group.js';
import { type CareRoutesOptions, type CareUser, careGuard, PATIENT_PARAM } from './care-guard.js';

export interface CareExportOptions extends CareRoutesOptions {
  /** The data directory (the KGC certificates a disclosure bundle carries). */
  paths: DataPaths;
  /** The gateway's id: its readings' log origin (`checkpointOrigin`). */
  gatewayId: string;
  /** The chain the readings' checkpoints are anchored on; null without a ledger. */
  deployment: Pick<Deployment, 'chainId' | 'anchors'> | null;
  /** Largest ECG range in one request. Default 1 h. */
  maxEcgRangeMs?: number;
  /** Largest FHIR export range in one request. Default 6 h. */
  maxFhirRangeMs?: number;
  /**
   * The downloads (ECG, FHIR export, disclosure bundle) made at once: in all, and per user.
   * Default `defaultDownloadSlots()`; share one among every route set of a gateway.
   */
  downloads?: Slots;
  /**
   * The gateway's shredding, held by a bundle download while it reads (io/ingest `ShredHold`):
   * its head, with the shredding records, goes before its entries. Null: no shredding runs.
   */
  shredHold?: { take(): () => void } | null;
}

/** Downloads made at once by default: 2 in all, 1 per user (`http.downloads`). */
export const DEFAULT_DOWNLOADS = 2;
/** The Retry-After of a download refused `export_busy`, in seconds. */
export const DOWNLOAD_RETRY_S = 5;
/** The default bound on downloads made at once. */
export const defaultDownloadSlots = (total = DEFAULT_DOWNLOADS): Slots => new Slots(total, 1);

const RANGE_QUERY = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
} as const;

/** Frames opened per call of the sealed reader. */
const READ_CHUNK = 256;

/** One ECG chunk as the API answers it. */
export interface EcgStrip {
  dev: string;
  seq: number;
  ts: number;
  fs: number;
  /** Base64 of the int16 little-endian samples (µV). */
  s: string;
}

/** A file answer: the guard passes it through, the route sends it with its headers. */
class Download {
  constructor(
    readonly type: string,
    readonly name: string,
    readonly body: string | Readable,
  ) {}
}

/** The waveforms of `dev`'s frames with from <= ts <= to, opened by `reader`. */
async function waveformsOf(
  store: GatewayStore,
  reader: SealedReader,
  dev: string,
  from: number,
  to: number,
): Promise<EcgStrip[]> {
  const rows = store.framesToRead(dev, from, to);
  const out: EcgStrip[] = [];
  for (let i = 0; i < rows.length; i += READ_CHUNK) {
    // A turn of the event loop between chunks: an hour of ECG took it 55-75 ms in one go.
    if (i > 0) await nextTurn();
    const chunk = rows.slice(i, i + READ_CHUNK);
    for (const bytes of await reader.read(chunk)) {
      if (bytes === 'shredded') continue;
      const frame = decodeFrame(bytes);
      if (!isSafeFrame(frame)) throw new SealedError('integrity_error', 'a stored frame does not decode');
      const wf = frame.body.wf;
      if (wf)
        out.push({
          dev,
          seq: frame.body.seq,
          ts: frame.body.ts,
          fs: wf.fs,
          s: Buffer.from(wf.s).toString('base64'),
        });
    }
  }
  return out;
}

/**
 * The ECG and download routes, for `startHttpServer({ routes })`.
 * @example routes: [careExportRoutes({ ...careOpts, paths, gatewayId: 'gw-1', deployment })]
 */
export function careExportRoutes(opts: CareExportOptions): HttpRoutes {
  const { fail, guarded, authorize, periodsOf, logged } = careGuard(opts);
  const maxEcgRangeMs = opts.maxEcgRangeMs ?? 3_600_000;
  const maxFhirRangeMs = opts.maxFhirRangeMs ?? 6 * 3_600_000;
  const origin = checkpointOrigin(opts.gatewayId);
  const log = { origin, logId: logIdOf(origin) };
  const slots = opts.downloads ?? defaultDownloadSlots();

  type PatientRange = { Params: { patient: string }; Querystring: { from: number; to: number } };
  const rangeOf = (req: FastifyRequest<PatientRange>) => ({
    patient: req.params.patient.toLowerCase(),
    from: req.query.from,
    to: req.query.to,
  });

  /**
   * `handler` run in one of the caller's download slots (at most 2 downloads made at once in
   * all, 1 per user, by default): each holds the event loop's time, the read threads and up to
   * hours of readings in memory, and one patient must not stall the ward's ingest or take the
   * doctors' turn. Refused at once with 503 `export_busy` and Retry-After, never queued. The
   * slot is given back when the answer is sent, fails, or its connection is gone.
   */
  const slotted =
    <Q extends PatientRange>(
      auth: Parameters<HttpRoutes>[1],
      handler: (req: FastifyRequest<Q>, reply: FastifyReply) => Promise<unknown>,
    ) =>
    async (req: FastifyRequest<Q>, reply: FastifyReply) => {
      const user = auth.requireRole(req as FastifyRequest, reply, CARE_ROLES);
      const release = slots.take(user.username);
      if (!release) throw new HttpError('export_busy', DOWNLOAD_RETRY_S);
      reply.raw.once('finish', release);
      reply.raw.once('close', release);
      if (req.raw.socket?.destroyed) release(); // gone already: no 'close' is left to come
      try {
        return await handler(req, reply);
      } catch (err) {
        release();
        throw err;
      }
    };

  /** A guarded route whose success is a file: sent with its type and as an attachment. */
  const download =
    (fn: (req: FastifyRequest<PatientRange>, user: CareUser) => Promise<Download>) =>
    (auth: Parameters<HttpRoutes>[1]) => {
      const handler = guarded<PatientRange>(CARE_ROLES, fn)(auth);
      return async (req: FastifyRequest<PatientRange>, reply: FastifyReply) => {
        let out: unknown;
        try {
          out = await handler(req, reply);
        } catch (err) {
          if (!(err instanceof VitalTrailError && err.code === 'not_anchored')) throw err;
          const r = errorReply('not_anchored');
          return reply.code(r.status).send(r.body);
        }
        if (!(out instanceof Download)) return out; // a refusal, already sent
        return reply
          .type(out.type)
          .header('content-disposition', `attachment; filename="${out.name}"`)
          .header('cache-control', 'no-store')
          .send(out.body);
      };
    };

  const getEcg = guarded<PatientRange>(CARE_ROLES, async (req, user) => {
    const { patient, from, to } = rangeOf(req);
    if (to - from > maxEcgRangeMs) return fail('bad_request', 'at most an hour of ECG per request');
    const a = await authorize(patient, from, to, user, SCOPE_ECG);
    const reader = new SealedReader(opts.store, opts.secrets);
    const strips: EcgStrip[] = [];
    for (const p of await periodsOf(a.patientId, from, to))
      strips.push(...(await waveformsOf(opts.store, reader, p.dev, p.from, p.to)));
    strips.sort((p, q) => p.ts - q.ts || (p.dev < q.dev ? -1 : 1) || p.seq - q.seq);
    logged(user, a, patient, 'ecg', from, to, strips.length);
    // In a group, every gateway's strips (io/http/routes/care/care-group); the downloads below stay this gateway's.
    return withPeers(opts.group, req, { patient, from, to, basis: a.basis, strips }, (mine, theirs) => ({
      ...mine,
      strips: mergeRows([mine.strips, ...theirs.map((t) => t.strips)]),
    }));
  });

  const getFhir = download(async (req, user) => {
    const { patient, from, to } = rangeOf(req);
    if (to - from > maxFhirRangeMs) return fail('bad_request', 'at most 6 hours of FHIR export per request');
    const a = await authorize(patient, from, to, user, SCOPE_VITALS);
    const r = await exportFhir({
      store: opts.store,
      bindings: opts.bindings,
      secrets: opts.secrets,
      log,
      deployment: opts.deployment,
      patientId: a.patientId,
      from,
      to,
    });
    logged(user, a, patient, 'fhir_export', from, to, r.observations);
    return new Download(
      'application/fhir+json',
      `vitaltrail-fhir-${patient.slice(2, 10)}-${from}-${to}.json`,
      Readable.from(inTimeSlices(r.text())),
    );
  });

  /**
   * Who may have the bundle's frames: the patient, or a doctor whose consent holds vitals and
   * ECG (a signed frame cannot be cut, so any frame may carry a waveform; the access log's
   * verifier asks both scopes of a `bundle_export`, anchor/src/verify-access `ACTION_SCOPE`).
   */
  const BUNDLE_SCOPE = SCOPE_VITALS | SCOPE_ECG;

  const getBundle = download(async (req, user) => {
    const { patient, from, to } = rangeOf(req);
    let a = await authorize(patient, from, to, user, BUNDLE_SCOPE);
    if (!opts.deployment) return fail('ledger_unavailable');
    // The patient's binding periods (a binding's end is exclusive: its last ms is the next patient's).
    const periods = (await opts.bindings.devicesOf(a.patientId)).map((p) => ({
      dev: p.dev,
      from: p.from,
      to: p.to === null ? null : p.to - 1,
    }));
    // Held from the plan to the last entry sent (or the connection gone).
    const release = opts.shredHold?.take() ?? (() => {});
    try {
      const plan: ExportPlan = await planExport({
        store: opts.store,
        paths: opts.paths,
        deployment: opts.deployment,
        ...log,
        periods,
        from,
        to,
        secrets: opts.secrets,
        // Its rows are held while it is sent: at most a readings answer's (422 too_many_readings).
        maxRows: opts.maxReadings ?? DEFAULT_MAX_READINGS,
      });
      // Boundary frames: the patient's own only; outside the range, for a doctor, only when a
      // consent in force also holds the span they widen the disclosure to.
      const own: number[] = [];
      for (const [leaf, e] of plan.edges)
        if ((await opts.bindings.at(e.dev, e.ts))?.patientId === a.patientId) own.push(leaf);
      let spanFrom = Math.min(from, ...own.map((l) => plan.edges.get(l)?.ts ?? from));
      let spanTo = Math.max(to, ...own.map((l) => plan.edges.get(l)?.ts ?? to));
      let kept = new Set(own);
      if (user.role === 'doctor' && (spanFrom < from || spanTo > to)) {
        try {
          a = await authorize(patient, spanFrom, spanTo, user, BUNDLE_SCOPE);
        } catch (err) {
          if (!(err instanceof VitalTrailError)) throw err;
          kept = new Set(
            own.filter((l) => {
              const ts = plan.edges.get(l)?.ts ?? -1;
              return ts >= from && ts <= to;
            }),
          );
          [spanFrom, spanTo] = [from, to];
        }
      }
      const keep = (e: EntryJson) => !plan.edges.has(e.leafIndex) || kept.has(e.leafIndex);
      const count = plan.total - (plan.edges.size - kept.size);
      logged(user, a, patient, 'bundle_export', spanFrom, spanTo, count);
      const body = Readable.from(inTimeSlices(bundleText(plan, { keep })));
      body.once('close', release); // sent, failed or abandoned
      return new Download(
        'application/json',
        `vitaltrail-bundle-${patient.slice(2, 10)}-${from}-${to}.json`,
        body,
      );
    } catch (err) {
      release();
      throw err;
    }
  });

  const getBundleParts = guarded<PatientRange>(CARE_ROLES, async (req, user) => {
    const { patient, from, to } = rangeOf(req);
    if (to < from) return fail('bad_request', 'to must not be before from');
    if (to - from > WINDOWED_MAX_MS) return fail('bad_request', 'at most 8 days of parts per request');
    const a = await authorize(patient, from, to, user, BUNDLE_SCOPE);
    const maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS;
    const periods = await periodsOf(a.patientId, from, to);
    const parts = await bundleParts(opts.store, periods, from, to, maxReadings);
    return { patient, from, to, maxReadings, parts };
  });

  return async (app, auth) => {
    const schema = { params: PATIENT_PARAM, querystring: RANGE_QUERY };
    app.get('/api/care/patients/:patient/bundle/parts', { schema }, getBundleParts(auth));
    app.get('/api/care/patients/:patient/ecg', { schema }, slotted(auth, getEcg(auth)));
    app.get('/api/care/patients/:patient/fhir', { schema }, slotted(auth, getFhir(auth)));
    app.get('/api/care/patients/:patient/bundle', { schema }, slotted(auth, getBundle(auth)));
  };
}
