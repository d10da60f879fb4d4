// @ts-check
/**
 * @module dashboards/patient/notices
 * Two small parts of the patient portal (issue 18): the break-glass notices (`GET
 * /api/care/break-glass` → `{openings: [{actor, username, reason, at, until}]}`, shown in a
 * banner when there are any; a gateway without the route answers 404 and the banner stays
 * hidden), and the download links of the patient's own disclosure bundle and FHIR export
 * (`GET /api/care/patients/:p/bundle?from&to` and `…/fhir?from&to`, over the chosen range; the
 * page fetches them with the session cookie and hands them to the browser as a download, or
 * shows the gateway's refusal, e.g. 409 `not_anchored` before the first anchored checkpoint).
 *
 * A bundle carries at most the gateway's `http.maxReadings` frames (100,000 by default: a day
 * of a 1 Hz device), so 7 days of a 1 Hz device, or a day of one that sends vitals and ECG
 * chunks apart, are refused whole (422 `too_many_readings`). The page then fetches the range in parts, each
 * half of a refused one, in time order, until each fits, and hands each to the browser as its
 * own file (`…-part-N.json`): every part is a complete bundle that verifies on its own, and
 * together they hold every frame of the range.
 */
import { getBreakGlass, refusalText } from '../common/care-api.js';
import { byId } from '../common/dom.js';
import { formatDateTime } from '../common/format.js';

/**
 * Shows the break-glass openings of the patient's record, if the gateway has any to tell.
 * @returns {Promise<number>} how many are shown
 */
export async function loadBreakGlass() {
  const res = await getBreakGlass();
  const banner = byId('break-glass');
  const openings = res.ok && Array.isArray(res.body?.openings) ? res.body.openings : [];
  byId('bg-list').replaceChildren(
    ...openings.map((o) => {
      const li = document.createElement('li');
      li.textContent = `${formatDateTime(o.at)}: ${o.username} opened your record until ${formatDateTime(o.until)}. Reason: ${o.reason}`;
      return li;
    }),
  );
  banner.hidden = openings.length === 0;
  return openings.length;
}

/** The longest FHIR export the gateway builds per request (io/http/routes/care/care-export-routes). */
const FHIR_MAX_MS = 6 * 3_600_000;

/** A part refused for its size all the same (frames came since the cut) is halved down to this (ms). */
const MIN_PART_MS = 60_000;
/** At most this many parts of one range (a week of 2 frames a second takes 13). */
const MAX_PARTS = 64;

/**
 * Fetches `href`: the response when the gateway answered it, else the refusal's text (and its
 * code, when it gave one).
 * @param {string} href
 * @returns {Promise<{res: Response} | {refusal: string, code?: string}>}
 */
async function fetchFile(href) {
  let res;
  try {
    res = await fetch(href, { credentials: 'same-origin' });
  } catch {
    return { refusal: 'The gateway is unreachable.' };
  }
  if (res.ok) return { res };
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const code = body?.error?.code;
  return { refusal: refusalText({ ok: false, status: res.status, body }), ...(code ? { code } : {}) };
}

/**
 * Hands a fetched file to the browser as a download named `name`.
 * @param {Response} res
 * @param {string} name
 */
