/**
 * @module dashboards/ward/app
 * The ward dashboard's behaviour: sign-in, the live tile grid fed by the gateway's
 * WebSocket (gateway/src/io/http/server.ts), NEWS2 scores and IEC 60601-1-8 alarms
 * (gateway/src/io/clinical/alarm-service.ts: `snapshot.alarms`, `snapshot.news2`, `{type:'alarm'}`,
 * `{type:'news2'}`, `{type:'ecg'}`), tiles sorted by acuity, the patient view
 * (`#/patient/<dev>`: live values, ECG strip, trends, alarms, settings, bindings),
 * reconnection with backoff, and return to the sign-in form when the session ends
 * (close code 4401). Plain browser JavaScript, no framework, no external resources; all
 * data is written with textContent (never HTML).
 */

/** A tile turns grey ("offline") when its last frame is older than this. */
const OFFLINE_AFTER_MS = 30_000;
/** WebSocket close code of the gateway: the session ended (idle expiry or logout). */
const WS_CLOSE_SESSION_ENDED = 4401;
const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
const VITAL_FIELDS = ['hr', 'spo2', 'rr', 'sbp', 'dbp'];
const LIMIT_VITALS = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'];
const VITAL_NAMES = {
  hr: 'HR',
  spo2: 'SpO₂',
  rr: 'RR',
  temp: 'Temp',
  sbp: 'Systolic BP',
  dbp: 'Diastolic BP',
  consciousness: 'Consciousness (ACVPU)',
};
const PRIORITY_RANK = { none: 0, low: 1, medium: 2, high: 3 };
const BAND_RANK = { none: 0, zero: 0, low: 1, low_medium: 2, medium: 3, high: 4 };
const BAND_TEXT = { zero: '0', low: 'low', low_medium: 'single 3', medium: 'medium', high: 'high' };
/** Roles that admit and discharge (the store's admission API). */
const ADMIT_ROLES = new Set(['admin', 'charge_nurse']);
const ECG_SECONDS = 5;
const REDUCED_MOTION = matchMedia('(prefers-reduced-motion: reduce)').matches;
/** Above this many tiles the per-reading flash is off (it would repaint the grid continuously). */
const FLASH_MAX_TILES = 40;
const TREND_SERIES = [
  { key: 'hr', name: 'HR /min', color: '#3ee07a', lo: 30, hi: 180 },
  { key: 'spo2', name: 'SpO₂ %', color: '#38d6f5', lo: 80, hi: 100 },
  { key: 'rr', name: 'RR /min', color: '#ffd84a', lo: 0, hi: 40 },
  { key: 'temp', name: 'Temp °C', color: '#f2f4f8', lo: 3400, hi: 4100, scale: 0.01 },
  { key: 'sbp', name: 'BP mmHg', color: '#ff6b7d', lo: 40, hi: 200, also: 'dbp' },
];

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const ui = {
  wardName: $('ward-name'),
  barMeta: $('bar-meta'),
  count: $('patient-count'),
  alarmSummary: $('alarm-summary'),
  sound: $('sound'),
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
  gwAlarms: $('gw-alarms'),
  grid: $('grid'),
  template: /** @type {HTMLTemplateElement} */ ($('tile-template')),
  alarmTemplate: /** @type {HTMLTemplateElement} */ ($('alarm-item-template')),
  patient: $('patient'),
  pLabel: $('p-label'),
  pDev: $('p-dev'),
  pNews2: $('p-news2'),
  pNews2Score: $('p-news2-score'),
  pNews2Note: $('p-news2-note'),
  pDevice: $('p-device'),
  pAlarms: $('p-alarms'),
  pHistory: $('p-history'),
  pBindings: $('p-bindings'),
  ecg: /** @type {HTMLCanvasElement} */ ($('ecg')),
  ecgNone: $('ecg-none'),
  trend: /** @type {HTMLCanvasElement} */ ($('trend')),
  trendStatus: $('trend-status'),
  ranges: $('ranges'),
  settingsForm: /** @type {HTMLFormElement} */ ($('settings-form')),
  settingsStatus: $('settings-status'),
  limits: $('limits'),
  admitForm: /** @type {HTMLFormElement} */ ($('admit-form')),
  admitStatus: $('admit-status'),
  discharge: $('discharge'),
};

