/**
 * @module io/queries
 * What the query API and the exports read from the sealed store: a device's raw readings
 * over a time range (readings.ts: every frame opened; a long read on io/reading's threads;
 * bounded on request), its trend (trends.ts: from the sealed rollups wherever they count
 * every frame), and the parts a patient's long range is downloaded in (bundle-parts.ts: counts
 * from the frame index). The one way into this folder from the rest of the gateway
 * (test/unit/house-rules.test.ts).
 */
export { bundleParts, type RangePart } from './bundle-parts.js';
export {
  countReadings,
  DEFAULT_MAX_READINGS,
  type ReadReadingsOptions,
  readReadings,
  type StoredReading,
  TooManyReadings,
} from './readings.js';
export { readTrend, type TrendRead, type TrendReadOptions } from './trends.js';
