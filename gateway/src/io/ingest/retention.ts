/**
 * @module io/ingest/retention
 * Crypto-shredding in a running gateway (README "Retention"; config `shredAfterDays`): the
 * data keys of windows that ended `retentionMs` ago are destroyed, each with its shredding
 * record in the log (io/store/shredding), by the gateway itself, with no stop. The log has
 * one writer, so every turn runs between the ingest's group commits (`Ingest.betweenFlushes`).
 *
 * A turn lists at most `framesPerTurn` frames (4,096 by default: about an hour of a 1 Hz
 * device, some tens of milliseconds of the event loop), in one fsync'd transaction, then
 * deletes the ciphertexts of destroyed keys in at most as many log positions (io/store/sealed
 * `sweepShredded`, in log order, so their pages are freed whole for new frames). While
 * expired keys are left (a backlog: the first start with shredding on, or the top of an
 * hour, when a whole ward's keys of one window expire together) the next turn follows after
 * `pauseFactor` times the turn's own time (4 by default: the backlog takes at most a fifth of
 * the event loop, and frames wait behind a turn at most once in five); then every
 * `intervalMs`. The WAL's old page images are recycled by the gateway's own checkpoints (the
 * CLI truncates the WAL at once: it has the store to itself). A turn that fails (a full
 * disk) leaves each key destroyed and recorded or neither, and is tried again after
 * `intervalMs` (ciphertexts it did not delete are deleted by a later turn; the keys it did
 * destroy are counted and told first). While an export of this
 * process reads (`hold`, the care routes' bundle download), the timer's turns wait, at most
 * `maxHoldMs` without a break.
 */
import { performance } from 'node:perf_hooks';
import { type GatewayStore, type ShredResult, shredExpired, sweepExpired } from '../store/index.js';
import type { Ingest } from './ingest.js';

export interface RetentionOptions {
  ingest: Pick<Ingest, 'betweenFlushes'>;
  store: GatewayStore;
  /** Destroy the keys of windows that ended at least this long ago, whole ms (>= 1). */
  retentionMs: number;
  /** The data keys' window, as the ingest's ring makes them (io/data-keys). Default 1 h. */
  windowMs?: number;
  /** Between turns once no expired key is left. Default 60,000 ms. */
  intervalMs?: number;
  /** Frames one turn lists at most (its first key is always done). Default 4,096. */
  framesPerTurn?: number;
  /** The pause after a turn while keys are left, as a multiple of its time. Default 4. */
  pauseFactor?: number;
  /**
   * The longest the timer's turns wait while the exports of this process hold the shredding
   * (`hold`) without a break; past it they shred anyway and the exports count what they
   * missed. Default 60,000 ms.
   */
  maxHoldMs?: number;
  now?: () => number;
  /**
   * After each turn that destroyed a key or deleted a ciphertext (also when the deletion then
   * failed): what it did and how long it held the event loop.
   */
  onShred?: (r: ShredResult, ms: number) => void;
  /** A turn that failed (nothing of it changed); tried again after `intervalMs`. */
  onError?: (err: unknown) => void;
}

/** What the shredder has done since the gateway started (the `vitaltrail_retention_*` metrics). */
export interface RetentionStats {
  turns: number;
  /** Turns of the timer put off while an export held the shredding. */
  held: number;
  keys: number;
  records: number;
  frames: number;
  /** Ciphertexts of destroyed keys deleted (their space free for new frames). */
  deleted: number;
  failures: number;
}

/**
 * Holds the shredding while an export in this process reads (README "An export meanwhile"):
 * a bundle's head, with its shredding records, is written before its entries are read, and a
 * key destroyed in between would leave entries shredded with no record. Taken by the care
 * routes' bundle download for as long as it streams.
 */
export class ShredHold {
  readonly #now: () => number;
  #holders = 0;
  #since: number | null = null;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Takes the hold; the function given back releases it (once). */
  take(): () => void {
    if (this.#holders++ === 0) this.#since = this.#now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holders === 0) this.#since = null;
    };
  }

  /** Since when the hold has been taken without a break (ms); null while nobody holds it. */
  get heldSince(): number | null {
    return this.#since;
  }
}

