// @ts-check
/**
 * @module dashboards/ward/tiles
 * The ward grid: one tile per device with its latest vitals (HR and SpO₂ large), battery,
 * signal, age, NEWS2 badge and top alarm, in its fixed bed sector (dashboards/ward/sectors;
 * never moved by score or alarm). Live readings are applied once per animation frame.
 * Tile labels (bed numbers) come from the admission API; limit highlights, alarm-off,
 * standby and revoked come from the tile state (dashboards/ward/tile-state).
 */
import { cloneTemplate, setText } from '../common/dom.js';
import { formatAge, show, showTemp } from '../common/format.js';
import { updateAlarmSummary } from './alarms.js';
import { api } from './api.js';
import { arrange, markSectorsDirty } from './sectors.js';
import { emit, state, ui } from './state.js';
import { clearTileStates, renderLimits, renderTileState } from './tile-state.js';
import { BAND_TEXT, LIMIT_VITALS, news2Text, OFFLINE_AFTER_MS, VITAL_FIELDS } from './vitals.js';
import { renderWardAlarms } from './ward-alarms.js';

/** @typedef {import('./state.js').Tile} Tile */
/** @typedef {import('../common/contract.js').ReadingDto} ReadingDto */
/** @typedef {import('../common/contract.js').News2Dto} News2Dto */
/** @typedef {import('../common/contract.js').BedsResponse} BedsResponse */

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
 * A numeric in its box (`data-field` `<vital>-box`, marked `data-out` when beyond a limit)
 * with its arrow (`<vital>-arrow`: ▲ above the high limit, ▼ below the low one).
 * @param {string} field
 */
function numBox(field) {
  const box = span('num', `${field}-box`, '');
  box.append(span('', field), span('arrow', `${field}-arrow`, ''));
  return box;
}

/**
 * The value of a block: its one field, or its fields separated by "/" (BP).
 * @param {readonly string[]} fields
 */
function vitalValue(fields) {
  const value = span('vital-value', '', '');
  value.replaceChildren(
    ...fields.flatMap((f, i) => (i === 0 ? [numBox(f)] : [span('sep', '', '/'), numBox(f)])),
  );
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
  clearTileStates();
  ui.grid.replaceChildren();
  ui.gwAlarms.replaceChildren();
  markSectorsDirty();
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
  renderTileState(tile);
  markSectorsDirty();
  updateCount();
  return tile;
}

/**
 * A new bed label: the tile moves to that bed's sector (at the next arrange).
 * @param {Tile} tile
 * @param {string} label
 */
export function setLabel(tile, label) {
  const changed = tile.label !== label;
  tile.label = label;
  tile.fields.label.textContent = label;
  if (state.view?.dev === tile.dev) ui.pLabel.textContent = label;
  if (!changed) return;
  markSectorsDirty();
  renderWardAlarms(); // the list names beds
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
  renderLimits(tile);
  // Signal quality: how many of the six vitals the last frame carried.
  const n = LIMIT_VITALS.filter((k) => typeof obs[k] === 'number').length;
  setText(tile.fields.sig, `${n}/6 vitals`);
  tile.fields.sig.dataset.q = n === 6 ? 'good' : n >= 3 ? 'poor' : 'lost';
  // No "just updated" flash: on a central station flashing means an alarm (IEC 60601-1-8
  // Table 2), and the age beside the values says how fresh they are.
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
  if (state.view?.dev === n.dev) emit('patient-news2', n);
}

/**
 * Puts the tiles in their places (called every second and after each snapshot): the bed
 * sectors, or the sorted view re-sorted at most once a minute. Scores and alarms alone
 * never move a tile in the bed sectors.
 */
export function sortTiles() {
  state.sortDirty = false;
  arrange(Date.now());
}

/**
 * Refreshes tile labels (bed numbers) from `GET /api/beds` (beds only, no patient ids, so a
 * wall display may read it too), if the gateway has it: on each
 * snapshot and after an admission, never on a timer (polling would keep an idle session alive).
 */
export async function loadLabels() {
  const res = await api('/api/beds');
  if (!res.ok) return;
  const body = /** @type {Partial<BedsResponse> | null} */ (res.body);
  if (!Array.isArray(body?.beds)) return;
  for (const b of body.beds) {
    const tile = state.tiles.get(b.dev);
    if (tile && typeof b.bed === 'string') setLabel(tile, b.bed);
  }
}
