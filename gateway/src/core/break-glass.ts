/**
 * @module core/break-glass
 * Break-glass access (issue 18: "emergency, with a mandatory reason, possible for a configured
 * role, raises an alert to the charge nurse and the patient portal, and is marked as such"),
 * the pure part: the reason's rule, when an opening is in force, and which care roles may
 * break glass as the configuration names them. The openings themselves are io/care/break-glass,
 * the route io/http/routes/care/care-break-glass-routes, the alarm core/alarms `breakGlassConditions`.
 *
 * The reason is what the access log's leaf holds (anchor/src/verify-access `break_glass`
 * basis): 1-500 Unicode code points after trimming, no control character, no lone surrogate.
 * It is checked here, before anything is stored, so an opening can never hold a reason the
 * access log would then refuse (and a read under it fail with 500).
 */

/** Longest reason, in Unicode code points (the access log's `MAX_BREAK_GLASS_REASON`). */
export const BREAK_GLASS_REASON_MAX = 500;

/** The care roles that may be given break-glass (config `care.breakGlassRoles`). */
export type BreakGlassRole = 'doctor' | 'patient';

/** One break-glass opening: `username` may read `patient`'s data from `at` until `until` (ms). */
export interface BreakGlassOpening {
  id: number;
  /** The account that broke the glass. */
  username: string;
  /** Who on the chain's terms (a doctor's clinician id, else the user name): the access log's actor. */
  actor: string;
  role: BreakGlassRole;
  /** The patient's pseudonym, lower-case. */
  patient: string;
  reason: string;
  at: number;
  until: number;
}

export type ReasonCheck =
  | { ok: true; reason: string }
  | { ok: false; code: 'break_glass_reason_required' | 'break_glass_reason_invalid' };

// biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The reason of a break-glass request, trimmed: `break_glass_reason_required` when absent,
 * not a string, or blank; `break_glass_reason_invalid` when over 500 code points or holding a
 * control character (a line break included) or a lone surrogate.
 * @example breakGlassReason('  cardiac arrest, no consent reachable ') // {ok: true, reason: 'cardiac arrest, no consent reachable'}
 */
export function breakGlassReason(raw: unknown): ReasonCheck {
  if (typeof raw !== 'string') return { ok: false, code: 'break_glass_reason_required' };
  const reason = raw.trim();
  if (reason.length === 0) return { ok: false, code: 'break_glass_reason_required' };
  if ([...reason].length > BREAK_GLASS_REASON_MAX || CONTROL.test(reason) || LONE_SURROGATE.test(reason))
    return { ok: false, code: 'break_glass_reason_invalid' };
  return { ok: true, reason };
}

/** Whether an opening lets its user in at `now`: from `at` (inclusive) to `until` (exclusive). */
export const inForceAt = (o: Pick<BreakGlassOpening, 'at' | 'until'>, now: number): boolean =>
  o.at <= now && now < o.until;

/**
 * The care roles named by config `care.breakGlassRoles` (`doctor`, `patient`, `doctor,patient`
 * or `none`).
 * @throws {RangeError} on a name that is no care role
 */
export function careRolesOf(text: string): BreakGlassRole[] {
  if (text === 'none') return [];
  const roles = text.split(',').map((r) => r.trim());
  for (const r of roles) if (r !== 'doctor' && r !== 'patient') throw new RangeError(`not a care role: ${r}`);
  return [...new Set(roles)] as BreakGlassRole[];
}
