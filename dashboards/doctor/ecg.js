// @ts-check
/**
 * @module dashboards/doctor/ecg
 * The doctor's look at a patient's ECG (`GET /api/care/patients/:p/ecg?from&to`): the latest
 * `ECG_VIEW_S` seconds the patient's device sent within the last minute the consent covers,
 * drawn on ECG paper (common/ecg-paper), joined from the last chunks of one device and rate
 * in time order, stopping at a gap (a gap is never drawn as a trace). Only under a consent
 * that holds ECG, or a break-glass opening; otherwise the page says the consent does not
 * hold it and asks nothing.
 */
import { getEcg, refusalText } from '../common/care-api.js';
import { byId } from '../common/dom.js';
import { drawEcgPaper, ecgSamples } from '../common/ecg-paper.js';
import { formatDateTime } from '../common/format.js';
import { clampRange, scopeConsent } from './patients.js';

/** @typedef {import('../common/care-api.js').CareConsent} CareConsent */
/** @typedef {import('../common/care-api.js').EcgStrip} EcgStrip */

/** Seconds of ECG shown. */
export const ECG_VIEW_S = 10;
/** How far back the page looks for them (ms). */
export const ECG_LOOK_MS = 60_000;
/** Scope bit of ECG (the consent contract's). */
const SCOPE_ECG = 2;
/** Chunks further apart than this (ms) past the end of the one before are a gap. */
const GAP_MS = 500;

/**
 * The latest `seconds` of `strips` (any order): the last chunk's device and rate, and the chunks
 * before it while they join without a gap, right-aligned in a window of `seconds × fs` samples.
 * @param {readonly EcgStrip[]} strips
 * @param {number} seconds
 * @returns {{dev: string, fs: number, samples: Int16Array, len: number, endTs: number} | null}
 */
export function latestSamples(strips, seconds) {
  const sorted = [...strips].sort((a, b) => a.ts - b.ts);
  const last = sorted.at(-1);
  if (!last || !(last.fs > 0)) return null;
  const cap = Math.round(last.fs * seconds);
  /** @type {Int16Array[]} */
  const taken = [];
  let have = 0;
  let next = Number.POSITIVE_INFINITY; // where the chunk after the one looked at starts
  for (let i = sorted.length - 1; i >= 0 && have < cap; i--) {
    const s = /** @type {EcgStrip} */ (sorted[i]);
    if (s.dev !== last.dev || s.fs !== last.fs) break;
    const samples = ecgSamples(s.s);
    const end = s.ts + (samples.length * 1000) / s.fs;
    if (taken.length > 0 && end + GAP_MS < next) break;
    taken.unshift(samples);
    have += samples.length;
    next = s.ts;
  }
  const out = new Int16Array(cap);
  let at = cap;
  for (let i = taken.length - 1; i >= 0 && at > 0; i--) {
    const chunk = /** @type {Int16Array} */ (taken[i]);
    const n = Math.min(chunk.length, at);
    out.set(chunk.subarray(chunk.length - n), at - n);
    at -= n;
  }
  const lastSamples = /** @type {Int16Array} */ (taken.at(-1)).length; // the last strip, decoded above
  return {
    dev: last.dev,
    fs: last.fs,
    samples: out,
    len: cap - at,
    endTs: last.ts + (lastSamples * 1000) / last.fs,
  };
}

/**
 * Reads and draws the patient's latest ECG seconds into `#ecg` (its `data-state`: `shown`,
 * `none`, `not-in-consent` or `refused` with `data-code`).
 * @param {string} patient the pseudonym
 * @param {CareConsent[] | null} consents the patient's consents to this doctor; null under break-glass
 * @param {number} now
 */
export async function loadEcg(patient, consents, now) {
  const section = byId('ecg');
  const note = byId('ecg-note');
  const canvas = /** @type {HTMLCanvasElement} */ (byId('ecg-strip'));
  const consent = consents ? scopeConsent(consents, SCOPE_ECG) : null;
  const range = consents
    ? consent && clampRange(consent, now, ECG_LOOK_MS)
    : { from: now - ECG_LOOK_MS, to: now };
  delete section.dataset.code;
  if (!range) {
    section.dataset.state = 'not-in-consent';
    note.textContent = 'ECG: your consent for this patient does not include ECG (or only in the future).';
    drawEcgPaper(canvas, null, 0, 250);
    return;
  }
  const res = await getEcg(patient, range.from, range.to);
  if (!res.ok) {
    section.dataset.state = 'refused';
    section.dataset.code = res.body?.error?.code ?? `HTTP ${res.status}`;
    note.textContent = `ECG not read: ${refusalText(res)}`;
    return;
  }
  const latest = latestSamples(res.body.strips, ECG_VIEW_S);
  if (!latest) {
    section.dataset.state = 'none';
    note.textContent = `ECG: none in the last minute your consent covers (to ${formatDateTime(range.to)}).`;
    drawEcgPaper(canvas, null, 0, 250);
    return;
  }
  drawEcgPaper(canvas, latest.samples, latest.len, latest.fs);
  section.dataset.state = 'shown';
  section.dataset.samples = String(latest.len);
  note.textContent = `ECG of ${latest.dev}: ${(latest.len / latest.fs).toFixed(1)} s ending ${formatDateTime(latest.endTs)} (${latest.fs} Hz; a major line every 0.2 s).`;
}
