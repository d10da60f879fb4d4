/**
 * @module test/integration/alarm-ledger-abstract
 * The abstract suite of the alarm ledger (io/clinical `AlarmLedger`, issue 16: "one
 * interface, one abstract test suite run against both"; STYLE.md §4): a gateway group's
 * PostgreSQL (io/shared `PgAlarms`, test/integration/alarm-ledger.test.ts) and a lone
 * gateway's SQLite store (io/clinical `LocalAlarmLedger`, local-alarm-ledger.test.ts) decide
 * alike. Two handles on one store (two gateways of a group; a lone gateway and another
 * handle on its data dir, as after a restart) are fed hand-made transitions:
 * - a raise both propose at once is recorded once (one row, one event) and the other is told
 *   the winner's alarm; an acknowledgement, an escalation, a re-notification, a latch and a
 *   clear proposed by both are recorded once; a stale escalation never lowers the alarm; a
 *   reactivation re-opens the same id, unless the condition has since been raised anew (then
 *   that open alarm is the answer); a transition on an alarm the ledger does not hold is not
 *   recorded;
 * - event ids are 1..n without gaps in record order, also under records from both handles at
 *   once and for a reader reading meanwhile; `eventsFrom`, `lastEventId` and `history`
 *   (newest first) return them, each naming the gateway that recorded it;
 * - `openAlarms` lists the open alarms only (a gateway-wide one under its `gateway:<id>`
 *   scope); no vital value is stored.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type {
  Alarm,
  AlarmPriority,
  AlarmTransition,
  AlarmTransitionType,
  SharedAlarm,
} from '../../gateway/src/core/alarms/index.js';
import type { AlarmDecision, AlarmLedger } from '../../gateway/src/io/clinical/index.js';
import { fixturePerTest } from '../helpers/contract.js';

export const T = Date.UTC(2026, 11, 3, 9, 0, 0);

/** A stored alarm row, its numbers as numbers and `latched` a boolean (see `alarmRowOf`). */
export type AlarmRow = Record<string, unknown>;

const NUMERIC = ['raised_at', 'updated_at', 'ack_at', 'cleared_at', 'escalations', 'notified_at'];

/** A stored alarm row alike on both stores (PostgreSQL's bigints are text, SQLite's booleans 0/1). */
export function alarmRowOf(r: Record<string, unknown>): AlarmRow {
  const out: AlarmRow = { ...r, latched: r.latched === true || r.latched === 1 };
  for (const k of NUMERIC) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  return out;
}

/** Two handles on one fresh, empty store, and what the store holds. */
export interface AlarmLedgerFixture {
  a: AlarmLedger;
  b: AlarmLedger;
  /** The gateway the events of each handle name (a lone gateway's handles: the same one). */
  gatewayOf: { a: string; b: string };
  /**
   * Whether the records of the two handles interleave (two pools racing on a server); false:
   * each record runs to its end before the next begins (one process's SQLite), so of two
   * proposals made at once the first is the one recorded.
   */
  interleaves: boolean;
  /** Stored rows of the alarms or the events, of one scope (as the ledger names it) or all. */
  count(table: 'alarms' | 'events', scope?: string): Promise<number>;
  /** Every stored alarm row (cleared ones too), oldest raised first, through `alarmRowOf`. */
  alarmRows(): Promise<AlarmRow[]>;
  /** The columns of the alarms or the events table, in order. */
  columns(table: 'alarms' | 'events'): Promise<string[]>;
  /** Every stored row of the alarms or the events table, as text. */
  storedText(table: 'alarms' | 'events'): Promise<string>;
  close(): Promise<void>;
}

