/**
 * @module core/alarms/model
 * The vocabulary of the ward's alarms, after IEC 60601-1-8: alarm conditions of high,
 * medium or low priority, physiological or technical; alarm states active → acknowledged
 * (by a named user, optional comment) → cleared; and the transitions the alarm board
 * (core/alarms/board) returns for the I/O shell to audit and broadcast.
 *
 * Priorities and their signals (IEC 60601-1-8 Table 2; the dashboard renders them):
 * high = red, flashing 1.4-2.8 Hz (we use 2 Hz); medium = yellow, flashing 0.4-0.8 Hz
 * (0.5 Hz); low = cyan, steady.
 */
import { errorClass } from '../../protocol/errors.js';

export type AlarmPriority = 'high' | 'medium' | 'low';
/** Lowest first. */
export const ALARM_PRIORITIES: readonly AlarmPriority[] = ['low', 'medium', 'high'];
export type AlarmKind = 'physiological' | 'technical';
export type AlarmState = 'active' | 'acknowledged' | 'cleared';

/** An alarm condition as detected now. `code` identifies it within its scope. */
export interface AlarmCondition {
  /** e.g. `hr_high`, `spo2_low`, `news2`, `device_offline`, `storage_failing`. */
  code: string;
  kind: AlarmKind;
  priority: AlarmPriority;
  /** The observed value and the limit crossed, where that applies (never sent to logs). */
  value?: number;
  limit?: number;
  /**
   * What the ward team is told beside the code, for a condition that names people rather than
   * a value (`break_glass_access`: who opened the patient's record, and why). Kept in this
   * gateway's memory and sent to its dashboards only: never in the history, the group's ledger
   * or the outbound feeds.
   */
  detail?: string;
}

export interface Alarm extends AlarmCondition {
  id: string;
  /** A device id, or `gateway` for gateway-wide technical alarms. */
  scope: string;
  /** The priority the condition was raised with; `priority` may be higher after escalation. */
  basePriority: AlarmPriority;
  state: AlarmState;
  /** The condition has ended but the (high-priority) alarm waits for acknowledgement. */
  latched: boolean;
  raisedAt: number;
  updatedAt: number;
  ackBy: string | null;
  ackAt: number | null;
  ackComment: string | null;
  clearedAt: number | null;
  /** The value that raised the alarm (shown with it, also once latched); `value` is the latest. */
  triggerValue?: number;
  /** How many times it was escalated or re-notified while unacknowledged. */
  escalations: number;
  /** When the unacknowledged-time clock (for escalation) last restarted. */
  notifiedAt: number;
}

/**
 * An alarm as the gateways of a group share it (issue 16, "alarms decided once";
 * io/shared/pg-alarms): every field but the vital values, which never leave a gateway's
 * memory (ARCHITECTURE.md guarantee 4).
 */
export type SharedAlarm = Omit<Alarm, 'value' | 'limit' | 'triggerValue' | 'detail'>;

/** The fields a board takes from the group's copy of an alarm (core/alarms/board `applyShared`). */
export const SHARED_ALARM_FIELDS = [
  'id',
  'kind',
  'priority',
  'basePriority',
  'state',
  'latched',
  'raisedAt',
  'updatedAt',
  'ackBy',
  'ackAt',
  'ackComment',
  'clearedAt',
  'escalations',
  'notifiedAt',
] as const satisfies readonly (keyof SharedAlarm)[];

export type AlarmTransitionType =
  | 'raised'
  | 'escalated'
  | 'renotified'
  | 'latched'
  | 'reactivated'
  | 'acknowledged'
  | 'cleared';

export interface AlarmTransition {
  type: AlarmTransitionType;
  alarm: Alarm;
  at: number;
  /** The user, for acknowledgements and standby. */
  by?: string;
}

/**
 * Thrown by `AlarmBoard.acknowledge` and by refused settings (mapped to HTTP 404/409/400
 * by the routes): `alarm_not_found`, `alarm_not_active`, `limits_invalid`.
 */
export class AlarmError extends errorClass<'alarm'>('AlarmError') {}

/** The rank of a priority: low 0, medium 1, high 2. */
export const priorityRank = (p: AlarmPriority): number => ALARM_PRIORITIES.indexOf(p);

/** The highest of some priorities, or null. */
export function highestPriority(ps: Iterable<AlarmPriority>): AlarmPriority | null {
  let best: AlarmPriority | null = null;
  for (const p of ps) if (best === null || priorityRank(p) > priorityRank(best)) best = p;
  return best;
}
