/**
 * @module io/interfaces/delivery
 * The delivery engine of the outbound interfaces (issue 19): one worker per receiver moves
 * a durable cursor along the log (io/interfaces/delivery-state). Each round reads the next
 * readings from durable state (io/interfaces/reading-source), hands them to the receiver in
 * log order, and advances the cursor past what the receiver acknowledged, in one fsync'd
 * write. So:
 * - nothing is skipped: the source is the append-only log, and the cursor moves only past
 *   acknowledged readings (or ones the receiver refused, which are kept as dead letters);
 * - order: one device's readings go in seq order, one patient's in acceptance order, and a
 *   reading waits for the ones before it (a receiver that is down holds the queue, it does
 *   not reorder it);
 * - a receiver down for an hour loses nothing: `receiver_unavailable` is retried with
 *   exponential backoff (1 s doubling to 60 s), and the readings wait in the log;
 * - at least once across a crash, effectively once at the receiver: readings acknowledged
 *   but not yet recorded are sent again with the same identifiers, which the receiver
 *   de-duplicates (io/interfaces/receiver).
 * Ingest never waits for delivery: the worker reads the store on its own timer.
 *
 * Dead letters asked for again (`vitaltrail outbound replay`, io/interfaces/delivery-state
 * `requestReplay`) go first in a round, one at a time in the order they were set aside,
 * built again by the source from durable state with their original identifiers (MSH-10,
 * FHIR identifier, webhook event id: a receiver that already holds one de-duplicates it).
 * Acknowledged: marked replayed (the row is kept). Refused again: it stays a dead letter
 * with the new reason. Receiver unavailable: retried with the backoff, before the cursor
 * moves on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { logCode } from '../../protocol/errors.js';
import type { Logger } from '../ops/index.js';
import type { CursorRow, DeliveryState } from './delivery-state.js';
import { DeliveryError, type DeliverySource, type OutboundReading, type Receiver } from './receiver.js';

export interface DeliveryOptions<T = OutboundReading> {
  receiver: Receiver<T>;
  state: DeliveryState;
  source: DeliverySource<T>;
  /** Where a receiver seen for the first time starts (e.g. the log's size: only new readings). */
  startLeaf: number;
  /** Readings per round (default 50). */
  batch?: number;
  /** Idle poll interval, ms (default 250). */
  pollMs?: number;
  /** Backoff after a failure: `minMs` doubling up to `maxMs` (default 1 s to 60 s). */
  backoff?: { minMs: number; maxMs: number };
  now?: () => number;
  log?: Pick<Logger, 'warn' | 'info'>;
}

