// @ts-check
/**
 * @module dashboards/auditor/report
 * Renders a verification: the verdict and summary, how the signatures were checked, the
 * per-checkpoint and per-entry codes, the progress bar, and a chart of the readings by
 * proof status. Text from the files is only ever set as textContent, never as HTML.
 */
import { byId as $, appendCell } from '../common/dom.js';

/** @typedef {import('./verifier-client.js').PageResult} PageResult */
/** @typedef {import('./verifier-client.js').VerifyReport} VerifyReport */
/** @typedef {import('./verifier-client.js').SignatureStats} SignatureStats */
/** @typedef {import('./verifier-client.js').Progress} Progress */

/** @type {Readonly<Record<'valid' | 'shredded' | 'invalid', string>>} */
const COLORS = { valid: '#3fb950', shredded: '#8b949e', invalid: '#f85149' };
/** @param {string} code */
const statusOf = (code) => (code === 'valid' || code === 'shredded' ? code : 'invalid');

const PHASES = {
  reading: 'reading the files',
  signatures: 'checking signatures (WebCrypto)',
  entries: 'verifying entries',
};

/**
 * A bar and "phase done/total" (entries), as the CLI's progress bar.
 * @param {Progress} p
 */
export function showProgress({ phase, done, total }) {
  const p = $('progress');
  p.hidden = false;
  p.dataset.phase = phase;
  p.dataset.done = String(done);
  p.dataset.total = String(total);
  const bar = /** @type {HTMLProgressElement} */ ($('progress-bar'));
  bar.max = Math.max(total, 1);
  bar.value = done;
  $('progress-text').textContent = phase === 'reading' ? PHASES.reading : `${PHASES[phase]} ${done}/${total}`;
}

/**
 * How the signatures were checked: beside the report, never in it.
 * @param {SignatureStats} sig
 */
export function renderSignatures(sig) {
  const c = sig.counts;
  const wc = sig.webcrypto;
  const noble = c.es256Noble + c.ed25519Noble + c.certificateNoble;
  const el = $('sig-stats');
  Object.assign(el.dataset, {
    webcrypto: String(c.es256Prechecked),
    noble: String(noble),
    nobleEs256: String(c.es256Noble),
    nobleEd25519: String(c.ed25519Noble),
    nobleCertificates: String(c.certificateNoble),
    webcryptoUsed: String(wc?.webcrypto === true),
    highS: wc?.webcrypto ? (wc.highS ? 'webcrypto' : 'noble') : 'noble',
  });
  const parts = [
    `signatures: ${c.es256Prechecked} with WebCrypto (ES256 frames), ${noble} with @noble ` +
      `(${c.es256Noble} ES256 frames, ${c.ed25519Noble} Ed25519 frames, ${c.certificateNoble} certificates)`,
  ];
  if (wc && !wc.webcrypto) parts.push(`WebCrypto not used: ${wc.note}`);
  if ((wc?.highSLeft ?? 0) > 0)
    parts.push(`${wc?.highSLeft} high-S signatures left to @noble (this browser's WebCrypto refuses them)`);
  parts.push(`time: ${wc ? `${wc.ms} ms WebCrypto + ` : ''}${sig.verifyMs} ms verifier`);
  el.textContent = parts.join('; ');
}

/** @param {VerifyReport} report */
export function renderTables(report) {
  const cps = /** @type {HTMLTableElement} */ ($('checkpoints')).tBodies[0];
  if (!cps) return;
  cps.replaceChildren();
  for (const c of report.checkpoints) {
    const tr = document.createElement('tr');
    tr.dataset.code = c.code;
    if (c.code !== 'valid') tr.className = 'bad';
    appendCell(tr, c.treeSize);
    appendCell(tr, c.code, 'code');
    appendCell(tr, c.reason);
    cps.append(tr);
  }
  const body = /** @type {HTMLTableElement} */ ($('entries')).tBodies[0];
  const frag = document.createDocumentFragment();
  for (const e of report.entries) {
    const tr = document.createElement('tr');
    tr.dataset.index = String(e.index);
    tr.dataset.code = e.code;
    if (statusOf(e.code) === 'invalid') tr.className = 'bad';
    appendCell(tr, e.index);
    appendCell(tr, e.leafIndex);
    appendCell(tr, e.dev);
    appendCell(tr, e.seq);
    appendCell(tr, e.ts === undefined ? '' : new Date(e.ts).toISOString());
    appendCell(tr, e.code, 'code');
    appendCell(tr, e.reason);
    frag.append(tr);
  }
  body?.replaceChildren(frag);
}

