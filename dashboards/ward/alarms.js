// @ts-check
/**
 * @module dashboards/ward/alarms
 * IEC 60601-1-8 alarms on the ward page (gateway/src/io/clinical/alarm-service.ts): the
 * gateway-wide list, each tile's top alarm, the patient view's list with acknowledgement
 * (a comment being typed survives live re-renders, with its caret), the alarm history,
 * the header summary, and the optional audible cue.
 */
import { tableRow } from '../common/dom.js';
import { api } from './api.js';
import { state, ui } from './state.js';
import { PRIORITY_RANK, VITAL_NAMES } from './vitals.js';

/** @typedef {import('../common/contract.js').AlarmDto} AlarmDto */
/** @typedef {import('../common/contract.js').AlarmMessage} AlarmMessage */
/** @typedef {import('../common/contract.js').AlarmEventDto} AlarmEventDto */
/** @typedef {import('../common/contract.js').AlarmPriority} AlarmPriority */
/** @typedef {import('../common/contract.js').AckRequest} AckRequest */
/** Text of an alarm: its code and, for limit alarms, the crossed limit. @typedef {{code: string, priority: string, value?: number, limit?: number}} AlarmLike */

/** @type {Readonly<Record<string, (a: AlarmLike) => string>>} */
const ALARM_TEXT = {
  // The current score is on the badge; the alarm names the response its band calls for.
  news2: (a) =>
    `NEWS2 · ${a.priority === 'high' ? 'emergency response' : a.priority === 'medium' ? 'urgent response' : 'urgent ward review'}`,
  device_offline: () => 'Device offline',
  battery_low: (a) => `Battery low${typeof a.value === 'number' ? ` (${a.value}%)` : ''}`,
  signature_failures: () => 'Repeated signature failures',
  storage_failing: () => 'Storage failing: devices are not acknowledged',
  ingress_throttled: (a) =>
    `Frames refused: ${a.value ?? 'a'} client(s) closed for repeated rejected frames (see the audit log)`,
  anchoring_delayed: () => 'Anchoring delayed',
};

/**
 * @param {AlarmLike} a
 * @returns {string}
 */
export function alarmText(a) {
  const f = ALARM_TEXT[a.code];
  if (f) return f(a);
  const m = /^(hr|spo2|rr|temp|sbp|dbp)_(low|high)$/.exec(a.code);
  if (m) {
    const [, vital = '', side] = m;
    // The crossed limit, not the value at raise time (the live value is on the tile).
    const l = vital === 'temp' && typeof a.limit === 'number' ? (a.limit / 100).toFixed(1) : a.limit;
    return `${VITAL_NAMES[vital]} ${side}${l !== undefined ? ` (${side === 'low' ? '<' : '>'} ${l})` : ''}`;
  }
  const s = /^signal_loss_(\w+)$/.exec(a.code);
  if (s) {
    const vital = s[1] ?? '';
    return `${VITAL_NAMES[vital] ?? vital} signal lost`;
  }
  return a.code;
}

/** @param {AlarmMessage} msg */
export function applyAlarm(msg) {
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
 * Re-renders the alarms of a device (its tile banner, and the patient view when open) or of
 * the gateway (the list above the grid).
 * @param {string} dev
 */
export function renderAlarmsOf(dev) {
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

/**
 * @param {HTMLElement} container
 * @param {AlarmDto[]} alarms
 * @param {boolean} compact no comment field (the gateway-wide list)
 */
export function renderAlarmList(container, alarms, compact) {
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
}

// --- history (patient view)

/**
 * @param {AlarmLike & {event: string, at: number, by?: string | null, comment?: string | null}} h
 * @returns {HTMLTableRowElement}
 */
export function historyRow(h) {
  const tr = tableRow([
    new Date(h.at).toLocaleTimeString(),
    alarmText(h),
    h.priority,
    h.event + (h.comment ? ` (“${h.comment}”)` : ''),
    h.by ?? '',
  ]);
  tr.dataset.event = h.event;
  return tr;
}

/** @param {AlarmDto & {event: string, at: number, by: string | null}} h */
function prependHistory(h) {
  ui.pHistory.prepend(historyRow({ ...h, comment: h.event === 'acknowledged' ? h.ackComment : null }));
}

// --- audible cue (optional, off by default): IEC 60601-1-8-like burst patterns

export function toggleSound() {
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

/**
 * @param {number} at AudioContext time, s
 * @param {number} freq Hz
 * @param {number} ms
 */
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

/** @param {number} now */
export function soundTick(now) {
  if (!state.sound || !state.audio) return;
  /** @type {AlarmPriority | 'none'} */
  let top = 'none';
  for (const a of state.alarms.values())
    if (a.state === 'active' && PRIORITY_RANK[a.priority] > PRIORITY_RANK[top]) top = a.priority;
  if (top === 'none') return;
  // High: 10 pulses every 5 s (as 3+2 bursts); medium: 3 pulses every 15 s; low: 1 pulse every 30 s.
  const every = { high: 5000, medium: 15_000, low: 30_000 }[top];
  if (now - state.lastCue < every) return;
  state.lastCue = now;
  const t0 = state.audio.currentTime + 0.05;
  const pulses = top === 'high' ? [0, 0.2, 0.4, 0.9, 1.1] : top === 'medium' ? [0, 0.25, 0.5] : [0];
  for (const dt of pulses) beep(t0 + dt, top === 'high' ? 880 : 660, 150);
}
