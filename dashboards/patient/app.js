// @ts-check
/**
 * @module dashboards/patient/app
 * The patient portal's entry module (issue 18; README "The patient portal and the doctor's
 * page"): the session (sign-in through `POST /api/login` as on the ward page, common/sign-in;
 * back to the form when the session ends), who the patient is on the chain (`GET
 * /api/care/me`), and the wiring of the portal's parts: the key (key.js), their vitals and
 * trend over the last 24 h (common/care-vitals), their consents with grant and revocation
 * (consents.js, grant.js), who saw their data (`GET /api/care/access`, common/care-tables),
 * break-glass notices and downloads (notices.js). Lists are read again every 15 s and after
 * every grant or revocation. Plain browser ES modules, no framework; text only (textContent).
 */
import { careHooks, getAccess, getCareMe, getConsents, getDoctors, refusalText } from '../common/care-api.js';
import { fillAccess } from '../common/care-tables.js';
import { loadVitals } from '../common/care-vitals.js';
import { byId } from '../common/dom.js';
import { homeOf, showSignIn, signOut, wireSignIn } from '../common/sign-in.js';
import { renderConsents, revoke } from './consents.js';
import { fillDoctors, wireGrant } from './grant.js';
import { lockKey, renderKey, wireKeyForms } from './key.js';
import { loadBreakGlass, wireDownloads } from './notices.js';

/** @typedef {import('../common/care-api.js').CareMe} CareMe */

const H24 = 24 * 3_600_000;
const REFRESH_MS = 15_000;
const portal = byId('portal');
/** @type {CareMe | null} */
let me = null;
/** clinician id (lower-case) → doctor's user name */
let doctorNames = new Map();
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

/** @param {string} text */
const status = (text) => {
  byId('status').textContent = text;
};

async function loadConsents() {
  const doctors = await getDoctors();
  if (doctors.ok) {
    doctorNames = new Map(doctors.body.doctors.map((d) => [d.clinicianId.toLowerCase(), d.username]));
    fillDoctors(doctors.body.doctors);
  }
  const res = await getConsents();
  if (!res.ok) {
    byId('consent-error').textContent = `Consents not read: ${refusalText(res)}`;
    return;
  }
  renderConsents(res.body.consents, doctorNames, (id) => {
    if (me) void revoke(me, id, afterWrite);
  });
}

async function loadAccess() {
  const res = await getAccess();
  const error = byId('access-error');
  if (!res.ok) {
    error.textContent = `The access log was not read: ${refusalText(res)}`;
    return;
  }
  error.textContent = '';
  fillAccess(
    /** @type {HTMLTableSectionElement} */ (byId('access-table').querySelector('tbody')),
    res.body.entries,
    doctorNames,
  );
}

async function loadMyVitals() {
  if (!me) return;
  const to = Date.now();
  const r = await loadVitals({
    patient: me.subject,
    from: to - H24,
    to,
    tbody: /** @type {HTMLTableSectionElement} */ (byId('readings').querySelector('tbody')),
    trend: byId('trend'),
  });
  byId('vitals-error').textContent = r.ok ? '' : r.text;
}

/** Everything but the vitals (read on demand: each read is an access of its own). */
async function refreshLists() {
  await loadConsents();
  await loadAccess();
  await loadBreakGlass();
}

/**
 * After a grant, a revocation or a key registration: say so, and read the state again.
 * @param {string} message
 */
async function afterWrite(message) {
  const res = await getCareMe();
  if (res.ok) {
    me = res.body;
    renderKey(me);
  }
  await refreshLists();
  byId('consent-ok').textContent = message;
  status(message);
}

async function start() {
  const res = await getCareMe();
  if (!res.ok) {
    if (res.status === 403) {
      // another role (the route is the patients' and the doctors'): send them home
      location.assign('/');
      return;
    }
    if (res.status !== 401) status(`The portal could not start: ${refusalText(res)}`);
    return;
  }
  if (res.body.role !== 'patient') {
    location.assign(homeOf(res.body.role));
    return;
  }
  me = res.body;
  byId('login').hidden = true;
  portal.hidden = false;
  byId('user').textContent = me.username;
  byId('logout').hidden = false;
  renderKey(me);
  wireDownloads(me.subject);
  await Promise.all([loadMyVitals(), refreshLists()]);
  clearInterval(timer);
  timer = setInterval(() => void refreshLists(), REFRESH_MS);
  document.body.dataset.state = 'ready';
}

function ended(message = 'Your session ended. Sign in again.') {
  clearInterval(timer);
  lockKey();
  me = null;
  byId('logout').hidden = true;
  byId('user').textContent = '';
  document.body.dataset.state = 'signed-out';
  showSignIn(portal, message);
}

careHooks.onSessionEnded = () => {
  if (me) ended();
  else showSignIn(portal);
};
wireSignIn((who) => {
  if (who.role !== 'patient') location.assign(homeOf(who.role));
  else void start();
});
wireKeyForms(() => me, afterWrite);
wireGrant(() => me, afterWrite);
byId('logout').addEventListener('click', async () => {
  await signOut();
  ended('Signed out.');
});
void start();
