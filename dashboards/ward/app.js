/**
 * @module dashboards/ward/app
 * The ward dashboard's behaviour: sign-in, the live tile grid fed by the gateway's
 * WebSocket (gateway/src/io/http.ts), reconnection with backoff, and return to the
 * sign-in form when the session ends (close code 4401). Plain browser JavaScript, no
 * framework, no external resources; all data is written with textContent (never HTML).
 */

/** A tile turns grey ("offline") when its last frame is older than this. */
const OFFLINE_AFTER_MS = 30_000;
/** WebSocket close code of the gateway: the session ended (idle expiry or logout). */
const WS_CLOSE_SESSION_ENDED = 4401;
const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
const VITAL_FIELDS = ['hr', 'spo2', 'rr', 'sbp', 'dbp'];

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const ui = {
  wardName: $('ward-name'),
  barMeta: $('bar-meta'),
  count: $('patient-count'),
  conn: $('conn'),
  connText: $('conn-text'),
  clock: $('clock'),
  user: $('user'),
  logout: $('logout'),
  login: $('login'),
  loginForm: /** @type {HTMLFormElement} */ ($('login-form')),
  username: /** @type {HTMLInputElement} */ ($('username')),
  password: /** @type {HTMLInputElement} */ ($('password')),
  loginError: $('login-error'),
  loginSubmit: /** @type {HTMLButtonElement} */ ($('login-submit')),
  ward: $('ward'),
  notice: $('notice'),
  grid: $('grid'),
  template: /** @type {HTMLTemplateElement} */ ($('tile-template')),
};

const state = {
  /** @type {Map<string, {el: HTMLElement, fields: Record<string, HTMLElement>, batFill: HTMLElement, last: any}>} */
  tiles: new Map(),
  /** Gateway clock minus browser clock, from the snapshot, so ages do not depend on this PC's clock. */
  clockOffset: 0,
  /** @type {WebSocket | null} */
  ws: null,
  /** True while signed in with live access: the socket should be kept open. */
  wanted: false,
  attempt: 0,
  /** @type {ReturnType<typeof setTimeout> | null} */
  retryTimer: null,
  retryAt: 0,
};

// ---------------------------------------------------------------------------
// Views

function showLogin(message = '') {
  stopLive();
  clearTiles();
  ui.ward.hidden = true;
  ui.barMeta.hidden = true;
  ui.login.hidden = false;
  ui.loginError.textContent = message;
  ui.password.value = '';
  ui.loginSubmit.disabled = false;
  ui.username.focus();
}

/** @param {{username: string, role: string, live: boolean}} me */
function showWard(me) {
  ui.login.hidden = true;
  ui.ward.hidden = false;
  ui.barMeta.hidden = false;
  ui.user.textContent = me.username;
  ui.user.title = `Signed in as ${me.username} (${me.role})`;
  if (!me.live) {
    ui.notice.textContent = 'Your role has no access to live patient data.';
    ui.notice.hidden = false;
    setConn('offline', 'No access');
    return;
  }
  ui.notice.hidden = true;
  state.wanted = true;
  state.attempt = 0;
  connect();
}

/** @param {'live'|'connecting'|'reconnecting'|'offline'} s */
function setConn(s, text) {
  ui.conn.dataset.state = s;
  ui.connText.textContent = text;
}

// ---------------------------------------------------------------------------
// Tiles

function clearTiles() {
  state.tiles.clear();
  ui.grid.replaceChildren();
  updateCount();
}

function updateCount() {
  const n = state.tiles.size;
  ui.count.textContent = `${n} ${n === 1 ? 'patient' : 'patients'}`;
}

/** Creates the tile for `dev` if needed, keeping the grid sorted by device id. */
function ensureTile(dev, label) {
  let tile = state.tiles.get(dev);
  if (tile) {
    if (label && tile.fields.label.textContent !== label) tile.fields.label.textContent = label;
    return tile;
  }
  const frag = /** @type {DocumentFragment} */ (ui.template.content.cloneNode(true));
  const el = /** @type {HTMLElement} */ (frag.querySelector('.tile'));
  el.dataset.dev = dev;
  /** @type {Record<string, HTMLElement>} */
  const fields = {};
  for (const f of el.querySelectorAll('[data-field]'))
    fields[/** @type {HTMLElement} */ (f).dataset.field] = f;
  fields.label.textContent = label || dev;
  tile = { el, fields, batFill: /** @type {HTMLElement} */ (el.querySelector('.bat-fill')), last: null };
  state.tiles.set(dev, tile);
  const next = [...state.tiles.keys()].sort().find((d) => d > dev);
  ui.grid.insertBefore(el, next ? (state.tiles.get(next)?.el ?? null) : null);
  updateCount();
  return tile;
}

const show = (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '—');

