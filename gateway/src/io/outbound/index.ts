/**
 * @module io/outbound
 * What leaves the gateway: disclosure bundles for auditors, FHIR R4 exports, and the
 * optional InfluxDB sink.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { exportBundleToFile } from './export.js';
export { exportFhir } from './fhir-export.js';
export { InfluxSink } from './influx-sink.js';
