/**
 * @module io/http/routes/data-routes
 * The authenticated query and admission API of the sealed store (issue 4). Contract
 * (used by the dashboard; keep exactly):
 * - `POST /api/admissions` `{dev, patientId, bed}` (admin, charge_nurse) → 201 `{dev, patientId, bed, since}`;
 *   409 `bed_occupied` when another device holds the bed, `patient_elsewhere` when the
 *   patient is admitted on another device (io/store/bindings)
 * - `POST /api/discharges` `{dev}` (admin, charge_nurse) → 200 `{dev, until}`
 * - `GET /api/bindings` → `{bindings:[{dev, patientId, bed, since}]}`
 * - `GET /api/beds` → `{beds:[{dev, bed}]}`: tile labels without patient ids (also wall displays)
 * - `GET /api/devices/:dev/bindings` → `{history:[{patientId, bed, from, to}]}`
 * - `GET /api/devices/:dev/readings?from=ms&to=ms[&limit=N]` → `{dev, readings:[{seq, ts, obs, bat?}]}`;
 *   a range holding more than `maxReadings` frames (100,000 by default) is refused with 422
 *   `too_many_readings` (its index read an hour at a time and stopped there, no frame opened);
 *   with `limit` (1-10,000) only the N latest readings, and `total`: the frames the range
 *   holds (from the index; shredded ones included). A long answer is sent in slices of the
 *   event loop's time (io/outbound `slicedJson`).
 * - `GET /api/devices/:dev/trend?from=ms&to=ms&bucketMs=N` →
 *   `{dev, from, to, bucketMs, series:{hr:[{t,min,max,mean,n}], spo2, rr, temp, sbp, dbp}}`
 * GET routes: roles admin, nurse, charge_nurse.
 *
 * In a gateway group (`peers`), readings and trends hold every gateway's readings: the
 * gateway answers for what it stored and asks the others (io/http/routes/peer-fanout), merging
 * readings by seq and trend buckets by time; `sources` names the gateways answered for and
 * those that did not answer (then the answer is partial).
 *
 * Every response that carries patient data is reported to `onAudit` (who, what, which
 * device and range; never a value), and readings and trends to `onAccess` before they are sent
 * (the access log, issue 18). Decryption needs a recipient private key on this
 * host; without one the data routes answer 503 `no_recipient_key`. Errors are
 * `{error:{code, reason}}` with fixed reasons that never echo input (STYLE.md §3).
 */
