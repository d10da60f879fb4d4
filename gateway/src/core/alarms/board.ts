/**
 * @module core/alarms/board
 * The alarm state machine of the ward (ARCHITECTURE.md "Clinical layer"), after
 * IEC 60601-1-8: conditions become alarms (active → acknowledged → cleared); physiological
 * alarms raised at high priority LATCH (§6.5.4: the signal continues after the condition
 * ends until an operator acknowledges it); unacknowledged physiological alarms escalate
 * (one priority step, then re-notify at high), technical ones only re-notify at their own
 * priority and never latch (a device offline is not a patient's emergency); and alarm
 * episodes (issue 15): a new breach of the same condition within its episode gap after
 * the alarm cleared re-opens that alarm (same id, `reactivated`) instead of a new one.
 * Pure: no clock (every call takes `now`), no I/O; every change is returned as a
 * transition for the I/O shell to audit and broadcast.
 */
import {
  ALARM_PRIORITIES,
  type Alarm,
  type AlarmCondition,
  AlarmError,
  type AlarmPriority,
  type AlarmTransition,
  type AlarmTransitionType,
  priorityRank as rank,
  SHARED_ALARM_FIELDS,
  type SharedAlarm,
} from './model.js';

export interface AlarmBoardOptions {
  /** Unacknowledged active alarms escalate (or re-notify) after this. Default 120 s. */
  escalateAfterMs?: number;
  /** Which base priorities of physiological alarms latch. Default: high only. Technical alarms never latch. */
  latching?: readonly AlarmPriority[];
  /** Id generator; default `a<counter>`. */
  newId?: () => string;
  /**
   * How long after a scope's alarm of `code` cleared a new breach re-opens it (its episode
   * gap, ms; core/alarms/policy `episodeGapSeconds`). Asked when the alarm clears. Default 0: never.
   */
  episodeGapMs?: (scope: string, code: string) => number;
  /**
   * How long an alarm taken from the group (`applyShared`) stays foreign when this board does
   * not see its condition: within it the raising gateway's board was ahead (a filter's delay
   * began there earlier, or this gateway started later); after it, this board ends it as its
   * own (the raising gateway may be gone). Default 180 s (the longest alarm delay plus the
   * longest averaging, core/alarms/policy).
   */
  foreignGraceMs?: number;
  /**
   * The ledger is this gateway's alone (a lone gateway's, io/clinical LocalAlarmLedger): an
   * alarm taken from it at a start is this board's own, so even a `LOCALLY_OBSERVED` one ends
   * after `foreignGraceMs` without its condition (a break-glass opening that ended while the
   * gateway was down). Default false: a group's ledger, whose other gateways observe their own.
   */
  ownLedger?: boolean;
}

/**
 * Conditions only the gateway that observes them can see (the signature failures of the
 * frames it received; a break-glass opening made on it, io/care/break-glass): taken from the
 * group, they stay foreign until that gateway ends them.
 */
export const LOCALLY_OBSERVED: ReadonlySet<string> = new Set(['signature_failures', 'break_glass_access']);

export const DEFAULT_ESCALATE_AFTER_MS = 120_000;

/** A cleared alarm that a new breach within its gap re-opens. */
interface Recent {
  alarm: Alarm;
  until: number;
}

const keyOf = (scope: string, code: string) => `${scope}\u0000${code}`;

const NO_ALARMS: ReadonlyMap<string, Alarm> = new Map();

/** The user of a shared acknowledgement (the transition's `by`); none for other transitions. */
const ackerOf = (type: AlarmTransitionType, s: SharedAlarm): string | undefined =>
  type === 'acknowledged' ? (s.ackBy ?? undefined) : undefined;

/**
 * The open alarms of a ward and their transitions.
 * @example
 * const board = new AlarmBoard();
 * board.evaluate('wr-0001', deviceConditions(input, limits, DEFAULT_TECHNICAL, now), now);
 * // → e.g. [{ type: 'raised', alarm: { state: 'active', triggerValue: 85, ... } }] for SpO2 85 %
 */
