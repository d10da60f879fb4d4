/**
 * @module io/shared/pg-alarms
 * The alarms of a gateway group in PostgreSQL (issue 16, "alarms decided once"): the
 * io/clinical `AlarmLedger` on the tables `ward_alarms` and `ward_alarm_events`
 * (io/shared/schema; every statement on them is here).
 *
 * A transition is recorded by one conditional statement, under one advisory lock held for
 * its transaction (so event ids are drawn and committed in one order, without gaps: a
 * reader that has seen event n has seen every event before it):
 * - `raised` inserts the alarm unless the group holds an open one of its scope and code (the
 *   partial unique index `ward_alarms_open`); the loser is told the open one;
 * - `reactivated` re-opens it unless it is active; `escalated` and `renotified` raise its
 *   priority or escalation count unless they are already that high; `latched` latches an
 *   active one; `acknowledged` acknowledges an active one; `cleared` ends an open one.
 * A recorded transition appends its event in the same transaction. Other gateways hear of it
 * through `NOTIFY vitaltrail_alarms` (and a poll every `pollMs`, should a notification be
 * missed or the listener's connection drop), and read it with the alarm's row as it is now.
 */
import type pg from 'pg';
import { ALARM_PRIORITIES, type AlarmTransition, type SharedAlarm } from '../../core/alarms/index.js';
import type { AlarmEventDto } from '../../core/live-contract.js';
import {
  type AlarmDecision,
  type AlarmLedger,
  type LedgerEvent,
  type RemoteAlarmEvent,
  sharedAlarmOfRow,
} from '../clinical/index.js';
import {
  CLOSE_GRACE_MS,
  closeSharedPool,
  openSharedPool,
  PgListener,
  rollBack,
  type SharedPostgresOptions,
  type SharedStateError,
  settles,
  sharedQuery,
  unavailable as sharedUnavailable,
  sqlState,
} from './postgres.js';
import { ALARMS_CHANNEL } from './schema.js';

/** Default fallback poll of other gateways' transitions (ms). */
export const DEFAULT_ALARMS_POLL_MS = 1000;
/** Held by every recording transaction: one writer of `ward_alarm_events` at a time. */
const EVENTS_LOCK = 0x5654_414c; // "VTAL"
const PULL_LIMIT = 500;

export interface PgAlarmsOptions extends SharedPostgresOptions {
  /** This gateway (its transitions are not reported back to it by `onRemote`). */
  gatewayId: string;
  pollMs?: number;
}

const ALARM_COLUMNS = `a.id, a.scope, a.code, a.kind, a.state, a.priority, a.base_priority, a.latched,
  a.raised_at, a.updated_at, a.ack_by, a.ack_at, a.ack_comment, a.cleared_at, a.escalations, a.notified_at`;
const EVENT_COLUMNS = `e.id AS event_id, e.alarm_id, e.scope AS event_scope, e.code AS event_code,
  e.kind AS event_kind, e.event, e.priority AS event_priority, e.at, e.by, e.comment, e.gateway`;

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);

const sharedOf = (r: Row): SharedAlarm => sharedAlarmOfRow(r);

function eventOf(r: Row): LedgerEvent {
  return {
    id: num(r.event_id),
    alarmId: r.alarm_id as string,
    dev: r.event_scope as string,
    code: r.event_code as string,
    kind: r.event_kind as string,
    event: r.event as string,
    priority: r.event_priority as string,
    at: num(r.at),
    by: (r.by as string | null) ?? null,
    comment: (r.comment as string | null) ?? null,
    gateway: r.gateway as string,
  };
}

/** A priority's rank in SQL (low lowest), so that an escalation never lowers one. */
const rank = (p: string): string =>
  `array_position(ARRAY[${ALARM_PRIORITIES.map((x) => `'${x}'`).join(', ')}]::text[], ${p}::text)`;

