/**
 * @module test/integration/alarm-ledger
 * The alarm ledger of a gateway group (io/shared `PgAlarms`, the io/clinical `AlarmLedger` of
 * issue 16, "alarms decided once") on a real PostgreSQL (test/helpers/postgres), two ledgers
 * on one database standing for two gateways (`gw-a`, `gw-b`), fed hand-made transitions:
 * - a raise both gateways propose at once is recorded once (one row, one event) and the
 *   other gateway is told the winner's alarm; an acknowledgement, an escalation, a
 *   re-notification, a latch and a clear proposed by both are recorded once; a stale
 *   escalation never lowers the group's alarm; a reactivation re-opens the same id, unless
 *   the group has since raised the condition anew (then that open alarm is the answer);
 * - event ids are 1..n without gaps in record order, also under concurrent records from both
 *   gateways and for a reader reading meanwhile; `eventsFrom`, `lastEventId` and `history`
 *   (newest first) return them, each naming the gateway that recorded it;
 * - `onRemote` tells one gateway of the other's transitions (with the alarm's row) by
 *   notification, in order, each once, never its own, also one notified while a read that
 *   finds nothing is under way (a proxy delays the answers); without notifications the poll
 *   does;
 * - `openAlarms` lists the open alarms only; no vital value is stored;
 * - a ledger whose database is away (cut off by a proxy; connections refused and sessions
 *   ended) fails with `shared_unavailable`, never crashes the process, and follows the group
 *   again (listener re-opened) once it is back; a closed ledger whose sessions the server
 *   ends afterwards does not crash the process either;
 * - a database of the second shared slice (version 2) is migrated to the current version
 *   (3 and on), its accounts and admissions kept.
 */
import { randomUUID } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  Alarm,
  AlarmPriority,
  AlarmTransition,
  AlarmTransitionType,
  SharedAlarm,
} from '../../gateway/src/core/alarms/index.js';
import type { AlarmDecision, RemoteAlarmEvent } from '../../gateway/src/io/clinical/index.js';
import {
  PG_TABLE_OWNERS,
  PgAlarms,
  PgBindings,
  PgUserDirectory,
  SHARED_SCHEMA_VERSION,
  SharedStateError,
} from '../../gateway/src/io/shared/index.js';
import { closedAfterEach, rejection } from '../helpers/contract.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { recipientPair } from '../helpers/sealed.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';

const T = Date.UTC(2026, 11, 3, 9, 0, 0);
/** A poll far beyond every deadline: only a notification explains a delivery. */
const NO_POLL = 60_000;

const { server: started, sql } = usePostgres();

/** Ledgers opened by a test, closed after it. */
const closedAfter = closedAfterEach<PgAlarms>();
const openLedger = async (url: string, gatewayId: string, pollMs = NO_POLL): Promise<PgAlarms> =>
  closedAfter(await PgAlarms.open({ url, password: started().password, gatewayId, pollMs }));

/** Two gateways of one group on a fresh database. */
async function twoGateways(pollMs = NO_POLL): Promise<{ url: string; a: PgAlarms; b: PgAlarms }> {
  const url = await started().createDatabase();
  return { url, a: await openLedger(url, 'gw-a', pollMs), b: await openLedger(url, 'gw-b', pollMs) };
}

/** A new active alarm as a board raises it (vital values included: they must stay out). */
function alarm(o: Partial<Alarm> = {}): Alarm {
  const at = o.raisedAt ?? T;
  return {
    id: randomUUID(),
    scope: 'wr-0001',
    code: 'spo2_low',
    kind: 'physiological',
    priority: 'medium',
    basePriority: 'medium',
    value: 85.125,
    limit: 90.375,
    triggerValue: 84.625,
    state: 'active',
    latched: false,
    raisedAt: at,
    updatedAt: at,
    ackBy: null,
    ackAt: null,
    ackComment: null,
    clearedAt: null,
    escalations: 0,
    notifiedAt: at,
    ...o,
  };
}

const transition = (type: AlarmTransitionType, a: Alarm, at: number, by?: string): AlarmTransition => ({
  type,
  alarm: { ...a },
  at,
  ...(by !== undefined ? { by } : {}),
});

/** The group's copy of an alarm: every field but the vital values. */
function sharedOf(a: Alarm): SharedAlarm {
  const { value: _v, limit: _l, triggerValue: _t, ...s } = a;
  return s;
}

/** The proposal a board makes of each transition, and the alarm as it is after it. */
const raise = (a: Alarm) => transition('raised', a, a.raisedAt);
function escalate(a: Alarm, priority: AlarmPriority, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, priority, escalations: a.escalations + 1, notifiedAt: at, updatedAt: at };
  return [transition('escalated', n, at), n];
}
function renotify(a: Alarm, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, escalations: a.escalations + 1, notifiedAt: at, updatedAt: at };
  return [transition('renotified', n, at), n];
}
function latch(a: Alarm, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, latched: true, updatedAt: at };
  return [transition('latched', n, at), n];
}
function acknowledge(a: Alarm, user: string, comment: string | null, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = {
    ...a,
    state: 'acknowledged',
    ackBy: user,
    ackAt: at,
    ackComment: comment,
    updatedAt: at,
  };
  return [transition('acknowledged', n, at, user), n];
}
function clear(a: Alarm, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, state: 'cleared', latched: false, clearedAt: at, updatedAt: at };
  return [transition('cleared', n, at), n];
}
function reactivate(a: Alarm, priority: AlarmPriority, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = {
    ...a,
    state: 'active',
    priority,
    basePriority: priority,
    latched: false,
    ackBy: null,
    ackAt: null,
    ackComment: null,
    clearedAt: null,
    notifiedAt: at,
    updatedAt: at,
  };
  return [transition('reactivated', n, at), n];
}

