/**
 * @module io/clinical/local-alarm-ledger
 * A lone gateway's alarms as decided (issue 16: "one interface, one abstract test suite run
 * against both"): the io/clinical `AlarmLedger` in the data dir's SQLite store, so a lone
 * gateway runs the same decision path as a group (io/clinical/alarm-group) and an alarm's
 * state (an acknowledgement above all) outlives a restart. The alarm rows are the table
 * `dashboard_alarms` (store/schema version 7; every statement on it is here), the transitions
 * the alarm history's table, through io/clinical/alarm-store.
 *
 * The decision rules are io/shared/pg-alarms' (test/integration/alarm-ledger-abstract.ts
 * holds both to them): a transition is recorded only if the alarm is in the state it leaves,
 * by one conditional statement, and its event appended in the same (immediate) transaction:
 * - `raised` inserts the alarm unless an open one of its scope and code is held (the partial
 *   unique index `dashboard_alarms_open`); the refused proposal is told the open one;
 * - `reactivated` re-opens it unless it is active; `escalated` and `renotified` raise its
 *   priority or escalation count unless they are already that high (never lower); `latched`
 *   latches an active one; `acknowledged` acknowledges an active one; `cleared` ends an open one.
 * Event ids are the history table's integer key: in record order, without gaps (a transaction
 * rolled back draws none). Every call runs to its end synchronously, so one process's
 * proposals are decided in the order they are made.
 *
 * Durability, as the audit log's (io/ops/audit): each transition is committed at once
 * (atomic, in order, seen by every reader of the file, kept if the process dies) without an
 * fsync of its own, and the store's WAL is fsync'd once on the next turn of the event loop for
 * all the transitions of this turn: a burst (every bed of a ward going offline at once, up to
 * 64 decisions a turn, io/clinical/alarm-group) pays one fsync, not one each. What leaves the
 * gateway waits for it: an acknowledgement (a user's act, answered to the user) is fsync'd
 * before `record` resolves, and `eventsFrom` (the alarm feed to the hospital's systems)
 * fsyncs what is pending before it reads, so no event is sent that a power loss could take
 * back and its id be drawn again.
 *
 * Scopes: the ledger speaks the group's (`gateway:<gatewayId>` for this gateway's own
 * gateway-wide alarms) and stores this gateway's own as `gateway`, as the history did before
 * version 7, so the technical alarms recorded before it stay in the history and the alarm feed.
 * One process holds the data dir (io/ops/instance-lock): `onRemote` never fires.
 */
