// @ts-check
/**
 * @module dashboards/doctor/app
 * The doctor's page's entry module (issue 18; README "The patient portal and the doctor's
 * page"): the session (common/sign-in, as on the ward page), who the doctor is (`GET
 * /api/care/me`), their patients (patients.js), one patient's readings and trend within the
 * consent's data range and the last 24 h (common/care-vitals; a refusal such as
 * `consent_required` after a revocation is shown plainly and the data cleared), the patient's
 * latest ECG seconds under a consent that holds ECG (ecg.js), the FHIR export and the
 * disclosure bundle of the range shown (common/downloads: a bundle too large for one file in
 * parts), their own accesses (`GET /api/care/access`), and the break-glass form when
 * `breakGlass` is true (break-glass.js). The open view and the lists are read again every
 * 15 s. Plain browser ES modules, no framework; text only (textContent).
 */
import { careHooks, getAccess, getCareMe, getPatients, refusalText } from '../common/care-api.js';
import { basisText, rangeText, shortId } from '../common/care-format.js';
import { fillAccess } from '../common/care-tables.js';
import { loadVitals } from '../common/care-vitals.js';
import { byId } from '../common/dom.js';
import { downloadBundle, downloadFile, FHIR_MAX_MS } from '../common/downloads.js';
import { formatDateTime } from '../common/format.js';
import { homeOf, showSignIn, signOut, wireSignIn } from '../common/sign-in.js';
import { wireBreakGlass } from './break-glass.js';
import { loadEcg } from './ecg.js';
import { clampRange, renderPatients, scopeConsent, VIEW_MS, vitalsConsent } from './patients.js';

/** @typedef {import('../common/care-api.js').CareMe} CareMe */
/** @typedef {import('../common/care-api.js').CareConsent} CareConsent */

const REFRESH_MS = 15_000;
const page = byId('page');
/** @type {CareMe | null} */
let me = null;
/**
 * The open view: a patient under a consent (`consent`, the one for vital signs, and all the
 * patient's `consents` to this doctor), or under break-glass (both null).
 */
/** @type {{patient: string, label: string, consent: CareConsent | null, consents: CareConsent[] | null} | null} */
let view = null;
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

async function loadPatients() {
  const res = await getPatients();
  byId('patients-error').textContent = res.ok ? '' : `Patients not read: ${refusalText(res)}`;
  if (!res.ok) return;
  renderPatients(res.body.patients, (p) => {
    const consent = vitalsConsent(p.consents) ?? null;
    openView({
      patient: p.patient,
      label: `${p.patientId} (${shortId(p.patient)})`,
      consent,
      consents: p.consents,
    });
  });
  // a view under a consent follows its patient's consents as they are now
  if (view?.consent) {
    const now = res.body.patients.find((p) => p.patient === view?.patient);
    view.consent = (now && vitalsConsent(now.consents)) ?? view.consent;
    if (now) view.consents = now.consents;
  }
}

async function loadAccess() {
  const res = await getAccess();
  byId('access-error').textContent = res.ok ? '' : `The access log was not read: ${refusalText(res)}`;
  if (res.ok)
    fillAccess(
      /** @type {HTMLTableSectionElement} */ (byId('access-table').querySelector('tbody')),
      res.body.entries,
      new Map(me ? [[me.subject.toLowerCase(), me.username]] : []),
    );
}

/** Opens `next` in the view: the last patient's download messages go with it. */
function openView(/** @type {NonNullable<typeof view>} */ next) {
  view = next;
  byId('dl-status').textContent = '';
  byId('dl-error').textContent = '';
  void loadView();
}

