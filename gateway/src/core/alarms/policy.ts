/**
 * @module core/alarms/policy
 * Alarm-fatigue policies per vital (issue 15), after the AAMI Foundation's alarm-fatigue
 * guidance and The Joint Commission NPSG.06.01.01: average out artefacts, delay before
 * alarming, clear with hysteresis, and let a condition that hovers at a limit make one
 * episode, not a storm. Applied by core/alarms/vital-filter (averaging, delay, hysteresis)
 * and core/alarms/board (episode gap).
 */
import { LIMIT_VITALS, type LimitVital } from './limits.js';

/** The alarm-fatigue policy of one vital. */
export interface VitalAlarmPolicy {
  /** The mean of the readings of the last N seconds is compared with the limits (0: the latest reading). */
  averageSeconds: number;
  /** The (averaged) value must be beyond the limit for N seconds before the alarm is raised (0: at once). */
  delaySeconds: number;
  /** To end, the value must be back inside the limit by this margin (the vital's unit; temp 0.01 °C). */
  hysteresis: number;
  /** A new breach within N seconds after an episode ended re-opens that episode instead of a new alarm. */
  episodeGapSeconds: number;
}
export type AlarmPolicies = Record<LimitVital, VitalAlarmPolicy>;
/** A partial change of policies, vital by vital and field by field (a patient's overrides). */
export type AlarmPoliciesUpdate = Partial<Record<LimitVital, Partial<VitalAlarmPolicy>>>;

export const POLICY_FIELDS: readonly (keyof VitalAlarmPolicy)[] = [
  'averageSeconds',
  'delaySeconds',
  'hysteresis',
  'episodeGapSeconds',
];

/**
 * Default policies (README "Alarm defaults"). SpO₂ is averaged over 10 s and delayed 10 s,
 * as central stations do by default, so a single motion artefact raises nothing; a heart
 * rate hovering at its limit makes one episode per 2 minutes.
 */
export const DEFAULT_POLICIES: Readonly<AlarmPolicies> = {
  hr: { averageSeconds: 0, delaySeconds: 10, hysteresis: 5, episodeGapSeconds: 120 },
  spo2: { averageSeconds: 10, delaySeconds: 10, hysteresis: 2, episodeGapSeconds: 120 },
  rr: { averageSeconds: 0, delaySeconds: 20, hysteresis: 2, episodeGapSeconds: 120 },
  temp: { averageSeconds: 0, delaySeconds: 60, hysteresis: 20, episodeGapSeconds: 600 },
  sbp: { averageSeconds: 0, delaySeconds: 10, hysteresis: 5, episodeGapSeconds: 120 },
  dbp: { averageSeconds: 0, delaySeconds: 10, hysteresis: 5, episodeGapSeconds: 120 },
};

/** The policy of the first wave (no averaging, no delay, no hysteresis): the "before" of `bench:alarms`. */
export const NO_FATIGUE_POLICY: Readonly<VitalAlarmPolicy> = {
  averageSeconds: 0,
  delaySeconds: 0,
  hysteresis: 0,
  episodeGapSeconds: 0,
};

/** Inclusive bounds of each policy field (a setting outside is refused `limits_invalid`). */
export const POLICY_BOUNDS: Readonly<Record<keyof VitalAlarmPolicy, { min: number; max: number }>> = {
  averageSeconds: { min: 0, max: 60 },
  delaySeconds: { min: 0, max: 120 },
  hysteresis: { min: 0, max: 50 },
  episodeGapSeconds: { min: 0, max: 3600 },
};

/**
 * `update` merged over `base`, vital by vital and field by field (a fresh object; unknown
 * vitals and fields are ignored).
 * @example
 * mergePolicies(DEFAULT_POLICIES, { spo2: { delaySeconds: 0 } }).spo2.averageSeconds; // 10
 */
export function mergePolicies(base: Readonly<AlarmPolicies>, update?: AlarmPoliciesUpdate): AlarmPolicies {
  const out = {} as AlarmPolicies;
  for (const v of LIMIT_VITALS) {
    const p: VitalAlarmPolicy = { ...base[v] };
    const u = update?.[v];
    if (u) for (const f of POLICY_FIELDS) if (typeof u[f] === 'number') p[f] = u[f] as number;
    out[v] = p;
  }
  return out;
}

/** One policy for every vital (e.g. `uniformPolicies(NO_FATIGUE_POLICY)` for the "before" benchmark). */
export function uniformPolicies(p: Readonly<VitalAlarmPolicy>): AlarmPolicies {
  const out = {} as AlarmPolicies;
  for (const v of LIMIT_VITALS) out[v] = { ...p };
  return out;
}
