// @ts-check
/**
 * @module dashboards/ward/patient
 * The patient view (`#/patient/<dev>`): live values and NEWS2, the ECG strip and trends
 * (dashboards/ward/charts), alarms and their history, NEWS2 settings and alarm limits,
 * and the bed/patient binding with admission and discharge (roles admin, charge_nurse).
 * Opening it is audited by the gateway as a view of the patient.
 */
import { tableRow } from '../common/dom.js';
import { formatAge, show, showTemp } from '../common/format.js';
import { errorCode } from '../common/http.js';
import { alarmsOf, historyRow, renderAlarmList } from './alarms.js';
import { api } from './api.js';
import { drawEcg, ECG_SECONDS, loadTrend } from './charts.js';
import { on, state, ui } from './state.js';
import { setLabel } from './tiles.js';
import { BAND_TEXT, LIMIT_VITALS, news2Text, OFFLINE_AFTER_MS, VITAL_FIELDS, VITAL_NAMES } from './vitals.js';

/** @typedef {import('../common/contract.js').ReadingDto} ReadingDto */
/** @typedef {import('../common/contract.js').News2Dto} News2Dto */
/** @typedef {import('../common/contract.js').PatientViewDto} PatientViewDto */
/** @typedef {import('../common/contract.js').PatientSettings} PatientSettings */
/** @typedef {import('../common/contract.js').PatientSettingsUpdate} PatientSettingsUpdate */
/** @typedef {import('../common/contract.js').BindingHistoryResponse} BindingHistoryResponse */
/** @typedef {import('../common/contract.js').AdmissionRequest} AdmissionRequest */

on('patient-reading', (r) => renderPatientLive(r));
on('patient-news2', (n) => renderPatientNews2(n));

/** Follows the location hash: the patient view, or the ward. */
export function route() {
  const m = /^#\/patient\/([A-Za-z0-9._-]{1,64})$/.exec(location.hash);
  if (!state.me?.live) return;
  if (m) openPatient(decodeURIComponent(m[1] ?? ''));
  else closePatient();
}

function closePatient() {
  state.view = null;
  ui.patient.hidden = true;
  ui.ward.hidden = false;
}

/** @param {string} dev */
async function openPatient(dev) {
  state.view = {
    dev,
    ecg: new Int16Array(250 * ECG_SECONDS),
    ecgFs: 250,
    ecgLen: 0,
    rangeMs: state.view?.rangeMs ?? 3_600_000,
  };
  ui.ward.hidden = true;
  ui.patient.hidden = false;
  ui.patient.dataset.dev = dev;
  const tile = state.tiles.get(dev);
  ui.pLabel.textContent = tile?.label ?? dev;
  ui.pDev.textContent = tile && tile.label !== dev ? dev : '';
  ui.ecgNone.hidden = false;
  drawEcg();
  renderPatientLive(tile?.last ?? null);
  renderPatientNews2(tile?.news2 ?? null);
  renderAlarmList(ui.pAlarms, alarmsOf(dev), false);
  ui.pHistory.replaceChildren();
  ui.pBindings.replaceChildren();
  // The server audits this request as a view of the patient.
  const res = await api(`/api/patients/${encodeURIComponent(dev)}`);
  if (state.view?.dev !== dev) return;
  if (res.ok) {
    const p = /** @type {PatientViewDto} */ (res.body);
    fillSettings(p.settings);
    if (p.news2) renderPatientNews2(p.news2);
    ui.pHistory.replaceChildren(...p.history.map(historyRow));
  } else if (res.status === 404) {
    ui.pLabel.textContent = 'Unknown device';
  }
  loadBindings(dev);
  loadTrend();
}

/** @param {ReadingDto | null} r */
function renderPatientLive(r) {
  /** @param {string} k */
  const q = (k) => /** @type {HTMLElement} */ (ui.patient.querySelector(`[data-pfield="${k}"]`));
  /** @type {Partial<Record<string, number>>} */
  const obs = r?.obs ?? {};
  for (const k of VITAL_FIELDS) q(k).textContent = show(obs[k]);
  q('temp').textContent = showTemp(obs.temp);
  const tile = state.view ? state.tiles.get(state.view.dev) : undefined;
  if (!r) {
    ui.pDevice.textContent = 'no data';
    return;
  }
  const age = Date.now() + state.clockOffset - r.receivedAt;
  const parts = [age > OFFLINE_AFTER_MS ? `offline · ${formatAge(age)}` : `online · ${formatAge(age)}`];
  if (typeof r.bat === 'number') parts.push(`battery ${r.bat}%`);
  if (tile) parts.push(`signal ${tile.fields.sig.textContent}`);
  ui.pDevice.textContent = parts.join(' · ');
}

/** @param {News2Dto | null} n */
function renderPatientNews2(n) {
  ui.pNews2.dataset.band = n ? n.band : 'none';
  ui.pNews2.dataset.partial = String(Boolean(n?.partial));
  ui.pNews2Score.textContent = news2Text(n);
  ui.pNews2Note.textContent = !n
    ? ''
    : n.partial
      ? `incomplete: no ${n.missing.map((k) => VITAL_NAMES[k] ?? k).join(', ')}`
      : (BAND_TEXT[n.band] ?? n.band);
}

