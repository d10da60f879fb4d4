// @ts-check
/**
 * @module dashboards/common/ecg-paper
 * An ECG strip on a canvas, as the ward's patient view (live) and the doctor's page (a
 * patient's latest stored seconds) draw it: dark paper with 0.2 s major lines in square boxes,
 * and the trace of int16 microvolt samples (PROTOCOL.md §1), −1 … +1.5 mV over the height,
 * right-aligned in its window. Plus the samples of a chunk as the API and the live socket send
 * them (base64 of int16 little-endian).
 */

/** The paper and trace colours. */
const PAPER = '#050a06';
const GRID = '#12301c';
const TRACE = '#3ee07a';

/**
 * Draws `samples` (the last `len` of them hold data) on `canvas`, the window being
 * `samples.length` samples at `fs` Hz; without samples, the paper alone (5 s at 250 Hz).
 * @param {HTMLCanvasElement} canvas
 * @param {Int16Array | null} samples
 * @param {number} len
 * @param {number} fs
 */
export function drawEcgPaper(canvas, samples, len, fs) {
  const g = canvas.getContext('2d');
  if (!g) return;
  const { width: w, height: h } = canvas;
  g.fillStyle = PAPER;
  g.fillRect(0, 0, w, h);
  const cap = samples ? samples.length : 1250;
  const rate = samples ? fs : 250;
  g.strokeStyle = GRID;
  g.lineWidth = 1;
  for (let t = 0; t <= cap; t += rate / 5) {
    const x = (t / cap) * w;
    g.beginPath();
    g.moveTo(x, 0);
    g.lineTo(x, h);
    g.stroke();
  }
  for (let y = 0; y <= h; y += w / ((cap / rate) * 5)) {
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(w, y);
    g.stroke();
  }
  if (!samples || len === 0) return;
  /** @param {number} uv */
  const y = (uv) => h * (1 - (uv + 1000) / 2500);
  g.strokeStyle = TRACE;
  g.lineWidth = 2;
  g.beginPath();
  const start = cap - len;
  for (let i = start; i < cap; i++) {
    const x = (i / (cap - 1)) * w;
    if (i === start) g.moveTo(x, y(samples[i] ?? 0));
    else g.lineTo(x, y(samples[i] ?? 0));
  }
  g.stroke();
}

/**
 * The samples of one chunk: base64 of int16 little-endian microvolts.
 * @param {string} base64
 * @returns {Int16Array}
 */
export function ecgSamples(base64) {
  const bin = atob(base64);
  const out = new Int16Array(bin.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const u = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
    out[i] = u >= 0x8000 ? u - 0x10000 : u;
  }
  return out;
}
