/**
 * @module app/outbound-steps
 * The outbound interfaces into the hospital's systems (issue 19; io/interfaces): one delivery
 * worker per configured receiver (HL7 v2 IHE PCD-01 over MLLP, FHIR R4 push), each moving
 * its own durable cursor along the log; the alarm feeds (IHE PCD-04 to an alarm manager, the
 * webhook), each moving its cursor along the recorded alarm transitions; and the MLLP
 * listener for the alarm manager's PCD-05 acknowledgements. The readings and the patient ids
 * are read with a recipient private key the gateway holds (DATA/gateway/recipients/*.key.pem):
 * without one the gateway refuses to start with `config_invalid`, rather than run interfaces
 * that can never send.
 */
import { senderHeader } from '../core/hl7/er7.js';
import { buildPcd01GroupMessage } from '../core/hl7/pcd01.js';
import { buildPcd04Message } from '../core/hl7/pcd04.js';
import { WARD_ROLES } from '../io/http/index.js';
import {
  AlarmSource,
  type DeliverySource,
  DeliveryState,
  DeliveryWorker,
  FhirReceiver,
  IntervalReadingSource,
  MllpReceiver,
  type OutboundAlarm,
  type OutboundReadingGroup,
  Pcd05Listener,
  ReadingSource,
  type Receiver,
  WebhookReceiver,
} from '../io/interfaces/index.js';
import { loadRecipientSecrets } from '../io/store/index.js';
import { VitalTrailError } from '../protocol/errors.js';
import type { GatewayStep } from './gateway-parts.js';

export const outbound: GatewayStep = {
  name: 'outbound',
  async start(p) {
    const o = p.get('opts').outbound;
    p.set('pcd05', null);
    if (!o || (!o.mllp && !o.fhir && !o.webhook && !o.acm)) {
      p.set('outbound', []);
      return;
    }
    const store = p.get('store');
    const secrets = loadRecipientSecrets(p.get('paths').recipientsDir);
    if (secrets.length === 0 && (o.mllp || o.fhir || o.acm?.host)) {
      throw new VitalTrailError(
        'config_invalid',
        'outbound interfaces need a recipient private key in DATA/gateway/recipients (*.key.pem) to read the sealed readings and patient ids',
      );
    }
    const parts = { store, secrets, bindings: p.get('bindings'), origin: p.get('origin') };
    const source = new ReadingSource(parts);
    const state = new DeliveryState(store);
    const startLeaf = o.start === 'history' ? 0 : store.size;
    const log = p.get('log');
    const gatewayId = p.get('gatewayId');
    const readingWorker = <T>(receiver: Receiver<T>, from: DeliverySource<T>) =>
      new DeliveryWorker<T>({
        receiver,
        state,
        source: from,
        startLeaf,
        ...(o.batch ? { batch: o.batch } : {}),
        ...(o.pollMs ? { pollMs: o.pollMs } : {}),
        log,
      });
    const mllp = o.mllp;
    const mllpOptions = mllp && {
      name: 'mllp',
      host: mllp.host,
      port: mllp.port,
      message: senderHeader(gatewayId, mllp, 'EHR'),
    };
    const readingFeed = [
      ...(mllpOptions && mllp?.intervalSeconds
        ? [
            // PCD-01 per interval: one message per device, interval and binding.
            readingWorker(
              new MllpReceiver<OutboundReadingGroup>({
                ...mllpOptions,
                build: (g, header) => buildPcd01GroupMessage(g.readings, g.id, header),
              }),
              new IntervalReadingSource({ ...parts, intervalMs: mllp.intervalSeconds * 1000 }),
            ),
          ]
        : mllpOptions
          ? [readingWorker(new MllpReceiver(mllpOptions), source)]
          : []),
      ...(o.fhir
        ? [
            readingWorker(
              new FhirReceiver({
                name: 'fhir',
                baseUrl: o.fhir.url,
                ...(o.fhir.token ? { bearerToken: o.fhir.token } : {}),
                ...(o.fhir.patientSystem ? { patientSystem: o.fhir.patientSystem } : {}),
              }),
              source,
            ),
          ]
        : []),
    ];
    const lastAlarmEvent = await p.get('alarms').lastEventId();
    const alarmWorker = (receiver: WebhookReceiver | MllpReceiver<OutboundAlarm>, withPatient: boolean) =>
      new DeliveryWorker({
        receiver,
        state,
        source: new AlarmSource(p.get('alarms'), p.get('bindings'), withPatient, p.get('gatewayId')),
        // The alarm feed's cursor is the alarm event id.
        startLeaf: o.start === 'history' ? 0 : lastAlarmEvent + 1,
        pollMs: Math.min(o.pollMs ?? 250, 250),
        log,
      });
    const origin = p.get('origin');
    const acm = o.acm;
    const alarmFeed = [
      ...(o.webhook
        ? [
            alarmWorker(
              new WebhookReceiver({ name: 'webhook', url: o.webhook.url, secret: o.webhook.secret }),
              false,
            ),
          ]
        : []),
      ...(acm?.host && acm.port !== undefined
        ? [
            alarmWorker(
              new MllpReceiver<OutboundAlarm>({
                name: 'acm',
                host: acm.host,
                port: acm.port,
                message: senderHeader(gatewayId, acm, 'AM'),
                build: (a, header) => buildPcd04Message(a, origin, header),
              }),
              true,
            ),
          ]
        : []),
    ];
    const workers = p.set('outbound', [...alarmFeed, ...readingFeed]);
    for (const w of workers) {
      w.cursor(); // a new receiver's start is recorded at once, not when it first sends
      w.start();
    }
    if (acm?.listen) {
      const users = p.get('users');
      const listener = new Pcd05Listener({
        host: acm.listen.host,
        port: acm.listen.port,
        allowFrom: acm.listen.allowFrom,
        alarms: p.get('alarms'),
        roleOf: (u) => users.get(u)?.role,
        wardRoles: WARD_ROLES,
        log,
      });
      await listener.start();
      p.set('pcd05', listener);
    }
    log.info('outbound interfaces running', { receivers: workers.map((w) => w.name).join(',') });
  },
  async stop(p) {
    await p.get('pcd05')?.stop();
    await Promise.all(p.get('outbound').map((w) => w.stop()));
  },
};