// --- NEWS2 settings and alarm limits

/** @param {PatientSettings} s */
function fillSettings(s) {
  const f = ui.settingsForm;
  /** @type {HTMLSelectElement} */ (f.elements.namedItem('spo2Scale')).value = String(s.spo2Scale);
  /** @type {HTMLInputElement} */ (f.elements.namedItem('oxygen')).checked = s.oxygen;
  /** @type {HTMLSelectElement} */ (f.elements.namedItem('consciousness')).value = s.consciousness ?? '';
  ui.limits.replaceChildren(
    ...LIMIT_VITALS.map((v) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      // Temperature limits are kept in 0.01 °C (PROTOCOL.md §1) and edited in °C.
      const k = v === 'temp' ? 100 : 1;
      th.textContent = v === 'temp' ? 'Temp °C' : (VITAL_NAMES[v] ?? v);
      tr.append(th);
      for (const side of /** @type {const} */ (['low', 'high'])) {
        const td = document.createElement('td');
        const input = document.createElement('input');
        const limit = s.limits[v][side];
        input.type = 'number';
        input.name = `${v}.${side}`;
        input.min = '0';
        input.max = String(10000 / k);
        input.step = k === 1 ? '1' : '0.1';
        input.value = limit === null ? '' : String(limit / k);
        input.placeholder = 'off';
        td.append(input);
        tr.append(td);
      }
      return tr;
    }),
  );
  ui.settingsStatus.textContent = s.consciousnessBy
    ? `ACVPU ${s.consciousness} entered by ${s.consciousnessBy} at ${new Date(s.consciousnessAt ?? 0).toLocaleTimeString()}`
    : '';
}

/** @param {SubmitEvent} ev */
export async function saveSettings(ev) {
  ev.preventDefault();
  if (!state.view) return;
  const f = ui.settingsForm;
  /** @param {string} n */
  const val = (n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value;
  /** @type {Required<Pick<PatientSettingsUpdate, 'spo2Scale' | 'oxygen' | 'limits'>> & PatientSettingsUpdate} */
  const body = {
    spo2Scale: /** @type {1 | 2} */ (Number(val('spo2Scale'))),
    oxygen: /** @type {HTMLInputElement} */ (f.elements.namedItem('oxygen')).checked,
    limits: {},
  };
  if (val('consciousness'))
    body.consciousness = /** @type {NonNullable<PatientSettings['consciousness']>} */ (val('consciousness'));
  for (const v of LIMIT_VITALS) {
    const k = v === 'temp' ? 100 : 1;
    /** @param {string} side */
    const num = (side) => (val(`${v}.${side}`) === '' ? null : Math.round(Number(val(`${v}.${side}`)) * k));
    body.limits[v] = { low: num('low'), high: num('high') };
  }
  const res = await api(`/api/patients/${encodeURIComponent(state.view.dev)}/settings`, 'PUT', body);
  if (res.ok) fillSettings(/** @type {PatientSettings} */ (res.body));
  ui.settingsStatus.textContent = res.ok
    ? `Saved. ${ui.settingsStatus.textContent}`
    : 'Not saved: check the values.';
}

// --- bed and patient

/** @param {string} dev */
async function loadBindings(dev) {
  const res = await api(`/api/devices/${encodeURIComponent(dev)}/bindings`);
  if (state.view?.dev !== dev) return;
  if (!res.ok) {
    ui.pBindings.replaceChildren(
      tableRow(['—', res.status === 404 ? 'binding history not available' : 'not available', '', '']),
    );
    return;
  }
  /** @param {unknown} t */
  const fmt = (t) => (typeof t === 'number' ? new Date(t).toLocaleString() : '');
  const body = /** @type {Partial<BindingHistoryResponse> | null} */ (res.body);
  const hist = Array.isArray(body?.history) ? body.history : [];
  ui.pBindings.replaceChildren(
    ...(hist.length
      ? hist.map((h) => tableRow([h.bed, h.patientId, fmt(h.from), h.to ? fmt(h.to) : 'now']))
      : [tableRow(['—', 'not admitted', '', ''])]),
  );
}

/** @param {SubmitEvent} ev */
export async function admit(ev) {
  ev.preventDefault();
  if (!state.view) return;
  const f = ui.admitForm;
  /** @param {string} n */
  const val = (n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value.trim();
  const dev = state.view.dev;
  /** @type {AdmissionRequest} */
  const body = { dev, patientId: val('patientId'), bed: val('bed') };
  const res = await api('/api/admissions', 'POST', body);
  ui.admitStatus.textContent = res.ok ? 'Admitted.' : `Not admitted (${errorCode(res)}).`;
  if (res.ok) {
    const tile = state.tiles.get(dev);
    if (tile) setLabel(tile, val('bed'));
    f.reset();
  }
  loadBindings(dev);
}

export async function discharge() {
  if (!state.view) return;
  const dev = state.view.dev;
  const res = await api('/api/discharges', 'POST', { dev });
  ui.admitStatus.textContent = res.ok ? 'Discharged.' : `Not discharged (${errorCode(res)}).`;
  if (res.ok) {
    const tile = state.tiles.get(dev);
    if (tile) setLabel(tile, dev);
  }
  loadBindings(dev);
}
