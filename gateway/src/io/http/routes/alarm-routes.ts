/**
 * @module io/http/routes/alarm-routes
 * HTTP routes of the ward's alarms, NEWS2 and per-patient settings (registered through
 * `HttpServerOptions.routes`, gateway/src/io/http/server.ts). Roles (ARCHITECTURE.md "Roles"):
 * the live roles (nurse, charge_nurse, admin) read and acknowledge; auditors get 403.
 * Nurses are ward-scoped: one gateway serves one ward, so every device it knows is on
 * the nurse's ward.
 *
 * - `GET /api/alarms` → `{alarms: AlarmDto[]}` open alarms of the ward (gateway-wide included).
 * - `POST /api/alarms/:id/ack` `{comment?}` → `{alarm}`; 404 `alarm_not_found`, 409 `alarm_not_active`.
 * - `GET /api/patients/:dev` → `{dev, settings, news2, alarms, history, episodes, tile}`: the
 *   patient view, its history also grouped by episode; audited as `patient_view` with the user.
 * - `GET /api/patients/:dev/settings` → settings; `PUT` (partial update: scale, oxygen, ACVPU,
 *   limits, alarm policies) → settings; 400 `limits_invalid` for a low limit at or above the
 *   high one, a limit outside the vital's physiological range, a policy out of bounds.
 * - `POST /api/patients/:dev/standby` `{on, minutes?}` → the tile state: a nurse pauses a
 *   bed's alarms (1 to 1440 minutes, or until ended) or ends its standby.
 * - `GET /api/patients/:dev/alarms` → `{history: AlarmEventDto[]}` newest first.
 *
 * Trust: params and bodies are attacker-controlled: schema-checked (no extra keys,
 * bounded strings and numbers), never logged; responses are whitelisted DTOs.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AlarmError, groupEpisodes, LIMIT_VITALS, POLICY_FIELDS } from '../../../core/alarms/index.js';
import type { LiveHub } from '../../../core/live.js';
import type {
  AckResponse,
  AlarmDto,
  PatientSettings,
  PatientViewDto,
  StandbyRequest,
  TileStateDto,
} from '../../../core/live-contract.js';
import { CONSCIOUSNESS_LEVELS } from '../../../core/news2.js';
import { DEVICE_ID_PATTERN } from '../../../protocol/frame.js';
import { type AlarmService, MAX_STANDBY_MINUTES, type PatientSettingsUpdate } from '../../clinical/index.js';
import type { Role } from '../../identity/index.js';
import { errorReply, HttpError } from '../errors.js';
import type { HttpRoutes } from '../route-contract.js';
import { WARD_ROLES } from '../route-roles.js';
import type { WardAccess } from './data-routes.js';

/** Roles that see and acknowledge alarms and change a patient's alarm settings (io/http/route-roles). */
export const ALARM_ROLES: readonly Role[] = WARD_ROLES;

const DEV_PARAMS = {
  type: 'object',
  required: ['dev'],
  properties: { dev: { type: 'string', pattern: DEVICE_ID_PATTERN.source } },
} as const;

const ACK_SCHEMA = {
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: '^[0-9a-f-]{36}$' } },
  },
  body: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: { comment: { type: 'string', maxLength: 200 } },
  },
} as const;

const LIMIT_VALUE = { type: ['integer', 'null'], minimum: 0, maximum: 10_000 } as const;
/** A policy value's shape only: its bounds and integrality are the service's `limits_invalid` check. */
const POLICY_VALUE = { type: 'number', minimum: -1_000_000, maximum: 1_000_000 } as const;
const SETTINGS_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    spo2Scale: { type: 'integer', enum: [1, 2] },
    oxygen: { type: 'boolean' },
    consciousness: { type: 'string', enum: [...CONSCIOUSNESS_LEVELS] },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        LIMIT_VITALS.map((v) => [
          v,
          {
            type: 'object',
            additionalProperties: false,
            required: ['low', 'high'],
            properties: { low: LIMIT_VALUE, high: LIMIT_VALUE },
          },
        ]),
      ),
    },
    policies: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        LIMIT_VITALS.map((v) => [
          v,
          {
            type: 'object',
            additionalProperties: false,
            properties: Object.fromEntries(POLICY_FIELDS.map((f) => [f, POLICY_VALUE])),
          },
        ]),
      ),
    },
  },
} as const;

