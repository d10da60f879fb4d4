/**
 * @module test/integration/alarm-group
 * Issue 16, "alarms decided once across a gateway group", in one process: AlarmService
 * instances (io/clinical/alarm-service with `group`, driving io/clinical/alarm-group) as the
 * gateways of one group, each with its own SQLite store and its own LiveHub, all on ONE real
 * PostgreSQL database (io/shared/pg-alarms `PgAlarms`, test/helpers/pg-suite). As the
 * internal live stream does, every gateway's hub is fed the same readings; the clock of the
 * boards is the test's (`now`), the ledger's notifications and polls are real.
 * - A breach seen by both boards raises one alarm: one id on both boards, one `raised` audit
 *   event across both gateways, one `raised` in the group's alarm feed.
 * - Acknowledged on B: A shows it acknowledged by that nurse within 2 s (and tells its
 *   sockets); one `acknowledged` audit event, B's; acknowledging it on A is `alarm_not_active`.
 * - The condition ends: one `cleared`, on both boards.
 * - The loss of the gateway that raised it: the survivor still shows it; a gateway that joins
 *   afterwards takes it, and it is cleared once when the condition ends (also when no gateway
 *   that saw the breach is left: after the foreign grace).
 * - Both boards escalate (their clocks 250 ms apart): one escalation recorded, each socket
 *   told once.
 * - Reports of what other gateways recorded carry the alarm as read: several read together
 *   show as the latest (a raise and its acknowledgement: the acknowledgement); one read before
 *   this board's own transition (an acknowledgement, an escalation, still undecided or
 *   recorded since) never undoes it, and is read again so nothing it held is lost; a gateway
 *   joining applies what was recorded while it read the open alarms after that read. The late
 *   reports are made by holding back the real ledger's reports (`HeldLedger`).
 * - A gateway-wide technical alarm (`storage_failing`) is its gateway's own: recorded under
 *   `gateway:<gatewayId>` for each, never on the other's board; a restarted gateway ends its
 *   own stale one at `join()`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AlarmError, DEFAULT_POLICIES, mergePolicies } from '../../gateway/src/core/alarms/index.js';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import type { AlarmDto, AlarmMessage } from '../../gateway/src/core/live-contract.js';
import type {
  AlarmLedger,
  LedgerEvent,
  RemoteAlarmEvent,
} from '../../gateway/src/io/clinical/alarm-ledger.js';
import {
  type AlarmAuditEvent,
  AlarmService,
  type LiveMessage,
} from '../../gateway/src/io/clinical/alarm-service.js';
import { PgAlarms } from '../../gateway/src/io/shared/index.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const CALM = { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 };
/** Above the default high limit of 130/min: `hr_high`, medium priority (never latches). */
const TACHY = { ...CALM, hr: 140 };
/** Issue 16: what one gateway decides shows on the others within 2 s. */
const SEEN_MS = 2000;
/** A gateway's own decisions (one ledger round trip each). */
const SETTLE_MS = 10_000;
/** Unacknowledged alarms escalate after a minute here (the test's ticks). */
const ESCALATE_MS = 60_000;
/** HR compared reading by reading, without delay: one reading raises hr_high here. */
const POLICIES = mergePolicies(DEFAULT_POLICIES, { hr: { delaySeconds: 0 } });

const { server, sql } = usePostgres();

/** The boards' clock (the test's); the ledger's notifications and polls run in real time. */
let clock = 1_700_000_000_000;
let seq = 0;

/**
 * A gateway's real ledger whose reports of other gateways' transitions can be held back and
 * delivered later: a pull whose answer (the alarm as it was when read) reaches the gateway
 * after its own board moved on. Everything else goes straight to the PostgreSQL ledger.
 */
class HeldLedger implements AlarmLedger {
  readonly inner: PgAlarms;
  #held: RemoteAlarmEvent[][] | null = null;
  #fns = new Set<(events: RemoteAlarmEvent[]) => void>();
  #openGate: Promise<void> | null = null;
  /** Reports handed to the gateway's group code so far. */
  delivered = 0;
  /** Reads of the open alarms done (answered by the database, maybe not yet to the gateway). */
  openReads = 0;

