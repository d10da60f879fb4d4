/**
 * @module io/clinical/device-state
 * What the alarm service keeps of each device, in memory only: the latest value and
 * receive time of each vital, the last frame, battery, recent signature failures, the
 * latest NEWS2 score, and its limit filter (core/alarms/vital-filter). Bounded: a
 * fixed set of vitals, the filter's own bound, and only the signature window's failures.
 */

import type { AlarmPolicies, News2TriggerPolicy } from '../../core/alarms/index.js';
import {
  DEFAULT_NEWS2_TRIGGER,
  LIMIT_VITALS,
  type LimitVital,
  News2Trigger,
  VitalAlarmFilter,
} from '../../core/alarms/index.js';
import type { LiveReading } from '../../core/live.js';
import type { News2Dto, PatientSettings } from '../../core/live-contract.js';
import { news2 } from '../../core/news2.js';

export interface DeviceState {
  values: Partial<Record<LimitVital, number>>;
  seenAt: Partial<Record<LimitVital, number>>;
  lastFrameAt: number | null;
  lastSeq: number;
  bat: number | null;
  badSignatures: number[];
  news2: News2Dto | null;
  filter: VitalAlarmFilter;
  /** The sustained NEWS2 alarm (core/alarms/news2-trigger). */
  news2Trigger: News2Trigger;
  /** Whether the device was revoked when last evaluated (a change is sent as tile state). */
  revoked: boolean;
}

/** Notes a `bad_signature` rejection at `now`, keeping only the window's (at most 1000): a device spraying forgeries cannot grow memory. */
export function noteBadSignature(d: DeviceState, now: number, windowMs: number): void {
  d.badSignatures.push(now);
  d.badSignatures = d.badSignatures.filter((at) => now - at <= windowMs).slice(-1000);
}

export function newDeviceState(
  policies: AlarmPolicies,
  staleAfterMs: number,
  news2Trigger: News2TriggerPolicy = DEFAULT_NEWS2_TRIGGER,
): DeviceState {
  return {
    values: {},
    seenAt: {},
    lastFrameAt: null,
    lastSeq: 0,
    bat: null,
    badSignatures: [],
    news2: null,
    filter: new VitalAlarmFilter(policies, { staleAfterMs }),
    news2Trigger: new News2Trigger(news2Trigger),
    revoked: false,
  };
}

/**
 * Takes a reading in: the newest frame (by seq) moves the latest values and feeds the
 * filter; a late gap-filler is older news and changes nothing. Returns whether it did.
 */
export function takeReading(d: DeviceState, r: LiveReading): boolean {
  if (r.seq <= d.lastSeq) return false;
  d.lastSeq = r.seq;
  d.lastFrameAt = Math.max(d.lastFrameAt ?? 0, r.receivedAt);
  for (const v of LIMIT_VITALS) {
    const x = r.obs[v];
    if (typeof x === 'number') {
      d.values[v] = x;
      d.seenAt[v] = r.receivedAt;
      d.filter.push(v, r.receivedAt, x);
    }
  }
  if (typeof r.bat === 'number') d.bat = r.bat;
  return true;
}

/** The device's NEWS2 now (observations older than `maxAgeMs` are left out: then partial). */
export function scoreNews2(
  dev: string,
  d: DeviceState,
  settings: PatientSettings,
  now: number,
  maxAgeMs: number,
): News2Dto {
  const fresh = (v: LimitVital) => {
    const at = d.seenAt[v];
    return at !== undefined && now - at <= maxAgeMs ? d.values[v] : undefined;
  };
  const r = news2({
    rr: fresh('rr'),
    spo2: fresh('spo2'),
    temp: fresh('temp'),
    sbp: fresh('sbp'),
    hr: fresh('hr'),
    consciousness: settings.consciousness ?? undefined,
    oxygen: settings.oxygen,
    spo2Scale: settings.spo2Scale,
  });
  return {
    dev,
    score: r.score,
    band: r.band,
    partial: r.partial,
    missing: r.missing,
    scores: r.scores as Record<string, number>,
    at: now,
  };
}
