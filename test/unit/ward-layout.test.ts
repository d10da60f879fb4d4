/**
 * @module test/unit/ward-layout
 * The pure rules of the ward page's central-station layout (dashboards/ward/layout.js,
 * issue 15) and the page's time formats (dashboards/common/format.js), in Node: natural
 * bed order, the sorted view that re-orders at most once a minute (an hour of changing
 * acuity, second by second), the grid shape for 8–32 beds on 1920×1080 and 20 on 1280×800,
 * limit checks, the alarm list order, the audio-pause countdown and the ward clock.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

interface Item {
  dev: string;
  label: string;
  acuity?: number[];
}
interface SortedOrder {
  order: readonly string[];
  sortedAt: number | null;
}
interface Shape {
  cols: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
  fits: boolean;
}
type Limit = { low: number | null; high: number | null };
interface LayoutModule {
  SORT_INTERVAL_MS: number;
  naturalCompare(a: string, b: string): number;
  bedOrder(items: readonly Item[]): string[];
  acuityKey(alarm: { priority: string; state: string } | null, bandRank: number, score: number): number[];
  acuityOrder(items: readonly Item[]): string[];
  nextSortedOrder(prev: SortedOrder, items: readonly Item[], now: number, intervalMs?: number): SortedOrder;
  gridShape(n: number, w: number, h: number, opts?: Record<string, number>): Shape;
  outOfLimit(value: number | null | undefined, limit: Limit | null | undefined): 'low' | 'high' | null;
  alarmListCompare(a: { priority: string; raisedAt: number; id: string }, b: typeof a): number;
  formatCountdown(ms: number): string;
}
interface FormatModule {
  formatTimeOfDay(t: number | Date, clock?: '24h' | '12h', seconds?: boolean): string;
}

const page = (rel: string) => pathToFileURL(join(import.meta.dirname, '../../dashboards', rel)).href;
let L: LayoutModule;
let F: FormatModule;

beforeAll(async () => {
  L = (await import(page('ward/layout.js'))) as LayoutModule;
  F = (await import(page('common/format.js'))) as FormatModule;
});

/** The grid's area on screen beside the alarm list (header, side panel and gaps taken off). */
const AREA_1920 = { w: 1530, h: 1008 };
const AREA_1280 = { w: 1010, h: 722 };
const OPTS = { gap: 8, aspect: 1.45, minWidth: 170, minHeight: 112 };

