/**
 * @module core/alarms/validation
 * The check of a change of a patient's alarm settings (issue 15): a limit outside the
 * physiological range of its vital (core/alarms/limits `PHYSIOLOGICAL_RANGES`), a low limit
 * at or above the high one, or a policy value that is not an integer within
 * `POLICY_BOUNDS` (core/alarms/policy) is refused `limits_invalid`. Returned, never thrown
 * (as core/acceptance does): the I/O shell turns it into its coded error.
 *
 * Trust: the update is attacker-controlled (an HTTP body, schema-checked before); every
 * field is checked again here, unknown vitals and fields included.
 */
import { type AlarmLimits, LIMIT_VITALS, type LimitVital, PHYSIOLOGICAL_RANGES } from './limits.js';
import { type AlarmPoliciesUpdate, POLICY_BOUNDS, POLICY_FIELDS, type VitalAlarmPolicy } from './policy.js';

/** What `checkAlarmSettings` found: fine, or the first refused field (a path, never a value). */
export type AlarmSettingsVerdict = { ok: true } | { ok: false; code: 'limits_invalid'; field: string };

const isVital = (v: string): v is LimitVital => (LIMIT_VITALS as readonly string[]).includes(v);
const refuse = (field: string): AlarmSettingsVerdict => ({ ok: false, code: 'limits_invalid', field });

/**
 * Checks the limits and policies of a settings change (only what it carries: a limit pair
 * is checked whole, a policy field by itself).
 * @example
 * checkAlarmSettings({ limits: { hr: { low: 130, high: 41 } } }); // { ok: false, code: 'limits_invalid', field: 'limits.hr' }
 * checkAlarmSettings({ policies: { spo2: { delaySeconds: 0 } } }); // { ok: true }
 */
export function checkAlarmSettings(update: {
  limits?: Partial<AlarmLimits>;
  policies?: AlarmPoliciesUpdate;
}): AlarmSettingsVerdict {
  for (const [v, pair] of Object.entries(update.limits ?? {})) {
    if (!isVital(v) || typeof pair !== 'object' || pair === null) return refuse(`limits.${v}`);
    const range = PHYSIOLOGICAL_RANGES[v];
    for (const side of ['low', 'high'] as const) {
      const x: unknown = pair[side];
      if (x === null) continue;
      if (typeof x !== 'number' || !Number.isFinite(x) || x < range.min || x > range.max) {
        return refuse(`limits.${v}.${side}`);
      }
    }
    if (pair.low !== null && pair.high !== null && pair.low >= pair.high) return refuse(`limits.${v}`);
  }
  for (const [v, p] of Object.entries(update.policies ?? {})) {
    if (!isVital(v) || typeof p !== 'object' || p === null) return refuse(`policies.${v}`);
    for (const [f, x] of Object.entries(p)) {
      if (!(POLICY_FIELDS as readonly string[]).includes(f)) return refuse(`policies.${v}.${f}`);
      const b = POLICY_BOUNDS[f as keyof VitalAlarmPolicy];
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < b.min || x > b.max) {
        return refuse(`policies.${v}.${f}`);
      }
    }
  }
  return { ok: true };
}
