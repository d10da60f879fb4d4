// @ts-check
/**
 * @module dashboards/ward/ward-alarms
 * The ward alarm list of the central station (the side panel beside the bed sectors): every
 * open alarm of the ward and of the gateway, by priority (high, medium, low) then newest
 * first, each with its bed, its text, the value that triggered it and the limit it
 * crossed, and its age. Technical alarms (device, battery, gateway) look different from
 * physiological ones (IEC 60601-1-8 §6.1.2: technical alarm conditions are not
 * physiological). Alarms coming and going change this list, never the tiles' places.
 */
import { setText } from '../common/dom.js';
import { formatAge } from '../common/format.js';
import { alarmParts } from './alarm-text.js';
import { timeOfDay } from './clock.js';
import { alarmListCompare } from './layout.js';
import { state, ui } from './state.js';

/** @typedef {import('../common/contract.js').AlarmDto} AlarmDto */

const countEl = /** @type {HTMLElement} */ (document.getElementById('ward-alarm-count'));

/**
 * A `<span>` with a class and text.
 * @param {string} cls
 * @param {string} text
 */
function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

/**
 * The bed of an alarm as the list names it.
 * @param {string} dev
 */
function bedOf(dev) {
  if (dev === 'gateway') return 'Gateway';
  return state.tiles.get(dev)?.label ?? dev;
}

/**
 * One entry of the list.
 * @param {AlarmDto} a
 * @param {number} now gateway clock
 */
function entry(a, now) {
  const li = document.createElement('li');
  li.className = 'wa';
  li.dataset.id = a.id;
  li.dataset.dev = a.dev;
  li.dataset.priority = a.priority;
  li.dataset.state = a.state;
  li.dataset.kind = a.kind;
  li.dataset.code = a.code;
  li.dataset.raised = String(a.raisedAt);
  const p = alarmParts(a);
  const value = span('wa-value', p.value);
  if (p.limit) value.append(span('wa-limit', ` ${p.limit}`));
  const meta = span('wa-meta', '');
  meta.append(
    span('wa-prio', `${a.priority}${a.kind === 'technical' ? ' · technical' : ''}`),
    span('wa-age', formatAge(now - a.raisedAt)),
  );
  if (a.state === 'acknowledged') meta.append(span('wa-ack', `ack ${a.ackBy ?? ''}`.trim()));
  if (a.latched) meta.append(span('wa-latched', 'latched'));
  li.append(span('wa-bed', bedOf(a.dev)), span('wa-text', p.text), value, meta);
  li.title = `${bedOf(a.dev)}: ${p.text} ${p.value} ${p.limit}, raised ${timeOfDay(a.raisedAt, true)}`;
  if (a.dev !== 'gateway') {
    li.tabIndex = 0;
    li.setAttribute('role', 'link');
    const open = () => {
      location.hash = `#/patient/${encodeURIComponent(a.dev)}`;
    };
    li.addEventListener('click', open);
    li.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') open();
    });
  }
  return li;
}

/** Re-renders the list from `state.alarms`. */
export function renderWardAlarms() {
  const now = Date.now() + state.clockOffset;
  const list = [...state.alarms.values()].sort(alarmListCompare);
  ui.gwAlarms.replaceChildren(...list.map((a) => entry(a, now)));
  const active = list.filter((a) => a.state === 'active').length;
  setText(
    countEl,
    list.length === 0 ? 'none' : `${list.length} open${active < list.length ? ` · ${active} active` : ''}`,
  );
}

/**
 * Refreshes the ages in the list (once a second).
 * @param {number} [now] browser clock
 */
export function refreshWardAlarmAges(now = Date.now()) {
  const t = now + state.clockOffset;
  for (const li of ui.gwAlarms.children) {
    const el = /** @type {HTMLElement} */ (li);
    const age = el.querySelector('.wa-age');
    if (age) setText(/** @type {HTMLElement} */ (age), formatAge(t - Number(el.dataset.raised)));
  }
}
