/**
 * @module core/live-contract
 * The one definition of the dashboards' wire contract (STYLE.md §9 "one owner per wire
 * contract, typed on both sides"): the messages of the live socket (`GET /ws`), its
 * application close codes (RFC 6455 §7.4.2: 4000-4999 are private use), and the JSON the
 * ward page reads from the routes it calls. The gateway builds these shapes
 * (io/http/live-socket, io/http/login, io/clinical/alarm-service, io/http/routes/alarm-routes,
 * io/http/routes/data-routes); the pages in `dashboards/` import the same types through JSDoc
 * (`import('../../gateway/src/core/live-contract.js').X`), and `dashboards/tsconfig.json`
 * checks them against it.
 *
 * Pure types and constants. This module and everything it imports are also compiled for
 * the browser check (lib DOM, no Node types): import only types, and only from pure core
 * modules without Node dependencies (core/alarms, core/news2). Runtime constants the page
 * needs are copied into `dashboards/common/contract.js`, typed there with this module's
 * literal types and compared by test/unit/dashboard-contract.test.ts.
 */
import type { Alarm, AlarmLimits, AlarmPriority, AlarmTransitionType, LimitVital } from './alarms.js';
import type { Consciousness, News2Band, SpO2Scale } from './news2.js';

export type { AlarmPriority, LimitVital, News2Band };

// ---------------------------------------------------------------------------
// Close codes of the live socket.

/** Application close code: the session ended (idle expiry or logout); the page shows the login form. */
export const WS_CLOSE_SESSION_ENDED = 4401;
/** RFC 6455 §7.4.1 1001 going away (server shutdown). */
export const WS_CLOSE_GOING_AWAY = 1001;
/** RFC 6455 §7.4.1 1013 try again later (client too slow). */
export const WS_CLOSE_TRY_AGAIN = 1013;

/** NEWS2 trigger bands (RCP 2017 chart 2), lowest first; the names are core/news2's `News2Band`. */
export const NEWS2_BANDS = [
  'zero',
  'low',
  'low_medium',
  'medium',
  'high',
] as const satisfies readonly News2Band[];

// ---------------------------------------------------------------------------
// Shared shapes.

/**
 * PROTOCOL.md §1 observation keys (protocol/frame `ObservationKey`; that module needs Node,
 * so the key set is restated here and kept equal by a compile-time check in
 * io/http/live-socket.ts).
 */
export type ObservationKey = 'hr' | 'spo2' | 'rr' | 'temp' | 'sbp' | 'dbp';

/** Account roles (io/identity/users `Role`, kept equal by a compile-time check in io/http/login.ts). */
export type UserRole = 'admin' | 'nurse' | 'charge_nurse' | 'auditor';

/** `{error:{code,reason}}`: every error response; `reason` is fixed text that never echoes input. */
export interface ErrorBody {
  error: { code: string; reason: string };
}

/** One accepted reading, as whitelisted for the dashboard. Temperature in 0.01 °C. */
export interface ReadingDto {
  dev: string;
  seq: number;
  /** Device clock, ms since epoch. */
  ts: number;
  obs: Partial<Record<ObservationKey, number>>;
  /** Battery, percent. */
  bat?: number;
  /** Gateway clock when the frame became durable, ms since epoch. */
  receivedAt: number;
}

/** A device on the ward and its latest reading. */
export interface TileDto {
  dev: string;
  label: string;
  last: ReadingDto | null;
}

export interface WardDto {
  name: string;
}

/** A device's NEWS2 score (core/news2), `partial` when observations are missing. */
export interface News2Dto {
  dev: string;
  score: number;
  band: News2Band;
  partial: boolean;
  missing: string[];
  scores: Record<string, number>;
  at: number;
}

/** An alarm as sent to the dashboard: its scope is the device (or `gateway`). */
export type AlarmDto = Omit<Alarm, 'scope' | 'notifiedAt'> & { dev: string };

/** One row of an alarm's history (newest first). */
export interface AlarmEventDto {
  alarmId: string;
  dev: string;
  code: string;
  kind: string;
  event: string;
  priority: string;
  at: number;
  by: string | null;
  comment: string | null;
}

