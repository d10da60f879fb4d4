/**
 * @module test/unit/json-pieces
 * core/json-pieces `jsonPieces`: joined, the pieces are exactly `JSON.stringify` of the value
 * (the list first, in the middle, last or alone; empty; a length not a multiple of the piece
 * size; members JSON leaves out; strings that need escaping), and no piece holds more than
 * its share of the list.
 */
import { describe, expect, test } from 'vitest';
import { jsonPieces } from '../../gateway/src/core/json-pieces.js';

const row = (i: number) => ({
  seq: i,
  ts: 1_800_000_000_000 + i * 1000,
  obs: { hr: 60 + (i % 40), spo2: 97 },
});
const rows = (n: number) => Array.from({ length: n }, (_, i) => row(i + 1));

describe('jsonPieces', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['the list last', { dev: 'wr-0001', readings: rows(1000) }],
    ['the list first', { readings: rows(7), dev: 'wr-0001', total: 7 }],
    ['the list in the middle', { patient: '0xab', readings: rows(513), total: 9, sources: { missing: [] } }],
    ['the list alone', { readings: rows(256) }],
    ['an empty list', { dev: 'a', readings: [], total: 0 }],
    ['members JSON leaves out', { a: undefined, readings: [1, undefined, () => 1, null], f: () => 2, z: 1 }],
    ['strings to escape', { dev: 'q"\\\n\u2028é', readings: ['"', '\\', '\u0000', '𝄞'], k: '"readings":[' }],
    ['no list at the key', { dev: 'a', readings: 'none' }],
  ];
  for (const [name, value] of cases)
    test(`behavior: ${name}: joined, exactly JSON.stringify`, () => {
      expect([...jsonPieces(value, 'readings', 256)].join('')).toBe(JSON.stringify(value));
      expect([...jsonPieces(value, 'readings', 3)].join('')).toBe(JSON.stringify(value));
    });

  test('behavior: a piece holds at most its share of the list', () => {
    const value = { dev: 'wr-0001', readings: rows(1000) };
    const pieces = [...jsonPieces(value, 'readings', 100)];
    // The head, 10 pieces of 100 readings, the tail.
    expect(pieces).toHaveLength(12);
    expect(pieces[0]).toBe('{"dev":"wr-0001","readings":[');
    expect(pieces.at(-1)).toBe(']}');
    for (const p of pieces.slice(1, -1)) expect(p.match(/"seq":/g)).toHaveLength(100);
  });
});
