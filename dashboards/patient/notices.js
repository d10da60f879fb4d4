// @ts-check
/**
 * @module dashboards/patient/notices
 * Two small parts of the patient portal (issue 18): the break-glass notices (`GET
 * /api/care/break-glass` → `{openings: [{actor, username, reason, at, until}]}`, shown in a
 * banner when there are any; a gateway without the route answers 404 and the banner stays
 * hidden), and the download links of the patient's own disclosure bundle and FHIR export
 * (`GET /api/care/patients/:p/bundle?from&to` and `…/fhir?from&to`, over the chosen range; the
 * page fetches them with the session cookie and hands them to the browser as a download, or
 * shows the gateway's refusal, e.g. 409 `not_anchored` before the first anchored checkpoint;
 * a bundle too large for one file comes in parts: common/downloads).
 */
import { getBreakGlass } from '../common/care-api.js';
import { byId } from '../common/dom.js';
import { downloadBundle, downloadFile, FHIR_MAX_MS } from '../common/downloads.js';
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
  const out = { status: byId('dl-status'), error: byId('dl-error') };
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
    void downloadBundle(base, from, to, bundle.download, out);
  });
  fhir.addEventListener('click', (ev) => {
    ev.preventDefault();
    set();
    void downloadFile(fhir.href, fhir.download, out);
  });
  set();
}
