/**
 * @module io/data-keys/ring
 * The sealing side of the sealed store (io/store/sealed): the current data key of each
 * device, one per (device, time window), made and durably recorded before its first use.
 * A key is made anew at a window boundary, after `maxFramesPerKey` frames, or when the
 * recipient set has changed. Raw keys are held only in memory, as non-extractable CryptoKeys.
 *
 * Making a key costs ~0.2-1.5 ms of CPU (a JWE wrapping it for every recipient: an ephemeral
 * P-256 key agreement for an EC recipient, RSA-OAEP for an RSA one) and a share of an
 * fsync'd transaction. So that no commit waits for them (issue 14), the ring can make keys
 * before they are needed:
 * - `prepare`: the keys for the window of a given time, e.g. of the devices whose frames a
 *   commit has to set aside (io/data-keys/gate) or that have just connected;
 * - `prepareAhead`: near the end of a window, the next window's keys of the devices that
 *   used one in this window (io/data-keys/ahead), so the top of the hour, when every device
 *   of the ward needs a new key at once, makes none on the ingest's path.
 * A key made ahead is recorded with its own window's start; a device that falls silent before
 * that window leaves an unused key row, which expires and is shredded as any other.
 */
import { createDataKey, type Recipient } from '../../core/envelope.js';
import {
  DEFAULT_KEY_WINDOW_MS,
  dataKeyAad,
  type GatewayStore,
  SealedError,
  sealingStatements,
} from '../store/index.js';

/** Default early rotation: 2^20 frames per data key (random 96-bit IVs allow 2^32). */
export const DEFAULT_MAX_FRAMES_PER_KEY = 1 << 20;

interface OpenKey {
  id: number;
  key: CryptoKey;
  windowStart: number;
  uses: number;
  recipientsStamp: string;
}

export interface DataKeyRingOptions {
  /** Window of one data key, gateway clock. Default 1 h. */
  windowMs?: number;
  /** Rotate a data key early after this many frames. Default 2^20. */
  maxFramesPerKey?: number;
}

/** What the ring has made so far, and where. */
export interface DataKeyRingStats {
  /** Keys made for the window they were asked for (`prepare`, `takeAll`). */
  made: number;
  /** Keys made ahead for the next window (`prepareAhead`). */
  madeAhead: number;
  /** Keys made ahead and then used in their window. */
  usedAhead: number;
}

export class DataKeyRing {
  readonly #recipients: () => readonly Recipient[];
  #stampOf: { set: readonly Recipient[]; stamp: string } | null = null;
  readonly #windowMs: number;
  readonly #maxUses: number;
  /** The key each device uses now. */
  readonly #open = new Map<string, OpenKey>();
  /** Keys made ahead, for a window after the open key's. */
  readonly #ahead = new Map<string, OpenKey>();
  /** Keys being made, by device and window (`dev \0 windowStart`). */
  readonly #making = new Map<string, Promise<void>>();
  readonly #sql: ReturnType<typeof sealingStatements>;
  #nextId: number;
  readonly stats: DataKeyRingStats = { made: 0, madeAhead: 0, usedAhead: 0 };

