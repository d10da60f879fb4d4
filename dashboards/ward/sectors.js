// @ts-check
/**
 * @module dashboards/ward/sectors
 * The bed sectors of the central station (issue 15): every tile sits at the place of its
 * bed (natural order of bed labels, unlabelled devices after them by id) and is never
 * moved by a score or an alarm; the grid's columns and rows are chosen from the bed count
 * and the space on screen (`--cols`, `--rows`; dashboards/ward/layout `gridShape`), so a
 * ward of up to 64 beds fits one 1920×1080 screen without scrolling. The charge
 * nurse's optional sorted view ("Sort by acuity", remembered in localStorage) orders the
 * tiles by acuity but re-orders them at most once a minute, with a "sorted at hh:mm" note.
 */
import { byId as $ } from '../common/dom.js';
import { timeOfDay } from './clock.js';
import { acuityKey, bedOrder, gridShape, nextSortedOrder, SORT_INTERVAL_MS } from './layout.js';
import { state, ui } from './state.js';
import { BAND_RANK } from './vitals.js';

/** @typedef {import('./state.js').Tile} Tile */
/** @typedef {import('./layout.js').SectorItem} SectorItem */
/** @typedef {import('./layout.js').SortedOrder} SortedOrder */

/** localStorage key of the sorted view (on: "1"). */
export const SORT_PREF_KEY = 'vt.ward.sortByAcuity';

const sortButton = /** @type {HTMLButtonElement} */ ($('sort-acuity'));
const sortNote = $('sort-note');

const view = {
  sorted: readPref(),
  /** @type {SortedOrder} */
  order: { order: [], sortedAt: null },
  /** The bed order must be recomputed (a tile came, went or was relabelled). */
  dirty: true,
  /** Tiles counted at the last grid layout. */
  count: -1,
  layoutQueued: false,
};

function readPref() {
  try {
    return localStorage.getItem(SORT_PREF_KEY) === '1';
  } catch {
    return false;
  }
}

/** @param {boolean} on */
function writePref(on) {
  try {
    localStorage.setItem(SORT_PREF_KEY, on ? '1' : '0');
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

/** Whether the sorted view is on. */
export const sortedView = () => view.sorted;

/**
 * Turns the sorted view on (sorted at once) or off (back to the bed sectors).
 * @param {boolean} on
 * @param {number} [now]
 */
export function setSortedView(on, now = Date.now()) {
  view.sorted = on;
  writePref(on);
  view.order = { order: [], sortedAt: null };
  view.dirty = true;
  arrange(now);
}

/** A tile came, went or changed its bed label: its place is recomputed at the next arrange. */
export function markSectorsDirty() {
  view.dirty = true;
  queueLayout();
}

/**
 * @param {Tile} t
 * @returns {SectorItem}
 */
function item(t) {
  const n = t.news2;
  return {
    dev: t.dev,
    label: t.label,
    acuity: acuityKey(t.topAlarm, n ? BAND_RANK[n.band] : 0, n ? n.score : 0),
  };
}

/**
 * Puts the tiles in their places: the bed order, or the sorted view's order (re-sorted
 * only once its minute is up). Moves DOM nodes only when the order changed.
 * @param {number} [now] browser clock, ms
 */
export function arrange(now = Date.now()) {
  const tiles = [...state.tiles.values()];
  if (tiles.length !== view.count) queueLayout();
  /** @type {string[]} */
  let order;
  if (view.sorted) {
    const next = nextSortedOrder(view.order, tiles.map(item), now);
    if (next === view.order && !view.dirty) return renderNote();
    view.order = next;
    order = [...next.order];
  } else {
    if (!view.dirty) return renderNote();
    order = bedOrder(tiles.map(item));
  }
  view.dirty = false;
  const els = order.map((dev) => state.tiles.get(dev)?.el).filter((el) => el !== undefined);
  const current = ui.grid.children;
  if (els.length !== current.length || els.some((el, i) => current[i] !== el)) ui.grid.append(...els);
  renderNote();
}

function renderNote() {
  sortButton.setAttribute('aria-pressed', String(view.sorted));
  const at = view.order.sortedAt;
  const text =
    view.sorted && at !== null
      ? `Sorted by acuity at ${timeOfDay(at)} · next ${timeOfDay(at + SORT_INTERVAL_MS)}`
      : 'Beds in fixed order';
  if (sortNote.textContent !== text) sortNote.textContent = text;
  ui.grid.dataset.order = view.sorted ? 'acuity' : 'beds';
}

/** Lays the grid out after the current task (a snapshot adds many tiles in one go). */
function queueLayout() {
  if (view.layoutQueued) return;
  view.layoutQueued = true;
  queueMicrotask(() => {
    view.layoutQueued = false;
    layoutGrid();
  });
}

/** Chooses columns and rows for the bed count and the grid's size on screen. */
export function layoutGrid() {
  const n = state.tiles.size;
  view.count = n;
  const g = ui.grid;
  const cs = getComputedStyle(g);
  const gap = Number.parseFloat(cs.columnGap) || 0;
  const w = g.clientWidth - Number.parseFloat(cs.paddingLeft) - Number.parseFloat(cs.paddingRight);
  const h = g.clientHeight - Number.parseFloat(cs.paddingTop) - Number.parseFloat(cs.paddingBottom);
  if (n === 0 || w <= 0 || h <= 0) return;
  const shape = gridShape(n, w, h, { gap, aspect: 1.45, minWidth: 170, minHeight: 112 });
  g.style.setProperty('--cols', String(shape.cols));
  g.style.setProperty('--rows', String(shape.rows));
  // The tiles' text scales with these (style.css/station.css), not with container queries.
  g.style.setProperty('--tile-w', `${shape.tileWidth}px`);
  g.style.setProperty('--tile-h', `${shape.tileHeight}px`);
  const fit = shape.fits ? 'screen' : 'scroll';
  if (g.dataset.fit !== fit) g.dataset.fit = fit;
  const size = shape.tileWidth < 250 ? 's' : shape.tileWidth < 340 ? 'm' : 'l';
  if (g.dataset.size !== size) g.dataset.size = size;
}

/** Wires the sort toggle and re-lays the grid out whenever its size changes. */
export function initSectors() {
  sortButton.addEventListener('click', () => setSortedView(!view.sorted));
  // The grid's size follows the window, the header and the side panel, never its tiles.
  new ResizeObserver(() => layoutGrid()).observe(ui.grid);
  renderNote();
}
