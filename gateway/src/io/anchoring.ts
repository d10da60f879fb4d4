/**
 * @module io/anchoring
 * Checkpoints and their anchoring (ARCHITECTURE.md guarantee 5, PROTOCOL.md §3-4).
 * Every interval, if the log grew, a checkpoint (tree size, root) is written durably to
 * the store: that row is the outbox entry. One submitter sends pending checkpoints in
 * tree-size order, one transaction at a time, with exponential backoff on failure;
 * ingest never waits for it. The contract refuses a tree size that does not grow, so a
 * resend after a crash is harmless: on that refusal, and on start (`reconcile`), the
 * submitter reads the log's anchors from the chain and marks what is already there.
 */
import { createHash } from 'node:crypto';
import type { AnchorRecord, Hex, LedgerClient } from '../../../anchor/src/ledger/types.js';
import { isVitalTrailError } from '../protocol/errors.js';
import type { CheckpointRow, GatewayStore } from './store.js';

/** PROTOCOL.md §3: origin line of the checkpoint; logId = SHA-256(origin). */
export function checkpointOrigin(gatewayId: string): string {
  return `vitaltrail/${gatewayId}`;
}

export function logIdOf(origin: string): Hex {
  return `0x${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}

export const toHex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`;

/** PROTOCOL.md §3: the C2SP tlog-checkpoint body. */
export function checkpointText(origin: string, treeSize: number, root: Uint8Array): string {
  return `${origin}\n${treeSize}\n${Buffer.from(root).toString('base64')}\n`;
}

export interface AnchoringOptions {
  store: GatewayStore;
  ledger: LedgerClient;
  logId: Hex;
  /** How often a checkpoint is cut (if the log grew). */
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Ceiling of the retry backoff. Default 30 s. */
  maxBackoffMs?: number;
}

export interface AnchoringStatus {
  pending: number;
  oldestPendingAgeMs: number | null;
  lastAnchoredSize: number;
  lastError: string | null;
}

export class Anchorer {
  readonly #o: AnchoringOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #backoffMs = 0;
  #nextTryAt = 0;
  #lastError: string | null = null;
  #stopped = false;

  constructor(opts: AnchoringOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Reconciles with the chain, then cuts and submits checkpoints every interval. */
  async start(): Promise<void> {
    this.#stopped = false;
    try {
      await this.reconcile();
    } catch (err) {
      this.#fail(err);
    }
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One round: cut a checkpoint if the log grew, then submit what is pending. */
  tick(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      try {
        this.checkpointNow();
        if (this.#now() >= this.#nextTryAt) await this.submitPending();
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  /** Writes a checkpoint of the current log if it grew since the last one. */
  checkpointNow(): CheckpointRow | undefined {
    const { store } = this.#o;
    const size = store.size;
    const last = store.lastCheckpoint();
    if (size === 0 || (last && last.treeSize >= size)) return undefined;
    store.addCheckpoint(size, store.root(size), this.#now());
    return store.getCheckpoint(size);
  }

  /** Sends pending checkpoints in order; stops at the first failure and backs off. */
  async submitPending(): Promise<number> {
    const { store, ledger, logId } = this.#o;
    let sent = 0;
    for (const c of store.pendingCheckpoints()) {
      if (this.#stopped) break;
      try {
        const r = await ledger.anchor({
          logId,
          treeSize: c.treeSize,
          rootHash: toHex(c.root),
          checkpointTime: c.createdAt,
        });
        store.markAnchored(c.treeSize, r.txHash, r.blockNumber, this.#now());
        sent += 1;
      } catch (err) {
        if (isVitalTrailError(err, 'tree_size_not_increasing')) {
          // Already there (a resend after a crash), or overtaken: settle it from the chain.
          await this.reconcile();
          continue;
        }
        this.#fail(err);
        return sent;
      }
    }
    this.#backoffMs = 0;
    this.#nextTryAt = 0;
    this.#lastError = null;
    return sent;
  }

  /**
   * Marks pending checkpoints that the chain already holds as anchored, and those the
   * chain has overtaken (a larger anchored tree) as superseded. Run on start: a dev
   * chain may also have lost recent blocks, and anything missing stays pending.
   */
  async reconcile(): Promise<void> {
    const { store, ledger, logId } = this.#o;
    const anchors: AnchorRecord[] = await ledger.getAnchors(logId);
    const bySize = new Map(anchors.map((a) => [a.treeSize, a]));
    const maxOnChain = anchors.reduce((m, a) => Math.max(m, a.treeSize), 0);
    for (const c of store.pendingCheckpoints()) {
      const a = bySize.get(c.treeSize);
      if (a && a.rootHash.toLowerCase() === toHex(c.root)) {
        store.markAnchored(c.treeSize, a.txHash, a.blockNumber, this.#now());
      } else if (c.treeSize <= maxOnChain) {
        store.markSuperseded(c.treeSize);
      }
    }
  }

  status(): AnchoringStatus {
    const pending = this.#o.store.pendingCheckpoints();
    const oldest = pending[0];
    return {
      pending: pending.length,
      oldestPendingAgeMs: oldest ? this.#now() - oldest.createdAt : null,
      lastAnchoredSize: this.#o.store.latestAnchored()?.treeSize ?? 0,
      lastError: this.#lastError,
    };
  }

  #fail(err: unknown): void {
    this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 500), this.#o.maxBackoffMs ?? 30_000);
    this.#nextTryAt = this.#now() + this.#backoffMs;
    this.#lastError = isVitalTrailError(err) ? err.code : 'ledger_unavailable';
    this.#o.onError?.(err);
  }
}