import type { FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import type { RecipientSecret } from '../../../core/envelope.js';
import type { LiveHub } from '../../../core/live.js';
import type {
  AdmissionDto,
  BedsResponse,
  BindingHistoryResponse,
  BindingsResponse,
  DischargeDto,
  SessionRole,
  TrendResponse,
} from '../../../core/live-contract.js';
import { mergeSeries, vitalsOf } from '../../../core/trend.js';
import { ERROR_GROUPS, type ErrorGroupCode } from '../../../protocol/error-codes.js';
import { VitalTrailError } from '../../../protocol/errors.js';
import type { Role } from '../../identity/index.js';
import { slicedJson } from '../../outbound/index.js';
import {
  countReadings,
  DEFAULT_MAX_READINGS,
  readReadings,
  readTrend,
  TooManyReadings,
} from '../../queries/index.js';
import type { GatewayStore } from '../../store/index.js';
import { BED_PATTERN, type BindingBook, PATIENT_ID_PATTERN, SealedReader } from '../../store/index.js';
import { errorReply } from '../errors.js';
import type { HttpAuth, HttpRoutes } from '../route-contract.js';
import { ADMIT_ROLES, WARD_READ_ROLES, WARD_ROLES } from '../route-roles.js';
import { fromPeer, type PeerGroup, withPeers } from './peer-fanout.js';

export interface DataAuditEvent {
  type: 'patient_data_view' | 'admission' | 'discharge';
  username: string;
  route: string;
  dev?: string;
  from?: number;
  to?: number;
  count?: number;
}

export interface DataRoutesOptions {
  store: GatewayStore;
  bindings: BindingBook;
  /** Recipient private keys of this host; empty = no decryption here. */
  secrets: readonly RecipientSecret[];
  hub?: LiveHub;
  /** Audit sink for views of and changes to patient data. Must not throw. */
  onAudit?: (e: DataAuditEvent) => void;
  /**
   * Told of every admission and discharge made through these routes, after it is stored.
   * Must not throw. (The gateway does not use it: its alarm standby follows the book's
   * `onChange`, which also hears the changes other gateways of a group make; app/ward-steps.)
   */
  onBindingChange?: (e: { type: 'admission' | 'discharge'; dev: string; username: string }) => void;
  /** Largest readings range in one request. Default 7 days. */
  maxRangeMs?: number;
  /** Largest number of buckets of a trend. Default 10,000. */
  maxBuckets?: number;
  /** Most frames a readings range may hold (`too_many_readings` past it). Default 100,000. */
  maxReadings?: number;
  /** In a gateway group: this gateway's id and where the others are (trends and readings of all). */
  group?: PeerGroup;
  /**
   * Told of every readings or trend answer this gateway gives a user (not the part it gives a
   * peer of its group: the gateway the user asked tells it), awaited before the answer is sent:
   * the access log (issue 18). A rejection refuses the answer (nothing is served unlogged).
   */
  onAccess?: (a: WardAccess) => Promise<void>;
}

/** One ward-team view of a device's data (the access log's input, app/care-steps). */
export interface WardAccess {
  username: string;
  role: SessionRole;
  dev: string;
  /** `patient_view`: the ward's patient view (io/http/routes/alarm-routes), or the ward board itself. */
  action: 'readings' | 'trend' | 'patient_view';
  from: number;
  to: number;
}

const VIEW_ROLES: readonly Role[] = WARD_ROLES;
const LABEL_ROLES: readonly SessionRole[] = WARD_READ_ROLES;

/** The coded errors these routes answer with their registered status (the registry's `data_http` group). */
type DataErrorCode = ErrorGroupCode<'data_http'>;
const DATA_ERROR_CODES: readonly string[] = ERROR_GROUPS.data_http;

class DataError extends VitalTrailError<DataErrorCode> {}

function send(reply: FastifyReply, code: DataErrorCode): FastifyReply {
  const r = errorReply(code);
  return reply.code(r.status).send(r.body);
}

const DEV_PARAM = {
  type: 'object',
  required: ['dev'],
  properties: { dev: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } },
} as const;

const RANGE_QUERY = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'integer', minimum: 0 },
    to: { type: 'integer', minimum: 0 },
    bucketMs: { type: 'integer', minimum: 1000 },
    limit: { type: 'integer', minimum: 1, maximum: 10_000 },
  },
} as const;

/**
 * The data routes, for `startHttpServer({ routes })`.
 * @example
 * startHttpServer({ ..., routes: [createDataRoutes({ store, bindings, secrets, hub })] });
 */