async function save(res, name) {
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Fetches `href` and hands it to the browser as a download named `name`; a refusal (e.g. 409
 * `not_anchored` before the first anchored checkpoint) is shown instead.
 * @param {string} href
 * @param {string} name
 */
async function download(href, name) {
  const status = byId('dl-status');
  const error = byId('dl-error');
  status.textContent = '';
  error.textContent = '';
  const got = await fetchFile(href);
  if ('refusal' in got) error.textContent = `Not downloaded: ${got.refusal}`;
  else await save(got.res, name);
}

/**
 * The patient's bundle of `from`..`to` (inclusive, ms): whole when the gateway carries it in
 * one; when it is refused for its size, in the parts the gateway cuts it into
 * (`…/bundle/parts`), each saved as soon as it is fetched (a part refused for its size all the
 * same, frames having come since, is halved). Any other refusal ends it, with what was saved
 * told.
 * @param {string} base the patient's API path
 * @param {number} from
 * @param {number} to
 * @param {string} name the file name for a whole range (`.json`; parts get `-part-N`)
 */
async function downloadBundle(base, from, to, name) {
  const status = byId('dl-status');
  const error = byId('dl-error');
  status.textContent = '';
  error.textContent = '';
  let saved = 0;
  /** @param {string} refusal */
  const stop = (refusal) => {
    const before = saved > 0 ? ` (${saved} part${saved === 1 ? '' : 's'} downloaded before it)` : '';
    error.textContent = `Not downloaded: ${refusal}${before}`;
    status.textContent = '';
  };
  const whole = await fetchFile(`${base}/bundle?from=${from}&to=${to}`);
  if ('res' in whole) return save(whole.res, name);
  if (whole.code !== 'too_many_readings') return stop(whole.refusal);
  status.textContent = 'The range holds more readings than one bundle carries: downloading it in parts…';
  const cut = await fetchFile(`${base}/bundle/parts?from=${from}&to=${to}`);
  if ('refusal' in cut) return stop(cut.refusal);
  /** @type {{parts?: {from: number, to: number}[]}} */
  const plan = await cut.res.json();
  /** Ranges still to fetch, the earliest first. */
  const todo = (plan.parts ?? []).map((p) => [p.from, p.to]);
  while (todo.length > 0) {
    const [lo, hi] = /** @type {[number, number]} */ (todo.shift());
    const got = await fetchFile(`${base}/bundle?from=${lo}&to=${hi}`);
    if ('res' in got) {
      saved += 1;
      await save(got.res, name.replace(/\.json$/, `-part-${saved}.json`));
      status.textContent = `Downloaded ${saved} part${saved === 1 ? '' : 's'} of ${saved + todo.length}…`;
      continue;
    }
    if (got.code !== 'too_many_readings' || hi - lo < 2 * MIN_PART_MS || saved + todo.length + 2 > MAX_PARTS)
      return stop(got.refusal);
    const mid = Math.floor((lo + hi) / 2);
    todo.unshift([lo, mid], [mid + 1, hi]);
  }
  status.textContent = `Downloaded in ${saved} parts: the range holds more readings than one bundle carries. Each part verifies on its own; together they hold the whole range.`;
}

/**
 * Points the two download links at the patient's data over the chosen range (from now back;
 * the FHIR export at most the last 6 hours) and downloads them through `download`.
 * @param {string} patient the pseudonym
 */
export function wireDownloads(patient) {
  const range = /** @type {HTMLSelectElement} */ (byId('dl-range'));
  const bundle = /** @type {HTMLAnchorElement} */ (byId('dl-bundle'));
  const fhir = /** @type {HTMLAnchorElement} */ (byId('dl-fhir'));
  const base = `/api/care/patients/${encodeURIComponent(patient)}`;
  const set = () => {
    const to = Date.now();
    const from = to - Number(range.value);
    const day = new Date(to).toISOString().slice(0, 10);
    bundle.href = `${base}/bundle?from=${from}&to=${to}`;
    bundle.download = `vitaltrail-bundle-${day}.json`;
    fhir.href = `${base}/fhir?from=${Math.max(from, to - FHIR_MAX_MS)}&to=${to}`;
    fhir.download = `vitaltrail-fhir-${day}.json`;
    return { from, to };
  };
  range.addEventListener('change', set);
  bundle.addEventListener('click', (ev) => {
    ev.preventDefault();
    const { from, to } = set(); // "now" has moved on since the page was drawn
    void downloadBundle(base, from, to, bundle.download);
  });
  fhir.addEventListener('click', (ev) => {
    ev.preventDefault();
    set();
    void download(fhir.href, fhir.download);
  });
  set();
}