const state = {
  /** @type {{username: string, role: string, live: boolean} | null} */
  me: null,
  /** @type {Map<string, any>} dev → tile */
  tiles: new Map(),
  /** @type {Map<string, any>} id → open alarm (AlarmDto) */
  alarms: new Map(),
  /** @type {Map<string, string>} id → the comment a nurse is typing, kept across live re-renders */
  ackDrafts: new Map(),
  /** Gateway clock minus browser clock, from the snapshot, so ages do not depend on this PC's clock. */
  clockOffset: 0,
  /** @type {WebSocket | null} */
  ws: null,
  wanted: false,
  attempt: 0,
  /** @type {ReturnType<typeof setTimeout> | null} */
  retryTimer: null,
  retryAt: 0,
  sortDirty: true,
  /** @type {Map<string, any>} readings waiting for the next animation frame, newest per device */
  pending: new Map(),
  sound: false,
  /** @type {AudioContext | null} */
  audio: null,
  lastCue: 0,
  /** The patient view: device and its ECG ring buffer. */
  view: /** @type {{dev: string, ecg: Int16Array, ecgFs: number, ecgLen: number, rangeMs: number} | null} */ (
    null
  ),
};

// ---------------------------------------------------------------------------
// Views

function showLogin(message = '') {
  stopLive();
  clearTiles();
  state.me = null;
  ui.ward.hidden = true;
  ui.patient.hidden = true;
  ui.barMeta.hidden = true;
  ui.login.hidden = false;
  ui.loginError.textContent = message;
  ui.password.value = '';
  ui.loginSubmit.disabled = false;
  ui.username.focus();
}

/** @param {{username: string, role: string, live: boolean}} me */
function showWard(me) {
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

/** @param {'live'|'connecting'|'reconnecting'|'offline'} s */
function setConn(s, text) {
  ui.conn.dataset.state = s;
  ui.connText.textContent = text;
}

// ---------------------------------------------------------------------------
// Tiles

function clearTiles() {
  state.tiles.clear();
  state.alarms.clear();
  ui.grid.replaceChildren();
  ui.gwAlarms.replaceChildren();
  updateCount();
  updateAlarmSummary();
}

function updateCount() {
  const n = state.tiles.size;
  ui.count.textContent = `${n} ${n === 1 ? 'patient' : 'patients'}`;
}

function ensureTile(dev, label) {
  let tile = state.tiles.get(dev);
  if (tile) {
    if (label && tile.label !== label) setLabel(tile, label);
    return tile;
  }
  const frag = /** @type {DocumentFragment} */ (ui.template.content.cloneNode(true));
  const el = /** @type {HTMLElement} */ (frag.querySelector('.tile'));
  el.dataset.dev = dev;
  el.tabIndex = 0;
  el.setAttribute('role', 'link');
  /** @type {Record<string, HTMLElement>} */
  const fields = {};
  for (const f of el.querySelectorAll('[data-field]'))
    fields[/** @type {HTMLElement} */ (f).dataset.field] = f;
  tile = {
    dev,
    el,
    fields,
    label: dev,
    batFill: /** @type {HTMLElement} */ (el.querySelector('.bat-fill')),
    last: null,
    news2: null,
  };
  setLabel(tile, label || dev);
  const open = () => {
    location.hash = `#/patient/${encodeURIComponent(dev)}`;
  };
  el.addEventListener('click', open);
  el.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') open();
  });
  state.tiles.set(dev, tile);
  ui.grid.append(el);
  state.sortDirty = true;
  updateCount();
  return tile;
}

function setLabel(tile, label) {
  tile.label = label;
  tile.fields.label.textContent = label;
  if (state.view?.dev === tile.dev) ui.pLabel.textContent = label;
}

/** Writes text only when it changed: an identical write still invalidates layout. */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

const show = (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '—');
const showTemp = (v) => (typeof v === 'number' ? (v / 100).toFixed(1) : '—');

function applyReading(r) {
  if (!r || typeof r.dev !== 'string') return;
  const tile = ensureTile(r.dev);
  // The gateway also forwards late gap-fillers; the tile shows the newest seq only.
  if (tile.last && !(r.seq > tile.last.seq)) return;
  tile.last = r;
  const obs = r.obs || {};
  for (const k of VITAL_FIELDS) setText(tile.fields[k], show(obs[k]));
  // PROTOCOL.md §1: temp is in 0.01 °C.
  setText(tile.fields.temp, showTemp(obs.temp));
  if (typeof r.bat === 'number') {
    setText(tile.fields.bat, `${r.bat}%`);
    tile.batFill.style.width = `${Math.max(0, Math.min(100, r.bat))}%`;
    tile.el.classList.toggle('bat-low', r.bat < 20);
  } else {
    setText(tile.fields.bat, '—');
    tile.batFill.style.width = '0';
  }
  // Signal quality: how many of the six vitals the last frame carried.
  const n = LIMIT_VITALS.filter((k) => typeof obs[k] === 'number').length;
  setText(tile.fields.sig, `${n}/6 vitals`);
  tile.fields.sig.dataset.q = n === 6 ? 'good' : n >= 3 ? 'poor' : 'lost';
  // "Just updated" flash without forcing a layout (Web Animations); only on small wards, where
  // it cannot keep the whole grid repainting.
  if (!REDUCED_MOTION && state.tiles.size <= FLASH_MAX_TILES)
    tile.el.animate?.([{ backgroundColor: '#17263a' }, { backgroundColor: '#10151d' }], {
      duration: 900,
      easing: 'ease-out',
    });
  refreshAge(tile, Date.now());
  if (state.view?.dev === r.dev) renderPatientLive(r);
}

