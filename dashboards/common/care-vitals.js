// @ts-check
/**
 * @module dashboards/common/care-vitals
 * A patient's readings and trend on the patient portal and the doctor's page (issue 18): one
 * range, two calls (`…/readings` and `…/trend`, the same range, so both are judged by the same
 * consent and both logged), drawn into a readings table (common/care-tables) and an SVG trend
 * (common/care-chart). A refusal (e.g. `consent_required` after a revocation) clears both and
 * is returned, so the page shows it plainly.
 */
import { getReadings, getTrend, refusalText } from './care-api.js';
import { drawTrend } from './care-chart.js';
import { fillReadings } from './care-tables.js';
import { errorCode } from './http.js';

/** @typedef {import('./care-api.js').AccessBasis} AccessBasis */

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
    getReadings(o.patient, o.from, o.to),
    getTrend(o.patient, o.from, o.to, bucketFor(o.to - o.from)),
  ]);
  if (!readings.ok || !trend.ok) {
    const bad = !readings.ok ? readings : trend;
    o.tbody.replaceChildren();
    o.trend.replaceChildren();
    return { ok: false, code: String(errorCode(bad)), text: refusalText(bad) };
  }
  fillReadings(o.tbody, readings.body.readings);
  drawTrend(o.trend, trend.body);
  return { ok: true, count: readings.body.readings.length, basis: readings.body.basis };
}
