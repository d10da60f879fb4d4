/**
 * @module io/queries/trends
 * A device's trend over a time range, as the query API reads it (`readTrend`, issue 14): from
 * the sealed rollups wherever they count every frame, raw frames elsewhere.
 *
 * How a trend is answered, exactly as `downsample` over the raw readings would answer it:
 * 1. core/rollup `planTrend` splits each bucket into whole 15-minute and 1-minute windows
 *    and the pieces shorter than a minute at bucket edges off the minute grid.
 * 2. In one read transaction (one snapshot): the rollup rows of the planned windows and
 *    the frame index's counts, one `count(*)` per 15-minute block (per minute only inside a
 *    block whose minute rows do not add up to it). A window is **covered** when its rows
 *    count exactly the frames the index holds for it; only then are its rows used. (Rows
 *    never count a frame the index lacks unless the file was damaged, so a block whose
 *    minute rows add up to its count has every minute covered.) A 15-minute window that is
 *    not covered is answered minute by minute; a minute that is not covered is read from its
 *    raw frames, as are the edge pieces. Rows counting more frames than the index holds are
 *    damage: `integrity_error`.
 * 3. The rows' data keys are unwrapped (a shredded key: those frames are left out, as a raw
 *    read leaves them out), rows and raw frames are opened, and both are folded into the
 *    same accumulator (core/trend), whose sums are exact.
 * 4. Lazy fill: a window read from raw frames whose frames all have a readable data key
 *    gets the missing rows, per key, sealed under that key (so a data directory of an older
 *    release, or a window with a row lost, becomes fast after its first query). It is
 *    written only if the index still counts the same frames for the window, and never
 *    replaces a row. A failed fill leaves the answer as it is.
 */
import { randomBytes } from 'node:crypto';
import {
  addReading,
  emptyWindow,
  MINUTE_MS,
  mergeWindow,
  planTrend,
  type TrendPlan,
  type TsRange,
  type WindowAgg,
  windowOf,
} from '../../core/rollup.js';
import { TrendAccumulator, type TrendSeries } from '../../core/trend.js';
import type { Observations } from '../../protocol/frame.js';
import {
  type FrameReadRow,
  type GatewayStore,
  openRollup,
  type RollupRow,
  RollupTable,
  rollupAad,
  SealedError,
  type SealedReader,
  sealRollup,
} from '../store/index.js';
import { DECODE_CHUNK, storedReading } from './readings.js';

const QUARTER_MS = 900_000;

/** What `readTrend` answers. */
export interface TrendRead {
  series: TrendSeries;
  /** Readings aggregated (frames in range whose data key is readable). */
  readings: number;
  /** Frames in range left out because their data key was shredded. */
  shredded: number;
  /** How it was answered: rollup rows opened, frames read raw, rollup rows filled lazily. */
  stats: { rollupRows: number; rawFrames: number; filled: number };
}

export interface TrendReadOptions {
  /** Write the missing rollups of windows read raw (step 4 above). Default true. */
  fill?: boolean;
}

interface Covered {
  res: number;
  start: number;
  bucket: number;
  rows: RollupRow[];
}

/** What one read transaction saw. */
interface Snapshot {
  covered: Covered[];
  /** Minutes of planned windows read raw: start and the frames the index holds for it. */
  rawMinutes: { start: number; count: number }[];
  /** 15-minute windows answered minute by minute. */
  split: { start: number; count: number; keys: Set<number> }[];
  /** Rows of every covered minute, by start. */
  minuteRows: Map<number, RollupRow[]>;
  /** Per minute read raw: the data keys that already have a row for it. */
  keysOfRaw: Map<number, Set<number>>;
  rawRows: FrameReadRow[];
}

const tables = new WeakMap<GatewayStore, RollupTable>();
function tableOf(store: GatewayStore): RollupTable {
  let t = tables.get(store);
  if (!t) {
    t = new RollupTable(store);
    tables.set(store, t);
  }
  return t;
}

const sumFrames = (rows: readonly RollupRow[]): number => rows.reduce((s, r) => s + r.frames, 0);

