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
 * - at start the group's open alarms are taken, so an alarm outlives the gateway that raised it.
 * A gateway-wide technical alarm is its gateway's own (scope `gateway:<gatewayId>` in the
 * ledger: the group's history and alarm feed hold it; other boards do not show it).
 * While the ledger cannot be reached the board decides alone (alarms are never held back
 * for a database) and `unrecorded` counts what the group's history will miss.
 */
import {
  type AlarmBoard,
  AlarmError,
  type AlarmTransition,
  type SharedAlarm,
} from '../../core/alarms/index.js';
import type { AlarmLedger, RemoteAlarmEvent } from './alarm-ledger.js';

/** The local scope of gateway-wide technical alarms (io/clinical/alarm-service). */
const GATEWAY = 'gateway';

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
}

export class AlarmGroup {
  readonly #o: AlarmGroupOptions;
  readonly #gatewayScope: string;
  /** A raise this board lost: its local id → the group's id (for the transitions that follow). */
  readonly #ids = new Map<string, string>();
  #queue: Promise<unknown> = Promise.resolve();
  #unsubscribe: () => void = () => {};
  /** Transitions decided here alone because the ledger could not be reached. */
  unrecorded = 0;

  constructor(o: AlarmGroupOptions) {
    this.#o = o;
    this.#gatewayScope = `${GATEWAY}:${o.gatewayId}`;
  }

  /**
   * Takes the group's open alarms and follows what other gateways record.
   * @throws {SharedStateError} `shared_unavailable`
   */
  async start(): Promise<void> {
    this.#unsubscribe = this.#o.ledger.onRemote((events) => {
      void this.#enqueue(async () => this.#applyRemote(events));
    });
    const open = await this.#o.ledger.openAlarms();
    await this.#enqueue(async () => {
      for (const a of open) {
        // This gateway's own technical alarms from before its restart end; its board raises
        // them again if their condition holds.
        if (a.scope === this.#gatewayScope) {
          const at = this.#o.now();
          const cleared = { ...a, state: 'cleared' as const, clearedAt: at, updatedAt: at };
          await this.#o.ledger.record({ type: 'cleared', alarm: { ...cleared }, at }, null);
        } else this.#applyShared(a, 'raised');
      }
    });
  }

  stop(): void {
    this.#unsubscribe();
  }

  /** The group's scope of a local one. */
  sharedScope(scope: string): string {
    return scope === GATEWAY ? this.#gatewayScope : scope;
  }

  /** Decides the board's transitions in order, then shows them (see the module). */
  submit(ts: readonly AlarmTransition[], comment: string | null): void {
    if (ts.length === 0) return;
    void this.#enqueue(async () => {
      for (const t of ts) await this.#decide(t, comment);
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
      if (d && !d.recorded) {
        if (d.shared) this.#applyShared(d.shared, 'acknowledged');
        throw new AlarmError('alarm_not_active', 'the alarm was acknowledged on another gateway');
      }
      const [ack, ...rest] = board.acknowledge(id, user, comment, at);
      this.#o.publish(ack as AlarmTransition, true, comment);
      for (const t of rest) await this.#decide(t, null); // a latched alarm clears with it
      return (rest.at(-1) ?? ack) as AlarmTransition;
    });
  }

  async #decide(t: AlarmTransition, comment: string | null): Promise<void> {
    const d = await this.#record(t, comment);
    if (t.type === 'cleared') this.#ids.delete(t.alarm.id);
    if (!d || d.recorded) {
      this.#o.publish(t, true, comment);
      return;
    }
    if ((t.type === 'raised' || t.type === 'reactivated') && d.shared && d.shared.id !== t.alarm.id) {
      // Another gateway raised it first: this board shows the group's alarm, not its own.
      this.#ids.set(t.alarm.id, d.shared.id);
      if (t.alarm.scope === GATEWAY) this.#o.publish(t, false, comment);
      else if (this.#o.board.get(t.alarm.id)) this.#applyShared(d.shared, t.type);
      return;
    }
    this.#o.publish(t, false, comment);
    if (d.shared) this.#applyShared(d.shared, t.type);
  }

  /** The ledger's decision, or null when it cannot be reached (decided here alone). */
  async #record(t: AlarmTransition, comment: string | null) {
    const id = this.#ids.get(t.alarm.id) ?? t.alarm.id;
    const shared: AlarmTransition = {
      ...t,
      alarm: { ...t.alarm, id, scope: this.sharedScope(t.alarm.scope) },
    };
    try {
      return await this.#o.ledger.record(shared, comment);
    } catch {
      this.unrecorded++;
      return null;
    }
  }

  #applyRemote(events: readonly RemoteAlarmEvent[]): void {
    for (const { event, alarm } of events) {
      if (alarm.scope.startsWith(`${GATEWAY}:`)) continue; // another gateway's own technical alarm
      this.#applyShared(alarm, event.event as AlarmTransition['type']);
    }
  }

  #applyShared(a: SharedAlarm, type: AlarmTransition['type']): void {
    if (a.scope.startsWith(`${GATEWAY}:`)) return;
    const t = this.#o.board.applyShared(a, a.state === 'cleared' ? 'cleared' : type, this.#o.now());
    if (t) this.#o.publish(t, false, null);
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job, job);
    this.#queue = run.catch(() => {});
    return run;
  }
}
