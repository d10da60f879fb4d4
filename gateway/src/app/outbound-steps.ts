/**
 * @module app/outbound-steps
 * The outbound interfaces into the hospital's systems (issue 19; io/interfaces): one delivery
 * worker per configured receiver (HL7 v2 IHE PCD-01 over MLLP, FHIR R4 push), each moving
 * its own durable cursor along the log, and the alarm webhook's worker, moving its cursor
 * along the recorded alarm transitions. They read the sealed store with a recipient private
 * key the gateway holds (DATA/gateway/recipients/*.key.pem): without one the gateway refuses
 * to start with `config_invalid`, rather than run interfaces that can never send.
 */
import {
  AlarmSource,
  DeliveryState,
  DeliveryWorker,
  FhirReceiver,
  MllpReceiver,
  ReadingSource,
  WebhookReceiver,
} from '../io/interfaces/index.js';
import { loadRecipientSecrets } from '../io/store/index.js';
import { VitalTrailError } from '../protocol/errors.js';
import type { GatewayStep } from './gateway-parts.js';

export const outbound: GatewayStep = {
  name: 'outbound',
  start(p) {
    const o = p.get('opts').outbound;
    if (!o || (!o.mllp && !o.fhir && !o.webhook)) {
      p.set('outbound', []);
      return;
    }
    const store = p.get('store');
    const secrets = loadRecipientSecrets(p.get('paths').recipientsDir);
    if (secrets.length === 0 && (o.mllp || o.fhir)) {
      throw new VitalTrailError(
        'config_invalid',
        'outbound interfaces need a recipient private key in DATA/gateway/recipients (*.key.pem) to read the sealed readings',
      );
    }
    const source = new ReadingSource({
      store,
      secrets,
      bindings: p.get('bindings'),
      origin: p.get('origin'),
    });
    const state = new DeliveryState(store);
    const startLeaf = o.start === 'history' ? 0 : store.size;
    const log = p.get('log');
    const gatewayId = p.get('gatewayId');
    const receivers = [
      ...(o.mllp
        ? [
            new MllpReceiver({
              name: 'mllp',
              host: o.mllp.host,
              port: o.mllp.port,
              message: {
                sendingApp: 'VITALTRAIL',
                sendingFacility: gatewayId,
                receivingApp: o.mllp.receivingApplication ?? 'EHR',
                receivingFacility: o.mllp.receivingFacility ?? 'HOSPITAL',
              },
            }),
          ]
        : []),
      ...(o.fhir
        ? [
            new FhirReceiver({
              name: 'fhir',
              baseUrl: o.fhir.url,
              ...(o.fhir.token ? { bearerToken: o.fhir.token } : {}),
              ...(o.fhir.patientSystem ? { patientSystem: o.fhir.patientSystem } : {}),
            }),
          ]
        : []),
    ];
    const alarmFeed = o.webhook
      ? [
          new DeliveryWorker({
            receiver: new WebhookReceiver({ name: 'webhook', url: o.webhook.url, secret: o.webhook.secret }),
            state,
            source: new AlarmSource(p.get('alarms'), p.get('bindings')),
            // The alarm feed's cursor is the alarm event id.
            startLeaf: o.start === 'history' ? 0 : p.get('alarms').lastEventId() + 1,
            pollMs: Math.min(o.pollMs ?? 250, 250),
            log,
          }),
        ]
      : [];
    const workers = p.set('outbound', [
      ...alarmFeed,
      ...receivers.map(
        (receiver) =>
          new DeliveryWorker({
            receiver,
            state,
            source,
            startLeaf,
            ...(o.batch ? { batch: o.batch } : {}),
            ...(o.pollMs ? { pollMs: o.pollMs } : {}),
            log,
          }),
      ),
    ]);
    for (const w of workers) {
      w.cursor(); // a new receiver's start is recorded at once, not when it first sends
      w.start();
    }
    log.info('outbound interfaces running', { receivers: workers.map((w) => w.name).join(',') });
  },
  async stop(p) {
    await Promise.all(p.get('outbound').map((w) => w.stop()));
  },
};
