/**
 * @module io/http/routes/webhook-routes
 * The way back of the alarm webhook (issue 19: "an acknowledgement that comes back … a
 * signed callback … acknowledges the alarm in VitalTrail in the name of the nurse who sent
 * it, audited"): `POST /api/outbound/webhook/ack` `{alarmId, by, comment?}`, signed like
 * the webhook's own requests (core/webhook-signature: `X-VitalTrail-Timestamp` and
 * `X-VitalTrail-Signature: sha256=<hex HMAC of "<timestamp>.<raw body>">` with the shared
 * secret). No session: the signature is the credential. `by` must be a user of this
 * gateway with a ward role; the acknowledgement is recorded in the alarm's history and the
 * audit log (`alarm_acknowledged`) in that nurse's name, like one made on the dashboard.
 * Answers: 200 `{alarm}`; 401 `unauthenticated` (no or bad signature, stale timestamp);
 * 403 `forbidden` (`by` is not a ward user); 404 `alarm_not_found`; 409 `alarm_not_active`;
 * 400 `bad_request` (schema).
 */
import { AlarmError } from '../../../core/alarms/index.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../../../core/webhook-signature.js';
import type { AlarmService } from '../../clinical/index.js';
import type { User } from '../../identity/index.js';
import { errorReply } from '../errors.js';
import type { HttpRoutes } from '../route-contract.js';
import { WARD_ROLES } from '../route-roles.js';

const ACK_BODY = {
  type: 'object',
  required: ['alarmId', 'by'],
  additionalProperties: false,
  properties: {
    alarmId: { type: 'string', pattern: '^[0-9a-f-]{36}$' },
    by: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    comment: { type: 'string', maxLength: 200 },
  },
} as const;

export interface WebhookRoutesOptions {
  alarms: AlarmService;
  /** The gateway's users (io/identity `UserDirectory`). */
  user: (username: string) => Pick<User, 'role'> | undefined;
  /** The shared secret; absent (no webhook configured): every request is 401. */
  secret?: string;
  now?: () => number;
}

export function webhookRoutes(o: WebhookRoutesOptions): HttpRoutes {
  const now = o.now ?? Date.now;
  return (app) => {
    // Its own JSON parser, keeping the raw body the signature covers (this route only).
    app.register(async (scope) => {
      scope.addContentTypeParser(
        'application/json',
        { parseAs: 'string', bodyLimit: 4096 },
        (req, body, done) => {
          (req as unknown as { rawBody: string }).rawBody = body as string;
          try {
            done(null, JSON.parse(body as string));
          } catch {
            const e = errorReply('bad_request');
            done(Object.assign(new Error(e.body.error.reason), { statusCode: e.status }), undefined);
          }
        },
      );
      scope.post('/api/outbound/webhook/ack', { schema: { body: ACK_BODY } }, async (request, reply) => {
        const raw = (request as unknown as { rawBody?: string }).rawBody ?? '';
        const header = (h: string) => {
          const v = request.headers[h];
          return typeof v === 'string' ? v : undefined;
        };
        if (
          o.secret === undefined ||
          !verifyWebhook(o.secret, header(TIMESTAMP_HEADER), raw, header(SIGNATURE_HEADER), now())
        ) {
          const e = errorReply('unauthenticated');
          return reply.code(e.status).send(e.body);
        }
        const { alarmId, by, comment } = request.body as { alarmId: string; by: string; comment?: string };
        const role = o.user(by)?.role;
        if (!role || !WARD_ROLES.includes(role)) {
          const e = errorReply('forbidden');
          return reply.code(e.status).send(e.body);
        }
        try {
          // The alarm service records it in the alarm's history and the audit log
          // (`alarm_acknowledged`, user = the nurse), as for one made on the dashboard.
          return { alarm: await o.alarms.acknowledge(alarmId, by, comment?.trim() || null) };
        } catch (err) {
          if (!(err instanceof AlarmError)) throw err;
          const e = errorReply(err.code);
          return reply.code(e.status).send(e.body);
        }
      });
    });
  };
}