function applyReading(r) {
  if (!r || typeof r.dev !== 'string') return;
  const tile = ensureTile(r.dev);
  // The gateway also forwards late gap-fillers; the tile shows the newest seq only.
  if (tile.last && !(r.seq > tile.last.seq)) return;
  tile.last = r;
  const obs = r.obs || {};
  for (const k of VITAL_FIELDS) tile.fields[k].textContent = show(obs[k]);
  // PROTOCOL.md §1: temp is in 0.01 °C.
  tile.fields.temp.textContent = typeof obs.temp === 'number' ? (obs.temp / 100).toFixed(1) : '—';
  if (typeof r.bat === 'number') {
    tile.fields.bat.textContent = `${r.bat}%`;
    tile.batFill.style.width = `${Math.max(0, Math.min(100, r.bat))}%`;
    tile.el.classList.toggle('bat-low', r.bat < 20);
  } else {
    tile.fields.bat.textContent = '—';
    tile.batFill.style.width = '0';
  }
  tile.el.classList.remove('fresh');
  void tile.el.offsetWidth; // restart the "just updated" flash
  tile.el.classList.add('fresh');
  refreshAge(tile, Date.now());
}

function formatAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

function refreshAge(tile, now) {
  if (!tile.last) {
    tile.fields.age.textContent = 'no data';
    tile.el.dataset.state = 'nodata';
    tile.el.classList.add('offline');
    return;
  }
  const age = now + state.clockOffset - tile.last.receivedAt;
  const offline = age > OFFLINE_AFTER_MS;
  tile.fields.age.textContent = offline ? `offline · ${formatAge(age)}` : formatAge(age);
  tile.el.dataset.state = offline ? 'offline' : 'online';
  tile.el.classList.toggle('offline', offline);
}

function tick() {
  const now = Date.now();
  for (const tile of state.tiles.values()) refreshAge(tile, now);
  const d = new Date();
  ui.clock.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  ui.clock.dateTime = d.toISOString();
  if (state.retryTimer) {
    const s = Math.max(1, Math.ceil((state.retryAt - now) / 1000));
    setConn('reconnecting', `Reconnecting in ${s} s`);
  }
}

// ---------------------------------------------------------------------------
// Live socket

function connect() {
  if (!state.wanted || state.ws) return;
  setConn('connecting', 'Connecting…');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  ws.addEventListener('open', () => {
    state.attempt = 0;
    setConn('live', 'Live');
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === 'snapshot') applySnapshot(msg);
    else if (msg.type === 'reading') applyReading(msg);
  });
  ws.addEventListener('close', (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (!state.wanted) return;
    if (ev.code === WS_CLOSE_SESSION_ENDED) showLogin('Your session ended. Please sign in again.');
    else scheduleReconnect();
  });
}

function applySnapshot(msg) {
  if (typeof msg.now === 'number') state.clockOffset = msg.now - Date.now();
  if (msg.ward && typeof msg.ward.name === 'string') setWardName(msg.ward.name);
  const seen = new Set();
  for (const p of Array.isArray(msg.patients) ? msg.patients : []) {
    if (!p || typeof p.dev !== 'string') continue;
    seen.add(p.dev);
    const tile = ensureTile(p.dev, p.label);
    tile.last = null; // the snapshot is authoritative after a reconnect
    if (p.last) applyReading(p.last);
    else refreshAge(tile, Date.now());
  }
  for (const [dev, tile] of state.tiles) {
    if (!seen.has(dev)) {
      tile.el.remove();
      state.tiles.delete(dev);
    }
  }
  updateCount();
}

function setWardName(name) {
  ui.wardName.textContent = name;
  document.title = `${name} · VitalTrail`;
}

function scheduleReconnect() {
  const delay =
    Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** state.attempt) * (0.8 + Math.random() * 0.4);
  state.attempt++;
  state.retryAt = Date.now() + delay;
  state.retryTimer = setTimeout(async () => {
    state.retryTimer = null;
    // A refused upgrade looks like any dropped socket; ask whether the session still lives.
    let res;
    try {
      res = await fetch('/api/me', { credentials: 'same-origin' });
    } catch {
      if (state.wanted) scheduleReconnect();
      return;
    }
    if (!state.wanted) return;
    if (res.status === 401) showLogin('Your session ended. Please sign in again.');
    else if (!res.ok) scheduleReconnect();
    else connect();
  }, delay);
  tick();
}

function stopLive() {
  state.wanted = false;
  if (state.retryTimer) clearTimeout(state.retryTimer);
  state.retryTimer = null;
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, 'bye');
  setConn('offline', 'Disconnected');
}

// ---------------------------------------------------------------------------
// Sign-in / sign-out

async function onLogin(ev) {
  ev.preventDefault();
  ui.loginError.textContent = '';
  ui.loginSubmit.disabled = true;
  try {
    const res = await fetch('/api/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: ui.username.value, password: ui.password.value }),
    });
    ui.password.value = '';
    if (res.ok) {
      showWard(await res.json());
      return;
    }
    if (res.status === 401) ui.loginError.textContent = 'Wrong username or password.';
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
  try {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  } catch {
    // Signed out locally either way; the server session ends on idle.
  }
  showLogin();
}

async function boot() {
  ui.loginForm.addEventListener('submit', onLogin);
  ui.logout.addEventListener('click', onLogout);
  setInterval(tick, 1000);
  tick();
  let res;
  try {
    res = await fetch('/api/me', { credentials: 'same-origin' });
  } catch {
    showLogin('The gateway is unreachable.');
    return;
  }
  if (res.ok) showWard(await res.json());
  else showLogin();
}

boot();