/** Step 2, synchronous: call inside one read transaction. */
function snapshot(store: GatewayStore, table: RollupTable, dev: string, plan: TrendPlan): Snapshot {
  const snap: Snapshot = {
    covered: [],
    rawMinutes: [],
    split: [],
    minuteRows: new Map(),
    keysOfRaw: new Map(),
    rawRows: [],
  };
  const raw: TsRange[] = [...plan.raw];
  const first = plan.windows[0];
  const last = plan.windows[plan.windows.length - 1];
  if (first && last) {
    const spanFrom = windowOf(first.start, QUARTER_MS);
    const spanTo = last.start + last.res;
    const damaged = (res: number, start: number) =>
      new SealedError('integrity_error', `rollup ${res} ms at ${start} counts frames the index lacks`);
    // Rows: quarter hours when planned; minutes of the whole span when planned, else per
    // 15-minute block as a quarter hour falls back to its minutes.
    const quarters = plan.windows.some((w) => w.res === QUARTER_MS)
      ? table.range(dev, QUARTER_MS, spanFrom, spanTo)
      : new Map<number, RollupRow[]>();
    const wholeSpan = plan.windows.some((w) => w.res === MINUTE_MS);
    const minutes = wholeSpan
      ? table.range(dev, MINUTE_MS, spanFrom, spanTo)
      : new Map<number, RollupRow[]>();
    const fetched = new Set<number>();
    const minuteRows = (start: number): RollupRow[] => {
      const block = windowOf(start, QUARTER_MS);
      if (!wholeSpan && !fetched.has(block)) {
        fetched.add(block);
        for (const [m, rows] of table.range(dev, MINUTE_MS, block, block + QUARTER_MS)) minutes.set(m, rows);
      }
      return minutes.get(start) ?? [];
    };
    // Counts from the index: one per 15-minute block; per minute only inside a block whose
    // minute rows do not add up to it.
    const blockCounts = new Map<number, number>();
    const blockCount = (block: number): number => {
      let n = blockCounts.get(block);
      if (n === undefined) {
        n = store.countFrames(dev, block, block + QUARTER_MS);
        blockCounts.set(block, n);
      }
      return n;
    };
    const balanced = new Map<number, boolean>();
    const perMinute = new Map<number, Map<number, number>>();
    const minuteCount = (start: number): number | 'rows' => {
      const block = windowOf(start, QUARTER_MS);
      let b = balanced.get(block);
      if (b === undefined) {
        let sum = 0;
        for (let m = block; m < block + QUARTER_MS; m += MINUTE_MS) sum += sumFrames(minuteRows(m));
        if (sum > blockCount(block)) throw damaged(QUARTER_MS, block);
        b = sum === blockCount(block);
        balanced.set(block, b);
      }
      if (b) return 'rows'; // every minute of the block: its rows count all its frames
      let counts = perMinute.get(block);
      if (!counts) {
        counts = store.framesPerMinute(dev, block, block + QUARTER_MS);
        perMinute.set(block, counts);
      }
      return counts.get(start) ?? 0;
    };
    const minute = (start: number, bucket: number): void => {
      const rows = minuteRows(start);
      const sum = sumFrames(rows);
      const count = minuteCount(start);
      if (count === 'rows' || sum === count) {
        if (sum === 0) return;
        snap.covered.push({ res: MINUTE_MS, start, bucket, rows });
        snap.minuteRows.set(start, rows);
        return;
      }
      if (sum > count) throw damaged(MINUTE_MS, start);
      snap.rawMinutes.push({ start, count });
      snap.keysOfRaw.set(start, new Set(rows.map((r) => r.keyId)));
      raw.push({ from: start, to: start + MINUTE_MS - 1 });
    };
    for (const w of plan.windows) {
      if (w.res === MINUTE_MS) {
        minute(w.start, w.bucket);
        continue;
      }
      const count = blockCount(w.start);
      const rows = quarters.get(w.start) ?? [];
      const sum = sumFrames(rows);
      if (sum > count) throw damaged(w.res, w.start);
      if (count === 0) continue;
      if (sum === count) {
        snap.covered.push({ res: w.res, start: w.start, bucket: w.bucket, rows });
        continue;
      }
      snap.split.push({ start: w.start, count, keys: new Set(rows.map((r) => r.keyId)) });
      for (let m = w.start; m < w.start + w.res; m += MINUTE_MS) minute(m, w.bucket);
    }
  }
  raw.sort((a, b) => a.from - b.from);
  for (const r of raw) for (const row of store.framesToRead(dev, r.from, r.to)) snap.rawRows.push(row);
  return snap;
}

