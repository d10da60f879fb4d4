/**
 * @module test/integration/alarm-service
 * io/alarm-service and io/alarm-routes on a real SQLite file and the real HTTP server
 * (fastify inject): technical alarms (offline, battery, signal loss, signature failures,
 * storage, anchoring) on an injected clock, NEWS2 messages, acknowledgement through the
 * API (named user, 404/409 codes, roles), settings validation and persistence, the
 * snapshot on the socket, and a history that holds no vital values.
 */
import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES, INSTANT_NEWS2_TRIGGER } from '../../gateway/src/core/alarms/index.js';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import type { AlarmAuditEvent, AlarmService } from '../../gateway/src/io/clinical/alarm-service.js';
import { type AlarmRig, startAlarmRig } from '../helpers/alarm-rig.js';

const CALM = { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 };

describe('alarm service and routes', () => {
  const hub = new LiveHub();
  let clock = 1_000_000;
  let storageOk = true;
  let pendingAge: number | null = null;
  const audits: AlarmAuditEvent[] = [];
  let db: Database.Database;
  let alarms: AlarmService;
  let rig: AlarmRig;
  let seq = 0;

  const publish = (dev: string, obs: LiveReading['obs'], bat = 80) =>
    hub.publish({ dev, seq: ++seq, ts: clock, obs, bat, receivedAt: clock });

  beforeAll(async () => {
    rig = await startAlarmRig({
      hub,
      devices: ['wr-1', 'wr-2'],
      users: [
        ['nurse.kim', 'nurse', 'pw-nurse-kim-1'],
        ['charge.lee', 'charge_nurse', 'pw-charge-lee-1'],
        ['audit.ray', 'auditor', 'pw-audit-ray-1'],
      ],
      service: (store) => ({
        store,
        hub,
        now: () => clock,
        tickMs: 3_600_000, // ticks are driven by the test
        escalateAfterMs: 60_000,
        // SpO2 compared reading by reading and without delay, so one reading raises spo2_low here
        // (the defaults' averaging and delay are test/unit/alarm-filter.test.ts's and alarm-standby's).
        policies: { spo2: { ...DEFAULT_POLICIES.spo2, averageSeconds: 0, delaySeconds: 0 } },
        // NEWS2's alarm follows its band at once here (its sustained trigger: test/unit/news2-trigger).
        news2Trigger: INSTANT_NEWS2_TRIGGER,
        storageHealthy: () => storageOk,
        anchoring: () => ({ oldestPendingAgeMs: pendingAge }),
        audit: (e) => audits.push(e),
      }),
    });
    alarms = rig.alarms;
    db = rig.store.db;
  });

  afterAll(() => rig.close());

  it('behavior: readings score NEWS2 (partial until ACVPU is entered) and raise limit alarms', () => {
    publish('wr-1', CALM);
    const n = rig.messages.filter((m) => m.type === 'news2' && m.dev === 'wr-1').at(-1);
    expect(n).toMatchObject({ score: 0, band: 'zero', partial: true, missing: ['consciousness'] });
    publish('wr-1', { ...CALM, spo2: 88 });
    const open = alarms.openAlarms('wr-1');
    expect(open.map((a) => `${a.code}:${a.priority}`)).toEqual(['spo2_low:high', 'news2:low']);
    expect(rig.messages.filter((m) => m.type === 'alarm').map((m) => (m as { event: string }).event)).toEqual(
      ['raised', 'raised'],
    );
  });

  it('behavior: acknowledge through the API names the user; a second ack is 409; an unknown id 404', async () => {
    const id = alarms.openAlarms('wr-1').find((a) => a.code === 'spo2_low')!.id;
    const res = await rig.req('nurse.kim', 'POST', `/api/alarms/${id}/ack`, { comment: ' probe refitted ' });
    expect(res.statusCode).toBe(200);
    expect(res.json().alarm).toMatchObject({
      state: 'acknowledged',
      ackBy: 'nurse.kim',
      ackComment: 'probe refitted',
    });
    const again = await rig.req('charge.lee', 'POST', `/api/alarms/${id}/ack`, {});
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({
      error: { code: 'alarm_not_active', reason: 'the alarm is already acknowledged' },
    });
    const missing = await rig.req(
      'nurse.kim',
      'POST',
      '/api/alarms/00000000-0000-0000-0000-000000000000/ack',
      {},
    );
    expect(missing.statusCode).toBe(404);
    expect(
      (await rig.req('nurse.kim', 'POST', `/api/alarms/${id}/ack`, { comment: 'x'.repeat(201) })).statusCode,
    ).toBe(400);
    expect((await rig.req('audit.ray', 'POST', `/api/alarms/${id}/ack`, {})).statusCode).toBe(403);
    expect(audits).toContainEqual(
      expect.objectContaining({ type: 'alarm', event: 'acknowledged', user: 'nurse.kim' }),
    );
    // The history records who and the comment, never the SpO2 value.
    const row = db
      .prepare("SELECT * FROM dashboard_alarm_events WHERE event = 'acknowledged'")
      .get() as Record<string, unknown>;
    expect(row).toMatchObject({ by: 'nurse.kim', comment: 'probe refitted', code: 'spo2_low' });
    expect(Object.keys(row)).not.toContain('value');
  });

  it('behavior: the patient view is audited; settings are validated, persisted and re-score at once', async () => {
    const view = await rig.req('nurse.kim', 'GET', '/api/patients/wr-1');
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({ dev: 'wr-1', news2: { dev: 'wr-1' }, settings: { spo2Scale: 1 } });
    expect(audits).toContainEqual(
      expect.objectContaining({ type: 'patient_view', dev: 'wr-1', user: 'nurse.kim' }),
    );
    expect((await rig.req('nurse.kim', 'GET', '/api/patients/nope')).statusCode).toBe(404);
    expect((await rig.req('audit.ray', 'GET', '/api/patients/wr-1')).statusCode).toBe(403);

    const bad = [
      { spo2Scale: 3 },
      { consciousness: 'X' },
      { limits: { hr: { low: 40 } } },
      { oxygen: 'yes' },
    ];
    for (const body of bad)
      expect((await rig.req('nurse.kim', 'PUT', '/api/patients/wr-1/settings', body)).statusCode).toBe(400);
    // Unknown keys are dropped by the schema (fastify removeAdditional), never stored.
    const extra = await rig.req('nurse.kim', 'PUT', '/api/patients/wr-1/settings', { extra: 1 });
    expect(extra.statusCode).toBe(200);
    expect(Object.keys(extra.json())).not.toContain('extra');
    const put = await rig.req('charge.lee', 'PUT', '/api/patients/wr-1/settings', {
      spo2Scale: 2,
      consciousness: 'A',
      limits: { spo2: { low: 85, high: null } },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ spo2Scale: 2, consciousness: 'A', consciousnessBy: 'charge.lee' });
    // Scale 2 on air: 88 % scores 0, the 85 % limit no longer alarms; the set is complete.
    expect(alarms.news2Of('wr-1')).toMatchObject({ score: 0, partial: false });
    expect(alarms.openAlarms('wr-1').map((a) => a.code)).toEqual([]);
    const stored = db
      .prepare('SELECT settings, updated_by FROM dashboard_patient_settings WHERE dev = ?')
      .get('wr-1') as {
      settings: string;
      updated_by: string;
    };
    expect(stored.updated_by).toBe('charge.lee');
    // ACVPU is an observation: held in memory, not written with the configuration.
    expect(JSON.parse(stored.settings)).toEqual({
      spo2Scale: 2,
      oxygen: false,
      limits: expect.any(Object),
      policies: {},
    });
  });

  it('behavior: technical alarms: signal loss, offline, battery, signature failures, storage, anchoring; escalation', () => {
    publish('wr-2', CALM, 15);
    expect(alarms.openAlarms('wr-2').map((a) => `${a.code}:${a.priority}`)).toEqual(['battery_low:low']);
    clock += 10_000;
    publish('wr-2', { hr: 70, rr: 14, temp: 3700, sbp: 120, dbp: 75 }, 15); // SpO2 probe off
    clock += 6_000;
    publish('wr-2', { hr: 70, rr: 14, temp: 3700, sbp: 120, dbp: 75 }, 15);
    expect(alarms.openAlarms('wr-2').map((a) => a.code)).toContain('signal_loss_spo2');
    for (let i = 0; i < 3; i++) alarms.recordReject('wr-2', 'bad_signature');
    alarms.recordReject('wr-2', 'clock_skew'); // not a signature failure
    expect(alarms.openAlarms('wr-2').find((a) => a.code === 'signature_failures')).toMatchObject({
      priority: 'high',
      value: 3,
    });
    clock += 31_000;
    storageOk = false;
    pendingAge = 11 * 60_000;
    alarms.tick();
    expect(alarms.openAlarms('wr-2').map((a) => a.code)).toContain('device_offline');
    expect(alarms.openAlarms('gateway').map((a) => `${a.code}:${a.priority}`)).toEqual([
      'storage_failing:high',
      'anchoring_delayed:low',
    ]);
    storageOk = true;
    alarms.tick();
    // Storage failing is high priority but technical: it never latches, it clears with its condition.
    expect(alarms.openAlarms('gateway').map((a) => a.code)).toEqual(['anchoring_delayed']);
    // Left unacknowledged for escalateAfterMs, the (technical) anchoring alarm is re-notified
    // at its own priority: it stays low.
    clock += 60_000;
    alarms.tick();
    expect(alarms.openAlarms('gateway').find((a) => a.code === 'anchoring_delayed')).toMatchObject({
      priority: 'low',
      basePriority: 'low',
      escalations: 1,
    });
    expect(
      rig.messages.filter((m) => m.type === 'alarm' && m.alarm.code === 'anchoring_delayed').at(-1),
    ).toMatchObject({
      event: 'renotified',
    });
  });

  it('behavior: the socket snapshot carries the open alarms, the scores and the tile states', async () => {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${rig.srv.url.replace('http', 'ws')}/ws`, {
      headers: { cookie: rig.cookies['nurse.kim']! },
    });
    const snap = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('message', (d) => resolve(JSON.parse(String(d))));
      ws.once('error', reject);
    });
    ws.close();
    expect(snap.type).toBe('snapshot');
    expect((snap.alarms as { code: string }[]).map((a) => a.code)).toContain('anchoring_delayed');
    expect(snap.tileStates).toEqual([
      expect.objectContaining({ dev: 'wr-1', alarmsOff: [], standby: null, revoked: false }),
      expect.objectContaining({ dev: 'wr-2', alarmsOff: [], standby: null, revoked: false }),
    ]);
    expect((snap.news2 as { dev: string }[]).map((n) => n.dev).sort()).toEqual(['wr-1', 'wr-2']);
    expect(snap.patients).toHaveLength(2);
  });
});
