/**
 * @module io/interfaces/alarm-source
 * The alarm feed of the outbound interfaces (issue 19: "every alarm raised, escalated,
 * acknowledged or cleared goes out"): the recorded alarm transitions
 * (`dashboard_alarm_events`, written by the alarm service when a transition happens), in
 * the order they happened, each with the bed and patient its device was bound to when it
 * happened (io/store Bindings, opened with the gateway's key). A durable source: the cursor
 * is the event id, so a webhook that is down gets every transition later, in order.
 *
 * In a gateway group (io/clinical/alarm-group) the event ids are the group's and each
 * transition was recorded by one gateway: each gateway's feed carries the transitions it
 * recorded (`gatewayId`), so with the same interfaces configured on every gateway each
 * transition goes out once, and while one gateway is down the others go on deciding and sending.
 */
import type { OutboundAlarm } from '../../core/outbound-alarm.js';
import type { AlarmService } from '../clinical/index.js';
import type { BindingBook } from '../store/index.js';
import type { DeliverySource } from './receiver.js';

export type { OutboundAlarm } from '../../core/outbound-alarm.js';

/** Transitions read per page when counting a backlog. */
const BACKLOG_PAGE = 1000;

export class AlarmSource implements DeliverySource<OutboundAlarm> {
  readonly kind = 'alarms';
  readonly #alarms: Pick<AlarmService, 'eventsFrom'>;
  readonly #bindings: BindingBook | null;

  readonly #withPatient: boolean;
  readonly #gatewayId: string | undefined;

  /**
   * @param withPatient also open the patient id of each transition's binding (needs a
   *   recipient private key; the PCD-04 feed). Without it only the bed is read (the webhook).
   * @param gatewayId this gateway: in a group, only the transitions it recorded are its feed's
   */
  constructor(
    alarms: Pick<AlarmService, 'eventsFrom'>,
    bindings: BindingBook | null,
    withPatient = false,
    gatewayId?: string,
  ) {
    this.#alarms = alarms;
    this.#bindings = bindings;
    this.#withPatient = withPatient;
    this.#gatewayId = gatewayId;
  }

  async after(from: number, limit: number): Promise<{ items: OutboundAlarm[]; next: number }> {
    const rows = await this.#alarms.eventsFrom(from, limit);
    if (rows.length === 0) return { items: [], next: from };
    const items: OutboundAlarm[] = [];
    for (const row of rows) if (this.#mine(row)) items.push(await this.#toItem(row));
    return { items, next: rows.at(-1)!.id + 1 };
  }

  /** The transition with event id `eventId` (a dead letter's replay), or null. */
  async item(id: string, eventId: number): Promise<OutboundAlarm | null> {
    const row = (await this.#alarms.eventsFrom(eventId, 1))[0];
    if (!row || row.id !== eventId || `alarm-event:${row.id}` !== id || !this.#mine(row)) return null;
    return this.#toItem(row);
  }

  /**
   * The transitions from event id `from` on that this feed will send (its own, in a group),
   * for `outbound status` and `/metrics`: read in pages of the recorded transitions, so a
   * group's backlog is counted in its ledger.
   */
  async backlog(from: number): Promise<{ pending: number; oldestAt: number | null }> {
    let pending = 0;
    let oldestAt: number | null = null;
    for (let next = from; ; ) {
      const rows = await this.#alarms.eventsFrom(next, BACKLOG_PAGE);
      for (const row of rows) {
        if (!this.#mine(row)) continue;
        pending++;
        oldestAt ??= row.at;
      }
      if (rows.length < BACKLOG_PAGE) return { pending, oldestAt };
      next = rows.at(-1)!.id + 1;
    }
  }

  /** A lone gateway's transitions are all its own; a group's name the gateway that recorded them. */
  #mine(row: { gateway?: string }): boolean {
    return row.gateway === undefined || this.#gatewayId === undefined || row.gateway === this.#gatewayId;
  }

  async #toItem({
    id,
    gateway: _recordedBy,
    ...event
  }: Awaited<ReturnType<AlarmService['eventsFrom']>>[number]): Promise<OutboundAlarm> {
    // The binding when the transition happened (a gateway-wide alarm has none).
    const b = this.#withPatient ? await this.#bindings?.at(event.dev, event.at) : null;
    return {
      ...event,
      id: `alarm-event:${id}`,
      eventId: id,
      bed: b ? b.bed : (this.#bindings?.bedAt(event.dev, event.at) ?? null),
      ...(b ? { binding: { bed: b.bed, patientId: b.patientId } } : {}),
    };
  }

  positionOf(a: OutboundAlarm): number {
    return a.eventId;
  }

  idOf(a: OutboundAlarm): string {
    return a.id;
  }
}
