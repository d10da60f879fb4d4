// @ts-check
/**
 * @module dashboards/ward/charts
 * The patient view's canvases: the ECG strip (a sliding window fed by `{type:'ecg'}`
 * chunks, int16 little-endian microvolts, PROTOCOL.md §1) and the trends
 * (`GET /api/devices/:dev/trend`: min–max band and mean line per vital) with a time axis
 * on the ward's clock, the patient's alarm limits as dashed lines and the alarm episodes
 * as spans shaded in their priority colour (in the vital's row and in the alarm strip).
 */
import { drawEcgPaper, ecgSamples } from '../common/ecg-paper.js';
import { errorCode } from '../common/http.js';
import { alarmText } from './alarm-text.js';
import { api } from './api.js';
import { dateTime, timeOfDay } from './clock.js';
import { currentEpisodes, onEpisodes } from './episodes.js';
import { state, ui } from './state.js';
import { tileStateOf } from './tile-state.js';

/** @typedef {import('../common/contract.js').EcgMessage} EcgMessage */
/** @typedef {import('../common/contract.js').TrendResponse} TrendResponse */
/** @typedef {import('../common/contract.js').TrendPointDto} TrendPointDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').TileStateDto['limits']} AlarmLimits */
/** @typedef {import('../../gateway/src/core/live-contract.js').AlarmEpisodeDto} AlarmEpisodeDto */

/** Seconds of ECG on the strip. */
export const ECG_SECONDS = 5;
/** @type {readonly {key: string, name: string, color: string, lo: number, hi: number, scale?: number, also?: string}[]} */
const TREND_SERIES = [
  { key: 'hr', name: 'HR /min', color: '#3ee07a', lo: 30, hi: 180 },
  { key: 'spo2', name: 'SpO₂ %', color: '#38d6f5', lo: 80, hi: 100 },
  { key: 'rr', name: 'RR /min', color: '#ffd84a', lo: 0, hi: 40 },
  { key: 'temp', name: 'Temp °C', color: '#f2f4f8', lo: 3400, hi: 4100, scale: 0.01 },
  { key: 'sbp', name: 'BP mmHg', color: '#ff6b7d', lo: 40, hi: 200, also: 'dbp' },
];

// --- ECG strip

/** @param {EcgMessage} m */
export function applyEcg(m) {
  const v = state.view;
  if (!v || m.dev !== v.dev || typeof m.s !== 'string') return;
  const samples = ecgSamples(m.s);
  const n = samples.length;
  if (m.fs !== v.ecgFs) {
    v.ecgFs = m.fs;
    v.ecg = new Int16Array(m.fs * ECG_SECONDS);
    v.ecgLen = 0;
  }
  // Append at the end of a sliding window (int16 little-endian, PROTOCOL.md §1).
  const cap = v.ecg.length;
  const take = Math.min(n, cap);
  v.ecg.copyWithin(0, take);
  v.ecg.set(samples.subarray(n - take), cap - take);
  v.ecgLen = Math.min(cap, v.ecgLen + take);
  ui.ecgNone.hidden = true;
  drawEcg();
}

/**
 * Fills a canvas with its background colour.
 * @param {HTMLCanvasElement} c
 * @param {string} background
 * @returns {{ g: CanvasRenderingContext2D, w: number, h: number } | null} null without a 2D context
 */
function clearCanvas(c, background) {
  const g = c.getContext('2d');
  if (!g) return null;
  const { width: w, height: h } = c;
  g.fillStyle = background;
  g.fillRect(0, 0, w, h);
  return { g, w, h };
}

export function drawEcg() {
  const v = state.view;
  drawEcgPaper(ui.ecg, v ? v.ecg : null, v ? v.ecgLen : 0, v ? v.ecgFs : 250);
}

// --- trends (GET /api/devices/:dev/trend, drawn on canvas)

/** Priority colours of the episode spans (IEC 60601-1-8 Table 2, as the tiles). */
const EPISODE_COLOR = /** @type {Readonly<Record<string, string>>} */ ({
  high: '#ff2d3d',
  medium: '#ffd400',
  low: '#2fd8ff',
});
/** Steps of the time axis, minutes. */
const AXIS_STEPS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360];

/** @type {{dev: string | null, limits: AlarmLimits | null, last: {series: Partial<Record<string, TrendPointDto[]>> | null, from: number, to: number} | null}} */
const trend = { dev: null, limits: null, last: null };

/**
 * The open patient's alarm limits for the limit lines (from the patient view; the live
 * tile state wins when there is one).
 * @param {string} dev
 * @param {AlarmLimits | null} limits
 */
export function setTrendLimits(dev, limits) {
  trend.dev = dev;
  trend.limits = limits;
  redrawTrend();
}

/** Redraws the last trend (new limits or episodes), without fetching it again. */
export function redrawTrend() {
  if (trend.last && state.view?.dev === trend.dev)
    drawTrend(trend.last.series, trend.last.from, trend.last.to);
}
onEpisodes(redrawTrend);

