// @ts-check
/**
 * @module dashboards/ward/episodes
 * The patient view's alarm history as episodes (core/live-contract `AlarmEpisodeDto`): one
 * row per alarm from raise to clear, with its highest priority, who acknowledged it and
 * with what comment, and how often it was re-opened, instead of a stream of raise/clear
 * events. Filled from `GET /api/patients/:dev` and kept current by the live alarm messages
 * of the open patient. The trend chart marks the same episodes (dashboards/ward/charts).
 */
import { tableRow } from '../common/dom.js';
import { alarmText } from './alarm-text.js';
import { dateTime, timeOfDay } from './clock.js';
import { state, ui } from './state.js';
import { PRIORITY_RANK } from './vitals.js';

/** @typedef {import('../../gateway/src/core/live-contract.js').AlarmEpisodeDto} AlarmEpisodeDto */
/** @typedef {import('../common/contract.js').AlarmMessage} AlarmMessage */
/** @typedef {import('../common/contract.js').AlarmPriority} AlarmPriority */

/** @type {{dev: string | null, list: AlarmEpisodeDto[]}} the open patient's episodes, newest first */
const episodes = { dev: null, list: [] };
/** @type {Set<() => void>} */
const listeners = new Set();

/**
 * Calls `fn` after every change of the open patient's episodes (the trend redraws them).
 * @param {() => void} fn
 */
export function onEpisodes(fn) {
  listeners.add(fn);
}

/** The open patient's episodes, newest first. */
export const currentEpisodes = () => episodes.list;

/**
 * A time of day; the date too when it is not today.
 * @param {number} t
 */
function when(t) {
  const d = new Date(t);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? timeOfDay(t, true) : dateTime(t);
}

/**
 * One row of the episode table.
 * @param {AlarmEpisodeDto} e
 * @returns {HTMLTableRowElement}
 */
export function episodeRow(e) {
  const ack = e.ackBy ? `${e.ackBy}${e.ackComment ? `: “${e.ackComment}”` : ''}` : '';
  const tr = tableRow([
    when(e.raisedAt),
    alarmText(e),
    e.priority,
    e.clearedAt === null ? 'open' : when(e.clearedAt),
    ack,
    e.reactivations > 0 ? `${e.reactivations}×` : '',
  ]);
  tr.dataset.alarmId = e.alarmId;
  tr.dataset.priority = e.priority;
  tr.dataset.kind = e.kind;
  // The episode's latest state.
  tr.dataset.event = e.clearedAt !== null ? 'cleared' : e.ackBy ? 'acknowledged' : 'raised';
  return tr;
}

function render() {
  ui.pHistory.replaceChildren(...episodes.list.map(episodeRow));
  for (const fn of listeners) fn();
}

/**
 * The open patient's episodes, as the gateway answered them.
 * @param {string} dev
 * @param {readonly AlarmEpisodeDto[] | undefined} list
 */
export function setEpisodes(dev, list) {
  episodes.dev = dev;
  episodes.list = Array.isArray(list) ? [...list].sort((a, b) => b.raisedAt - a.raisedAt) : [];
  render();
}

/**
 * An alarm message of the open patient: its episode is updated, or a new one begins.
 * @param {AlarmMessage} msg
 */
export function applyEpisodeEvent(msg) {
  const a = msg.alarm;
  if (!state.view || a.dev !== state.view.dev || episodes.dev !== a.dev) return;
  let e = episodes.list.find((x) => x.alarmId === a.id);
  if (!e) {
    e = {
      alarmId: a.id,
      dev: a.dev,
      code: a.code,
      kind: a.kind,
      priority: a.priority,
      raisedAt: a.raisedAt,
      clearedAt: null,
      ackBy: null,
      ackAt: null,
      ackComment: null,
      reactivations: 0,
      escalations: 0,
    };
    episodes.list.unshift(e);
  }
  const rank = /** @param {string} p */ (p) => PRIORITY_RANK[/** @type {AlarmPriority} */ (p)] ?? 0;
  if (rank(a.priority) > rank(e.priority)) e.priority = a.priority;
  e.clearedAt = a.state === 'cleared' ? (a.clearedAt ?? a.updatedAt) : null;
  e.ackBy = a.ackBy;
  e.ackAt = a.ackAt;
  e.ackComment = a.ackComment;
  e.escalations = a.escalations;
  if (msg.event === 'reactivated') e.reactivations++;
  render();
}