/**
 * Live readings are applied once per animation frame, newest per device: a burst of
 * readings (a whole ward every second) costs one style/layout pass, and a tab in the
 * background does no work until it is shown again.
 */
function queueReading(r) {
  if (!r || typeof r.dev !== 'string') return;
  if (typeof window.__vtReceived === 'number') window.__vtReceived++;
  const p = state.pending.get(r.dev);
  if (!p || r.seq > p.seq) state.pending.set(r.dev, r);
  if (state.pending.size === 1) requestAnimationFrame(flushReadings);
}

function flushReadings() {
  const batch = [...state.pending.values()];
  state.pending.clear();
  for (const r of batch) applyReading(r);
  if (Array.isArray(window.__vtLatency)) {
    // Bench hook (test/bench/dashboard.ts): hub publish → rendered, taken at the next frame.
    requestAnimationFrame(() => {
      const now = Date.now() + state.clockOffset;
      for (const r of batch) window.__vtLatency.push(now - r.receivedAt);
    });
  }
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
  setText(tile.fields.age, offline ? `offline · ${formatAge(age)}` : formatAge(age));
  const st = offline ? 'offline' : 'online';
  if (tile.el.dataset.state !== st) tile.el.dataset.state = st;
  tile.el.classList.toggle('offline', offline);
}

// ---------------------------------------------------------------------------
// NEWS2 and alarms

function news2Text(n) {
  if (!n) return '—';
  return n.partial ? `≥${n.score}` : String(n.score);
}

function applyNews2(n) {
  if (!n || typeof n.dev !== 'string') return;
  const tile = ensureTile(n.dev);
  tile.news2 = n;
  const badge = tile.fields.news2;
  badge.dataset.band = n.band;
  badge.dataset.partial = String(Boolean(n.partial));
  setText(tile.fields.news2score, news2Text(n));
  badge.title = n.partial
    ? `NEWS2 ${n.score} from incomplete data (missing: ${n.missing.join(', ')}): the true score may be higher`
    : `NEWS2 ${n.score} (${BAND_TEXT[n.band] ?? n.band})`;
  tile.el.dataset.band = n.band;
  state.sortDirty = true;
  if (state.view?.dev === n.dev) renderPatientNews2(n);
}

const ALARM_TEXT = {
  // The current score is on the badge; the alarm names the response its band calls for.
  news2: (a) =>
    `NEWS2 · ${a.priority === 'high' ? 'emergency response' : a.priority === 'medium' ? 'urgent response' : 'urgent ward review'}`,
  device_offline: () => 'Device offline',
  battery_low: (a) => `Battery low${typeof a.value === 'number' ? ` (${a.value}%)` : ''}`,
  signature_failures: () => 'Repeated signature failures',
  storage_failing: () => 'Storage failing: devices are not acknowledged',
  anchoring_delayed: () => 'Anchoring delayed',
};

function alarmText(a) {
  const f = ALARM_TEXT[a.code];
  if (f) return f(a);
  const m = /^(hr|spo2|rr|temp|sbp|dbp)_(low|high)$/.exec(a.code);
  if (m) {
    // The crossed limit, not the value at raise time (the live value is on the tile).
    const l = m[1] === 'temp' && typeof a.limit === 'number' ? (a.limit / 100).toFixed(1) : a.limit;
    return `${VITAL_NAMES[m[1]]} ${m[2]}${l !== undefined ? ` (${m[2] === 'low' ? '<' : '>'} ${l})` : ''}`;
  }
  const s = /^signal_loss_(\w+)$/.exec(a.code);
  if (s) return `${VITAL_NAMES[s[1]] ?? s[1]} signal lost`;
  return a.code;
}

function applyAlarm(msg) {
  const a = msg.alarm;
  if (!a || typeof a.id !== 'string') return;
  if (a.state === 'cleared') state.alarms.delete(a.id);
  else state.alarms.set(a.id, a);
  renderAlarmsOf(a.dev);
  if (state.view?.dev === a.dev)
    prependHistory({
      ...a,
      event: msg.event,
      at: a.updatedAt,
      by: msg.event === 'acknowledged' ? a.ackBy : null,
    });
  updateAlarmSummary();
}