/**
 * Ticks of a time axis from `from` to `to`: a round step (1 min … 6 h) giving at most
 * `max` ticks, on whole local minutes/hours.
 * @param {number} from
 * @param {number} to
 * @param {number} [max]
 * @returns {number[]}
 */
export function timeTicks(from, to, max = 8) {
  const span = Math.max(1, to - from);
  const stepMin = AXIS_STEPS_MIN.find((m) => span / (m * 60_000) <= max) ?? 360;
  const step = stepMin * 60_000;
  const tz = new Date(from).getTimezoneOffset() * 60_000;
  const first = Math.ceil((from - tz) / step) * step + tz;
  const out = [];
  for (let t = first; t <= to; t += step) out.push(t);
  return out;
}

/**
 * The trend row an alarm code belongs to (a limit alarm's vital), or null.
 * @param {string} code
 */
function rowOf(code) {
  const m = /^(hr|spo2|rr|temp|sbp|dbp)_/.exec(code);
  if (!m) return null;
  return m[1] === 'dbp' ? 'sbp' : (m[1] ?? null);
}

export async function loadTrend() {
  const v = state.view;
  if (!v) return;
  const to = Date.now() + state.clockOffset;
  // About 300 buckets. From 4 h on they are whole minutes and start on their own grid, so
  // the store answers them from its sealed rollups (per minute and per 15 minutes) and
  // reads raw frames only for the minute still running; shorter ranges read raw frames.
  const bucketMs =
    v.rangeMs >= 4 * 3_600_000
      ? Math.ceil(v.rangeMs / 300 / 60_000) * 60_000
      : Math.max(1000, Math.round(v.rangeMs / 300));
  const from =
    v.rangeMs >= 4 * 3_600_000 ? Math.floor((to - v.rangeMs) / bucketMs) * bucketMs : to - v.rangeMs;
  for (const b of ui.ranges.querySelectorAll('button'))
    b.setAttribute('aria-pressed', String(Number(b.dataset.range) === v.rangeMs));
  ui.trendStatus.textContent = 'Loading…';
  const res = await api(
    `/api/devices/${encodeURIComponent(v.dev)}/trend?from=${from}&to=${to}&bucketMs=${bucketMs}`,
  );
  if (state.view !== v) return;
  if (!res.ok) {
    ui.trendStatus.textContent =
      res.status === 404
        ? 'Trends are not available on this gateway.'
        : `Trends unavailable (${errorCode(res)}).`;
    drawTrend(null, from, to);
    return;
  }
  /** @type {Partial<Record<string, TrendPointDto[]>>} */
  const series = /** @type {TrendResponse} */ (res.body).series ?? {};
  const points = Object.values(series).reduce((n, s) => n + (Array.isArray(s) ? s.length : 0), 0);
  ui.trendStatus.textContent = points
    ? `${dateTime(from)} – ${timeOfDay(to)}, ${Math.round(bucketMs / 1000)} s buckets`
    : 'No stored readings in this range.';
  drawTrend(series, from, to);
}

/**
 * @param {Partial<Record<string, TrendPointDto[]>> | null} series
 * @param {number} from
 * @param {number} to
 */
