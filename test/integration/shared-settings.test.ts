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
 * - A pause set on B silences the patient on A too, the alarm cleared once for the group.
 * - A change the database cannot take is refused with 503 `shared_unavailable` and undone
 *   on the gateway that made it; the other never sees it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES } from '../../gateway/src/core/alarms/index.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { PgAlarms, PgPatientSettings } from '../../gateway/src/io/shared/index.js';
import { type AlarmRig, startAlarmRig } from '../helpers/alarm-rig.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { until } from '../helpers/wait.js';

const DEV = 'wr-1';
const CHARGE = 'charge.lee';
/** Seen on the other gateway by notification: well within the 2 s poll. */
const SEEN_MS = 1500;

describe('patient settings shared by a gateway group (PostgreSQL)', () => {
  const { server, sql } = usePostgres();
  const rigs: AlarmRig[] = [];
  const hubs: LiveHub[] = [];
  const closers: (() => Promise<void>)[] = [];
  let seq = 0;

  /** Two gateways of one group on a fresh database. */
  async function group(): Promise<{ url: string; a: AlarmRig; b: AlarmRig }> {
    const url = await server().createDatabase();
    const password = server().password;
    for (const gatewayId of ['gw-a', 'gw-b']) {
      const ledger = await PgAlarms.open({ url, password, gatewayId, pollMs: 500 });
      const settings = await PgPatientSettings.open({ url, password, gatewayId, pollMs: 500 });
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
    expect(
      (
        await a.req(CHARGE, 'PUT', `/api/patients/${DEV}/settings`, {
          limits: { hr: { low: 40, high: 100 } },
        })
      ).statusCode,
    ).toBe(200);
    await until(() => b.alarms.settings(DEV).limits.hr.high === 100, SEEN_MS, 'B has the limit');
    reading({ hr: 120, spo2: 97 });
    await until(
      () =>
        a.alarms.openAlarms(DEV).length === 1 &&
        a.alarms.openAlarms(DEV)[0]?.id === b.alarms.openAlarms(DEV)[0]?.id,
      5000,
      'one alarm on both',
    );
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