  constructor(inner: PgAlarms) {
    this.inner = inner;
    inner.onRemote((events) => {
      if (this.#held) this.#held.push(events);
      else this.#deliver(events);
    });
  }

  #deliver(events: RemoteAlarmEvent[]): void {
    this.delivered++;
    for (const fn of this.#fns) fn(events);
  }

  /** The next read of the open alarms is done at once but answered only when `open()` is called. */
  holdNextOpenAlarms(): { open: () => void } {
    let open = () => {};
    this.#openGate = new Promise<void>((r) => {
      open = r;
    });
    return { open: () => open() };
  }

  /** Holds every report from now on. */
  hold(): void {
    this.#held ??= [];
  }

  /** Reports held so far. */
  get held(): number {
    return this.#held?.length ?? 0;
  }

  /** Delivers the held reports, in order, now (synchronously), and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const events of held) this.#deliver(events);
  }

  onRemote(fn: (events: RemoteAlarmEvent[]) => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }

  record: AlarmLedger['record'] = (t, c) => this.inner.record(t, c);
  openAlarms: AlarmLedger['openAlarms'] = async () => {
    const gate = this.#openGate;
    this.#openGate = null;
    const open = await this.inner.openAlarms();
    this.openReads++;
    await gate;
    return open;
  };
  history: AlarmLedger['history'] = (scope, limit) => this.inner.history(scope, limit);
  eventsFrom: AlarmLedger['eventsFrom'] = (from, limit) => this.inner.eventsFrom(from, limit);
  lastEventId: AlarmLedger['lastEventId'] = () => this.inner.lastEventId();
  close: AlarmLedger['close'] = () => this.inner.close();
}

interface Gw {
  id: string;
  hub: LiveHub;
  store: GatewayStore;
  ledger: HeldLedger;
  alarms: AlarmService;
  audits: AlarmAuditEvent[];
  messages: LiveMessage[];
  /** What `storageHealthy` answers. */
  storageOk: boolean;
  /** Stops the service, closes its ledger and its store (idempotent); `keepDir`: for a restart. */
  stop(keepDir?: boolean): Promise<void>;
  dir: string;
}

const running = new Set<Gw>();

interface GwOptions {
  /** Its store's directory (a restart); default a fresh temp dir. */
  dir?: string;
  /** Its clock's offset from the test's (two machines never agree to the millisecond). Default 0. */
  skewMs?: number;
  /** Join the group before returning (default); false: the test calls `alarms.join()`. */
  join?: boolean;
}

/** A gateway of the group on `url`: its own store and hub. */
async function startGw(id: string, url: string, o: GwOptions = {}): Promise<Gw> {
  const { dir, skewMs = 0, join = true } = o;
  const tmp = dir === undefined ? makeTempDir(`vt-alarm-group-${id}-`) : { dir, cleanup: () => {} };
  const store = openStore(`${tmp.dir}/store.db`);
  const ledger = new HeldLedger(
    await PgAlarms.open({ url, password: server().password, gatewayId: id, pollMs: 200 }),
  );
  const hub = new LiveHub();
  const audits: AlarmAuditEvent[] = [];
  const messages: LiveMessage[] = [];
  let stopped = false;
  const g: Gw = {
    id,
    hub,
    store,
    ledger,
    audits,
    messages,
    storageOk: true,
    dir: tmp.dir,
    alarms: new AlarmService({
      store,
      hub,
      now: () => clock + skewMs,
      tickMs: 3_600_000, // ticks are driven by the test
      escalateAfterMs: ESCALATE_MS,
      policies: POLICIES,
      storageHealthy: () => g.storageOk,
      audit: (e) => audits.push(e),
      group: { ledger, gatewayId: id },
    }),
    async stop(keepDir = false) {
      if (stopped) return;
      stopped = true;
      running.delete(g);
      g.alarms.stop();
      await ledger.close();
      store.db.close();
      if (!keepDir) tmp.cleanup();
    },
  };
  g.alarms.subscribe((m) => messages.push(m));
  running.add(g);
  if (join) await g.alarms.join();
  return g;
}

/** One reading of `dev`, one second after the last, on the hubs of `gws` (the live stream's fan-out). */
function feed(gws: readonly Gw[], dev: string, obs: LiveReading['obs']): void {
  clock += 1000;
  const r: LiveReading = { dev, seq: ++seq, ts: clock, obs, bat: 80, receivedAt: clock };
  for (const g of gws) g.hub.publish(r);
}

const openOf = (g: Gw, dev: string, code: string): AlarmDto | undefined =>
  g.alarms.openAlarms(dev).find((a) => a.code === code);

/** The alarm messages a gateway's sockets got for one alarm, by event. */
const alarmMessages = (g: Gw, id: string, event?: string): AlarmMessage[] =>
  g.messages.filter(
    (m): m is AlarmMessage =>
      m.type === 'alarm' && m.alarm.id === id && (event === undefined || m.event === event),
  );

/** The `alarm` audit events of `gws` together, for one alarm and event. */
const audited = (gws: readonly Gw[], id: string, event: string) =>
  gws.flatMap((g) =>
    g.audits
      .filter((e) => e.type === 'alarm' && e.alarmId === id && e.event === event)
      .map((e) => ({ gateway: g.id, ...e })),
  );

/** The group's alarm feed (every recorded transition, in order). */
const ledgerEvents = async (g: Gw): Promise<LedgerEvent[]> =>
  (await g.alarms.eventsFrom(1, 1000)) as LedgerEvent[];

afterAll(async () => {
  for (const g of [...running]) await g.stop();
});

