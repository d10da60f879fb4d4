/**
 * @module core/alarms
 * The alarm state machine of the ward (ARCHITECTURE.md "Clinical layer"), after the
 * IEC 60601-1-8 model: alarm conditions of high, medium or low priority, physiological
 * or technical; alarm states active → acknowledged (by a named user, optional comment)
 * → cleared; high-priority alarms LATCH (IEC 60601-1-8 §6.5.4: the signal continues after
 * the condition ends until an operator acknowledges it); and escalation of alarms left
 * unacknowledged. Also the pure rules that turn a device's latest data into conditions.
 * Pure: no clock (every call takes `now`), no I/O; every change is returned as a
 * transition for the I/O shell to audit and broadcast.
 *
 * Priorities and their signals (IEC 60601-1-8 Table 2; the dashboard renders them):
 * high = red, flashing 1.4-2.8 Hz (we use 2 Hz); medium = yellow, flashing 0.4-0.8 Hz
 * (0.5 Hz); low = cyan, steady.
 */
import { errorClass } from '../protocol/errors.js';
import type { News2Band } from './news2.js';

export type AlarmPriority = 'high' | 'medium' | 'low';
export const ALARM_PRIORITIES: readonly AlarmPriority[] = ['low', 'medium', 'high'];
export type AlarmKind = 'physiological' | 'technical';
export type AlarmState = 'active' | 'acknowledged' | 'cleared';

/** Vitals with physiological limits (PROTOCOL.md §1 keys and units; temp in 0.01 °C). */
export type LimitVital = 'hr' | 'spo2' | 'rr' | 'temp' | 'sbp' | 'dbp';
export const LIMIT_VITALS: readonly LimitVital[] = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'];

/** An alarm limit pair; a value below `low` or above `high` is an alarm condition. null = off. */
export interface VitalLimit {
  low: number | null;
  high: number | null;
}
export type AlarmLimits = Record<LimitVital, VitalLimit>;

/**
 * Default adult limits (configurable per patient). They sit at the NEWS2 score-3 edges
 * (RCP 2017 chart 1), so a limit alarm and a single-parameter NEWS2 trigger agree.
 */
export const DEFAULT_LIMITS: Readonly<AlarmLimits> = {
  hr: { low: 41, high: 130 },
  spo2: { low: 92, high: null },
  rr: { low: 9, high: 24 },
  temp: { low: 3510, high: 3900 },
  sbp: { low: 91, high: 219 },
  dbp: { low: 40, high: 120 },
};

/**
 * Priority of each limit violation, from the risk it signals (IEC 60601-1-8 leaves the
 * assignment to the manufacturer's risk analysis): hypoxaemia and hypotension are
 * high; rate and hypertension alarms medium; temperature and diastolic low.
 */
export const LIMIT_PRIORITY: Readonly<Record<LimitVital, { low: AlarmPriority; high: AlarmPriority }>> = {
  hr: { low: 'high', high: 'medium' },
  spo2: { low: 'high', high: 'low' },
  rr: { low: 'high', high: 'medium' },
  temp: { low: 'medium', high: 'low' },
  sbp: { low: 'high', high: 'medium' },
  dbp: { low: 'low', high: 'low' },
};

/** NEWS2 trigger band → alarm priority (RCP 2017 chart 2: emergency, urgent, urgent ward-based). */
export const NEWS2_PRIORITY: Readonly<Record<News2Band, AlarmPriority | null>> = {
  high: 'high',
  medium: 'medium',
  low_medium: 'low',
  low: null,
  zero: null,
};

/** An alarm condition as detected now. `key` identifies it within its scope. */
export interface AlarmCondition {
  /** e.g. `hr_high`, `spo2_low`, `news2`, `device_offline`, `storage_failing`. */
  code: string;
  kind: AlarmKind;
  priority: AlarmPriority;
  /** The observed value and the limit crossed, where that applies (never sent to logs). */
  value?: number;
  limit?: number;
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
  /** How many times it was escalated or re-notified while unacknowledged. */
  escalations: number;
  /** When the unacknowledged-time clock (for escalation) last restarted. */
  notifiedAt: number;
}

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
  /** The user, for acknowledgements. */
  by?: string;
}

