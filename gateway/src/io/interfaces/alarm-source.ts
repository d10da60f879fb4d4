/**
 * @module io/interfaces/alarm-source
 * The alarm feed of the outbound interfaces (issue 19: "every alarm raised, escalated,
 * acknowledged or cleared goes out"): the recorded alarm transitions
 * (`dashboard_alarm_events`, written by the alarm service when a transition happens), in
 * the order they happened, each with the bed its device is in. A durable source: the cursor
 * is the event id, so a webhook that is down gets every transition later, in order.
 */
import type { AlarmEventDto } from '../../core/live-contract.js';
import type { AlarmService } from '../clinical/index.js';
import type { Bindings } from '../store/index.js';
import type { DeliverySource } from './receiver.js';

/** One alarm transition as the webhook sends it: the recorded transition (core/live-contract), its ids and bed. */
export interface OutboundAlarm extends AlarmEventDto {
  /** Stable id of this transition (`alarm-event:<n>`): the de-duplication key. */
  id: string;
  eventId: number;
  bed: string | null;
}

export class AlarmSource implements DeliverySource<OutboundAlarm> {
  readonly kind = 'alarms';
  readonly #alarms: AlarmService;
  readonly #bindings: Bindings | null;

  constructor(alarms: AlarmService, bindings: Bindings | null) {
    this.#alarms = alarms;
    this.#bindings = bindings;
  }

  async after(from: number, limit: number): Promise<{ items: OutboundAlarm[]; next: number }> {
    const rows = this.#alarms.eventsFrom(from, limit);
    if (rows.length === 0) return { items: [], next: from };
    const beds = new Map((this.#bindings?.beds() ?? []).map((b) => [b.dev, b.bed]));
    return {
      items: rows.map(({ id, ...event }) => ({
        ...event,
        id: `alarm-event:${id}`,
        eventId: id,
        bed: beds.get(event.dev) ?? null,
      })),
      next: rows.at(-1)!.id + 1,
    };
  }

  positionOf(a: OutboundAlarm): number {
    return a.eventId;
  }

  idOf(a: OutboundAlarm): string {
    return a.id;
  }
}