function alarmsOf(dev) {
  return [...state.alarms.values()].filter((a) => a.dev === dev);
}

/** Active (unacknowledged) first, then by priority, newest first. */
function byUrgency(a, b) {
  const act = (x) => (x.state === 'active' ? 1 : 0);
  return act(b) - act(a) || PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || b.raisedAt - a.raisedAt;
}

function renderAlarmsOf(dev) {
  if (dev === 'gateway') {
    renderAlarmList(ui.gwAlarms, alarmsOf('gateway'), true);
    return;
  }
  const tile = state.tiles.get(dev);
  if (tile) {
    const list = alarmsOf(dev).sort(byUrgency);
    const top = list[0];
    const banner = tile.fields.alarm;
    banner.dataset.priority = top ? top.priority : 'none';
    banner.dataset.state = top ? top.state : 'none';
    banner.textContent = top ? `${alarmText(top)}${list.length > 1 ? `  +${list.length - 1}` : ''}` : '';
    tile.el.dataset.alarm = top && top.state === 'active' ? top.priority : 'none';
    tile.topAlarm = top ?? null;
    state.sortDirty = true;
  }
  if (state.view?.dev === dev) renderAlarmList(ui.pAlarms, alarmsOf(dev), false);
}

function renderAlarmList(container, alarms, compact) {
  // Live updates re-render the list; a comment being typed (and its caret) must survive that.
  const focused = /** @type {HTMLElement | null} */ (document.activeElement);
  const focusedId =
    focused?.dataset.afield === 'comment' && container.contains(focused)
      ? /** @type {HTMLElement} */ (focused.closest('.alarm-item')).dataset.id
      : null;
  const caret = focusedId ? /** @type {HTMLInputElement} */ (focused).selectionStart : null;
  let refocus = /** @type {HTMLInputElement | null} */ (null);
  container.replaceChildren(
    ...alarms.sort(byUrgency).map((a) => {
      const frag = /** @type {DocumentFragment} */ (ui.alarmTemplate.content.cloneNode(true));
      const li = /** @type {HTMLElement} */ (frag.querySelector('.alarm-item'));
      li.dataset.id = a.id;
      li.dataset.priority = a.priority;
      li.dataset.state = a.state;
      li.dataset.code = a.code;
      const f = (name) => /** @type {HTMLElement} */ (li.querySelector(`[data-afield="${name}"]`));
      f('text').textContent = alarmText(a);
      const parts = [`${a.priority} · ${a.kind}`, `since ${new Date(a.raisedAt).toLocaleTimeString()}`];
      if (a.latched) parts.push('latched');
      if (a.escalations > 0) parts.push(`escalated ×${a.escalations}`);
      if (a.state === 'acknowledged')
        parts.push(`acknowledged by ${a.ackBy}${a.ackComment ? `: “${a.ackComment}”` : ''}`);
      f('meta').textContent = parts.join(' · ');
      const comment = /** @type {HTMLInputElement} */ (f('comment'));
      const ack = /** @type {HTMLButtonElement} */ (f('ack'));
      if (a.state !== 'active' || compact) comment.remove();
      else {
        comment.value = state.ackDrafts.get(a.id) ?? '';
        comment.addEventListener('input', () => state.ackDrafts.set(a.id, comment.value));
        if (a.id === focusedId) refocus = comment;
      }
      if (a.state !== 'active') ack.remove();
      else
        ack.addEventListener('click', () => acknowledge(a.id, comment.isConnected ? comment.value : '', li));
      return li;
    }),
  );
  if (refocus) {
    refocus.focus();
    if (caret !== null) refocus.setSelectionRange(caret, caret);
  }
  for (const id of state.ackDrafts.keys())
    if (state.alarms.get(id)?.state !== 'active') state.ackDrafts.delete(id);
}

async function acknowledge(id, comment, li) {
  const res = await api(`/api/alarms/${encodeURIComponent(id)}/ack`, 'POST', comment ? { comment } : {});
  if (res.ok) state.ackDrafts.delete(id);
  else if (li) li.dataset.error = 'true';
}

function updateAlarmSummary() {
  const active = [...state.alarms.values()].filter((a) => a.state === 'active');
  let top = 'none';
  for (const a of active) if (PRIORITY_RANK[a.priority] > PRIORITY_RANK[top]) top = a.priority;
  ui.alarmSummary.dataset.priority = top;
  ui.alarmSummary.textContent =
    active.length === 0
      ? 'No active alarms'
      : `${active.length} active alarm${active.length === 1 ? '' : 's'}`;
}

