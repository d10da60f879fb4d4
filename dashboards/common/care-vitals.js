// @ts-check
/**
 * @module dashboards/common/care-vitals
 * A patient's readings and trend on the patient portal and the doctor's page (issue 18): one
 * range, two calls (`…/readings` and `…/trend`, the same range, so both are judged by the same
 * consent and both logged), drawn into a readings table of the latest 20 (only those are read
 * and sent, `&limit=20`, with the range's count) and an SVG trend (common/care-chart). A refusal (e.g. `consent_required` after a revocation) clears both and
 * is returned, so the page shows it plainly.
 */
import { getReadings, getTrend, refusalText } from './care-api.js';
import { drawTrend } from './care-chart.js';
import { fillReadings } from './care-tables.js';
import { errorCode } from './http.js';

/** @typedef {import('./care-api.js').AccessBasis} AccessBasis */

/** Rows of the readings table: the latest of the range. */
const READINGS_SHOWN = 20;

/**
 * A bucket that gives at most about 150 points over `span` ms, in whole minutes.
 * @param {number} span
 * @returns {number}
 */
export const bucketFor = (span) => Math.max(60_000, Math.ceil(span / 150 / 60_000) * 60_000);

/**
 * Loads and draws the patient's vitals from `from` to `to`.
 * @param {{patient: string, from: number, to: number, tbody: HTMLTableSectionElement, trend: HTMLElement}} o
 * @returns {Promise<{ok: true, count: number, basis: AccessBasis} | {ok: false, code: string, text: string}>}
 */
export async function loadVitals(o) {
  const [readings, trend] = await Promise.all([
    // The table shows the latest rows: only those are read and sent, with the range's count.
    getReadings(o.patient, o.from, o.to, READINGS_SHOWN),
    getTrend(o.patient, o.from, o.to, bucketFor(o.to - o.from)),
  ]);
  if (!readings.ok || !trend.ok) {
    const bad = !readings.ok ? readings : trend;
    o.tbody.replaceChildren();
    o.trend.replaceChildren();
    return { ok: false, code: String(errorCode(bad)), text: refusalText(bad) };
  }
  fillReadings(o.tbody, readings.body.readings, READINGS_SHOWN);
  drawTrend(o.trend, trend.body);
  const count = readings.body.total ?? readings.body.readings.length;
  return { ok: true, count, basis: readings.body.basis };
}