describe('two gateways, one alarm: raised, acknowledged and cleared once', () => {
  const DEV = 'wr-0001';
  let a: Gw;
  let b: Gw;
  let id: string;

  beforeAll(async () => {
    const url = await server().createDatabase();
    a = await startGw('gw-a', url);
    b = await startGw('gw-b', url);
  });

  afterAll(async () => {
    await a.stop();
    await b.stop();
  });

  it('behavior: a breach seen by both boards raises one alarm: one id on both, one raise audited, one in the feed', async () => {
    feed([a, b], DEV, CALM);
    feed([a, b], DEV, TACHY);
    // Both boards proposed a raise; the loser shows the winner's alarm only once its own
    // proposal was decided (one queue per gateway): then both decisions are in.
    await until(
      () => {
        const x = openOf(a, DEV, 'hr_high');
        return x !== undefined && x.id === openOf(b, DEV, 'hr_high')?.id;
      },
      SETTLE_MS,
      'both boards show one hr_high',
    );
    id = openOf(a, DEV, 'hr_high')!.id;
    for (const g of [a, b]) {
      expect(g.alarms.openAlarms(DEV).filter((x) => x.code === 'hr_high')).toEqual([
        expect.objectContaining({ id, state: 'active', priority: 'medium', value: 140 }),
      ]);
      // Each gateway's sockets were told of the raise once, with the group's id.
      await until(() => alarmMessages(g, id, 'raised').length === 1, SETTLE_MS, `${g.id} told of the raise`);
    }
    const raises = audited([a, b], id, 'raised');
    expect(raises).toHaveLength(1);
    expect(raises[0]).toMatchObject({ dev: DEV, code: 'hr_high', priority: 'medium' });
    const feedRaises = (await ledgerEvents(a)).filter((e) => e.code === 'hr_high' && e.event === 'raised');
    expect(feedRaises).toEqual([
      expect.objectContaining({ alarmId: id, dev: DEV, gateway: raises[0]!.gateway }),
    ]);
    expect(await ledgerEvents(b)).toEqual(await ledgerEvents(a)); // one feed for the group
    // The breach goes on: no second raise, on either gateway.
    feed([a, b], DEV, TACHY);
    feed([a, b], DEV, TACHY);
    expect(openOf(a, DEV, 'hr_high')?.id).toBe(id);
    expect(openOf(b, DEV, 'hr_high')?.id).toBe(id);
    expect(audited([a, b], id, 'raised')).toHaveLength(1);
  });

  it('behavior: acknowledged on B, A shows it acknowledged by the nurse within 2 s; audited once, by B', async () => {
    const dto = await b.alarms.acknowledge(id, 'nurse.kim', 'walking in the corridor');
    expect(dto).toMatchObject({ id, state: 'acknowledged', ackBy: 'nurse.kim' });
    await until(
      () => openOf(a, DEV, 'hr_high')?.state === 'acknowledged',
      SEEN_MS,
      'A shows the acknowledgement within 2 s',
    );
    expect(openOf(a, DEV, 'hr_high')).toMatchObject({
      id,
      ackBy: 'nurse.kim',
      ackComment: 'walking in the corridor',
      value: 140, // A's own reading: the group never holds vital values
    });
    expect(alarmMessages(a, id, 'acknowledged')).toEqual([
      expect.objectContaining({
        alarm: expect.objectContaining({ id, state: 'acknowledged', ackBy: 'nurse.kim' }),
      }),
    ]);
    const acks = audited([a, b], id, 'acknowledged');
    expect(acks).toEqual([expect.objectContaining({ gateway: 'gw-b', user: 'nurse.kim', dev: DEV })]);
    const feedAcks = (await ledgerEvents(a)).filter((e) => e.event === 'acknowledged');
    expect(feedAcks).toEqual([
      expect.objectContaining({
        alarmId: id,
        by: 'nurse.kim',
        comment: 'walking in the corridor',
        gateway: 'gw-b',
      }),
    ]);
  });

  it('error: acknowledging on A what B acknowledged is refused alarm_not_active; nothing more is recorded', async () => {
    const before = (await ledgerEvents(a)).length;
    const err = await a.alarms.acknowledge(id, 'nurse.lee', null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlarmError);
    expect(err).toMatchObject({ code: 'alarm_not_active' });
    await expect(b.alarms.acknowledge(id, 'nurse.lee', null)).rejects.toMatchObject({
      code: 'alarm_not_active',
    });
    expect(openOf(a, DEV, 'hr_high')?.ackBy).toBe('nurse.kim');
    expect(audited([a, b], id, 'acknowledged')).toHaveLength(1);
    expect(await ledgerEvents(a)).toHaveLength(before);
  });

  it('behavior: when the condition ends the alarm is cleared once, on both boards', async () => {
    feed([a, b], DEV, CALM);
    for (const g of [a, b]) {
      expect(openOf(g, DEV, 'hr_high')).toBeUndefined(); // each board ends it on its own reading
      // Its sockets are told once the ledger decided (recorded here, or refused: the other's).
      await until(() => alarmMessages(g, id, 'cleared').length === 1, SETTLE_MS, `${g.id} told of the clear`);
    }
    expect(audited([a, b], id, 'cleared')).toHaveLength(1);
    const feedClears = (await ledgerEvents(a)).filter((e) => e.alarmId === id && e.event === 'cleared');
    expect(feedClears).toHaveLength(1);
    expect(feedClears[0]!.gateway).toBe(audited([a, b], id, 'cleared')[0]!.gateway);
    expect((await a.ledger.openAlarms()).filter((x) => x.code === 'hr_high')).toEqual([]);
    expect((await a.alarms.history(DEV)).filter((e) => e.alarmId === id).map((e) => e.event)).toEqual([
      'cleared',
      'acknowledged',
      'raised',
    ]);
  });

  it('error: acknowledging a cleared alarm is alarm_not_found on either gateway', async () => {
    for (const g of [a, b]) {
      await expect(g.alarms.acknowledge(id, 'nurse.kim', null)).rejects.toMatchObject({
        code: 'alarm_not_found',
      });
    }
  });
});