const DEFAULT_INTERVAL_MS = 60_000;
/** The longest the shredding waits for the exports holding it: retention is a duty too. */
const DEFAULT_MAX_HOLD_MS = 60_000;
/** How soon a held turn looks again. */
const HELD_RETRY_MS = 1000;
export const DEFAULT_FRAMES_PER_TURN = 4096;
const DEFAULT_PAUSE_FACTOR = 4;

const positive = (n: number) => Number.isSafeInteger(n) && n >= 1;

/**
 * @example
 * const r = new RetentionShredder({ ingest, store, retentionMs: 30 * 86_400_000 });
 * r.start(); // … at stop: await r.stop();
 */
export class RetentionShredder {
  readonly #o: Required<Omit<RetentionOptions, 'onShred' | 'onError'>> &
    Pick<RetentionOptions, 'onShred' | 'onError'>;
  #timer: NodeJS.Timeout | null = null;
  #turn: Promise<void> | null = null;
  #stopped = true;
  readonly stats: RetentionStats = {
    turns: 0,
    held: 0,
    keys: 0,
    records: 0,
    frames: 0,
    deleted: 0,
    failures: 0,
  };
  /** Taken by this process's exports while they read (`ShredHold`). */
  readonly hold: ShredHold;

  /** @throws {RangeError} when a duration or bound is not a positive whole number. */
  constructor(opts: RetentionOptions) {
    this.#o = {
      windowMs: 3_600_000,
      intervalMs: DEFAULT_INTERVAL_MS,
      framesPerTurn: DEFAULT_FRAMES_PER_TURN,
      pauseFactor: DEFAULT_PAUSE_FACTOR,
      maxHoldMs: DEFAULT_MAX_HOLD_MS,
      now: Date.now,
      ...opts,
    };
    const { retentionMs, windowMs, intervalMs, framesPerTurn, pauseFactor, maxHoldMs } = this.#o;
    if (
      ![retentionMs, windowMs, intervalMs, framesPerTurn].every(positive) ||
      !(pauseFactor >= 0 && maxHoldMs >= 0)
    )
      throw new RangeError('RetentionShredder: durations and bounds must be positive whole numbers');
    this.hold = new ShredHold(this.#o.now);
  }

  /** Starts the turns: the first after `intervalMs`. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(this.#o.intervalMs);
  }

  /**
   * Runs one turn now (between the ingest's commits): what it did, and the ms it took. The
   * keys destroyed are counted and told even when the deletion of ciphertexts after them
   * fails (then it throws, after).
   */
  async runOnce(): Promise<ShredResult & { ms: number }> {
    const o = this.#o;
    let ms = 0;
    let failed: unknown;
    const r = await o.ingest.betweenFlushes(() => {
      const t0 = performance.now();
      try {
        const done = shredExpired(o.store, o.retentionMs, o.now(), {
          windowMs: o.windowMs,
          maxFrames: o.framesPerTurn,
          checkpoint: 'none',
          sweep: false,
        });
        try {
          const swept = sweepExpired(o.store, o.framesPerTurn);
          return { ...done, deleted: swept.deleted, more: done.more || swept.more };
        } catch (err) {
          failed = err;
          return done;
        }
      } finally {
        ms = performance.now() - t0;
      }
    });
    this.stats.turns += 1;
    this.stats.keys += r.keys;
    this.stats.records += r.records;
    this.stats.frames += r.frames;
    this.stats.deleted += r.deleted;
    if (r.keys + r.deleted > 0) o.onShred?.(r, ms);
    if (failed !== undefined) throw failed;
    return { ...r, ms };
  }

  /** Stops the turns; a turn under way ends first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#turn;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#turn = this.#next().finally(() => {
        this.#turn = null;
      });
    }, ms);
    this.#timer.unref();
  }

  async #next(): Promise<void> {
    const since = this.hold.heldSince;
    if (since !== null && this.#o.now() - since < this.#o.maxHoldMs) {
      this.stats.held += 1;
      this.#schedule(Math.min(HELD_RETRY_MS, this.#o.intervalMs));
      return;
    }
    let wait = this.#o.intervalMs;
    try {
      const r = await this.runOnce();
      if (r.more) wait = Math.max(1, Math.ceil(r.ms * this.#o.pauseFactor));
    } catch (err) {
      this.stats.failures += 1;
      this.#o.onError?.(err);
    }
    this.#schedule(wait);
  }
}
