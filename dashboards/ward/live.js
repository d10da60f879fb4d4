// @ts-check
/**
 * @module dashboards/ward/live
 * The live socket client (`GET /ws`, gateway/src/io/http/live-socket.ts): applies the
 * snapshot and each message by its type (core/live-contract `LiveMessage`), reconnects
 * with exponential backoff and jitter, and ends the session on the page when the gateway
 * closes with `WS_CLOSE_SESSION_ENDED` (4401) or a reconnect finds the session gone.
 *
 * Connection lost (issue 15): the gateway sends a heartbeat on a socket that was silent for
 * `HEARTBEAT_MS`; when the socket closes, or nothing arrives for `CONNECTION_LOST_MS` (a
 * gateway gone, a half-open link), the page emits `connection-lost` (dashboards/ward/display
 * shows the banner and greys the tiles), drops a silent socket and reconnects; the first
 * message of the new socket (its snapshot) ends it.
 */
import { CONNECTION_LOST_MS, WS_CLOSE_SESSION_ENDED } from '../common/contract.js';
import { applyAlarm, renderAlarmsOf, updateAlarmSummary } from './alarms.js';
import { getMe } from './api.js';
import { applyEcg } from './charts.js';
import { setClockFormat } from './clock.js';
import { emit, SESSION_ENDED_TEXT, state, ui } from './state.js';
import { applyTileState, applyTileStates } from './tile-state.js';
import {
  applyNews2,
  applyReading,
  ensureTile,
  loadLabels,
  queueReading,
  refreshAge,
  sortTiles,
  updateCount,
} from './tiles.js';

/** @typedef {import('../common/contract.js').LiveMessage} LiveMessage */
/** @typedef {import('../common/contract.js').SnapshotMessage} SnapshotMessage */

const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
/** A wall display has nobody to press reload: it retries at least this often. */
const DISPLAY_RECONNECT_MAX_MS = 10_000;
/** How often the socket's silence is checked. */
const SILENCE_CHECK_MS = 500;

/**
 * Shows or ends "connection lost" (emitted once per change).
 * @param {boolean} lost
 */
export function setConnectionLost(lost) {
  if (state.connLost === lost) return;
  state.connLost = lost;
  emit('connection-lost', lost);
}

/** Drops a socket that went silent for CONNECTION_LOST_MS and reconnects. */
function checkSilence() {
  const ws = state.ws;
  if (!state.wanted || !ws || Date.now() - state.lastMessageAt <= CONNECTION_LOST_MS) return;
  setConnectionLost(true);
  state.ws = null;
  try {
    ws.close(1000, 'silent');
  } catch {
    // already closing
  }
  scheduleReconnect();
}
setInterval(checkSilence, SILENCE_CHECK_MS);

/**
 * @param {'live'|'connecting'|'reconnecting'|'offline'} s
 * @param {string} text
 */
export function setConn(s, text) {
  ui.conn.dataset.state = s;
  ui.connText.textContent = text;
}

/** Shows the seconds left before the next reconnect, while one is scheduled. */
export function showRetryCountdown(now = Date.now()) {
  if (!state.retryTimer) return;
  const s = Math.max(1, Math.ceil((state.retryAt - now) / 1000));
  setConn('reconnecting', `Reconnecting in ${s} s`);
}

export function connect() {
  if (!state.wanted || state.ws) return;
  setConn('connecting', 'Connecting…');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  state.lastMessageAt = Date.now();
  ws.addEventListener('open', () => {
    state.attempt = 0;
    state.lastMessageAt = Date.now();
    setConn('live', 'Live');
  });
  ws.addEventListener('message', (ev) => {
    if (state.ws !== ws) return;
    state.lastMessageAt = Date.now();
    setConnectionLost(false);
    /** @type {LiveMessage} */
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === 'heartbeat') {
      if (typeof msg.now === 'number') state.clockOffset = msg.now - Date.now();
      return;
    }
    if (msg.type === 'reading') queueReading(msg);
    else if (msg.type === 'ecg') applyEcg(msg);
    else if (msg.type === 'news2') applyNews2(msg);
    else if (msg.type === 'alarm') applyAlarm(msg);
    else if (msg.type === 'tile-state') applyTileState(msg);
    else if (msg.type === 'snapshot') applySnapshot(msg);
  });
  ws.addEventListener('close', (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (!state.wanted) return;
    setConnectionLost(true);
    if (ev.code === WS_CLOSE_SESSION_ENDED) emit('session-ended', SESSION_ENDED_TEXT);
    else scheduleReconnect();
  });
}

/** @param {SnapshotMessage} msg */
function applySnapshot(msg) {
  if (typeof msg.now === 'number') state.clockOffset = msg.now - Date.now();
  state.pending.clear();
  if (typeof window.__vtSnapshots === 'number') window.__vtSnapshots++;
  if (msg.ward && typeof msg.ward.name === 'string') setWardName(msg.ward.name);
  setClockFormat(msg.ward?.clock);
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
  applyTileStates(Array.isArray(msg.tileStates) ? msg.tileStates : []);
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

/** @param {string} name */
function setWardName(name) {
  ui.wardName.textContent = name;
  document.title = `${name} · VitalTrail`;
}

function scheduleReconnect() {
  if (state.retryTimer) return;
  const max = state.me?.display ? DISPLAY_RECONNECT_MAX_MS : RECONNECT_MAX_MS;
  const delay = Math.min(max, RECONNECT_BASE_MS * 2 ** state.attempt) * (0.8 + Math.random() * 0.4);
  state.attempt++;
  state.retryAt = Date.now() + delay;
  state.retryTimer = setTimeout(async () => {
    state.retryTimer = null;
    // A refused upgrade looks like any dropped socket; ask whether the session still lives.
    let res;
    try {
      res = await getMe();
    } catch {
      if (state.wanted) scheduleReconnect();
      return;
    }
    if (!state.wanted) return;
    if (res.status === 401) emit('session-ended', SESSION_ENDED_TEXT);
    else if (!res.ok) scheduleReconnect();
    else connect();
  }, delay);
  emit('retry-scheduled', null);
}

export function stopLive() {
  state.wanted = false;
  if (state.retryTimer) clearTimeout(state.retryTimer);
  state.retryTimer = null;
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, 'bye');
  setConn('offline', 'Disconnected');
  setConnectionLost(false);
}