describe('an alarm outlives the gateway that raised it', () => {
  const DEV = 'wr-0002';

  afterEach(async () => {
    for (const g of [...running]) await g.stop();
  });

  /** A raises hr_high (its proposal first), then B hears the same readings and adopts it. */
  async function raisedByA(a: Gw, b: Gw): Promise<string> {
    feed([a, b], DEV, CALM);
    clock += 1000;
    const r: LiveReading = { dev: DEV, seq: ++seq, ts: clock, obs: TACHY, bat: 80, receivedAt: clock };
    a.hub.publish(r);
    await until(
      () => alarmMessages(a, openOf(a, DEV, 'hr_high')?.id ?? '-').length > 0,
      SETTLE_MS,
      'A raised',
    );
    b.hub.publish(r);
    const id = openOf(a, DEV, 'hr_high')!.id;
    await until(() => openOf(b, DEV, 'hr_high')?.id === id, SETTLE_MS, 'B shows the group alarm');
    const raises = (await ledgerEvents(a)).filter((e) => e.code === 'hr_high' && e.event === 'raised');
    expect(raises).toEqual([expect.objectContaining({ alarmId: id, gateway: 'gw-a' })]);
    return id;
  }

  it('behavior: A stops while the alarm is open; B still shows it; C joins, takes it, and it clears once', async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    const id = await raisedByA(a, b);

    await a.stop();
    feed([b], DEV, TACHY);
    expect(openOf(b, DEV, 'hr_high')).toMatchObject({ id, state: 'active' });

    const c = await startGw('gw-c', url);
    expect(openOf(c, DEV, 'hr_high')).toMatchObject({ id, state: 'active', dev: DEV });
    expect(alarmMessages(c, id, 'raised')).toHaveLength(1); // C's sockets are told of it
    expect(c.audits.filter((e) => e.type === 'alarm')).toEqual([]); // not C's to audit

    feed([b, c], DEV, TACHY);
    feed([b, c], DEV, TACHY);
    expect(openOf(c, DEV, 'hr_high')?.id).toBe(id); // the breach goes on: still that alarm
    feed([b, c], DEV, CALM);
    for (const g of [b, c]) {
      expect(openOf(g, DEV, 'hr_high')).toBeUndefined();
      await until(() => alarmMessages(g, id, 'cleared').length === 1, SETTLE_MS, `${g.id} told of the clear`);
    }
    const events = (await ledgerEvents(b)).filter((e) => e.alarmId === id);
    expect(events.map((e) => e.event)).toEqual(['raised', 'cleared']);
    expect(audited([b, c], id, 'cleared')).toEqual([
      expect.objectContaining({ gateway: events[1]!.gateway, dev: DEV, code: 'hr_high' }),
    ]);
    expect(await b.ledger.openAlarms()).toEqual([]);
  });

  it('behavior: with every gateway that saw the breach gone, A restarted takes the alarm and ends it after the foreign grace', async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    const id = await raisedByA(a, b);
    const dirA = a.dir;
    await a.stop(true);
    await b.stop();

    const a2 = await startGw('gw-a', url, { dir: dirA }); // restarted on its own store
    expect(openOf(a2, DEV, 'hr_high')).toMatchObject({ id, state: 'active' });
    // Only calm readings now: the alarm is foreign to this board (raised before its start),
    // kept for the grace (the raising board may have been ahead of it) …
    for (let i = 0; i < 10; i++) feed([a2], DEV, CALM);
    expect(openOf(a2, DEV, 'hr_high')?.id).toBe(id);
    expect((await ledgerEvents(a2)).filter((e) => e.alarmId === id).map((e) => e.event)).toEqual(['raised']);
    // … then ended by it as its own (180 s: core/alarms/board's default foreignGraceMs).
    clock += 180_000;
    feed([a2], DEV, CALM);
    expect(openOf(a2, DEV, 'hr_high')).toBeUndefined();
    await until(() => alarmMessages(a2, id, 'cleared').length === 1, SETTLE_MS, 'A told of the clear');
    const events = (await ledgerEvents(a2)).filter((e) => e.alarmId === id);
    expect(events).toEqual([
      expect.objectContaining({ event: 'raised', gateway: 'gw-a' }),
      expect.objectContaining({ event: 'cleared', gateway: 'gw-a' }),
    ]);
    expect(audited([a2], id, 'cleared')).toHaveLength(1);
    expect(await a2.ledger.openAlarms()).toEqual([]);
  });
});

