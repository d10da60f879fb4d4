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
import type { AlarmLimits, LimitVital } from './alarms/limits.js';
import type { Alarm, AlarmPriority, AlarmTransitionType } from './alarms/model.js';
import type { AlarmPolicies, VitalAlarmPolicy } from './alarms/policy.js';
import type { Consciousness, News2Band, SpO2Scale } from './news2.js';

export type { AlarmPolicies, AlarmPriority, LimitVital, News2Band, VitalAlarmPolicy };

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
export type UserRole = 'admin' | 'nurse' | 'charge_nurse' | 'auditor' | 'doctor' | 'patient';
/**
 * The role of a session: a user's role, or `display`, an enrolled wall screen (kiosk):
 * read-only ward overview, no idle logout, bound to an enrolment an admin can revoke.
 */
export type SessionRole = UserRole | 'display';

/** Clock format of the ward pages (config `ward.clock`; 24-hour by default). */
export type ClockFormat = '24h' | '12h';

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
  /** How the pages show times of day. */
  clock: ClockFormat;
}

/** Why a bed is in standby: no alarms of any kind while it lasts, clearly shown on its tile. */
export interface StandbyDto {
  /** `discharged`: set by a discharge, ended by the next admission; `paused`: set by a nurse. */
  reason: 'discharged' | 'paused';
  since: number;
  /** The user who set it. */
  by: string | null;
  /** A pause ends by itself at this time (null: until ended by hand or by an admission). */
  until: number | null;
}

/**
 * What a tile shows besides the readings: the limits (numerics beyond one are
 * highlighted), the vitals whose alarm is switched off (the alarm-off indicator), standby,
 * and a revoked device (not just "offline"). Sent in the snapshot and on every change.
 */
export interface TileStateDto {
  dev: string;
  limits: AlarmLimits;
  /** Vitals with a limit switched off that is on by default. */
  alarmsOff: LimitVital[];
  standby: StandbyDto | null;
  /** The device's certificate is revoked (its frames are refused). */
  revoked: boolean;
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

/**
 * One alarm episode: an alarm from raise to clear, with everything that happened to it
 * (the history grouped, so raise/clear pairs do not drown the list). Newest first.
 */
export interface AlarmEpisodeDto {
  alarmId: string;
  dev: string;
  code: string;
  kind: string;
  /** The highest priority it reached. */
  priority: string;
  raisedAt: number;
  /** null while open. */
  clearedAt: number | null;
  ackBy: string | null;
  ackAt: number | null;
  ackComment: string | null;
  /** Times it was re-opened within its episode gap, escalated or re-notified. */
  reactivations: number;
  escalations: number;
}

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
  tileStates?: TileStateDto[];
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

/** A tile's state changed (limits, alarm off, standby, revoked). */
export type TileStateMessage = { type: 'tile-state' } & TileStateDto;
/**
 * Sent every `HEARTBEAT_MS` on every socket, so a page that hears nothing for
 * `CONNECTION_LOST_MS` shows "connection lost" (a silent half-open TCP link included).
 */
export interface HeartbeatMessage {
  type: 'heartbeat';
  now: number;
}
export const HEARTBEAT_MS = 2000;
export const CONNECTION_LOST_MS = 5000;

/** Messages of the clinical layer (alarms, scores, ECG, tile states), merged into the live socket. */
export type ClinicalMessage = AlarmMessage | News2Message | EcgMessage | TileStateMessage;
/** Every message the live socket sends. */
export type LiveMessage = SnapshotMessage | ReadingMessage | ClinicalMessage | HeartbeatMessage;

// ---------------------------------------------------------------------------
// HTTP DTOs of the routes the ward page calls.

/** `POST /api/login`, `GET /api/me`. */
export interface MeDto {
  /** A user's name, or `display:<name>` for an enrolled wall screen. */
  username: string;
  role: SessionRole;
  /** The role may see live vitals. */
  live: boolean;
  /** The session is a wall display (kiosk): read-only, never idles out. */
  display?: { id: string; name: string };
  /**
   * The user must choose a new password (`POST /api/password` {@link PasswordChangeRequest})
   * before anything but `GET /api/me` answers (403 `password_change_required`). Absent: false.
   */
  mustChangePassword?: true;
}

/** `POST /api/password` body: the signed-in user's current password and the new one. */
export interface PasswordChangeRequest {
  current: string;
  next: string;
}

/** `POST /api/display/session` body: the enrolment token a wall screen keeps. */
export interface DisplaySessionRequest {
  token: string;
}

/** An enrolled wall display (`GET /api/displays`, admin). The token is never shown again. */
export interface DisplayDto {
  id: string;
  name: string;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  revokedBy: string | null;
}
/** `POST /api/displays` `{name}` answer (201): the only time the token is shown. */
export interface DisplayEnrolmentDto extends DisplayDto {
  token: string;
  /** Path to open on the wall screen once (the token travels in the fragment, never to logs). */
  path: string;
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
  /** Alarm-fatigue policy per vital (defaults: core/alarms DEFAULT_POLICIES). */
  policies: AlarmPolicies;
}

/** `PUT /api/patients/:dev/settings` body (partial update). */
export type PatientSettingsUpdate = Partial<
  Pick<PatientSettings, 'spo2Scale' | 'oxygen' | 'consciousness'>
> & {
  limits?: Partial<AlarmLimits>;
  policies?: Partial<Record<LimitVital, Partial<VitalAlarmPolicy>>>;
};

/** `POST /api/patients/:dev/standby` body: on (a pause of `minutes`, default until ended) or off. */
export interface StandbyRequest {
  on: boolean;
  minutes?: number;
}

/** `GET /api/patients/:dev`: the patient view. */
export interface PatientViewDto {
  dev: string;
  settings: PatientSettings;
  news2: News2Dto | null;
  alarms: AlarmDto[];
  history: AlarmEventDto[];
  /** The history grouped by episode, newest first. */
  episodes: AlarmEpisodeDto[];
  tile: TileStateDto;
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
/** `GET /api/beds`: the bed of each admitted device, no patient ids (tile labels; wall displays may read it). */
export interface BedsResponse {
  beds: { dev: string; bed: string }[];
}

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
  /** In a gateway group: the gateways whose readings it holds, and those that did not answer. */
  sources?: { gateways: string[]; missing: string[] };
}
