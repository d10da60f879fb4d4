/**
 * @module test/integration/local-alarm-ledger
 * A lone gateway's alarm ledger (io/clinical `LocalAlarmLedger`, issue 16: "one interface, one
 * abstract test suite run against both") on real SQLite files in a temp data dir:
 * - the abstract suite (alarm-ledger-abstract.ts, also run against PostgreSQL by
 *   alarm-ledger.test.ts), its two handles the gateway's ledger and another one on a second
 *   connection to the same file (as a restarted gateway has);
 * - the alarms as decided outlive the store: reopened, the file gives the acknowledged alarm
 *   back, and a second acknowledgement is refused;
 * - the gateway's own gateway-wide alarms are stored under `gateway` (as before schema
 *   version 7): transitions recorded before the ledger are in its history and feed under
 *   `gateway:<id>`, the ledger's own read by the old history reader, event ids continuing;
 * - `onRemote` never fires (one process holds a data dir);
 * - an alarm the alarm service raised while the store refused the ledger's writes is
 *   acknowledged and cleared once the store is back, by the board alone, each audited once;
 * - the transitions of one turn of the event loop share one fsync, taken on the next turn;
 *   an acknowledgement is fsync'd before it is answered, the alarm feed before it reads;
 * - a store that cannot be used fails with `store_failed`.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../gateway/src/core/alarms/index.js';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import { JOBS_PER_TURN } from '../../gateway/src/io/clinical/alarm-group.js';
import {
  type AlarmAuditEvent,
  AlarmService,
  AlarmStore,
  LocalAlarmLedger,
} from '../../gateway/src/io/clinical/index.js';
import { type GatewayStore, StoreError } from '../../gateway/src/io/store/index.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { expectCode, fixturePerTest } from '../helpers/contract.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import {
  acknowledge,
  alarm,
  alarmRowOf,
  clear,
  describeAlarmLedger,
  raise,
  sharedOf,
  T,
} from './alarm-ledger-abstract.js';

const TABLES = { alarms: 'dashboard_alarms', events: 'dashboard_alarm_events' } as const;
const GW = 'gw-1';

const rowsOf = (store: GatewayStore, sql: string, ...params: unknown[]): Record<string, unknown>[] =>
  store.db.prepare(sql).all(...params) as Record<string, unknown>[];

/** A fresh data dir's store, another connection to its file, and their removal. */
function dataDir(): { path: string; store: GatewayStore; close(): void } {
  const tmp = makeTempDir('vt-local-alarms-');
  const path = join(tmp.dir, 'gateway', 'gateway.db');
  const store = openStore(path);
  return {
    path,
    store,
    close: () => {
      store.close();
      tmp.cleanup();
    },
  };
}

describeAlarmLedger('LocalAlarmLedger (SQLite, a lone gateway)', async () => {
  const dir = dataDir();
  const again = openStore(dir.path);
  const { store } = dir;
  // The gateway's own gateway-wide scope is stored as `gateway`: counted as the ledger names it.
  const stored = (scope: string) => (scope === `gateway:${GW}` ? 'gateway' : scope);
  return {
    a: new LocalAlarmLedger({ store, gatewayId: GW }),
    b: new LocalAlarmLedger({ store: again, gatewayId: GW }),
    gatewayOf: { a: GW, b: GW },
    interleaves: false,
    count: async (table, scope) =>
      Number(
        scope === undefined
          ? rowsOf(store, `SELECT count(*) AS n FROM ${TABLES[table]}`)[0]?.n
          : rowsOf(store, `SELECT count(*) AS n FROM ${TABLES[table]} WHERE scope = ?`, stored(scope))[0]?.n,
      ),
    alarmRows: async () =>
      rowsOf(store, 'SELECT * FROM dashboard_alarms ORDER BY raised_at, id').map(alarmRowOf),
    columns: async (table) =>
      rowsOf(store, `PRAGMA table_info(${TABLES[table]})`).map((c) => c.name as string),
    storedText: async (table) => JSON.stringify(rowsOf(store, `SELECT * FROM ${TABLES[table]}`)),
    close: async () => {
      again.close();
      dir.close();
    },
  };
});

