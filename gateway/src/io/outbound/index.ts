/**
 * @module io/outbound
 * What leaves the gateway: disclosure bundles for auditors, FHIR R4 exports, the optional
 * InfluxDB sink, and the outbound interfaces into the hospital's systems (issue 19: the
 * delivery engine and its receivers).
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { AlarmSource, type OutboundAlarm } from './alarm-source.js';
export { type DeliveryOptions, DeliveryWorker } from './delivery.js';
export { type CursorRow, type DeadLetter, DeliveryState } from './delivery-state.js';
export { exportBundleToFile } from './export.js';
export { exportFhir } from './fhir-export.js';
export { FhirReceiver, type FhirReceiverOptions } from './fhir-receiver.js';
export { InfluxSink } from './influx-sink.js';
export { MllpReceiver, type MllpReceiverOptions } from './mllp-receiver.js';
export { ReadingSource } from './reading-source.js';
export { DeliveryError, deliveryError, type OutboundReading, type Receiver } from './receiver.js';
export { WebhookReceiver, type WebhookReceiverOptions } from './webhook-receiver.js';
