// @ts-check
/**
 * @module dashboards/ward/charts
 * The patient view's canvases: the ECG strip (a sliding window fed by `{type:'ecg'}`
 * chunks, int16 little-endian microvolts, PROTOCOL.md §1) and the trends
 * (`GET /api/devices/:dev/trend`: min–max band and mean line per vital).
 */
import { errorCode } from '../common/http.js';
import { api } from './api.js';
import { state, ui } from './state.js';

/** @typedef {import('../common/contract.js').EcgMessage} EcgMessage */
/** @typedef {import('../common/contract.js').TrendResponse} TrendResponse */
/** @typedef {import('../common/contract.js').TrendPointDto} TrendPointDto */

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
  const bin = atob(m.s);
  const n = bin.length >> 1;
  if (m.fs !== v.ecgFs) {
    v.ecgFs = m.fs;
    v.ecg = new Int16Array(m.fs * ECG_SECONDS);
    v.ecgLen = 0;
  }
  // Append at the end of a sliding window (int16 little-endian, PROTOCOL.md §1).
  const cap = v.ecg.length;
  const take = Math.min(n, cap);
  v.ecg.copyWithin(0, take);
  for (let i = 0; i < take; i++) {
    const j = (n - take + i) * 2;
    const u = bin.charCodeAt(j) | (bin.charCodeAt(j + 1) << 8);
    v.ecg[cap - take + i] = u >= 0x8000 ? u - 0x10000 : u;
  }
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
  const paper = clearCanvas(ui.ecg, '#050a06');
  if (!paper) return;
  const { g, w, h } = paper;
  // ECG paper grid: 0.2 s major lines.
  const v = state.view;
  const cap = v ? v.ecg.length : 1250;
  const fs = v ? v.ecgFs : 250;
  g.strokeStyle = '#12301c';
  g.lineWidth = 1;
  for (let t = 0; t <= cap; t += fs / 5) {
    const x = (t / cap) * w;
    g.beginPath();
    g.moveTo(x, 0);
    g.lineTo(x, h);
    g.stroke();
  }
  for (let y = 0; y <= h; y += w / ((cap / fs) * 5)) {
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(w, y);
    g.stroke();
  }
  if (!v || v.ecgLen === 0) return;
  // −1 mV … +1.5 mV over the height.
  /** @param {number} uv */
  const y = (uv) => h * (1 - (uv + 1000) / 2500);
  g.strokeStyle = '#3ee07a';
  g.lineWidth = 2;
  g.beginPath();
  const start = cap - v.ecgLen;
  for (let i = start; i < cap; i++) {
    const x = (i / (cap - 1)) * w;
    if (i === start) g.moveTo(x, y(v.ecg[i] ?? 0));
    else g.lineTo(x, y(v.ecg[i] ?? 0));
  }
  g.stroke();
}

// --- trends (GET /api/devices/:dev/trend, drawn on canvas)

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
    ? `${new Date(from).toLocaleString()} – ${new Date(to).toLocaleTimeString()}, ${Math.round(bucketMs / 1000)} s buckets`
    : 'No stored readings in this range.';
  drawTrend(series, from, to);
}

/**
 * @param {Partial<Record<string, TrendPointDto[]>> | null} series
 * @param {number} from
 * @param {number} to
 */
function drawTrend(series, from, to) {
  const paper = clearCanvas(ui.trend, '#0b1017');
  if (!paper) return;
  const { g, w, h } = paper;
  const left = 120;
  const rowH = h / TREND_SERIES.length;
  g.font = '20px system-ui, sans-serif';
  TREND_SERIES.forEach((s, i) => {
    const top = i * rowH + 6;
    const bottom = (i + 1) * rowH - 6;
    g.strokeStyle = '#273142';
    g.strokeRect(left, top, w - left - 4, bottom - top);
    g.fillStyle = s.color;
    g.fillText(s.name, 8, top + 24);
    g.fillStyle = '#9aa7b8';
    const k = s.scale ?? 1;
    g.fillText(String(Math.round(s.hi * k)), 8, top + 48);
    g.fillText(String(Math.round(s.lo * k)), 8, bottom - 4);
    if (!series) return;
    /** @param {number} t */
    const x = (t) => left + ((t - from) / (to - from)) * (w - left - 4);
    /** @param {number} val */
    const y = (val) =>
      bottom - ((Math.min(s.hi, Math.max(s.lo, val)) - s.lo) / (s.hi - s.lo)) * (bottom - top);
    for (const key of [s.key, s.also]) {
      if (!key) continue;
      const pts = Array.isArray(series[key]) ? series[key] : [];
      // min–max band, then the mean line.
      g.fillStyle = `${s.color}33`;
      for (const p of pts)
        g.fillRect(x(p.t), y(p.max), Math.max(1, ((w - left) * 1) / 300), Math.max(1, y(p.min) - y(p.max)));
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      pts.forEach((p, j) => {
        if (j === 0) g.moveTo(x(p.t), y(p.mean));
        else g.lineTo(x(p.t), y(p.mean));
      });
      g.stroke();
    }
  });
}
