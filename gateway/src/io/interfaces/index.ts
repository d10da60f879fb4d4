/**
 * @module io/interfaces
 * The interfaces into the hospital's systems (issue 19): the durable delivery engine and
 * its receivers (IHE PCD-01 over MLLP, FHIR R4 push, IHE PCD-04 to an alarm manager, the
 * alarm webhook), and the way back (IHE PCD-05 acknowledgements).
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { AlarmSource, type OutboundAlarm } from './alarm-source.js';
export { type DeliveryOptions, DeliveryWorker } from './delivery.js';
export {
  type CursorRow,
  type DeadLetter,
  type DeadLetterRow,
  DeliveryState,
  type ReplayRequest,
} from './delivery-state.js';
export {
  type AlarmBacklog,
  type AlarmBacklogOf,
  deliveryStatus,
  type OutboundStatus,
} from './delivery-status.js';
export { FhirReceiver, type FhirReceiverOptions } from './fhir-receiver.js';
export { MllpReceiver, type MllpReceiverOptions } from './mllp-receiver.js';
export { type Pcd05Counters, Pcd05Listener, type Pcd05ListenerOptions } from './pcd05-listener.js';
export { IntervalReadingSource, type OutboundReadingGroup, ReadingSource } from './reading-source.js';
export {
  DeliveryError,
  type DeliverySource,
  deliveryError,
  type OutboundReading,
  type Receiver,
} from './receiver.js';
export { type ProbeResult, type ProbeTargets, probeReceivers, RECEIVER_PROBES } from './receiver-probe.js';
export { WebhookReceiver, type WebhookReceiverOptions } from './webhook-receiver.js';
