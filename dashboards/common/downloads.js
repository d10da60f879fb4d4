// @ts-check
/**
 * @module dashboards/common/downloads
 * A patient's files as the care pages download them (the patient portal and the doctor's
 * page; README "The patient portal and the doctor's page"): fetched with the session cookie
 * and handed to the browser as a download, or the gateway's refusal shown instead (e.g. 409
 * `not_anchored` before the first anchored checkpoint, 403 `consent_out_of_scope`).
 *
 * A disclosure bundle carries at most the gateway's `http.maxReadings` frames (100,000 by
 * default: a day of a 1 Hz device), so 7 days of a 1 Hz device, or a day of one that sends
 * vitals and ECG chunks apart, are refused whole (422 `too_many_readings`). `downloadBundle`
 * then asks the gateway where to cut the range (`…/bundle/parts?from&to`: parts of at most that
 * many frames, counted from its index), fetches the parts in time order and hands each to the
 * browser as its own file (`…-part-N.json`): every part is a complete bundle that verifies on
 * its own, and together they hold every frame of the range.
 */
import { refusalText } from './care-api.js';

/** The longest FHIR export the gateway builds per request (io/http/routes/care/care-export-routes). */
export const FHIR_MAX_MS = 6 * 3_600_000;

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
 * Where a download tells how it went: a status line and an error line.
 * @typedef {{status: HTMLElement, error: HTMLElement}} DownloadOutput
 */

/**
 * Fetches `href` and hands it to the browser as a download named `name`; a refusal (e.g. 409
 * `not_anchored` before the first anchored checkpoint) is shown instead.
 * @param {string} href
 * @param {string} name
 * @param {DownloadOutput} out
 */
export async function downloadFile(href, name, { status, error }) {
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
 * @param {DownloadOutput} out
 */
export async function downloadBundle(base, from, to, name, { status, error }) {
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
