/**
 * @module test/unit/alarm-board-shared
 * The alarm board's part in a gateway group (gateway/src/core/alarms/board.ts, issue 16
 * "alarms decided once"): `applyShared` makes the board's view of an alarm the group's. An
 * open alarm of the same scope and code takes the group's id and state (a transition only
 * when something changed; the vital values stay the board's own); an alarm the board does not
 * hold is added as foreign, which `evaluate` leaves alone for `foreignGraceMs` unless the
 * board sees its condition itself (then it is the board's own); a locally observed condition
 * (`signature_failures`) taken from the group is never ended here; a shared `cleared` ends the
 * local alarm of that id only, its episode kept; only acknowledgements carry a user (`by`).
 */
import { describe, expect, it } from 'vitest';
import {
  AlarmBoard,
  type AlarmCondition,
  LOCALLY_OBSERVED,
  type SharedAlarm,
} from '../../gateway/src/core/alarms/index.js';

const types = (ts: { type: string }[]) => ts.map((t) => t.type);
const cond = (
  code: string,
  kind: AlarmCondition['kind'],
  priority: AlarmCondition['priority'],
  value?: number,
): AlarmCondition => ({ code, kind, priority, ...(value !== undefined ? { value, limit: 130 } : {}) });

/** The group's copy of an alarm (no vital values), active and unacknowledged unless told. */
const shared = (more: Partial<SharedAlarm> = {}): SharedAlarm => ({
  id: 'g-1',
  scope: 'wr-1',
  code: 'hr_high',
  kind: 'physiological',
  priority: 'medium',
  basePriority: 'medium',
  state: 'active',
  latched: false,
  raisedAt: -500,
  updatedAt: -500,
  ackBy: null,
  ackAt: null,
  ackComment: null,
  clearedAt: null,
  escalations: 0,
  notifiedAt: -500,
  ...more,
});