describe('ward layout rules', () => {
  it('behavior: beds in natural order ("Bed 2" before "Bed 10"), unlabelled devices after by id', () => {
    expect(['Bed 10', 'Bed 2', 'bed 1', 'Bed 1A', 'ICU 3', 'Bed 02'].sort(L.naturalCompare)).toEqual([
      'bed 1',
      'Bed 1A',
      'Bed 02',
      'Bed 2',
      'Bed 10',
      'ICU 3',
    ]);
    const items: Item[] = [
      { dev: 'wr-0010', label: 'wr-0010' },
      { dev: 'wr-0003', label: 'Bed 10' },
      { dev: 'wr-0002', label: '' },
      { dev: 'wr-0009', label: 'Bed 2' },
      { dev: 'wr-0001', label: 'Bed 1' },
    ];
    expect(L.bedOrder(items)).toEqual(['wr-0001', 'wr-0009', 'wr-0003', 'wr-0002', 'wr-0010']);
    // Scores and alarms play no part in the bed order.
    const scored = items.map((t, i) => ({ ...t, acuity: [i, 9 - i, i * 3] }));
    expect(L.bedOrder(scored)).toEqual(L.bedOrder(items));
  });

  it('behavior: acuity: unacknowledged alarm priority, then band and score; ties in bed order', () => {
    expect(L.acuityKey({ priority: 'high', state: 'active' }, 4, 9)).toEqual([6, 4, 9]);
    expect(L.acuityKey({ priority: 'high', state: 'acknowledged' }, 0, 0)).toEqual([3, 0, 0]);
    expect(L.acuityKey(null, 2, 3)).toEqual([0, 2, 3]);
    const items: Item[] = [
      { dev: 'a', label: 'Bed 3', acuity: [0, 1, 1] },
      { dev: 'b', label: 'Bed 1', acuity: [0, 1, 1] },
      { dev: 'c', label: 'Bed 2', acuity: [4, 0, 0] },
      { dev: 'd', label: 'Bed 4', acuity: [0, 3, 7] },
    ];
    expect(L.acuityOrder(items)).toEqual(['c', 'd', 'b', 'a']);
  });

  it('behavior: the sorted view re-orders at most once a minute through an hour of changing acuity', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const items: Item[] = Array.from({ length: 20 }, (_, i) => ({
      dev: `d${i}`,
      label: `Bed ${i + 1}`,
      acuity: [0, 0, 0],
    }));
    let s: SortedOrder = { order: [], sortedAt: null };
    const t0 = 1_700_000_000_000;
    const moves: number[] = [];
    for (let sec = 0; sec < 3600; sec++) {
      const now = t0 + sec * 1000;
      for (const it of items)
        if (rnd() < 0.2) it.acuity = [Math.floor(rnd() * 7), Math.floor(rnd() * 5), Math.floor(rnd() * 12)];
      if (sec === 1234) items.push({ dev: 'late', label: 'Bed 0', acuity: [6, 4, 12] });
      const next = L.nextSortedOrder(s, items, now);
      const before = s.order.filter((d) => next.order.includes(d));
      const after = next.order.filter((d) => s.order.includes(d));
      if (before.join() !== after.join()) moves.push(sec);
      if (sec === 1234) expect(next.order.at(-1)).toBe('late'); // a new bed joins at the end
      if (next.sortedAt !== s.sortedAt) expect(next.order).toEqual(L.acuityOrder(items));
      else if (next.order.length === s.order.length) expect(next).toBe(s); // nothing changed
      s = next;
    }
    expect(moves.length).toBeGreaterThan(40);
    for (let i = 1; i < moves.length; i++)
      expect((moves[i] as number) - (moves[i - 1] as number)).toBeGreaterThanOrEqual(60);
  });

  it('behavior: 8, 16, 20 and 32 beds fit 1920×1080 and 20 fit 1280×800, readable, no empty row', () => {
    for (const [n, area, minW, minH] of [
      [8, AREA_1920, 450, 300],
      [16, AREA_1920, 350, 230],
      [20, AREA_1920, 290, 230],
      [32, AREA_1920, 240, 150],
      [20, AREA_1280, 230, 130],
    ] as const) {
      const s = L.gridShape(n, area.w, area.h, OPTS);
      expect(s.fits, `${n} beds`).toBe(true);
      expect(s.cols * s.rows).toBeGreaterThanOrEqual(n);
      expect((s.rows - 1) * s.cols).toBeLessThan(n);
      expect(s.cols * s.tileWidth + (s.cols - 1) * OPTS.gap).toBeLessThanOrEqual(area.w);
      expect(s.rows * s.tileHeight + (s.rows - 1) * OPTS.gap).toBeLessThanOrEqual(area.h);
      expect(s.tileWidth, `${n} beds: width`).toBeGreaterThanOrEqual(minW);
      expect(s.tileHeight, `${n} beds: height`).toBeGreaterThanOrEqual(minH);
    }
    expect(L.gridShape(20, AREA_1920.w, AREA_1920.h, OPTS)).toMatchObject({ cols: 5, rows: 4 });
    // A ward too big for one screen scrolls in rows of readable tiles.
    const big = L.gridShape(200, AREA_1920.w, AREA_1920.h, OPTS);
    expect(big).toMatchObject({ fits: false, cols: 8, rows: 25, tileHeight: 112 });
    expect(L.gridShape(1, 0, 0, OPTS).fits).toBe(false);
  });

  it('behavior: a value beyond a limit is low or high; inside, off or absent is neither', () => {
    const lim = { low: 50, high: 120 };
    expect([
      L.outOfLimit(49, lim),
      L.outOfLimit(50, lim),
      L.outOfLimit(120, lim),
      L.outOfLimit(121, lim),
    ]).toEqual(['low', null, null, 'high']);
    expect(L.outOfLimit(200, { low: 50, high: null })).toBeNull();
    expect(L.outOfLimit(undefined, lim)).toBeNull();
    expect(L.outOfLimit(Number.NaN, lim)).toBeNull();
    expect(L.outOfLimit(10, null)).toBeNull();
  });

  it('behavior: the alarm list by priority, then newest first, then id', () => {
    const list = [
      { id: 'a', priority: 'low', raisedAt: 5 },
      { id: 'b', priority: 'high', raisedAt: 1 },
      { id: 'c', priority: 'medium', raisedAt: 3 },
      { id: 'd', priority: 'high', raisedAt: 2 },
      { id: 'e', priority: 'medium', raisedAt: 3 },
    ];
    expect(list.sort(L.alarmListCompare).map((a) => a.id)).toEqual(['d', 'b', 'c', 'e', 'a']);
  });

  it('behavior: the audio-pause countdown and the ward clock (24-hour by default)', () => {
    expect([120_000, 119_001, 61_000, 59_500, 0, -5].map(L.formatCountdown)).toEqual([
      '2:00',
      '2:00',
      '1:01',
      '1:00',
      '0:00',
      '0:00',
    ]);
    const t = new Date(2025, 0, 1, 14, 5, 9).getTime();
    expect(F.formatTimeOfDay(t)).toBe('14:05');
    expect(F.formatTimeOfDay(t, '24h', true)).toBe('14:05:09');
    expect(F.formatTimeOfDay(new Date(2025, 0, 1, 0, 7).getTime(), '24h')).toBe('00:07');
    expect(F.formatTimeOfDay(t, '12h')).toMatch(/^2:05\sPM$/);
  });
});