/** Acuity: unacknowledged alarm priority, then NEWS2 band and score; ties by label. */
function acuityKey(tile) {
  const a = tile.topAlarm;
  const alarmRank = a ? PRIORITY_RANK[a.priority] * (a.state === 'active' ? 2 : 1) : 0;
  const n = tile.news2;
  return [alarmRank, n ? BAND_RANK[n.band] : 0, n ? n.score : 0];
}

function sortTiles() {
  if (!state.sortDirty) return;
  state.sortDirty = false;
  const tiles = [...state.tiles.values()];
  const keys = new Map(tiles.map((t) => [t, acuityKey(t)]));
  tiles.sort((x, y) => {
    const kx = keys.get(x);
    const ky = keys.get(y);
    for (let i = 0; i < kx.length; i++) if (ky[i] !== kx[i]) return ky[i] - kx[i];
    return x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : 0;
  });
  const current = [...ui.grid.children];
  if (tiles.every((t, i) => current[i] === t.el)) return;
  ui.grid.append(...tiles.map((t) => t.el));
}

// ---------------------------------------------------------------------------
// Audible cue (optional, off by default): IEC 60601-1-8-like burst patterns.

function toggleSound() {
  state.sound = !state.sound;
  ui.sound.setAttribute('aria-pressed', String(state.sound));
  ui.sound.textContent = state.sound ? 'Sound on' : 'Sound off';
  if (state.sound && !state.audio) {
    try {
      state.audio = new AudioContext();
    } catch {
      state.audio = null;
    }
  }
}

function beep(at, freq, ms) {
  const ctx = state.audio;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + ms / 1000);
  osc.connect(gain).connect(ctx.destination);
  osc.start(at);
  osc.stop(at + ms / 1000 + 0.05);
}

function soundTick(now) {
  if (!state.sound || !state.audio) return;
  let top = 'none';
  for (const a of state.alarms.values())
    if (a.state === 'active' && PRIORITY_RANK[a.priority] > PRIORITY_RANK[top]) top = a.priority;
  // High: 10 pulses every 5 s (as 3+2 bursts); medium: 3 pulses every 15 s; low: 1 pulse every 30 s.
  const every = { high: 5000, medium: 15_000, low: 30_000 }[top];
  if (!every || now - state.lastCue < every) return;
  state.lastCue = now;
  const t0 = state.audio.currentTime + 0.05;
  const pulses = top === 'high' ? [0, 0.2, 0.4, 0.9, 1.1] : top === 'medium' ? [0, 0.25, 0.5] : [0];
  for (const dt of pulses) beep(t0 + dt, top === 'high' ? 880 : 660, 150);
}

// ---------------------------------------------------------------------------
// Patient view (#/patient/<dev>)

function route() {
  const m = /^#\/patient\/([A-Za-z0-9._-]{1,64})$/.exec(location.hash);
  if (!state.me?.live) return;
  if (m) openPatient(decodeURIComponent(m[1]));
  else closePatient();
}

function closePatient() {
  state.view = null;
  ui.patient.hidden = true;
  ui.ward.hidden = false;
}

async function openPatient(dev) {
  state.view = {
    dev,
    ecg: new Int16Array(250 * ECG_SECONDS),
    ecgFs: 250,
    ecgLen: 0,
    rangeMs: state.view?.rangeMs ?? 3_600_000,
  };
  ui.ward.hidden = true;
  ui.patient.hidden = false;
  ui.patient.dataset.dev = dev;
  const tile = state.tiles.get(dev);
  ui.pLabel.textContent = tile?.label ?? dev;
  ui.pDev.textContent = tile && tile.label !== dev ? dev : '';
  ui.ecgNone.hidden = false;
  drawEcg();
  renderPatientLive(tile?.last ?? null);
  renderPatientNews2(tile?.news2 ?? null);
  renderAlarmList(ui.pAlarms, alarmsOf(dev), false);
  ui.pHistory.replaceChildren();
  ui.pBindings.replaceChildren();
  // The server audits this request as a view of the patient.
  const res = await api(`/api/patients/${encodeURIComponent(dev)}`);
  if (state.view?.dev !== dev) return;
  if (res.ok) {
    const p = res.body;
    fillSettings(p.settings);
    if (p.news2) renderPatientNews2(p.news2);
    ui.pHistory.replaceChildren(...p.history.map(historyRow));
  } else if (res.status === 404) {
    ui.pLabel.textContent = 'Unknown device';
  }
  loadBindings(dev);
  loadTrend();
}