describe('AlarmBoard.applyShared: an open alarm of the same scope and code', () => {
  it('behavior: takes the group id and state, keeps its own values, and reports only a change', () => {
    const b = new AlarmBoard();
    const [raised] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0);
    const local = raised!.alarm.id;
    const t = b.applyShared(shared(), 'raised', 10);
    expect(t).toMatchObject({
      type: 'raised',
      at: 10,
      alarm: { id: 'g-1', scope: 'wr-1', raisedAt: -500, value: 140, triggerValue: 140, limit: 130 },
    });
    expect(t).not.toHaveProperty('by');
    expect(b.get(local)).toBeUndefined();
    expect(b.open().map((a) => a.id)).toEqual(['g-1']);
    // The same copy again changes nothing: no transition to show.
    expect(b.applyShared(shared(), 'raised', 20)).toBeNull();
    // Still the board's own alarm: its condition seen here, it clears at once when it goes.
    b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 150)], 30);
    expect(b.get('g-1')).toMatchObject({ value: 150, triggerValue: 140 });
    expect(b.evaluate('wr-1', [], 40).map((x) => `${x.type}:${x.alarm.id}`)).toEqual(['cleared:g-1']);
  });

  it('behavior: an acknowledgement decided on another gateway shows acknowledged, by its user', () => {
    const b = new AlarmBoard();
    b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0);
    b.applyShared(shared(), 'raised', 1);
    const acked = shared({
      state: 'acknowledged',
      ackBy: 'nurse.kim',
      ackAt: 5,
      ackComment: 'walking',
      updatedAt: 5,
    });
    const t = b.applyShared(acked, 'acknowledged', 6);
    expect(t).toMatchObject({
      type: 'acknowledged',
      by: 'nurse.kim',
      alarm: { id: 'g-1', state: 'acknowledged', ackBy: 'nurse.kim', ackComment: 'walking', value: 140 },
    });
    expect(b.applyShared(acked, 'acknowledged', 7)).toBeNull();
    // Acknowledged here already: a second acknowledgement on this board is refused.
    expect(() => b.acknowledge('g-1', 'nurse.lee', null, 8)).toThrow(
      expect.objectContaining({ code: 'alarm_not_active' }),
    );
  });

  it('behavior: an escalation decided elsewhere is shown without a user', () => {
    const b = new AlarmBoard();
    b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0);
    b.applyShared(shared(), 'raised', 1);
    const t = b.applyShared(
      shared({ priority: 'high', escalations: 1, notifiedAt: 120_000, updatedAt: 120_000 }),
      'escalated',
      120_001,
    );
    expect(t).toMatchObject({ type: 'escalated', alarm: { id: 'g-1', priority: 'high', escalations: 1 } });
    expect(t).not.toHaveProperty('by');
    // Even a transition of type `acknowledged` carries no user when the group names none.
    const noUser = b.applyShared(shared({ state: 'acknowledged', priority: 'high' }), 'acknowledged', 2);
    expect(noUser).not.toBeNull();
    expect(noUser).not.toHaveProperty('by');
  });

  it('behavior: only an acknowledgement carries the user: an acknowledged alarm taken as raised or escalated does not', () => {
    const b = new AlarmBoard();
    const acked = { state: 'acknowledged' as const, ackBy: 'nurse.kim', ackAt: 5, ackComment: null };
    const raised = b.applyShared(shared({ id: 'g-2', code: 'rr_high', ...acked }), 'raised', 6);
    expect(raised).toMatchObject({ type: 'raised', alarm: { state: 'acknowledged', ackBy: 'nurse.kim' } });
    expect(raised).not.toHaveProperty('by');
    const escalated = b.applyShared(
      shared({ id: 'g-2', code: 'rr_high', ...acked, priority: 'high', escalations: 1 }),
      'escalated',
      7,
    );
    expect(escalated).toMatchObject({ type: 'escalated', alarm: { priority: 'high', ackBy: 'nurse.kim' } });
    expect(escalated).not.toHaveProperty('by');
    const cleared = b.applyShared(
      shared({ id: 'g-2', code: 'rr_high', ...acked, state: 'cleared', clearedAt: 8 }),
      'cleared',
      8,
    );
    expect(cleared).toMatchObject({ type: 'cleared', alarm: { id: 'g-2', ackBy: 'nurse.kim' } });
    expect(cleared).not.toHaveProperty('by');
  });
});

