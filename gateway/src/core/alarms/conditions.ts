/**
 * @module core/alarms/conditions
 * The pure rules that turn a device's latest data, and the gateway's health, into alarm
 * conditions (core/alarms/model): limit violations (core/alarms/limits, filtered by
 * core/alarms/vital-filter), NEWS2 triggers (RCP 2017 chart 2), and technical faults
 * (IEC 60601-1-8 technical alarm conditions: device offline or revoked, signal loss,
 * battery, signature failures; gateway storage, anchoring, ingress throttling; a patient's
 * record opened by break-glass).
 * The codes here are alarm condition codes, a vocabulary apart from the error codes of
 * protocol/error-codes (README "Alarms").
 */
import type { News2Band } from '../news2.js';
import {
  type AlarmLimits,
  LIMIT_PRIORITY,
  LIMIT_VITALS,
  type LimitVital,
  limitSide,
  NEWS2_PRIORITY,
} from './limits.js';
import type { AlarmCondition, AlarmPriority } from './model.js';

export interface TechnicalThresholds {
  /** No frame for this long: `device_offline` (medium). Default 30 s. */
  offlineAfterMs: number;
  /** A vital the device had been sending is absent for this long: `signal_loss_<vital>` (medium). Default 15 s. */
  signalLossAfterMs: number;
  /** Battery below this %: `battery_low` (low). Default 20. */
  batteryLowPct: number;
  /** Battery below this %: `battery_low` becomes medium. Default 10. */
  batteryCriticalPct: number;
  /** This many `bad_signature` rejections within `signatureWindowMs`: `signature_failures` (high). Default 3. */
  signatureFailures: number;
  signatureWindowMs: number;
  /** The oldest unanchored checkpoint is older than this: `anchoring_delayed` (low). Default 10 min. */
  anchoringDelayMs: number;
}

export const DEFAULT_TECHNICAL: Readonly<TechnicalThresholds> = {
  offlineAfterMs: 30_000,
  signalLossAfterMs: 15_000,
  batteryLowPct: 20,
  batteryCriticalPct: 10,
  signatureFailures: 3,
  signatureWindowMs: 60_000,
  anchoringDelayMs: 10 * 60_000,
};

export interface DeviceAlarmInput {
  /** Latest value of each vital (from the newest frame that carried it). */
  values: Partial<Record<LimitVital, number>>;
  /** Gateway time each vital was last received. */
  seenAt: Partial<Record<LimitVital, number>>;
  /** Gateway time of the last accepted frame, or null when none since start. */
  lastFrameAt: number | null;
  bat: number | null;
  /** Gateway times of recent `bad_signature` rejections. */
  badSignatures: readonly number[];
  /** NEWS2 band of the latest score, or null. */
  news2Band: News2Band | null;
  news2Score: number | null;
  /**
   * The priority of the `news2` alarm after its sustained trigger (core/alarms/news2-trigger);
   * when absent, the band's priority now (no debouncing).
   */
  news2Priority?: AlarmPriority | null;
  /**
   * The limit conditions of the device's `VitalAlarmFilter` (averaging, delay, hysteresis).
   * When absent, each latest value is compared with the limits directly (no fatigue policy).
   */
  limitConditions?: readonly AlarmCondition[];
  /** The device's certificate is revoked: `device_revoked` (medium) is its only condition. */
  revoked?: boolean;
}

/**
 * Conditions of one device now: limit violations, NEWS2 trigger, technical faults. A revoked
 * device has one, `device_revoked` (its frames are refused: not merely offline).
 */
