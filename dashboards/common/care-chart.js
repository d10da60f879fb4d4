// @ts-check
/**
 * @module dashboards/common/care-chart
 * A small SVG trend of a patient's vitals for the patient portal and the doctor's page (issue
 * 18): one row per vital that has readings (HR, SpO₂, RR, temperature, systolic BP), each the
 * min–max band and the mean line of the trend's buckets (`GET /api/care/patients/:p/trend`),
 * over the whole requested range, with the first and last time and the last mean as text.
 * Built with DOM calls (no innerHTML) and presentation attributes (no inline styles: CSP).
 */
import { formatDateTime } from './format.js';

/** @typedef {import('./care-api.js').TrendAnswer} TrendAnswer */
/** @typedef {import('./care-api.js').TrendPoint} TrendPoint */

const SVG = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 64;

/** @type {readonly {key: string, name: string, color: string, scale: number, digits: number}[]} */
const VITALS = [
  { key: 'hr', name: 'HR /min', color: '#3ee07a', scale: 1, digits: 0 },
  { key: 'spo2', name: 'SpO₂ %', color: '#38d6f5', scale: 1, digits: 0 },
  { key: 'rr', name: 'RR /min', color: '#ffd84a', scale: 1, digits: 0 },
  { key: 'temp', name: 'Temp °C', color: '#f2f4f8', scale: 0.01, digits: 1 },
  { key: 'sbp', name: 'Sys BP mmHg', color: '#ff6b7d', scale: 1, digits: 0 },
];

/**
 * @param {string} name
 * @param {Record<string, string | number>} attrs
 * @returns {SVGElement}
 */
function el(name, attrs) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/**
 * Draws `trend` into `host` (replacing what was there); says so when it holds no readings.
 * @param {HTMLElement} host
 * @param {TrendAnswer} trend
 * @returns {number} the number of vitals drawn
 */
export function drawTrend(host, trend) {
  host.replaceChildren();
  const span = Math.max(1, trend.to - trend.from);
  const x = (/** @type {number} */ t) => ((t - trend.from) / span) * W;
  let drawn = 0;
  for (const v of VITALS) {
    /** @type {TrendPoint[]} */
    const points = trend.devices
      .flatMap((d) => d.series[v.key] ?? [])
      .filter((p) => p.n > 0)
      .sort((a, b) => a.t - b.t);
    if (points.length === 0) continue;
    drawn++;
    let lo = Math.min(...points.map((p) => p.min));
    let hi = Math.max(...points.map((p) => p.max));
    if (hi - lo < 1) {
      lo -= 1;
      hi += 1;
    }
    const y = (/** @type {number} */ value) => H - 4 - ((value - lo) / (hi - lo)) * (H - 8);
    const fig = document.createElement('figure');
    fig.className = 'trend-row';
    fig.dataset.vital = v.key;
    const cap = document.createElement('figcaption');
    const last = /** @type {TrendPoint} */ (points[points.length - 1]);
    cap.textContent = `${v.name}: last ${(last.mean * v.scale).toFixed(v.digits)} (range ${(lo * v.scale).toFixed(v.digits)}–${(hi * v.scale).toFixed(v.digits)})`;
    const svg = el('svg', {
      viewBox: `0 0 ${W} ${H}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': `${v.name} trend`,
    });
    svg.append(el('rect', { x: 0, y: 0, width: W, height: H, fill: '#0b0e11', stroke: '#2a3138' }));
    const band = points.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`);
    const under = points.map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`).reverse();
    svg.append(el('polygon', { points: [...band, ...under].join(' '), fill: v.color, 'fill-opacity': 0.18 }));
    svg.append(
      el('polyline', {
        points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.mean).toFixed(1)}`).join(' '),
        fill: 'none',
        stroke: v.color,
        'stroke-width': 1.5,
      }),
    );
    for (const p of points.length <= 60 ? points : [])
      svg.append(el('circle', { cx: x(p.t).toFixed(1), cy: y(p.mean).toFixed(1), r: 2, fill: v.color }));
    fig.append(cap, svg);
    host.append(fig);
  }
  const axis = document.createElement('p');
  axis.className = 'trend-axis';
  axis.textContent = drawn
    ? `${formatDateTime(trend.from)} → ${formatDateTime(trend.to)} (buckets of ${Math.round(trend.bucketMs / 60000)} min)`
    : 'No readings in this range.';
  host.append(axis);
  return drawn;
}