function renderPatientLive(r) {
  const q = (k) => /** @type {HTMLElement} */ (ui.patient.querySelector(`[data-pfield="${k}"]`));
  const obs = r?.obs ?? {};
  for (const k of VITAL_FIELDS) q(k).textContent = show(obs[k]);
  q('temp').textContent = showTemp(obs.temp);
  const tile = state.view ? state.tiles.get(state.view.dev) : undefined;
  if (!r) {
    ui.pDevice.textContent = 'no data';
    return;
  }
  const age = Date.now() + state.clockOffset - r.receivedAt;
  const parts = [age > OFFLINE_AFTER_MS ? `offline · ${formatAge(age)}` : `online · ${formatAge(age)}`];
  if (typeof r.bat === 'number') parts.push(`battery ${r.bat}%`);
  if (tile) parts.push(`signal ${tile.fields.sig.textContent}`);
  ui.pDevice.textContent = parts.join(' · ');
}

function renderPatientNews2(n) {
  ui.pNews2.dataset.band = n ? n.band : 'none';
  ui.pNews2.dataset.partial = String(Boolean(n?.partial));
  ui.pNews2Score.textContent = news2Text(n);
  ui.pNews2Note.textContent = !n
    ? ''
    : n.partial
      ? `incomplete: no ${n.missing.map((k) => VITAL_NAMES[k] ?? k).join(', ')}`
      : (BAND_TEXT[n.band] ?? n.band);
}

function historyRow(h) {
  const tr = document.createElement('tr');
  tr.dataset.event = h.event;
  for (const text of [
    new Date(h.at).toLocaleTimeString(),
    alarmText(h),
    h.priority,
    h.event + (h.comment ? ` (“${h.comment}”)` : ''),
    h.by ?? '',
  ]) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

function prependHistory(h) {
  ui.pHistory.prepend(historyRow({ ...h, comment: h.event === 'acknowledged' ? h.ackComment : null }));
}

function fillSettings(s) {
  const f = ui.settingsForm;
  /** @type {HTMLSelectElement} */ (f.elements.namedItem('spo2Scale')).value = String(s.spo2Scale);
  /** @type {HTMLInputElement} */ (f.elements.namedItem('oxygen')).checked = s.oxygen;
  /** @type {HTMLSelectElement} */ (f.elements.namedItem('consciousness')).value = s.consciousness ?? '';
  ui.limits.replaceChildren(
    ...LIMIT_VITALS.map((v) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      // Temperature limits are kept in 0.01 °C (PROTOCOL.md §1) and edited in °C.
      const k = v === 'temp' ? 100 : 1;
      th.textContent = v === 'temp' ? 'Temp °C' : VITAL_NAMES[v];
      tr.append(th);
      for (const side of ['low', 'high']) {
        const td = document.createElement('td');
        const input = document.createElement('input');
        input.type = 'number';
        input.name = `${v}.${side}`;
        input.min = '0';
        input.max = String(10000 / k);
        input.step = k === 1 ? '1' : '0.1';
        input.value = s.limits[v][side] === null ? '' : String(s.limits[v][side] / k);
        input.placeholder = 'off';
        td.append(input);
        tr.append(td);
      }
      return tr;
    }),
  );
  ui.settingsStatus.textContent = s.consciousnessBy
    ? `ACVPU ${s.consciousness} entered by ${s.consciousnessBy} at ${new Date(s.consciousnessAt).toLocaleTimeString()}`
    : '';
}

async function saveSettings(ev) {
  ev.preventDefault();
  if (!state.view) return;
  const f = ui.settingsForm;
  const val = (n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value;
  /** @type {Record<string, any>} */
  const body = {
    spo2Scale: Number(val('spo2Scale')),
    oxygen: /** @type {HTMLInputElement} */ (f.elements.namedItem('oxygen')).checked,
    limits: {},
  };
  if (val('consciousness')) body.consciousness = val('consciousness');
  for (const v of LIMIT_VITALS) {
    const k = v === 'temp' ? 100 : 1;
    const num = (side) => (val(`${v}.${side}`) === '' ? null : Math.round(Number(val(`${v}.${side}`)) * k));
    body.limits[v] = { low: num('low'), high: num('high') };
  }
  const res = await api(`/api/patients/${encodeURIComponent(state.view.dev)}/settings`, 'PUT', body);
  if (res.ok) fillSettings(res.body);
  ui.settingsStatus.textContent = res.ok
    ? `Saved. ${ui.settingsStatus.textContent}`
    : 'Not saved: check the values.';
}

async function loadBindings(dev) {
  const res = await api(`/api/devices/${encodeURIComponent(dev)}/bindings`);
  if (state.view?.dev !== dev) return;
  if (!res.ok) {
    ui.pBindings.replaceChildren(
      row(['—', res.status === 404 ? 'binding history not available' : 'not available', '', '']),
    );
    return;
  }
  const fmt = (t) => (typeof t === 'number' ? new Date(t).toLocaleString() : '');
  const hist = Array.isArray(res.body.history) ? res.body.history : [];
  ui.pBindings.replaceChildren(
    ...(hist.length
      ? hist.map((h) => row([h.bed, h.patientId, fmt(h.from), h.to ? fmt(h.to) : 'now']))
      : [row(['—', 'not admitted', '', ''])]),
  );
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = String(c ?? '');
    tr.append(td);
  }
  return tr;
}

