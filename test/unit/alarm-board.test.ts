/**
 * @module test/unit/alarm-board
 * The alarm board's alarm-fatigue rules (gateway/src/core/alarms/board.ts; issue 15):
 * technical alarms never escalate above their priority and never latch; only
 * physiological alarms raised at high priority latch; a new breach within the episode gap
 * re-opens the same alarm; the trigger value stays with the alarm; standby clears a
 * scope. And the pure helpers around it: history grouped by episode, the settings check,
 * revoked devices' conditions, the alarm-off list.
 */
import { describe, expect, it } from 'vitest';
import {
  AlarmBoard,
  type AlarmCondition,
  alarmsOff,
  checkAlarmSettings,
  DEFAULT_LIMITS,
  DEFAULT_TECHNICAL,
  deviceConditions,
  groupEpisodes,
} from '../../gateway/src/core/alarms/index.js';
import type { AlarmEventDto } from '../../gateway/src/core/live-contract.js';

const types = (ts: { type: string }[]) => ts.map((t) => t.type);
const cond = (
  code: string,
  kind: AlarmCondition['kind'],
  priority: AlarmCondition['priority'],
  value?: number,
) => ({ code, kind, priority, ...(value !== undefined ? { value } : {}) }) as AlarmCondition;

describe('AlarmBoard: technical alarms', () => {
  it('behavior: an unacknowledged technical alarm only re-notifies at its own priority, however long', () => {
    const b = new AlarmBoard({ escalateAfterMs: 1000 });
    b.evaluate('wr-1', [cond('device_offline', 'technical', 'medium')], 0);
    b.evaluate('gateway', [cond('anchoring_delayed', 'technical', 'low')], 0);
    const all = Array.from({ length: 100 }, (_, i) => b.tick((i + 1) * 1000)).flat();
    expect(new Set(types(all))).toEqual(new Set(['renotified']));
    expect(b.open().map((a) => `${a.code}:${a.priority}:${a.escalations}`)).toEqual([
      'device_offline:medium:100',
      'anchoring_delayed:low:100',
    ]);
  });

  it('behavior: a technical alarm never latches, even at high priority', () => {
    const b = new AlarmBoard();
    b.evaluate('gateway', [cond('storage_failing', 'technical', 'high')], 0);
    expect(types(b.evaluate('gateway', [], 1))).toEqual(['cleared']);
  });
});

describe('AlarmBoard: latching', () => {
  it('behavior: a physiological alarm raised high latches; one escalated to high does not', () => {
    const b = new AlarmBoard({ escalateAfterMs: 1000 });
    b.evaluate(
      'wr-1',
      [cond('spo2_low', 'physiological', 'high', 85), cond('hr_high', 'physiological', 'medium', 140)],
      0,
    );
    expect(types(b.tick(1000))).toEqual(['renotified', 'escalated']);
    expect(b.open().map((a) => a.priority)).toEqual(['high', 'high']);
    const ts = b.evaluate('wr-1', [], 2000);
    expect(ts.map((t) => `${t.type}:${t.alarm.code}`)).toEqual(['latched:spo2_low', 'cleared:hr_high']);
  });

  it('behavior: a condition that worsens to high (NEWS2 band) latches', () => {
    const b = new AlarmBoard();
    b.evaluate('wr-1', [cond('news2', 'physiological', 'low', 3)], 0);
    b.evaluate('wr-1', [cond('news2', 'physiological', 'high', 8)], 1);
    expect(types(b.evaluate('wr-1', [], 2))).toEqual(['latched']);
  });
});

