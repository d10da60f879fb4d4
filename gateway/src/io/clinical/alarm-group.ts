/**
 * @module io/clinical/alarm-group
 * One gateway's part in deciding a group's alarms once (issue 16; io/clinical/alarm-ledger).
 * Its board (core/alarms/board) proposes transitions from the readings every gateway hears;
 * each goes to the ledger in the order it happened (one queue), and only then to this
 * gateway's sockets and, if this gateway's proposal was the one recorded, to its audit log:
 * - a raise another gateway recorded first is adopted (the board takes the group's id and
 *   state: an alarm acknowledged elsewhere shows acknowledged), never audited again;
 * - an acknowledgement made here is recorded before the board takes it, so a nurse who
 *   acknowledges what a colleague on another gateway just acknowledged is told so
 *   (`alarm_not_active`);
 * - what other gateways record (an acknowledgement, an escalation, a clear) reaches this
 *   board through the ledger's `onRemote`, and its sockets within the notification's delay;
 *   reports read together show as the latest of them (each carries the alarm as the group had
 *   it when read); one that may have been read before what this board holds of the alarm (a
 *   transition still to be decided, one recorded since, or the group's alarm as a refusal
 *   returned it) is set aside and the group's alarm read again once this board's transitions
 *   of it are decided: a report that arrives late never undoes an acknowledgement or an
 *   escalation made here;
 * - a proposal the ledger refused is shown once, as the group has it;
 * - a settings change made here (a pause, new limits: io/clinical/settings-rows) is in the
 *   group's database before the transitions it caused are recorded, and a clear recorded
 *   elsewhere is applied once this gateway has read the settings again: otherwise a board that
 *   learnt of the clear before the pause behind it would re-open the alarm (a `reactivated`
 *   for the group, then a second clear) while the patient is paused. A write held up longer
 *   than `SETTINGS_WAIT_MS` holds the transitions up no longer;
 * - at start the group's open alarms are taken, so an alarm outlives the gateway that raised it.
 * A gateway-wide technical alarm is its gateway's own (scope `gateway:<gatewayId>` in the
 * ledger: the group's history and alarm feed hold it; other boards do not show it).
 * While the ledger cannot be reached the board decides alone (alarms are never held back
 * for a database) and `unrecorded` counts what the group's history will miss; so it does, once
 * the ledger is back, for the alarms it raised meanwhile (the ledger does not hold them: their
 * acknowledgement, escalation and clear are this board's alone, shown and audited here).
 * The queue lets the event loop turn every `JOBS_PER_TURN` jobs: a burst (every bed of a big
 * ward going offline at once: 20,000 decisions of a local ledger, ~2 s) holds ingest up for
 * tens of milliseconds at a time (26-54 ms measured, `bench:alarms`), not for the whole burst.
 */
import {
  type AlarmBoard,
  AlarmError,
  type AlarmTransition,
  type SharedAlarm,
} from '../../core/alarms/index.js';
import {
  type AlarmDecision,
  type AlarmLedger,
  GATEWAY_SCOPE,
  gatewayScopeOf,
  isGatewayScope,
  type RemoteAlarmEvent,
} from './alarm-ledger.js';
import type { SharedPatientSettings } from './settings-rows.js';

/**
 * Queued jobs run back to back before the queue lets the event loop turn (its sockets, the
 * ingest): a local ledger's job takes ~0.1 ms (20,000 in ~2 s), so a few tens of ms at a time.
 */
export const JOBS_PER_TURN = 64;

/**
 * The longest a transition waits for a settings write of this gateway still on its way (one
 * held up by a lock on the table), and a clear another gateway recorded for this gateway's
 * read of the settings: then it is recorded or applied anyway, so no alarm is held back on
 * this gateway's screens for a setting. A write or a read normally takes milliseconds.
 */
export const SETTINGS_WAIT_MS = 2000;

/** Resolves when `p` settles or after `ms`, whichever is first. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((done) => {
    timer = setTimeout(done, ms);
  });
  try {
    await Promise.race([p.catch(() => {}), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** How many alarms' known event ids are remembered (a late report is late by a moment). */
