/**
 * @module io/clinical/alarm-ledger
 * Where the gateways of a group decide their alarms once (issue 16: "a given alarm is
 * raised, escalated and acknowledged once across the group, survives the loss of the node
 * that raised it, and every transition is audited once"). Every gateway hears every reading
 * (the internal live stream), so every gateway's board proposes the same transitions; the
 * ledger records a transition only if the group's alarm is still in the state it leaves, and
 * the one gateway whose proposal was recorded audits it. Implemented on PostgreSQL by
 * io/shared/pg-alarms, and for a lone gateway on its data dir's SQLite store by
 * io/clinical/local-alarm-ledger (the same rules, so its alarms and acknowledgements outlive a
 * restart); io/clinical/alarm-group drives either. test/integration/alarm-ledger-abstract.ts
 * holds both to one behaviour.
 */
import type {
  AlarmKind,
  AlarmPriority,
  AlarmState,
  AlarmTransition,
  SharedAlarm,
} from '../../core/alarms/index.js';
import type { AlarmEventDto } from '../../core/live-contract.js';

/** The scope of a board's gateway-wide technical alarms (storage failing, anchoring delayed, …). */
export const GATEWAY_SCOPE = 'gateway';

/** A gateway-wide alarm's scope in the ledger: it names the gateway it belongs to. */
export const gatewayScopeOf = (gatewayId: string): string => `${GATEWAY_SCOPE}:${gatewayId}`;

/** Whether a ledger scope is some gateway's own (a gateway-wide alarm), not a device's. */
export const isGatewayScope = (scope: string): boolean => scope.startsWith(`${GATEWAY_SCOPE}:`);

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * A row of a ledger's alarms table (`ward_alarms` in PostgreSQL, `dashboard_alarms` in SQLite:
 * the same columns) as the group's alarm. Numbers may come as text (PostgreSQL bigint) and the
 * latch as 0/1 (SQLite); `scope` is the row's scope as the ledger speaks it.
 */
export function sharedAlarmOfRow(r: Record<string, unknown>, scope = r.scope as string): SharedAlarm {
  return {
    id: r.id as string,
    scope,
    code: r.code as string,
    kind: r.kind as AlarmKind,
    state: r.state as AlarmState,
    priority: r.priority as AlarmPriority,
    basePriority: r.base_priority as AlarmPriority,
    latched: r.latched === true || r.latched === 1,
    raisedAt: Number(r.raised_at),
    updatedAt: Number(r.updated_at),
    ackBy: (r.ack_by as string | null) ?? null,
    ackAt: numOrNull(r.ack_at),
    ackComment: (r.ack_comment as string | null) ?? null,
    clearedAt: numOrNull(r.cleared_at),
    escalations: Number(r.escalations),
    notifiedAt: Number(r.notified_at),
  };
}

/** What the ledger made of a transition one gateway's board proposed. */
export type AlarmDecision =
  /** Recorded: this gateway audits it; the group's alarm feed holds it once, as `eventId`. */
  | { recorded: true; eventId: number }
  /**
   * Another gateway's proposal came first (or the alarm is not the group's): `shared` is the
   * group's alarm now (the open one of the same scope and code for a raise), null if none.
   */
  | { recorded: false; shared: SharedAlarm | null };

/** A recorded transition, with the gateway that recorded it. */
export type LedgerEvent = AlarmEventDto & { id: number; gateway: string };

/** A transition another gateway recorded, with its alarm as the group has it now. */
export interface RemoteAlarmEvent {
  event: LedgerEvent;
  alarm: SharedAlarm;
}

/**
 * The group's alarms and their history.
 * @example
 * const d = await ledger.record(transition, null);
 * if (d.recorded) audit(transition); else if (d.shared) board.applyShared(d.shared, transition.type, now);
 */
export interface AlarmLedger {
  /**
   * Records a proposed transition if the group's alarm is in the state it leaves (a raise: no
   * open alarm of its scope and code). Scopes are the group's: a gateway-wide alarm's scope
   * names its gateway (`gateway:<gatewayId>`).
   * @throws {SharedStateError} `shared_unavailable` when the ledger cannot be reached
   */
  record(t: AlarmTransition, comment: string | null): Promise<AlarmDecision>;
  /** The group's open alarms. @throws {SharedStateError} */
  openAlarms(): Promise<SharedAlarm[]>;
  /** One scope's recorded transitions, newest first. @throws {SharedStateError} */
  history(scope: string, limit: number): Promise<AlarmEventDto[]>;
  /** Every recorded transition from event id `from` on, in order (the outbound alarm feed). */
  eventsFrom(from: number, limit: number): Promise<LedgerEvent[]>;
  /** The id of the latest recorded transition (0: none). */
  lastEventId(): Promise<number>;
  /** Tells `fn`, in order, of every transition other gateways record from now on. */
  onRemote(fn: (events: RemoteAlarmEvent[]) => void): () => void;
  close(): Promise<void>;
}
