/**
 * @module io/ingest/rollup-writer
 * The writer of the sealed per-window rollups (issue 14; the table, its sealing and its
 * readers: io/store/rollups and io/queries): it folds each commit's frames into their
 * windows in memory and writes the windows changed since, behind the commits
 * (io/ingest/rollup-flusher says when).
 */

import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { addReading, emptyWindow, ROLLUP_RESOLUTIONS, type WindowAgg, windowOf } from '../../core/rollup.js';
import type { Observations } from '../../protocol/frame.js';
import {
  type GatewayStore,
  ROLLUP_IV_BYTES as IV_BYTES,
  openRollup,
  RollupTable,
  rollupAad,
  sealRollup,
} from '../store/index.js';

/** Default bound of the writer's in-memory windows (about 2 per active device). */
const DEFAULT_MAX_CACHED = 65_536;

/** One accepted frame as the writer needs it: where it falls, what it carries, its data key. */
export interface RollupInput {
  dev: string;
  /** Device clock, ms. */
  ts: number;
  obs: Observations;
  keyId: number;
  /** The data key the frame was sealed with (the ring's CryptoKey, or a KeyObject). */
  key: CryptoKey | KeyObject;
}

/** A stored row as the writer reads it back. */
type StoredRow = { keyId: number; frames: number; sealed: Buffer };

/** One row the writer keeps: its data key and the aggregate of its window's frames under it. */
interface RowState {
  keyId: number;
  key: CryptoKey | KeyObject;
  agg: WindowAgg;
  dirty: boolean;
}

/** One window: a device's frames with `start <= ts < start + res` (ms of its clock). */
type WindowKey = { dev: string; res: number; start: number };

/** The writer's key of a window (cache and torn maps). */
const windowId = (k: WindowKey): string => `${k.dev}\u0000${k.res}\u0000${k.start}`;

/** One window as the writer keeps it, every frame of it folded. */
interface WindowState extends WindowKey {
  /**
   * Rows opened or started by this process (an array: one data key per window, seldom two;
   * lighter than a Map for the ~20,000 windows of 10,000 devices).
   */
  rows: RowState[];
  /** Rows stored under keys not opened yet (opened when a frame under that key comes); null: none. */
  stored: StoredRow[] | null;
  /** Folded and not yet written (waiting, or in the flush under way): never evicted. */
  pending: boolean;
  /** Folded again since the eviction last passed it (its second chance: `#evict`). */
  used: boolean;
}

/** The frames of one commit that fall in one window. */
type FoldGroup = WindowKey & { frames: RollupInput[] };

/**
 * The windows `frames` fall in, each with its frames, in the order first met. Grouped by
 * device first: a commit holds a device's frames of one window per resolution, seldom two,
 * so no key is built per frame (this runs for every frame at the ingest's full rate).
 */
function windowsOf(frames: readonly RollupInput[]): FoldGroup[] {
  const byDev = new Map<string, FoldGroup[]>();
  const groups: FoldGroup[] = [];
  for (const f of frames) {
    let mine = byDev.get(f.dev);
    if (mine === undefined) {
      mine = [];
      byDev.set(f.dev, mine);
    }
    for (const res of ROLLUP_RESOLUTIONS) {
      const start = windowOf(f.ts, res);
      let g: FoldGroup | undefined;
      for (const x of mine)
        if (x.res === res && x.start === start) {
          g = x;
          break;
        }
      if (g === undefined) {
        g = { dev: f.dev, res, start, frames: [] };
        mine.push(g);
        groups.push(g);
      }
      g.frames.push(f);
    }
  }
  return groups;
}

/** `meta` key: every frame up to this leaf index is in the rollups written (RollupWriter). */
const FLUSHED_THROUGH = 'rollups_flushed_through';
/** Torn windows remembered at most (~100 B each); one not remembered is torn when next read back. */
const MAX_TORN = 100_000;
/** Rows sealed and written per flush transaction: a bounded pause of the event loop. */
const FLUSH_CHUNK_ROWS = 512;

/** What the writer did, for the gateway's figures. */
export interface RollupWriterStats {
  /** Rows written (sealed and upserted) and flush transactions. */
  rowsWritten: number;
  flushes: number;
  /** Windows found not to count their frames (after a crash, a damaged row): their rows removed. */
  torn: number;
}

/**
 * Keeps the rollups of every frame the ingest commits, written behind the commits: the
 * group commit (io/ingest) stores and fsyncs the frames, then hands them to `fold`, which
 * adds them to the aggregates of their windows in memory; `flush` seals and writes the
 * windows changed since, in transactions of their own (io/ingest/rollup-flusher: every few
 * seconds, and at close). So a commit writes no rollup page (it rewrote a row per device
 * per resolution) and a window's row is sealed once per flush instead of once per commit.
 *
 * Nothing is ever answered wrong for it: readers use a window's rows only where they count
 * exactly the frames the index holds for it (io/queries), and answer the rest from the
 * raw frames (and fill missing rows). What a crash loses is only speed, and it is repaired:
 * - at open, the frames after the last complete flush (`meta` `rollups_flushed_through`)
 *   mark their windows torn: their rows, which may count only some of their frames, are
 *   removed, and the first trend that reads such a window from its frames writes its rows
 *   again (a window still open is simply carried on by the writer instead);
 * - a window read back from the table is checked first: its rows must count exactly the
 *   index's frames for it, less the frames being folded; if not (a damaged row, a row that
 *   fell short), it is torn the same way.
 * @example
 * const leaves = store.commitBatch(batch, putSealedFrames); // fsync'd
 * rollups.fold(inputs, leaves.at(-1));                     // in memory
 * while (!rollups.flush()) await setImmediate();            // later, sealed and written
 */
