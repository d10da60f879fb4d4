// @ts-check
/**
 * @module dashboards/ward/alarms
 * IEC 60601-1-8 alarms on the ward page (gateway/src/io/clinical/alarm-service.ts): each
 * tile's top alarm (with its triggering value), the ward alarm list
 * (dashboards/ward/ward-alarms), the patient view's list with acknowledgement (a comment
 * being typed survives live re-renders, with its caret), its alarm episodes
 * (dashboards/ward/episodes), and the header summary. The audible cue and its pause are
 * dashboards/ward/audio.
 */
import { alarmText } from './alarm-text.js';
import { api } from './api.js';
import { timeOfDay } from './clock.js';
import { applyEpisodeEvent } from './episodes.js';
import { state, ui } from './state.js';
import { PRIORITY_RANK } from './vitals.js';
import { renderWardAlarms } from './ward-alarms.js';

export { alarmText } from './alarm-text.js';

/** @typedef {import('../common/contract.js').AlarmDto} AlarmDto */
/** @typedef {import('../common/contract.js').AlarmMessage} AlarmMessage */
/** @typedef {import('../common/contract.js').AlarmPriority} AlarmPriority */
/** @typedef {import('../common/contract.js').AckRequest} AckRequest */

/** @param {AlarmMessage} msg */
export function applyAlarm(msg) {
  const a = msg.alarm;
  if (!a || typeof a.id !== 'string') return;
  if (a.state === 'cleared') state.alarms.delete(a.id);
  else state.alarms.set(a.id, a);
  renderAlarmsOf(a.dev);
  if (state.view?.dev === a.dev) applyEpisodeEvent(msg);
  updateAlarmSummary();
}

/**
 * @param {string} dev
 * @returns {AlarmDto[]}
 */
export function alarmsOf(dev) {
  return [...state.alarms.values()].filter((a) => a.dev === dev);
}

/**
 * Active (unacknowledged) first, then by priority, newest first.
 * @param {AlarmDto} a
 * @param {AlarmDto} b
 */
function byUrgency(a, b) {
  /** @param {AlarmDto} x */
  const act = (x) => (x.state === 'active' ? 1 : 0);
  return act(b) - act(a) || PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || b.raisedAt - a.raisedAt;
}

/**
 * Re-renders the alarms of a device (its tile banner, and the patient view when open);
 * the gateway's are in the ward alarm list (`updateAlarmSummary`).
 * @param {string} dev
 */
export function renderAlarmsOf(dev) {
  if (dev === 'gateway') return;
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
  }
  if (state.view?.dev === dev) renderAlarmList(ui.pAlarms, alarmsOf(dev));
}

/**
 * The patient view's open alarms, most urgent first, with *Acknowledge* and a comment field.
 * @param {HTMLElement} container
 * @param {AlarmDto[]} alarms
 */
export function renderAlarmList(container, alarms) {
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
      /** @param {string} name */
      const f = (name) => /** @type {HTMLElement} */ (li.querySelector(`[data-afield="${name}"]`));
      f('text').textContent = alarmText(a);
      const parts = [`${a.priority} · ${a.kind}`, `since ${timeOfDay(a.raisedAt, true)}`];
      if (a.latched) parts.push('latched');
      if (a.escalations > 0) parts.push(`escalated ×${a.escalations}`);
      if (a.state === 'acknowledged')
        parts.push(`acknowledged by ${a.ackBy}${a.ackComment ? `: “${a.ackComment}”` : ''}`);
      f('meta').textContent = parts.join(' · ');
      const comment = /** @type {HTMLInputElement} */ (f('comment'));
      const ack = /** @type {HTMLButtonElement} */ (f('ack'));
      if (a.state !== 'active') comment.remove();
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
    /** @type {HTMLInputElement} */ (refocus).focus();
    if (caret !== null) /** @type {HTMLInputElement} */ (refocus).setSelectionRange(caret, caret);
  }
  for (const id of state.ackDrafts.keys())
    if (state.alarms.get(id)?.state !== 'active') state.ackDrafts.delete(id);
}

/**
 * `POST /api/alarms/:id/ack` in the signed-in user's name; a draft comment is dropped once sent.
 * @param {string} id
 * @param {string} comment
 * @param {HTMLElement} [li] marked `data-error` when refused
 */
async function acknowledge(id, comment, li) {
  /** @type {AckRequest} */
  const body = comment ? { comment } : {};
  const res = await api(`/api/alarms/${encodeURIComponent(id)}/ack`, 'POST', body);
  if (res.ok) state.ackDrafts.delete(id);
  else if (li) li.dataset.error = 'true';
}

/** The header summary and the ward alarm list, after any alarm change. */
export function updateAlarmSummary() {
  const active = [...state.alarms.values()].filter((a) => a.state === 'active');
  /** @type {AlarmPriority | 'none'} */
  let top = 'none';
  for (const a of active) if (PRIORITY_RANK[a.priority] > PRIORITY_RANK[top]) top = a.priority;
  ui.alarmSummary.dataset.priority = top;
  ui.alarmSummary.textContent =
    active.length === 0
      ? 'No active alarms'
      : `${active.length} active alarm${active.length === 1 ? '' : 's'}`;
  renderWardAlarms();
}