export function createDataRoutes(opts: DataRoutesOptions): HttpRoutes {
  const { store, bindings, hub } = opts;
  const maxRangeMs = opts.maxRangeMs ?? 7 * 24 * 3600 * 1000;
  const maxBuckets = opts.maxBuckets ?? 10_000;
  const maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS;
  const audit = (e: DataAuditEvent): void => {
    try {
      opts.onAudit?.(e);
    } catch {
      // The audit sink must not break the API.
    }
  };

  const changed: NonNullable<DataRoutesOptions['onBindingChange']> = (e) => {
    try {
      opts.onBindingChange?.(e);
    } catch {
      // A failing listener must not undo a stored admission.
    }
  };

  const checkRange = (dev: string, from: number, to: number): void => {
    if (opts.secrets.length === 0) throw new DataError('no_recipient_key', 'no secrets');
    if (to < from || to - from > maxRangeMs) throw new DataError('bad_request', 'range');
    if (!store.getDevice(dev)) throw new DataError('not_found', 'device');
  };
  const readings = async (dev: string, from: number, to: number, last: number | undefined) => {
    checkRange(dev, from, to);
    const reader = new SealedReader(store, opts.secrets);
    return (await readReadings(store, reader, dev, from, to, { last, maxRows: maxReadings })).readings;
  };

  /** Runs a handler; maps coded failures to their fixed replies. */
  const guarded =
    <Q extends RouteGenericInterface>(
      roles: readonly SessionRole[],
      fn: (
        req: FastifyRequest<Q>,
        reply: FastifyReply,
        user: { username: string; role: SessionRole },
        auth: HttpAuth,
      ) => Promise<unknown>,
    ) =>
    (auth: HttpAuth) =>
    async (req: FastifyRequest<Q>, reply: FastifyReply) => {
      const user = auth.requireRole(req as FastifyRequest, reply, roles);
      try {
        return await fn(req, reply, user, auth);
      } catch (err) {
        if (err instanceof VitalTrailError && DATA_ERROR_CODES.includes(err.code)) {
          return send(reply, err.code as DataErrorCode);
        }
        throw err;
      }
    };

  type DevRange = {
    Params: { dev: string };
    Querystring: { from: number; to: number; bucketMs?: number; limit?: number };
  };

  const getReadings = guarded<DevRange>(VIEW_ROLES, async (req, reply, user) => {
    const { dev } = req.params;
    const { from, to, limit } = req.query;
    const rs = await readings(dev, from, to, limit);
    const total = limit === undefined ? undefined : await countReadings(store, dev, from, to);
    const mine = rs.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      obs: vitalsOf(r.obs),
      ...(r.bat !== undefined ? { bat: r.bat } : {}),
    }));
    const answer = await withPeers(
      opts.group,
      req,
      { dev, readings: mine, ...(total === undefined ? {} : { total }) },
      (m, theirs) => mergedReadings(m, theirs, limit),
    );
    // Logged once the answer stands (a group's merged answer past the bound is refused unlogged), before it is sent.
    if (!fromPeer(req)) await opts.onAccess?.({ ...user, dev, action: 'readings', from, to });
    audit({
      type: 'patient_data_view',
      username: user.username,
      route: 'readings',
      dev,
      from,
      to,
      count: rs.length,
    });
    return slicedJson(answer, 'readings', reply);
  });

  type Reading = { seq: number; ts: number; obs: ReturnType<typeof vitalsOf>; bat?: number };
  type ReadingsAnswer = { dev: string; readings: Reading[]; total?: number };
  /**
   * This gateway's readings and the peers' (`withPeers`): a reading two gateways stored (a
   * redelivery) once, by seq; with `limit`, the latest by ts and the gateways' totals summed.
   * @throws {TooManyReadings} when the merged readings pass the bound (each gateway kept
   * within it; together they may not).
   */
  const mergedReadings = (
    mine: ReadingsAnswer,
    theirs: ReadingsAnswer[],
    limit: number | undefined,
  ): ReadingsAnswer => {
    const bySeq = new Map(mine.readings.map((r) => [r.seq, r]));
    for (const t of theirs) for (const r of t.readings ?? []) if (!bySeq.has(r.seq)) bySeq.set(r.seq, r);
    let all = [...bySeq.values()];
    if (limit === undefined && all.length > maxReadings) throw new TooManyReadings(maxReadings);
    if (limit !== undefined) all = all.sort((p, q) => p.ts - q.ts || p.seq - q.seq).slice(-limit);
    const total =
      mine.total === undefined ? {} : { total: theirs.reduce((n, t) => n + (t.total ?? 0), mine.total) };
    return { dev: mine.dev, readings: all.sort((p, q) => p.seq - q.seq), ...total };
  };

  const getTrend = guarded<DevRange>(VIEW_ROLES, async (req, _reply, user) => {
    const { dev } = req.params;
    const { from, to } = req.query;
    const bucketMs = req.query.bucketMs ?? 60_000;
    if ((to - from) / bucketMs > maxBuckets) throw new DataError('bad_request', 'buckets');
    checkRange(dev, from, to);
    // From the sealed rollups where they count every frame, raw frames elsewhere: the same
    // numbers as core/trend `downsample` over the readings (io/queries).
    const t = await readTrend(store, new SealedReader(store, opts.secrets), dev, from, to, bucketMs);
    if (!fromPeer(req)) await opts.onAccess?.({ ...user, dev, action: 'trend', from, to });
    audit({
      type: 'patient_data_view',
      username: user.username,
      route: 'trend',
      dev,
      from,
      to,
      count: t.readings,
    });
    const mine: TrendResponse = { dev, from, to, bucketMs, series: t.series };
    return withPeers(opts.group, req, mine, (m, theirs) => ({
      ...m,
      series: mergeSeries([m.series, ...theirs.map((p) => p.series)]),
    }));
  });

  // Beds only (no key, no patient id): what a tile label needs, so wall displays get no PHI.
  const getBeds = guarded(LABEL_ROLES, async () => ({ beds: bindings.beds() }) satisfies BedsResponse);

  const getBindings = guarded(VIEW_ROLES, async (_req, _reply, user) => {
    const active = await bindings.active();
    audit({ type: 'patient_data_view', username: user.username, route: 'bindings', count: active.length });
    return {
      bindings: active.map((b) => ({ dev: b.dev, patientId: b.patientId, bed: b.bed, since: b.from })),
    } satisfies BindingsResponse;
  });

  const getHistory = guarded<{ Params: { dev: string } }>(VIEW_ROLES, async (req, _reply, user) => {
    const { dev } = req.params;
    const history = await bindings.history(dev);
    audit({
      type: 'patient_data_view',
      username: user.username,
      route: 'binding_history',
      dev,
      count: history.length,
    });
    return {
      history: history.map((b) => ({ patientId: b.patientId, bed: b.bed, from: b.from, to: b.to })),
    } satisfies BindingHistoryResponse;
  });

  const postAdmission = guarded<{ Body: { dev: string; patientId: string; bed: string } }>(
    ADMIT_ROLES,
    async (req, reply, user) => {
      const { dev, patientId, bed } = req.body;
      if (!store.getDevice(dev)) throw new DataError('not_found', 'device');
      const b = await bindings.admit(dev, patientId, bed, undefined, user.username);
      hub?.setLabel(dev, bed); // the bed only: a patient id never reaches the ward tiles
      audit({ type: 'admission', username: user.username, route: 'admissions', dev });
      changed({ type: 'admission', dev, username: user.username });
      return reply
        .code(201)
        .send({ dev, patientId: b.patientId, bed: b.bed, since: b.from } satisfies AdmissionDto);
    },
  );

  const postDischarge = guarded<{ Body: { dev: string } }>(ADMIT_ROLES, async (req, _reply, user) => {
    const { dev } = req.body;
    const { to } = await bindings.discharge(dev, undefined, user.username);
    hub?.setLabel(dev, null);
    audit({ type: 'discharge', username: user.username, route: 'discharges', dev });
    changed({ type: 'discharge', dev, username: user.username });
    return { dev, until: to } satisfies DischargeDto;
  });

  return async (app, auth) => {
    app.get(
      '/api/devices/:dev/readings',
      { schema: { params: DEV_PARAM, querystring: RANGE_QUERY } },
      getReadings(auth),
    );
    app.get(
      '/api/devices/:dev/trend',
      { schema: { params: DEV_PARAM, querystring: RANGE_QUERY } },
      getTrend(auth),
    );
    app.get('/api/bindings', getBindings(auth));
    app.get('/api/beds', getBeds(auth));
    app.get('/api/devices/:dev/bindings', { schema: { params: DEV_PARAM } }, getHistory(auth));
    app.post(
      '/api/admissions',
      {
        schema: {
          body: {
            type: 'object',
            required: ['dev', 'patientId', 'bed'],
            additionalProperties: false,
            properties: {
              dev: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
              patientId: { type: 'string', pattern: PATIENT_ID_PATTERN.source },
              bed: { type: 'string', pattern: BED_PATTERN.source },
            },
          },
        },
      },
      postAdmission(auth),
    );
    app.post(
      '/api/discharges',
      {
        schema: {
          body: {
            type: 'object',
            required: ['dev'],
            additionalProperties: false,
            properties: { dev: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } },
          },
        },
      },
      postDischarge(auth),
    );
  };
}
