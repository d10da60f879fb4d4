/**
 * @module test/integration/shared-settings
 * Issue 16, "per-patient alarm limits, NEWS2 settings and ACVPU entries" shared by a gateway
 * group: two alarm services as two gateways (test/helpers/alarm-rig: each its own SQLite
 * store, live hub and HTTP routes, fed the same readings as the internal live stream feeds
 * them), with one real PostgreSQL for their alarm ledger (io/shared PgAlarms) and their
 * patient settings (io/shared PgPatientSettings).
 * - Limits set through A's API are B's within a notification's delay: B's board raises the
 *   same alarm from the same readings, once for the group.
 * - An ACVPU entered on A counts in B's NEWS2 settings, and is never written to the table.
 * - A pause set on B silences the patient on A too, the alarm cleared once for the group;
 *   also when A hears of the clear before the pause (its settings' notification lost: the
 *   listener's connection ended by PostgreSQL, its poll a minute away): A reads the settings
 *   again for the clear, and never re-opens the alarm. B records the clear only once its
 *   pause is in the table (a write held up by a lock holds the clear up with it), but never
 *   for longer than SETTINGS_WAIT_MS: B's screens show the clear though the write is stuck.
 * - A change the database cannot take is refused with 503 `shared_unavailable` and undone
 *   on the gateway that made it; the other never sees it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../gateway/src/core/alarms/index.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { SETTINGS_WAIT_MS } from '../../gateway/src/io/clinical/alarm-group.js';
import { PgAlarms, PgPatientSettings } from '../../gateway/src/io/shared/index.js';
import { type AlarmRig, startAlarmRig } from '../helpers/alarm-rig.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { until } from '../helpers/wait.js';

const DEV = 'wr-1';
const CHARGE = 'charge.lee';
/** Seen on the other gateway by notification: well within the 2 s poll. */
const SEEN_MS = 1500;

