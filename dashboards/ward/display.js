// @ts-check
/**
 * @module dashboards/ward/display
 * Wall display mode (issue 15; a ward's central station) and the "connection lost" banner
 * of every ward page.
 *
 * Display mode: an admin enrols a screen (`POST /api/displays` or `vitaltrail displays add`)
 * and opens `/#display=<token>` on it once. The token is kept in localStorage and removed
 * from the address bar (history.replaceState; the fragment never reaches the server or its
 * logs), then exchanged for a session of role `display` (`POST /api/display/session`,
 * gateway/src/io/http/displays.ts). The ward is shown read-only: a "Wall display · <name>"
 * label instead of the user and sign-out button, no acknowledgement, admission or patient
 * view. The sign-in form never appears: when the session ends (a gateway restart loses its
 * sessions) the page exchanges the stored token again, with backoff, and reconnects by
 * itself; when the gateway answers `display_token_invalid` (the display was revoked) it
 * shows a full-screen "This display was unenrolled".
 *
 * Connection lost: dashboards/ward/live.js emits `connection-lost` when the socket closes
 * or nothing arrived for `CONNECTION_LOST_MS`; a banner in its own row under the header
 * says so (the ward below makes room: it covers no tile), the header's logo dot turns red
 * with the label "Connection lost", and the tiles are greyed until the socket is live
 * again. Elements are created here and styled by display.css.
 */
import { postDisplaySession } from './api.js';
import { setConnectionLost, stopLive } from './live.js';
import { on, ui } from './state.js';

/** @typedef {import('../common/contract.js').MeDto} MeDto */

const TOKEN_KEY = 'vitaltrail.displayToken';
/** base64url of 32 bytes (gateway/src/io/identity/displays.ts `DISPLAY_TOKEN_PATTERN`). */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const HASH_PREFIX = '#display=';
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 10_000;
const DISPLAY_CLASS = 'vt-display';
const LOST_CLASS = 'vt-conn-lost';

/**
 * An element with a class, an id and text.
 * @param {string} tag
 * @param {string} cls
 * @param {string} id
 * @param {string} [text]
 */
function el(tag, cls, id, text = '') {
  const e = document.createElement(tag);
  e.className = cls;
  e.id = id;
  e.textContent = text;
  return e;
}

// ---------------------------------------------------------------------------
// Connection lost (every page)

/** @type {HTMLElement | null} */
let banner = null;

/**
 * The header's green dot says so too while the connection is lost (red, labelled), and is
 * the plain logo again once live.
 * @param {boolean} lost
 */
function markLogo(lost) {
  const logo = document.querySelector('.bar .logo');
  if (!(logo instanceof HTMLElement)) return;
  if (lost) {
    logo.dataset.conn = 'lost';
    logo.removeAttribute('aria-hidden');
    logo.setAttribute('role', 'img');
    logo.setAttribute('aria-label', 'Connection lost');
    logo.title = 'Connection lost';
  } else {
    delete logo.dataset.conn;
    logo.setAttribute('aria-hidden', 'true');
    logo.removeAttribute('role');
    logo.removeAttribute('aria-label');
    logo.removeAttribute('title');
  }
}

/** @param {boolean} lost */
function showConnectionLost(lost) {
  if (!banner) {
    banner = el('div', 'vt-conn-lost-banner', 'conn-lost', 'Connection lost — values are not live');
    banner.setAttribute('role', 'alert');
    banner.hidden = true;
    // Its own row under the header: the view below gives it room, so it covers no tile.
    const bar = document.querySelector('body > .bar');
    if (bar) bar.after(banner);
    else document.body.prepend(banner);
  }
  banner.hidden = !lost;
  document.body.classList.toggle(LOST_CLASS, lost);
  markLogo(lost);
}
on('connection-lost', showConnectionLost);

// ---------------------------------------------------------------------------
// The token

/** The token when localStorage is unavailable (this page load only). */
let sessionToken = /** @type {string | null} */ (null);

/** The stored display token, or null (also when storage is unavailable). */
function storedToken() {
  try {
    const t = localStorage.getItem(TOKEN_KEY);
    return t && TOKEN_PATTERN.test(t) ? t : null;
  } catch {
    return null;
  }
}

/** Keeps a `#display=<token>` of the address (if any) and removes it from the address bar. */
function takeTokenFromUrl() {
  if (!location.hash.startsWith(HASH_PREFIX)) return;
  const token = location.hash.slice(HASH_PREFIX.length);
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  if (!TOKEN_PATTERN.test(token)) return;
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // No storage (private mode): this load still works; a restart will show the sign-in form.
    sessionToken = token;
  }
}

