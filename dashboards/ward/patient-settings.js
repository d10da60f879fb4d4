// @ts-check
/**
 * @module dashboards/ward/patient-settings
 * The patient view's settings form (`PUT /api/patients/:dev/settings`): NEWS2 (SpO₂ scale,
 * oxygen, ACVPU), and per vital its alarm limits and its alarm policy (core/alarms
 * `VitalAlarmPolicy`: averaging, delay, hysteresis, episode gap) side by side. A refused
 * save shows the gateway's coded reason (`limits_invalid`), never "Saved.".
 */
import { errorCode } from '../common/http.js';
import { api } from './api.js';
import { setTrendLimits } from './charts.js';
import { timeOfDay } from './clock.js';
import { state, ui } from './state.js';
import { LIMIT_VITALS, VITAL_NAMES } from './vitals.js';

/** @typedef {import('../common/contract.js').PatientSettings} PatientSettings */
/** @typedef {import('../common/contract.js').PatientSettingsUpdate} PatientSettingsUpdate */
/** @typedef {import('../common/contract.js').LimitVital} LimitVital */
/** @typedef {import('../../gateway/src/core/live-contract.js').VitalAlarmPolicy} VitalAlarmPolicy */

/** What the nurse reads for each coded refusal of a settings save. */
export const SETTINGS_REFUSALS = /** @type {Readonly<Record<string, string>>} */ ({
  limits_invalid: 'Low limit must be below high limit and within range',
});

/** The policy fields, in the form's column order. @type {readonly (keyof VitalAlarmPolicy)[]} */
const POLICY_FIELDS = ['averageSeconds', 'delaySeconds', 'hysteresis', 'episodeGapSeconds'];

/** The loaded settings carried policies (an older gateway's do not: none are sent back). */
let hasPolicies = false;

/**
 * Temperature is kept in 0.01 °C (PROTOCOL.md §1) and edited in °C; so is its hysteresis.
 * @param {string} v
 */
const unitOf = (v) => (v === 'temp' ? 100 : 1);

/**
 * @param {string} name
 * @param {number | null} value in the stored unit
 * @param {number} k stored units per shown unit
 * @param {string} placeholder
 */
function numberInput(name, value, k, placeholder) {
  const td = document.createElement('td');
  const input = document.createElement('input');
  input.type = 'number';
  input.name = name;
  input.min = '0';
  input.step = k === 1 ? '1' : '0.1';
  input.value = value === null ? '' : String(value / k);
  input.placeholder = placeholder;
  td.append(input);
  return td;
}

/**
 * Fills the form from the gateway's settings.
 * @param {PatientSettings} s
 */
export function fillSettings(s) {
  const f = ui.settingsForm;
  /** @type {HTMLSelectElement} */ (f.elements.namedItem('spo2Scale')).value = String(s.spo2Scale);
  /** @type {HTMLInputElement} */ (f.elements.namedItem('oxygen')).checked = s.oxygen;
  /** @type {HTMLSelectElement} */ (f.elements.namedItem('consciousness')).value = s.consciousness ?? '';
  hasPolicies = Boolean(s.policies);
  ui.limits.replaceChildren(
    ...LIMIT_VITALS.map((v) => {
      const tr = document.createElement('tr');
      tr.dataset.vital = v;
      const th = document.createElement('th');
      const k = unitOf(v);
      th.textContent = v === 'temp' ? 'Temp °C' : (VITAL_NAMES[v] ?? v);
      tr.append(th);
      for (const side of /** @type {const} */ (['low', 'high']))
        tr.append(numberInput(`${v}.${side}`, s.limits[v][side], k, 'off'));
      const p = s.policies?.[v];
      if (p)
        for (const field of POLICY_FIELDS)
          tr.append(numberInput(`${v}.${field}`, p[field], field === 'hysteresis' ? k : 1, '0'));
      return tr;
    }),
  );
  ui.settingsStatus.textContent = s.consciousnessBy
    ? `ACVPU ${s.consciousness} entered by ${s.consciousnessBy} at ${timeOfDay(s.consciousnessAt ?? 0)}`
    : '';
  if (state.view) setTrendLimits(state.view.dev, s.limits);
}

/**
 * The form as a settings update.
 * @returns {PatientSettingsUpdate}
 */
export function readSettingsForm() {
  const f = ui.settingsForm;
  /** @param {string} n */
  const val = (n) => /** @type {HTMLInputElement | null} */ (f.elements.namedItem(n))?.value ?? '';
  /** @type {Required<Pick<PatientSettingsUpdate, 'spo2Scale' | 'oxygen' | 'limits'>> & PatientSettingsUpdate} */
  const body = {
    spo2Scale: /** @type {1 | 2} */ (Number(val('spo2Scale'))),
    oxygen: /** @type {HTMLInputElement} */ (f.elements.namedItem('oxygen')).checked,
    limits: {},
  };
  if (val('consciousness'))
    body.consciousness = /** @type {NonNullable<PatientSettings['consciousness']>} */ (val('consciousness'));
  /** @type {NonNullable<PatientSettingsUpdate['policies']>} */
  const policies = {};
  for (const v of LIMIT_VITALS) {
    const k = unitOf(v);
    /** @param {string} name */
    const num = (name, per = k) =>
      val(`${v}.${name}`) === '' ? null : Math.round(Number(val(`${v}.${name}`)) * per);
    body.limits[v] = { low: num('low'), high: num('high') };
    if (!hasPolicies) continue;
    /** @type {Partial<VitalAlarmPolicy>} */
    const p = {};
    for (const field of POLICY_FIELDS) {
      const n = num(field, field === 'hysteresis' ? k : 1);
      if (n !== null) p[field] = n;
    }
    policies[v] = p;
  }
  if (hasPolicies) body.policies = policies;
  return body;
}

/** @param {SubmitEvent} ev */
export async function saveSettings(ev) {
  ev.preventDefault();
  if (!state.view) return;
  const body = readSettingsForm();
  ui.settingsStatus.textContent = 'Saving…';
  const res = await api(`/api/patients/${encodeURIComponent(state.view.dev)}/settings`, 'PUT', body);
  if (res.ok) {
    fillSettings(/** @type {PatientSettings} */ (res.body));
    ui.settingsStatus.textContent = `Saved. ${ui.settingsStatus.textContent}`.trim();
    ui.settingsStatus.dataset.error = 'false';
    return;
  }
  const code = errorCode(res);
  const reason = SETTINGS_REFUSALS[String(code)];
  ui.settingsStatus.textContent = reason ? `Not saved: ${reason}.` : `Not saved (${code}).`;
  ui.settingsStatus.dataset.error = 'true';
}