async function loadView() {
  if (!view) return;
  const v = view;
  const section = byId('view');
  section.hidden = false;
  byId('view-patient').textContent = v.label;
  const error = byId('view-error');
  const now = Date.now();
  const range = v.consent ? clampRange(v.consent, now) : { from: now - VIEW_MS, to: now };
  if (!range) {
    error.textContent = 'The consent covers only data from the future: nothing to show yet.';
    return;
  }
  byId('view-basis').textContent = v.consent
    ? `Under consent ${shortId(v.consent.id)} (${rangeText(v.consent.dataFrom, v.consent.dataUntil)}, valid until ${formatDateTime(v.consent.validUntil)}); showing ${rangeText(range.from, range.to)}.`
    : `Emergency access (break-glass); showing ${rangeText(range.from, range.to)}.`;
  section.dataset.state = 'loading';
  const r = await loadVitals({
    patient: v.patient,
    from: range.from,
    to: range.to,
    tbody: /** @type {HTMLTableSectionElement} */ (byId('readings').querySelector('tbody')),
    trend: byId('trend'),
  });
  if (view !== v) return; // another patient was opened meanwhile
  if (r.ok) {
    error.textContent = '';
    delete section.dataset.code;
    section.dataset.state = 'shown';
    byId('status').textContent = `${r.count} readings of ${v.label} (${basisText(r.basis)}).`;
  } else {
    error.textContent = `Refused: ${r.text}`;
    section.dataset.code = r.code;
    section.dataset.state = 'refused';
  }
  await loadEcg(v.patient, v.consents, now);
  if (view !== v) return;
  await loadAccess();
}

/** The range a download of the open view asks for, under the consent holding `scope`; null if none does. */
function downloadRange(/** @type {number} */ scope) {
  if (!view) return null;
  const now = Date.now();
  if (!view.consents) return { from: now - VIEW_MS, to: now }; // break-glass
  const consent = scopeConsent(view.consents, scope);
  return consent ? clampRange(consent, now) : null;
}

function wireDownloads() {
  const out = { status: byId('dl-status'), error: byId('dl-error') };
  const base = () => `/api/care/patients/${encodeURIComponent(view?.patient ?? '')}`;
  const name = (/** @type {string} */ what) =>
    `vitaltrail-${what}-${(view?.patient ?? '').slice(2, 10)}-${new Date().toISOString().slice(0, 10)}.json`;
  byId('dl-fhir').addEventListener('click', () => {
    const r = downloadRange(1);
    if (!r) {
      out.error.textContent = 'Not downloaded: your consent does not hold vital signs for this range.';
      return;
    }
    const from = Math.max(r.from, r.to - FHIR_MAX_MS);
    void downloadFile(`${base()}/fhir?from=${from}&to=${r.to}`, name('fhir'), out);
  });
  byId('dl-bundle').addEventListener('click', () => {
    const r = downloadRange(3);
    if (!r) {
      out.status.textContent = '';
      out.error.textContent =
        'Not downloaded: the bundle needs a consent that holds vital signs and ECG (a signed frame cannot be cut).';
      return;
    }
    void downloadBundle(base(), r.from, r.to, name('bundle'), out);
  });
}

async function refresh() {
  await loadPatients();
  if (view) await loadView();
  else await loadAccess();
}

async function start() {
  const res = await getCareMe();
  if (!res.ok) {
    if (res.status === 403) location.assign('/');
    else if (res.status !== 401) byId('status').textContent = `The page could not start: ${refusalText(res)}`;
    return;
  }
  if (res.body.role !== 'doctor') {
    location.assign(homeOf(res.body.role));
    return;
  }
  me = res.body;
  byId('login').hidden = true;
  page.hidden = false;
  byId('user').textContent = me.username;
  byId('logout').hidden = false;
  byId('break-glass').hidden = me.breakGlass !== true;
  await Promise.all([loadPatients(), loadAccess()]);
  clearInterval(timer);
  timer = setInterval(() => void refresh(), REFRESH_MS);
  document.body.dataset.state = 'ready';
}

/** @param {string} [message] */
function ended(message = 'Your session ended. Sign in again.') {
  clearInterval(timer);
  me = null;
  view = null;
  byId('view').hidden = true;
  byId('logout').hidden = true;
  byId('user').textContent = '';
  document.body.dataset.state = 'signed-out';
  showSignIn(page, message);
}

careHooks.onSessionEnded = () => {
  if (me) ended();
  else showSignIn(page);
};
wireSignIn((who) => {
  if (who.role !== 'doctor') location.assign(homeOf(who.role));
  else void start();
});
wireDownloads();
wireBreakGlass((patient) => {
  openView({ patient, label: `${shortId(patient)} (break-glass)`, consent: null, consents: null });
});
byId('view-refresh').addEventListener('click', () => void refresh());
byId('logout').addEventListener('click', async () => {
  await signOut();
  ended('Signed out.');
});
void start();
