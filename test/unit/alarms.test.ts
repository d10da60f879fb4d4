/**
 * @module test/unit/alarms
 * The IEC 60601-1-8 alarm state machine (gateway/src/core/alarms/): raise, acknowledge
 * by a named user, clear, latching of high priority, re-activation when worse, escalation
 * of unacknowledged alarms; and the condition rules (limits, NEWS2 bands, technical).
 */
import { describe, expect, it } from 'vitest';
import {
  AlarmBoard,
  type AlarmCondition,
  AlarmError,
  DEFAULT_LIMITS,
  DEFAULT_TECHNICAL,
  type DeviceAlarmInput,
  deviceConditions,
  gatewayConditions,
  highestPriority,
} from '../../gateway/src/core/alarms/index.js';

const hrHigh: AlarmCondition = {
  code: 'hr_high',
  kind: 'physiological',
  priority: 'medium',
  value: 140,
  limit: 130,
};
const spo2Low: AlarmCondition = {
  code: 'spo2_low',
  kind: 'physiological',
  priority: 'high',
  value: 85,
  limit: 92,
};
const types = (ts: { type: string }[]) => ts.map((t) => t.type);

describe('AlarmBoard state machine', () => {
  it('behavior: raise → acknowledge (named user, comment) → cleared when the condition ends', () => {
    const b = new AlarmBoard();
    const [raised] = b.evaluate('wr-1', [hrHigh], 1000);
    expect(raised).toMatchObject({
      type: 'raised',
      alarm: { state: 'active', priority: 'medium', scope: 'wr-1', code: 'hr_high' },
    });
    // The same condition again changes nothing.
    expect(b.evaluate('wr-1', [hrHigh], 2000)).toEqual([]);
    const id = raised!.alarm.id;
    const ack = b.acknowledge(id, 'nurse.kim', 'patient walking', 3000);
    expect(ack).toHaveLength(1);
    expect(ack[0]).toMatchObject({
      type: 'acknowledged',
      by: 'nurse.kim',
      alarm: { state: 'acknowledged', ackBy: 'nurse.kim', ackAt: 3000, ackComment: 'patient walking' },
    });
    expect(b.open()[0]?.state).toBe('acknowledged'); // still shown until the condition ends
    const [cleared] = b.evaluate('wr-1', [], 4000);
    expect(cleared).toMatchObject({
      type: 'cleared',
      alarm: { state: 'cleared', clearedAt: 4000, ackBy: 'nurse.kim' },
    });
    expect(b.open()).toEqual([]);
  });

  it('behavior: a non-latching (medium) alarm clears by itself when its condition ends', () => {
    const b = new AlarmBoard();
    b.evaluate('wr-1', [hrHigh], 0);
    expect(types(b.evaluate('wr-1', [], 1))).toEqual(['cleared']);
  });

  it('behavior: a high-priority alarm latches until acknowledged; the ack then clears it', () => {
    const b = new AlarmBoard();
    const id = b.evaluate('wr-1', [spo2Low], 0)[0]!.alarm.id;
    const [latched] = b.evaluate('wr-1', [], 1000);
    expect(latched).toMatchObject({ type: 'latched', alarm: { state: 'active', latched: true } });
    expect(b.evaluate('wr-1', [], 2000)).toEqual([]); // stays latched, no repeat
    expect(b.open()).toHaveLength(1);
    expect(types(b.acknowledge(id, 'nurse.kim', null, 3000))).toEqual(['acknowledged', 'cleared']);
    expect(b.open()).toEqual([]);
  });

  it('behavior: a latched alarm whose condition returns is active (unlatched) again, same id', () => {
    const b = new AlarmBoard();
    const id = b.evaluate('wr-1', [spo2Low], 0)[0]!.alarm.id;
    b.evaluate('wr-1', [], 1);
    expect(b.evaluate('wr-1', [spo2Low], 2)).toEqual([]);
    expect(b.get(id)).toMatchObject({ latched: false, state: 'active' });
  });

  it('behavior: scopes are independent; one alarm per code and scope', () => {
    const b = new AlarmBoard();
    b.evaluate('wr-1', [hrHigh, hrHigh], 0);
    b.evaluate('wr-2', [hrHigh], 0);
    expect(b.open().map((a) => a.scope)).toEqual(['wr-1', 'wr-2']);
    expect(types(b.evaluate('wr-2', [], 1))).toEqual(['cleared']);
    expect(b.open().map((a) => a.scope)).toEqual(['wr-1']);
  });

  it('behavior: a worse condition escalates; after an ack it re-activates the alarm', () => {
    const b = new AlarmBoard();
    const news2 = (priority: 'low' | 'medium' | 'high'): AlarmCondition => ({
      code: 'news2',
      kind: 'physiological',
      priority,
    });
    const id = b.evaluate('wr-1', [news2('low')], 0)[0]!.alarm.id;
    expect(b.evaluate('wr-1', [news2('medium')], 1)).toMatchObject([
      { type: 'escalated', alarm: { id, priority: 'medium' } },
    ]);
    b.acknowledge(id, 'nurse.kim', null, 2);
    expect(b.evaluate('wr-1', [news2('medium')], 3)).toEqual([]); // same band: stays acknowledged
    expect(b.evaluate('wr-1', [news2('high')], 4)).toMatchObject([
      { type: 'reactivated', alarm: { id, priority: 'high', state: 'active' } },
    ]);
    // A better band does not lower an open alarm.
    expect(b.evaluate('wr-1', [news2('medium')], 5)).toEqual([]);
    expect(b.get(id)?.priority).toBe('high');
  });

  it('behavior: unacknowledged physiological alarms escalate one step per interval, then re-notify at high', () => {
    const b = new AlarmBoard({ escalateAfterMs: 1000 });
    const low: AlarmCondition = { code: 'temp_high', kind: 'physiological', priority: 'low', value: 3920 };
    b.evaluate('wr-1', [low], 0);
    expect(b.tick(999)).toEqual([]);
    expect(b.tick(1000)).toMatchObject([
      { type: 'escalated', alarm: { priority: 'medium', basePriority: 'low', escalations: 1 } },
    ]);
    expect(b.tick(1500)).toEqual([]);
    expect(b.tick(2000)).toMatchObject([{ type: 'escalated', alarm: { priority: 'high', escalations: 2 } }]);
    expect(b.tick(3000)).toMatchObject([{ type: 'renotified', alarm: { priority: 'high', escalations: 3 } }]);
    // Raised at low priority, it does not latch once escalated (only alarms raised high latch).
    expect(types(b.evaluate('wr-1', [], 3100))).toEqual(['cleared']);
  });

  it('behavior: acknowledged alarms never escalate', () => {
    const b = new AlarmBoard({ escalateAfterMs: 1000 });
    const id = b.evaluate('wr-1', [hrHigh], 0)[0]!.alarm.id;
    b.acknowledge(id, 'nurse.kim', null, 10);
    expect(b.tick(10_000)).toEqual([]);
  });

  it('error: acknowledging twice or an unknown id is a coded AlarmError', () => {
    const b = new AlarmBoard();
    const id = b.evaluate('wr-1', [hrHigh], 0)[0]!.alarm.id;
    b.acknowledge(id, 'nurse.kim', null, 1);
    expect(() => b.acknowledge(id, 'nurse.lee', null, 2)).toThrow(
      expect.objectContaining({ code: 'alarm_not_active' }),
    );
    expect(() => b.acknowledge('nope', 'nurse.lee', null, 2)).toThrow(AlarmError);
    expect(() => new AlarmBoard({ escalateAfterMs: 0 })).toThrow(RangeError);
  });

  it('behavior: highestPriority orders high > medium > low', () => {
    expect(highestPriority(['low', 'high', 'medium'])).toBe('high');
    expect(highestPriority(['low', 'medium'])).toBe('medium');
    expect(highestPriority([])).toBeNull();
  });
});

