/**
 * @module core/alarms/episodes
 * An alarm history grouped by episode (issue 15): one row per alarm from raise to clear,
 * with its acknowledgement and how often it was re-opened within its episode gap,
 * escalated or re-notified, so raise/clear pairs of a condition hovering at a limit do not
 * drown the list (AAMI alarm-fatigue guidance: review alarms as episodes).
 */
import type { AlarmEpisodeDto, AlarmEventDto } from '../live-contract.js';
import { ALARM_PRIORITIES, type AlarmPriority, priorityRank } from './model.js';

const rankOf = (p: string): number =>
  (ALARM_PRIORITIES as readonly string[]).includes(p) ? priorityRank(p as AlarmPriority) : -1;

/**
 * Groups alarm transitions, newest first as the history gives them, into episodes,
 * newest first by raise time. An episode's events may be cut at the history's limit: it
 * then starts at its oldest event there.
 * @example
 * groupEpisodes(alarms.history('wr-0001')); // one row per alarm: its code, priority, raise, clear, ack, reactivations
 */
export function groupEpisodes(events: readonly AlarmEventDto[]): AlarmEpisodeDto[] {
  const byId = new Map<string, AlarmEventDto[]>();
  for (const e of events) {
    const list = byId.get(e.alarmId);
    if (list) list.push(e);
    else byId.set(e.alarmId, [e]);
  }
  const out: AlarmEpisodeDto[] = [];
  for (const [alarmId, list] of byId) {
    // Oldest first: the history is newest first (by record id), so reversed it is in the
    // recorded order, which the stable sort keeps for transitions at the same time.
    const ordered = [...list].reverse().sort((a, b) => a.at - b.at);
    const first = ordered[0] as AlarmEventDto;
    const last = ordered.at(-1) as AlarmEventDto;
    const ep: AlarmEpisodeDto = {
      alarmId,
      dev: first.dev,
      code: first.code,
      kind: first.kind,
      priority: first.priority,
      raisedAt: first.at,
      clearedAt: last.event === 'cleared' ? last.at : null,
      ackBy: null,
      ackAt: null,
      ackComment: null,
      reactivations: 0,
      escalations: 0,
    };
    for (const e of ordered) {
      if (rankOf(e.priority) > rankOf(ep.priority)) ep.priority = e.priority;
      if (e.event === 'reactivated') ep.reactivations++;
      else if (e.event === 'escalated' || e.event === 'renotified') ep.escalations++;
      else if (e.event === 'acknowledged') {
        ep.ackBy = e.by;
        ep.ackAt = e.at;
        ep.ackComment = e.comment;
      }
    }
    out.push(ep);
  }
  return out.sort((a, b) => b.raisedAt - a.raisedAt);
}