describe('what other gateways record reaches a board named after its latest transition', () => {
  afterEach(async () => {
    for (const g of [...running]) await g.stop();
  });

  it('behavior: an escalation and an acknowledgement read in one pull show as the acknowledgement, by its user', async () => {
    const DEV = 'wr-0004';
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    feed([a], DEV, TACHY);
    const id = openOf(a, DEV, 'hr_high')!.id;
    await until(() => alarmMessages(a, id, 'raised').length === 1, SETTLE_MS, 'A decided its raise');
    // Gateway B escalates it and a nurse acknowledges it there, both committed before A's next
    // read (one transaction here, so that A reads them together, every time).
    const at = clock + 500;
    await sql(
      url,
      `BEGIN;
       UPDATE ward_alarms SET priority = 'high', escalations = 1, notified_at = ${at}, state = 'acknowledged',
         ack_by = 'nurse.kim', ack_at = ${at + 1}, ack_comment = 'on my way', updated_at = ${at + 1}
         WHERE id = '${id}';
       INSERT INTO ward_alarm_events (id, alarm_id, scope, code, kind, event, priority, at, by, comment, gateway)
         SELECT max(id) + 1, '${id}', '${DEV}', 'hr_high', 'physiological', 'escalated', 'high', ${at}, NULL, NULL, 'gw-b'
         FROM ward_alarm_events;
       INSERT INTO ward_alarm_events (id, alarm_id, scope, code, kind, event, priority, at, by, comment, gateway)
         SELECT max(id) + 1, '${id}', '${DEV}', 'hr_high', 'physiological', 'acknowledged', 'high', ${at + 1},
           'nurse.kim', 'on my way', 'gw-b'
         FROM ward_alarm_events;
       COMMIT`,
    );
    await until(
      () => openOf(a, DEV, 'hr_high')?.state === 'acknowledged',
      SEEN_MS,
      'A shows the acknowledgement',
    );
    expect(openOf(a, DEV, 'hr_high')).toMatchObject({ id, priority: 'high', ackBy: 'nurse.kim', value: 140 });
    const last = alarmMessages(a, id).at(-1);
    expect(last).toMatchObject({
      event: 'acknowledged',
      alarm: { state: 'acknowledged', ackBy: 'nurse.kim' },
    });
    expect(alarmMessages(a, id).map((m) => m.event)).toEqual(['raised', 'acknowledged']);
    expect(a.audits.filter((e) => e.type === 'alarm' && e.event !== 'raised')).toEqual([]); // B's to audit
  });
});

describe('escalation decided once, on gateways whose clocks differ', () => {
  const DEV = 'wr-0006';

  afterEach(async () => {
    for (const g of [...running]) await g.stop();
  });

  it('behavior: both boards escalate an unacknowledged alarm; one escalation is recorded and each socket is told once', async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url, { skewMs: 250 });
    feed([a, b], DEV, TACHY);
    await until(
      () => {
        const x = openOf(a, DEV, 'hr_high');
        return x !== undefined && x.id === openOf(b, DEV, 'hr_high')?.id;
      },
      SETTLE_MS,
      'both boards show one hr_high',
    );
    const id = openOf(a, DEV, 'hr_high')!.id;
    clock += ESCALATE_MS;
    feed([a, b], DEV, TACHY); // the breach goes on
    a.alarms.tick();
    b.alarms.tick();
    for (const g of [a, b]) {
      await until(
        () => alarmMessages(g, id, 'escalated').length >= 1,
        SETTLE_MS,
        `${g.id} told of the escalation`,
      );
    }
    // Both decisions are in (each gateway publishes only after its ledger answered); let the
    // winner's report reach the loser too before counting.
    const winner = (await ledgerEvents(a)).filter((e) => e.event === 'escalated');
    expect(winner).toEqual([expect.objectContaining({ alarmId: id, priority: 'high' })]);
    const [won, lost] = winner[0]!.gateway === 'gw-a' ? [a, b] : [b, a];
    // A marker after it, the winner's alone: once the loser shows it, it heard the escalation.
    feed([won], 'wr-0007', TACHY);
    await until(
      () => openOf(lost, 'wr-0007', 'hr_high') !== undefined,
      SEEN_MS,
      'the loser heard the marker',
    );
    for (const g of [a, b]) {
      expect(openOf(g, DEV, 'hr_high')).toMatchObject({ id, priority: 'high', escalations: 1 });
      expect(alarmMessages(g, id, 'escalated')).toHaveLength(1);
    }
    expect(audited([a, b], id, 'escalated')).toEqual([
      expect.objectContaining({ gateway: winner[0]!.gateway }),
    ]);
  });
});

