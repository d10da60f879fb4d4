// @ts-check
/**
 * @module dashboards/ward/patient
 * The patient view (`#/patient/<dev>`): live values and NEWS2, the ECG strip and trends
 * (dashboards/ward/charts), alarms and their episodes (dashboards/ward/episodes), standby
 * (pause the bed's alarms for N minutes, or end standby: `POST /api/patients/:dev/standby`),
 * NEWS2 settings, alarm limits and policies (dashboards/ward/patient-settings), and the
 * bed/patient binding with admission and discharge (roles admin, charge_nurse). Opening it
 * is audited by the gateway as a view of the patient.
 */
import { byId as $, tableRow } from '../common/dom.js';
import { formatAge, show, showTemp } from '../common/format.js';
import { errorCode } from '../common/http.js';
import { alarmsOf, renderAlarmList } from './alarms.js';
import { api } from './api.js';
import { drawEcg, ECG_SECONDS, loadTrend, setTrendLimits } from './charts.js';
import { dateTime } from './clock.js';
import { setEpisodes } from './episodes.js';
import { fillSettings } from './patient-settings.js';
import { on, state, ui } from './state.js';
import { applyTileState, modeText, onTileState, tileStateOf } from './tile-state.js';
import { setLabel } from './tiles.js';
import { BAND_TEXT, news2Text, OFFLINE_AFTER_MS, VITAL_FIELDS, VITAL_NAMES } from './vitals.js';

export { saveSettings } from './patient-settings.js';

/** @typedef {import('../common/contract.js').ReadingDto} ReadingDto */
/** @typedef {import('../common/contract.js').News2Dto} News2Dto */
/** @typedef {import('../common/contract.js').PatientViewDto} PatientViewDto */
/** @typedef {import('../common/contract.js').BindingHistoryResponse} BindingHistoryResponse */
/** @typedef {import('../common/contract.js').AdmissionRequest} AdmissionRequest */
/** @typedef {import('../../gateway/src/core/live-contract.js').TileStateDto} TileStateDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').StandbyRequest} StandbyRequest */

const standby = {
  form: /** @type {HTMLFormElement} */ ($('standby-form')),
  state: $('standby-state'),
  on: /** @type {HTMLButtonElement} */ ($('standby-on')),
  off: /** @type {HTMLButtonElement} */ ($('standby-off')),
  status: $('standby-status'),
};

on('patient-reading', (r) => renderPatientLive(r));
on('patient-news2', (n) => renderPatientNews2(n));
onTileState((s) => {
  if (s.dev === state.view?.dev) renderStandby(s);
});

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
  renderAlarmList(ui.pAlarms, alarmsOf(dev));
  setEpisodes(dev, []);
  setTrendLimits(dev, null);
  renderStandby(tileStateOf(dev));
  standby.status.textContent = '';
  ui.pBindings.replaceChildren();
  // The server audits this request as a view of the patient.
  const res = await api(`/api/patients/${encodeURIComponent(dev)}`);
  if (state.view?.dev !== dev) return;
  if (res.ok) {
    const p = /** @type {PatientViewDto} */ (res.body);
    if (p.tile) applyTileState(p.tile);
    fillSettings(p.settings);
    if (p.news2) renderPatientNews2(p.news2);
    setEpisodes(dev, p.episodes);
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

// --- standby

/**
 * Shows the bed's standby state and which control applies.
 * @param {TileStateDto | null} s
 */
function renderStandby(s) {
  const text = modeText(s);
  const sb = s?.standby ?? null;
  standby.state.textContent = sb
    ? `${text}${sb.by ? ` (by ${sb.by})` : ''}`
    : s?.revoked
      ? text
      : 'Alarms on';
  standby.form.dataset.on = String(sb !== null);
  standby.on.disabled = sb?.reason === 'discharged';
  standby.off.disabled = sb === null;
}

/**
 * `POST /api/patients/:dev/standby`: pause the bed's alarms for the chosen minutes, or end
 * standby. The tile state that follows (live, or in the answer) updates tile and view.
 * @param {StandbyRequest} body
 */
async function requestStandby(body) {
  const v = state.view;
  if (!v) return;
  standby.status.textContent = '';
  const res = await api(`/api/patients/${encodeURIComponent(v.dev)}/standby`, 'POST', body);
  if (state.view !== v) return;
  if (!res.ok) {
    standby.status.textContent = `Not changed (${errorCode(res)}).`;
    return;
  }
  const t = /** @type {Partial<TileStateDto> | null} */ (res.body);
  if (t && t.dev === v.dev && t.limits) applyTileState(/** @type {TileStateDto} */ (t));
  standby.status.textContent = body.on ? `Alarms paused for ${body.minutes} min.` : 'Standby ended.';
}

/** Wires the standby control of the patient view. */
export function initStandby() {
  standby.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const minutes = Number(
      /** @type {HTMLSelectElement} */ (standby.form.elements.namedItem('minutes')).value,
    );
    requestStandby({ on: true, minutes });
  });
  standby.off.addEventListener('click', () => requestStandby({ on: false }));
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
  const fmt = (t) => (typeof t === 'number' ? dateTime(t) : '');
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