export class RollupWriter {
  readonly #store: GatewayStore;
  readonly #table: RollupTable;
  readonly #maxCached: number;
  /**
   * Windows as folded, by `dev\0res\0start`, in the order they came in (`#evict` gives the
   * ones folded since a second chance: a hit costs no reordering of the map).
   */
  readonly #cache = new Map<string, WindowState>();
  /** Windows with rows not yet written. */
  readonly #dirty = new Set<WindowState>();
  /** Windows whose stored rows do not count their frames: removed at the next flush. */
  readonly #torn = new Map<string, WindowKey>();
  /** The highest leaf folded, and the leaf every written row counts up to. */
  #foldedThrough: number;
  #flushedThrough: number;
  /** The flush under way: the windows dirty when it began, and the leaf it makes good. */
  #round: { windows: WindowState[]; through: number } | null = null;
  readonly stats: RollupWriterStats = { rowsWritten: 0, flushes: 0, torn: 0 };

  /** The leaf the written rows count every frame up to (what `meta` records). */
  get flushedThrough(): number {
    return this.#flushedThrough;
  }

  /** Opens the writer on `store`, repairing what a crash left behind (see the class). */
  constructor(store: GatewayStore, opts: { maxCached?: number } = {}) {
    this.#store = store;
    this.#table = new RollupTable(store);
    this.#maxCached = opts.maxCached ?? DEFAULT_MAX_CACHED;
    const mark = store.getMeta(FLUSHED_THROUGH);
    // A store without the mark wrote its rollups in each commit (before write-behind): whole.
    const through = mark === undefined ? store.size - 1 : Number(mark);
    for (let leaf = through + 1; leaf < store.size; ) {
      const frames = store.framesFrom(leaf, 4096);
      if (frames.length === 0) break;
      for (const f of frames)
        for (const res of ROLLUP_RESOLUTIONS) this.#tear({ dev: f.dev, res, start: windowOf(f.ts, res) });
      leaf = (frames.at(-1) as { leafIndex: number }).leafIndex + 1;
    }
    this.#foldedThrough = store.size - 1;
    this.#flushedThrough = through;
    try {
      if (this.#torn.size > 0) while (!this.flush());
      else if (mark === undefined) store.setMeta(FLUSHED_THROUGH, String(this.#foldedThrough));
    } catch {
      // A store that cannot be written now: the first flush tries again.
    }
  }

  /** Rows waiting to be written, and torn windows waiting to be cleared. */
  get pending(): number {
    return this.#dirty.size + this.#torn.size + (this.#round ? 1 : 0);
  }

  /**
   * Adds committed `frames` to the aggregates of their windows (both resolutions), in
   * memory. Call right after the commit that stored them, with the highest leaf it wrote.
   * Never throws: a window that cannot be read back or opened is torn (see the class).
   */
  fold(frames: readonly RollupInput[], lastLeaf: number): void {
    for (const g of windowsOf(frames)) {
      const id = windowId(g);
      let w: WindowState | null | undefined = this.#cache.get(id);
      if (w) w.used = true;
      else {
        w = this.#load(g.dev, g.res, g.start, g.frames.length);
        if (!w) {
          this.#tear(g);
          continue;
        }
        this.#cache.set(id, w);
      }
      try {
        for (const f of g.frames) addReading(this.#row(w, f).agg, f.obs);
      } catch {
        this.#tear(g); // a stored row that does not open
        continue;
      }
      this.#torn.delete(id); // its rows count its frames again (e.g. filled by a trend since)
      this.#dirty.add(w);
      w.pending = true;
    }
    this.#foldedThrough = Math.max(this.#foldedThrough, lastLeaf);
    this.#evict();
  }

  /**
   * Writes what `fold` changed: the torn windows' rows removed, then the changed rows sealed
   * and upserted, at most `maxRows` per transaction (fsync'd). A flush takes the windows
   * changed when it began; once all are written, `meta` records the leaf they count up to.
   * @returns true when nothing is left to write, false when another call should follow.
   * @throws the store's error; nothing written is then lost, the next call tries again.
   */
  flush(maxRows = FLUSH_CHUNK_ROWS): boolean {
    if (!this.#round) {
      if (this.#dirty.size === 0 && this.#torn.size === 0) return true;
      this.#round = { windows: [...this.#dirty], through: this.#foldedThrough };
      this.#dirty.clear();
    }
    const round = this.#round;
    const torn = [...this.#torn];
    const take: [WindowState, RowState][] = [];
    let w = 0;
    for (; w < round.windows.length && take.length < maxRows; w++) {
      const win = round.windows[w] as WindowState;
      for (const r of win.rows) if (r.dirty) take.push([win, r]);
    }
    const done = w === round.windows.length;
    const ivs = randomBytes(IV_BYTES * take.length);
    try {
      this.#store.db.transaction(() => {
        // Rows written since that count every frame (a trend's fill) stay.
        for (const [, t] of torn)
          if (!this.#counts(t.dev, t.res, t.start, 0)) this.#table.deleteWindow(t.dev, t.res, t.start);
        take.forEach(([win, r], i) => {
          const aad = rollupAad(win.dev, win.res, win.start, r.keyId, r.agg.frames);
          const iv = ivs.subarray(i * IV_BYTES, (i + 1) * IV_BYTES);
          this.#table.upsert(
            win.dev,
            win.res,
            win.start,
            r.keyId,
            r.agg.frames,
            sealRollup(r.key, r.agg, aad, iv),
          );
        });
        if (done) this.#store.setMeta(FLUSHED_THROUGH, String(round.through));
      })();
    } catch (err) {
      // Back to waiting: what this round did not write stays to write (rows keep `dirty`).
      for (const win of round.windows) this.#dirty.add(win);
      this.#round = null;
      throw err;
    }
    for (const [, r] of take) r.dirty = false;
    for (const [id] of torn) this.#torn.delete(id);
    this.stats.rowsWritten += take.length;
    this.stats.flushes += 1;
    for (const win of round.windows.splice(0, w)) win.pending = this.#dirty.has(win);
    if (!done) return false;
    this.#flushedThrough = round.through;
    this.#round = null;
    return this.#dirty.size === 0 && this.#torn.size === 0;
  }

  /** The row of `f`'s key in `w`: opened from the table (with the key the frame brings) or new. */
  #row(w: WindowState, f: RollupInput): RowState {
    let row = w.rows.find((r) => r.keyId === f.keyId);
    if (row) {
      row.dirty = true;
      return row;
    }
    const i = w.stored?.findIndex((r) => r.keyId === f.keyId) ?? -1;
    const s = i >= 0 ? (w.stored?.splice(i, 1)[0] as StoredRow) : undefined;
    const agg = s
      ? openRollup(f.key, s.sealed, rollupAad(w.dev, w.res, w.start, f.keyId, s.frames), s.frames)
      : emptyWindow();
    row = { keyId: f.keyId, key: f.key, agg, dirty: true };
    w.rows.push(row);
    return row;
  }

  /**
   * A window read back from the table, if its rows count exactly the index's frames for it
   * less the `folding` frames about to be added (already committed); null when not.
   */
  #load(dev: string, res: number, start: number, folding: number): WindowState | null {
    try {
      const stored = this.#counts(dev, res, start, folding);
      return (
        stored && {
          dev,
          res,
          start,
          rows: [],
          stored: stored.length > 0 ? stored : null,
          pending: false,
          used: false,
        }
      );
    } catch {
      return null;
    }
  }

  /** A window's stored rows if they count exactly its frames in the index less `folding`, else null. */
  #counts(dev: string, res: number, start: number, folding: number): StoredRow[] | null {
    const stored = this.#table.window(dev, res, start);
    let counted = 0;
    for (const r of stored) counted += r.frames;
    return counted + folding === this.#store.countFrames(dev, start, start + res) ? stored : null;
  }

  /** Forgets a window and has its rows removed at the next flush. */
  #tear(k: WindowKey): void {
    const id = windowId(k);
    const w = this.#cache.get(id);
    if (w) {
      this.#cache.delete(id);
      this.#dirty.delete(w);
      const i = this.#round?.windows.indexOf(w) ?? -1;
      if (i >= 0) this.#round?.windows.splice(i, 1);
    }
    if (this.#torn.has(id) || this.#torn.size >= MAX_TORN) return; // beyond: found again when read back
    this.#torn.set(id, { dev: k.dev, res: k.res, start: k.start }); // a copy: not the window or its frames
    this.stats.torn += 1;
  }

  /**
   * Keeps the cache bounded without a pause: past `maxCached` windows, written windows go
   * until a tenth is gone, the longest-held first (CLOCK, the second-chance approximation of
   * least recently used that page caches use: a window folded since it was last passed goes
   * to the back instead, once). A window waiting for the flush stays; it goes next time. Past
   * twice the bound (flushes refused for long), the longest-held waiting ones are torn.
   */
  #evict(): void {
    if (this.#cache.size <= this.#maxCached) return;
    const keep = Math.floor(this.#maxCached * 0.9);
    let visits = this.#cache.size; // each window once a pass (one sent back is met again after)
    for (const [id, w] of this.#cache) {
      if (this.#cache.size <= keep || visits-- <= 0) break;
      if (w.pending) continue;
      this.#cache.delete(id);
      if (w.used) {
        w.used = false;
        this.#cache.set(id, w);
      }
    }
    for (const w of this.#cache.values()) {
      if (this.#cache.size <= 2 * this.#maxCached) break;
      this.#tear(w);
    }
  }
}