describe('AlarmBoard.applyShared: an alarm this board does not hold (foreign)', () => {
  it("behavior: a lone gateway's own ledger (ownLedger): a locally observed alarm taken back at a start ends after the grace", () => {
    // A break-glass opening that ended while the gateway was down: nothing raises it again.
    for (const ownLedger of [true, false]) {
      const b = new AlarmBoard({ foreignGraceMs: 1000, ownLedger });
      b.applyShared(
        shared({
          id: 'g-bg',
          code: 'break_glass_access',
          kind: 'technical',
          priority: 'low',
          basePriority: 'low',
        }),
        'raised',
        0,
      );
      expect(b.evaluate('wr-1', [], 999)).toEqual([]);
      expect(types(b.evaluate('wr-1', [], 1000))).toEqual(ownLedger ? ['cleared'] : []);
    }
  });

  it('behavior: is added; evaluate without its condition keeps it until foreignGraceMs, then clears it', () => {
    const b = new AlarmBoard({ foreignGraceMs: 1000 });
    const t = b.applyShared(shared(), 'raised', 0);
    expect(t).toMatchObject({ type: 'raised', at: 0, alarm: { id: 'g-1', state: 'active' } });
    expect(t!.alarm).not.toHaveProperty('value');
    expect(t!.alarm).not.toHaveProperty('triggerValue');
    expect(b.evaluate('wr-1', [], 500)).toEqual([]);
    expect(b.evaluate('wr-1', [], 999)).toEqual([]);
    expect(b.tick(999)).toEqual([]);
    expect(b.open().map((a) => a.id)).toEqual(['g-1']);
    expect(b.evaluate('wr-1', [], 1000).map((x) => `${x.type}:${x.alarm.id}`)).toEqual(['cleared:g-1']);
    expect(b.open()).toEqual([]);
  });

  it('behavior: the default grace is 180 s', () => {
    const b = new AlarmBoard();
    b.applyShared(shared(), 'raised', 0);
    expect(b.evaluate('wr-1', [], 179_999)).toEqual([]);
    expect(types(b.evaluate('wr-1', [], 180_000))).toEqual(['cleared']);
  });

  it('behavior: after the grace the normal rules apply: a high physiological alarm latches, unless acknowledged', () => {
    const b = new AlarmBoard({ foreignGraceMs: 1000 });
    b.applyShared(
      shared({ id: 'g-spo2', code: 'spo2_low', priority: 'high', basePriority: 'high' }),
      'raised',
      0,
    );
    b.applyShared(
      shared({
        id: 'g-rr',
        code: 'rr_high',
        priority: 'high',
        basePriority: 'high',
        state: 'acknowledged',
        ackBy: 'nurse.kim',
        ackAt: 0,
      }),
      'raised',
      0,
    );
    b.applyShared(
      shared({
        id: 'g-off',
        code: 'device_offline',
        kind: 'technical',
        priority: 'high',
        basePriority: 'high',
      }),
      'raised',
      0,
    );
    expect(b.evaluate('wr-1', [], 999)).toEqual([]);
    expect(b.evaluate('wr-1', [], 1000).map((x) => `${x.type}:${x.alarm.id}`)).toEqual([
      'latched:g-spo2',
      'cleared:g-rr',
      'cleared:g-off',
    ]);
    expect(b.open().map((a) => `${a.id}:${a.latched}`)).toEqual(['g-spo2:true']);
    // Latched here like any alarm: the acknowledgement ends it.
    expect(types(b.acknowledge('g-spo2', 'nurse.kim', null, 1001))).toEqual(['acknowledged', 'cleared']);
  });

  it('behavior: another scope evaluated does not end it, even after the grace', () => {
    const b = new AlarmBoard({ foreignGraceMs: 1000 });
    b.applyShared(shared(), 'raised', 0);
    expect(b.evaluate('wr-2', [], 5000)).toEqual([]);
    expect(b.open().map((a) => a.id)).toEqual(['g-1']);
  });

  it('behavior: once this board sees its condition the alarm is its own: it clears as soon as the condition goes', () => {
    const b = new AlarmBoard(); // default grace: 180 s
    b.applyShared(shared(), 'raised', 0);
    expect(b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 142)], 10)).toEqual([]);
    expect(b.get('g-1')).toMatchObject({ value: 142, state: 'active' });
    expect(b.evaluate('wr-1', [], 20).map((x) => `${x.type}:${x.alarm.id}`)).toEqual(['cleared:g-1']);
  });

  it('behavior: a worse condition seen here escalates the foreign alarm, as its own', () => {
    const b = new AlarmBoard();
    b.applyShared(shared(), 'raised', 0);
    const [t] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'high', 190)], 10);
    expect(t).toMatchObject({ type: 'escalated', alarm: { id: 'g-1', priority: 'high' } });
  });

  it('behavior: a signature_failures alarm taken from the group is never ended by this board', () => {
    expect(LOCALLY_OBSERVED.has('signature_failures')).toBe(true);
    const b = new AlarmBoard({ foreignGraceMs: 1000 });
    b.applyShared(
      shared({
        id: 'g-sig',
        code: 'signature_failures',
        kind: 'technical',
        priority: 'high',
        basePriority: 'high',
      }),
      'raised',
      0,
    );
    for (const now of [1000, 60_000, 86_400_000, 30 * 86_400_000]) {
      expect(b.evaluate('wr-1', [], now)).toEqual([]);
      b.tick(now);
    }
    expect(b.open().map((a) => a.id)).toEqual(['g-sig']);
    // The gateway that observes it ends it; the group's clear ends it here.
    const t = b.applyShared(
      shared({ id: 'g-sig', code: 'signature_failures', kind: 'technical', state: 'cleared', clearedAt: 5 }),
      'cleared',
      31 * 86_400_000,
    );
    expect(t).toMatchObject({ type: 'cleared', alarm: { id: 'g-sig', state: 'cleared' } });
    expect(b.open()).toEqual([]);
  });

  it('behavior: a group alarm that re-opens one this board cleared keeps that alarm own values', () => {
    const b = new AlarmBoard({ episodeGapMs: () => 120_000 });
    const id = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0)[0]!.alarm.id;
    b.evaluate('wr-1', [], 10);
    const t = b.applyShared(shared({ id, state: 'active', raisedAt: 0 }), 'reactivated', 20);
    expect(t).toMatchObject({ type: 'reactivated', alarm: { id, state: 'active', triggerValue: 140 } });
    expect(b.open().map((a) => a.id)).toEqual([id]);
  });
});

