/**
 * @module dashboards/globals
 * Globals the ward page reads: the bench hooks set by test/bench/dashboard.ts.
 */
interface Window {
  /** Hub publish → rendered latency samples, ms (bench only). */
  __vtLatency?: number[];
  /** Snapshots received (bench only). */
  __vtSnapshots?: number;
  /** Readings received (bench only). */
  __vtReceived?: number;
}