export interface AlarmBoardOptions {
  /** Unacknowledged active alarms escalate (priority up one step, or re-notify at high) after this. Default 120 s. */
  escalateAfterMs?: number;
  /** Which priorities latch. Default: high only. */
  latching?: readonly AlarmPriority[];
  /** Id generator; default `a<counter>`. */
  newId?: () => string;
}

/** Thrown by `acknowledge` (mapped to HTTP 404/409 by the routes). */
export class AlarmError extends errorClass<'alarm'>('AlarmError') {}

export const DEFAULT_ESCALATE_AFTER_MS = 120_000;

const rank = (p: AlarmPriority) => ALARM_PRIORITIES.indexOf(p);
const higher = (a: AlarmPriority, b: AlarmPriority) => (rank(a) >= rank(b) ? a : b);

/** The highest of some priorities, or null. */
export function highestPriority(ps: Iterable<AlarmPriority>): AlarmPriority | null {
  let best: AlarmPriority | null = null;
  for (const p of ps) if (best === null || rank(p) > rank(best)) best = p;
  return best;
}

/**
 * The open alarms of a ward and their transitions.
 * @example
 * const board = new AlarmBoard();
 * board.evaluate('wr-0001', [{ code: 'spo2_low', kind: 'physiological', priority: 'high' }], now);
 * // → [{ type: 'raised', alarm: {...state: 'active'} }]
 */
export class AlarmBoard {
  /** Open (not cleared) alarms by `${scope}\u0000${code}`. */
  readonly #open = new Map<string, Alarm>();
  readonly #escalateMs: number;
  readonly #latching: ReadonlySet<AlarmPriority>;
  readonly #newId: () => string;

  /** @throws {RangeError} when `escalateAfterMs` is not a positive integer. */
  constructor(opts: AlarmBoardOptions = {}) {
    const e = opts.escalateAfterMs ?? DEFAULT_ESCALATE_AFTER_MS;
    if (!Number.isSafeInteger(e) || e <= 0)
      throw new RangeError('AlarmBoard: escalateAfterMs must be a positive integer');
    this.#escalateMs = e;
    this.#latching = new Set(opts.latching ?? ['high']);
    let n = 0;
    this.#newId = opts.newId ?? (() => `a${++n}`);
  }

