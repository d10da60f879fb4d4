/**
 * @module io/clinical/alarm-history
 * The recorded alarm transitions as the routes and the outbound alarm feed read them: a lone
 * gateway's from its store (io/clinical/alarm-store; its ledger, io/clinical/local-alarm-ledger,
 * appends them there: read as before, its gateway-wide alarms as `gateway`, no recorder
 * named), a group's from its alarm ledger (io/clinical/alarm-ledger), where a gateway-wide
 * alarm's scope names its gateway (`gateway:<id>`): this gateway's own are asked for and shown
 * as `gateway`.
 */
import type { AlarmTransition } from '../../core/alarms/index.js';
import type { AlarmEventDto } from '../../core/live-contract.js';
import { type AlarmLedger, GATEWAY_SCOPE, gatewayScopeOf } from './alarm-ledger.js';
import type { AlarmStore } from './alarm-store.js';
import { LocalAlarmLedger } from './local-alarm-ledger.js';

export class AlarmHistory {
  readonly #db: AlarmStore;
  readonly #ledger: AlarmLedger | null;
  readonly #ownScope: string;

  constructor(db: AlarmStore, group?: { ledger: AlarmLedger; gatewayId: string }) {
    this.#db = db;
    this.#ledger = group && !(group.ledger instanceof LocalAlarmLedger) ? group.ledger : null;
    this.#ownScope = gatewayScopeOf(group?.gatewayId ?? '');
  }

  /**
   * Records a transition of a board that decides alone (no ledger given to the alarm service)
   * in the store's history. Best effort: the store may be failing, which is itself an alarm.
   */
  recordAlone(t: AlarmTransition, comment: string | null): void {
    const a = t.alarm;
    try {
      const e = { alarmId: a.id, dev: a.scope, code: a.code, kind: a.kind, priority: a.priority };
      this.#db.addEvent({ ...e, scope: a.scope, event: t.type, at: t.at, by: t.by ?? null, comment });
    } catch {
      // History is best effort.
    }
  }

  /** One device's (or `gateway`'s) transitions, newest first. */
  async of(dev: string, limit: number): Promise<AlarmEventDto[]> {
    if (!this.#ledger) return this.#db.history(dev, limit);
    const rows = await this.#ledger.history(dev === GATEWAY_SCOPE ? this.#ownScope : dev, limit);
    return rows.map((e) => (e.dev === this.#ownScope ? { ...e, dev: GATEWAY_SCOPE } : e));
  }

  /** The id of the latest recorded transition (0: none yet). */
  async lastEventId(): Promise<number> {
    return this.#ledger ? this.#ledger.lastEventId() : this.#db.lastEventId();
  }

  /** Every transition from event id `from` on, in order (the outbound alarm feed). */
  async eventsFrom(
    from: number,
    limit: number,
  ): Promise<(AlarmEventDto & { id: number; gateway?: string })[]> {
    return this.#ledger ? this.#ledger.eventsFrom(from, limit) : this.#db.eventsFrom(from, limit);
  }
}