describe('alarm conditions', () => {
  const now = 100_000;
  const base: DeviceAlarmInput = {
    values: { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 },
    seenAt: { hr: now, spo2: now, rr: now, temp: now, sbp: now, dbp: now },
    lastFrameAt: now,
    bat: 80,
    badSignatures: [],
    news2Band: 'zero',
    news2Score: 0,
  };
  const codes = (d: Partial<DeviceAlarmInput>, at = now) =>
    deviceConditions({ ...base, ...d }, DEFAULT_LIMITS, DEFAULT_TECHNICAL, at).map(
      (c) => `${c.code}:${c.priority}`,
    );

  it('behavior: a normal patient has no condition', () => {
    expect(codes({})).toEqual([]);
  });

  it('behavior: limits are exclusive edges with per-vital priorities', () => {
    expect(codes({ values: { ...base.values, spo2: 92 } })).toEqual([]);
    expect(codes({ values: { ...base.values, spo2: 91 } })).toEqual(['spo2_low:high']);
    expect(codes({ values: { ...base.values, hr: 130 } })).toEqual([]);
    expect(codes({ values: { ...base.values, hr: 131 } })).toEqual(['hr_high:medium']);
    expect(codes({ values: { ...base.values, sbp: 90 } })).toEqual(['sbp_low:high']);
    expect(codes({ values: { ...base.values, temp: 3901 } })).toEqual(['temp_high:low']);
    const custom = { ...DEFAULT_LIMITS, hr: { low: 41, high: 150 } };
    expect(
      deviceConditions({ ...base, values: { ...base.values, hr: 140 } }, custom, DEFAULT_TECHNICAL, now),
    ).toEqual([]);
  });

  it('behavior: NEWS2 bands map to priorities: high→high, medium→medium, single 3→low, low/zero→none', () => {
    expect(codes({ news2Band: 'high', news2Score: 8 })).toEqual(['news2:high']);
    expect(codes({ news2Band: 'medium', news2Score: 5 })).toEqual(['news2:medium']);
    expect(codes({ news2Band: 'low_medium', news2Score: 3 })).toEqual(['news2:low']);
    expect(codes({ news2Band: 'low', news2Score: 4 })).toEqual([]);
  });

  it('behavior: technical: offline after N s, signal loss per vital, battery low/critical, signature failures', () => {
    // A silent device is neither signal loss (15 s) nor offline until 30 s have passed.
    expect(codes({}, now + 30_000)).toEqual([]);
    expect(codes({}, now + 30_001)).toEqual(['device_offline:medium']);
    expect(codes({ lastFrameAt: now + 30_000 }, now + 30_000 + 30_001)).toContain('device_offline:medium');
    // Offline suppresses the per-vital signal loss and the stale limits.
    expect(codes({ values: { ...base.values, spo2: 80 } }, now + 40_000)).toEqual(['device_offline:medium']);
    // SpO2 probe off while the device keeps sending the others.
    const seen = {
      ...base.seenAt,
      hr: now + 20_000,
      rr: now + 20_000,
      temp: now + 20_000,
      sbp: now + 20_000,
      dbp: now + 20_000,
    };
    expect(codes({ seenAt: seen, lastFrameAt: now + 20_000 }, now + 20_000)).toEqual([
      'signal_loss_spo2:medium',
    ]);
    expect(codes({ bat: 19 })).toEqual(['battery_low:low']);
    expect(codes({ bat: 9 })).toEqual(['battery_low:medium']);
    expect(codes({ badSignatures: [now - 1000, now - 500] })).toEqual([]);
    expect(codes({ badSignatures: [now - 70_000, now - 1000, now - 500, now] })).toEqual([
      'signature_failures:high',
    ]);
    // A device never heard since start is not "offline".
    expect(codes({ lastFrameAt: null, values: {}, seenAt: {} }, now + 1e6)).toEqual([]);
  });

  it('behavior: gateway conditions: storage failing (high), anchoring delayed (low)', () => {
    expect(gatewayConditions({ storageHealthy: true, oldestPendingAgeMs: null }, DEFAULT_TECHNICAL)).toEqual(
      [],
    );
    expect(
      gatewayConditions({ storageHealthy: false, oldestPendingAgeMs: 11 * 60_000 }, DEFAULT_TECHNICAL).map(
        (c) => `${c.code}:${c.priority}`,
      ),
    ).toEqual(['storage_failing:high', 'anchoring_delayed:low']);
  });
});
