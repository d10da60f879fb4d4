// @ts-check
/**
 * @module dashboards/ward/layout
 * The pure rules of the central-station layout (issue 15), after the fixed bed sectors of
 * hospital central stations (Philips PIC iX, GE CARESCAPE Central): where each bed's tile
 * sits (by bed label, never by score or alarm), how many columns and rows fit the screen,
 * the optional acuity order that re-sorts at most once a minute, the order of the ward
 * alarm list (priority, then time), and which numerics are beyond their limits.
 * No DOM and no clock: every function takes what it needs, so test/unit/ward-layout.test.ts
 * checks them in Node.
 */

/** @typedef {import('../common/contract.js').AlarmPriority} AlarmPriority */
/** @typedef {import('../../gateway/src/core/live-contract.js').TileStateDto['limits']['hr']} VitalLimit */

/**
 * A tile as the ordering rules see it.
 * @typedef {object} SectorItem
 * @property {string} dev device id
 * @property {string} label bed label; equal to `dev` (or empty) when the device is not admitted to a bed
 * @property {readonly number[]} [acuity] acuity key, highest first (see `acuityKey`)
 */

/**
 * The order of the sorted view and when it was last re-sorted.
 * @typedef {{order: readonly string[], sortedAt: number | null}} SortedOrder
 */

/** The sorted view re-orders the tiles at most this often (a nurse must find a bed where she left it). */
export const SORT_INTERVAL_MS = 60_000;

/** @type {Readonly<Record<AlarmPriority | 'none', number>>} */
const RANK = { none: 0, low: 1, medium: 2, high: 3 };

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/**
 * Natural order of labels: digit runs compare as numbers ("Bed 2" before "Bed 10"), case
 * is ignored; equal-looking labels fall back to plain code-unit order, so the order is total.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 * @example
 * ['Bed 10', 'Bed 2', 'bed 1'].sort(naturalCompare); // ['bed 1', 'Bed 2', 'Bed 10']
 */
