/**
 * core/alarms/news2-trigger: the NEWS2 alarm follows the band only once the band has held
 * (issue 15, alarm fatigue), so a score flickering at a band edge raises one alarm, not one
 * per flicker; the band itself is never delayed for escalation beyond `raiseSeconds`.
 */
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_NEWS2_TRIGGER,
  INSTANT_NEWS2_TRIGGER,
  News2Trigger,
} from '../../gateway/src/core/alarms/index.js';

const S = 1000;

describe('News2Trigger', () => {
  test('behavior: a band must hold raiseSeconds before its alarm; a flicker shorter than that raises nothing', () => {
    const t = new News2Trigger(DEFAULT_NEWS2_TRIGGER);
    expect(t.update('low', 0)).toBeNull();
    expect(t.update(null, 10 * S)).toBeNull(); // back before 30 s: nothing
    expect(t.update('low', 11 * S)).toBeNull();
    expect(t.update('low', 40 * S)).toBeNull(); // 29 s held
    expect(t.update('low', 41 * S)).toBe('low'); // 30 s held
  });

  test('behavior: a flickering band (on 5 s, off 5 s for 10 min) never alarms; instantly it would 60 times', () => {
    const count = (policy: typeof DEFAULT_NEWS2_TRIGGER) => {
      const t = new News2Trigger(policy);
      let raises = 0;
      let prev: string | null = null;
      for (let s = 0; s < 600; s++) {
        const p = t.update(Math.floor(s / 5) % 2 === 0 ? 'low' : null, s * S);
        if (p !== null && prev === null) raises++;
        prev = p;
      }
      return raises;
    };
    expect(count(DEFAULT_NEWS2_TRIGGER)).toBe(0);
    expect(count(INSTANT_NEWS2_TRIGGER)).toBe(60);
  });

  test('behavior: escalation waits raiseSeconds; stepping down or ending waits clearSeconds', () => {
    const t = new News2Trigger(DEFAULT_NEWS2_TRIGGER);
    t.update('medium', 0);
    expect(t.update('medium', 30 * S)).toBe('medium');
    expect(t.update('high', 31 * S)).toBe('medium');
    expect(t.update('high', 61 * S)).toBe('high');
    expect(t.update('low', 62 * S)).toBe('high');
    expect(t.update(null, 100 * S)).toBe('high'); // still lower: the clear clock runs on
    expect(t.update(null, 182 * S)).toBeNull(); // 120 s lower
  });

  test('behavior: reset forgets the alarm (a bed put in standby starts afresh)', () => {
    const t = new News2Trigger(INSTANT_NEWS2_TRIGGER);
    expect(t.update('high', 0)).toBe('high');
    t.reset();
    expect(new News2Trigger(DEFAULT_NEWS2_TRIGGER).update('high', 0)).toBeNull();
    expect(t.update(null, 1)).toBeNull();
  });
});