describe('AlarmBoard.applyShared: a clear decided by the group', () => {
  const gap = (_scope: string, code: string) => (code === 'hr_high' ? 120_000 : 0);

  it('behavior: ends the local alarm of the same id only', () => {
    const b = new AlarmBoard({ episodeGapMs: gap });
    const id = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0)[0]!.alarm.id;
    // Another alarm of the same condition (an older episode, another id): not this one.
    expect(b.applyShared(shared({ id: 'other', state: 'cleared', clearedAt: 5 }), 'cleared', 5)).toBeNull();
    expect(b.open().map((a) => a.id)).toEqual([id]);
    // An alarm this board does not hold at all.
    expect(
      b.applyShared(shared({ id: 'g-9', code: 'rr_low', state: 'cleared', clearedAt: 5 }), 'cleared', 5),
    ).toBeNull();
    const t = b.applyShared(shared({ id, state: 'cleared', clearedAt: 6 }), 'cleared', 6);
    expect(t).toMatchObject({ type: 'cleared', at: 6, alarm: { id, state: 'cleared', clearedAt: 6 } });
    expect(t).not.toHaveProperty('by');
    expect(b.open()).toEqual([]);
    expect(b.applyShared(shared({ id, state: 'cleared', clearedAt: 6 }), 'cleared', 7)).toBeNull();
  });

  it('behavior: the episode is kept: a new breach within the gap re-opens it (reactivated), after it a new alarm', () => {
    const b = new AlarmBoard({ episodeGapMs: gap });
    b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 140)], 0);
    b.applyShared(shared(), 'raised', 1); // adopted: the group's id
    b.applyShared(shared({ state: 'cleared', clearedAt: 10 }), 'cleared', 10);
    const [again] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 136)], 60_000);
    expect(again).toMatchObject({
      type: 'reactivated',
      alarm: { id: 'g-1', state: 'active', triggerValue: 136 },
    });
    b.applyShared(shared({ state: 'cleared', clearedAt: 70_000 }), 'cleared', 70_000);
    b.tick(190_001); // the gap has passed: forgotten
    const [fresh] = b.evaluate('wr-1', [cond('hr_high', 'physiological', 'medium', 150)], 190_002);
    expect(fresh?.type).toBe('raised');
    expect(fresh?.alarm.id).not.toBe('g-1');
  });

  it('behavior: a latched alarm is ended by the group clear (acknowledged elsewhere)', () => {
    const b = new AlarmBoard();
    const id = b.evaluate('wr-1', [cond('spo2_low', 'physiological', 'high', 84)], 0)[0]!.alarm.id;
    expect(types(b.evaluate('wr-1', [], 1))).toEqual(['latched']);
    const t = b.applyShared(
      shared({
        id,
        code: 'spo2_low',
        priority: 'high',
        basePriority: 'high',
        state: 'cleared',
        clearedAt: 2,
      }),
      'cleared',
      2,
    );
    expect(t).toMatchObject({ type: 'cleared', alarm: { id, latched: false, state: 'cleared' } });
    expect(b.open()).toEqual([]);
  });
});
