// @ts-check
/**
 * @module dashboards/ward/state
 * The ward page's elements, its one state object, and the events its modules talk
 * through (session ended, reconnect scheduled, connection lost or back, the open patient's
 * tile changed).
 */
import { byId as $ } from '../common/dom.js';

/** @typedef {import('../common/contract.js').ReadingDto} ReadingDto */
/** @typedef {import('../common/contract.js').ReadingMessage} ReadingMessage */
/** @typedef {import('../common/contract.js').News2Dto} News2Dto */
/** @typedef {import('../common/contract.js').AlarmDto} AlarmDto */
/** @typedef {import('../common/contract.js').MeDto} MeDto */

/**
 * A device's tile on the ward grid.
 * @typedef {object} Tile
 * @property {string} dev
 * @property {HTMLElement} el
 * @property {Record<string, HTMLElement>} fields elements by `data-field`
 * @property {string} label
 * @property {HTMLElement} batFill
 * @property {ReadingDto | null} last
 * @property {News2Dto | null} news2
 * @property {AlarmDto | null} [topAlarm]
 */

/**
 * The open patient view: its device and ECG ring buffer.
 * @typedef {{dev: string, ecg: Int16Array, ecgFs: number, ecgLen: number, rangeMs: number}} PatientView
 */

export const ui = {
  wardName: $('ward-name'),
  barMeta: $('bar-meta'),
  count: $('patient-count'),
  alarmSummary: $('alarm-summary'),
  sound: $('sound'),
  conn: $('conn'),
  connText: $('conn-text'),
  clock: /** @type {HTMLTimeElement} */ ($('clock')),
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

export const state = {
  /** @type {MeDto | null} */
  me: null,
  /** @type {Map<string, Tile>} dev → tile */
  tiles: new Map(),
  /** @type {Map<string, AlarmDto>} id → open alarm */
  alarms: new Map(),
  /** @type {Map<string, string>} id → the comment a nurse is typing, kept across live re-renders */
  ackDrafts: new Map(),
  /** Gateway clock minus browser clock, from the snapshot, so ages do not depend on this PC's clock. */
  clockOffset: 0,
  /** @type {WebSocket | null} */
  ws: null,
  /** When the live socket last delivered a message (or opened), browser clock. */
  lastMessageAt: 0,
  /** "Connection lost" is shown: the socket closed, or nothing arrived for CONNECTION_LOST_MS. */
  connLost: false,
  wanted: false,
  attempt: 0,
  /** @type {ReturnType<typeof setTimeout> | null} */
  retryTimer: null,
  retryAt: 0,
  sortDirty: true,
  /** @type {Map<string, ReadingDto>} readings waiting for the next animation frame, newest per device */
  pending: new Map(),
  sound: false,
  /** @type {AudioContext | null} */
  audio: null,
  lastCue: 0,
  /** @type {PatientView | null} */
  view: null,
};

/**
 * The page's events and their details.
 * @typedef {object} WardEvents
 * @property {string} session-ended the session ended; the detail is the message for the sign-in form
 * @property {null} retry-scheduled a reconnect was scheduled (refresh the countdown now)
 * @property {boolean} connection-lost the live values stopped (true) or are live again (false)
 * @property {ReadingDto} patient-reading the open patient's tile took a reading
 * @property {News2Dto} patient-news2 the open patient's tile took a NEWS2 score
 */

const events = new EventTarget();

/**
 * @template {keyof WardEvents} K
 * @param {K} type
 * @param {WardEvents[K]} detail
 */
export function emit(type, detail) {
  events.dispatchEvent(new CustomEvent(type, { detail }));
}

/**
 * @template {keyof WardEvents} K
 * @param {K} type
 * @param {(detail: WardEvents[K]) => void} fn
 */
export function on(type, fn) {
  events.addEventListener(type, (ev) => fn(/** @type {CustomEvent<WardEvents[K]>} */ (ev).detail));
}

export const SESSION_ENDED_TEXT = 'Your session ended. Please sign in again.';