describe('LocalAlarmLedger: what only a lone gateway has', () => {
  const fx = fixturePerTest(async () => {
    const dir = dataDir();
    return {
      ...dir,
      ledger: new LocalAlarmLedger({ store: dir.store, gatewayId: GW }),
      close: async () => dir.close(),
    };
  });

  it('behavior: the alarms as decided outlive the store: reopened, the acknowledged alarm is given back, a second acknowledgement refused', async () => {
    const { path, store, ledger } = await fx.fresh();
    const x = alarm({ priority: 'high', basePriority: 'high' });
    await ledger.record(raise(x), null);
    const [ack, acked] = acknowledge(x, 'ana', 'at the bedside', T + 5_000);
    expect(await ledger.record(ack, 'at the bedside')).toEqual({ recorded: true, eventId: 2 });
    await ledger.close();
    store.close();

    const reopened = openStore(path);
    try {
      const after = new LocalAlarmLedger({ store: reopened, gatewayId: GW });
      expect(await after.openAlarms()).toEqual([sharedOf(acked)]);
      const [late] = acknowledge(x, 'ben', null, T + 9_000);
      expect(await after.record(late, null)).toEqual({ recorded: false, shared: sharedOf(acked) });
      expect(await after.lastEventId()).toBe(2);
      expect((await after.history('wr-0001', 10)).map((e) => [e.event, e.by, e.comment])).toEqual([
        ['acknowledged', 'ana', 'at the bedside'],
        ['raised', null, null],
      ]);
    } finally {
      reopened.close();
    }
  });

  it('behavior: gateway-wide transitions recorded before the ledger are its history and feed under gateway:<id>; its own are stored as `gateway`, ids continuing', async () => {
    const { store, ledger } = await fx.fresh();
    // What the alarm service wrote before schema version 7: scope `gateway`, no alarm row.
    const history = new AlarmStore(store);
    const old = { alarmId: 'old-1', code: 'storage_failing', kind: 'technical', priority: 'medium' };
    const base = { ...old, dev: 'gateway', scope: 'gateway', by: null, comment: null };
    expect(history.addEvent({ ...base, event: 'raised', at: T })).toBe(1);
    expect(history.addEvent({ ...base, event: 'cleared', at: T + 1_000 })).toBe(2);

    const own = `gateway:${GW}`;
    const x = alarm({ scope: own, code: 'anchoring_delayed', kind: 'technical', raisedAt: T + 2_000 });
    expect(await ledger.record(raise(x), null)).toEqual({ recorded: true, eventId: 3 });
    expect(await ledger.openAlarms()).toEqual([sharedOf(x)]);
    // Another gateway's scope (not this one's) is kept as it is.
    const other = alarm({
      scope: 'gateway:gw-2',
      code: 'anchoring_delayed',
      kind: 'technical',
      raisedAt: T + 3_000,
    });
    expect(await ledger.record(raise(other), null)).toEqual({ recorded: true, eventId: 4 });

    expect((await ledger.history(own, 10)).map((e) => [e.alarmId, e.dev, e.event])).toEqual([
      [x.id, own, 'raised'],
      ['old-1', own, 'cleared'],
      ['old-1', own, 'raised'],
    ]);
    expect((await ledger.eventsFrom(1, 10)).map((e) => [e.id, e.alarmId, e.dev, e.gateway])).toEqual([
      [1, 'old-1', own, GW],
      [2, 'old-1', own, GW],
      [3, x.id, own, GW],
      [4, other.id, 'gateway:gw-2', GW],
    ]);
    // As stored: `gateway`, which the history reader of a gateway before the ledger reads.
    expect(rowsOf(store, 'SELECT id, scope FROM dashboard_alarms ORDER BY raised_at')).toEqual([
      { id: x.id, scope: 'gateway' },
      { id: other.id, scope: 'gateway:gw-2' },
    ]);
    expect(history.history('gateway', 10).map((e) => e.alarmId)).toEqual([x.id, 'old-1', 'old-1']);
    // The same condition is one alarm whichever way its scope is named.
    const twin = alarm({ scope: own, code: 'anchoring_delayed', kind: 'technical', raisedAt: T + 4_000 });
    expect(await ledger.record(raise(twin), null)).toEqual({ recorded: false, shared: sharedOf(x) });
    expect(await ledger.record(clear(x, T + 5_000)[0], null)).toEqual({ recorded: true, eventId: 5 });
  });

  it('behavior: onRemote never fires (one process holds a data dir), also for another handle on the file', async () => {
    const { store, ledger, path } = await fx.fresh();
    const second = openStore(path);
    try {
      const other = new LocalAlarmLedger({ store: second, gatewayId: GW });
      const heard: unknown[] = [];
      const stop = ledger.onRemote((es) => heard.push(...es));
      other.onRemote((es) => heard.push(...es));
      const x = alarm();
      expect((await other.record(raise(x), null)).recorded).toBe(true);
      expect((await ledger.record(acknowledge(x, 'ana', null, T + 1)[0], null)).recorded).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(heard).toEqual([]);
      stop();
      expect(rowsOf(store, 'SELECT count(*) AS n FROM dashboard_alarm_events')).toEqual([{ n: 2 }]);
    } finally {
      second.close();
    }
  });

  it('behavior: an alarm raised while the store refused the ledger is acknowledged and cleared by the board alone once it is back, each transition audited once', async () => {
    const { store, ledger } = await fx.fresh();
    const audits: AlarmAuditEvent[] = [];
    const hub = new LiveHub();
    hub.addDevice('wr-0001');
    let clock = T;
    let seq = 0;
    const feed = (obs: LiveReading['obs']) =>
      hub.publish({ dev: 'wr-0001', seq: ++seq, ts: clock, obs, bat: 80, receivedAt: clock });
    const service = new AlarmService({
      store,
      hub,
      now: () => clock,
      tickMs: 3_600_000, // ticks are driven by the test
      policies: { hr: { ...DEFAULT_POLICIES.hr, delaySeconds: 0 } },
      group: { ledger, gatewayId: GW },
      audit: (e) => audits.push(e),
    });
    const hrEvents = () =>
      audits.flatMap((e) =>
        e.type === 'alarm' && e.code === 'hr_high' ? [`${e.event} ${e.user ?? '-'}`] : [],
      );
    try {
      await service.join();
      // The store refuses every new alarm row (as a full disk would): the board decides alone.
      store.db.exec(
        "CREATE TRIGGER vt_full BEFORE INSERT ON dashboard_alarms BEGIN SELECT RAISE(ABORT, 'full'); END",
      );
      feed({ hr: 150 });
      await until(() => hrEvents().length === 1, 1000, 'the raise decided alone');
      expect(await ledger.openAlarms()).toEqual([]);
      store.db.exec('DROP TRIGGER vt_full');

      const id = service.openAlarms('wr-0001').find((a) => a.code === 'hr_high')?.id as string;
      clock += 1_000;
      expect(await service.acknowledge(id, 'ana', 'seen')).toMatchObject({
        id,
        state: 'acknowledged',
        ackBy: 'ana',
      });
      clock += 1_000;
      feed({ hr: 72 });
      await until(() => hrEvents().length === 3, 1000, 'the clear decided');
      expect(hrEvents()).toEqual(['raised -', 'acknowledged ana', 'cleared -']);
      expect(service.openAlarms('wr-0001')).toEqual([]);
      // What the board decided alone is not the ledger's.
      expect(await ledger.openAlarms()).toEqual([]);
    } finally {
      service.stop();
    }
  });

  it('behavior: a burst of decisions (every bed offline at once) lets the event loop turn between them, and all are decided', async () => {
    const { store, ledger } = await fx.fresh();
    const hub = new LiveHub();
    let clock = T;
    const service = new AlarmService({
      store,
      hub,
      now: () => clock,
      tickMs: 3_600_000, // ticks are driven by the test
      group: { ledger, gatewayId: GW },
    });
    const beds = 4 * JOBS_PER_TURN;
    let decided = 0;
    service.subscribe((m) => {
      if (m.type === 'alarm' && m.event === 'raised' && m.alarm.code === 'device_offline') decided++;
    });
    try {
      await service.join();
      const obs = { hr: 72, spo2: 97, rr: 16, temp: 36.8, sbp: 120, dbp: 80 };
      for (let i = 0; i < beds; i++)
        hub.publish({ dev: `wr-${i}`, seq: 1, ts: clock, obs, bat: 80, receivedAt: clock });
      clock += 31_000; // past the 30 s offline threshold: every bed's alarm in one tick
      let decidedAtTurn = -1;
      // Queued before the burst: the next turn of the event loop. Before, the whole burst ran
      // first, as one chain of promises that no socket could interrupt.
      setImmediate(() => {
        decidedAtTurn = decided;
      });
      service.tick();
      await until(() => decided === beds, 10_000, 'every bed decided');
      expect(decidedAtTurn).toBeGreaterThanOrEqual(0);
      expect(decidedAtTurn).toBeLessThan(beds);
      expect(decidedAtTurn).toBeLessThanOrEqual(JOBS_PER_TURN);
      expect((await ledger.openAlarms()).filter((a) => a.code === 'device_offline')).toHaveLength(beds);
    } finally {
      service.stop();
    }
  });

  it('behavior: the transitions of one turn share one fsync, on the next turn; an acknowledgement and the alarm feed wait for theirs', async () => {
    const { store, path } = await fx.fresh();
    // A counting stand-in for the WAL's fsync (what it protects from, a power loss, cannot be
    // produced here); the default, a real fdatasync, runs in every other test of this file.
    let syncs = 0;
    let failNext = false;
    const ledger = new LocalAlarmLedger({
      store,
      gatewayId: GW,
      sync: () => {
        if (failNext) {
          failNext = false;
          throw new Error('EIO');
        }
        syncs++;
      },
    });
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    const other = openStore(path); // another connection: what is committed, not what is cached
    try {
      const burst = Array.from({ length: JOBS_PER_TURN }, (_, i) => alarm({ scope: `wr-${i}` }));
      for (const a of burst) expect((await ledger.record(raise(a), null)).recorded).toBe(true);
      expect(syncs).toBe(0); // committed, each on its own, and not one fsync yet
      expect(rowsOf(other, 'SELECT count(*) AS n FROM dashboard_alarm_events')[0]?.n).toBe(JOBS_PER_TURN);
      await turn();
      expect(syncs).toBe(1); // the whole turn's
      await turn();
      expect(syncs).toBe(1); // nothing new: no fsync
      // The feed fsyncs what is pending before it reads: a sent event is a durable one.
      await ledger.record(raise(alarm({ scope: 'wr-feed' })), null);
      expect(await ledger.eventsFrom(1, 1_000)).toHaveLength(JOBS_PER_TURN + 1);
      expect(syncs).toBe(2);
      await turn();
      expect(syncs).toBe(2);
      // An acknowledgement is answered to its nurse only once fsync'd.
      const [ack] = acknowledge(burst[0] as ReturnType<typeof alarm>, 'nurse.a', null, T + 1);
      expect((await ledger.record(ack, null)).recorded).toBe(true);
      expect(syncs).toBe(3);
      // An fsync that fails stays pending: the feed reads nothing until one succeeds.
      await ledger.record(clear(burst[1] as ReturnType<typeof alarm>, T + 2)[0], null);
      failNext = true;
      await expectCode(ledger.eventsFrom(1, 1_000), StoreError, 'store_failed');
      expect(await ledger.eventsFrom(1, 1_000)).toHaveLength(JOBS_PER_TURN + 3);
      expect(syncs).toBe(4);
    } finally {
      other.close();
      await ledger.close();
    }
  });

  it('error: a store that cannot be used fails with store_failed (record, openAlarms, history, eventsFrom, lastEventId)', async () => {
    const { store, ledger } = await fx.fresh();
    const x = alarm();
    await ledger.record(raise(x), null);
    store.close();
    await expectCode(ledger.record(clear(x, T + 1)[0], null), StoreError, 'store_failed');
    await expectCode(ledger.openAlarms(), StoreError, 'store_failed');
    await expectCode(ledger.history('wr-0001', 10), StoreError, 'store_failed');
    await expectCode(ledger.eventsFrom(1, 10), StoreError, 'store_failed');
    await expectCode(ledger.lastEventId(), StoreError, 'store_failed');
  });
});