/** A frame read raw, for the lazy fill: its minute, data key and observations (null: shredded). */
interface RawFrame {
  ts: number;
  keyId: number | null;
  obs: Observations | null;
}

/** The aggregates of `frames` per data key, or null when one has no readable data key. */
function perKey(
  frames: readonly RawFrame[],
  into = new Map<number, WindowAgg>(),
): Map<number, WindowAgg> | null {
  for (const f of frames) {
    if (f.keyId === null || f.obs === null) return null;
    let w = into.get(f.keyId);
    if (!w) {
      w = emptyWindow();
      into.set(f.keyId, w);
    }
    addReading(w, f.obs);
  }
  return into;
}

interface FillCandidate {
  res: number;
  start: number;
  /** Frames the index held for the window when it was read. */
  count: number;
  keyId: number;
  agg: WindowAgg;
}

/**
 * A device's trend, as core/trend `downsample` over its readings in [from, to] would give
 * it, answered from the sealed rollups where they count every frame (see the module head).
 * @throws {RangeError} as `downsample`; {SealedError} as `SealedReader.read`, and
 * `integrity_error` naming the window when a rollup does not authenticate or counts frames
 * the index lacks. Never returns a wrong aggregate.
 * @example
 * const { series } = await readTrend(store, new SealedReader(store, secrets), 'wr-1', from, to, 300_000);
 */
export async function readTrend(
  store: GatewayStore,
  reader: SealedReader,
  dev: string,
  from: number,
  to: number,
  bucketMs: number,
  opts: TrendReadOptions = {},
): Promise<TrendRead> {
  const acc = new TrendAccumulator(from, to, bucketMs);
  const table = tableOf(store);
  const plan = planTrend(from, to, bucketMs);
  const snap = store.db.transaction(() => snapshot(store, table, dev, plan))();

  // Step 3: keys, rows, raw frames.
  const keyIds = new Set(snap.covered.flatMap((c) => c.rows.map((r) => r.keyId)));
  const keys = new Map(
    await Promise.all([...keyIds].map(async (id) => [id, await reader.dataKey(id, dev)] as const)),
  );
  let readings = 0;
  let shredded = 0;
  let rollupRows = 0;
  const aggOf = new Map<RollupRow, WindowAgg | null>();
  for (const c of snap.covered) {
    for (const r of c.rows) {
      rollupRows += 1;
      const key = keys.get(r.keyId);
      if (key === undefined || key === 'shredded') {
        shredded += r.frames;
        aggOf.set(r, null);
        continue;
      }
      let w: WindowAgg;
      try {
        w = openRollup(key, r.sealed, rollupAad(dev, c.res, c.start, r.keyId, r.frames), r.frames);
      } catch (err) {
        throw new SealedError('integrity_error', `rollup ${c.res} ms at ${c.start} does not authenticate`, {
          cause: err,
        });
      }
      aggOf.set(r, w);
      acc.addWindow(c.bucket, w);
      readings += w.frames;
    }
  }
  const raw: RawFrame[] = [];
  for (let i = 0; i < snap.rawRows.length; i += DECODE_CHUNK) {
    const chunk = snap.rawRows.slice(i, i + DECODE_CHUNK);
    const opened = await reader.readDetailed(chunk);
    opened.forEach((o, j) => {
      const row = chunk[j] as FrameReadRow;
      if (o.frame === 'shredded') {
        shredded += 1;
        raw.push({ ts: row.ts, keyId: o.keyId, obs: null });
        return;
      }
      const r = storedReading(o.frame, row);
      acc.addReading(r.ts, r.obs);
      readings += 1;
      raw.push({ ts: r.ts, keyId: o.keyId, obs: r.obs });
    });
  }

  let filled = 0;
  if (opts.fill !== false && (snap.rawMinutes.length > 0 || snap.split.length > 0)) {
    try {
      filled = await fill(store, table, reader, dev, snap, raw, aggOf);
    } catch {
      // The answer stands; a later query tries again (e.g. a read-only copy, a busy file).
    }
  }
  return { series: acc.series(), readings, shredded, stats: { rollupRows, rawFrames: raw.length, filled } };
}