  constructor(
    store: GatewayStore,
    recipients: readonly Recipient[] | (() => readonly Recipient[]),
    opts: DataKeyRingOptions = {},
  ) {
    this.#recipients = typeof recipients === 'function' ? recipients : () => recipients;
    this.#windowMs = opts.windowMs ?? DEFAULT_KEY_WINDOW_MS;
    this.#maxUses = opts.maxFramesPerKey ?? DEFAULT_MAX_FRAMES_PER_KEY;
    if (!(this.#windowMs > 0)) throw new RangeError('DataKeyRing: windowMs must be positive');
    if (!Number.isInteger(this.#maxUses) || this.#maxUses < 1 || this.#maxUses > 2 ** 32 - 1) {
      throw new RangeError('DataKeyRing: maxFramesPerKey must be an integer from 1 to 2^32-1');
    }
    this.#sql = sealingStatements(store);
    this.#nextId = this.#sql.lastKeyId() + 1;
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /** The start of the window gateway time `now` falls in. */
  windowStartOf(now: number): number {
    return Math.floor(now / this.#windowMs) * this.#windowMs;
  }

  /**
   * Stores the sealed frame of leaf `leafIndex` (a COSE_Encrypt0 under data key `keyId`); to
   * be run inside the store's commit of that leaf (`GatewayStore.commitBatch`'s
   * `alsoInTransaction`).
   */
  putSealedFrame(leafIndex: number, keyId: number, envelope: Uint8Array): void {
    this.#sql.insertFrame.run(leafIndex, keyId, envelope);
  }

  /** The devices of `devs` that have no key for a frame sealed at `now` (each once, in order). */
  missing(devs: Iterable<string>, now: number): string[] {
    const windowStart = this.windowStartOf(now);
    const stamp = this.#stamp();
    const out = new Set<string>();
    for (const dev of devs) if (!out.has(dev) && !this.#usable(dev, windowStart, stamp)) out.add(dev);
    return [...out];
  }

  /**
   * Makes and durably records, together, the key of each of `devs` for the window of `now`
   * that has none; a key already being made for that window is waited for, not made twice.
   * @throws {SealedError} `store_failed` when the keys could not be recorded (none is used).
   */
  prepare(devs: readonly string[], now: number): Promise<void> {
    return this.#prepare(devs, this.windowStartOf(now), this.#stamp(), now);
  }

  /**
   * From `leadMs` before the end of the window of `now`: makes the next window's keys of
   * up to `limit` devices that have a key in this window and none made ahead yet.
   * @returns how many keys it made (0: none is left to make, or it is too early).
   * @throws {SealedError} `store_failed` when the keys could not be recorded.
   */
  async prepareAhead(now: number, leadMs: number, limit: number): Promise<number> {
    const windowStart = this.windowStartOf(now);
    const next = windowStart + this.#windowMs;
    if (now < next - leadMs) return 0;
    const stamp = this.#stamp();
    const devs: string[] = [];
    for (const [dev, k] of this.#open) {
      if (devs.length >= limit) break;
      if (k.windowStart !== windowStart || this.#making.has(`${dev}\u0000${next}`)) continue;
      const a = this.#ahead.get(dev);
      if (a && a.windowStart === next && a.recipientsStamp === stamp) continue;
      devs.push(dev);
    }
    if (devs.length === 0) return 0;
    await this.#make(devs, next, stamp, now, this.#ahead);
    return devs.length;
  }

  /** `takeAll` for one frame of `dev`. */
  async take(dev: string, now: number): Promise<{ id: number; key: CryptoKey }> {
    return (await this.takeAll([dev], now))[0] as { id: number; key: CryptoKey };
  }

  /**
   * Reserves one use of the current data key of each of `devs` at gateway time `now`, in
   * order (a device may repeat: one use each), making the keys that are missing first.
   * @throws {SealedError} `store_failed` when a new key could not be recorded durably.
   */
  async takeAll(devs: readonly string[], now: number): Promise<{ id: number; key: CryptoKey }[]> {
    const windowStart = this.windowStartOf(now);
    const stamp = this.#stamp();
    const picks: OpenKey[] = new Array(devs.length);
    let todo = devs.map((_, i) => i);
    // The frames whose devices have no usable key get one made, then are picked in the next
    // round (another only if a key runs out of uses on the way: maxFramesPerKey).
    for (let round = 0; todo.length > 0; round += 1) {
      const short: number[] = [];
      for (const i of todo) {
        const k = this.#usable(devs[i] as string, windowStart, stamp);
        if (!k) {
          short.push(i);
          continue;
        }
        k.uses += 1;
        picks[i] = k;
      }
      if (short.length > 0) {
        if (round > devs.length)
          throw new SealedError('store_failed', 'a data key could not be made for the window');
        await this.#prepare(
          short.map((i) => devs[i] as string),
          windowStart,
          stamp,
          now,
        );
      }
      todo = short;
    }
    return picks.map((k) => ({ id: k.id, key: k.key }));
  }

  /** The recipient set's kids, joined: recomputed only when the set itself is another one. */
  #stamp(): string {
    const set = this.#recipients();
    if (this.#stampOf?.set !== set)
      this.#stampOf = {
        set,
        stamp: set.map((r) => r.kid).join('\u0000'),
      };
    return this.#stampOf.stamp;
  }

  /** The key of `dev` for `windowStart` with uses left, taking one made ahead when it is due. */
  #usable(dev: string, windowStart: number, stamp: string): OpenKey | undefined {
    const k = this.#open.get(dev);
    if (k && k.windowStart === windowStart && k.uses < this.#maxUses && k.recipientsStamp === stamp) return k;
    const a = this.#ahead.get(dev);
    if (!a || a.windowStart > windowStart) return undefined;
    this.#ahead.delete(dev);
    if (a.windowStart < windowStart || a.recipientsStamp !== stamp) return undefined;
    this.#open.set(dev, a);
    this.stats.usedAhead += 1;
    return a;
  }

  async #prepare(devs: readonly string[], windowStart: number, stamp: string, now: number): Promise<void> {
    const waits: Promise<void>[] = [];
    const todo: string[] = [];
    for (const dev of new Set(devs)) {
      const under = this.#making.get(`${dev}\u0000${windowStart}`);
      if (under) waits.push(under);
      else if (!this.#usable(dev, windowStart, stamp)) todo.push(dev);
    }
    if (todo.length > 0) waits.push(this.#make(todo, windowStart, stamp, now, this.#open));
    await Promise.all(waits);
  }

  /**
   * Makes a key of each of `devs` for `windowStart`: wrapped for the recipients concurrently
   * (WebCrypto jobs), then recorded together in one fsync'd transaction, durable before
   * first use (a thousand devices' keys cost one fsync, not a thousand in a row); only then
   * put in `into`, so a failure leaves no key in use that the store does not hold.
   */
  #make(
    devs: readonly string[],
    windowStart: number,
    stamp: string,
    now: number,
    into: Map<string, OpenKey>,
  ): Promise<void> {
    const recipients = this.#recipients();
    // Ids are reserved synchronously: concurrent makings never share one.
    const ids = devs.map(() => this.#nextId++);
    const made = (async () => {
      const created = await Promise.all(
        devs.map((dev, i) => createDataKey(recipients, dataKeyAad(ids[i] as number, dev, windowStart))),
      );
      try {
        this.#sql.insertKeys(devs.map((dev, i) => [ids[i], dev, windowStart, now, created[i]?.envelope]));
      } catch (err) {
        throw new SealedError('store_failed', 'a data key could not be recorded', { cause: err });
      }
      if (into === this.#ahead) this.stats.madeAhead += devs.length;
      else this.stats.made += devs.length;
      devs.forEach((dev, i) => {
        const held = into.get(dev);
        // Never over a key of a later window (a slow making finishing after a newer one).
        if (held && held.windowStart > windowStart) return;
        const key = (created[i] as { key: CryptoKey }).key;
        into.set(dev, { id: ids[i] as number, key, windowStart, uses: 0, recipientsStamp: stamp });
      });
    })();
    const done = made.finally(() => {
      for (const dev of devs) {
        const slot = `${dev}\u0000${windowStart}`;
        if (this.#making.get(slot) === done) this.#making.delete(slot);
      }
    });
    for (const dev of devs) this.#making.set(`${dev}\u0000${windowStart}`, done);
    return done;
  }
}