/** @param {VerifyReport} report */
export function renderSummary(report) {
  const verdict = $('verdict');
  // VALID, INVALID or INCOMPLETE (nothing failed, but a gap or an unproven end: README
  // "Completeness"), as the CLI says it.
  verdict.textContent = report.verdict;
  verdict.dataset.ok = String(report.ok);
  verdict.dataset.verdict = report.verdict;
  /** @type {Record<string, unknown>} */
  const fields = {
    ...report.summary,
    registryChecked: report.registryChecked ? 'yes' : 'no',
    gaps: report.sequence.gaps.length,
  };
  for (const el of $('summary').querySelectorAll('[data-field]')) {
    el.textContent = String(fields[/** @type {string} */ (/** @type {HTMLElement} */ (el).dataset.field)]);
  }
  const codes = $('by-code');
  codes.replaceChildren();
  for (const [code, n] of Object.entries(report.summary.byCode)) {
    const span = document.createElement('span');
    span.dataset.code = code;
    span.textContent = `${code}: ${n}`;
    codes.append(span);
  }
  $('report-json').textContent = JSON.stringify(report, null, 2);
}

/** @param {PageResult['readings']} readings */
export function fillObservations(readings) {
  const keys = new Set();
  for (const r of readings) for (const k of Object.keys(r.obs)) keys.add(k);
  const select = /** @type {HTMLSelectElement} */ ($('obs'));
  const previous = select.value;
  select.replaceChildren();
  for (const k of keys) {
    const o = document.createElement('option');
    o.value = k;
    o.textContent = k;
    select.append(o);
  }
  if (keys.has(previous)) select.value = previous;
  else if (keys.has('hr')) select.value = 'hr';
}

/**
 * Readings of one observation over device time; each point coloured by its entry's code.
 * @param {PageResult | null} last
 */
export function drawChart(last) {
  const canvas = /** @type {HTMLCanvasElement} */ ($('chart'));
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!last) return;
  const key = /** @type {HTMLSelectElement} */ ($('obs')).value;
  const codes = last.report.entries;
  const pts = last.readings.filter((r) => r.obs[key] !== undefined);
  if (pts.length === 0) return;
  /** @param {(typeof pts)[number]} p */
  const obsValue = (p) => /** @type {number} */ (p.obs[key]);
  const pad = 36;
  const xs = pts.map((p) => p.ts);
  const ys = pts.map(obsValue);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  /** @param {number} x */
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (canvas.width - 2 * pad);
  /** @param {number} y */
  const sy = (y) => canvas.height - pad - ((y - y0) / (y1 - y0 || 1)) * (canvas.height - 2 * pad);
  ctx.fillStyle = '#8a949e';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(`${key} ${y1}`, 4, pad - 8);
  ctx.fillText(String(y0), 4, canvas.height - pad + 4);
  ctx.fillText(new Date(x0).toISOString(), pad, canvas.height - 8);
  /** @type {Map<string, typeof pts>} */
  const byDev = new Map();
  for (const p of pts) byDev.set(p.dev, [...(byDev.get(p.dev) ?? []), p]);
  ctx.strokeStyle = '#2a3138';
  for (const list of byDev.values()) {
    ctx.beginPath();
    list.sort((a, b) => a.ts - b.ts);
    for (const [i, p] of list.entries()) {
      if (i === 0) ctx.moveTo(sx(p.ts), sy(obsValue(p)));
      else ctx.lineTo(sx(p.ts), sy(obsValue(p)));
    }
    ctx.stroke();
  }
  for (const p of pts) {
    ctx.fillStyle = COLORS[statusOf(/** @type {{code: string}} */ (codes[p.index]).code)];
    ctx.beginPath();
    ctx.arc(sx(p.ts), sy(obsValue(p)), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
}