  /** Open alarms (active or acknowledged), oldest first. */
  open(): Alarm[] {
    return [...this.#open.values()].map((a) => ({ ...a }));
  }

  get(id: string): Alarm | undefined {
    for (const a of this.#open.values()) if (a.id === id) return { ...a };
    return undefined;
  }

  /**
   * Reconciles the open alarms of one scope with the conditions present now: raises new
   * ones, raises the priority of worse ones (re-activating an acknowledged alarm whose
   * condition got worse), and ends alarms whose condition is gone (cleared, or latched
   * while a latching alarm is unacknowledged). A latched alarm whose condition returns
   * is active again.
   */
  evaluate(scope: string, conditions: readonly AlarmCondition[], now: number): AlarmTransition[] {
    const out: AlarmTransition[] = [];
    const present = new Set<string>();
    for (const c of conditions) {
      const key = `${scope}\u0000${c.code}`;
      if (present.has(key)) continue; // one alarm per code and scope
      present.add(key);
      const a = this.#open.get(key);
      if (!a) {
        const alarm: Alarm = {
          ...c,
          id: this.#newId(),
          scope,
          basePriority: c.priority,
          state: 'active',
          latched: false,
          raisedAt: now,
          updatedAt: now,
          ackBy: null,
          ackAt: null,
          ackComment: null,
          clearedAt: null,
          escalations: 0,
          notifiedAt: now,
        };
        this.#open.set(key, alarm);
        out.push(this.#t('raised', alarm, now));
        continue;
      }
      this.#setValue(a, c);
      if (a.latched) {
        a.latched = false;
        a.updatedAt = now;
      }
      if (rank(c.priority) > rank(a.basePriority)) {
        a.basePriority = c.priority;
        const worse = rank(c.priority) > rank(a.priority);
        a.priority = higher(a.priority, c.priority);
        a.updatedAt = now;
        if (a.state === 'acknowledged') {
          // A condition that got worse after acknowledgement alarms again.
          a.state = 'active';
          a.notifiedAt = now;
          out.push(this.#t('reactivated', a, now));
        } else if (worse) {
          a.notifiedAt = now;
          out.push(this.#t('escalated', a, now));
        }
      }
    }
    for (const [key, a] of this.#open) {
      if (a.scope !== scope || present.has(key)) continue;
      if (a.state === 'active' && this.#latching.has(a.priority)) {
        if (!a.latched) {
          a.latched = true;
          a.updatedAt = now;
          out.push(this.#t('latched', a, now));
        }
        continue;
      }
      out.push(this.#clear(key, a, now));
    }
    return out;
  }

  /**
   * Acknowledges an active alarm in the name of `username`. A latched alarm (its
   * condition already gone) is cleared by the acknowledgement.
   * @throws {AlarmError} `alarm_not_found` (no open alarm with this id), `alarm_not_active`
   *   (already acknowledged).
   */
  acknowledge(id: string, username: string, comment: string | null, now: number): AlarmTransition[] {
    for (const [key, a] of this.#open) {
      if (a.id !== id) continue;
      if (a.state !== 'active') throw new AlarmError('alarm_not_active', 'the alarm is already acknowledged');
      a.state = 'acknowledged';
      a.ackBy = username;
      a.ackAt = now;
      a.ackComment = comment;
      a.updatedAt = now;
      const out = [this.#t('acknowledged', a, now, username)];
      if (a.latched) out.push(this.#clear(key, a, now));
      return out;
    }
    throw new AlarmError('alarm_not_found', 'no open alarm with this id');
  }

  /** Escalates active alarms left unacknowledged for `escalateAfterMs`: one priority step up, or re-notify at high. */
  tick(now: number): AlarmTransition[] {
    const out: AlarmTransition[] = [];
    for (const a of this.#open.values()) {
      if (a.state !== 'active' || now - a.notifiedAt < this.#escalateMs) continue;
      a.notifiedAt = now;
      a.escalations++;
      a.updatedAt = now;
      if (a.priority === 'high') {
        out.push(this.#t('renotified', a, now));
      } else {
        a.priority = ALARM_PRIORITIES[rank(a.priority) + 1] as AlarmPriority;
        out.push(this.#t('escalated', a, now));
      }
    }
    return out;
  }

  #setValue(a: Alarm, c: AlarmCondition): void {
    if (c.value !== undefined) a.value = c.value;
    if (c.limit !== undefined) a.limit = c.limit;
  }

  #clear(key: string, a: Alarm, now: number): AlarmTransition {
    this.#open.delete(key);
    a.state = 'cleared';
    a.latched = false;
    a.clearedAt = now;
    a.updatedAt = now;
    return this.#t('cleared', a, now);
  }

  #t(type: AlarmTransitionType, a: Alarm, at: number, by?: string): AlarmTransition {
    return { type, alarm: { ...a }, at, ...(by !== undefined ? { by } : {}) };
  }
}

// ---------------------------------------------------------------------------
// Conditions from a device's latest data (pure rules; the service feeds them).

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
}

/** Conditions of one device now: limit violations, NEWS2 trigger, technical faults. */
export function deviceConditions(
  d: DeviceAlarmInput,
  limits: AlarmLimits,
  t: TechnicalThresholds,
  now: number,
): AlarmCondition[] {
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
    const { low, high } = limits[v];
    // Limits are exclusive: a value equal to a limit does not alarm.
    const side = low !== null && value < low ? 'low' : high !== null && value > high ? 'high' : null;
    if (side) {
      const limit = (side === 'low' ? low : high) as number;
      out.push({
        code: `${v}_${side}`,
        kind: 'physiological',
        priority: LIMIT_PRIORITY[v][side],
        value,
        limit,
      });
    }
  }
  if (d.news2Band !== null && d.news2Score !== null) {
    const p = NEWS2_PRIORITY[d.news2Band];
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