describe('a report read before what this board holds of an alarm never undoes it', () => {
  const DEV = 'wr-0008';

  afterEach(async () => {
    for (const g of [...running]) await g.stop();
  });

  /**
   * B raises hr_high, then A hears the same reading and adopts B's alarm; B's raise reaches A's
   * group code only when the test releases it (read as the alarm was then: active, medium).
   */
  async function raisedByBHeldOnA(a: Gw, b: Gw): Promise<string> {
    a.ledger.hold();
    clock += 1000;
    const r: LiveReading = { dev: DEV, seq: ++seq, ts: clock, obs: TACHY, bat: 80, receivedAt: clock };
    b.hub.publish(r);
    const id = openOf(b, DEV, 'hr_high')!.id;
    await until(() => alarmMessages(b, id, 'raised').length === 1, SETTLE_MS, 'B decided its raise');
    a.hub.publish(r);
    await until(() => openOf(a, DEV, 'hr_high')?.id === id, SETTLE_MS, 'A adopted the group alarm');
    await until(() => a.ledger.held > 0, SEEN_MS, "A's report of B's raise read (and held)");
    return id;
  }

  /** Resolves once A has applied everything reported before (a marker raised on B reaches A's board). */
  async function settled(a: Gw, b: Gw, marker: string): Promise<void> {
    feed([b], marker, TACHY);
    await until(() => openOf(a, marker, 'hr_high') !== undefined, SETTLE_MS, `A shows the marker ${marker}`);
  }

  it('behavior: an acknowledgement made on A stays, when the older report of the raise reaches A afterwards', async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    const id = await raisedByBHeldOnA(a, b);
    await a.alarms.acknowledge(id, 'nurse.kim', 'on my way');
    a.ledger.release();
    await settled(a, b, 'wr-0009');
    expect(openOf(a, DEV, 'hr_high')).toMatchObject({ id, state: 'acknowledged', ackBy: 'nurse.kim' });
    expect(alarmMessages(a, id).at(-1)).toMatchObject({
      event: 'acknowledged',
      alarm: { state: 'acknowledged' },
    });
    // And the group agrees: B shows A's acknowledgement.
    await until(() => openOf(b, DEV, 'hr_high')?.state === 'acknowledged', SEEN_MS, 'B shows the ack');
    expect(audited([a, b], id, 'acknowledged')).toEqual([expect.objectContaining({ gateway: 'gw-a' })]);
  });

  it("behavior: an escalation A's board made stays, when an older report is applied before A's escalation is decided", async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    const id = await raisedByBHeldOnA(a, b);
    clock += ESCALATE_MS - 1000;
    feed([a], DEV, TACHY); // the breach goes on (A's reading: a stale value would end the alarm)
    // The held report is handed to A's group code, then A's board escalates, in one go: the
    // report is applied first, while A's escalation waits for the ledger.
    a.ledger.release();
    a.alarms.tick();
    await until(() => alarmMessages(a, id, 'escalated').length === 1, SETTLE_MS, 'A decided its escalation');
    await settled(a, b, 'wr-0010');
    expect(
      (await ledgerEvents(a)).filter((e) => e.alarmId === id).map((e) => `${e.event}:${e.gateway}`),
    ).toEqual(['raised:gw-b', 'escalated:gw-a']);
    expect(openOf(a, DEV, 'hr_high')).toMatchObject({ id, priority: 'high', escalations: 1 });
    expect(alarmMessages(a, id).map((m) => `${m.event}:${m.alarm.priority}`)).toEqual([
      'raised:medium',
      'escalated:high',
    ]);
  });

  it("behavior: A's escalation refused (B's first), A shows B's; the late report of the raise does not undo it", async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    const id = await raisedByBHeldOnA(a, b);
    clock += ESCALATE_MS - 1000;
    feed([a, b], DEV, TACHY);
    b.alarms.tick();
    await until(() => alarmMessages(b, id, 'escalated').length === 1, SETTLE_MS, 'B decided its escalation');
    a.alarms.tick();
    await until(() => alarmMessages(a, id, 'escalated').length === 1, SETTLE_MS, 'A told of the escalation');
    a.ledger.release();
    await settled(a, b, 'wr-0014');
    expect(openOf(a, DEV, 'hr_high')).toMatchObject({ id, priority: 'high', escalations: 1 });
    expect(alarmMessages(a, id).map((m) => `${m.event}:${m.alarm.priority}`)).toEqual([
      'raised:medium',
      'escalated:high',
    ]);
    expect(audited([a, b], id, 'escalated')).toEqual([expect.objectContaining({ gateway: 'gw-b' })]);
  });

  it("behavior: set aside, a late report is read again: B's escalation shows on A after A's own acknowledgement", async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    const id = await raisedByBHeldOnA(a, b);
    clock += ESCALATE_MS - 1000;
    feed([b], DEV, TACHY);
    b.alarms.tick();
    await until(() => alarmMessages(b, id, 'escalated').length === 1, SETTLE_MS, 'B decided its escalation');
    await until(() => a.ledger.held >= 2, SEEN_MS, "A's report of B's escalation read (and held)");
    await a.alarms.acknowledge(id, 'nurse.kim', null); // recorded after both reports were read
    a.ledger.release();
    await settled(a, b, 'wr-0012');
    expect(openOf(a, DEV, 'hr_high')).toMatchObject({
      id,
      state: 'acknowledged',
      ackBy: 'nurse.kim',
      priority: 'high',
      escalations: 1,
    });
    expect(alarmMessages(a, id).at(-1)).toMatchObject({ alarm: { state: 'acknowledged', priority: 'high' } });
  });

  it('behavior: a gateway joining takes the open alarms as read, then what was recorded meanwhile (an acknowledgement stays)', async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    feed([a, b], DEV, TACHY);
    await until(
      () =>
        openOf(a, DEV, 'hr_high') !== undefined &&
        openOf(a, DEV, 'hr_high')?.id === openOf(b, DEV, 'hr_high')?.id,
      SETTLE_MS,
      'both boards show one hr_high',
    );
    const id = openOf(a, DEV, 'hr_high')!.id;
    const c = await startGw('gw-c', url, { join: false });
    const gate = c.ledger.holdNextOpenAlarms();
    const joined = c.alarms.join();
    await until(() => c.ledger.openReads === 1, SETTLE_MS, "C's join read the open alarms (active)");
    await b.alarms.acknowledge(id, 'nurse.kim', null);
    await until(() => c.ledger.delivered > 0, SEEN_MS, "B's acknowledgement reported to C");
    gate.open(); // the join's read (older than the acknowledgement) reaches C only now
    await joined;
    await settled(c, b, 'wr-0011');
    expect(openOf(c, DEV, 'hr_high')).toMatchObject({ id, state: 'acknowledged', ackBy: 'nurse.kim' });
    expect(alarmMessages(c, id).at(-1)).toMatchObject({ alarm: { state: 'acknowledged' } });
  });
});