/** A new active alarm as a board raises it (vital values included: they must stay out). */
export function alarm(o: Partial<Alarm> = {}): Alarm {
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

export const transition = (
  type: AlarmTransitionType,
  a: Alarm,
  at: number,
  by?: string,
): AlarmTransition => ({
  type,
  alarm: { ...a },
  at,
  ...(by !== undefined ? { by } : {}),
});

/** The group's copy of an alarm: every field but the vital values. */
export function sharedOf(a: Alarm): SharedAlarm {
  const { value: _v, limit: _l, triggerValue: _t, ...s } = a;
  return s;
}

/** The proposal a board makes of each transition, and the alarm as it is after it. */
export const raise = (a: Alarm) => transition('raised', a, a.raisedAt);
export function escalate(a: Alarm, priority: AlarmPriority, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, priority, escalations: a.escalations + 1, notifiedAt: at, updatedAt: at };
  return [transition('escalated', n, at), n];
}
export function renotify(a: Alarm, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, escalations: a.escalations + 1, notifiedAt: at, updatedAt: at };
  return [transition('renotified', n, at), n];
}
export function latch(a: Alarm, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, latched: true, updatedAt: at };
  return [transition('latched', n, at), n];
}
export function acknowledge(
  a: Alarm,
  user: string,
  comment: string | null,
  at: number,
): [AlarmTransition, Alarm] {
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
export function clear(a: Alarm, at: number): [AlarmTransition, Alarm] {
  const n: Alarm = { ...a, state: 'cleared', latched: false, clearedAt: at, updatedAt: at };
  return [transition('cleared', n, at), n];
}
export function reactivate(a: Alarm, priority: AlarmPriority, at: number): [AlarmTransition, Alarm] {
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

/** Both handles propose the same transition at once: exactly one is recorded. */
async function both(
  f: AlarmLedgerFixture,
  t: AlarmTransition,
  comment: string | null = null,
): Promise<{ winner: string; eventId: number; loser: AlarmDecision }> {
  const [da, db] = await Promise.all([f.a.record(t, comment), f.b.record(t, comment)]);
  const recorded = [da, db].filter((d) => d.recorded);
  expect(recorded, `${t.type}: recorded once`).toHaveLength(1);
  if (!f.interleaves) expect(da.recorded, `${t.type}: the first proposal wins`).toBe(true);
  const winner = da.recorded ? f.gatewayOf.a : f.gatewayOf.b;
  const [won, lost] = da.recorded ? [da, db] : [db, da];
  return { winner, eventId: won.recorded ? won.eventId : -1, loser: lost };
}

/** Registers the suite under `describe(name)`; `open` runs once per test. */
export function describeAlarmLedger(name: string, open: () => Promise<AlarmLedgerFixture>): void {
  describe(`AlarmLedger contract: ${name}`, () => {
    const fx = fixturePerTest(open);

    describe('a transition is recorded once', () => {
      it('behavior: a raise both gateways propose at once is recorded once; the other is told the winner’s alarm', async () => {
        const f = await fx.fresh();
        const { a, b } = f;
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
          if (!f.interleaves) expect(da.recorded, `round ${round}: the first proposal wins`).toBe(true);
          const [winner, won, lost] = da.recorded ? [fromA, da, db] : [fromB, db, da];
          expect(won).toEqual({ recorded: true, eventId: round + 1 });
          expect(lost).toEqual({ recorded: false, shared: sharedOf(winner) });
          expect(await f.count('alarms', scope)).toBe(1);
          expect(await f.count('events', scope)).toBe(1);
          const [event] = await a.eventsFrom(round + 1, 10);
          expect(event).toMatchObject({
            alarmId: winner.id,
            event: 'raised',
            gateway: winner === fromA ? f.gatewayOf.a : f.gatewayOf.b,
          });
        }
        expect(await f.count('alarms')).toBe(8);
        expect(await f.count('events')).toBe(8);
      });

      it('behavior: an acknowledgement is recorded once, its user and comment stored; the other gateway is told it is acknowledged', async () => {
        const f = await fx.fresh();
        const { a, b } = f;
        const raised = alarm();
        expect(await a.record(raise(raised), null)).toEqual({ recorded: true, eventId: 1 });

        // Two nurses acknowledge it on two gateways at once.
        const [byAna, acked] = acknowledge(raised, 'ana', 'at the bedside', T + 5_000);
        const [byBen] = acknowledge(raised, 'ben', 'seen', T + 5_001);
        const [da, db] = await Promise.all([a.record(byAna, 'at the bedside'), b.record(byBen, 'seen')]);
        expect([da, db].filter((d) => d.recorded)).toHaveLength(1);
        if (!f.interleaves) expect(da.recorded, 'the first acknowledgement wins').toBe(true);
        const anaWon = da.recorded;
        const expected = anaWon
          ? sharedOf(acked)
          : sharedOf(acknowledge(raised, 'ben', 'seen', T + 5_001)[1]);
        expect(anaWon ? db : da).toEqual({ recorded: false, shared: expected });
        expect(anaWon ? da : db).toEqual({ recorded: true, eventId: 2 });
        expect(await f.alarmRows()).toEqual([
          expect.objectContaining({
            state: 'acknowledged',
            ack_by: expected.ackBy,
            ack_at: expected.ackAt,
            ack_comment: expected.ackComment,
          }),
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
        const f = await fx.fresh();
        const { a, b } = f;
        let cur = alarm({ priority: 'medium', basePriority: 'medium' });
        await a.record(raise(cur), null);
        const steps: [AlarmTransition, Alarm][] = [];
        steps.push(escalate(cur, 'high', T + 120_000));
        steps.push(renotify((steps[0] as [AlarmTransition, Alarm])[1], T + 240_000));
        steps.push(latch((steps[1] as [AlarmTransition, Alarm])[1], T + 250_000));
        steps.push(clear((steps[2] as [AlarmTransition, Alarm])[1], T + 260_000));
        const winners: string[] = [];
        for (const [i, [t, after]] of steps.entries()) {
          const r = await both(f, t);
          winners.push(r.winner);
          expect(r.eventId, t.type).toBe(i + 2);
          // The loser is told the group's alarm as the winner left it.
          expect(r.loser, t.type).toEqual({ recorded: false, shared: sharedOf(after) });
          cur = after;
        }
        expect(await a.eventsFrom(1, 100)).toEqual(
          ['raised', 'escalated', 'renotified', 'latched', 'cleared'].map((event, i) =>
            expect.objectContaining({ id: i + 1, event, gateway: i === 0 ? f.gatewayOf.a : winners[i - 1] }),
          ),
        );
        expect(await f.alarmRows()).toEqual([
          expect.objectContaining({
            id: cur.id,
            state: 'cleared',
            priority: 'high',
            base_priority: 'medium',
            latched: false,
            escalations: 2,
            cleared_at: T + 260_000,
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
        const f = await fx.fresh();
        const { a, b } = f;
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
        expect(await f.alarmRows()).toEqual([
          expect.objectContaining({ priority: 'high', base_priority: 'high', escalations: 0 }),
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
        const f = await fx.fresh();
        const { a, b } = f;
        const raised = alarm({ priority: 'high', basePriority: 'high' });
        await a.record(raise(raised), null);
        const [cleared, gone] = clear(raised, T + 60_000);
        await b.record(cleared, null);
        expect(await a.openAlarms()).toEqual([]);
        const [again, reopened] = reactivate(gone, 'medium', T + 90_000);
        const r = await both(f, again);
        expect(r.loser).toEqual({ recorded: false, shared: sharedOf(reopened) });
        expect(await b.openAlarms()).toEqual([sharedOf(reopened)]);
        expect(await f.count('alarms')).toBe(1);
        expect((await a.history('wr-0001', 10)).map((e) => [e.alarmId, e.event, e.priority])).toEqual([
          [raised.id, 'reactivated', 'medium'],
          [raised.id, 'cleared', 'high'],
          [raised.id, 'raised', 'high'],
        ]);
      });

      it('behavior: a reactivation while the group holds another open alarm of that scope and code is not recorded and is told the open one', async () => {
        const f = await fx.fresh();
        const { a, b } = f;
        const first = alarm();
        await a.record(raise(first), null);
        const [cleared, gone] = clear(first, T + 60_000);
        await a.record(cleared, null);
        // A's board no longer remembers the episode and raises anew; B's reactivates the old one.
        const second = alarm({ raisedAt: T + 70_000 });
        expect(await a.record(raise(second), null)).toEqual({ recorded: true, eventId: 3 });
        const d = await b.record(reactivate(gone, 'medium', T + 70_001)[0], null);
        expect(d).toEqual({ recorded: false, shared: sharedOf(second) });
        expect((await f.alarmRows()).map((r) => [r.id, r.state])).toEqual([
          [first.id, 'cleared'],
          [second.id, 'active'],
        ]);
        expect(await b.lastEventId()).toBe(3);
        // The ledger is still usable after the refused statement (its transaction rolled back).
        expect((await b.record(acknowledge(second, 'ana', null, T + 80_000)[0], null)).recorded).toBe(true);
      });

      it('behavior: a transition on an alarm the group does not hold is not recorded', async () => {
        const { a } = await fx.fresh();
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

    describe('the alarm feed and history', () => {
      it('behavior: concurrent records from both gateways are numbered 1..n without gaps, in record order; readers never see a gap', async () => {
        const f = await fx.fresh();
        const { a, b } = f;
        const n = 50;
        const scopes = Array.from({ length: n }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
        // Every scope raised by both gateways at once (each board its own id): 50 recorded.
        const proposals = scopes.flatMap((scope, i) => {
          const at = T + i;
          return [
            { by: 'a' as const, alarm: alarm({ scope, raisedAt: at }), ledger: a },
            { by: 'b' as const, alarm: alarm({ scope, raisedAt: at }), ledger: b },
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
            gateway: f.gatewayOf[x.by],
            event: 'raised',
          });
        }
        // Both handles recorded some (the race was real on both sides); without interleaving,
        // every scope went to its first proposal.
        expect(new Set(recorded.map((x) => x.by))).toEqual(new Set(f.interleaves ? ['a', 'b'] : ['a']));
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
        expect((await b.eventsFrom(21, 10)).map((e) => e.id)).toEqual([
          21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
        ]);
        expect((await b.eventsFrom(n + 1, 10)).map((e) => [e.id, e.event, e.gateway])).toEqual([
          [n + 1, 'acknowledged', f.gatewayOf.b],
          [n + 2, 'cleared', f.gatewayOf.a],
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
        expect(await f.count('events')).toBe(n + 2);
      });

      it('behavior: openAlarms lists the open alarms only (active and acknowledged); no vital value is stored', async () => {
        const f = await fx.fresh();
        const { a, b } = f;
        const active = alarm({ scope: 'wr-0001', raisedAt: T });
        const acked = alarm({ scope: 'wr-0002', code: 'hr_high', raisedAt: T + 1 });
        const ended = alarm({ scope: 'wr-0003', raisedAt: T + 2 });
        const tech = alarm({
          scope: `gateway:${f.gatewayOf.b}`,
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

        expect(await f.columns('alarms')).toEqual([
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
        for (const table of ['alarms', 'events'] as const) {
          expect(
            (await f.columns(table)).filter((c) => /value|limit|trigger/i.test(c)),
            table,
          ).toEqual([]);
          // The values the boards held (85.125, 90.375, 84.625) appear nowhere.
          const text = await f.storedText(table);
          expect(text).toContain(active.id);
          for (const v of ['85.125', '90.375', '84.625', '85.12', '90.37', '84.62'])
            expect(text.includes(v), `${table}: ${v}`).toBe(false);
        }
      });
    });
  });
}