import { closeSync, fdatasyncSync, openSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { ALARM_PRIORITIES, type AlarmTransition, type SharedAlarm } from '../../core/alarms/index.js';
import type { AlarmEventDto } from '../../core/live-contract.js';
import { type GatewayStore, StoreError } from '../store/index.js';
import {
  type AlarmDecision,
  type AlarmLedger,
  GATEWAY_SCOPE,
  gatewayScopeOf,
  type LedgerEvent,
  type RemoteAlarmEvent,
  sharedAlarmOfRow,
} from './alarm-ledger.js';
import { AlarmStore } from './alarm-store.js';

export interface LocalAlarmLedgerOptions {
  /** The data dir's store (its owner closes it; `close` does not). */
  store: GatewayStore;
  /** This gateway: its gateway-wide scope, and the recorder every event names. */
  gatewayId: string;
  /**
   * Makes the transitions committed so far durable. Default: `fdatasync` of the store's WAL
   * (what SQLite's own commit at `synchronous = FULL` does). Tests count its calls.
   */
  sync?: () => void;
}

type Row = Record<string, unknown>;
type Op = AlarmTransition['type'];

const COLUMNS = `id, scope, code, kind, state, priority, base_priority, latched, raised_at, updated_at,
  ack_by, ack_at, ack_comment, cleared_at, escalations, notified_at`;

/** A priority's rank in SQL (low lowest), so that an escalation never lowers one. */
const rank = (p: string): string =>
  `(CASE ${p} ${ALARM_PRIORITIES.map((x, i) => `WHEN '${x}' THEN ${i}`).join(' ')} END)`;

/** The conditional statement of each transition; `@id` names the alarm (see `paramsOf`). */
const STATEMENTS: Record<Op, string> = {
  raised: `INSERT INTO dashboard_alarms (${COLUMNS})
    VALUES (@id, @scope, @code, @kind, 'active', @priority, @base, 0, @at, @at, NULL, NULL, NULL, NULL, 0, @at)
    ON CONFLICT (scope, code) WHERE state <> 'cleared' DO NOTHING`,
  reactivated: `UPDATE dashboard_alarms SET state = 'active', priority = @priority, base_priority = @base,
    latched = 0, ack_by = NULL, ack_at = NULL, ack_comment = NULL, cleared_at = NULL, notified_at = @at,
    updated_at = @at WHERE id = @id AND state <> 'active'`,
  escalated: `UPDATE dashboard_alarms SET priority = @priority, base_priority = @base, escalations = @escalations,
    notified_at = @at, updated_at = @at
    WHERE id = @id AND state = 'active'
      AND ${rank('priority')} <= ${rank('@priority')} AND ${rank('base_priority')} <= ${rank('@base')}
      AND escalations <= @escalations
      AND (priority <> @priority OR base_priority <> @base OR escalations < @escalations)`,
  renotified: `UPDATE dashboard_alarms SET escalations = @escalations, notified_at = @at, updated_at = @at
    WHERE id = @id AND state = 'active' AND escalations < @escalations`,
  latched: `UPDATE dashboard_alarms SET latched = 1, updated_at = @at
    WHERE id = @id AND state = 'active' AND latched = 0`,
  acknowledged: `UPDATE dashboard_alarms SET state = 'acknowledged', ack_by = @by, ack_at = @at,
    ack_comment = @comment, updated_at = @at WHERE id = @id AND state = 'active'`,
  cleared: `UPDATE dashboard_alarms SET state = 'cleared', latched = 0, cleared_at = @at, updated_at = @at
    WHERE id = @id AND state <> 'cleared'`,
};

/** A unique index refused the statement (a raise of a held id, a re-opening beside a new alarm). */
const isUniqueViolation = (err: unknown): boolean =>
  /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(String((err as { code?: unknown })?.code));

/**
 * The lone gateway's alarm ledger on its SQLite store.
 * @example
 * const ledger = new LocalAlarmLedger({ store, gatewayId: 'gw-1' });
 * new AlarmService({ store, hub, group: { ledger, gatewayId: 'gw-1' } });
 */
export class LocalAlarmLedger implements AlarmLedger {
  readonly #db: Database.Database;
  readonly #events: AlarmStore;
  readonly #self: string;
  readonly #ownScope: string;
  readonly #apply: Record<Op, Database.Statement>;
  readonly #openOf: Database.Statement;
  readonly #byId: Database.Statement;
  readonly #open: Database.Statement;
  readonly #record: (t: AlarmTransition, comment: string | null) => number;
  readonly #sync: () => void;
  /** Transitions committed and not yet fsync'd. */
  #unsynced = false;
  /** The next turn's fsync is scheduled. */
  #due = false;
  /** The WAL's file, opened at the first sync (the default `sync`). */
  #wal: number | null = null;

  constructor(o: LocalAlarmLedgerOptions) {
    this.#db = o.store.db;
    this.#events = new AlarmStore(o.store);
    this.#self = o.gatewayId;
    this.#ownScope = gatewayScopeOf(o.gatewayId);
    this.#apply = Object.fromEntries(
      Object.entries(STATEMENTS).map(([op, sql]) => [op, this.#db.prepare(sql)]),
    ) as Record<Op, Database.Statement>;
    this.#openOf = this.#db.prepare(
      `SELECT ${COLUMNS} FROM dashboard_alarms WHERE scope = ? AND code = ? AND state <> 'cleared'`,
    );
    this.#byId = this.#db.prepare(`SELECT ${COLUMNS} FROM dashboard_alarms WHERE id = ?`);
    this.#open = this.#db.prepare(
      `SELECT ${COLUMNS} FROM dashboard_alarms WHERE state <> 'cleared' ORDER BY raised_at, rowid`,
    );
    // The alarm row and its event in one transaction: an event id for each applied statement.
    const tx = this.#db.transaction((t: AlarmTransition, comment: string | null): number => {
      if (this.#apply[t.type].run(this.#paramsOf(t, comment)).changes !== 1) return 0;
      const a = t.alarm;
      return this.#events.addEvent({
        alarmId: a.id,
        dev: a.scope,
        scope: this.#stored(a.scope),
        code: a.code,
        kind: a.kind,
        event: t.type,
        priority: a.priority,
        at: t.at,
        by: t.by ?? null,
        comment,
      });
    });
    // `synchronous` is the connection's: NORMAL for this transaction alone (no fsync in its
    // commit), FULL again before anything else can write (ingest's commits fsync as ever).
    const normal = this.#db.prepare('PRAGMA synchronous = NORMAL');
    const full = this.#db.prepare('PRAGMA synchronous = FULL');
    this.#record = (t, comment) => {
      normal.run();
      try {
        return tx.immediate(t, comment);
      } finally {
        full.run();
      }
    };
    this.#sync = o.sync ?? (() => this.#syncWal());
  }

  /** @throws {StoreError} `store_failed` when the store cannot be written or read */
  async record(t: AlarmTransition, comment: string | null): Promise<AlarmDecision> {
    let eventId = 0;
    try {
      eventId = this.#record(t, comment);
    } catch (err) {
      // Re-opening an alarm beside one raised anew since: the open one is the answer.
      if (!isUniqueViolation(err)) throw failed(err);
    }
    if (eventId > 0) {
      this.#unsynced = true;
      if (!this.#due) {
        this.#due = true;
        setImmediate(() => {
          this.#due = false;
          this.#flushQuietly();
        });
      }
      if (t.type === 'acknowledged') this.#read(() => this.#flush()); // answered to a user
      return { recorded: true, eventId };
    }
    const a = t.alarm;
    const open = t.type === 'raised' || t.type === 'reactivated';
    const row = this.#read(() =>
      open ? this.#openOf.get(this.#stored(a.scope), a.code) : this.#byId.get(a.id),
    ) as Row | undefined;
    return { recorded: false, shared: row ? this.#sharedOf(row) : null };
  }

  async openAlarms(): Promise<SharedAlarm[]> {
    return (this.#read(() => this.#open.all()) as Row[]).map((r) => this.#sharedOf(r));
  }

  async history(scope: string, limit: number): Promise<AlarmEventDto[]> {
    return this.#read(() => this.#events.history(this.#stored(scope), limit)).map((e) => this.#named(e));
  }

  async eventsFrom(from: number, limit: number): Promise<LedgerEvent[]> {
    this.#read(() => this.#flush()); // only durable events leave the gateway
    return this.#read(() => this.#events.eventsFrom(from, limit)).map((e) => ({
      ...this.#named(e),
      gateway: this.#self,
    }));
  }

  async lastEventId(): Promise<number> {
    return this.#read(() => this.#events.lastEventId());
  }

  /** Never fires: one gateway records every transition of its store. */
  onRemote(_fn: (events: RemoteAlarmEvent[]) => void): () => void {
    return () => {};
  }

  /** Fsyncs what is pending and lets go of the WAL's file; the store is its owner's to close. */
  async close(): Promise<void> {
    this.#flushQuietly();
    if (this.#wal !== null) closeSync(this.#wal);
    this.#wal = null;
  }

  /** Makes the transitions committed so far durable (nothing to do if none is pending). */
  #flush(): void {
    if (!this.#unsynced) return;
    this.#sync();
    this.#unsynced = false;
  }

  /** The turn's fsync: one that fails stays pending, tried again by the next flush. */
  #flushQuietly(): void {
    try {
      this.#flush();
    } catch {
      // The store's own commits fail alike and raise its alarm (storage failing).
    }
  }

  #syncWal(): void {
    this.#wal ??= openSync(`${this.#db.name}-wal`, 'r');
    fdatasyncSync(this.#wal);
  }

  /** The scope as stored: this gateway's own as `gateway`. */
  #stored(scope: string): string {
    return scope === this.#ownScope ? GATEWAY_SCOPE : scope;
  }

  /** An event with its scope as the ledger speaks it. */
  #named<E extends AlarmEventDto>(e: E): E {
    return e.dev === GATEWAY_SCOPE ? { ...e, dev: this.#ownScope } : e;
  }

  #paramsOf(t: AlarmTransition, comment: string | null): Record<string, unknown> {
    const a = t.alarm;
    return {
      id: a.id,
      scope: this.#stored(a.scope),
      code: a.code,
      kind: a.kind,
      priority: a.priority,
      base: a.basePriority,
      escalations: a.escalations,
      at: t.at,
      by: t.by ?? a.ackBy,
      comment,
    };
  }

  #sharedOf(r: Row): SharedAlarm {
    return sharedAlarmOfRow(r, r.scope === GATEWAY_SCOPE ? this.#ownScope : (r.scope as string));
  }

  #read<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      throw failed(err);
    }
  }
}

const failed = (err: unknown): StoreError =>
  new StoreError('store_failed', "the gateway's alarm ledger could not be used", { cause: err });
