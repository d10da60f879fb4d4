/**
 * @module test/integration/alarm-standby
 * The alarm-fatigue controls of the alarm service (issue 15) on a real SQLite store and
 * the real HTTP server (fastify inject), on an injected clock: standby (a nurse's pause
 * clears and suppresses every alarm, technical included, and ends by itself; a discharge
 * ends `device_offline` until the next admission; standby survives a restart), a revoked
 * device's `device_revoked`, tile-state messages on every change, settings refused with
 * `limits_invalid` and nothing saved, patient policies (delay, episodes), the patient view
 * grouped by episode, and the standby route.
 */
import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import type { TileStateDto } from '../../gateway/src/core/live-contract.js';
import {
  type AlarmAuditEvent,
  AlarmService,
  type AlarmServiceOptions,
} from '../../gateway/src/io/clinical/alarm-service.js';
import type { GatewayStore } from '../../gateway/src/io/store/index.js';
import { type AlarmRig, startAlarmRig } from '../helpers/alarm-rig.js';

const CALM = { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 };
const DEVS = ['wr-1', 'wr-2', 'wr-3', 'wr-4'];

describe('alarm service: standby, revoked devices, validated settings, episodes', () => {
  const hub = new LiveHub();
  let clock = 5_000_000;
  const revoked = new Set<string>();
  const audits: AlarmAuditEvent[] = [];
  let db: Database.Database;
  let alarms: AlarmService;
  let rig: AlarmRig;
  let seq = 0;

  const options = (store: GatewayStore): AlarmServiceOptions => ({
    store,
    hub,
    now: () => clock,
    tickMs: 3_600_000, // ticks are driven by the test
    deviceRevoked: (dev) => revoked.has(dev),
    audit: (e) => audits.push(e),
  });
  const publish = (dev: string, obs: LiveReading['obs'], bat = 80) =>
    hub.publish({ dev, seq: ++seq, ts: clock, obs, bat, receivedAt: clock });
  /** One reading per second for `s` seconds. */
  const feed = (dev: string, obs: LiveReading['obs'], s: number, bat = 80) => {
    for (let i = 0; i < s; i++) {
      clock += 1000;
      publish(dev, obs, bat);
    }
  };
  const codes = (dev: string) => alarms.openAlarms(dev).map((a) => a.code);
  const tiles = (dev: string) =>
    rig.messages.filter(
      (m): m is { type: 'tile-state' } & TileStateDto => m.type === 'tile-state' && m.dev === dev,
    );

  beforeAll(async () => {
    rig = await startAlarmRig({
      hub,
      devices: DEVS,
      users: [
        ['nurse.kim', 'nurse', 'pw-nurse-kim-1'],
        ['audit.ray', 'auditor', 'pw-audit-ray-1'],
      ],
      service: options,
    });
    alarms = rig.alarms;
    db = rig.store.db;
  });

  afterAll(() => rig.close());

  it('behavior: with the default policies a desaturation alarms after the averaging and the delay, with its trigger value', () => {
    feed('wr-1', CALM, 20);
    feed('wr-1', { ...CALM, spo2: 85 }, 13);
    expect(codes('wr-1')).not.toContain('spo2_low'); // 10 s mean below 92 at 5 s, then 10 s delay
    feed('wr-1', { ...CALM, spo2: 85 }, 2);
    const a = alarms.openAlarms('wr-1').find((x) => x.code === 'spo2_low');
    expect(a).toMatchObject({ priority: 'high', state: 'active', limit: 92 });
    expect(a!.triggerValue).toBeLessThan(92);
    feed('wr-1', { ...CALM, spo2: 80 }, 10);
    expect(alarms.openAlarms('wr-1').find((x) => x.code === 'spo2_low')).toMatchObject({
      triggerValue: a!.triggerValue,
      value: 80,
    });
  });

  it('behavior: a nurse pauses a bed: its alarms clear at once, nothing new is raised (technical included), the pause ends by itself', async () => {
    expect(codes('wr-1').length).toBeGreaterThan(0);
    const before = rig.messages.length;
    const res = await rig.req('nurse.kim', 'POST', '/api/patients/wr-1/standby', { on: true, minutes: 5 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      dev: 'wr-1',
      limits: expect.any(Object),
      alarmsOff: [],
      standby: { reason: 'paused', since: clock, by: 'nurse.kim', until: clock + 5 * 60_000 },
      revoked: false,
    } satisfies TileStateDto);
    expect(codes('wr-1')).toEqual([]);
    const sent = rig.messages.slice(before);
    expect(sent.filter((m) => m.type === 'alarm').every((m) => m.event === 'cleared')).toBe(true);
    expect(sent.some((m) => m.type === 'alarm')).toBe(true);
    expect(tiles('wr-1').at(-1)?.standby?.reason).toBe('paused');
    expect(audits).toContainEqual({
      type: 'standby',
      dev: 'wr-1',
      user: 'nurse.kim',
      on: true,
      reason: 'paused',
      at: clock,
    });
    const row = db
      .prepare(
        "SELECT by FROM dashboard_alarm_events WHERE scope = 'wr-1' AND event = 'cleared' ORDER BY id DESC",
      )
      .get() as { by: string };
    expect(row.by).toBe('nurse.kim');
    // Desaturated, battery low, then silent: nothing at all while paused.
    feed('wr-1', { ...CALM, spo2: 80 }, 30, 5);
    clock += 60_000;
    alarms.tick();
    expect(codes('wr-1')).toEqual([]);
    // Five minutes after it began, the pause ends by itself (tick), audited without a user.
    clock += 5 * 60_000;
    alarms.tick();
    expect(alarms.tileState('wr-1').standby).toBeNull();
    expect(tiles('wr-1').at(-1)?.standby).toBeNull();
    const ended = audits.filter((e) => e.type === 'standby').at(-1);
    expect(ended).toMatchObject({ type: 'standby', dev: 'wr-1', on: false, reason: 'paused', at: clock });
    expect(ended).not.toHaveProperty('user');
    expect(codes('wr-1')).toContain('device_offline'); // alarms are back
  });

  it('behavior: a pause without minutes lasts until a nurse ends it', async () => {
    const on = await rig.req('nurse.kim', 'POST', '/api/patients/wr-1/standby', { on: true });
    expect(on.json().standby).toMatchObject({ reason: 'paused', until: null });
    clock += 24 * 3_600_000;
    alarms.tick();
    expect(codes('wr-1')).toEqual([]);
    const off = await rig.req('nurse.kim', 'POST', '/api/patients/wr-1/standby', { on: false });
    expect(off.statusCode).toBe(200);
    expect(off.json().standby).toBeNull();
    expect(codes('wr-1')).toEqual(['device_offline']);
  });

  it('behavior: a discharge ends device_offline and keeps the bed silent until the next admission; standby survives a restart', async () => {
    feed('wr-2', CALM, 1);
    clock += 31_000;
    alarms.tick();
    expect(codes('wr-2')).toEqual(['device_offline']);
    expect(alarms.discharged('wr-2', 'charge.lee').standby).toMatchObject({
      reason: 'discharged',
      by: 'charge.lee',
      until: null,
    });
    expect(codes('wr-2')).toEqual([]);
    expect(rig.messages.filter((m) => m.type === 'alarm' && m.alarm.dev === 'wr-2').at(-1)).toMatchObject({
      event: 'cleared',
      alarm: { code: 'device_offline', state: 'cleared' },
    });
    clock += 3_600_000;
    alarms.tick();
    expect(codes('wr-2')).toEqual([]);
    // A nurse's pause does not replace a discharge.
    const on = await rig.req('nurse.kim', 'POST', '/api/patients/wr-2/standby', { on: true, minutes: 1 });
    expect(on.json().standby).toMatchObject({ reason: 'discharged' });
    // A restart (a second service on the same store) still has the bed in standby.
    const again = new AlarmService(options(rig.store));
    try {
      expect(again.tileState('wr-2').standby).toMatchObject({ reason: 'discharged', by: 'charge.lee' });
      expect(again.snapshot().tileStates.find((t) => t.dev === 'wr-2')?.standby?.reason).toBe('discharged');
    } finally {
      again.stop();
    }
    expect(alarms.admitted('wr-2', 'charge.lee').standby).toBeNull();
    expect(
      audits.flatMap((e) =>
        e.type === 'standby' && e.dev === 'wr-2' ? [`${e.on} ${e.reason} ${e.user}`] : [],
      ),
    ).toEqual(['true discharged charge.lee', 'false discharged charge.lee']);
    alarms.tick();
    expect(codes('wr-2')).toEqual(['device_offline']); // admitted and still silent: alarms again
  });

  it('behavior: a revoked device raises device_revoked (medium, never escalated), not device_offline; its tile says so', () => {
    feed('wr-3', CALM, 1);
    revoked.add('wr-3');
    clock += 1000;
    alarms.tick();
    expect(alarms.openAlarms('wr-3').map((a) => `${a.code}:${a.kind}:${a.priority}`)).toEqual([
      'device_revoked:technical:medium',
    ]);
    expect(tiles('wr-3').at(-1)).toMatchObject({ dev: 'wr-3', revoked: true });
    expect(alarms.tileState('wr-3').revoked).toBe(true);
    clock += 10 * 60_000;
    alarms.tick();
    expect(alarms.openAlarms('wr-3').map((a) => `${a.code}:${a.priority}`)).toEqual([
      'device_revoked:medium',
    ]);
  });

  it('error: settings refused with 400 limits_invalid store nothing; accepted ones send the tile state', async () => {
    const row = () =>
      db.prepare("SELECT settings, updated_at FROM dashboard_patient_settings WHERE dev = 'wr-4'").get();
    const stored = row();
    for (const body of [
      { limits: { hr: { low: 130, high: 41 } } },
      { limits: { hr: { low: 100, high: 100 } } },
      { limits: { temp: { low: 3510, high: 1 } } },
      { oxygen: true, policies: { spo2: { delaySeconds: 121 } } },
      { policies: { hr: { hysteresis: 2.5 } } },
    ]) {
      const res = await rig.req('nurse.kim', 'PUT', '/api/patients/wr-4/settings', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toEqual({
        error: { code: 'limits_invalid', reason: 'alarm limits or policies out of range' },
      });
    }
    expect(row()).toEqual(stored);
    expect(alarms.settings('wr-4').oxygen).toBe(false);
    expect(() =>
      alarms.updateSettings('wr-4', { limits: { spo2: { low: 40, high: null } } }, 'nurse.kim'),
    ).toThrow(expect.objectContaining({ name: 'AlarmError', code: 'limits_invalid' }));
    const ok = await rig.req('nurse.kim', 'PUT', '/api/patients/wr-4/settings', {
      limits: { spo2: { low: null, high: null } },
      policies: { hr: { delaySeconds: 0 } },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().policies.hr).toEqual({
      averageSeconds: 0,
      delaySeconds: 0,
      hysteresis: 5,
      episodeGapSeconds: 120,
    });
    expect(ok.json().policies.spo2.delaySeconds).toBe(10);
    expect(tiles('wr-4').at(-1)).toMatchObject({
      alarmsOff: ['spo2'],
      limits: { spo2: { low: null, high: null } },
    });
    expect(JSON.parse((row() as { settings: string }).settings).policies).toEqual({
      hr: { delaySeconds: 0 },
    });
  });

  it('behavior: a patient policy applies: no delay, and a new breach within the episode gap re-opens the same alarm', async () => {
    feed('wr-4', { ...CALM, hr: 140 }, 1);
    const hrOf = () => alarms.openAlarms('wr-4').filter((a) => a.code === 'hr_high');
    const [hr] = hrOf();
    expect(hr).toMatchObject({ code: 'hr_high', triggerValue: 140 });
    feed('wr-4', { ...CALM, hr: 100 }, 5);
    expect(codes('wr-4')).toEqual([]);
    feed('wr-4', { ...CALM, hr: 135 }, 1);
    expect(hrOf()).toMatchObject([{ id: hr!.id, code: 'hr_high', triggerValue: 135, state: 'active' }]);
    expect(
      rig.messages
        .filter((m) => m.type === 'alarm' && m.alarm.id === hr!.id)
        .map((m) => m.type === 'alarm' && m.event),
    ).toEqual(['raised', 'cleared', 'reactivated']);
    // The patient view groups the history by episode and carries the tile state.
    const view = await rig.req('nurse.kim', 'GET', '/api/patients/wr-4');
    expect(view.statusCode).toBe(200);
    const episodes = view.json().episodes as { alarmId: string }[];
    expect(episodes.filter((e) => e.alarmId === hr!.id)).toEqual([
      expect.objectContaining({
        alarmId: hr!.id,
        code: 'hr_high',
        raisedAt: hr!.raisedAt,
        clearedAt: null,
        reactivations: 1,
      }),
    ]);
    // One row per alarm, though the history holds a row per transition.
    expect(new Set(episodes.map((e) => e.alarmId)).size).toBe(episodes.length);
    expect(view.json().history.length).toBeGreaterThan(episodes.length);
    expect(view.json().tile).toMatchObject({
      dev: 'wr-4',
      alarmsOff: ['spo2'],
      standby: null,
      revoked: false,
    });
  });

  it('error: the standby route checks its body, the role and the device', async () => {
    for (const body of [
      {},
      { on: 'yes' },
      { on: true, minutes: 0 },
      { on: true, minutes: 1441 },
      { on: true, minutes: 2.5 },
    ]) {
      const res = await rig.req('nurse.kim', 'POST', '/api/patients/wr-4/standby', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('bad_request');
    }
    expect((await rig.req('audit.ray', 'POST', '/api/patients/wr-4/standby', { on: true })).statusCode).toBe(
      403,
    );
    expect((await rig.req('nurse.kim', 'POST', '/api/patients/wr-9/standby', { on: true })).statusCode).toBe(
      404,
    );
    expect(alarms.tileState('wr-4').standby).toBeNull();
    expect(() => alarms.standby('wr-4', { on: true, minutes: 0 }, 'nurse.kim')).toThrow(RangeError);
  });
});