/** Both gateways propose the same transition at once: exactly one is recorded. */
async function both(
  a: PgAlarms,
  b: PgAlarms,
  t: AlarmTransition,
  comment: string | null = null,
): Promise<{ winner: 'gw-a' | 'gw-b'; eventId: number; loser: AlarmDecision }> {
  const [da, db] = await Promise.all([a.record(t, comment), b.record(t, comment)]);
  const recorded = [da, db].filter((d) => d.recorded);
  expect(recorded, `${t.type}: recorded once`).toHaveLength(1);
  const winner = da.recorded ? 'gw-a' : 'gw-b';
  const [won, lost] = da.recorded ? [da, db] : [db, da];
  return { winner, eventId: won.recorded ? won.eventId : -1, loser: lost };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `url` with another port (a proxy's). */
function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

/**
 * A proxy to the PostgreSQL server for one ledger: it answers `answerDelayMs` late on every
 * connection but one that LISTENs (notifications come at once, query results late), and
 * `hold()` stops forwarding what the ledger sends (the server never hears it again).
 */
async function pgProxy(
  targetPort: number,
  answerDelayMs = 0,
): Promise<{ port: number; hold(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let held = false;
  // Half-open allowed: a client's goodbye (its FIN) held back leaves its answers flowing.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    let listening = false;
    let due = 0; // when the last answer chunk goes out (chunks keep their order)
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', drop).on('close', drop);
    }
    client.on('data', (d: Buffer) => {
      if (held) return;
      if (d.includes('LISTEN ')) listening = true;
      upstream.write(d);
    });
    client.on('end', () => {
      if (!held) upstream.end();
    });
    upstream.on('end', () => client.end());
    upstream.on('data', (d: Buffer) => {
      due = Math.max(due, Date.now() + (listening ? 0 : answerDelayMs));
      setTimeout(() => client.writable && client.write(d), due - Date.now());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    hold: () => {
      held = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const count = async (url: string, table: string, where = 'true'): Promise<number> =>
  (await sql(url, `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`)).rows[0].n;

describe('PgAlarms: a transition is recorded once for the group', () => {
  it('behavior: a raise both gateways propose at once is recorded once; the other is told the winner’s alarm', async () => {
    const { url, a, b } = await twoGateways();
    for (let round = 0; round < 8; round++) {
      const scope = `wr-${String(round).padStart(4, '0')}`;
      // Each board raised it with an id of its own.
      const fromA = alarm({ scope, raisedAt: T + round });
      const fromB = alarm({ scope, raisedAt: T + round });
      const [da, db] = await Promise.all([a.record(raise(fromA), null), b.record(raise(fromB), null)]);
      expect(
        [da, db].filter((d) => d.recorded),
        `round ${round}`,
      ).toHaveLength(1);
      const [winner, won, lost] = da.recorded ? [fromA, da, db] : [fromB, db, da];
      expect(won).toEqual({ recorded: true, eventId: round + 1 });
      expect(lost).toEqual({ recorded: false, shared: sharedOf(winner) });
      expect(await count(url, 'ward_alarms', `scope = '${scope}'`)).toBe(1);
      expect(await count(url, 'ward_alarm_events', `scope = '${scope}'`)).toBe(1);
      const [event] = await a.eventsFrom(round + 1, 10);
      expect(event).toMatchObject({
        alarmId: winner.id,
        event: 'raised',
        gateway: winner === fromA ? 'gw-a' : 'gw-b',
      });
    }
    expect(await count(url, 'ward_alarms')).toBe(8);
    expect(await count(url, 'ward_alarm_events')).toBe(8);
  });

  it('behavior: an acknowledgement is recorded once, its user and comment stored; the other gateway is told it is acknowledged', async () => {
    const { url, a, b } = await twoGateways();
    const raised = alarm();
    expect(await a.record(raise(raised), null)).toEqual({ recorded: true, eventId: 1 });

    // Two nurses acknowledge it on two gateways at once.
    const [byAna, acked] = acknowledge(raised, 'ana', 'at the bedside', T + 5_000);
    const [byBen] = acknowledge(raised, 'ben', 'seen', T + 5_001);
    const [da, db] = await Promise.all([a.record(byAna, 'at the bedside'), b.record(byBen, 'seen')]);
    expect([da, db].filter((d) => d.recorded)).toHaveLength(1);
    const anaWon = da.recorded;
    const expected = anaWon ? sharedOf(acked) : sharedOf(acknowledge(raised, 'ben', 'seen', T + 5_001)[1]);
    expect(anaWon ? db : da).toEqual({ recorded: false, shared: expected });
    expect(anaWon ? da : db).toEqual({ recorded: true, eventId: 2 });
    const row = (await sql(url, 'SELECT state, ack_by, ack_at, ack_comment FROM ward_alarms')).rows;
    expect(row).toEqual([
      {
        state: 'acknowledged',
        ack_by: expected.ackBy,
        ack_at: String(expected.ackAt),
        ack_comment: expected.ackComment,
      },
    ]);

    // A later acknowledgement (from the gateway that lost) is not recorded either.
    const late = await b.record(acknowledge(raised, 'carla', null, T + 9_000)[0], null);
    expect(late).toEqual({ recorded: false, shared: expected });
    expect(await b.history('wr-0001', 10)).toEqual([
      {
        alarmId: raised.id,
        dev: 'wr-0001',
        code: 'spo2_low',
        kind: 'physiological',
        event: 'acknowledged',
        priority: 'medium',
        at: expected.ackAt,
        by: expected.ackBy,
        comment: expected.ackComment,
      },
      {
        alarmId: raised.id,
        dev: 'wr-0001',
        code: 'spo2_low',
        kind: 'physiological',
        event: 'raised',
        priority: 'medium',
        at: T,
        by: null,
        comment: null,
      },
    ]);
  });

  it('behavior: escalated, renotified, latched and cleared proposed by both are each recorded once; a second clear is told the cleared alarm', async () => {
    const { url, a, b } = await twoGateways();
    let cur = alarm({ priority: 'medium', basePriority: 'medium' });
    await a.record(raise(cur), null);
    const steps: [AlarmTransition, Alarm][] = [];
    steps.push(escalate(cur, 'high', T + 120_000));
    steps.push(renotify((steps[0] as [AlarmTransition, Alarm])[1], T + 240_000));
    steps.push(latch((steps[1] as [AlarmTransition, Alarm])[1], T + 250_000));
    steps.push(clear((steps[2] as [AlarmTransition, Alarm])[1], T + 260_000));
    const winners: string[] = [];
    for (const [i, [t, after]] of steps.entries()) {
      const r = await both(a, b, t);
      winners.push(r.winner);
      expect(r.eventId, t.type).toBe(i + 2);
      // The loser is told the group's alarm as the winner left it.
      expect(r.loser, t.type).toEqual({ recorded: false, shared: sharedOf(after) });
      cur = after;
    }
    expect(await a.eventsFrom(1, 100)).toEqual(
      ['raised', 'escalated', 'renotified', 'latched', 'cleared'].map((event, i) =>
        expect.objectContaining({ id: i + 1, event, gateway: i === 0 ? 'gw-a' : winners[i - 1] }),
      ),
    );
    const row = (await sql(url, 'SELECT * FROM ward_alarms')).rows;
    expect(row).toEqual([
      expect.objectContaining({
        id: cur.id,
        state: 'cleared',
        priority: 'high',
        base_priority: 'medium',
        latched: false,
        escalations: 2,
        cleared_at: String(T + 260_000),
      }),
    ]);
    // Cleared once: a late clear from either gateway is told the cleared alarm.
    expect(await b.record(clear(cur, T + 261_000)[0], null)).toEqual({
      recorded: false,
      shared: sharedOf(cur),
    });
    expect(await a.lastEventId()).toBe(5);
  });

  it('behavior: a stale escalation or re-notification never lowers the group’s alarm; the gateway is told the group’s alarm', async () => {
    const { url, a, b } = await twoGateways();
    const raised = alarm({ priority: 'low', basePriority: 'low' });
    await a.record(raise(raised), null);
    // A: the condition got worse (high at once). B, not yet told, escalates by time (medium).
    const worse: Alarm = {
      ...raised,
      priority: 'high',
      basePriority: 'high',
      notifiedAt: T + 100,
      updatedAt: T + 100,
    };
    expect(await a.record(transition('escalated', worse, T + 100), null)).toEqual({
      recorded: true,
      eventId: 2,
    });
    const [byTime] = escalate(raised, 'medium', T + 120_000);
    expect(await b.record(byTime, null)).toEqual({ recorded: false, shared: sharedOf(worse) });
    expect((await sql(url, 'SELECT priority, base_priority, escalations FROM ward_alarms')).rows).toEqual([
      { priority: 'high', base_priority: 'high', escalations: 0 },
    ]);
    // Re-notified twice on A, then B's first re-notification comes late.
    const [once, one] = renotify(worse, T + 240_000);
    const [twice, two] = renotify(one, T + 360_000);
    expect((await a.record(once, null)).recorded).toBe(true);
    expect((await a.record(twice, null)).recorded).toBe(true);
    expect(await b.record(once, null)).toEqual({ recorded: false, shared: sharedOf(two) });
    expect(await a.lastEventId()).toBe(4);
  });

  it('behavior: a reactivation after the clear re-opens the same alarm id, once', async () => {
    const { url, a, b } = await twoGateways();
    const raised = alarm({ priority: 'high', basePriority: 'high' });
    await a.record(raise(raised), null);
    const [cleared, gone] = clear(raised, T + 60_000);
    await b.record(cleared, null);
    expect(await a.openAlarms()).toEqual([]);
    const [again, reopened] = reactivate(gone, 'medium', T + 90_000);
    const r = await both(a, b, again);
    expect(r.loser).toEqual({ recorded: false, shared: sharedOf(reopened) });
    expect(await b.openAlarms()).toEqual([sharedOf(reopened)]);
    expect(await count(url, 'ward_alarms')).toBe(1);
    expect((await a.history('wr-0001', 10)).map((e) => [e.alarmId, e.event, e.priority])).toEqual([
      [raised.id, 'reactivated', 'medium'],
      [raised.id, 'cleared', 'high'],
      [raised.id, 'raised', 'high'],
    ]);
  });

  it('behavior: a reactivation while the group holds another open alarm of that scope and code is not recorded and is told the open one', async () => {
    const { url, a, b } = await twoGateways();
    const first = alarm();
    await a.record(raise(first), null);
    const [cleared, gone] = clear(first, T + 60_000);
    await a.record(cleared, null);
    // A's board no longer remembers the episode and raises anew; B's reactivates the old one.
    const second = alarm({ raisedAt: T + 70_000 });
    expect(await a.record(raise(second), null)).toEqual({ recorded: true, eventId: 3 });
    const d = await b.record(reactivate(gone, 'medium', T + 70_001)[0], null);
    expect(d).toEqual({ recorded: false, shared: sharedOf(second) });
    expect(
      (await sql(url, 'SELECT id, state FROM ward_alarms ORDER BY raised_at')).rows.map((r) => [
        r.id,
        r.state,
      ]),
    ).toEqual([
      [first.id, 'cleared'],
      [second.id, 'active'],
    ]);
    expect(await b.lastEventId()).toBe(3);
    // The ledger is still usable after the refused statement (its transaction rolled back).
    expect((await b.record(acknowledge(second, 'ana', null, T + 80_000)[0], null)).recorded).toBe(true);
  });

  it('behavior: a transition on an alarm the group does not hold is not recorded', async () => {
    const { a } = await twoGateways();
    const stranger = alarm();
    expect(await a.record(acknowledge(stranger, 'ana', null, T)[0], null)).toEqual({
      recorded: false,
      shared: null,
    });
    expect(await a.record(reactivate(stranger, 'high', T)[0], null)).toEqual({
      recorded: false,
      shared: null,
    });
    expect(await a.lastEventId()).toBe(0);
  });
});

describe('PgAlarms: the group’s alarm feed and history', () => {
  it('behavior: concurrent records from both gateways are numbered 1..n without gaps, in record order; readers never see a gap', async () => {
    const { url, a, b } = await twoGateways();
    const n = 50;
    const scopes = Array.from({ length: n }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
    // Every scope raised by both gateways at once (each board its own id): 50 recorded.
    const proposals = scopes.flatMap((scope, i) => {
      const at = T + i;
      return [
        { gw: 'gw-a', alarm: alarm({ scope, raisedAt: at }), ledger: a },
        { gw: 'gw-b', alarm: alarm({ scope, raisedAt: at }), ledger: b },
      ];
    });
    let reading = true;
    const gaps: string[] = [];
    const reader = (async () => {
      let reads = 0;
      while (reading || reads === 0) {
        const ids = (await b.eventsFrom(1, 1000)).map((e) => e.id);
        reads++;
        if (ids.some((id, i) => id !== i + 1)) gaps.push(ids.join(','));
        const last = await a.lastEventId();
        if (last < ids.length) gaps.push(`lastEventId ${last} < ${ids.length} seen`);
      }
      return reads;
    })();
    const decisions = await Promise.all(
      proposals.map(async (p) => ({ ...p, d: await p.ledger.record(raise(p.alarm), null) })),
    );
    reading = false;
    expect(await reader).toBeGreaterThan(0);
    expect(gaps).toEqual([]);

    const recorded = decisions.filter((x) => x.d.recorded);
    expect(recorded).toHaveLength(n);
    const ids = recorded.map((x) => (x.d.recorded ? x.d.eventId : 0)).sort((p, q) => p - q);
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // Each event names the gateway whose proposal it is, and that proposal's alarm.
    const events = await a.eventsFrom(1, 1000);
    expect(events.map((e) => e.id)).toEqual(ids);
    for (const x of recorded) {
      const id = x.d.recorded ? x.d.eventId : 0;
      expect(events[id - 1], `event ${id}`).toMatchObject({
        id,
        alarmId: x.alarm.id,
        dev: x.alarm.scope,
        gateway: x.gw,
        event: 'raised',
      });
    }
    // Both gateways recorded some (the race was real on both sides).
    expect(new Set(recorded.map((x) => x.gw))).toEqual(new Set(['gw-a', 'gw-b']));
    // Every loser was told the winner's alarm.
    for (const x of decisions.filter((y) => !y.d.recorded)) {
      const w = recorded.find((y) => y.alarm.scope === x.alarm.scope);
      expect(x.d).toEqual({ recorded: false, shared: sharedOf(w?.alarm as Alarm) });
    }

    // Then an acknowledgement and a clear of one scope: the next ids, in record order.
    const target = recorded[17]?.alarm as Alarm;
    const [ack, acked] = acknowledge(target, 'ana', 'ok', T + 1_000);
    expect(await b.record(ack, 'ok')).toEqual({ recorded: true, eventId: n + 1 });
    expect(await a.record(clear(acked, T + 2_000)[0], null)).toEqual({ recorded: true, eventId: n + 2 });
    expect(await a.lastEventId()).toBe(n + 2);
    expect(await b.lastEventId()).toBe(n + 2);
    expect((await b.eventsFrom(21, 10)).map((e) => e.id)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect((await b.eventsFrom(n + 1, 10)).map((e) => [e.id, e.event, e.gateway])).toEqual([
      [n + 1, 'acknowledged', 'gw-b'],
      [n + 2, 'cleared', 'gw-a'],
    ]);
    expect(await b.eventsFrom(n + 3, 10)).toEqual([]);
    // A scope's history, newest first, without the feed's id and gateway.
    const raisedEvent = events.find((e) => e.alarmId === target.id);
    expect(await a.history(target.scope, 10)).toEqual([
      {
        alarmId: target.id,
        dev: target.scope,
        code: 'spo2_low',
        kind: 'physiological',
        event: 'cleared',
        priority: 'medium',
        at: T + 2_000,
        by: null,
        comment: null,
      },
      {
        alarmId: target.id,
        dev: target.scope,
        code: 'spo2_low',
        kind: 'physiological',
        event: 'acknowledged',
        priority: 'medium',
        at: T + 1_000,
        by: 'ana',
        comment: 'ok',
      },
      {
        alarmId: target.id,
        dev: target.scope,
        code: 'spo2_low',
        kind: 'physiological',
        event: 'raised',
        priority: 'medium',
        at: raisedEvent?.at,
        by: null,
        comment: null,
      },
    ]);
    expect((await a.history(target.scope, 2)).map((e) => e.event)).toEqual(['cleared', 'acknowledged']);
    expect(await a.history('wr-9999', 10)).toEqual([]);
    expect(await count(url, 'ward_alarm_events')).toBe(n + 2);
  });

  it('behavior: openAlarms lists the open alarms only (active and acknowledged); no vital value is stored', async () => {
    const { url, a, b } = await twoGateways();
    const active = alarm({ scope: 'wr-0001', raisedAt: T });
    const acked = alarm({ scope: 'wr-0002', code: 'hr_high', raisedAt: T + 1 });
    const ended = alarm({ scope: 'wr-0003', raisedAt: T + 2 });
    const tech = alarm({
      scope: 'gateway:gw-b',
      code: 'storage_failing',
      kind: 'technical',
      raisedAt: T + 3,
    });
    for (const x of [active, acked, ended]) await a.record(raise(x), null);
    await b.record(raise(tech), null);
    const [ack, ackedAfter] = acknowledge(acked, 'ana', null, T + 10);
    await b.record(ack, null);
    await a.record(clear(ended, T + 20)[0], null);
    const expected = [sharedOf(active), sharedOf(ackedAfter), sharedOf(tech)];
    expect(await a.openAlarms()).toEqual(expected);
    expect(await b.openAlarms()).toEqual(expected);

    const columns = async (table: string) =>
      (
        await sql(
          url,
          'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
          [table],
        )
      ).rows.map((r) => r.column_name as string);
    expect(await columns('ward_alarms')).toEqual([
      'id',
      'scope',
      'code',
      'kind',
      'state',
      'priority',
      'base_priority',
      'latched',
      'raised_at',
      'updated_at',
      'ack_by',
      'ack_at',
      'ack_comment',
      'cleared_at',
      'escalations',
      'notified_at',
    ]);
    for (const table of ['ward_alarms', 'ward_alarm_events']) {
      expect(
        (await columns(table)).filter((c) => /value|limit|trigger/i.test(c)),
        table,
      ).toEqual([]);
      // The values the boards held (85.125, 90.375, 84.625) appear nowhere.
      const text = JSON.stringify((await sql(url, `SELECT * FROM ${table}`)).rows);
      expect(text).toContain(active.id);
      for (const v of ['85.125', '90.375', '84.625', '85.12', '90.37', '84.62'])
        expect(text.includes(v), `${table}: ${v}`).toBe(false);
    }
  });
});

describe('PgAlarms: what other gateways record', () => {
  it('behavior: B hears A’s transitions by notification, in order, with the alarm’s row, each once, never its own', async () => {
    const { url, a, b } = await twoGateways(NO_POLL);
    const heard = { a: [] as RemoteAlarmEvent[], b: [] as RemoteAlarmEvent[] };
    a.onRemote((es) => heard.a.push(...es));
    b.onRemote((es) => heard.b.push(...es));

    // Step by step: each of A's transitions reaches B well within 1 s, with the row after it.
    let cur = alarm({ priority: 'medium' });
    const steps: [AlarmTransition, Alarm][] = [[raise(cur), cur]];
    steps.push(escalate(cur, 'high', T + 120_000));
    steps.push(acknowledge((steps[1] as [AlarmTransition, Alarm])[1], 'ana', 'checked', T + 130_000));
    steps.push(clear((steps[2] as [AlarmTransition, Alarm])[1], T + 140_000));
    for (const [i, [t, after]] of steps.entries()) {
      const t0 = Date.now();
      expect((await a.record(t, t.type === 'acknowledged' ? 'checked' : null)).recorded).toBe(true);
      await until(() => heard.b.length === i + 1, 1500, `B hears A's ${t.type}`, 5);
      expect(Date.now() - t0).toBeLessThan(1000);
      const got = heard.b[i] as RemoteAlarmEvent;
      expect(got.event).toMatchObject({ id: i + 1, alarmId: cur.id, event: t.type, gateway: 'gw-a' });
      expect(got.alarm).toEqual(sharedOf(after));
      cur = after;
    }

    // B's own transitions reach A, never B.
    const own = alarm({ scope: 'wr-0002', raisedAt: T + 200_000 });
    await b.record(raise(own), null);
    await until(() => heard.a.length === 1, 1500, "A hears B's raise", 5);
    expect(heard.a[0]?.event).toMatchObject({ id: 5, alarmId: own.id, gateway: 'gw-b' });
    expect(heard.a[0]?.alarm).toEqual(sharedOf(own));

    // A burst from both at once: each hears every one of the other's, once and in order.
    const burst = Array.from({ length: 30 }, (_, i) => [
      a.record(raise(alarm({ scope: `wr-a${i}`, raisedAt: T + 300_000 + i })), null),
      b.record(raise(alarm({ scope: `wr-b${i}`, raisedAt: T + 300_000 + i })), null),
    ]).flat();
    const t0 = Date.now();
    await Promise.all(burst);
    await until(
      () => heard.a.length === 31 && heard.b.length === 34,
      2000,
      'each hears the other’s burst by notification',
      5,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 300));
    expect(heard.b.map((e) => e.event.gateway)).toEqual(Array(34).fill('gw-a'));
    expect(heard.a.map((e) => e.event.gateway)).toEqual(Array(31).fill('gw-b'));
    const idsOf = (es: RemoteAlarmEvent[]) => es.map((e) => e.event.id);
    const sorted = (xs: number[]) => [...xs].sort((p, q) => p - q);
    expect(idsOf(heard.b)).toEqual(sorted(idsOf(heard.b)));
    expect(idsOf(heard.a)).toEqual(sorted(idsOf(heard.a)));
    expect(new Set([...idsOf(heard.a), ...idsOf(heard.b)]).size).toBe(65);
    expect(await count(url, 'ward_alarm_events')).toBe(65);
  });

  it('behavior: a transition recorded while B reads and finds nothing is told at once (B reads again), not at the next poll', async () => {
    const url = await started().createDatabase();
    const a = await openLedger(url, 'gw-a');
    const proxy = await pgProxy(started().port, 250);
    try {
      const b = await openLedger(viaPort(url, proxy.port), 'gw-b', NO_POLL);
      const heard: RemoteAlarmEvent[] = [];
      b.onRemote((es) => heard.push(...es));
      // A notification with nothing new behind it (sent by hand): B reads, finds nothing, and
      // its answer takes 250 ms. Meanwhile A records: A's notification reaches B during that read.
      await sql(url, 'NOTIFY vitaltrail_alarms');
      await sleep(50);
      const x = alarm();
      const t0 = Date.now();
      expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
      await until(() => heard.length === 1, 3000, 'B hears the raise notified during its empty read');
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(heard[0]?.event).toMatchObject({ id: 1, alarmId: x.id, gateway: 'gw-a' });
      await b.close();
    } finally {
      await proxy.close();
    }
  });

  it('behavior: a listener that stops listening hears nothing more; one that throws does not stop the others', async () => {
    const { a, b } = await twoGateways(NO_POLL);
    const first: RemoteAlarmEvent[] = [];
    const second: RemoteAlarmEvent[] = [];
    const stop = b.onRemote((es) => first.push(...es));
    b.onRemote(() => {
      throw new Error('a failing listener');
    });
    b.onRemote((es) => second.push(...es));
    await a.record(raise(alarm({ scope: 'wr-0001' })), null);
    await until(() => first.length === 1 && second.length === 1, 1500, 'both listeners hear it', 5);
    stop();
    await a.record(raise(alarm({ scope: 'wr-0002' })), null);
    await until(() => second.length === 2, 1500, 'the remaining listener hears it', 5);
    await new Promise((r) => setTimeout(r, 200));
    expect(first).toHaveLength(1);
  });

  it('behavior: without notifications (trigger dropped) the poll delivers within pollMs; a ledger that does not poll hears nothing', async () => {
    const url = await started().createDatabase();
    const pollMs = 250;
    const a = await openLedger(url, 'gw-a', pollMs);
    const polling = await openLedger(url, 'gw-b', pollMs);
    const deaf = await openLedger(url, 'gw-c', NO_POLL);
    const heard: RemoteAlarmEvent[] = [];
    const deafHeard: RemoteAlarmEvent[] = [];
    polling.onRemote((es) => heard.push(...es));
    deaf.onRemote((es) => deafHeard.push(...es));
    await sql(url, 'DROP TRIGGER ward_alarm_events_notify ON ward_alarm_events');

    const x = alarm();
    const steps: [AlarmTransition, Alarm][] = [[raise(x), x], acknowledge(x, 'ana', null, T + 1_000)];
    for (const [i, [t, after]] of steps.entries()) {
      const t0 = Date.now();
      await a.record(t, null);
      await until(() => heard.length === i + 1, pollMs * 4, `the poll delivers ${t.type}`, 5);
      // One poll period, plus the read itself (with room for a loaded machine).
      expect(Date.now() - t0).toBeLessThan(2 * pollMs);
      expect(heard[i]?.event).toMatchObject({ id: i + 1, event: t.type, gateway: 'gw-a' });
      expect(heard[i]?.alarm).toEqual(sharedOf(after));
    }
    await new Promise((r) => setTimeout(r, 3 * pollMs));
    expect(heard).toHaveLength(2);
    expect(deafHeard).toEqual([]);
  });
});

describe('PgAlarms when the database is away', () => {
  /** Crashes of this process during a test (an unhandled 'error' event, a double release). */
  const crashes: unknown[] = [];
  const onException = (e: unknown) => crashes.push({ uncaught: (e as Error)?.stack ?? e });
  const onRejection = (e: unknown) => crashes.push({ unhandled: (e as Error)?.stack ?? e });
  beforeEach(() => {
    crashes.length = 0;
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
  });
  afterEach(() => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  });

  /** Sessions LISTENing on the alarms channel in a database (the ledgers' listeners). */
  const listeners = async (url: string): Promise<number> =>
    (
      await sql(
        url,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN vitaltrail_alarms'",
      )
    ).rows[0].n;

  const expectUnavailable = async (p: Promise<unknown>, what: string): Promise<void> => {
    const err = await rejection(p);
    expect(err, what).toBeInstanceOf(SharedStateError);
    expect((err as SharedStateError).code, what).toBe('shared_unavailable');
  };

  it('error: a gateway cut off from the database fails with shared_unavailable, does not crash, and follows the group again once it is back', async () => {
    const url = await started().createDatabase();
    const a = await openLedger(url, 'gw-a', 100);
    const proxy = await startTcpProxy(started().port);
    try {
      const b = await openLedger(viaPort(url, proxy.port), 'gw-b', 100);
      const heard: RemoteAlarmEvent[] = [];
      b.onRemote((es) => heard.push(...es));
      expect(await listeners(url)).toBe(2);

      proxy.cut();
      const x = alarm();
      await expectUnavailable(b.record(raise(x), null), 'record');
      await expectUnavailable(b.openAlarms(), 'openAlarms');
      await expectUnavailable(b.history('wr-0001', 10), 'history');
      await expectUnavailable(b.eventsFrom(1, 10), 'eventsFrom');
      await expectUnavailable(b.lastEventId(), 'lastEventId');
      // The group goes on without B: A records; B's polls fail meanwhile.
      expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
      await sleep(600);
      expect(await listeners(url)).toBe(1);
      expect(heard).toEqual([]);

      proxy.restore();
      // B's poll re-opens its listener and reads what it missed.
      await until(() => heard.length === 1, 3000, 'B hears what A recorded while it was away');
      expect(heard[0]?.event).toMatchObject({ id: 1, alarmId: x.id, gateway: 'gw-a' });
      expect(await listeners(url)).toBe(2);
      // A's listener never went away: the second one is B's, re-opened by its poll.
      const [ack] = acknowledge(x, 'ana', null, T + 1_000);
      expect(await a.record(ack, null)).toEqual({ recorded: true, eventId: 2 });
      await until(() => heard.length === 2, 1000, 'B hears the acknowledgement');
      expect(await b.record(clear(x, T + 2_000)[0], null)).toEqual({ recorded: true, eventId: 3 });
      await b.close();
    } finally {
      await proxy.close();
    }
    expect(crashes).toEqual([]);
  });

  it('error: a database that refuses connections and ends the sessions fails both gateways with shared_unavailable; both recover, listeners re-opened', async () => {
    const { url, a, b } = await twoGateways(100);
    const heardA: RemoteAlarmEvent[] = [];
    const heardB: RemoteAlarmEvent[] = [];
    a.onRemote((es) => heardA.push(...es));
    b.onRemote((es) => heardB.push(...es));
    const db = new URL(url).pathname.slice(1);
    const admin = new URL(url);
    admin.pathname = '/postgres';
    await a.record(raise(alarm({ scope: 'wr-0001' })), null);
    await until(() => heardB.length === 1, 1000, 'B hears the first raise');
    expect(await listeners(url)).toBe(2);

    await sql(admin.toString(), `ALTER DATABASE ${db} ALLOW_CONNECTIONS false`);
    const ended = await sql(
      admin.toString(),
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1',
      [db],
    );
    expect(ended.rows[0].n).toBeGreaterThanOrEqual(2); // at least the two listeners
    try {
      const y = alarm({ scope: 'wr-0002' });
      await expectUnavailable(a.record(raise(y), null), 'A records');
      await expectUnavailable(b.record(raise(y), null), 'B records');
      await expectUnavailable(b.openAlarms(), 'B lists');
      await new Promise((r) => setTimeout(r, 500)); // polls fail meanwhile
    } finally {
      await sql(admin.toString(), `ALTER DATABASE ${db} ALLOW_CONNECTIONS true`);
    }
    const deadline = Date.now() + 3000;
    while ((await listeners(url)) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await listeners(url)).toBe(2);
    const z = alarm({ scope: 'wr-0003' });
    expect(await b.record(raise(z), null)).toEqual({ recorded: true, eventId: 2 });
    await until(() => heardA.length === 1, 1000, 'A hears B again');
    expect(heardA[0]?.event).toMatchObject({ id: 2, alarmId: z.id, gateway: 'gw-b' });
    expect(heardB).toHaveLength(1);
    expect(crashes).toEqual([]);
  });

  it('error: a ledger closed while the server ends its sessions does not crash the process', async () => {
    const url = await started().createDatabase();
    const db = new URL(url).pathname.slice(1);
    const proxy = await pgProxy(started().port);
    try {
      const b = await PgAlarms.open({
        url: viaPort(url, proxy.port),
        password: started().password,
        gatewayId: 'gw-b',
        pollMs: NO_POLL,
      });
      expect(await listeners(url)).toBe(1);
      // What B sends from now on never reaches the server, its goodbye included: its
      // connections are still open on the server's side when it closes.
      proxy.hold();
      await b.close();
      // Then the server ends the sessions (an operator, a restart): B's released listener
      // connection hears it.
      const ended = await sql(
        url,
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db],
      );
      expect(ended.rows[0].n).toBeGreaterThanOrEqual(1);
      await sleep(300);
    } finally {
      await proxy.close();
    }
    expect(crashes).toEqual([]);
  });

  it('error: a poll period below 10 ms is refused before connecting', async () => {
    await expect(
      PgAlarms.open({ url: 'postgres://nobody@127.0.0.1:1/none', gatewayId: 'gw-a', pollMs: 5 }),
    ).rejects.toThrow(RangeError);
  });
});

/** What shared schema versions 1 and 2 created: a database rolled back to 2 keeps only these. */
const UP_TO_V2: Record<'TABLE' | 'FUNCTION' | 'SEQUENCE', readonly string[]> = {
  TABLE: ['schema_version', 'users', 'ward_bindings'],
  FUNCTION: ['users_stamp', 'users_notify', 'ward_bindings_stamp', 'ward_bindings_notify'],
  SEQUENCE: ['users_change_no', 'ward_bindings_id', 'ward_bindings_change_no'],
};

/** The tables, functions and sequences of a database's public schema, as `KIND name`. */
async function objects(url: string): Promise<string[]> {
  const r = await sql(
    url,
    `SELECT 'TABLE' AS kind, tablename AS name FROM pg_tables WHERE schemaname = 'public'
     UNION ALL SELECT 'FUNCTION', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public'
     UNION ALL SELECT 'SEQUENCE', sequencename FROM pg_sequences WHERE schemaname = 'public'`,
  );
  return r.rows.map((x) => `${x.kind} ${x.name}`).sort();
}

/**
 * Takes a database back to a schema version: drops every object that version did not have
 * (whatever later versions added, this one's alarm tables included) and sets the version.
 * @returns what it dropped
 */
async function rollBack(
  url: string,
  keep: Record<'TABLE' | 'FUNCTION' | 'SEQUENCE', readonly string[]>,
  version: number,
): Promise<string[]> {
  const order = ['TABLE', 'FUNCTION', 'SEQUENCE'] as const;
  const drop = (await objects(url))
    .map((o) => o.split(' ') as [(typeof order)[number], string])
    .filter(([kind, name]) => !keep[kind].includes(name))
    .sort(([k1], [k2]) => order.indexOf(k1) - order.indexOf(k2));
  await sql(
    url,
    [
      ...drop.map(([kind, name]) => `DROP ${kind} ${name} CASCADE`),
      `UPDATE schema_version SET version = ${version}`,
    ].join('; '),
  );
  return drop.map(([kind, name]) => `${kind} ${name}`);
}

describe('PgAlarms on an older shared database', () => {
  it('behavior: a database of the second shared slice (version 2) is migrated (to 3 and on), its accounts and admissions kept', async () => {
    const url = await started().createDatabase();
    const password = started().password;
    const pair = recipientPair('records', 'ec');
    const users = await PgUserDirectory.open({ url, password });
    await users.add('ana', 'nurse', 'correct horse battery 1');
    await users.close();
    const book = await PgBindings.open({
      url,
      password,
      recipients: [pair.recipient],
      secrets: [{ kid: 'records', privateKey: pair.privateKey }],
    });
    await book.admit('wr-0001', 'P-1', 'Bed 1', T, 'ana');
    await book.close();
    // Back to what version 2 had: no alarm tables, nor their function (nor what came later).
    const dropped = await rollBack(url, UP_TO_V2, 2);
    expect(dropped).toEqual(
      expect.arrayContaining([
        'TABLE ward_alarm_events',
        'TABLE ward_alarms',
        'FUNCTION ward_alarm_events_notify',
      ]),
    );
    expect(await objects(url)).toEqual(
      Object.entries(UP_TO_V2)
        .flatMap(([kind, names]) => names.map((n) => `${kind} ${n}`))
        .sort(),
    );

    const a = await openLedger(url, 'gw-a');
    const x = alarm();
    expect(await a.record(raise(x), null)).toEqual({ recorded: true, eventId: 1 });
    expect(await a.openAlarms()).toEqual([sharedOf(x)]);
    expect((await sql(url, 'SELECT version FROM schema_version')).rows).toEqual([
      { version: SHARED_SCHEMA_VERSION },
    ]);
    expect(SHARED_SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
    // Every shared table is back, and only those.
    expect((await objects(url)).filter((o) => o.startsWith('TABLE ')).sort()).toEqual(
      Object.keys(PG_TABLE_OWNERS)
        .map((t) => `TABLE ${t}`)
        .sort(),
    );
    expect((await sql(url, 'SELECT username FROM users')).rows).toEqual([{ username: 'ana' }]);
    expect((await sql(url, 'SELECT dev, bed, admitted_by FROM ward_bindings')).rows).toEqual([
      { dev: 'wr-0001', bed: 'Bed 1', admitted_by: 'ana' },
    ]);
    // The notification trigger is back: a second ledger hears the first by notification.
    const b = await openLedger(url, 'gw-b');
    const heard: RemoteAlarmEvent[] = [];
    b.onRemote((es) => heard.push(...es));
    await a.record(clear(x, T + 1)[0], null);
    await until(() => heard.length === 1, 1000, 'B hears the clear');
  });
});