export class DeliveryWorker<T = OutboundReading> {
  readonly #o: Required<Omit<DeliveryOptions<T>, 'log'>> & Pick<DeliveryOptions<T>, 'log'>;
  #nextTryAt = 0;
  /** Rounds in a row whose state could not be read or written (`tick`). */
  #stateFailures = 0;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(o: DeliveryOptions<T>) {
    this.#o = {
      batch: 50,
      pollMs: 250,
      backoff: { minMs: 1000, maxMs: 60_000 },
      now: Date.now,
      ...o,
    };
  }

  get name(): string {
    return this.#o.receiver.name;
  }

  /** The receiver's durable state. */
  cursor(): CursorRow {
    return this.#o.state.cursor(this.name, this.#o.startLeaf, this.#o.source.kind);
  }

  /**
   * One round: delivers the next batch (or waits out the backoff).
   * @returns the items the receiver acknowledged in this round (replayed dead letters included).
   */
  async tick(): Promise<number> {
    const o = this.#o;
    const now = o.now();
    if (now < this.#nextTryAt) return 0;
    try {
      const cursor = o.state.position(this.name, o.startLeaf, o.source.kind);
      const replayed = await this.#replay(cursor.failures);
      if (replayed === null) return 0;
      const n = replayed + (await this.#round(cursor));
      if (this.#stateFailures > 0)
        o.log?.info('outbound state writable again', { receiver: this.name, after: this.#stateFailures });
      this.#stateFailures = 0;
      return n;
    } catch (err) {
      // Its own state could not be read or written (a full disk: SQLITE_FULL). What the
      // receiver acknowledged meanwhile goes again once it can be recorded (the receiver
      // de-duplicates), after the backoff of a receiver that is down: not at every poll,
      // and told once.
      if (this.#stateFailures === 0)
        o.log?.warn('outbound state could not be written; retrying with backoff', {
          receiver: this.name,
          code: logCode(err),
        });
      this.#nextTryAt = o.now() + this.#backoff(this.#stateFailures);
      this.#stateFailures++;
      throw err;
    }
  }

  /** The wait after `failures` failures in a row: `minMs` doubling up to `maxMs`. */
  #backoff(failures: number): number {
    const { minMs, maxMs } = this.#o.backoff;
    return Math.min(maxMs, minMs * 2 ** Math.min(failures, 16));
  }

  /**
   * Sends the dead letters asked for again, oldest first (at most a batch).
   * @returns how many the receiver acknowledged, or null when it was unavailable (backoff).
   */
  async #replay(failuresBefore: number): Promise<number | null> {
    const o = this.#o;
    let done = 0;
    for (const d of o.state.replayRequests(this.name, o.batch)) {
      let item: T | 'shredded' | null;
      try {
        item = await o.source.item(d.item, d.position);
      } catch (err) {
        this.#failed(`source: ${(err as { code?: string }).code ?? 'error'}`, failuresBefore);
        return null;
      }
      if (item === null || item === 'shredded') {
        const [code, gone] =
          item === 'shredded'
            ? ['shredded', 'its readings were shredded']
            : ['not_found', 'the store holds no such item for this receiver'];
        o.state.replayRefused(this.name, d, code, `nothing to replay: ${gone}`, o.now());
        continue;
      }
      try {
        await o.receiver.deliver([item]);
      } catch (err) {
        const e = err instanceof DeliveryError ? err : null;
        if (e?.code === 'receiver_rejected') {
          o.state.replayRefused(this.name, d, e.code, e.reason, o.now());
          o.log?.warn('outbound dead letter refused again', { receiver: this.name, item: d.item });
          continue;
        }
        this.#failed(
          e ? `${e.code}: ${e.reason}` : 'receiver_unavailable: the receiver failed',
          failuresBefore,
        );
        return null;
      }
      o.state.replayed(this.name, d.id, o.now());
      o.log?.info('outbound dead letter replayed', { receiver: this.name, item: d.item });
      done++;
    }
    return done;
  }

  /** One round of the cursor (`tick`). */
  async #round(cursor: { nextLeaf: number; failures: number }): Promise<number> {
    const o = this.#o;
    let batch: { items: T[]; next: number };
    try {
      batch = await o.source.after(cursor.nextLeaf, o.batch);
    } catch (err) {
      this.#failed(`source: ${(err as { code?: string }).code ?? 'error'}`, cursor.failures);
      return 0;
    }
    const { items: readings, next: nextLeaf } = batch;
    if (readings.length === 0) {
      // Only shredded frames in this stretch: nothing to send, move past them.
      if (nextLeaf > cursor.nextLeaf) o.state.advance(this.name, nextLeaf, 0, o.now());
      return 0;
    }
    try {
      await o.receiver.deliver(readings);
    } catch (err) {
      const e =
        err instanceof DeliveryError
          ? (err as DeliveryError & { delivered?: number })
          : Object.assign(new DeliveryError('receiver_unavailable', 'the receiver failed', { cause: err }), {
              delivered: 0,
            });
      const done = Math.min(Math.max(e.delivered ?? 0, 0), readings.length);
      if (done > 0) o.state.advance(this.name, o.source.positionOf(readings[done - 1]!) + 1, done, o.now());
      const at = readings[done];
      if (e.code === 'receiver_rejected' && at) {
        o.state.deadLetter(this.name, o.source.idOf(at), o.source.positionOf(at), e.reason, o.now());
        o.log?.warn('outbound reading refused, set aside', {
          receiver: this.name,
          item: o.source.idOf(at),
          code: e.code,
        });
        return done;
      }
      this.#failed(`${e.code}: ${e.reason}`, cursor.failures);
      return done;
    }
    o.state.advance(this.name, nextLeaf, readings.length, o.now());
    return readings.length;
  }

  #failed(error: string, failuresBefore: number): void {
    const o = this.#o;
    this.#nextTryAt = o.now() + this.#backoff(failuresBefore);
    o.state.fail(this.name, error, o.now());
    if (failuresBefore === 0)
      o.log?.warn('outbound receiver unavailable, retrying', { receiver: this.name, error });
  }

  /** Runs rounds until `stop`: at once after a full round, else every `pollMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = (async () => {
      while (!this.#stopped) {
        let n = 0;
        try {
          n = await this.tick();
        } catch {
          // told by `tick`, which waits out the backoff before the next round
        }
        if (n < this.#o.batch) await sleep(this.#o.pollMs);
      }
    })();
  }

  /** Stops after the round in flight, and closes the receiver. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
    await this.#o.receiver.close();
  }
}
