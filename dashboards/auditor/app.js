/**
 * @module dashboards/auditor/app
 * The auditor page's controller (issue 6; PROTOCOL.md §5): hands the two files the
 * auditor picks or drops to the verifier bundle (`/auditor/verifier.js`, the same modules
 * as `vitaltrail verify --anchors FILE`) running as a Web Worker, which checks the ES256
 * signatures with WebCrypto and then runs the verifier; the page shows its progress,
 * then renders the verdict, the per-entry and per-checkpoint codes, how the signatures
 * were checked, and a chart of the readings by proof status. The main thread never
 * verifies, so the page stays responsive on large bundles. Files are read locally (in
 * the worker): nothing is sent to the server. Text from the files is only ever set as
 * textContent, never as HTML.
 */
const $ = (id) => document.getElementById(id);
const files = { bundle: null, anchors: null };
let last = null;
const VERIFIER = '/auditor/verifier.js';
const NOT_LOADED =
  'the verifier bundle did not load (build it: node dist/anchor/src/verify/build-browser.js)';
/** The verifier worker, and the run it is working on ({ resolve, reject, onProgress }). */
let worker = null;
let pending = null;
let runs = 0;

const COLORS = { valid: '#3fb950', shredded: '#8b949e', invalid: '#f85149' };
const statusOf = (code) => (code === 'valid' || code === 'shredded' ? code : 'invalid');

function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = text === '';
}

function startWorker() {
  const w = new Worker(VERIFIER);
  let loaded = false;
  w.addEventListener('message', (ev) => {
    const msg = ev.data;
    if (msg?.type === 'ready') {
      loaded = true;
      if (document.body.dataset.state === 'loading') document.body.dataset.state = 'ready';
    } else if (msg?.type === 'progress') {
      pending?.onProgress(msg);
    } else if (msg?.type === 'result') {
      pending?.resolve(msg.result);
      pending = null;
    } else if (msg?.type === 'error') {
      const err = new Error(msg.message);
      if (msg.code) Object.assign(err, { code: msg.code, reason: msg.reason });
      pending?.reject(err);
      pending = null;
    }
  });
  // The script did not load (404, a syntax error), or the worker died (out of memory).
  w.addEventListener('error', (ev) => {
    ev.preventDefault();
    const text = loaded ? `the verifier stopped (${ev.message})` : NOT_LOADED;
    if (pending) {
      pending.reject(new Error(text));
      pending = null;
    } else {
      showError(text);
      document.body.dataset.state = 'error';
    }
  });
  return w;
}

/** Verifies in the worker; a run started while another is under way replaces it. */
function verifyInWorker(bundleFile, anchorsFile, onProgress) {
  if (pending) {
    worker.terminate();
    pending.reject(new Error('superseded'));
    pending = null;
    worker = startWorker();
  }
  return new Promise((resolve, reject) => {
    pending = { resolve, reject, onProgress };
    worker.postMessage({ type: 'verify', bundle: bundleFile, anchors: anchorsFile });
  });
}

const PHASES = {
  reading: 'reading the files',
  signatures: 'checking signatures (WebCrypto)',
  entries: 'verifying entries',
};

/** A bar and "phase done/total" (entries), as the CLI's progress bar. */
function showProgress({ phase, done, total }) {
  const p = $('progress');
  p.hidden = false;
  p.dataset.phase = phase;
  p.dataset.done = String(done);
  p.dataset.total = String(total);
  const bar = $('progress-bar');
  bar.max = Math.max(total, 1);
  bar.value = done;
  $('progress-text').textContent = phase === 'reading' ? PHASES.reading : `${PHASES[phase]} ${done}/${total}`;
}

/** How the signatures were checked: beside the report, never in it. */
function renderSignatures(sig) {
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
  if (wc?.highSLeft > 0)
    parts.push(`${wc.highSLeft} high-S signatures left to @noble (this browser's WebCrypto refuses them)`);
  parts.push(`time: ${wc ? `${wc.ms} ms WebCrypto + ` : ''}${sig.verifyMs} ms verifier`);
  el.textContent = parts.join('; ');
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  tr.append(td);
}

function renderTables(report) {
  const cps = $('checkpoints').tBodies[0];
  cps.replaceChildren();
  for (const c of report.checkpoints) {
    const tr = document.createElement('tr');
    tr.dataset.code = c.code;
    if (c.code !== 'valid') tr.className = 'bad';
    cell(tr, c.treeSize);
    cell(tr, c.code, 'code');
    cell(tr, c.reason);
    cps.append(tr);
  }
  const body = $('entries').tBodies[0];
  const frag = document.createDocumentFragment();
  for (const e of report.entries) {
    const tr = document.createElement('tr');
    tr.dataset.index = String(e.index);
    tr.dataset.code = e.code;
    if (statusOf(e.code) === 'invalid') tr.className = 'bad';
    cell(tr, e.index);
    cell(tr, e.leafIndex);
    cell(tr, e.dev);
    cell(tr, e.seq);
    cell(tr, e.ts === undefined ? '' : new Date(e.ts).toISOString());
    cell(tr, e.code, 'code');
    cell(tr, e.reason);
    frag.append(tr);
  }
  body.replaceChildren(frag);
}