function drawTrend(series, from, to) {
  const v = state.view;
  trend.last = { series, from, to };
  const paper = clearCanvas(ui.trend, '#0b1017');
  if (!paper) return;
  const { g, w, h } = paper;
  const left = 120;
  const right = w - 8;
  const axisH = 34;
  const stripH = 34;
  const rowH = (h - axisH - stripH) / TREND_SERIES.length;
  /** @param {number} t */
  const x = (t) => left + ((t - from) / (to - from)) * (right - left);
  const limits = (v ? tileStateOf(v.dev)?.limits : null) ?? (trend.dev === v?.dev ? trend.limits : null);
  const episodes = v ? currentEpisodes().filter((e) => e.raisedAt < to && (e.clearedAt ?? to) > from) : [];
  /** @param {AlarmEpisodeDto} e */
  const span = (e) => {
    const x0 = x(Math.max(from, e.raisedAt));
    return { x0, x1: Math.max(x0 + 2, x(Math.min(to, e.clearedAt ?? to))) };
  };
  g.font = '20px system-ui, sans-serif';
  g.textBaseline = 'alphabetic';
  // Time grid, through every row.
  const ticks = timeTicks(from, to);
  g.strokeStyle = '#1b2431';
  g.lineWidth = 1;
  for (const t of ticks) {
    g.beginPath();
    g.moveTo(Math.round(x(t)) + 0.5, 6);
    g.lineTo(Math.round(x(t)) + 0.5, h - axisH);
    g.stroke();
  }
  TREND_SERIES.forEach((s, i) => {
    const top = i * rowH + 6;
    const bottom = (i + 1) * rowH - 6;
    // Alarm episodes of this vital, shaded behind the data.
    for (const e of episodes) {
      if (rowOf(e.code) !== s.key) continue;
      const { x0, x1 } = span(e);
      g.fillStyle = `${EPISODE_COLOR[e.priority] ?? '#9aa7b8'}33`;
      g.fillRect(x0, top, x1 - x0, bottom - top);
    }
    g.strokeStyle = '#273142';
    g.strokeRect(left, top, right - left, bottom - top);
    g.fillStyle = s.color;
    g.fillText(s.name, 8, top + 24);
    g.fillStyle = '#9aa7b8';
    const k = s.scale ?? 1;
    g.fillText(String(Math.round(s.hi * k)), 8, top + 48);
    g.fillText(String(Math.round(s.lo * k)), 8, bottom - 4);
    /** @param {number} val */
    const y = (val) =>
      bottom - ((Math.min(s.hi, Math.max(s.lo, val)) - s.lo) / (s.hi - s.lo)) * (bottom - top);
    // The patient's alarm limits: dashed lines, labelled at the right.
    g.save();
    g.setLineDash([10, 7]);
    g.lineWidth = 1.5;
    g.font = '16px system-ui, sans-serif';
    for (const key of [s.key, s.also]) {
      const lim = key && limits ? limits[/** @type {keyof AlarmLimits} */ (key)] : null;
      for (const side of /** @type {const} */ (['low', 'high'])) {
        const val = lim?.[side];
        if (typeof val !== 'number' || val < s.lo || val > s.hi) continue;
        const yy = Math.round(y(val)) + 0.5;
        g.strokeStyle = `${s.color}cc`;
        g.beginPath();
        g.moveTo(left, yy);
        g.lineTo(right, yy);
        g.stroke();
        g.fillStyle = s.color;
        const name = s.also && key ? `${key.toUpperCase()} ` : '';
        const label = `${name}${side === 'low' ? '▼' : '▲'} ${k === 1 ? val : (val * k).toFixed(1)}`;
        const ly = Math.min(bottom - 3, Math.max(top + 16, side === 'low' ? yy + 17 : yy - 5));
        // The second series' limits (DBP) are labelled at the left, clear of the first's.
        const lx = key === s.also ? left + 6 : right - g.measureText(label).width - 4;
        g.fillText(label, lx, ly);
      }
    }
    g.restore();
    if (!series) return;
    // Data outside the range (a bucket that began before `from`) stays out of the frame.
    g.save();
    g.beginPath();
    g.rect(left, top, right - left, bottom - top);
    g.clip();
    for (const key of [s.key, s.also]) {
      if (!key) continue;
      const pts = Array.isArray(series[key]) ? series[key] : [];
      // min–max band, then the mean line.
      g.fillStyle = `${s.color}33`;
      for (const p of pts)
        g.fillRect(x(p.t), y(p.max), Math.max(1, (right - left) / 300), Math.max(1, y(p.min) - y(p.max)));
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      pts.forEach((p, j) => {
        if (j === 0) g.moveTo(x(p.t), y(p.mean));
        else g.lineTo(x(p.t), y(p.mean));
      });
      g.stroke();
    }
    g.restore();
  });
  // The alarm strip: every episode in its priority colour, its name where it fits.
  const stripTop = h - axisH - stripH + 2;
  g.fillStyle = '#9aa7b8';
  g.font = '18px system-ui, sans-serif';
  g.fillText('Alarms', 8, stripTop + 22);
  g.strokeStyle = '#273142';
  g.strokeRect(left, stripTop, right - left, stripH - 6);
  for (const e of [...episodes].reverse()) {
    const { x0, x1 } = span(e);
    g.fillStyle = EPISODE_COLOR[e.priority] ?? '#9aa7b8';
    g.fillRect(x0, stripTop + 2, x1 - x0, stripH - 10);
    const name = alarmText(e);
    if (g.measureText(name).width + 8 < x1 - x0) {
      g.fillStyle = '#0b1017';
      g.fillText(name, x0 + 4, stripTop + 21);
    }
  }
  // The same, for screen readers (and tests): the axis, the episodes, the limits.
  const spans = episodes.map(
    (e) =>
      `${alarmText(e)} ${timeOfDay(e.raisedAt)}–${e.clearedAt === null ? 'now' : timeOfDay(e.clearedAt)} (${e.priority})`,
  );
  ui.trend.setAttribute(
    'aria-label',
    `Trends ${timeOfDay(from)}–${timeOfDay(to)}; time axis ${ticks.map((t) => timeOfDay(t)).join(', ')}; ` +
      `alarm episodes: ${spans.join('; ') || 'none'}; alarm limits ${limits ? 'shown as dashed lines' : 'not known'}`,
  );
  // The time axis, on the ward's clock.
  g.fillStyle = '#c6d0dc';
  g.font = '18px system-ui, sans-serif';
  for (const t of ticks) {
    const label = timeOfDay(t);
    const tx = Math.min(
      right - g.measureText(label).width,
      Math.max(left, x(t) - g.measureText(label).width / 2),
    );
    g.fillText(label, tx, h - 10);
  }
}