const KNOWN_MAX = 10_000;

const keyOf = (a: { scope: string; code: string }) => `${a.scope}\u0000${a.code}`;

export interface AlarmGroupOptions {
  ledger: AlarmLedger;
  board: AlarmBoard;
  gatewayId: string;
  now: () => number;
  /**
   * Shows a transition on this gateway; `recorded`: this gateway's proposal was the group's
   * (audit it). Must not throw.
   */
  publish: (t: AlarmTransition, recorded: boolean, comment: string | null) => void;
  /**
   * The group's per-patient settings (io/clinical/settings-rows), when it shares them: a
   * transition a settings change made here caused is recorded after that change, and a clear
   * another gateway recorded is applied only once this gateway holds the settings it followed.
   */
  settings?: Pick<SharedPatientSettings, 'settled' | 'catchUp'>;
}

export class AlarmGroup {
  readonly #o: AlarmGroupOptions;
  readonly #gatewayScope: string;
  /** A raise this board lost: its local id → the group's id (for the transitions that follow). */
  readonly #ids = new Map<string, string>();
  /** Transitions this board made that are not decided yet, by the group's scope and code. */
  readonly #pending = new Map<string, number>();
  /**
   * By the group's alarm id: an event id this board's view of the alarm is known to include
   * (the event this gateway recorded, or the latest event when the ledger refused a proposal and
   * the board took the group's alarm as it was then).
   */
  readonly #known = new Map<string, number>();
  /** Reports set aside because this board was ahead of them: alarm id → latest event type. */
  readonly #stale = new Map<string, AlarmTransition['type']>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Jobs started since the queue last let the event loop turn. */
  #sinceTurn = 0;
  #unsubscribe: () => void = () => {};
  /** Transitions decided here alone because the ledger could not be reached. */
  unrecorded = 0;

  constructor(o: AlarmGroupOptions) {
    this.#o = o;
    this.#gatewayScope = gatewayScopeOf(o.gatewayId);
  }