export function naturalCompare(a, b) {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * A device is on a bed when its label is set and differs from its id (the hub labels an
 * unadmitted device with its id).
 * @param {SectorItem} t
 */
export const hasBed = (t) => t.label !== '' && t.label !== t.dev;

/**
 * Fixed bed sectors: labelled beds in natural order of their labels, then unlabelled
 * devices by device id. Scores and alarms play no part.
 * @param {SectorItem} a
 * @param {SectorItem} b
 * @returns {number}
 */
export function bedCompare(a, b) {
  const ba = hasBed(a);
  const bb = hasBed(b);
  if (ba !== bb) return ba ? -1 : 1;
  return (ba ? naturalCompare(a.label, b.label) : 0) || naturalCompare(a.dev, b.dev);
}

/**
 * Device ids in bed order.
 * @param {readonly SectorItem[]} items
 * @returns {string[]}
 */
export function bedOrder(items) {
  return [...items].sort(bedCompare).map((t) => t.dev);
}

/**
 * Acuity key of a tile, compared element by element, highest first: the top alarm's
 * priority (doubled while unacknowledged), then the NEWS2 band rank and score.
 * @param {{priority: AlarmPriority, state: string} | null | undefined} alarm
 * @param {number} bandRank
 * @param {number} score
 * @returns {number[]}
 */
export function acuityKey(alarm, bandRank, score) {
  const a = alarm ? RANK[alarm.priority] * (alarm.state === 'active' ? 2 : 1) : 0;
  return [a, bandRank, score];
}

/**
 * Device ids by acuity (highest first), ties in bed order.
 * @param {readonly SectorItem[]} items
 * @returns {string[]}
 */
export function acuityOrder(items) {
  return [...items]
    .sort((x, y) => {
      const kx = x.acuity ?? [];
      const ky = y.acuity ?? [];
      for (let i = 0; i < Math.max(kx.length, ky.length); i++) {
        const d = (ky[i] ?? 0) - (kx[i] ?? 0);
        if (d !== 0) return d;
      }
      return bedCompare(x, y);
    })
    .map((t) => t.dev);
}

/**
 * The sorted view's next order: a full acuity sort when none was made yet or the last one
 * is at least `intervalMs` old; otherwise the previous order kept as it is (tiles that left
 * dropped, new tiles appended in bed order), so no tile moves between two sorts.
 * @param {SortedOrder} prev
 * @param {readonly SectorItem[]} items
 * @param {number} now ms
 * @param {number} [intervalMs]
 * @returns {SortedOrder} `prev` itself when nothing changed
 * @example
 * let s = { order: [], sortedAt: null };
 * s = nextSortedOrder(s, tiles, now); // sorted now
 * s = nextSortedOrder(s, tiles, now + 30_000); // same order, whatever the scores
 */
export function nextSortedOrder(prev, items, now, intervalMs = SORT_INTERVAL_MS) {
  if (prev.sortedAt === null || now - prev.sortedAt >= intervalMs)
    return { order: acuityOrder(items), sortedAt: now };
  const present = new Set(items.map((t) => t.dev));
  const kept = prev.order.filter((d) => present.has(d));
  const known = new Set(kept);
  const added = bedOrder(items.filter((t) => !known.has(t.dev)));
  if (added.length === 0 && kept.length === prev.order.length) return prev;
  return { order: [...kept, ...added], sortedAt: prev.sortedAt };
}

/**
 * Grid of the sector layout.
 * @typedef {object} GridShape
 * @property {number} cols
 * @property {number} rows
 * @property {number} tileWidth px
 * @property {number} tileHeight px
 * @property {boolean} fits every tile is on screen at a readable size (else the grid scrolls)
 */

/**
 * Columns and rows for `n` tiles in a `width`×`height` area: of all column counts, the
 * one whose tiles can show the largest content of aspect `aspect` (width/height), fewer
 * empty cells on a tie. When even the best tile is smaller than `minWidth`×`minHeight`
 * the ward does not fit one screen: the shape then has as many `minWidth` columns as fit
 * and the rows scroll.
 * @param {number} n tiles
 * @param {number} width px
 * @param {number} height px
 * @param {{gap?: number, aspect?: number, minWidth?: number, minHeight?: number}} [opts]
 *   defaults: gap 8, aspect 1.5, minWidth 150, minHeight 100
 * @returns {GridShape}
 * @example
 * gridShape(20, 1536, 1000); // { cols: 5, rows: 4, tileWidth: 300, tileHeight: 244, fits: true }
 */
export function gridShape(n, width, height, opts = {}) {
  const { gap = 8, aspect = 1.5, minWidth = 150, minHeight = 100 } = opts;
  const count = Math.max(1, Math.floor(n));
  const w = Math.max(0, width);
  const h = Math.max(0, height);
  let best = { cols: 1, rows: count, tileWidth: 0, tileHeight: 0, fits: false };
  let bestScale = -1;
  let bestEmpty = Infinity;
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const tileWidth = Math.floor((w - gap * (cols - 1)) / cols);
    const tileHeight = Math.floor((h - gap * (rows - 1)) / rows);
    const scale = Math.min(tileWidth / aspect, tileHeight);
    const empty = rows * cols - count;
    if (scale > bestScale + 0.5 || (Math.abs(scale - bestScale) <= 0.5 && empty < bestEmpty)) {
      best = { cols, rows, tileWidth, tileHeight, fits: true };
      bestScale = scale;
      bestEmpty = empty;
    }
  }
  if (best.tileWidth >= minWidth && best.tileHeight >= minHeight) return best;
  const cols = Math.max(1, Math.min(count, Math.floor((w + gap) / (minWidth + gap))));
  const tileWidth = Math.floor((w - gap * (cols - 1)) / cols);
  return { cols, rows: Math.ceil(count / cols), tileWidth, tileHeight: minHeight, fits: false };
}

/**
 * Where a value stands against its limits: `low` below the low limit, `high` above the
 * high one, null inside, without a limit or without a value.
 * @param {number | null | undefined} value
 * @param {VitalLimit | null | undefined} limit
 * @returns {'low' | 'high' | null}
 */
export function outOfLimit(value, limit) {
  if (typeof value !== 'number' || !Number.isFinite(value) || !limit) return null;
  if (limit.low !== null && value < limit.low) return 'low';
  if (limit.high !== null && value > limit.high) return 'high';
  return null;
}

/**
 * Order of the ward alarm list: priority (high, medium, low), then newest first; the
 * alarm id breaks ties so the list never shuffles.
 * @param {{priority: AlarmPriority, raisedAt: number, id: string}} a
 * @param {{priority: AlarmPriority, raisedAt: number, id: string}} b
 * @returns {number}
 */
export function alarmListCompare(a, b) {
  return (
    (RANK[b.priority] ?? 0) - (RANK[a.priority] ?? 0) ||
    b.raisedAt - a.raisedAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * "m:ss" of a countdown (the audio pause).
 * @param {number} ms
 * @returns {string}
 */
export function formatCountdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