describe('a raise a board lost, ended before the group told it so', () => {
  const DEV = 'wr-0010';

  afterEach(async () => {
    for (const g of [...running]) await g.stop();
  });

  it("behavior: A raised and ended it before its raise was refused: the clear is recorded and audited under the group's id", async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    a.ledger.hold(); // A hears of B's raise only at the end
    feed([b], DEV, TACHY);
    const id = openOf(b, DEV, 'hr_high')!.id;
    await until(() => alarmMessages(b, id, 'raised').length === 1, SETTLE_MS, 'B decided its raise');
    // A's board raises it under its own id and, a reading later, ends it: both proposals are
    // queued before the ledger refuses the raise.
    clock += 1000;
    a.hub.publish({ dev: DEV, seq: ++seq, ts: clock, obs: TACHY, bat: 80, receivedAt: clock });
    clock += 1000;
    a.hub.publish({ dev: DEV, seq: ++seq, ts: clock, obs: CALM, bat: 80, receivedAt: clock });
    await expect
      .poll(async () => (await ledgerEvents(a)).map((e) => e.event), { timeout: SETTLE_MS })
      .toContain('cleared');
    const events = await ledgerEvents(a);
    expect(events.map((e) => [e.event, e.alarmId, e.gateway])).toEqual([
      ['raised', id, 'gw-b'],
      ['cleared', id, 'gw-a'],
    ]);
    // Every alarm audit names an id the group knows; the clear is A's, under the group's id.
    const known = new Set(events.map((e) => e.alarmId));
    for (const g of [a, b])
      for (const e of g.audits) if (e.type === 'alarm') expect(known).toContain(e.alarmId);
    expect(audited([a, b], id, 'cleared')).toEqual([expect.objectContaining({ gateway: 'gw-a' })]);
    a.ledger.release();
    await until(() => openOf(b, DEV, 'hr_high') === undefined, SEEN_MS, 'B ends it too');
    expect(openOf(a, DEV, 'hr_high')).toBeUndefined();
  });
});

