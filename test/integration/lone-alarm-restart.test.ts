/**
 * @module test/integration/lone-alarm-restart
 * A lone gateway's alarms outlive its restart (issue 16: the alarm states behind one
 * interface; io/clinical/local-alarm-ledger, app/ward-steps): the real gateway (startGateway:
 * embedded broker, SQLite store, alarm service, audit log) on a prepared data dir, readings on
 * its live hub. An alarm raised and acknowledged before a stop is, after the start on the same
 * data dir, the same alarm, still acknowledged by the same nurse, while its condition persists;
 * the acknowledgement is not asked for again; each transition is in the audit log once and in
 * the history once; and the acknowledged alarm still clears when its condition ends.
 * Its own gateway-wide alarm left open by a stop (the alarm service on a SQLite file, its
 * store's ledger) is ended at the next start: the clear recorded and audited once, its
 * history under `gateway` as before, the raise of the same condition afterwards a new alarm.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { DEFAULT_POLICIES } from '../../gateway/src/core/alarms/index.js';
import type { LiveReading } from '../../gateway/src/core/live.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import type { AlarmDto } from '../../gateway/src/core/live-contract.js';
import { type AlarmAuditEvent, AlarmService, LocalAlarmLedger } from '../../gateway/src/io/clinical/index.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DEV = 'wr-0001';
const CALM = { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 };
const TACHY = { ...CALM, hr: 150 };

describe('a lone gateway keeps its alarm states across a restart', () => {
  const tmp = makeTempDir('vt-lone-restart-');
  let paths: DataPaths;
  let gw: RunningGateway | null = null;
  let seq = 0;

  const start = async (): Promise<RunningGateway> => {
    gw = await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
    });
    return gw;
  };
  const feed = (g: RunningGateway, obs: LiveReading['obs']) => {
    const now = Date.now();
    g.hub.publish({ dev: DEV, seq: ++seq, ts: now, obs, bat: 80, receivedAt: now });
  };
  const hrHigh = (g: RunningGateway): AlarmDto | undefined =>
    g.alarms.openAlarms(DEV).find((a) => a.code === 'hr_high');
  /** The audit log's alarm lines of the device: `event code`. */
  const alarmAudit = (): string[] =>
    readFileSync(join(paths.gatewayDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>)
      .filter((l) => l.event?.startsWith('alarm_') && l.dev === DEV)
      .map((l) => `${l.event} ${l.code} ${l.user ?? '-'}`);

  beforeAll(async () => {
    paths = await prepareDataDir(tmp.dir, [DEV]);
  });

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  it('behavior: an acknowledged alarm whose condition persists stays acknowledged after the restart, each transition audited once', async () => {
    let g = await start();
    // Heart rate compared reading by reading, without delay (a stored setting: it outlives the restart).
    g.alarms.updateSettings(
      DEV,
      { policies: { hr: { ...DEFAULT_POLICIES.hr, delaySeconds: 0 } } },
      'charge.lee',
    );
    feed(g, TACHY);
    await until(() => hrHigh(g) !== undefined, 3000, 'hr_high raised');
    const raised = hrHigh(g) as AlarmDto;
    expect(raised.state).toBe('active');
    const acked = await g.alarms.acknowledge(raised.id, 'nurse.kim', 'at the bedside');
    expect(acked).toMatchObject({ id: raised.id, state: 'acknowledged', ackBy: 'nurse.kim' });
    feed(g, TACHY);
    await g.stop();
    gw = null;

    g = await start();
    // Taken back at the start, before any reading: the same alarm, acknowledged.
    expect(hrHigh(g)).toMatchObject({
      id: raised.id,
      state: 'acknowledged',
      ackBy: 'nurse.kim',
      ackComment: 'at the bedside',
    });
    // The condition persists: readings and ticks leave it acknowledged, never raised anew.
    for (let i = 0; i < 3; i++) {
      feed(g, TACHY);
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(g.alarms.openAlarms(DEV).filter((a) => a.code === 'hr_high')).toEqual([
      expect.objectContaining({ id: raised.id, state: 'acknowledged', ackBy: 'nurse.kim' }),
    ]);
    await expect(g.alarms.acknowledge(raised.id, 'nurse.ana', null)).rejects.toMatchObject({
      code: 'alarm_not_active',
    });

    // The condition ends: the alarm clears, once.
    feed(g, CALM);
    await until(() => hrHigh(g) === undefined, 3000, 'hr_high cleared');
    await until(() => alarmAudit().some((l) => l.startsWith('alarm_cleared hr_high')), 3000, 'clear audited');
    expect(alarmAudit().filter((l) => l.includes(' hr_high '))).toEqual([
      'alarm_raised hr_high -',
      'alarm_acknowledged hr_high nurse.kim',
      'alarm_cleared hr_high -',
    ]);
    expect((await g.alarms.history(DEV)).filter((e) => e.code === 'hr_high').map((e) => e.event)).toEqual([
      'cleared',
      'acknowledged',
      'raised',
    ]);
    expect(new Set((await g.alarms.history(DEV)).map((e) => e.alarmId))).toContain(raised.id);
  });
});

describe("a lone gateway's own gateway-wide alarms across a restart", () => {
  it('behavior: one left open by a stop is ended at the next start, the clear recorded and audited once; the same condition then raises a new alarm', async () => {
    const tmp = makeTempDir('vt-lone-tech-');
    const store = openStore(join(tmp.dir, 'gateway.db'));
    const audits: AlarmAuditEvent[] = [];
    let storageOk = false;
    let clock = 1_000_000;
    const service = async () => {
      const s = new AlarmService({
        store,
        hub: new LiveHub(),
        now: () => clock,
        tickMs: 3_600_000, // ticks are driven by the test
        storageHealthy: () => storageOk,
        group: { ledger: new LocalAlarmLedger({ store, gatewayId: 'gw-1' }), gatewayId: 'gw-1' },
        audit: (e) => audits.push(e),
      });
      await s.join();
      return s;
    };
    const storage = (e: AlarmAuditEvent) => e.type === 'alarm' && e.code === 'storage_failing';
    try {
      const first = await service();
      first.tick();
      await until(() => audits.some(storage), 1000, 'the raise is decided');
      const old = first.openAlarms('gateway')[0]?.id;
      expect(old).toBeDefined();
      first.stop();

      clock += 60_000;
      storageOk = true;
      const second = await service();
      expect(second.openAlarms()).toEqual([]);
      expect(audits.filter(storage).map((e) => e.type === 'alarm' && [e.event, e.alarmId, e.dev])).toEqual([
        ['raised', old, 'gateway'],
        ['cleared', old, 'gateway'],
      ]);
      // Storage fails again: a new alarm of the same condition, audited once.
      storageOk = false;
      second.tick();
      await until(() => audits.filter(storage).length === 3, 1000, 'the new raise is decided');
      const fresh = second.openAlarms('gateway')[0]?.id;
      expect(fresh).toBeDefined();
      expect(fresh).not.toBe(old);
      expect((await second.history('gateway')).map((e) => [e.event, e.alarmId, e.dev])).toEqual([
        ['raised', fresh, 'gateway'],
        ['cleared', old, 'gateway'],
        ['raised', old, 'gateway'],
      ]);
      second.stop();
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});
