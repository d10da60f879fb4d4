/**
 * @module test/unit/slots
 * core/slots: at most `total` holders in all and `perKey` per key; a refused taker gets null
 * at once; a release gives back exactly one slot however often it is called.
 */
import { describe, expect, test } from 'vitest';
import { Slots } from '../../gateway/src/core/slots.js';

describe('Slots', () => {
  test('behavior: bounds in all and per key, and gives back on release', () => {
    const s = new Slots(2, 1);
    const a = s.take('alice');
    expect(a).not.toBeNull();
    expect(s.take('alice')).toBeNull(); // alice's one
    const b = s.take('bob');
    expect(b).not.toBeNull();
    expect(s.take('carol')).toBeNull(); // both in all
    expect(s.inUse).toBe(2);
    a?.();
    expect(s.inUse).toBe(1);
    expect(s.take('alice')).not.toBeNull();
  });

  test('behavior: a release called twice gives back one slot', () => {
    const s = new Slots(3, 2);
    const a = s.take('alice');
    const b = s.take('alice');
    a?.();
    a?.();
    expect(s.inUse).toBe(1);
    expect(s.take('alice')).not.toBeNull(); // alice holds 2 again: b and the new one
    expect(s.take('alice')).toBeNull();
    b?.();
    expect(s.inUse).toBe(1);
  });

  test('error: bounds that are not positive integers', () => {
    for (const [t, k] of [
      [0, 1],
      [1, 0],
      [1.5, 1],
      [Number.NaN, 1],
    ] as const)
      expect(() => new Slots(t, k)).toThrow(RangeError);
  });
});