export class AlarmBoard {
  /** Open (not cleared) alarms by `${scope}\u0000${code}`. */
  readonly #open = new Map<string, Alarm>();
  /**
   * The same alarms by scope, in the same order: a scope's evaluation (every reading of its
   * device, every tick) walks its own alarms, not the ward's (`#put` and `#clear` keep both).
   */
  readonly #byScope = new Map<string, Map<string, Alarm>>();
  /** Cleared alarms still within their episode gap, same keys. */
  readonly #recent = new Map<string, Recent>();
  /**
   * Keys of open alarms this board holds only because another gateway of its group raised
   * them (`applyShared`) and whose condition it has not seen itself: `evaluate` never ends
   * them (the gateway that sees the condition does, and says so).
   */
  readonly #foreign = new Map<string, number>();
  readonly #foreignGraceMs: number;
  readonly #ownLedger: boolean;
  readonly #escalateMs: number;
  readonly #latching: ReadonlySet<AlarmPriority>;
  readonly #newId: () => string;
  readonly #gapMs: (scope: string, code: string) => number;

  /** @throws {RangeError} when `escalateAfterMs` is not a positive integer. */
  constructor(opts: AlarmBoardOptions = {}) {
    const e = opts.escalateAfterMs ?? DEFAULT_ESCALATE_AFTER_MS;
    if (!Number.isSafeInteger(e) || e <= 0)
      throw new RangeError('AlarmBoard: escalateAfterMs must be a positive integer');
    this.#escalateMs = e;
    this.#latching = new Set(opts.latching ?? ['high']);
    let n = 0;
    this.#newId = opts.newId ?? (() => `a${++n}`);
    this.#gapMs = opts.episodeGapMs ?? (() => 0);
    this.#foreignGraceMs = opts.foreignGraceMs ?? 180_000;
    this.#ownLedger = opts.ownLedger ?? false;
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
   * ones (or re-opens one cleared within its episode gap), raises the priority of worse
   * ones (re-activating an acknowledged alarm whose condition got worse), and ends alarms
   * whose condition is gone (cleared, or latched while a latching alarm is
   * unacknowledged). A latched alarm whose condition returns is active again.
   */
  evaluate(scope: string, conditions: readonly AlarmCondition[], now: number): AlarmTransition[] {
    const out: AlarmTransition[] = [];
    const present = new Set<string>();
    for (const c of conditions) {
      const key = keyOf(scope, c.code);
      if (present.has(key)) continue; // one alarm per code and scope
      present.add(key);
      const a = this.#open.get(key);
      this.#foreign.delete(key); // seen here now: this board ends it when it goes
      if (!a) {
        out.push(this.#raise(key, scope, c, now));
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
        if (worse) a.priority = c.priority;
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
    for (const [key, a] of this.#byScope.get(scope) ?? NO_ALARMS) {
      if (present.has(key) || (this.#foreign.get(key) ?? 0) > now) continue;
      this.#foreign.delete(key);
      if (a.state === 'active' && this.#latches(a)) {
        if (!a.latched) {
          a.latched = true;
          a.updatedAt = now;
          out.push(this.#t('latched', a, now));
        }
        continue;
      }
      out.push(this.#clear(key, a, now, true));
    }
    return out;
  }

  /**
   * Clears every open alarm of a scope at once, latched ones included, and forgets its
   * episodes (a bed put in standby: what follows it is a new episode).
   */
  clearScope(scope: string, now: number): AlarmTransition[] {
    const out: AlarmTransition[] = [];
    for (const [key, a] of this.#byScope.get(scope) ?? NO_ALARMS) out.push(this.#clear(key, a, now, false));
    for (const [key, r] of this.#recent) if (r.alarm.scope === scope) this.#recent.delete(key);
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
      if (a.latched) out.push(this.#clear(key, a, now, true));
      return out;
    }
    throw new AlarmError('alarm_not_found', 'no open alarm with this id');
  }

  /**
   * Alarms left active and unacknowledged for `escalateAfterMs`: a physiological one goes
   * one priority step up (re-notified once at high); a technical one is re-notified at its
   * own priority. Also forgets episodes whose gap has passed.
   */
  tick(now: number): AlarmTransition[] {
    for (const [key, r] of this.#recent) if (now > r.until) this.#recent.delete(key);
    const out: AlarmTransition[] = [];
    for (const a of this.#open.values()) {
      if (a.state !== 'active' || now - a.notifiedAt < this.#escalateMs) continue;
      a.notifiedAt = now;
      a.escalations++;
      a.updatedAt = now;
      if (a.kind === 'technical' || a.priority === 'high') {
        out.push(this.#t('renotified', a, now));
      } else {
        a.priority = ALARM_PRIORITIES[rank(a.priority) + 1] as AlarmPriority;
        out.push(this.#t('escalated', a, now));
      }
    }
    return out;
  }

  /**
   * Makes this board's view of an alarm the group's (issue 16, io/clinical/alarm-group): the
   * open alarm of the same scope and code takes the shared id and state (a raise this
   * gateway lost, an acknowledgement or escalation decided on another gateway); an alarm
   * this board does not hold is added, foreign (`foreignGraceMs`, `LOCALLY_OBSERVED`) until
   * its condition is seen here; one the
   * group ended ends here (its episode kept). The vital values stay this board's own.
   * @returns the transition to show on this gateway (of `type`), or null when nothing changed
   */
  applyShared(s: SharedAlarm, type: AlarmTransitionType, now: number): AlarmTransition | null {
    const key = keyOf(s.scope, s.code);
    const cur = this.#open.get(key);
    if (s.state === 'cleared') {
      if (!cur || cur.id !== s.id) return null;
      return this.#clear(key, cur, now, true);
    }
    if (cur) {
      let changed = false;
      for (const f of SHARED_ALARM_FIELDS) {
        if (cur[f] === s[f]) continue;
        (cur as unknown as Record<string, unknown>)[f] = s[f];
        changed = true;
      }
      return changed ? this.#t(type, cur, now, ackerOf(type, s)) : null;
    }
    const recent = this.#recent.get(key);
    this.#recent.delete(key);
    const a: Alarm = { ...(recent?.alarm.id === s.id ? recent.alarm : {}), ...s };
    this.#put(key, a);
    this.#foreign.set(
      key,
      LOCALLY_OBSERVED.has(a.code) && !this.#ownLedger
        ? Number.POSITIVE_INFINITY
        : now + this.#foreignGraceMs,
    );
    return this.#t(type, a, now, ackerOf(type, s));
  }

  #latches(a: Alarm): boolean {
    return a.kind === 'physiological' && this.#latching.has(a.basePriority);
  }

  #raise(key: string, scope: string, c: AlarmCondition, now: number): AlarmTransition {
    const recent = this.#recent.get(key);
    this.#recent.delete(key);
    if (recent && now <= recent.until) {
      // The same episode: the cleared alarm is open again, to be acknowledged anew.
      const a = recent.alarm;
      Object.assign(a, {
        priority: c.priority,
        basePriority: c.priority,
        state: 'active',
        latched: false,
        updatedAt: now,
        ackBy: null,
        ackAt: null,
        ackComment: null,
        clearedAt: null,
        notifiedAt: now,
      } satisfies Partial<Alarm>);
      this.#setValue(a, c);
      if (c.value !== undefined) a.triggerValue = c.value;
      this.#put(key, a);
      return this.#t('reactivated', a, now);
    }
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
      ...(c.value !== undefined ? { triggerValue: c.value } : {}),
      escalations: 0,
      notifiedAt: now,
    };
    this.#put(key, alarm);
    return this.#t('raised', alarm, now);
  }

  #setValue(a: Alarm, c: AlarmCondition): void {
    if (c.value !== undefined) a.value = c.value;
    if (c.limit !== undefined) a.limit = c.limit;
    if (c.detail !== undefined) a.detail = c.detail;
  }

  #put(key: string, a: Alarm): void {
    this.#open.set(key, a);
    let mine = this.#byScope.get(a.scope);
    if (!mine) {
      mine = new Map();
      this.#byScope.set(a.scope, mine);
    }
    mine.set(key, a);
  }

  /** Ends an alarm; `episode`: it may re-open within its gap. */
  #clear(key: string, a: Alarm, now: number, episode: boolean): AlarmTransition {
    this.#open.delete(key);
    const mine = this.#byScope.get(a.scope);
    mine?.delete(key);
    if (mine?.size === 0) this.#byScope.delete(a.scope);
    this.#foreign.delete(key);
    a.state = 'cleared';
    a.latched = false;
    a.clearedAt = now;
    a.updatedAt = now;
    const gap = episode ? this.#gapMs(a.scope, a.code) : 0;
    if (gap > 0) this.#recent.set(key, { alarm: a, until: now + gap });
    return this.#t('cleared', a, now);
  }

  #t(type: AlarmTransitionType, a: Alarm, at: number, by?: string): AlarmTransition {
    return { type, alarm: { ...a }, at, ...(by !== undefined ? { by } : {}) };
  }
}
