/**
 * @module test/unit/break-glass
 * The pure rules of break-glass access (issue 18): the reason (core/break-glass), held to the
 * access log's leaf rule (anchor/src/verify-access), so an opening never holds a reason the
 * access log would refuse; the configured roles; when an opening is in force; and the central
 * station's `break_glass_access` condition (core/alarms `breakGlassConditions`) through the
 * alarm board to the ward page's text.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { accessEntryProblem, MAX_BREAK_GLASS_REASON } from '../../anchor/src/verify-access/index.js';
import { AlarmBoard, breakGlassConditions, LOCALLY_OBSERVED } from '../../gateway/src/core/alarms/index.js';
import {
  BREAK_GLASS_REASON_MAX,
  breakGlassReason,
  careRolesOf,
  inForceAt,
} from '../../gateway/src/core/break-glass.js';

/** The ward page's alarm text (dashboards/ward/alarm-text.js, browser JavaScript run in Node). */
let alarmText: (a: { code: string; priority: string; detail?: string }) => string;
beforeAll(async () => {
  const url = pathToFileURL(join(import.meta.dirname, '../../dashboards/ward/alarm-text.js')).href;
  ({ alarmText } = await import(url));
});

const entryWith = (reason: string) => ({
  v: 1,
  at: 1,
  gateway: 'gw-1',
  actor: `0x${'d0'.repeat(32)}`,
  role: 'doctor',
  patient: `0x${'a1'.repeat(32)}`,
  dev: null,
  action: 'readings',
  dataFrom: 0,
  dataUntil: 1,
  basis: { type: 'break_glass', reason },
});

describe('break-glass reason', () => {
  it('behavior: trimmed; absent, not text or blank is break_glass_reason_required', () => {
    expect(breakGlassReason('  arrest in bed 4, no consent reachable ')).toEqual({
      ok: true,
      reason: 'arrest in bed 4, no consent reachable',
    });
    for (const raw of [undefined, null, 42, '', '   ', '\t '])
      expect(breakGlassReason(raw)).toEqual({ ok: false, code: 'break_glass_reason_required' });
  });

  it('error: over 500 code points, a line break, a control character or a lone surrogate is break_glass_reason_invalid', () => {
    expect(breakGlassReason('😀'.repeat(500))).toEqual({ ok: true, reason: '😀'.repeat(500) }); // 1000 UTF-16 units
    for (const raw of ['x'.repeat(501), 'line one\nline two', 'bell\u0007', 'del\u007f', 'half \ud800 pair'])
      expect(breakGlassReason(raw)).toEqual({ ok: false, code: 'break_glass_reason_invalid' });
  });

  it('property: a reason accepted here is one the access log accepts, and one it refuses is refused here', () => {
    expect(BREAK_GLASS_REASON_MAX).toBe(MAX_BREAK_GLASS_REASON);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 520 }), (raw) => {
        const r = breakGlassReason(raw);
        if (r.ok) expect(accessEntryProblem(entryWith(r.reason))).toBeUndefined();
        else if (raw.trim() === raw && raw !== '') expect(accessEntryProblem(entryWith(raw))).toBeDefined();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('break-glass roles and time', () => {
  it('behavior: the configured roles; anything else is refused', () => {
    expect(careRolesOf('doctor')).toEqual(['doctor']);
    expect(careRolesOf('doctor,patient')).toEqual(['doctor', 'patient']);
    expect(careRolesOf('none')).toEqual([]);
    expect(() => careRolesOf('nurse')).toThrow(RangeError);
  });

  it('behavior: in force from `at` (inclusive) to `until` (exclusive)', () => {
    const o = { at: 1000, until: 2000 };
    expect([999, 1000, 1999, 2000].map((t) => inForceAt(o, t))).toEqual([false, true, true, false]);
  });
});

describe('break_glass_access on the central station', () => {
  const open = (username: string, reason: string, until: number, scopes: string[]) => ({
    username,
    reason,
    until,
    scopes,
  });

  it('behavior: one low technical condition per scope, naming who and why, until the opening ends', () => {
    const m = breakGlassConditions(
      [open('dr-a', 'arrest', 2000, ['wr-1', 'wr-2']), open('dr-b', 'sepsis', 3000, ['wr-1'])],
      1000,
    );
    expect([...m.keys()].sort()).toEqual(['wr-1', 'wr-2']);
    expect(m.get('wr-1')).toEqual([
      {
        code: 'break_glass_access',
        kind: 'technical',
        priority: 'low',
        detail: 'dr-a: arrest; dr-b: sepsis',
      },
    ]);
    expect(m.get('wr-2')?.[0]?.detail).toBe('dr-a: arrest');
    // At dr-a's end only dr-b's remains; after both, nothing.
    expect(breakGlassConditions([open('dr-a', 'arrest', 2000, ['wr-1'])], 2000).size).toBe(0);
    expect(
      breakGlassConditions(
        [open('dr-a', 'arrest', 2000, ['wr-1']), open('dr-b', 'sepsis', 3000, ['wr-1'])],
        2500,
      ).get('wr-1')?.[0]?.detail,
    ).toBe('dr-b: sepsis');
  });

  it('behavior: through the board it is raised with its text, never latches, is acknowledged and clears at the end; the ward page names who', () => {
    const board = new AlarmBoard();
    const at = (now: number) =>
      breakGlassConditions([open('dr-a', 'arrest in bed 4', 5000, ['wr-1'])], now).get('wr-1') ?? [];
    const [raised] = board.evaluate('wr-1', at(1000), 1000);
    expect(raised?.type).toBe('raised');
    expect(raised?.alarm).toMatchObject({
      code: 'break_glass_access',
      priority: 'low',
      detail: 'dr-a: arrest in bed 4',
    });
    expect(alarmText(raised!.alarm)).toBe(
      "Break-glass access to this patient's record: dr-a: arrest in bed 4",
    );
    board.acknowledge(raised!.alarm.id, 'cn', null, 1500);
    expect(board.evaluate('wr-1', at(2000), 2000)).toEqual([]);
    expect(board.evaluate('wr-1', at(5000), 5000).map((t) => t.type)).toEqual(['cleared']);
    // Only the gateway that holds the opening ends it in a group.
    expect(LOCALLY_OBSERVED.has('break_glass_access')).toBe(true);
  });
});