describe('AlarmBoard: episodes and trigger values', () => {
  const gap = (_scope: string, code: string) => (code === 'hr_high' ? 120_000 : 0);

  it('behavior: a new breach within the gap re-opens the same alarm, to be acknowledged anew; after it, a new alarm', () => {
    const b = new AlarmBoard({ episodeGapMs: gap });
    const [raised] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0);
    const id = raised!.alarm.id;
    b.acknowledge(id, 'nurse.kim', 'walking', 5_000);
    expect(types(b.evaluate('wr-1', [], 10_000))).toEqual(['cleared']);
    const [again] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 135)], 130_000);
    expect(again).toMatchObject({
      type: 'reactivated',
      alarm: { id, state: 'active', raisedAt: 0, clearedAt: null, ackBy: null, triggerValue: 135 },
    });
    b.evaluate('wr-1', [], 140_000);
    b.tick(260_001); // the gap has passed: forgotten
    const [fresh] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 150)], 260_002);
    expect(fresh?.type).toBe('raised');
    expect(fresh?.alarm.id).not.toBe(id);
    // A code without a gap never re-opens.
    b.evaluate('wr-1', [cond('battery_low', 'technical', 'low', 15)], 0);
    b.evaluate('wr-1', [], 1);
    expect(types(b.evaluate('wr-1', [cond('battery_low', 'technical', 'low', 15)], 2))).toEqual(['raised']);
  });

  it('behavior: triggerValue is the value that raised the alarm, kept when latched; value is the latest', () => {
    const b = new AlarmBoard();
    const id = b.evaluate('wr-1', [cond('spo2_low', 'physiological', 'high', 88)], 0)[0]!.alarm.id;
    b.evaluate('wr-1', [cond('spo2_low', 'physiological', 'high', 81)], 1);
    const [latched] = b.evaluate('wr-1', [], 2);
    expect(latched?.alarm).toMatchObject({ id, latched: true, triggerValue: 88, value: 81 });
    expect(b.get(id)).toMatchObject({ triggerValue: 88, value: 81 });
    // No value, no trigger value.
    expect(
      b.evaluate('wr-2', [cond('device_offline', 'technical', 'medium')], 0)[0]!.alarm,
    ).not.toHaveProperty('triggerValue');
  });

  it('behavior: clearScope clears a scope at once, latched alarms included, and forgets its episodes', () => {
    const b = new AlarmBoard({ episodeGapMs: gap });
    b.evaluate(
      'wr-1',
      [cond('spo2_low', 'physiological', 'high', 85), cond('hr_high', 'physiological', 'medium', 140)],
      0,
    );
    b.evaluate('wr-2', [cond('hr_high', 'physiological', 'medium', 140)], 0);
    b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 1); // spo2_low latched
    expect(b.clearScope('wr-1', 2).map((t) => `${t.type}:${t.alarm.code}`)).toEqual([
      'cleared:spo2_low',
      'cleared:hr_high',
    ]);
    expect(b.open().map((a) => a.scope)).toEqual(['wr-2']);
    expect(types(b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 3))).toEqual([
      'raised',
    ]);
  });
});

describe('groupEpisodes', () => {
  const ev = (
    alarmId: string,
    event: string,
    at: number,
    more: Partial<AlarmEventDto> = {},
  ): AlarmEventDto => ({
    alarmId,
    dev: 'wr-1',
    code: alarmId === 'a1' ? 'hr_high' : 'spo2_low',
    kind: 'physiological',
    event,
    priority: 'medium',
    at,
    by: null,
    comment: null,
    ...more,
  });

  it('behavior: one row per alarm, newest first, with its ack, re-openings, escalations and highest priority', () => {
    // Newest first, as the history gives them; the ack and the clear at the same time.
    const history = [
      ev('a2', 'raised', 900, { priority: 'high' }),
      ev('a1', 'cleared', 700),
      ev('a1', 'escalated', 600, { priority: 'high' }),
      ev('a1', 'reactivated', 500),
      ev('a1', 'cleared', 300),
      ev('a1', 'acknowledged', 300, { by: 'nurse.kim', comment: 'walking' }),
      ev('a1', 'raised', 100),
    ];
    expect(groupEpisodes(history)).toEqual([
      {
        alarmId: 'a2',
        dev: 'wr-1',
        code: 'spo2_low',
        kind: 'physiological',
        priority: 'high',
        raisedAt: 900,
        clearedAt: null,
        ackBy: null,
        ackAt: null,
        ackComment: null,
        reactivations: 0,
        escalations: 0,
      },
      {
        alarmId: 'a1',
        dev: 'wr-1',
        code: 'hr_high',
        kind: 'physiological',
        priority: 'high',
        raisedAt: 100,
        clearedAt: 700,
        ackBy: 'nurse.kim',
        ackAt: 300,
        ackComment: 'walking',
        reactivations: 1,
        escalations: 1,
      },
    ]);
    // Re-opened after its last clear: open again.
    expect(groupEpisodes([ev('a1', 'reactivated', 800), ...history.slice(1)])[0]).toMatchObject({
      alarmId: 'a1',
      clearedAt: null,
    });
    expect(groupEpisodes([])).toEqual([]);
  });
});

describe('checkAlarmSettings', () => {
  it('behavior: limits within the physiological ranges with low < high, and integer policies within bounds, pass', () => {
    expect(checkAlarmSettings({})).toEqual({ ok: true });
    expect(
      checkAlarmSettings({
        limits: {
          hr: { low: 45, high: 140 },
          spo2: { low: null, high: null },
          temp: { low: 2500, high: 4500 },
        },
        policies: { spo2: { averageSeconds: 0, delaySeconds: 120, hysteresis: 50, episodeGapSeconds: 3600 } },
      }),
    ).toEqual({ ok: true });
  });

  it('error: low ≥ high, a limit out of range, a policy out of bounds or not an integer, unknown keys: limits_invalid', () => {
    const refused = (u: Parameters<typeof checkAlarmSettings>[0]) => {
      const v = checkAlarmSettings(u);
      return v.ok ? 'ok' : `${v.code} ${v.field}`;
    };
    expect(refused({ limits: { hr: { low: 130, high: 41 } } })).toBe('limits_invalid limits.hr');
    expect(refused({ limits: { hr: { low: 100, high: 100 } } })).toBe('limits_invalid limits.hr');
    expect(refused({ limits: { temp: { low: DEFAULT_LIMITS.temp.low, high: 1 } } })).toBe(
      'limits_invalid limits.temp.high',
    );
    expect(refused({ limits: { spo2: { low: 49, high: null } } })).toBe('limits_invalid limits.spo2.low');
    expect(refused({ limits: { hr: { low: Number.NaN, high: 130 } } })).toBe('limits_invalid limits.hr.low');
    expect(refused({ policies: { hr: { delaySeconds: 121 } } })).toBe(
      'limits_invalid policies.hr.delaySeconds',
    );
    expect(refused({ policies: { hr: { hysteresis: -1 } } })).toBe('limits_invalid policies.hr.hysteresis');
    expect(refused({ policies: { rr: { averageSeconds: 2.5 } } })).toBe(
      'limits_invalid policies.rr.averageSeconds',
    );
    const odd = JSON.parse('{"policies":{"hr":{"volume":1}},"limits":{}}');
    expect(refused(odd)).toBe('limits_invalid policies.hr.volume');
    expect(refused(JSON.parse('{"limits":{"ecg":{"low":1,"high":2}}}'))).toBe('limits_invalid limits.ecg');
  });
});

