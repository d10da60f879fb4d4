/**
 * @module io/anchoring/checkpointer
 * Signed checkpoints of a gateway that has no ledger configured yet (PROTOCOL.md §3;
 * ARCHITECTURE.md guarantee 5). Every interval, if the log grew, a checkpoint is cut, signed
 * (C2SP signed note) and written durably to the anchoring outbox, exactly as the anchorer
 * (io/anchoring/anchoring) does; nothing is submitted. The rows stay `pending`, never dropped:
 * when the gateway starts again with a ledger on the same data directory, the anchorer finds
 * them in the outbox and anchors them oldest first, so the history of the ledger-less period
 * has checkpoints signed at their own time.
 *
 * The outbox has no count limit (a checkpoint per interval, only when the log grew, and none
 * is ever deleted): at the default 10 s interval a ward that never pauses adds at most 8,640
 * rows (about 2 MB with their signed notes) a day, each one a transaction at the catch-up.
 *
 * The data directory records whether its gateway last ran with a ledger (`meta`
 * `anchoring_ledger`: `none`, or the anchors contract), so `vitaltrail anchors status`, which
 * reads the store offline, can say "no ledger configured" instead of "not anchored".
 */
import type { Hex } from '../../../../anchor/src/ledger/index.js';
import type { CheckpointRow, GatewayStore } from '../store/index.js';
import type { CheckpointSigner } from './checkpoints.js';

/**
 * What cutting, signing and anchoring checkpoints needs of a log and its outbox. The readings'
 * log (`GatewayStore`, its `checkpoints` table) is one; the access log (io/access `AccessLog`,
 * issue 18) is another, with its own tables: one anchorer per log.
 */
export interface AnchorableLog {
  /** Number of leaves. */
  readonly size: number;
  /** The RFC 9162 root of the first `size` leaves. */
  root(size: number): Uint8Array;
  /** Records a checkpoint durably (the outbox entry); nothing when that size exists. */
  addCheckpoint(treeSize: number, root: Uint8Array, createdAt: number): void;
  lastCheckpoint(): CheckpointRow | undefined;
  getCheckpoint(treeSize: number): CheckpointRow | undefined;
  pendingCheckpoints(): CheckpointRow[];
  markAnchored(treeSize: number, txHash: string, blockNumber: number, at: number): void;
  markSuperseded(treeSize: number): void;
  latestAnchored(): CheckpointRow | undefined;
  readonly checkpoints: {
    /** The anchored checkpoints, newest first (no other statement may run until the iteration ends). */
    anchoredNewestFirst(): Iterable<CheckpointRow>;
  };
}

/** Where a log's signed notes go: io/anchoring `CheckpointNotes` (readings), io/access `AccessLog`. */
export interface AnchorableNotes {
  /** Writes a checkpoint and its signed note in one transaction; nothing when that size exists. */
  addSigned(treeSize: number, root: Uint8Array, createdAt: number, signer: CheckpointSigner | null): void;
  /** Puts every checkpoint above `treeSize` back in the outbox; returns how many. */
  reopenAbove(treeSize: number): number;
}

/** What cutting a checkpoint needs: the store, and the notes table and signer for a signed note. */
export interface CutCheckpointParameters {
  store: AnchorableLog;
  /** Where the signed note goes (same transaction as the outbox row). Default: no note. */
  notes?: AnchorableNotes;
  /** Signs the checkpoint; needs `notes`. Default: unsigned. */
  signer?: CheckpointSigner;
  /** The checkpoint's creation time (ms). */
  now: number;
}

/**
 * Writes a checkpoint of the current log (the outbox row, and its signed note) if the log
 * grew since the last one. The row is durable before anything may submit it.
 * @returns the new checkpoint, or undefined when the log did not grow.
 * @example
 * cutCheckpoint({ store, notes, signer, now: Date.now() }); // { treeSize: 12, state: 'pending', … }
 */
export function cutCheckpoint(p: CutCheckpointParameters): CheckpointRow | undefined {
  const { store } = p;
  const size = store.size;
  const last = store.lastCheckpoint();
  if (size === 0 || (last && last.treeSize >= size)) return undefined;
  if (p.notes) p.notes.addSigned(size, store.root(size), p.now, p.signer ?? null);
  else store.addCheckpoint(size, store.root(size), p.now);
  return store.getCheckpoint(size);
}

/** The `meta` key naming the ledger the gateway of a data directory last ran with. */
export const LEDGER_META_KEY = 'anchoring_ledger';

/** What `recordedLedger` reads: `none`, an anchors contract, or null (never recorded). */
export type RecordedLedger = 'none' | Hex | null;

/**
 * Records the ledger this start runs with: the anchors contract, or none.
 * @example
 * recordLedger(store, null); // anchors status: "no ledger configured"
 */
export function recordLedger(store: GatewayStore, anchors: Hex | null): void {
  store.setMeta(LEDGER_META_KEY, anchors === null ? 'none' : anchors.toLowerCase());
}

/** The ledger the gateway of this store last ran with; null for a gateway that never recorded one. */
export function recordedLedger(store: GatewayStore): RecordedLedger {
  const v = store.getMeta(LEDGER_META_KEY);
  if (v === undefined) return null;
  return v === 'none' ? 'none' : (v as Hex);
}

export interface CheckpointerOptions {
  store: AnchorableLog;
  notes: AnchorableNotes;
  signer: CheckpointSigner;
  /** How often a checkpoint is cut (if the log grew). */
  intervalMs: number;
  now?: () => number;
  /** A failed cut (a store failure); the next interval tries again. */
  onError?: (err: unknown) => void;
}

/** Cuts signed checkpoints into the outbox every interval; submits nothing (no ledger). */
export class Checkpointer {
  readonly #o: CheckpointerOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: CheckpointerOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError('intervalMs must be a positive number of ms');
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Starts the interval timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** One interval: a checkpoint if the log grew; a store failure goes to `onError`. */
  tick(): CheckpointRow | undefined {
    try {
      return this.checkpointNow();
    } catch (err) {
      this.#o.onError?.(err);
      return undefined;
    }
  }

  /** Writes a signed checkpoint of the current log if it grew since the last one. */
  checkpointNow(): CheckpointRow | undefined {
    const { store, notes, signer } = this.#o;
    return cutCheckpoint({ store, notes, signer, now: this.#now() });
  }

  /** Graceful stop: stops the timer, then cuts a last checkpoint holding every frame answered. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.tick();
  }
}
