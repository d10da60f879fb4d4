// @ts-check
/**
 * @module dashboards/auditor/report
 * Renders a verification: what was verified (the CLI's scope line), the verdict (worded as
 * the CLI's, also with allow-gaps) and summary, how the signatures were checked, the
 * per-checkpoint and per-entry codes, and the progress bar. The gaps and device ranges are
 * in completeness.js, the per-device charts in charts.js. Text from the files is only ever
 * set as textContent, never as HTML.
 */
import { byId as $, appendCell } from '../common/dom.js';
import { statusOf } from './charts.js';

/** @typedef {import('./verifier-client.js').PageResult} PageResult */
/** @typedef {import('./verifier-client.js').VerifyReport} VerifyReport */
/** @typedef {import('./verifier-client.js').SignatureStats} SignatureStats */
/** @typedef {import('./verifier-client.js').Progress} Progress */

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
  renderVerdict(report, false);
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
 * The verdict: VALID, INVALID or INCOMPLETE (nothing failed, but a gap or an unproven end:
 * README "Completeness"), as the CLI says it; with `allowGaps` (a deliberately partial
 * disclosure) an INCOMPLETE is worded as `vitaltrail verify --allow-gaps` words it. Only the
 * wording changes: the report is the same.
 * @param {VerifyReport} report
 * @param {boolean} allowGaps
 */
export function renderVerdict(report, allowGaps) {
  const verdict = $('verdict');
  const accepted = report.verdict === 'INCOMPLETE' && allowGaps;
  verdict.textContent = accepted ? 'INCOMPLETE (accepted with --allow-gaps)' : report.verdict;
  verdict.dataset.ok = String(report.ok);
  verdict.dataset.verdict = report.verdict;
  verdict.dataset.accepted = String(accepted);
  $('allow-gaps-note').hidden = !accepted;
}

/**
 * What was verified, in the words of the CLI's first line (anchor/src/verify/scope.ts).
 * @param {string} scope
 */
export function renderScope(scope) {
  $('scope').textContent = scope;
}