describe("a gateway-wide technical alarm is its gateway's own", () => {
  afterEach(async () => {
    for (const g of [...running]) await g.stop();
  });

  it('behavior: storage_failing is recorded under gateway:<id> for each gateway and shown on its own board only', async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);

    a.storageOk = false;
    a.alarms.tick();
    const aId = openOf(a, 'gateway', 'storage_failing')?.id;
    expect(aId).toBeDefined();
    await until(() => alarmMessages(a, aId!, 'raised').length === 1, SETTLE_MS, 'A decided its raise');
    expect(a.audits).toContainEqual(
      expect.objectContaining({
        type: 'alarm',
        event: 'raised',
        alarmId: aId,
        dev: 'gateway',
        code: 'storage_failing',
      }),
    );
    // A marker after it in the feed: once B shows the marker, B has heard A's storage alarm.
    feed([a], 'wr-0003', TACHY);
    await until(() => openOf(b, 'wr-0003', 'hr_high') !== undefined, SEEN_MS, 'B heard the marker');
    b.alarms.tick();
    expect(openOf(b, 'gateway', 'storage_failing')).toBeUndefined();
    expect(b.alarms.openAlarms().filter((x) => x.dev.startsWith('gateway'))).toEqual([]);
    expect(b.messages.filter((m) => m.type === 'alarm' && m.alarm.code === 'storage_failing')).toEqual([]);

    // B's storage fails too: its own alarm, recorded beside A's (not refused as the same condition).
    b.storageOk = false;
    b.alarms.tick();
    const bId = openOf(b, 'gateway', 'storage_failing')?.id;
    expect(bId).toBeDefined();
    expect(bId).not.toBe(aId);
    await until(() => alarmMessages(b, bId!, 'raised').length === 1, SETTLE_MS, 'B decided its raise');
    expect(b.audits).toContainEqual(
      expect.objectContaining({ type: 'alarm', event: 'raised', alarmId: bId, dev: 'gateway' }),
    );
    const raises = (await ledgerEvents(a)).filter((e) => e.code === 'storage_failing');
    expect(raises).toEqual([
      expect.objectContaining({ alarmId: aId, dev: 'gateway:gw-a', event: 'raised', gateway: 'gw-a' }),
      expect.objectContaining({ alarmId: bId, dev: 'gateway:gw-b', event: 'raised', gateway: 'gw-b' }),
    ]);
    // Each board shows its own only; each history is its own gateway's (as `gateway`).
    feed([b], 'wr-0013', TACHY); // another marker, B's: once A shows it, A has heard B's raise
    await until(() => openOf(a, 'wr-0013', 'hr_high') !== undefined, SEEN_MS, 'A heard the marker');
    expect(
      a.alarms
        .openAlarms()
        .filter((x) => x.code === 'storage_failing')
        .map((x) => x.id),
    ).toEqual([aId]);
    expect(
      b.alarms
        .openAlarms()
        .filter((x) => x.code === 'storage_failing')
        .map((x) => x.id),
    ).toEqual([bId]);
    expect(await a.alarms.history('gateway')).toEqual([
      expect.objectContaining({ alarmId: aId, dev: 'gateway', event: 'raised' }),
    ]);
    expect(await b.alarms.history('gateway')).toEqual([
      expect.objectContaining({ alarmId: bId, dev: 'gateway', event: 'raised' }),
    ]);

    // A's storage recovers: A's alarm clears; B's stays open.
    a.storageOk = true;
    a.alarms.tick();
    await until(() => alarmMessages(a, aId!, 'cleared').length === 1, SETTLE_MS, 'A decided its clear');
    const open = (await a.ledger.openAlarms()).filter((x) => x.code === 'storage_failing');
    expect(open.map((x) => `${x.scope}:${x.id}`)).toEqual([`gateway:gw-b:${bId}`]);
    expect(openOf(b, 'gateway', 'storage_failing')?.id).toBe(bId);
    expect(audited([a, b], aId!, 'cleared')).toEqual([expect.objectContaining({ gateway: 'gw-a' })]);
  });

  it("behavior: a restarted gateway ends its own stale gateway-wide alarm at join, never another's", async () => {
    const url = await server().createDatabase();
    const a = await startGw('gw-a', url);
    const b = await startGw('gw-b', url);
    for (const g of [a, b]) {
      g.storageOk = false;
      g.alarms.tick();
      const gid = openOf(g, 'gateway', 'storage_failing')!.id;
      await until(() => alarmMessages(g, gid, 'raised').length === 1, SETTLE_MS, `${g.id} decided its raise`);
    }
    const dirA = a.dir;
    await a.stop(true);
    const a2 = await startGw('gw-a', url, { dir: dirA }); // storage fine after the restart
    expect(a2.alarms.openAlarms()).toEqual([]);
    const open = await a2.ledger.openAlarms();
    expect(open.map((x) => x.scope)).toEqual(['gateway:gw-b']);
    const clears = (await ledgerEvents(a2)).filter((e) => e.event === 'cleared');
    expect(clears).toEqual([expect.objectContaining({ dev: 'gateway:gw-a', gateway: 'gw-a' })]);
    expect(openOf(b, 'gateway', 'storage_failing')).toBeDefined();
  });
});