/** The conditional statement that applies one transition to `ward_alarms` ($1 is the id). */
function statementOf(t: AlarmTransition, comment: string | null): [string, unknown[]] {
  const a = t.alarm;
  switch (t.type) {
    case 'raised':
      return [
        `INSERT INTO ward_alarms (id, scope, code, kind, state, priority, base_priority, latched, raised_at,
           updated_at, ack_by, ack_at, ack_comment, cleared_at, escalations, notified_at)
         VALUES ($1, $2, $3, $4, 'active', $5, $6, false, $7, $7, NULL, NULL, NULL, NULL, 0, $7)
         ON CONFLICT (scope, code) WHERE state <> 'cleared' DO NOTHING`,
        [a.id, a.scope, a.code, a.kind, a.priority, a.basePriority, t.at],
      ];
    case 'reactivated':
      return [
        `UPDATE ward_alarms SET state = 'active', priority = $2, base_priority = $3, latched = false,
           ack_by = NULL, ack_at = NULL, ack_comment = NULL, cleared_at = NULL, notified_at = $4, updated_at = $4
         WHERE id = $1 AND state <> 'active'`,
        [a.id, a.priority, a.basePriority, t.at],
      ];
    case 'escalated':
      return [
        `UPDATE ward_alarms SET priority = $2, base_priority = $3, escalations = $4, notified_at = $5, updated_at = $5
         WHERE id = $1 AND state = 'active'
           AND ${rank('priority')} <= ${rank('$2')} AND ${rank('base_priority')} <= ${rank('$3')} AND escalations <= $4
           AND (priority <> $2 OR base_priority <> $3 OR escalations < $4)`,
        [a.id, a.priority, a.basePriority, a.escalations, t.at],
      ];
    case 'renotified':
      return [
        `UPDATE ward_alarms SET escalations = $2, notified_at = $3, updated_at = $3
         WHERE id = $1 AND state = 'active' AND escalations < $2`,
        [a.id, a.escalations, t.at],
      ];
    case 'latched':
      return [
        `UPDATE ward_alarms SET latched = true, updated_at = $2 WHERE id = $1 AND state = 'active' AND NOT latched`,
        [a.id, t.at],
      ];
    case 'acknowledged':
      return [
        `UPDATE ward_alarms SET state = 'acknowledged', ack_by = $2, ack_at = $3, ack_comment = $4, updated_at = $3
         WHERE id = $1 AND state = 'active'`,
        [a.id, t.by ?? a.ackBy, t.at, comment],
      ];
    case 'cleared':
      return [
        `UPDATE ward_alarms SET state = 'cleared', latched = false, cleared_at = $2, updated_at = $2
         WHERE id = $1 AND state <> 'cleared'`,
        [a.id, t.at],
      ];
  }
}

/**
 * The group's alarm ledger on PostgreSQL.
 * @example
 * const ledger = await PgAlarms.open({ url, password, gatewayId: 'gw-a' });
 * ledger.onRemote((events) => apply(events));
 */
export class PgAlarms implements AlarmLedger {
  readonly #pool: pg.Pool;
  readonly #self: string;
  readonly #pollMs: number;
  readonly #listeners = new Set<(events: RemoteAlarmEvent[]) => void>();
  readonly #listener: PgListener;
  #timer: NodeJS.Timeout | null = null;
  #polling = false;
  /** The last event id told to the listeners. */
  #seen = 0;
  #pulling: Promise<void> | null = null;
  #again = false;
  #closed = false;

