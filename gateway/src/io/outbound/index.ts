/**
 * @module io/outbound
 * What leaves the gateway on request or as a copy: disclosure bundles for auditors, FHIR R4
 * exports, and the optional InfluxDB sink. (The live interfaces into the hospital's
 * systems are io/interfaces.)
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export {
  bundleText,
  type EntryJson,
  ExportError,
  type ExportPlan,
  exportBundleToFile,
  planExport,
} from './export.js';
export { exportFhir } from './fhir-export.js';
export { InfluxSink } from './influx-sink.js';
export { inTimeSlices, SLICE_MS, SLICED_JSON_FROM, slicedJson } from './time-slices.js';
