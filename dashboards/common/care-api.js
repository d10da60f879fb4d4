// @ts-check
/**
 * @module dashboards/common/care-api
 * The care routes as the patient portal and the doctor's page call them (issue 18; README
 * "Patients and doctors", gateway/src/io/http/routes/care/care-routes.ts and care-consent-routes.ts):
 * the shapes of their answers (JSDoc) and one function per route. Calls never throw (see
 * common/http `requestJson`); a 401 while signed in calls the page's `onSessionEnded` hook,
 * so the page can show its sign-in form again. Coded refusals are `{error: {code, reason}}`:
 * `refusalText` words them for the user.
 */
import { requestJson } from './http.js';

/**
 * @template T
 * @typedef {import('./http.js').ApiResult<T>} ApiResult
 */
/** @typedef {'0x' & string} HexText a `0x`-prefixed hex string */
/** @typedef {import('../../anchor/src/consent/keystore.js').Keystore} Keystore */
/**
 * `GET /api/care/me`.
 * @typedef {object} CareMe
 * @property {string} username
 * @property {'doctor' | 'patient'} role
 * @property {string} subject the clinician id or the patient's pseudonym
 * @property {{chainId: number, consent: `0x${string}`} | null} chain null: no consent contract
 * @property {{address: `0x${string}` | null, keystore: Keystore | null}} [patientKey] patients only
 * @property {boolean} [breakGlass] doctors only
 */
/**
 * A consent as the gateway shows it (care-routes `CareConsentDto`); times in ms.
 * @typedef {object} CareConsent
 * @property {string} id
 * @property {string} patient
 * @property {string} doctor
 * @property {number} scope bits: 1 vitals, 2 ECG
 * @property {number} dataFrom
 * @property {number} dataUntil 0: open end
 * @property {number} validFrom
 * @property {number} validUntil
 * @property {string} purpose
 * @property {string | null} grantTx
 * @property {'in_force' | 'not_yet' | 'expired' | 'revoked'} status
 */
/**
 * @typedef {{type: 'ward'} | {type: 'self'} | {type: 'consent', consentId: string, chainId?: number}
 *   | {type: 'break_glass', reason: string}} AccessBasis
 */
/**
 * One entry of the access log (`GET /api/care/access`), newest first.
 * @typedef {object} AccessEntry
 * @property {number} index
 * @property {number} at
 * @property {string} gateway
 * @property {string} actor
 * @property {string} role
 * @property {string} patient
 * @property {string | null} dev
 * @property {string} action
 * @property {number} dataFrom
 * @property {number} dataUntil
 * @property {AccessBasis} basis
 */
/** @typedef {{username: string, clinicianId: string, suspended: boolean | null}} Doctor */
/** @typedef {{patient: string, patientId: string, consents: CareConsent[]}} ConsentedPatient */
/** @typedef {Partial<Record<import('./contract.js').ObservationKey, number>>} Obs */
/** @typedef {{dev: string, seq: number, ts: number, obs: Obs}} CareReading */
/** @typedef {{patient: string, from: number, to: number, basis: AccessBasis, readings: CareReading[], total?: number}} ReadingsAnswer */
/** One ECG chunk: `s` base64 of its int16 little-endian samples (µV), `fs` Hz, `ts` its first sample (device clock). */
/** @typedef {{dev: string, seq: number, ts: number, fs: number, s: string}} EcgStrip */
/** @typedef {{patient: string, from: number, to: number, basis: AccessBasis, strips: EcgStrip[]}} EcgAnswer */
/** @typedef {import('./contract.js').TrendPointDto} TrendPoint */
/** @typedef {{dev: string, from: number, to: number, series: Partial<Record<string, TrendPoint[]>>}} DeviceTrend */
/** @typedef {{patient: string, from: number, to: number, bucketMs: number, basis: AccessBasis, devices: DeviceTrend[]}} TrendAnswer */
/** @typedef {{actor: string, username: string, reason: string, at: number, until: number}} BreakGlassOpening */

/** @type {{onSessionEnded: () => void}} */
export const careHooks = { onSessionEnded: () => {} };

/**
 * A JSON call; a 401 tells the page that the session ended.
 * @param {string} url
 * @param {'GET' | 'POST' | 'PUT'} [method]
 * @param {unknown} [body]
 * @returns {Promise<ApiResult<any>>}
 */
async function call(url, method = 'GET', body = undefined) {
  const res = await requestJson(url, method, body);
  if (res.status === 401) careHooks.onSessionEnded();
  return res;
}

