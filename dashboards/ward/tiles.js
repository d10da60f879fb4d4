// @ts-check
/**
 * @module dashboards/ward/tiles
 * The ward grid: one tile per device with its latest vitals, battery, signal, age, NEWS2
 * badge and top alarm, sorted by acuity. Live readings are applied once per animation
 * frame. Tile labels (bed numbers) come from the admission API.
 */
import { cloneTemplate, setText } from '../common/dom.js';
import { formatAge, show, showTemp } from '../common/format.js';
import { updateAlarmSummary } from './alarms.js';
import { api } from './api.js';
import { emit, state, ui } from './state.js';
import {
  BAND_RANK,
  BAND_TEXT,
  LIMIT_VITALS,
  news2Text,
  OFFLINE_AFTER_MS,
  PRIORITY_RANK,
  VITAL_FIELDS,
} from './vitals.js';

/** @typedef {import('./state.js').Tile} Tile */
/** @typedef {import('../common/contract.js').ReadingDto} ReadingDto */
/** @typedef {import('../common/contract.js').News2Dto} News2Dto */
/** @typedef {import('../common/contract.js').BindingsResponse} BindingsResponse */

const REDUCED_MOTION = matchMedia('(prefers-reduced-motion: reduce)').matches;
/** Above this many tiles the per-reading flash is off (it would repaint the grid continuously). */
const FLASH_MAX_TILES = 40;

/**
 * The vital blocks of a tile, row by row (`main`: the large values): the block's class, its
 * name and unit, and the `data-field`s of its value (BP shows systolic/diastolic).
 * @type {readonly { row: string, vitals: readonly { cls: string, name: string, unit: string, fields: readonly string[] }[] }[]}
 */
const TILE_VITALS = [
  {
    row: 'main',
    vitals: [
      { cls: 'hr', name: 'HR', unit: '/min', fields: ['hr'] },
      { cls: 'spo2', name: 'SpO₂', unit: '%', fields: ['spo2'] },
    ],
  },
  {
    row: 'sub',
    vitals: [
      { cls: 'rr', name: 'RR', unit: '/min', fields: ['rr'] },
      { cls: 'temp', name: 'Temp', unit: '°C', fields: ['temp'] },
      { cls: 'bp', name: 'BP', unit: 'mmHg', fields: ['sbp', 'dbp'] },
    ],
  },
];

/**
 * A `<span>` with a class (or none), a `data-field` (or none) and its text.
 * @param {string} cls
 * @param {string} [field]
 * @param {string} [text]
 */
function span(cls, field, text = '—') {
  const s = document.createElement('span');
  if (cls) s.className = cls;
  if (field) s.dataset.field = field;
  s.textContent = text;
  return s;
}

/**
 * The value of a block: its one field, or its fields separated by "/" (BP).
 * @param {readonly string[]} fields
 */
function vitalValue([first, ...rest]) {
  if (rest.length === 0) return span('vital-value', first);
  const value = span('vital-value');
  value.replaceChildren(span('', first), ...rest.flatMap((f) => [span('sep', '', '/'), span('', f)]));
  return value;
}

/** Fills the tile template's `.vitals` with the blocks of TILE_VITALS, once, before any tile is made. */
function buildVitalBlocks() {
  const rows = TILE_VITALS.map(({ row, vitals }) => {
    const rowEl = document.createElement('div');
    rowEl.className = `vitals-row ${row}`;
    for (const v of vitals) {
      const block = document.createElement('div');
      block.className = `vital ${v.cls}`;
      block.append(span('vital-name', '', v.name), span('vital-unit', '', v.unit), vitalValue(v.fields));
      rowEl.append(block);
    }
    return rowEl;
  });
  ui.template.content.querySelector('.vitals')?.append(...rows);
}
buildVitalBlocks();

export function clearTiles() {
  state.tiles.clear();
  state.alarms.clear();
  ui.grid.replaceChildren();
  ui.gwAlarms.replaceChildren();
  updateCount();
  updateAlarmSummary();
}

export function updateCount() {
  const n = state.tiles.size;
  ui.count.textContent = `${n} ${n === 1 ? 'patient' : 'patients'}`;
}