describe('conditions of a revoked device; the alarm-off list', () => {
  it('behavior: a revoked device has one condition, device_revoked (medium), not device_offline', () => {
    const now = 100_000;
    const input = {
      values: { spo2: 80 },
      seenAt: { spo2: now - 60_000 },
      lastFrameAt: now - 60_000,
      bat: 5,
      badSignatures: [],
      news2Band: null,
      news2Score: null,
    };
    expect(deviceConditions(input, DEFAULT_LIMITS, DEFAULT_TECHNICAL, now).map((c) => c.code)).toEqual([
      'device_offline',
    ]);
    expect(deviceConditions({ ...input, revoked: true }, DEFAULT_LIMITS, DEFAULT_TECHNICAL, now)).toEqual([
      { code: 'device_revoked', kind: 'technical', priority: 'medium' },
    ]);
  });

  it('behavior: alarmsOff lists the vitals with a default limit switched off', () => {
    expect(alarmsOff(DEFAULT_LIMITS)).toEqual([]);
    expect(
      alarmsOff({
        ...DEFAULT_LIMITS,
        spo2: { low: null, high: null },
        hr: { low: 41, high: null },
        dbp: { low: 30, high: 110 },
      }),
    ).toEqual(['hr', 'spo2']);
  });
});

describe('AlarmBoard: a scope is evaluated on its own alarms', () => {
  /**
   * Counts the entries every Map iterator hands out while `fn` runs (the board keeps its
   * alarms in Maps): the work of one evaluation, measured without a clock.
   */
  function mapEntriesWalked(fn: () => void): number {
    const proto = Map.prototype as unknown as Record<symbol, () => Iterator<unknown>>;
    const original = proto[Symbol.iterator] as () => Iterator<unknown>;
    let walked = 0;
    proto[Symbol.iterator] = function (this: Map<unknown, unknown>) {
      const it = original.call(this);
      return {
        next: () => {
          const r = it.next();
          if (!r.done) walked++;
          return r;
        },
        [Symbol.iterator]() {
          return this;
        },
      } as Iterator<unknown>;
    };
    try {
      fn();
    } finally {
      proto[Symbol.iterator] = original;
    }
    return walked;
  }

  it('behavior: a reading of one bed does not walk the ward: work independent of the other beds’ open alarms', () => {
    // A ward of 2,000 beds, each with an open alarm (e.g. after a shift change, every
    // wearable off its patient): one bed's next reading, which clears its own, walks its own.
    const b = new AlarmBoard();
    for (let i = 0; i < 2000; i++) b.evaluate(`wr-${i}`, [cond('device_offline', 'technical', 'medium')], 0);
    expect(b.open()).toHaveLength(2000);
    let out: { type: string; alarm: { scope: string } }[] = [];
    const walked = mapEntriesWalked(() => {
      out = b.evaluate('wr-7', [], 1000);
    });
    expect(out.map((t) => `${t.type}:${t.alarm.scope}`)).toEqual(['cleared:wr-7']);
    expect(walked).toBeLessThan(10);
    // The others are untouched; standby of one bed clears that bed alone.
    expect(b.open()).toHaveLength(1999);
    expect(b.clearScope('wr-8', 2000).map((t) => t.alarm.scope)).toEqual(['wr-8']);
    expect(b.open()).toHaveLength(1998);
  });

  it('behavior: a scope’s alarms end in the order they were raised, whichever scopes came between', () => {
    const b = new AlarmBoard();
    b.evaluate('wr-1', [cond('spo2_low', 'physiological', 'medium', 88)], 0);
    b.evaluate('wr-2', [cond('device_offline', 'technical', 'medium')], 0);
    b.evaluate(
      'wr-1',
      [cond('spo2_low', 'physiological', 'medium', 88), cond('battery_low', 'technical', 'low')],
      1,
    );
    b.evaluate('wr-2', [], 2);
    expect(b.evaluate('wr-1', [], 3).map((t) => `${t.type}:${t.alarm.code}`)).toEqual([
      'cleared:spo2_low',
      'cleared:battery_low',
    ]);
    expect(b.open()).toEqual([]);
  });
});
