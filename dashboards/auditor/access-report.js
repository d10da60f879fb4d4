// @ts-check
/**
 * @module dashboards/auditor/access-report
 * Renders the verification of an access-log bundle (issue 18; README "The auditor page"): the
 * verdict, what was verified (the CLI's first line), the summary and counts per code, the
 * missing leaf indices (`entry_missing`), the checkpoints and consistency links, and every
 * access with its code: when, what, who (role and actor), whose data (the patient's
 * pseudonym), on what basis (the consent id, the break-glass reason, ward or self) and the
 * block that anchored it; then the JSON report, identical to `vitaltrail verify-access BUNDLE
 * --evidence FILE --json`. Text from the files is only ever set as textContent.
 */
import { byId as $, appendCell } from '../common/dom.js';

/** @typedef {import('./verifier-client.js').AccessPageResult} AccessPageResult */
/** @typedef {import('./verifier-client.js').AccessEntryResult} AccessEntryResult */

/** Codes that are not failures. */
const PASSING = new Set(['valid', 'withheld']);

/**
 * The basis of an access as the page writes it.
 * @param {AccessEntryResult['entry']} entry
 */
export function basisText(entry) {
  if (!entry) return '';
  const b = entry.basis;
  if (b.type === 'consent') return `consent ${b.consentId} (chain ${b.chainId})`;
  if (b.type === 'break_glass') return `break-glass: ${b.reason}`;
  return b.type;
}

/** @param {AccessPageResult['report']} report */
function renderSummary(report) {
  const verdict = $('access-verdict');
  verdict.textContent = report.verdict;
  verdict.dataset.verdict = report.verdict;
  verdict.dataset.ok = String(report.verdict === 'VALID');
  const invalid = report.entries.filter((e) => !PASSING.has(e.code)).length;
  /** @type {Record<string, string | number>} */
  const fields = {
    total: report.entries.length,
    valid: report.counts.valid ?? 0,
    withheld: report.counts.withheld ?? 0,
    invalid,
    gaps: report.gaps.length,
    grants: `${report.grants} of ${report.grants + report.absent}`,
    vkeyPinned: report.vkeyPinned ? 'yes' : "no (the bundle's own)",
  };
  for (const el of $('access-summary').querySelectorAll('[data-field]')) {
    el.textContent = String(fields[/** @type {string} */ (/** @type {HTMLElement} */ (el).dataset.field)]);
  }
  const codes = $('access-by-code');
  codes.replaceChildren();
  for (const [code, n] of Object.entries(report.counts)) {
    const span = document.createElement('span');
    span.dataset.code = code;
    span.textContent = `${code}: ${n}`;
    codes.append(span);
  }
  const problems = $('access-problems');
  problems.replaceChildren();
  for (const p of report.problems) {
    const li = document.createElement('li');
    li.className = 'bad';
    li.textContent = p;
    problems.append(li);
  }
  problems.hidden = report.problems.length === 0;
}

/** @param {AccessPageResult['report']} report */
function renderStructure(report) {
  const gaps = /** @type {HTMLTableElement} */ ($('access-gaps')).tBodies[0];
  gaps?.replaceChildren();
  for (const g of report.gaps) {
    const tr = document.createElement('tr');
    tr.dataset.code = g.code;
    tr.dataset.from = String(g.from);
    tr.dataset.to = String(g.to);
    tr.className = 'bad';
    appendCell(tr, g.from === g.to ? g.from : `${g.from}-${g.to}`);
    appendCell(tr, g.code, 'code');
    appendCell(tr, 'no entry, full or withheld, for these leaf indices: deleted from the bundle');
    gaps?.append(tr);
  }
  $('access-gaps').hidden = report.gaps.length === 0;
  const cps = /** @type {HTMLTableElement} */ ($('access-checkpoints')).tBodies[0];
  cps?.replaceChildren();
  for (const c of report.checkpoints) {
    const tr = document.createElement('tr');
    tr.dataset.code = c.code;
    if (c.code !== 'valid') tr.className = 'bad';
    appendCell(tr, `checkpoint ${c.treeSize}`);
    appendCell(tr, c.code, 'code');
    appendCell(tr, c.reason);
    cps?.append(tr);
  }
  for (const l of report.links) {
    const tr = document.createElement('tr');
    tr.dataset.code = l.code;
    if (l.code !== 'valid') tr.className = 'bad';
    appendCell(tr, `consistency ${l.from} → ${l.to}`);
    appendCell(tr, l.code, 'code');
    appendCell(tr, l.reason);
    cps?.append(tr);
  }
}

/** @param {AccessPageResult['report']} report */
function renderEntries(report) {
  const body = /** @type {HTMLTableElement} */ ($('access-entries')).tBodies[0];
  const frag = document.createDocumentFragment();
  for (const r of report.entries) {
    const e = r.entry;
    const tr = document.createElement('tr');
    tr.dataset.index = String(r.index);
    tr.dataset.code = r.code;
    if (e) tr.dataset.basis = e.basis.type;
    if (!PASSING.has(r.code)) tr.className = 'bad';
    appendCell(tr, r.index);
    appendCell(tr, r.leafIndex);
    appendCell(tr, e ? new Date(e.at).toISOString() : '');
    appendCell(tr, e ? `${e.action}${e.dev ? ` (${e.dev})` : ''}` : r.code === 'withheld' ? 'withheld' : '');
    appendCell(tr, e ? `${e.role} ${e.actor}` : '', 'who');
    appendCell(tr, e?.patient, 'pseudonym');
    appendCell(tr, basisText(e), 'basis');
    appendCell(tr, r.anchoredBlock);
    appendCell(tr, r.code, 'code');
    appendCell(tr, r.reason);
    frag.append(tr);
  }
  body?.replaceChildren(frag);
}

/**
 * Shows an access bundle's verification in `#access-result`.
 * @param {AccessPageResult} result
 */
export function renderAccess(result) {
  renderSummary(result.report);
  $('access-scope').textContent = result.scope;
  $('access-time').textContent = `time: ${result.verifyMs} ms verifier`;
  renderStructure(result.report);
  renderEntries(result.report);
  $('access-report-json').textContent = JSON.stringify(result.report, null, 2);
}