  private constructor(pool: pg.Pool, o: PgAlarmsOptions) {
    this.#pool = pool;
    this.#self = o.gatewayId;
    this.#pollMs = o.pollMs ?? DEFAULT_ALARMS_POLL_MS;
    this.#listener = new PgListener({
      pool,
      channel: ALARMS_CHANNEL,
      what: "the group's alarm ledger",
      onNotification: () => void this.#pull().catch(() => {}),
    });
  }

  /**
   * Connects, migrates the shared schema and starts following other gateways' transitions
   * (from the latest one on).
   * @throws {SharedStateError} `shared_unavailable` when the database cannot be used
   */
  static async open(o: PgAlarmsOptions): Promise<PgAlarms> {
    if (o.pollMs !== undefined && (!Number.isFinite(o.pollMs) || o.pollMs < 10))
      throw new RangeError('PgAlarms: pollMs must be >= 10');
    const pool = await openSharedPool(o);
    const ledger = new PgAlarms(pool, o);
    try {
      await ledger.#listener.open();
      ledger.#seen = await ledger.lastEventId();
    } catch (err) {
      await ledger.close();
      throw err;
    }
    ledger.#timer = setInterval(() => void ledger.#poll(), ledger.#pollMs);
    ledger.#timer.unref();
    return ledger;
  }

  async record(t: AlarmTransition, comment: string | null): Promise<AlarmDecision> {
    const [sql, params] = statementOf(t, comment);
    let applied = false;
    let eventId = 0;
    const c = await this.#connect();
    // A connection lost while checked out emits 'error': without a listener, that would end
    // the process. The query in flight fails, and the pool drops the client on release.
    const lost = (): void => {};
    c.on('error', lost);
    let drop: Error | undefined;
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [EVENTS_LOCK]);
      applied = (await c.query(sql, params)).rowCount === 1;
      if (applied) {
        const a = t.alarm;
        const r = await c.query<{ id: string }>(
          `INSERT INTO ward_alarm_events (id, alarm_id, scope, code, kind, event, priority, at, by, comment, gateway)
           SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM ward_alarm_events
           RETURNING id`,
          [a.id, a.scope, a.code, a.kind, t.type, a.priority, t.at, t.by ?? null, comment, this.#self],
        );
        eventId = num(r.rows[0]?.id);
      }
      await c.query(applied ? 'COMMIT' : 'ROLLBACK');
    } catch (err) {
      drop = await rollBack(c, err); // a connection the server did not answer is dropped
      // Re-opening an alarm the group has since raised anew: that one is the group's.
      if (sqlState(err) !== '23505') throw unavailable(err);
    } finally {
      c.off('error', lost);
      c.release(drop);
    }
    if (applied) return { recorded: true, eventId };
    const open = t.type === 'raised' || t.type === 'reactivated';
    return { recorded: false, shared: open ? await this.#openOf(t.alarm) : await this.#byId(t.alarm.id) };
  }

  async openAlarms(): Promise<SharedAlarm[]> {
    const r = await this.#query(
      `SELECT ${ALARM_COLUMNS} FROM ward_alarms a WHERE a.state <> 'cleared' ORDER BY a.raised_at`,
    );
    return r.rows.map(sharedOf);
  }

  async history(scope: string, limit: number): Promise<AlarmEventDto[]> {
    const r = await this.#query(
      `SELECT ${EVENT_COLUMNS} FROM ward_alarm_events e WHERE e.scope = $1 ORDER BY e.id DESC LIMIT $2`,
      [scope, limit],
    );
    return r.rows.map((row) => {
      const { id: _id, gateway: _g, ...e } = eventOf(row);
      return e;
    });
  }

  async eventsFrom(from: number, limit: number): Promise<LedgerEvent[]> {
    const r = await this.#query(
      `SELECT ${EVENT_COLUMNS} FROM ward_alarm_events e WHERE e.id >= $1 ORDER BY e.id LIMIT $2`,
      [from, limit],
    );
    return r.rows.map(eventOf);
  }

  async lastEventId(): Promise<number> {
    const r = await this.#query('SELECT coalesce(max(id), 0) AS id FROM ward_alarm_events');
    return num(r.rows[0]?.id);
  }

  onRemote(fn: (events: RemoteAlarmEvent[]) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Ends the poll, the listener and the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#listeners.clear();
    this.#listener.close();
    // A read under way is not waited for: the pool's end (bounded) fails it if it hangs.
    const pulling = this.#pulling;
    await closeSharedPool(this.#pool);
    if (pulling) await settles(pulling, CLOSE_GRACE_MS);
  }

  async #openOf(a: { scope: string; code: string }): Promise<SharedAlarm | null> {
    const r = await this.#query(
      `SELECT ${ALARM_COLUMNS} FROM ward_alarms a WHERE a.scope = $1 AND a.code = $2 AND a.state <> 'cleared'`,
      [a.scope, a.code],
    );
    return r.rows[0] ? sharedOf(r.rows[0]) : null;
  }

  async #byId(id: string): Promise<SharedAlarm | null> {
    const r = await this.#query(`SELECT ${ALARM_COLUMNS} FROM ward_alarms a WHERE a.id = $1`, [id]);
    return r.rows[0] ? sharedOf(r.rows[0]) : null;
  }

  /** Reads the transitions recorded since the last read; tells the listeners of others'. */
  #pull(): Promise<void> {
    if (this.#pulling) {
      this.#again = true;
      return this.#pulling;
    }
    this.#pulling = (async () => {
      do {
        this.#again = false;
        const r = await this.#query(
          `SELECT ${EVENT_COLUMNS}, ${ALARM_COLUMNS} FROM ward_alarm_events e JOIN ward_alarms a ON a.id = e.alarm_id
           WHERE e.id > $1 ORDER BY e.id LIMIT $2`,
          [this.#seen, PULL_LIMIT],
        );
        // Nothing new: done, unless a notification came in meanwhile (read again).
        if (r.rows.length === 0) continue;
        const events = r.rows.map((row) => ({ event: eventOf(row), alarm: sharedOf(row) }));
        this.#seen = (events.at(-1) as RemoteAlarmEvent).event.id;
        const remote = events.filter((e) => e.event.gateway !== this.#self);
        if (remote.length > 0) {
          for (const fn of this.#listeners) {
            try {
              fn(remote);
            } catch {
              // A listener's failure must not stop the others.
            }
          }
        }
        if (r.rows.length === PULL_LIMIT) this.#again = true;
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#pulling = null;
    });
    return this.#pulling;
  }

  /** The fallback: re-opens a lost listener and reads what it missed. One at a time. */
  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      await this.#listener.open();
      await this.#pull();
    } catch {
      // The database is away: the next poll tries again (the alarms go on on each board).
    } finally {
      this.#polling = false;
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
  }

  #query(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    return sharedQuery<Row>(this.#pool, "the group's alarm ledger", sql, params);
  }
}

/** The failure of the ledger, in words safe to log. */
const unavailable = (err: unknown): SharedStateError => sharedUnavailable("the group's alarm ledger", err);