// ---------------------------------------------------------------------------
// Live socket messages (server → page; the page sends nothing).

/** First message on every socket, and authoritative after a reconnect. */
export interface SnapshotMessage extends LiveSnapshotExtras {
  type: 'snapshot';
  ward: WardDto;
  /** Gateway clock, ms since epoch (the page's clock offset). */
  now: number;
  patients: TileDto[];
}

/** What other live sources (io/clinical/alarm-service) add to each snapshot. */
export interface LiveSnapshotExtras {
  alarms?: AlarmDto[];
  news2?: News2Dto[];
}

export type ReadingMessage = { type: 'reading' } & ReadingDto;
/** An alarm transition (`event`: raised, escalated, acknowledged, cleared, …). */
export interface AlarmMessage {
  type: 'alarm';
  event: AlarmTransitionType;
  alarm: AlarmDto;
}
export type News2Message = { type: 'news2' } & News2Dto;
/** An ECG chunk: `s` is base64 of int16 little-endian microvolt samples at `fs` Hz (PROTOCOL.md §1). */
export interface EcgMessage {
  type: 'ecg';
  dev: string;
  seq: number;
  fs: number;
  s: string;
}

/** Messages of the clinical layer (alarms, scores, ECG), merged into the live socket. */
export type ClinicalMessage = AlarmMessage | News2Message | EcgMessage;
/** Every message the live socket sends. */
export type LiveMessage = SnapshotMessage | ReadingMessage | ClinicalMessage;

// ---------------------------------------------------------------------------
// HTTP DTOs of the routes the ward page calls.

/** `POST /api/login`, `GET /api/me`. */
export interface MeDto {
  username: string;
  role: UserRole;
  /** The role may see live vitals. */
  live: boolean;
}

/** `GET /api/ward`. */
export interface WardResponse {
  ward: WardDto;
  now: number;
  patients: TileDto[];
}

/** A patient's NEWS2 and alarm settings. */
export interface PatientSettings {
  spo2Scale: SpO2Scale;
  oxygen: boolean;
  /** null = not assessed since the gateway started. */
  consciousness: Consciousness | null;
  consciousnessAt: number | null;
  consciousnessBy: string | null;
  limits: AlarmLimits;
}

/** `PUT /api/patients/:dev/settings` body (partial update). */
export type PatientSettingsUpdate = Partial<
  Pick<PatientSettings, 'spo2Scale' | 'oxygen' | 'consciousness'>
> & {
  limits?: Partial<AlarmLimits>;
};

/** `GET /api/patients/:dev`: the patient view. */
export interface PatientViewDto {
  dev: string;
  settings: PatientSettings;
  news2: News2Dto | null;
  alarms: AlarmDto[];
  history: AlarmEventDto[];
}

/** `POST /api/alarms/:id/ack` body and answer. */
export interface AckRequest {
  comment?: string;
}
export interface AckResponse {
  alarm: AlarmDto;
}

/** `POST /api/admissions` body and 201 answer. */
export interface AdmissionRequest {
  dev: string;
  patientId: string;
  bed: string;
}
export interface AdmissionDto extends AdmissionRequest {
  since: number;
}

/** `POST /api/discharges` answer. */
export interface DischargeDto {
  dev: string;
  until: number;
}

/** `GET /api/bindings`. */
export interface BindingsResponse {
  bindings: AdmissionDto[];
}

/** `GET /api/devices/:dev/bindings`. */
export interface BindingHistoryResponse {
  history: { patientId: string; bed: string; from: number; to: number | null }[];
}

/** One trend bucket `[t, t + bucketMs)` (core/trend). */
export interface TrendPointDto {
  t: number;
  min: number;
  max: number;
  mean: number;
  n: number;
}

/** `GET /api/devices/:dev/trend`. */
export interface TrendResponse {
  dev: string;
  from: number;
  to: number;
  bucketMs: number;
  series: Record<ObservationKey, TrendPointDto[]>;
}
