/**
 * @module test/integration/alarm-manager
 * Issue 19, IHE PCD ACM: alarm transitions to an alarm manager as PCD-04 `ORU^R40` and its
 * PCD-05 `ORU^R41` answers back, on real parts: the alarm service on a real SQLite file,
 * the durable delivery engine with the MLLP sender, a real MLLP alarm manager
 * (@medplum/hl7's Hl7Server, test/helpers/hl7-server) that ACKs, then NAKs, and the
 * gateway's PCD-05 listener on a real TCP port, spoken to by @medplum/hl7's Hl7Client and by
 * raw sockets (hostile peers).
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_POLICIES } from '../../gateway/src/core/alarms/index.js';
import { buildPcd04Message } from '../../gateway/src/core/hl7/pcd04.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import type { OutboundAlarm } from '../../gateway/src/core/outbound-alarm.js';
import { type AlarmAuditEvent, AlarmService } from '../../gateway/src/io/clinical/alarm-service.js';
import { WARD_ROLES } from '../../gateway/src/io/http/route-roles.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { AlarmSource } from '../../gateway/src/io/interfaces/alarm-source.js';
import { DeliveryWorker } from '../../gateway/src/io/interfaces/delivery.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { MllpReceiver } from '../../gateway/src/io/interfaces/mllp-receiver.js';
import { Pcd05Listener } from '../../gateway/src/io/interfaces/pcd05-listener.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { parseWithPythonHl7 } from '../helpers/hl7-py.js';
import { type ServerAction, startHl7Server, type TestHl7Server } from '../helpers/hl7-server.js';
import { makeTempDir } from '../helpers/tmp.js';

const CALM = { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 };
const ORIGIN = 'vitaltrail/ward-3';

describe('IHE PCD ACM: PCD-04 out, PCD-05 back', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  const audits: AlarmAuditEvent[] = [];
  let store: GatewayStore;
  let alarms: AlarmService;
  let manager: TestHl7Server;
  let listener: Pcd05Listener;
  let worker: DeliveryWorker<OutboundAlarm>;
  let action: ServerAction = 'AA';
  let seq = 0;

  const publish = (dev: string, obs: typeof CALM) =>
    hub.publish({ dev, seq: ++seq, ts: Date.now(), obs, bat: 80, receivedAt: Date.now() });

  /** Sends one PCD-05 and returns the ACK's MSA-1. */
  async function sendPcd05(alarmId: string, status: string, user: string, type = 'ORU^R41^ORU_R41') {
    const client = new Hl7Client({ host: '127.0.0.1', port: listener.port, connectTimeout: 5000 });
    try {
      const msg = Hl7Message.parse(
        [
          `MSH|^~\\&|AM|HOSP|VITALTRAIL|ward-3|20261202093010||${type}|am-${++seq}|P|2.6|||AL|NE||UNICODE UTF-8`,
          'PID|1',
          `OBR|1||${alarmId}^^${ORIGIN}^L|196616^MDC_EVT_ALARM^MDC`,
          `OBX|1|ST|68487^MDC_ATTR_ALERT_STATUS^MDC|1.0.0.0.1|${status}||||||F|||||${user}`,
        ].join('\r'),
      );
      const ack = await client.sendAndWait(msg, { timeoutMs: 5000 });
      return ack.getSegment('MSA')?.getField(1)?.toString();
    } finally {
      await client.close();
    }
  }

  beforeAll(async () => {
    store = openStore(join(tmp.dir, 'store.db'));
    alarms = new AlarmService({
      store,
      hub,
      tickMs: 3_600_000,
      // One reading raises the limit alarms these tests deliver (no averaging, no condition delay).
      policies: {
        spo2: { ...DEFAULT_POLICIES.spo2, averageSeconds: 0, delaySeconds: 0 },
        hr: { ...DEFAULT_POLICIES.hr, delaySeconds: 0 },
      },
      storageHealthy: () => true,
      anchoring: () => ({ oldestPendingAgeMs: null }),
      audit: (e) => audits.push(e),
    });
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add('nurse.kim', 'nurse', 'pw-nurse-kim-1');
    await users.add('audit.ray', 'auditor', 'pw-audit-ray-1');
    hub.addDevice('wr-1');
    manager = await startHl7Server(() => action);
    worker = new DeliveryWorker<OutboundAlarm>({
      receiver: new MllpReceiver<OutboundAlarm>({
        name: 'acm',
        host: '127.0.0.1',
        port: manager.port,
        ackTimeoutMs: 2000,
        message: {
          sendingApp: 'VITALTRAIL',
          sendingFacility: 'ward-3',
          receivingApp: 'AM',
          receivingFacility: 'HOSP',
        },
        build: (a, h) => buildPcd04Message(a, ORIGIN, h),
      }),
      state: new DeliveryState(store),
      source: new AlarmSource(alarms, null),
      startLeaf: (await alarms.lastEventId()) + 1,
      pollMs: 50,
      backoff: { minMs: 100, maxMs: 200 },
    });
    worker.start();
    listener = new Pcd05Listener({
      port: 0,
      allowFrom: ['127.0.0.1'],
      alarms,
      roleOf: (u) => users.get(u)?.role,
      wardRoles: WARD_ROLES,
      maxMessageBytes: 4096,
    });
    await listener.start();
  });

  afterAll(async () => {
    await listener.stop();
    await worker.stop();
    await manager.stop();
    alarms.stop();
    store.close();
    tmp.cleanup();
  });

  const facet = (m: Hl7Message, code: string) =>
    m
      .getAllSegments('OBX')
      .find((s) => s.getComponent(3, 1) === code)
      ?.getField(5)
      ?.toString();

  test('behavior: a raised alarm reaches the alarm manager as PCD-04; its PCD-05 acknowledges it in the nurse’s name', async () => {
    publish('wr-1', CALM);
    const raisedAt = Date.now();
    publish('wr-1', { ...CALM, spo2: 86 });
    const alarm = alarms.openAlarms('wr-1').find((a) => a.code === 'spo2_low');
    expect(alarm).toBeDefined();
    const start = Date.now();
    while (!manager.received.some((m) => m.getSegment('OBR')?.getComponent(3, 1) === alarm!.id)) {
      expect(Date.now() - start, 'PCD-04 delivered').toBeLessThan(2000);
      await sleep(20);
    }
    expect(Date.now() - raisedAt).toBeLessThan(2000);
    const raised = manager.received.find((m) => m.getSegment('OBR')?.getComponent(3, 1) === alarm!.id)!;
    expect(raised.getSegment('MSH')?.getComponent(9, 2)).toBe('R40');
    expect(facet(raised, '68481')).toBe('start');
    expect(facet(raised, '68484')).toBe('PH');

    // Not a ward user, then not this gateway's message type: refused, the alarm stays active.
    expect(await sendPcd05(alarm!.id, 'Accepted by Endpoint Operator', 'audit.ray')).toBe('AE');
    expect(await sendPcd05(alarm!.id, 'Accepted by Endpoint Operator', 'nobody')).toBe('AE');
    expect(await sendPcd05(alarm!.id, 'Accepted by Endpoint Operator', 'nurse.kim', 'ORU^R01^ORU_R01')).toBe(
      'AR',
    );
    // A status that is not an acceptance changes nothing.
    expect(await sendPcd05(alarm!.id, 'Delivered to Endpoint', 'nurse.kim')).toBe('AA');
    expect(alarms.openAlarms('wr-1').find((a) => a.id === alarm!.id)?.state).toBe('active');

    expect(await sendPcd05(alarm!.id, 'Accepted by Endpoint Operator', 'nurse.kim')).toBe('AA');
    const acked = alarms.openAlarms('wr-1').find((a) => a.id === alarm!.id);
    expect(acked).toMatchObject({ state: 'acknowledged', ackBy: 'nurse.kim' });
    expect(
      audits.some(
        (e) =>
          e.type === 'alarm' &&
          e.event === 'acknowledged' &&
          e.user === 'nurse.kim' &&
          e.alarmId === alarm!.id,
      ),
    ).toBe(true);
    // A resend of the same answer is harmless.
    expect(await sendPcd05(alarm!.id, 'Accepted by Endpoint Operator', 'nurse.kim')).toBe('AA');
    expect(listener.counters.acknowledged).toBe(1);

    // The acknowledgement goes back out as PCD-04, naming her.
    const t0 = Date.now();
    const isAck = (m: Hl7Message) =>
      m.getSegment('OBR')?.getComponent(3, 1) === alarm!.id && facet(m, '68483') === 'alert-acknowledged';
    while (!manager.received.some(isAck)) {
      expect(Date.now() - t0, 'acknowledged PCD-04 delivered').toBeLessThan(2000);
      await sleep(20);
    }
    const ackMsg = manager.received.find(isAck)!;
    expect(
      ackMsg
        .getAllSegments('OBX')
        .find((s) => s.getComponent(3, 1) === '68483')
        ?.getComponent(16, 1),
    ).toBe('nurse.kim');
    // Every PCD-04 the manager got, read by an independent parser (python-hl7), says the same.
    const py = parseWithPythonHl7(manager.raw, ['MSH.F9.R1.C2', 'MSH.F10', 'OBR.F3.R1.C1']);
    expect(
      py.map((p) =>
        'error' in p ? p.error : [p.values['MSH.F9.R1.C2'], p.values['MSH.F10'], p.values['OBR.F3.R1.C1']],
      ),
    ).toEqual(
      manager.received.map((m) => [
        'R40',
        m.getSegment('MSH')?.getField(10)?.toString(),
        m.getSegment('OBR')?.getComponent(3, 1),
      ]),
    );
    // An unknown alarm id is refused.
    expect(
      await sendPcd05('00000000-0000-4000-8000-000000000000', 'Accepted by Endpoint Operator', 'nurse.kim'),
    ).toBe('AE');
  });

  test('behavior: a manager that NAKs gets each transition once as a dead letter; delivery goes on', async () => {
    action = 'AE';
    const before = manager.received.length;
    publish('wr-1', { ...CALM, spo2: 97, hr: 150 });
    const hr = alarms.openAlarms('wr-1').find((a) => a.code === 'hr_high');
    expect(hr).toBeDefined();
    const start = Date.now();
    while (worker.cursor().nextLeaf <= (await alarms.lastEventId())) {
      expect(Date.now() - start).toBeLessThan(5000);
      await sleep(20);
    }
    action = 'AA';
    const refused = manager.received.slice(before);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((m) => m.getSegment('MSH')?.getField(10)?.toString())).size).toBe(
      refused.length,
    );
    expect(new DeliveryState(store).all().find((c) => c.receiver === 'acm')?.deadLetters).toBe(
      refused.length,
    );
  });

  test('behavior: hostile peers (oversized or garbage bytes) are dropped; the listener keeps serving', async () => {
    const drop = (bytes: Buffer) =>
      new Promise<string>((resolve) => {
        const s = connect(listener.port, '127.0.0.1', () => s.write(bytes));
        s.on('close', () => resolve('closed'));
        s.on('error', () => {});
        setTimeout(() => {
          s.destroy();
          resolve('open');
        }, 3000);
      });
    expect(await drop(Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(8192, 0x41)]))).toBe('closed');
    expect(await drop(Buffer.from([0x0b, 0x00, 0xff, 0x1c, 0x0d]))).toBe('closed');
    expect(listener.counters.refused).toBeGreaterThanOrEqual(2);
    const open = alarms.openAlarms('wr-1').find((a) => a.code === 'hr_high');
    expect(await sendPcd05(open!.id, 'Read at Endpoint', 'nurse.kim')).toBe('AA');
  });

  test('behavior: a peer not in allowFrom is dropped before it can say anything', async () => {
    const strict = new Pcd05Listener({
      port: 0,
      allowFrom: ['10.255.255.1'],
      alarms,
      roleOf: () => 'nurse',
      wardRoles: WARD_ROLES,
    });
    await strict.start();
    try {
      const closed = await new Promise<boolean>((resolve) => {
        const s = connect(strict.port, '127.0.0.1');
        s.on('close', () => resolve(true));
        s.on('error', () => {});
        setTimeout(() => resolve(false), 3000);
      });
      expect(closed).toBe(true);
      expect(strict.counters.droppedPeers).toBe(1);
    } finally {
      await strict.stop();
    }
  });
});
