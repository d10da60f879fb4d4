/**
 * @module core/alarms/dto
 * An alarm as the dashboard and the routes see it (core/live-contract `AlarmDto`): a
 * whitelist of the board's alarm, its scope as `dev`, without the escalation clock.
 */

import type { AlarmDto } from '../live-contract.js';
import type { Alarm } from './model.js';

/** The DTO of an alarm (fields copied one by one: nothing else reaches a socket). */
export function alarmDto(a: Alarm): AlarmDto {
  const out: AlarmDto = {
    id: a.id,
    dev: a.scope,
    code: a.code,
    kind: a.kind,
    priority: a.priority,
    basePriority: a.basePriority,
    state: a.state,
    latched: a.latched,
    raisedAt: a.raisedAt,
    updatedAt: a.updatedAt,
    ackBy: a.ackBy,
    ackAt: a.ackAt,
    ackComment: a.ackComment,
    clearedAt: a.clearedAt,
    escalations: a.escalations,
  };
  if (a.value !== undefined) out.value = a.value;
  if (a.limit !== undefined) out.limit = a.limit;
  if (a.triggerValue !== undefined) out.triggerValue = a.triggerValue;
  if (a.detail !== undefined) out.detail = a.detail;
  return out;
}