export function deviceConditions(
  d: DeviceAlarmInput,
  limits: AlarmLimits,
  t: TechnicalThresholds,
  now: number,
): AlarmCondition[] {
  if (d.revoked) return [{ code: 'device_revoked', kind: 'technical', priority: 'medium' }];
  const out: AlarmCondition[] = [];
  const offline = d.lastFrameAt !== null && now - d.lastFrameAt > t.offlineAfterMs;
  // Signal loss means frames keep coming without this vital (a probe off), not a silent device.
  const sending = d.lastFrameAt !== null && now - d.lastFrameAt <= t.signalLossAfterMs;
  if (offline) out.push({ code: 'device_offline', kind: 'technical', priority: 'medium' });
  for (const v of LIMIT_VITALS) {
    const seen = d.seenAt[v];
    const value = d.values[v];
    if (seen === undefined || value === undefined) continue;
    if (now - seen > t.signalLossAfterMs) {
      if (sending) out.push({ code: `signal_loss_${v}`, kind: 'technical', priority: 'medium' });
      continue; // a stale value raises no physiological alarm
    }
    if (d.limitConditions) {
      for (const c of d.limitConditions) if (c.code === `${v}_low` || c.code === `${v}_high`) out.push(c);
      continue;
    }
    const side = limitSide(value, limits[v]);
    if (side) {
      out.push({
        code: `${v}_${side}`,
        kind: 'physiological',
        priority: LIMIT_PRIORITY[v][side],
        value,
        limit: limits[v][side] as number,
      });
    }
  }
  if (d.news2Band !== null && d.news2Score !== null) {
    const p = d.news2Priority !== undefined ? d.news2Priority : NEWS2_PRIORITY[d.news2Band];
    if (p) out.push({ code: 'news2', kind: 'physiological', priority: p, value: d.news2Score });
  }
  if (d.bat !== null && d.bat < t.batteryLowPct && !offline) {
    out.push({
      code: 'battery_low',
      kind: 'technical',
      priority: d.bat < t.batteryCriticalPct ? 'medium' : 'low',
      value: d.bat,
      limit: t.batteryLowPct,
    });
  }
  const recentBad = d.badSignatures.filter((at) => now - at <= t.signatureWindowMs).length;
  if (recentBad >= t.signatureFailures) {
    out.push({ code: 'signature_failures', kind: 'technical', priority: 'high', value: recentBad });
  }
  return out;
}

/**
 * Gateway-wide technical conditions (scope `gateway`). `ingress_throttled` (low: an IT
 * matter, like `anchoring_delayed`) is active while any MQTT client is cooling down after
 * the rejection limit; the audit log names each one, its address and the rejection code.
 */
export function gatewayConditions(
  g: { storageHealthy: boolean; oldestPendingAgeMs: number | null; throttledClients?: number },
  t: TechnicalThresholds,
): AlarmCondition[] {
  const out: AlarmCondition[] = [];
  if (!g.storageHealthy) out.push({ code: 'storage_failing', kind: 'technical', priority: 'high' });
  if ((g.throttledClients ?? 0) > 0) {
    out.push({
      code: 'ingress_throttled',
      kind: 'technical',
      priority: 'low',
      value: g.throttledClients as number,
    });
  }
  if (g.oldestPendingAgeMs !== null && g.oldestPendingAgeMs > t.anchoringDelayMs) {
    out.push({ code: 'anchoring_delayed', kind: 'technical', priority: 'low' });
  }
  return out;
}

/** A break-glass opening in force, where the central station shows it (io/care/break-glass-alarms). */
export interface BreakGlassAlarmInput {
  /** Who broke the glass (the account's user name). */
  username: string;
  reason: string;
  /** When the opening ends (ms): the condition ends with it. */
  until: number;
  /** The devices bound to the patient now (their bed tiles), or [`gateway`] when none shows it. */
  scopes: readonly string[];
}

/**
 * `break_glass_access` on each scope of each opening in force at `now` (one alarm per scope;
 * several openings of a scope share it, their `detail` joined, oldest first): technical, LOW
 * priority. IEC 60601-1-8 §6.1.2 (Table 1) sets a priority from the potential result of a
 * failure to respond: a clinician already treating the patient opened their record, and not
 * responding harms no patient (the charge nurse checks the access was warranted, which can
 * wait for the next round), so it calls for operator awareness, the low priority, like
 * `ingress_throttled`; a medium or high one would compete with the patients' alarms for the
 * nurse's immediate response (alarm fatigue, issue 15). As a technical alarm it never
 * latches, and re-notifies at its own priority while nobody acknowledges it (core/alarms/board).
 * `detail`: "<user>: <reason>", for the ward team (the reason is theirs to read).
 * @example breakGlassConditions([{ username: 'dr-a', reason: 'arrest', until: 2, scopes: ['wr-1'] }], 1)
 * // → Map { 'wr-1' => [{ code: 'break_glass_access', kind: 'technical', priority: 'low', detail: 'dr-a: arrest' }] }
 */
export function breakGlassConditions(
  openings: readonly BreakGlassAlarmInput[],
  now: number,
): Map<string, AlarmCondition[]> {
  const byScope = new Map<string, string[]>();
  for (const o of openings) {
    if (now >= o.until) continue;
    for (const scope of new Set(o.scopes))
      byScope.set(scope, [...(byScope.get(scope) ?? []), `${o.username}: ${o.reason}`]);
  }
  const out = new Map<string, AlarmCondition[]>();
  for (const [scope, who] of byScope) {
    out.set(scope, [
      { code: 'break_glass_access', kind: 'technical', priority: 'low', detail: who.join('; ') },
    ]);
  }
  return out;
}