const STANDBY_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['on'],
  properties: {
    on: { type: 'boolean' },
    minutes: { type: 'integer', minimum: 1, maximum: MAX_STANDBY_MINUTES },
  },
} as const;

/**
 * The alarm routes for `startHttpServer({ routes: [alarmRoutes({ alarms, hub })] })`.
 * @example
 * const http = await startHttpServer({ ..., routes: [alarmRoutes({ alarms, hub })] });
 */
export function alarmRoutes(deps: {
  alarms: AlarmService;
  hub: LiveHub;
  /**
   * Told of each patient view before it is answered (issue 18: the access log, one entry per
   * patient bound to the device over the alarm history shown); a throw refuses the answer.
   */
  onView?: (a: WardAccess) => Promise<void>;
}): HttpRoutes {
  const { alarms, hub } = deps;
  /** A device this gateway's ward knows, or 404 (unknown ids are not echoed). */
  const knownDev = (request: FastifyRequest): string => {
    const { dev } = request.params as { dev: string };
    if (!hub.snapshot().some((t) => t.dev === dev)) throw new HttpError('not_found');
    return dev;
  };
  const alarmError = (reply: FastifyReply, err: AlarmError) => {
    const e = errorReply(err.code);
    return reply.code(e.status).send(e.body);
  };

  return (app, auth) => {
    app.get('/api/alarms', async (request, reply): Promise<{ alarms: AlarmDto[] }> => {
      auth.requireRole(request, reply, ALARM_ROLES);
      return { alarms: alarms.openAlarms() };
    });

    app.post('/api/alarms/:id/ack', { schema: ACK_SCHEMA }, async (request, reply) => {
      const user = auth.requireRole(request, reply, ALARM_ROLES);
      const { id } = request.params as { id: string };
      const comment = (request.body as { comment?: string } | null)?.comment?.trim() || null;
      try {
        return { alarm: await alarms.acknowledge(id, user.username, comment) } satisfies AckResponse;
      } catch (err) {
        if (err instanceof AlarmError) return alarmError(reply, err);
        throw err;
      }
    });

    app.get(
      '/api/patients/:dev',
      { schema: { params: DEV_PARAMS } },
      async (request, reply): Promise<PatientViewDto> => {
        const user = auth.requireRole(request, reply, ALARM_ROLES);
        const dev = knownDev(request);
        alarms.recordView(dev, user.username);
        const history = await alarms.history(dev, 100);
        const now = Date.now();
        await deps.onView?.({
          username: user.username,
          role: user.role,
          dev,
          action: 'patient_view',
          from: Math.min(now, ...history.map((e) => e.at)),
          to: now,
        });
        return {
          dev,
          settings: alarms.settings(dev),
          news2: alarms.news2Of(dev),
          alarms: alarms.openAlarms(dev),
          history,
          episodes: groupEpisodes(history),
          tile: alarms.tileState(dev),
        };
      },
    );

    app.get('/api/patients/:dev/settings', { schema: { params: DEV_PARAMS } }, async (request, reply) => {
      auth.requireRole(request, reply, ALARM_ROLES);
      return alarms.settings(knownDev(request)) satisfies PatientSettings;
    });

    app.put(
      '/api/patients/:dev/settings',
      { schema: { params: DEV_PARAMS, body: SETTINGS_BODY } },
      async (request, reply) => {
        const user = auth.requireRole(request, reply, ALARM_ROLES);
        const dev = knownDev(request);
        try {
          const s = alarms.updateSettings(dev, request.body as PatientSettingsUpdate, user.username);
          await alarms.settingsSaved(); // in a group: in its database (else 503 shared_unavailable)
          return s satisfies PatientSettings;
        } catch (err) {
          if (err instanceof AlarmError) return alarmError(reply, err);
          throw err;
        }
      },
    );

    app.post(
      '/api/patients/:dev/standby',
      { schema: { params: DEV_PARAMS, body: STANDBY_BODY } },
      async (request, reply) => {
        const user = auth.requireRole(request, reply, ALARM_ROLES);
        const dev = knownDev(request);
        const tile = alarms.standby(dev, request.body as StandbyRequest, user.username);
        await alarms.settingsSaved();
        return tile satisfies TileStateDto;
      },
    );

    app.get('/api/patients/:dev/alarms', { schema: { params: DEV_PARAMS } }, async (request, reply) => {
      auth.requireRole(request, reply, ALARM_ROLES);
      return { history: await alarms.history(knownDev(request)) };
    });
  };
}