/** What a refusal means to the user, by code (the gateway's reason is shown beside it). */
const MEANINGS = /** @type {Record<string, string>} */ ({
  consent_required: 'There is no consent of the patient in force for you.',
  consent_out_of_scope: 'The consent in force does not cover this range or this kind of data.',
  clinician_suspended: 'Your registration as a clinician is suspended.',
  ledger_unavailable: 'The consortium chain cannot be read just now. Try again shortly.',
  consent_rejected: 'The consent contract refused it.',
  patient_key_exists: 'Another key is already registered for you on the chain.',
  registrar_unavailable: 'This gateway cannot register keys (no registration authority account).',
  forbidden: 'You may not do this.',
  not_found: 'Not found.',
  bad_request: 'The gateway did not accept the request.',
  unauthenticated: 'Your session ended. Sign in again.',
});

/**
 * "code: meaning (reason)" for a failed call; the code is always shown, so a user can quote it.
 * @param {ApiResult<unknown>} res
 * @returns {string}
 */
export function refusalText(res) {
  if (res.ok) return '';
  if (res.status === 0) return 'The gateway is unreachable.';
  const code = res.body?.error?.code ?? `HTTP ${res.status}`;
  const reason = res.body?.error?.reason;
  const meaning = MEANINGS[code];
  return [`${code}:`, meaning, reason && reason !== meaning ? `(${reason})` : ''].filter(Boolean).join(' ');
}

/** @returns {Promise<ApiResult<CareMe>>} */
export const getCareMe = () => call('/api/care/me');
/** @returns {Promise<ApiResult<{consents: CareConsent[]}>>} */
export const getConsents = () => call('/api/care/consents');
/** @returns {Promise<ApiResult<{doctors: Doctor[]}>>} */
export const getDoctors = () => call('/api/care/doctors');
/** @returns {Promise<ApiResult<{patients: ConsentedPatient[]}>>} */
export const getPatients = () => call('/api/care/patients');
/**
 * @param {number} [limit]
 * @returns {Promise<ApiResult<{entries: AccessEntry[]}>>}
 */
export const getAccess = (limit = 200) => call(`/api/care/access?limit=${limit}`);
/** @returns {Promise<ApiResult<{openings: BreakGlassOpening[]}>>} */
export const getBreakGlass = () => call('/api/care/break-glass');

/**
 * @param {{address: string, keystore: Keystore, proof: string}} body
 * @returns {Promise<ApiResult<{address: string, txHash: string | null, block: number | null}>>}
 */
export const putKey = (body) => call('/api/care/me/key', 'PUT', body);

/**
 * @param {{message: object, signature: string}} body
 * @returns {Promise<ApiResult<{consent: CareConsent, txHash: string, block: number}>>}
 */
export const postGrant = (body) => call('/api/care/consents', 'POST', body);

/**
 * @param {string} consentId
 * @param {string} signature
 * @returns {Promise<ApiResult<{consentId: string, txHash: string, block: number}>>}
 */
export const postRevoke = (consentId, signature) =>
  call(`/api/care/consents/${encodeURIComponent(consentId)}/revoke`, 'POST', { signature });

/**
 * @param {string} patient pseudonym
 * @param {number} from ms
 * @param {number} to ms
 * @param {number} [limit] only the latest `limit` readings, and `total` (the frames of the range)
 * @returns {Promise<ApiResult<ReadingsAnswer>>}
 */
export const getReadings = (patient, from, to, limit) =>
  call(
    `/api/care/patients/${encodeURIComponent(patient)}/readings?from=${from}&to=${to}${limit ? `&limit=${limit}` : ''}`,
  );

/**
 * The ECG chunks of a range (at most an hour; a consent holding ECG).
 * @param {string} patient pseudonym
 * @param {number} from ms
 * @param {number} to ms
 * @returns {Promise<ApiResult<EcgAnswer>>}
 */
export const getEcg = (patient, from, to) =>
  call(`/api/care/patients/${encodeURIComponent(patient)}/ecg?from=${from}&to=${to}`);

/**
 * @param {string} patient pseudonym
 * @param {number} from ms
 * @param {number} to ms
 * @param {number} bucketMs
 * @returns {Promise<ApiResult<TrendAnswer>>}
 */
export const getTrend = (patient, from, to, bucketMs) =>
  call(`/api/care/patients/${encodeURIComponent(patient)}/trend?from=${from}&to=${to}&bucketMs=${bucketMs}`);

/**
 * @param {string} patient pseudonym
 * @param {string} reason
 * @returns {Promise<ApiResult<unknown>>}
 */
export const postBreakGlass = (patient, reason) =>
  call(`/api/care/patients/${encodeURIComponent(patient)}/break-glass`, 'POST', { reason });

/**
 * `POST /api/care/break-glass` by the hospital's patient id; the answer names the pseudonym.
 * @param {string} patientId
 * @param {string} reason
 * @returns {Promise<ApiResult<{patient: string, reason: string, at: number, until: number}>>}
 */
export const postBreakGlassById = (patientId, reason) =>
  call('/api/care/break-glass', 'POST', { patientId, reason });
