// @ts-check
/**
 * @module dashboards/ward/app
 * The ward dashboard's entry module: sign-in and sign-out, the once-a-second clock (tile
 * ages, the sorted view's minute, alarm ages, the audible cue and its pause, the reconnect
 * countdown), and the wiring of the page's modules: the central station's bed sectors
 * (dashboards/ward/sectors) and ward alarm list, fed by the gateway's WebSocket
 * (dashboards/ward/live.js, gateway/src/io/http/live-socket.ts), NEWS2 scores and IEC
 * 60601-1-8 alarms (dashboards/ward/alarms.js), the patient view (`#/patient/<dev>`,
 * dashboards/ward/patient.js), and return to the sign-in form when the session ends
 * (close code 4401). A user who must choose a new password sees that form
 * (dashboards/ward/password.js) instead of the ward until they have. Plain browser ES modules, no framework, no external resources; all
 * data is written with textContent (never HTML). The wire shapes are
 * gateway/src/core/live-contract.ts, checked by dashboards/tsconfig.json.
 */
import { getMe, postLogin, postLogout } from './api.js';
import { soundTick, toggleAudioPause, toggleSound } from './audio.js';
import { loadTrend } from './charts.js';
import { timeOfDay } from './clock.js';
import { applyDisplayMode, bootDisplay, resumeDisplay } from './display.js';
import { connect, setConn, showRetryCountdown, stopLive } from './live.js';
import { hidePasswordForm, showPasswordForm } from './password.js';
import { admit, discharge, initStandby, route, saveSettings } from './patient.js';
import { initSectors } from './sectors.js';
import { on, state, ui } from './state.js';
import { clearTiles, refreshAge, sortTiles } from './tiles.js';
import { ADMIT_ROLES } from './vitals.js';
import { refreshWardAlarmAges } from './ward-alarms.js';

/** @typedef {import('../common/contract.js').MeDto} MeDto */

// ---------------------------------------------------------------------------
// Views

function showLogin(message = '') {
  if (resumeDisplay()) return; // a wall display signs in again with its token, never by form
  stopLive();
  clearTiles();
  state.me = null;
  ui.ward.hidden = true;
  ui.patient.hidden = true;
  ui.barMeta.hidden = true;
  hidePasswordForm();
  ui.login.hidden = false;
  ui.loginError.textContent = message;
  ui.password.value = '';
  ui.loginSubmit.disabled = false;
  ui.username.focus();
}

/** @param {MeDto} me */
function showWard(me) {
  if (me.mustChangePassword) {
    ui.login.hidden = true;
    showPasswordForm(me, showWard, onLogout);
    return;
  }
  if (me.role === 'doctor' || me.role === 'patient') {
    location.assign(`/${me.role}/`); // their pages (issue 18): no ward data for them here
    return;
  }
  applyDisplayMode(me);
  state.me = me;
  ui.login.hidden = true;
  ui.barMeta.hidden = false;
  ui.user.textContent = me.username;
  ui.user.title = `Signed in as ${me.username} (${me.role})`;
  ui.admitForm.hidden = !ADMIT_ROLES.has(me.role);
  if (!me.live) {
    ui.ward.hidden = false;
    ui.notice.textContent = 'Your role has no access to live patient data.';
    ui.notice.hidden = false;
    setConn('offline', 'No access');
    return;
  }
  ui.notice.hidden = true;
  state.wanted = true;
  state.attempt = 0;
  connect();
  route();
}

function tick() {
  const now = Date.now();
  for (const tile of state.tiles.values()) refreshAge(tile, now);
  sortTiles();
  refreshWardAlarmAges(now);
  soundTick(now);
  const d = new Date();
  const hhmm = timeOfDay(d);
  if (ui.clock.textContent !== hhmm) ui.clock.textContent = hhmm;
  ui.clock.dateTime = d.toISOString();
  showRetryCountdown(now);
}

// ---------------------------------------------------------------------------
// Sign-in / sign-out

/** @param {SubmitEvent} ev */
async function onLogin(ev) {
  ev.preventDefault();
  ui.loginError.textContent = '';
  ui.loginSubmit.disabled = true;
  try {
    const res = await postLogin(ui.username.value, ui.password.value);
    ui.password.value = '';
    if (res.ok) {
      showWard(/** @type {MeDto} */ (await res.json()));
      return;
    }
    if (res.status === 401) ui.loginError.textContent = 'Wrong username or password.';
    else if (res.status === 403)
      ui.loginError.textContent = 'This account is disabled. Ask an administrator.';
    else if (res.status === 429) {
      const wait = Number(res.headers.get('retry-after')) || 1;
      ui.loginError.textContent = `Too many failed attempts. Try again in ${wait} s.`;
    } else ui.loginError.textContent = 'The gateway could not sign you in. Try again.';
  } catch {
    ui.loginError.textContent = 'The gateway is unreachable.';
  } finally {
    ui.loginSubmit.disabled = false;
  }
}

async function onLogout() {
  stopLive();
  await postLogout();
  showLogin();
}

async function boot() {
  on('session-ended', (message) => showLogin(message));
  on('retry-scheduled', () => tick());
  ui.loginForm.addEventListener('submit', onLogin);
  ui.logout.addEventListener('click', onLogout);
  ui.sound.addEventListener('click', toggleSound);
  document.getElementById('audio-pause')?.addEventListener('click', () => toggleAudioPause());
  initSectors();
  initStandby();
  ui.settingsForm.addEventListener('submit', saveSettings);
  ui.admitForm.addEventListener('submit', admit);
  ui.discharge.addEventListener('click', discharge);
  ui.ranges.addEventListener('click', (ev) => {
    const b = /** @type {HTMLElement} */ (ev.target).closest('button');
    if (b && state.view) {
      state.view.rangeMs = Number(b.dataset.range);
      loadTrend();
    }
  });
  window.addEventListener('hashchange', route);
  setInterval(tick, 1000);
  tick();
  if (await bootDisplay(showWard)) return;
  let res;
  try {
    res = await getMe();
  } catch {
    showLogin('The gateway is unreachable.');
    return;
  }
  if (res.ok) showWard(/** @type {MeDto} */ (await res.json()));
  else showLogin();
}

boot();