async function admit(ev) {
  ev.preventDefault();
  if (!state.view) return;
  const f = ui.admitForm;
  const val = (n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value.trim();
  const dev = state.view.dev;
  const res = await api('/api/admissions', 'POST', { dev, patientId: val('patientId'), bed: val('bed') });
  ui.admitStatus.textContent = res.ok
    ? 'Admitted.'
    : `Not admitted (${res.body?.error?.code ?? res.status}).`;
  if (res.ok) {
    const tile = state.tiles.get(dev);
    if (tile) setLabel(tile, val('bed'));
    f.reset();
  }
  loadBindings(dev);
}

async function discharge() {
  if (!state.view) return;
  const dev = state.view.dev;
  const res = await api('/api/discharges', 'POST', { dev });
  ui.admitStatus.textContent = res.ok
    ? 'Discharged.'
    : `Not discharged (${res.body?.error?.code ?? res.status}).`;
  if (res.ok) {
    const tile = state.tiles.get(dev);
    if (tile) setLabel(tile, dev);
  }
  loadBindings(dev);
}

/**
 * Refreshes tile labels (bed numbers) from the admission API, if the gateway has it: on each
 * snapshot and after an admission, never on a timer (polling would keep an idle session alive).
 */
async function loadLabels() {
  const res = await api('/api/bindings');
  if (!res.ok || !Array.isArray(res.body?.bindings)) return;
  for (const b of res.body.bindings) {
    const tile = state.tiles.get(b.dev);
    if (tile && typeof b.bed === 'string') setLabel(tile, b.bed);
  }
}

// --- ECG strip

function applyEcg(m) {
  const v = state.view;
  if (!v || m.dev !== v.dev || typeof m.s !== 'string') return;
  const bin = atob(m.s);
  const n = bin.length >> 1;
  if (m.fs !== v.ecgFs) {
    v.ecgFs = m.fs;
    v.ecg = new Int16Array(m.fs * ECG_SECONDS);
    v.ecgLen = 0;
  }
  // Append at the end of a sliding window (int16 little-endian, PROTOCOL.md §1).
  const cap = v.ecg.length;
  const take = Math.min(n, cap);
  v.ecg.copyWithin(0, take);
  for (let i = 0; i < take; i++) {
    const j = (n - take + i) * 2;
    const u = bin.charCodeAt(j) | (bin.charCodeAt(j + 1) << 8);
    v.ecg[cap - take + i] = u >= 0x8000 ? u - 0x10000 : u;
  }
  v.ecgLen = Math.min(cap, v.ecgLen + take);
  ui.ecgNone.hidden = true;
  drawEcg();
}

function drawEcg() {
  const c = ui.ecg;
  const g = c.getContext('2d');
  if (!g) return;
  const { width: w, height: h } = c;
  g.fillStyle = '#050a06';
  g.fillRect(0, 0, w, h);
  // ECG paper grid: 0.2 s major lines.
  const v = state.view;
  const cap = v ? v.ecg.length : 1250;
  const fs = v ? v.ecgFs : 250;
  g.strokeStyle = '#12301c';
  g.lineWidth = 1;
  for (let t = 0; t <= cap; t += fs / 5) {
    const x = (t / cap) * w;
    g.beginPath();
    g.moveTo(x, 0);
    g.lineTo(x, h);
    g.stroke();
  }
  for (let y = 0; y <= h; y += w / ((cap / fs) * 5)) {
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(w, y);
    g.stroke();
  }
  if (!v || v.ecgLen === 0) return;
  // −1 mV … +1.5 mV over the height.
  const y = (uv) => h * (1 - (uv + 1000) / 2500);
  g.strokeStyle = '#3ee07a';
  g.lineWidth = 2;
  g.beginPath();
  const start = cap - v.ecgLen;
  for (let i = start; i < cap; i++) {
    const x = (i / (cap - 1)) * w;
    if (i === start) g.moveTo(x, y(v.ecg[i]));
    else g.lineTo(x, y(v.ecg[i]));
  }
  g.stroke();
}

// --- trends (GET /api/devices/:dev/trend, drawn on canvas)

async function loadTrend() {
  const v = state.view;
  if (!v) return;
  const to = Date.now() + state.clockOffset;
  const from = to - v.rangeMs;
  const bucketMs = Math.max(1000, Math.round(v.rangeMs / 300));
  for (const b of ui.ranges.querySelectorAll('button'))
    b.setAttribute('aria-pressed', String(Number(b.dataset.range) === v.rangeMs));
  ui.trendStatus.textContent = 'Loading…';
  const res = await api(
    `/api/devices/${encodeURIComponent(v.dev)}/trend?from=${from}&to=${to}&bucketMs=${bucketMs}`,
  );
  if (state.view !== v) return;
  if (!res.ok) {
    ui.trendStatus.textContent =
      res.status === 404
        ? 'Trends are not available on this gateway.'
        : `Trends unavailable (${res.body?.error?.code ?? res.status}).`;
    drawTrend(null, from, to);
    return;
  }
  const series = res.body.series ?? {};
  const points = Object.values(series).reduce((n, s) => n + (Array.isArray(s) ? s.length : 0), 0);
  ui.trendStatus.textContent = points
    ? `${new Date(from).toLocaleString()} – ${new Date(to).toLocaleTimeString()}, ${Math.round(bucketMs / 1000)} s buckets`
    : 'No stored readings in this range.';
  drawTrend(series, from, to);
}

function drawTrend(series, from, to) {
  const c = ui.trend;
  const g = c.getContext('2d');
  if (!g) return;
  const { width: w, height: h } = c;
  g.fillStyle = '#0b1017';
  g.fillRect(0, 0, w, h);
  const left = 120;
  const rowH = h / TREND_SERIES.length;
  g.font = '20px system-ui, sans-serif';
  TREND_SERIES.forEach((s, i) => {
    const top = i * rowH + 6;
    const bottom = (i + 1) * rowH - 6;
    g.strokeStyle = '#273142';
    g.strokeRect(left, top, w - left - 4, bottom - top);
    g.fillStyle = s.color;
    g.fillText(s.name, 8, top + 24);
    g.fillStyle = '#9aa7b8';
    const k = s.scale ?? 1;
    g.fillText(String(Math.round(s.hi * k)), 8, top + 48);
    g.fillText(String(Math.round(s.lo * k)), 8, bottom - 4);
    if (!series) return;
    const x = (t) => left + ((t - from) / (to - from)) * (w - left - 4);
    const y = (val) =>
      bottom - ((Math.min(s.hi, Math.max(s.lo, val)) - s.lo) / (s.hi - s.lo)) * (bottom - top);
    for (const key of [s.key, s.also].filter(Boolean)) {
      const pts = Array.isArray(series[key]) ? series[key] : [];
      // min–max band, then the mean line.
      g.fillStyle = `${s.color}33`;
      for (const p of pts)
        g.fillRect(x(p.t), y(p.max), Math.max(1, ((w - left) * 1) / 300), Math.max(1, y(p.min) - y(p.max)));
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      pts.forEach((p, j) => {
        if (j === 0) g.moveTo(x(p.t), y(p.mean));
        else g.lineTo(x(p.t), y(p.mean));
      });
      g.stroke();
    }
  });
}

// ---------------------------------------------------------------------------

function tick() {
  const now = Date.now();
  for (const tile of state.tiles.values()) refreshAge(tile, now);
  sortTiles();
  soundTick(now);
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
    if (msg.type === 'reading') queueReading(msg);
    else if (msg.type === 'ecg') applyEcg(msg);
    else if (msg.type === 'news2') applyNews2(msg);
    else if (msg.type === 'alarm') applyAlarm(msg);
    else if (msg.type === 'snapshot') applySnapshot(msg);
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
  state.pending.clear();
  if (typeof window.__vtSnapshots === 'number') window.__vtSnapshots++;
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
  for (const n of Array.isArray(msg.news2) ? msg.news2 : []) if (seen.has(n.dev)) applyNews2(n);
  state.alarms.clear();
  for (const a of Array.isArray(msg.alarms) ? msg.alarms : [])
    if (a && typeof a.id === 'string') state.alarms.set(a.id, a);
  for (const dev of [...state.tiles.keys(), 'gateway']) renderAlarmsOf(dev);
  updateAlarmSummary();
  updateCount();
  state.sortDirty = true;
  sortTiles();
  loadLabels();
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

/** JSON API call; a 401 means the session ended: back to the form. */
async function api(url, method = 'GET', body = undefined) {
  let res;
  try {
    res = await fetch(url, {
      method,
      credentials: 'same-origin',
      ...(body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {}),
    });
  } catch {
    return { ok: false, status: 0, body: null };
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (res.status === 401 && state.wanted) showLogin('Your session ended. Please sign in again.');
  return { ok: res.ok, status: res.status, body: json };
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
  ui.sound.addEventListener('click', toggleSound);
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
