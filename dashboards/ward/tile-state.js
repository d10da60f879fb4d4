// @ts-check
/**
 * @module dashboards/ward/tile-state
 * What a tile shows besides its readings (core/live-contract `TileStateDto`, from the
 * snapshot's `tileStates` and `{type:'tile-state'}` messages): numerics beyond a limit
 * highlighted (an inverted box and an arrow ▲▼, never colour alone), the alarm-off
 * indicator (a crossed bell and the vitals whose alarm is off), standby (the tile greyed,
 * "STANDBY · discharged" or "… paused until hh:mm", no alarm colours) and a revoked
 * device ("DEVICE REVOKED", not just offline).
 */
import { setText } from '../common/dom.js';
import { timeOfDay } from './clock.js';
import { outOfLimit } from './layout.js';
import { state } from './state.js';
import { LIMIT_VITALS, VITAL_SHORT } from './vitals.js';

/** @typedef {import('../../gateway/src/core/live-contract.js').TileStateDto} TileStateDto */
/** @typedef {import('./state.js').Tile} Tile */

/** @type {Map<string, TileStateDto>} dev → its latest tile state */
const tileStates = new Map();
/** @type {Set<(s: TileStateDto) => void>} */
const listeners = new Set();

/**
 * The latest tile state of a device, or null before the gateway sent one.
 * @param {string} dev
 * @returns {TileStateDto | null}
 */
export function tileStateOf(dev) {
  return tileStates.get(dev) ?? null;
}

/**
 * Calls `fn` with every tile state that arrives (the patient view's standby control).
 * @param {(s: TileStateDto) => void} fn
 */
export function onTileState(fn) {
  listeners.add(fn);
}

/** @param {unknown} s */
function valid(s) {
  const t = /** @type {Partial<TileStateDto> | null} */ (s);
  return Boolean(t && typeof t.dev === 'string' && t.limits && Array.isArray(t.alarmsOff));
}

/**
 * Takes one device's tile state (a `tile-state` message, or the patient view's `tile`).
 * @param {TileStateDto} s
 */
export function applyTileState(s) {
  if (!valid(s)) return;
  tileStates.set(s.dev, s);
  const tile = state.tiles.get(s.dev);
  if (tile) renderTileState(tile);
  for (const fn of listeners) fn(s);
}

/**
 * Takes a snapshot's tile states: they replace all earlier ones (the snapshot is
 * authoritative after a reconnect).
 * @param {readonly TileStateDto[]} list
 */
export function applyTileStates(list) {
  tileStates.clear();
  for (const s of list) if (valid(s)) tileStates.set(s.dev, s);
  for (const tile of state.tiles.values()) renderTileState(tile);
}

/** Forgets every tile state (sign-out). */
export function clearTileStates() {
  tileStates.clear();
}

/**
 * The tile's mode text, or '' in normal operation.
 * @param {TileStateDto | null} s
 * @returns {string}
 */
export function modeText(s) {
  if (!s) return '';
  if (s.revoked) return 'DEVICE REVOKED';
  const sb = s.standby;
  if (!sb) return '';
  if (sb.reason === 'discharged') return 'STANDBY · discharged';
  return sb.until === null ? 'STANDBY · paused' : `STANDBY · paused until ${timeOfDay(sb.until)}`;
}

/**
 * Applies the tile state to a tile: mode (revoked, standby), the alarm-off indicator and
 * the limit highlights.
 * @param {Tile} tile
 */
export function renderTileState(tile) {
  const s = tileStateOf(tile.dev);
  const mode = s?.revoked ? 'revoked' : s?.standby ? 'standby' : '';
  if ((tile.el.dataset.mode ?? '') !== mode) {
    if (mode) tile.el.dataset.mode = mode;
    else delete tile.el.dataset.mode;
  }
  setText(tile.fields.mode, modeText(s));
  const off = s?.alarmsOff ?? [];
  const ind = tile.fields.alarmsoff;
  ind.hidden = off.length === 0;
  const names = off.map((v) => VITAL_SHORT[v] ?? v).join(' ');
  setText(tile.fields.alarmsofftext, names);
  ind.title = off.length ? `Alarm off: ${names}` : '';
  renderLimits(tile);
}

/**
 * Marks each numeric beyond its limit (`data-out` low/high on its box, an arrow beside
 * it); none in standby or on a revoked device, which show no alarm colours.
 * @param {Tile} tile
 */
export function renderLimits(tile) {
  const s = tileStateOf(tile.dev);
  const quiet = !s || s.revoked || s.standby !== null;
  /** @type {Partial<Record<string, number>>} */
  const obs = tile.last?.obs ?? {};
  for (const k of LIMIT_VITALS) {
    const box = tile.fields[`${k}-box`];
    const arrow = tile.fields[`${k}-arrow`];
    if (!box || !arrow) continue;
    const out = quiet ? null : outOfLimit(obs[k], s.limits[k]);
    if ((box.dataset.out ?? '') !== (out ?? '')) {
      if (out) box.dataset.out = out;
      else delete box.dataset.out;
    }
    setText(arrow, out === 'high' ? '▲' : out === 'low' ? '▼' : '');
    const label = out ? `${VITAL_SHORT[k] ?? k} ${out === 'high' ? 'above' : 'below'} its limit` : '';
    if ((box.title ?? '') !== label) box.title = label;
  }
}