function renderSummary(report) {
  const verdict = $('verdict');
  verdict.textContent = report.ok ? 'VALID' : 'INVALID';
  verdict.dataset.ok = String(report.ok);
  const fields = {
    ...report.summary,
    registryChecked: report.registryChecked ? 'yes' : 'no',
    gaps: report.sequence.gaps.length,
  };
  for (const el of $('summary').querySelectorAll('[data-field]')) {
    el.textContent = String(fields[el.dataset.field]);
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

function fillObservations(readings) {
  const keys = new Set();
  for (const r of readings) for (const k of Object.keys(r.obs)) keys.add(k);
  const select = $('obs');
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

/** Readings of one observation over device time; each point coloured by its entry's code. */
function drawChart() {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!last) return;
  const key = $('obs').value;
  const codes = last.report.entries;
  const pts = last.readings.filter((r) => r.obs[key] !== undefined);
  if (pts.length === 0) return;
  const pad = 36;
  const xs = pts.map((p) => p.ts);
  const ys = pts.map((p) => p.obs[key]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (canvas.width - 2 * pad);
  const sy = (y) => canvas.height - pad - ((y - y0) / (y1 - y0 || 1)) * (canvas.height - 2 * pad);
  ctx.fillStyle = '#8a949e';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(`${key} ${y1}`, 4, pad - 8);
  ctx.fillText(String(y0), 4, canvas.height - pad + 4);
  ctx.fillText(new Date(x0).toISOString(), pad, canvas.height - 8);
  const byDev = new Map();
  for (const p of pts) byDev.set(p.dev, [...(byDev.get(p.dev) ?? []), p]);
  ctx.strokeStyle = '#2a3138';
  for (const list of byDev.values()) {
    ctx.beginPath();
    list.sort((a, b) => a.ts - b.ts);
    for (const [i, p] of list.entries()) {
      if (i === 0) ctx.moveTo(sx(p.ts), sy(p.obs[key]));
      else ctx.lineTo(sx(p.ts), sy(p.obs[key]));
    }
    ctx.stroke();
  }
  for (const p of pts) {
    ctx.fillStyle = COLORS[statusOf(codes[p.index].code)];
    ctx.beginPath();
    ctx.arc(sx(p.ts), sy(p.obs[key]), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
}

async function run() {
  showError('');
  if (!files.bundle || !files.anchors) return;
  const id = ++runs;
  document.body.dataset.state = 'verifying';
  $('verify').disabled = true;
  showProgress({ phase: 'reading', done: 0, total: 0 });
  try {
    // The worker reads and parses both files, then makes the CLI's checks: a failure
    // there is "could not run" (exit 2 there).
    const result = await verifyInWorker(files.bundle, files.anchors, (p) => {
      if (id === runs) showProgress(p);
    });
    if (id !== runs) return;
    last = result;
    renderSummary(last.report);
    renderSignatures(last.signatures);
    renderTables(last.report);
    fillObservations(last.readings);
    $('result').hidden = false;
    drawChart();
    document.body.dataset.state = 'done';
  } catch (err) {
    if (id !== runs) return; // replaced by a newer run
    last = null;
    $('result').hidden = true;
    showError(`cannot verify: ${err?.code ? `${err.code}: ${err.reason}` : err?.message}`);
    document.body.dataset.state = 'error';
  } finally {
    if (id === runs) {
      $('progress').hidden = true;
      $('verify').disabled = !(files.bundle && files.anchors);
    }
  }
}

function pick(kind, file) {
  files[kind] = file ?? null;
  $('verify').disabled = !(files.bundle && files.anchors);
}

/** A dropped file is evidence when its format says so, else the bundle. */
async function dropped(list) {
  for (const f of list) {
    let format = '';
    try {
      format = JSON.parse(await f.text())?.format ?? '';
    } catch {
      // not JSON: verification will say so
    }
    pick(format === 'vitaltrail-anchors/1' ? 'anchors' : 'bundle', f);
  }
  await run();
}

$('bundle-file').addEventListener('change', (ev) => pick('bundle', ev.target.files[0]));
$('anchors-file').addEventListener('change', (ev) => pick('anchors', ev.target.files[0]));
$('verify').addEventListener('click', () => void run());
$('obs').addEventListener('change', drawChart);
const drop = $('drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  void dropped([...ev.dataTransfer.files]);
});
document.body.dataset.state = 'loading';
worker = startWorker();