/**
 * The tile of `dev`, created (and opened on click or Enter) when new.
 * @param {string} dev
 * @param {string} [label]
 * @returns {Tile}
 */
export function ensureTile(dev, label) {
  let tile = state.tiles.get(dev);
  if (tile) {
    if (label && tile.label !== label) setLabel(tile, label);
    return tile;
  }
  const el = cloneTemplate(ui.template, '.tile');
  el.dataset.dev = dev;
  el.tabIndex = 0;
  el.setAttribute('role', 'link');
  /** @type {Record<string, HTMLElement>} */
  const fields = {};
  for (const f of el.querySelectorAll('[data-field]')) {
    const h = /** @type {HTMLElement} */ (f);
    fields[/** @type {string} */ (h.dataset.field)] = h;
  }
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

/**
 * @param {Tile} tile
 * @param {string} label
 */
export function setLabel(tile, label) {
  tile.label = label;
  tile.fields.label.textContent = label;
  if (state.view?.dev === tile.dev) ui.pLabel.textContent = label;
}

/** @param {ReadingDto | null | undefined} r */
export function applyReading(r) {
  if (!r || typeof r.dev !== 'string') return;
  const tile = ensureTile(r.dev);
  // The gateway also forwards late gap-fillers; the tile shows the newest seq only.
  if (tile.last && !(r.seq > tile.last.seq)) return;
  tile.last = r;
  /** @type {Partial<Record<string, number>>} */
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
  if (state.view?.dev === r.dev) emit('patient-reading', r);
}

/**
 * Live readings are applied once per animation frame, newest per device: a burst of
 * readings (a whole ward every second) costs one style/layout pass, and a tab in the
 * background does no work until it is shown again.
 * @param {ReadingDto} r
 */
export function queueReading(r) {
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
  const latency = window.__vtLatency;
  if (Array.isArray(latency)) {
    // Bench hook (test/bench/dashboard.ts): hub publish → rendered, taken at the next frame.
    requestAnimationFrame(() => {
      const now = Date.now() + state.clockOffset;
      for (const r of batch) latency.push(now - r.receivedAt);
    });
  }
}

/**
 * @param {Tile} tile
 * @param {number} now browser clock
 */
export function refreshAge(tile, now) {
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

/** @param {News2Dto | null | undefined} n */
export function applyNews2(n) {
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
  if (state.view?.dev === n.dev) emit('patient-news2', n);
}

/**
 * Acuity: unacknowledged alarm priority, then NEWS2 band and score; ties by label.
 * @param {Tile} tile
 * @returns {number[]}
 */
function acuityKey(tile) {
  const a = tile.topAlarm;
  const alarmRank = a ? PRIORITY_RANK[a.priority] * (a.state === 'active' ? 2 : 1) : 0;
  const n = tile.news2;
  return [alarmRank, n ? BAND_RANK[n.band] : 0, n ? n.score : 0];
}

export function sortTiles() {
  if (!state.sortDirty) return;
  state.sortDirty = false;
  const tiles = [...state.tiles.values()];
  const keys = new Map(tiles.map((t) => [t, acuityKey(t)]));
  tiles.sort((x, y) => {
    const kx = /** @type {number[]} */ (keys.get(x));
    const ky = /** @type {number[]} */ (keys.get(y));
    for (let i = 0; i < kx.length; i++) if (ky[i] !== kx[i]) return ky[i] - kx[i];
    return x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : 0;
  });
  const current = [...ui.grid.children];
  if (tiles.every((t, i) => current[i] === t.el)) return;
  ui.grid.append(...tiles.map((t) => t.el));
}

/**
 * Refreshes tile labels (bed numbers) from the admission API, if the gateway has it: on each
 * snapshot and after an admission, never on a timer (polling would keep an idle session alive).
 */
export async function loadLabels() {
  const res = await api('/api/bindings');
  if (!res.ok) return;
  const body = /** @type {Partial<BindingsResponse> | null} */ (res.body);
  if (!Array.isArray(body?.bindings)) return;
  for (const b of body.bindings) {
    const tile = state.tiles.get(b.dev);
    if (tile && typeof b.bed === 'string') setLabel(tile, b.bed);
  }
}
