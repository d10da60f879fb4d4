// @ts-check
/**
 * @module dashboards/ward/alarm-text
 * What an alarm says on the ward page (gateway/src/core/alarms codes): its text, the
 * value that triggered it (`Alarm.triggerValue`, else the latest `value`) and the limit it
 * crossed, in the vital's unit (temperature from 0.01 °C to °C, PROTOCOL.md §1).
 */
import { VITAL_NAMES } from './vitals.js';

/**
 * The fields of an alarm its text is made of.
 * @typedef {{code: string, priority: string, value?: number, limit?: number, triggerValue?: number, detail?: string}} AlarmLike
 */

/** @type {Readonly<Record<string, (a: AlarmLike) => string>>} */
const ALARM_TEXT = {
  // The current score is on the badge; the alarm names the response its band calls for.
  news2: (a) =>
    `NEWS2 · ${a.priority === 'high' ? 'emergency response' : a.priority === 'medium' ? 'urgent response' : 'urgent ward review'}`,
  device_offline: () => 'Device offline',
  device_revoked: () => 'Device certificate revoked: its frames are refused',
  battery_low: () => 'Battery low',
  signature_failures: () => 'Repeated signature failures',
  storage_failing: () => 'Storage failing: devices are not acknowledged',
  ingress_throttled: (a) =>
    `Frames refused: ${a.value ?? 'a'} client(s) closed for repeated rejected frames (see the audit log)`,
  anchoring_delayed: () => 'Anchoring delayed',
  // Who opened the patient's record without a consent, and why ("dr-a: arrest; dr-b: …").
  break_glass_access: (a) =>
    `Break-glass access to this patient's record: ${a.detail ?? 'see the audit log'}`,
};

const LIMIT_CODE = /^(hr|spo2|rr|temp|sbp|dbp)_(low|high)$/;

/**
 * A value in its vital's display unit.
 * @param {string} vital
 * @param {number} v
 */
function inUnit(vital, v) {
  return vital === 'temp' ? (v / 100).toFixed(1) : String(v);
}

/**
 * An alarm in three parts: its text ("SpO₂ low"), the triggering value ("86", "" when
 * none) and the crossed limit ("< 92", "" when none).
 * @param {AlarmLike} a
 * @returns {{text: string, value: string, limit: string}}
 */
export function alarmParts(a) {
  const v = typeof a.triggerValue === 'number' ? a.triggerValue : a.value;
  const m = LIMIT_CODE.exec(a.code);
  if (m) {
    const [, vital = '', side] = m;
    return {
      text: `${VITAL_NAMES[vital]} ${side}`,
      value: typeof v === 'number' ? inUnit(vital, v) : '',
      limit: typeof a.limit === 'number' ? `${side === 'low' ? '<' : '>'} ${inUnit(vital, a.limit)}` : '',
    };
  }
  const f = ALARM_TEXT[a.code];
  if (f) {
    const value =
      typeof v !== 'number'
        ? ''
        : a.code === 'battery_low'
          ? `${v}%`
          : a.code === 'news2'
            ? `score ${v}`
            : '';
    return { text: f(a), value, limit: '' };
  }
  const s = /^signal_loss_(\w+)$/.exec(a.code);
  if (s) {
    const vital = s[1] ?? '';
    return { text: `${VITAL_NAMES[vital] ?? vital} signal lost`, value: '', limit: '' };
  }
  return { text: a.code, value: '', limit: '' };
}

/**
 * An alarm in one line: "SpO₂ low 86 (< 92)", "Battery low 12%", "Device offline".
 * @param {AlarmLike} a
 * @returns {string}
 */
export function alarmText(a) {
  const p = alarmParts(a);
  return [p.text, p.value, p.limit ? `(${p.limit})` : ''].filter(Boolean).join(' ');
}