/** Step 4: the missing rows of the windows read raw. @returns rows written. */
async function fill(
  store: GatewayStore,
  table: RollupTable,
  reader: SealedReader,
  dev: string,
  snap: Snapshot,
  raw: readonly RawFrame[],
  aggOf: ReadonlyMap<RollupRow, WindowAgg | null>,
): Promise<number> {
  const byMinute = new Map<number, RawFrame[]>();
  for (const f of raw) {
    const m = windowOf(f.ts, MINUTE_MS);
    const list = byMinute.get(m);
    if (list) list.push(f);
    else byMinute.set(m, [f]);
  }
  const candidates: FillCandidate[] = [];
  const add = (
    res: number,
    start: number,
    count: number,
    groups: Map<number, WindowAgg>,
    have: Set<number>,
  ) => {
    let frames = 0;
    for (const w of groups.values()) frames += w.frames;
    if (frames !== count) return;
    for (const [keyId, agg] of groups)
      if (!have.has(keyId)) candidates.push({ res, start, count, keyId, agg });
  };
  for (const m of snap.rawMinutes) {
    const groups = perKey(byMinute.get(m.start) ?? []);
    if (groups) add(MINUTE_MS, m.start, m.count, groups, snap.keysOfRaw.get(m.start) ?? new Set());
  }
  for (const q of snap.split) {
    let groups: Map<number, WindowAgg> | null = new Map();
    for (let m = q.start; groups && m < q.start + QUARTER_MS; m += MINUTE_MS) {
      const rows = snap.minuteRows.get(m);
      if (!rows) {
        groups = perKey(byMinute.get(m) ?? [], groups);
        continue;
      }
      for (const r of rows) {
        const w = aggOf.get(r);
        if (!w || !groups) {
          groups = null;
          break;
        }
        const g = groups.get(r.keyId) ?? emptyWindow();
        mergeWindow(g, w);
        groups.set(r.keyId, g);
      }
    }
    if (groups) add(QUARTER_MS, q.start, q.count, groups, q.keys);
  }
  if (candidates.length === 0) return 0;
  const keys = new Map<number, Awaited<ReturnType<SealedReader['dataKey']>>>();
  for (const c of candidates) if (!keys.has(c.keyId)) keys.set(c.keyId, await reader.dataKey(c.keyId, dev));
  const ivs = randomBytes(12 * candidates.length);
  let written = 0;
  store.db
    .transaction(() => {
      const counted = new Map<string, number>();
      candidates.forEach((c, i) => {
        const key = keys.get(c.keyId);
        if (key === undefined || key === 'shredded') return;
        const id = `${c.res}:${c.start}`;
        let now = counted.get(id);
        if (now === undefined) {
          now = store.countFrames(dev, c.start, c.start + c.res);
          counted.set(id, now);
        }
        // Frames arrived since the read: the aggregate may be short; leave it to a later query.
        if (now !== c.count) return;
        const aad = rollupAad(dev, c.res, c.start, c.keyId, c.agg.frames);
        const sealed = sealRollup(key, c.agg, aad, ivs.subarray(12 * i, 12 * i + 12));
        if (table.insertNew(dev, c.res, c.start, c.keyId, c.agg.frames, sealed)) written += 1;
      });
    })
    .immediate();
  return written;
}
