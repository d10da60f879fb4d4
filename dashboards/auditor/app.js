// @ts-check
/**
 * @module dashboards/auditor/app
 * The auditor page's controller (issue 6; PROTOCOL.md §5): hands the two files the
 * auditor picks or drops to the verifier bundle (`/auditor/verifier.js`, the same modules
 * as `vitaltrail verify --anchors FILE`) running as a Web Worker
 * (dashboards/auditor/verifier-client.js), which checks the ES256 signatures with
 * WebCrypto and then runs the verifier; the page shows its progress, then renders the
 * verdict and what was verified (report.js), the gaps and each device's range
 * (completeness.js), one chart per device (charts.js), how the signatures were checked, and
 * the per-entry and per-checkpoint codes. An access-log bundle (issue 18, with its
 * `vitaltrail-access-evidence/1`) is verified by the same worker with the CLI's
 * `verify-access` path and rendered by access-report.js. The allow-gaps box changes only the verdict's
 * wording, as `--allow-gaps` does in the CLI. Files are read locally (in the worker):
 * nothing is sent to the server.
 */
import { byId as $ } from '../common/dom.js';
import { errorText } from '../common/format.js';
import { renderAccess } from './access-report.js';
import { drawPanels, fillDevices } from './charts.js';
import { renderCompleteness } from './completeness.js';
import {
  fillObservations,
  renderScope,
  renderSignatures,
  renderSummary,
  renderTables,
  renderVerdict,
  showProgress,
} from './report.js';
import { createVerifierClient } from './verifier-client.js';

/** @typedef {import('./verifier-client.js').PageResult} PageResult */

const VERIFIER = '/auditor/verifier.js';
/** A dropped file of one of these formats is the evidence (of a disclosure, of an access bundle). */
const EVIDENCE_FORMATS = new Set(['vitaltrail-anchors/1', 'vitaltrail-access-evidence/1']);
/** @type {{bundle: File | null, anchors: File | null}} */
const files = { bundle: null, anchors: null };
/** @type {PageResult | null} */
let last = null;
let runs = 0;
const verifyButton = /** @type {HTMLButtonElement} */ ($('verify'));
const allowGaps = /** @type {HTMLInputElement} */ ($('allow-gaps'));

/** @param {string} text */
function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = text === '';
}

async function run() {
  showError('');
  if (!files.bundle || !files.anchors) return;
  const id = ++runs;
  document.body.dataset.state = 'verifying';
  verifyButton.disabled = true;
  showProgress({ phase: 'reading', done: 0, total: 0 });
  try {
    // The worker reads and parses both files, then makes the CLI's checks: a failure
    // there is "could not run" (exit 2 there).
    const result = await verifier.verify(files.bundle, files.anchors, (p) => {
      if (id === runs) showProgress(p);
    });
    if (id !== runs) return;
    if (result.kind === 'access') {
      last = null;
      $('result').hidden = true;
      renderAccess(result);
      $('access-result').hidden = false;
      document.body.dataset.state = 'done';
      return;
    }
    $('access-result').hidden = true;
    last = result;
    renderSummary(last.report);
    renderVerdict(last.report, allowGaps.checked);
    renderScope(last.scope);
    renderCompleteness(last.report);
    renderSignatures(last.signatures);
    renderTables(last.report);
    fillObservations(last.readings);
    fillDevices(last);
    $('result').hidden = false;
    drawPanels(last);
    document.body.dataset.state = 'done';
  } catch (err) {
    if (id !== runs) return; // replaced by a newer run
    last = null;
    $('result').hidden = true;
    $('access-result').hidden = true;
    showError(`cannot verify: ${errorText(err)}`);
    document.body.dataset.state = 'error';
  } finally {
    if (id === runs) {
      $('progress').hidden = true;
      verifyButton.disabled = !(files.bundle && files.anchors);
    }
  }
}

/**
 * @param {'bundle' | 'anchors'} kind
 * @param {File | null | undefined} file
 */
function pick(kind, file) {
  files[kind] = file ?? null;
  verifyButton.disabled = !(files.bundle && files.anchors);
}

/**
 * A dropped file is evidence when its format says so, else the bundle.
 * @param {File[]} list
 */
async function dropped(list) {
  for (const f of list) {
    let format = '';
    try {
      format = JSON.parse(await f.text())?.format ?? '';
    } catch {
      // not JSON: verification will say so
    }
    pick(EVIDENCE_FORMATS.has(format) ? 'anchors' : 'bundle', f);
  }
  await run();
}

/** @param {Event} ev */
const fileOf = (ev) => /** @type {HTMLInputElement} */ (ev.target).files?.[0];
$('bundle-file').addEventListener('change', (ev) => pick('bundle', fileOf(ev)));
$('anchors-file').addEventListener('change', (ev) => pick('anchors', fileOf(ev)));
verifyButton.addEventListener('click', () => void run());
$('obs').addEventListener('change', () => drawPanels(last));
$('chart-dev').addEventListener('change', () => drawPanels(last));
allowGaps.addEventListener('change', () => {
  if (last) renderVerdict(last.report, allowGaps.checked);
});
const drop = $('drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  void dropped([...(ev.dataTransfer?.files ?? [])]);
});
document.body.dataset.state = 'loading';
const verifier = createVerifierClient(VERIFIER, {
  onReady: () => {
    if (document.body.dataset.state === 'loading') document.body.dataset.state = 'ready';
  },
  onFailure: (text) => {
    showError(text);
    document.body.dataset.state = 'error';
  },
});
