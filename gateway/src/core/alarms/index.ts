/**
 * @module core/alarms
 * The ward's alarms after IEC 60601-1-8 and the alarm-fatigue controls of issue 15, one
 * concept per file: the vocabulary (model), limits and priorities (limits), alarm-fatigue
 * policies (policy) and the check of their settings (validation), the state machine
 * (board), the condition rules (conditions), the per-device limit filter (vital-filter),
 * the sustained NEWS2 trigger (news2-trigger), the history grouped by episode (episodes), and
 * an alarm as the dashboard sees it (dto). Pure: no clock, no I/O.
 */
export * from './board.js';
export * from './conditions.js';
export * from './dto.js';
export * from './episodes.js';
export * from './limits.js';
export * from './model.js';
export * from './news2-trigger.js';
export * from './policy.js';
export * from './validation.js';
export * from './vital-filter.js';