describe('patient settings shared by a gateway group (PostgreSQL)', () => {
  const { server, sql, connect } = usePostgres();
  const rigs: AlarmRig[] = [];
  const hubs: LiveHub[] = [];
  const closers: (() => Promise<void>)[] = [];
  let seq = 0;

  /** Two gateways of one group on a fresh database (`settingsPollMs`: their settings' fallback poll). */
  async function group(settingsPollMs = 500): Promise<{ url: string; a: AlarmRig; b: AlarmRig }> {
    const url = await server().createDatabase();
    const password = server().password;
    for (const gatewayId of ['gw-a', 'gw-b']) {
      const ledger = await PgAlarms.open({ url, password, gatewayId, pollMs: 500 });
      const settings = await PgPatientSettings.open({ url, password, gatewayId, pollMs: settingsPollMs });
      closers.push(
        () => ledger.close(),
        () => settings.close(),
      );
      const hub = new LiveHub();
      hubs.push(hub);
      const rig = await startAlarmRig({
        hub,
        devices: [DEV],
        users: [[CHARGE, 'charge_nurse', 'charge-nurse-password-1']],
        service: (store) => ({
          store,
          hub,
          policies: { hr: { ...DEFAULT_POLICIES.hr, delaySeconds: 0 } },
          group: { ledger, gatewayId, settings },
        }),
      });
      await rig.alarms.join();
      rigs.push(rig);
    }
    return { url, a: rigs.at(-2) as AlarmRig, b: rigs.at(-1) as AlarmRig };
  }

  /** One reading on every gateway's hub, as the live stream brings it. */
  function reading(obs: Record<string, number>): void {
    seq++;
    const now = Date.now();
    for (const h of hubs) h.publish({ dev: DEV, seq, ts: now, obs, receivedAt: now });
  }

  /** High heart-rate limit 100 set on A and seen on B, then a reading above it: one alarm on both (its id). */
  async function oneAlarmOnBoth(a: AlarmRig, b: AlarmRig): Promise<string> {
    const put = await a.req(CHARGE, 'PUT', `/api/patients/${DEV}/settings`, {
      limits: { hr: { low: 40, high: 100 } },
    });
    expect(put.statusCode).toBe(200);
    await until(() => b.alarms.settings(DEV).limits.hr.high === 100, SEEN_MS, 'B has the limit');
    reading({ hr: 120, spo2: 97 });
    await until(
      () =>
        a.alarms.openAlarms(DEV).length === 1 &&
        a.alarms.openAlarms(DEV)[0]?.id === b.alarms.openAlarms(DEV)[0]?.id,
      5000,
      'one alarm on both',
    );
    return a.alarms.openAlarms(DEV)[0]?.id as string;
  }

  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.close();
    for (const c of closers.splice(0)) await c();
    hubs.splice(0);
  });

  it('behavior: limits set on A are B’s at once; the same readings raise one alarm for the group', async () => {
    const { a, b } = await group();
    const put = await a.req(CHARGE, 'PUT', `/api/patients/${DEV}/settings`, {
      limits: { hr: { low: 40, high: 100 } },
    });
    expect(put.statusCode).toBe(200);
    const t0 = Date.now();
    await until(() => b.alarms.settings(DEV).limits.hr.high === 100, SEEN_MS, 'B has the new limit');
    expect(Date.now() - t0).toBeLessThan(SEEN_MS);
    // B's dashboards were told (the tile shows the limits).
    await until(
      () => b.messages.some((m) => m.type === 'tile-state' && m.dev === DEV && m.limits.hr.high === 100),
      SEEN_MS,
      'B sent the tile state',
    );
    reading({ hr: 110, spo2: 97 });
    await until(
      () => a.alarms.openAlarms(DEV).length > 0 && b.alarms.openAlarms(DEV).length > 0,
      5000,
      'both boards raised it',
    );
    await until(
      () => a.alarms.openAlarms(DEV)[0]?.id === b.alarms.openAlarms(DEV)[0]?.id,
      SEEN_MS,
      'one alarm for the group',
    );
    expect(a.alarms.openAlarms(DEV).map((x) => x.code)).toEqual(['hr_high']);
    const events = await a.alarms.eventsFrom(1, 100);
    expect(events.filter((e) => e.event === 'raised')).toHaveLength(1);
  });

  it('behavior: an ACVPU entered on A counts on B within a notification; it is never stored', async () => {
    const { url, a, b } = await group();
    const put = await a.req(CHARGE, 'PUT', `/api/patients/${DEV}/settings`, { consciousness: 'V' });
    expect(put.statusCode).toBe(200);
    await until(() => b.alarms.settings(DEV).consciousness === 'V', SEEN_MS, 'B has the ACVPU');
    expect(b.alarms.settings(DEV)).toMatchObject({ consciousness: 'V', consciousnessBy: CHARGE });
    const rows = await sql(url, 'SELECT settings FROM ward_patient_settings');
    for (const r of rows.rows) expect(String(r.settings)).not.toContain('consciousness');
  });

  it('behavior: a pause set on B silences the patient on A; the alarm is cleared once for the group', async () => {
    const { a, b } = await group();
    await oneAlarmOnBoth(a, b);
    const paused = await b.req(CHARGE, 'POST', `/api/patients/${DEV}/standby`, { on: true, minutes: 10 });
    expect(paused.statusCode).toBe(200);
    await until(() => a.alarms.tileState(DEV).standby?.reason === 'paused', SEEN_MS, 'A is paused too');
    await until(() => a.alarms.openAlarms(DEV).length === 0, SEEN_MS, 'A cleared it');
    reading({ hr: 125, spo2: 97 }); // still high, but paused: no alarm on either
    await new Promise((r) => setTimeout(r, 300));
    const events = await b.alarms.eventsFrom(1, 100);
    const seen = JSON.stringify({
      a: a.alarms.openAlarms(DEV),
      b: b.alarms.openAlarms(DEV),
      events,
      sa: a.alarms.tileState(DEV).standby,
      sb: b.alarms.tileState(DEV).standby,
    });
    expect(a.alarms.openAlarms(DEV), seen).toEqual([]);
    expect(b.alarms.openAlarms(DEV), seen).toEqual([]);
    expect(events.map((e) => e.event)).toEqual(['raised', 'cleared']);
  });

  it('behavior: a clear recorded before A hears of the pause behind it is applied with the pause, never re-opened', async () => {
    const { url, a, b } = await group(60_000);
    await oneAlarmOnBoth(a, b);
    // Every settings listener's connection ends: a change reaches the other gateway only by
    // its poll (a minute away) or by reading the table again. The alarm ledger's still listens.
    const ended = await sql(
      url,
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datname = current_database() AND query = 'LISTEN vitaltrail_settings'`,
    );
    expect(ended.rows.map((r) => r.ok)).toEqual([true, true]);
    const paused = await b.req(CHARGE, 'POST', `/api/patients/${DEV}/standby`, { on: true, minutes: 10 });
    expect(paused.statusCode).toBe(200);
    await until(
      () => a.alarms.tileState(DEV).standby?.reason === 'paused',
      SEEN_MS,
      'A is paused by the clear',
    );
    expect(a.alarms.openAlarms(DEV)).toEqual([]);
    // Two of the ward's sweeps (1 s each) on A with the breach still its latest reading.
    await new Promise((r) => setTimeout(r, 2500));
    reading({ hr: 125, spo2: 97 });
    await new Promise((r) => setTimeout(r, 300));
    expect(a.alarms.openAlarms(DEV)).toEqual([]);
    expect(b.alarms.openAlarms(DEV)).toEqual([]);
    const events = await b.alarms.eventsFrom(1, 100);
    expect(events.map((e) => e.event)).toEqual(['raised', 'cleared']);
  });

  it('behavior: the clear a pause causes is recorded only after the pause is in the group’s table', async () => {
    const { url, a, b } = await group();
    await oneAlarmOnBoth(a, b);
    // A slow write, for real: the settings table locked by a session of the test's own.
    const locker = await connect(url);
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ward_patient_settings IN EXCLUSIVE MODE');
      const paused = b.req(CHARGE, 'POST', `/api/patients/${DEV}/standby`, { on: true, minutes: 10 });
      await until(() => b.alarms.openAlarms(DEV).length === 0, SEEN_MS, 'B cleared it on its board');
      await new Promise((r) => setTimeout(r, 500)); // well within SETTINGS_WAIT_MS
      const held = await b.alarms.eventsFrom(1, 100);
      expect(held.map((e) => e.event)).toEqual(['raised']);
      expect(a.alarms.openAlarms(DEV)).toHaveLength(1);
      await locker.query('COMMIT');
      expect((await paused).statusCode).toBe(200);
    } finally {
      await locker.end();
    }
    await until(() => a.alarms.tileState(DEV).standby?.reason === 'paused', SEEN_MS, 'A is paused too');
    await until(() => a.alarms.openAlarms(DEV).length === 0, SEEN_MS, 'A cleared it');
    await new Promise((r) => setTimeout(r, 1500)); // a sweep on A with the breach its latest reading
    const events = await b.alarms.eventsFrom(1, 100);
    expect(events.map((e) => e.event)).toEqual(['raised', 'cleared']);
  });

  it('error: the settings table locked: B shows the clear after SETTINGS_WAIT_MS, A applies it after as long again', async () => {
    const { url, a, b } = await group();
    const id = await oneAlarmOnBoth(a, b);
    const shownCleared = (r: AlarmRig) => () =>
      r.messages.some((m) => m.type === 'alarm' && m.event === 'cleared' && m.alarm.id === id);
    // Neither B's write nor A's read of the settings gets through while the lock stands.
    const locker = await connect(url);
    let paused: ReturnType<AlarmRig['req']> | undefined;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ward_patient_settings IN ACCESS EXCLUSIVE MODE');
      const t0 = Date.now();
      paused = b.req(CHARGE, 'POST', `/api/patients/${DEV}/standby`, { on: true, minutes: 10 });
      await until(shownCleared(b), SETTINGS_WAIT_MS + 2000, 'B shows the clear while its write is stuck');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(SETTINGS_WAIT_MS - 100);
      expect((await b.alarms.eventsFrom(1, 100)).map((e) => e.event)).toContain('cleared');
      await until(shownCleared(a), SETTINGS_WAIT_MS + 2000, 'A shows it while its read is stuck');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * SETTINGS_WAIT_MS - 200);
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }
    expect((await paused)?.statusCode).toBe(200);
    await until(
      () => a.alarms.tileState(DEV).standby?.reason === 'paused',
      SEEN_MS,
      'A is paused once it lands',
    );
    await until(
      () => a.alarms.openAlarms(DEV).length === 0 && b.alarms.openAlarms(DEV).length === 0,
      SEEN_MS,
      'none open on either',
    );
  });

  it('error: a change the group’s database cannot take is 503 shared_unavailable, undone on A, never seen on B', async () => {
    const { url, a, b } = await group();
    await sql(url, 'ALTER TABLE ward_patient_settings RENAME TO ward_patient_settings_away');
    const put = await a.req(CHARGE, 'PUT', `/api/patients/${DEV}/settings`, {
      limits: { hr: { low: 40, high: 90 } },
    });
    expect(put.statusCode).toBe(503);
    expect(put.json()).toMatchObject({ error: { code: 'shared_unavailable' } });
    expect(put.headers['retry-after']).toBe('5');
    await sql(url, 'ALTER TABLE ward_patient_settings_away RENAME TO ward_patient_settings');
    await until(() => a.alarms.settings(DEV).limits.hr.high !== 90, 3000, 'A undid the change');
    expect(b.alarms.settings(DEV).limits.hr.high).not.toBe(90);
  });
});
