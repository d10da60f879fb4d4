/**
 * @module io/interfaces/delivery-status
 * The delivery state of each outbound interface (issue 19: "visible in /metrics and in
 * `vitaltrail outbound status` (pending, oldest age, last error)"), computed once for both:
 * per receiver, what is pending behind its cursor and the age of the oldest of it, what was
 * delivered, the last success and the last error, the consecutive failures, the dead letters.
 * A reading receiver's cursor walks the log (pending = log positions not yet acknowledged); the
 * alarm webhook's walks the recorded alarm transitions (pending = transitions not yet sent).
 *
 * Cheap enough for every `/metrics` scrape: per receiver one row of `outbound_cursors` with
 * its dead-letter count, the log size (held in memory), and one row by primary key or unique
 * index (the oldest pending frame or alarm event), never a scan of the log.
 *
 * In a gateway group the alarm transitions are the group's (io/clinical/alarm-ledger), and
 * each gateway's webhook sends those it recorded: the caller passes `alarmBacklog`
 * (io/interfaces/alarm-source `AlarmSource.backlog`), which counts them in the group's ledger.
 */
import { AlarmStore } from '../clinical/index.js';
import type { GatewayStore } from '../store/index.js';
import { DeliveryState } from './delivery-state.js';

/** One receiver's delivery state. Times are ms since the epoch. */
export interface OutboundStatus {
  receiver: string;
  /** Log positions (readings) or alarm transitions not yet acknowledged by the receiver. */
  pending: number;
  /** Age of the oldest pending item, whole seconds (its acceptance or its transition time); null when none. */
  oldestPendingSeconds: number | null;
  /** Items the receiver acknowledged, ever. */
  delivered: number;
  lastOkAt: number | null;
  /** `<code>: <reason>` of the last failure (io/interfaces/receiver `DeliveryError`). */
  lastError: string | null;
  lastErrorAt: number | null;
  /** Consecutive failed attempts since the last success (the backoff's exponent). */
  failures: number;
  /** Items the receiver refused, set aside in `outbound_dead_letters`. */
  deadLetters: number;
}

/** What waits behind an alarm cursor: the count and the time of the oldest transition. */
export interface AlarmBacklog {
  pending: number;
  oldestAt: number | null;
}

/** The alarm transitions from event id `from` on that this gateway's alarm feed will send. */
export type AlarmBacklogOf = (from: number) => Promise<AlarmBacklog>;

/** A lone gateway's alarm backlog: every transition in its store from `from` on. */
function localAlarmBacklog(store: GatewayStore): AlarmBacklogOf {
  const alarms = new AlarmStore(store);
  return async (from) => ({
    pending: Math.max(0, alarms.lastEventId() + 1 - from),
    oldestAt: alarms.eventsFrom(from, 1)[0]?.at ?? null,
  });
}

/**
 * The status of every receiver the store has a cursor for (including receivers no longer
 * configured), in receiver-name order.
 * @param now the clock the oldest pending item's age is measured against (ms)
 * @param alarmBacklog a group's alarm backlog (default: the store's own alarm transitions)
 * @example
 * for (const s of await deliveryStatus(store, Date.now())) console.log(s.receiver, s.pending);
 */
export async function deliveryStatus(
  store: GatewayStore,
  now: number,
  alarmBacklog: AlarmBacklogOf = localAlarmBacklog(store),
): Promise<OutboundStatus[]> {
  const out: OutboundStatus[] = [];
  for (const c of new DeliveryState(store).all()) {
    // A reading receiver walks the log; the alarm webhook walks the alarm event ids.
    const { pending, oldestAt } =
      c.source === 'alarms'
        ? await alarmBacklog(c.nextLeaf)
        : {
            pending: store.size - c.nextLeaf,
            oldestAt: store.framesFrom(c.nextLeaf, 1)[0]?.acceptedAt ?? null,
          };
    out.push({
      receiver: c.receiver,
      pending: Math.max(0, pending),
      oldestPendingSeconds: oldestAt === null ? null : Math.max(0, Math.round((now - oldestAt) / 1000)),
      delivered: c.delivered,
      lastOkAt: c.lastOkAt,
      lastError: c.lastError,
      lastErrorAt: c.lastErrorAt,
      failures: c.failures,
      deadLetters: c.deadLetters,
    });
  }
  return out;
}