const tokenNow = () => storedToken() ?? sessionToken;

// ---------------------------------------------------------------------------
// Display mode

/** @type {(me: MeDto) => void} */
let showWardOf = () => {};
let signingIn = false;
let unenrolled = false;

/**
 * Marks the page as a wall display (or not) after a sign-in: the header label, and the
 * read-only look of display.css (no sign-out, no acknowledgement).
 * @param {MeDto} me
 */
export function applyDisplayMode(me) {
  const display = me.display;
  document.body.classList.toggle(DISPLAY_CLASS, Boolean(display));
  let label = document.getElementById('display-label');
  if (!display) {
    label?.remove();
    return;
  }
  if (!label) {
    label = el('span', 'vt-display-label', 'display-label');
    ui.barMeta.prepend(label);
  }
  label.textContent = `Wall display · ${display.name}`;
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Full screen: the display was revoked. Its stored token stays, so a reload says so again. */
function showUnenrolled() {
  unenrolled = true;
  stopLive();
  ui.ward.hidden = true;
  ui.patient.hidden = true;
  ui.login.hidden = true;
  ui.barMeta.hidden = true;
  if (document.getElementById('display-unenrolled')) return;
  const box = el('section', 'vt-unenrolled', 'display-unenrolled');
  box.setAttribute('role', 'alert');
  const forget = el('button', 'vt-forget', 'display-forget', 'Forget this display');
  forget.setAttribute('type', 'button');
  forget.addEventListener('click', () => {
    try {
      localStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing stored
    }
    location.replace('/');
  });
  box.append(
    el('h1', '', 'display-unenrolled-title', 'This display was unenrolled'),
    el(
      'p',
      '',
      'display-unenrolled-text',
      'An administrator revoked this wall display. It shows no patient data until it is enrolled again with a new display link.',
    ),
    forget,
  );
  document.body.append(box);
}

/** Exchanges the stored token for a session until it works or the display is unenrolled. */
async function signIn() {
  if (signingIn || unenrolled) return;
  signingIn = true;
  try {
    for (let attempt = 0; ; attempt++) {
      const token = tokenNow();
      if (!token) {
        location.replace('/');
        return;
      }
      /** @type {Response | null} */
      let res = null;
      try {
        res = await postDisplaySession(token);
      } catch {
        res = null; // unreachable: try again
      }
      if (res?.ok) {
        const me = /** @type {MeDto} */ (await res.json());
        applyDisplayMode(me);
        showWardOf(me);
        return;
      }
      if (res?.status === 401) {
        /** @type {{error?: {code?: string}} | null} */
        let body = null;
        try {
          body = await res.json();
        } catch {
          body = null;
        }
        if (body?.error?.code === 'display_token_invalid') {
          showUnenrolled();
          return;
        }
      }
      setConnectionLost(true);
      await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt) * (0.8 + Math.random() * 0.4));
    }
  } finally {
    signingIn = false;
  }
}

/**
 * Boot hook: takes a `#display=<token>` from the address; when this browser holds a display
 * token, signs in with it and shows the ward (through `showWard`).
 * @param {(me: MeDto) => void} showWard
 * @returns {Promise<boolean>} true when the page is a wall display (the caller does nothing more)
 */
export async function bootDisplay(showWard) {
  showWardOf = showWard;
  takeTokenFromUrl();
  if (!tokenNow()) return false;
  await signIn();
  return true;
}

/**
 * Sign-in form hook: a wall display never shows the form; it signs in again with its token
 * (the last values stay, greyed, under the "connection lost" banner meanwhile).
 * @returns {boolean} true when the page is a wall display (the caller must not show the form)
 */
export function resumeDisplay() {
  if (!tokenNow()) return false;
  if (!unenrolled) {
    stopLive();
    setConnectionLost(true);
    signIn();
  }
  return true;
}

// A wall display opens no patient: the tiles and alarms stay on the ward overview. Registered
// when this module loads, before the page's own router (dashboards/ward/app.js boot()).
window.addEventListener('hashchange', (ev) => {
  if (location.hash.startsWith(HASH_PREFIX)) {
    ev.stopImmediatePropagation();
    takeTokenFromUrl();
    location.reload();
    return;
  }
  if (!document.body.classList.contains(DISPLAY_CLASS) || !location.hash.startsWith('#/patient/')) return;
  ev.stopImmediatePropagation();
  history.replaceState(null, '', `${location.pathname}${location.search}`);
});