  /**
   * Takes the group's open alarms and follows what other gateways record.
   * @throws {SharedStateError} `shared_unavailable`
   */
  async start(): Promise<void> {
    this.#unsubscribe = this.#o.ledger.onRemote((events) => {
      void this.#enqueue(() => this.#applyRemote(events));
    });
    await this.#enqueue(async () => {
      // Read in turn: what other gateways record meanwhile is applied after it, never before.
      const open = await this.#o.ledger.openAlarms();
      for (const a of open) {
        // This gateway's own technical alarms from before its restart end (audited here: the
        // clear is in the history and the alarm feed); its board raises them again if their
        // condition holds.
        if (a.scope === this.#gatewayScope) {
          const at = this.#o.now();
          const cleared = { ...a, state: 'cleared' as const, latched: false, clearedAt: at, updatedAt: at };
          const t: AlarmTransition = { type: 'cleared', alarm: cleared, at };
          const d = await this.#o.ledger.record(t, null);
          if (d.recorded) this.#o.publish({ ...t, alarm: { ...cleared, scope: GATEWAY_SCOPE } }, true, null);
        } else this.#take(a, 'raised', Number.POSITIVE_INFINITY);
      }
    });
  }

  stop(): void {
    this.#unsubscribe();
  }

  /** The group's scope of a local one. */
  sharedScope(scope: string): string {
    return scope === GATEWAY_SCOPE ? this.#gatewayScope : scope;
  }

  /** Decides the board's transitions in order, then shows them (see the module). */
  submit(ts: readonly AlarmTransition[], comment: string | null): void {
    if (ts.length === 0) return;
    // The board already shows them: until they are decided, reports of these alarms are older.
    const keys = ts.map((t) => keyOf({ scope: this.sharedScope(t.alarm.scope), code: t.alarm.code }));
    for (const k of keys) this.#pending.set(k, (this.#pending.get(k) ?? 0) + 1);
    // A settings change made here (a pause, new limits) is in the group's database before the
    // transitions it caused: a gateway that reads the transition finds the change too
    // (within SETTINGS_WAIT_MS: after it the transition is recorded anyway).
    const settled = this.#o.settings?.settled();
    void this.#enqueue(async () => {
      const unrecorded = this.unrecorded;
      try {
        if (settled) await within(settled, SETTINGS_WAIT_MS);
        for (const t of ts) await this.#decide(t, comment);
      } finally {
        for (const k of keys) {
          const n = (this.#pending.get(k) ?? 1) - 1;
          if (n > 0) this.#pending.set(k, n);
          else this.#pending.delete(k);
        }
      }
      if (this.unrecorded === unrecorded) await this.#refresh(); // not while the ledger is away
    });
  }

  /**
   * Acknowledges an open alarm for the group, in a user's name, then on this board.
   * @throws {AlarmError} `alarm_not_found`, `alarm_not_active` (also: acknowledged on
   *   another gateway a moment before)
   */
  acknowledge(id: string, user: string, comment: string | null): Promise<AlarmTransition> {
    return this.#enqueue(async () => {
      const { board, now } = this.#o;
      const a = board.get(id);
      if (!a) throw new AlarmError('alarm_not_found', 'no open alarm with this id');
      if (a.state !== 'active') throw new AlarmError('alarm_not_active', 'the alarm is already acknowledged');
      const at = now();
      const proposal: AlarmTransition = {
        type: 'acknowledged',
        alarm: { ...a, state: 'acknowledged', ackBy: user, ackAt: at, ackComment: comment, updatedAt: at },
        at,
        by: user,
      };
      const d = await this.#record(proposal, comment);
      if (d && !d.recorded && d.shared) {
        this.#applyShared(d.shared, 'acknowledged');
        throw new AlarmError('alarm_not_active', 'the alarm was acknowledged on another gateway');
      }
      if (d && !d.recorded) this.unrecorded++; // raised here while the ledger was away
      const [ack, ...rest] = board.acknowledge(id, user, comment, at);
      this.#o.publish(ack as AlarmTransition, true, comment);
      for (const t of rest) await this.#decide(t, null); // a latched alarm clears with it
      return (rest.at(-1) ?? ack) as AlarmTransition;
    });
  }

  async #decide(proposed: AlarmTransition, comment: string | null): Promise<void> {
    // Made before this board took the group's id for a raise it lost: shown and audited under
    // the group's id (the one the ledger, the history and the alarm feed know).
    const groupId = this.#ids.get(proposed.alarm.id);
    const t = groupId ? { ...proposed, alarm: { ...proposed.alarm, id: groupId } } : proposed;
    const d = await this.#record(t, comment);
    if (t.type === 'cleared') this.#ids.delete(proposed.alarm.id);
    if (!d || d.recorded) {
      this.#o.publish(t, true, comment);
      return;
    }
    if (!d.shared && t.type !== 'raised') {
      // The ledger does not hold the alarm: raised here while it was away, decided here alone.
      this.unrecorded++;
      this.#o.publish(t, true, comment);
      return;
    }
    if ((t.type === 'raised' || t.type === 'reactivated') && d.shared && d.shared.id !== t.alarm.id) {
      // Another gateway raised it first: this board shows the group's alarm, not its own.
      this.#ids.set(proposed.alarm.id, d.shared.id);
      if (t.alarm.scope === GATEWAY_SCOPE) this.#o.publish(t, false, comment);
      else if (this.#o.board.get(proposed.alarm.id)) this.#applyShared(d.shared, t.type);
      return;
    }
    // Shown once: as the group has it when that differs from this board's proposal.
    const shown = d.shared ? this.#adopt(d.shared, t.type) : null;
    this.#o.publish(shown ?? t, false, comment);
  }

  /** The ledger's decision, or null when it cannot be reached (decided here alone). */
  async #record(t: AlarmTransition, comment: string | null) {
    const id = this.#ids.get(t.alarm.id) ?? t.alarm.id;
    const shared: AlarmTransition = {
      ...t,
      alarm: { ...t.alarm, id, scope: this.sharedScope(t.alarm.scope) },
    };
    let d: AlarmDecision;
    try {
      d = await this.#o.ledger.record(shared, comment);
    } catch {
      this.unrecorded++;
      return null;
    }
    if (d.recorded) this.#know(id, d.eventId);
    else {
      // The board takes `d.shared`, as new as the latest event (the one that refused this
      // proposal, at least): reports read before it must not undo it.
      const latest = await this.#o.ledger.lastEventId().catch(() => 0);
      this.#know(d.shared?.id ?? id, latest);
    }
    return d;
  }

  #know(id: string, eventId: number): void {
    const v = Math.max(eventId, this.#known.get(id) ?? 0);
    this.#known.delete(id);
    this.#known.set(id, v);
    if (this.#known.size > KNOWN_MAX) this.#known.delete(this.#known.keys().next().value as string);
  }

  async #applyRemote(events: readonly RemoteAlarmEvent[]): Promise<void> {
    // Each event comes with its alarm as the group has it now, after the later events of the
    // batch too: each alarm is applied once, named after its latest event (a raise and its
    // acknowledgement read together show as the acknowledgement, not as a raise).
    const latest = new Map<string, RemoteAlarmEvent>();
    for (const e of events) {
      latest.delete(e.alarm.id);
      latest.set(e.alarm.id, e);
    }
    // A clear recorded elsewhere may follow a settings change there (a pause, wider limits)
    // whose notification is still on its way: without it this board, still seeing the breach,
    // would re-open the alarm it just ended. Settings unreachable, or slower than
    // SETTINGS_WAIT_MS: applied as they are.
    if (this.#o.settings && [...latest.values()].some((e) => e.alarm.state === 'cleared'))
      await within(this.#o.settings.catchUp(), SETTINGS_WAIT_MS);
    for (const { event, alarm } of latest.values()) {
      if (isGatewayScope(alarm.scope)) continue; // another gateway's own technical alarm
      this.#take(alarm, event.event as AlarmTransition['type'], event.id);
    }
    await this.#refresh();
  }

  /**
   * Applies the group's copy of an alarm, read with its event `eventId`, unless it may have
   * been read before what this board holds of it (a transition of it still to be decided, or a
   * decision about it known to follow that event): then it is set aside for `#refresh`.
   */
  #take(a: SharedAlarm, type: AlarmTransition['type'], eventId: number): void {
    if ((this.#pending.get(keyOf(a)) ?? 0) > 0 || (this.#known.get(a.id) ?? 0) > eventId) {
      this.#stale.set(a.id, type);
      return;
    }
    this.#stale.delete(a.id);
    this.#applyShared(a, type);
  }

  /**
   * Reads the group's open alarms again for the reports set aside, once this board's own
   * transitions of them are decided (the read follows them), and applies them. One no longer
   * open ended since: its clear is reported in turn, or was this board's.
   */
  async #refresh(): Promise<void> {
    if (this.#stale.size === 0) return;
    let open: SharedAlarm[];
    try {
      open = await this.#o.ledger.openAlarms();
    } catch {
      return; // the next report or decision tries again
    }
    const byId = new Map(open.map((a) => [a.id, a]));
    for (const [id, type] of this.#stale) {
      const a = byId.get(id);
      if (a && (this.#pending.get(keyOf(a)) ?? 0) > 0) continue; // ahead again: after that decision
      this.#stale.delete(id);
      if (a) this.#applyShared(a, type);
    }
  }

  #applyShared(a: SharedAlarm, type: AlarmTransition['type']): void {
    const t = this.#adopt(a, type);
    if (t) this.#o.publish(t, false, null);
  }

  /** The board takes the group's alarm; the transition to show, or null (no change, another gateway's own). */
  #adopt(a: SharedAlarm, type: AlarmTransition['type']): AlarmTransition | null {
    if (isGatewayScope(a.scope)) return null;
    return this.#o.board.applyShared(a, a.state === 'cleared' ? 'cleared' : type, this.#o.now());
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const start = (): Promise<T> => {
      if (++this.#sinceTurn < JOBS_PER_TURN) return job();
      this.#sinceTurn = 0;
      return new Promise<void>((turned) => setImmediate(turned)).then(job);
    };
    const run = this.#queue.then(start, start);
    this.#queue = run.catch(() => {});
    return run;
  }
}
