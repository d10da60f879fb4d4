/**
 * @module io/anchoring/anchoring
 * Checkpoints and their anchoring (ARCHITECTURE.md guarantee 5, PROTOCOL.md §3-4).
 * Every interval, if the log grew, a checkpoint (tree size, root) is written durably to
 * the store: that row is the outbox entry. One submitter sends pending checkpoints in
 * tree-size order, one transaction at a time, with exponential backoff on failure;
 * ingest never waits for it. The contract refuses a tree size that does not grow, so a
 * resend after a crash is harmless: on that refusal, and on start (`reconcile`), the
 * submitter reads the log's anchors from the chain and marks what is already there.
 *
 * Robustness (ARCHITECTURE.md guarantee 5):
 * - Backoff: after a failure the next attempt waits 0.5 s, 1 s, 2 s … up to `maxBackoffMs`,
 *   each delay drawn uniformly from [d/2, d] ("equal jitter"), so gateways that lost the same
 *   ledger do not retry in lockstep. Ingest and checkpoint cutting go on meanwhile.
 * - Idempotent by tree size: the contract refuses a tree size that does not grow
 *   (`tree_size_not_increasing`), so a resend of a checkpoint that already landed changes
 *   nothing on chain; the refusal triggers `reconcile`, which marks it anchored with the
 *   chain's tx hash and block.
 * - Stuck transactions: a transaction sent but not mined within the viem client's receipt
 *   timeout is not replaced with the same nonce and higher fees. QBFT consortium chains run
 *   with zero gas price (a fee bump buys nothing) and anvil mines on arrival; the strictly
 *   growing rule makes a second transaction for the same tree size harmless instead: whichever
 *   is mined first anchors it, the other reverts, and `reconcile` settles the row. The cost is
 *   at most one reverted transaction per stuck anchor; an anchor is never doubled.
 * - Lost blocks: a dev node restarted from older state has lost the latest anchors.
 *   `reconcile` (on start, after every refusal, and after `resync` when the embedded chain's
 *   watchdog saw the node go down or come back) puts every local checkpoint above the chain's
 *   largest anchored tree size back in the outbox, so it is resubmitted, in order; one the
 *   chain lost but has already overtaken (a larger anchor landed first) is superseded, so the
 *   store never names a transaction the chain does not hold.
 */
import type { AnchorRecord, Deployment, Hex, LedgerClient } from '../../../../anchor/src/ledger/index.js';
import { formatCheckpoint } from '../../../../anchor/src/log/index.js';
import { toHex } from '../../core/log-names.js';
import { isVitalTrailError } from '../../protocol/errors.js';
import type { CheckpointRow } from '../store/index.js';
import { type AnchorableLog, type AnchorableNotes, cutCheckpoint } from './checkpointer.js';
import type { CheckpointSigner } from './checkpoints.js';

/** The name of a deployment's anchors for a reconcile's mark (`AnchoringOptions.marks`). */
export function ledgerMarkOf(d: Deployment): string {
  return `${d.chainId}:${d.anchors.toLowerCase()}`;
}

/** PROTOCOL.md §3: the C2SP tlog-checkpoint body. */
export function checkpointText(origin: string, treeSize: number, root: Uint8Array): string {
  return formatCheckpoint({ origin, treeSize, rootHash: root });
}

export interface AnchoringOptions {
  /** The log and its outbox: the readings' log (GatewayStore) or the access log (io/access). */
  store: AnchorableLog;
  ledger: LedgerClient;
  logId: Hex;
  /** How often a checkpoint is cut (if the log grew). */
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Ceiling of the retry backoff. Default 30 s. */
  maxBackoffMs?: number;
  /** Where signed notes go, with the checkpoint rows (same transaction). Default: no notes. */
  notes?: AnchorableNotes;
  /** Signs each checkpoint (C2SP signed note); needs `notes`. Default: unsigned. */
  signer?: CheckpointSigner;
  /**
   * How long `start` waits for the first reconcile: past it the start returns, the status says
   * `ledger_unavailable`, and the reconcile goes on in the background (a chain that accepts
   * connections and never answers must not hold the gateway's start for viem's 30 s per call).
   * Default `DEFAULT_FIRST_CONTACT_MS` (3 s).
   */
  firstContactMs?: number;
  /** Uniform [0, 1) for the backoff jitter. Default Math.random. */
  random?: () => number;
  /**
   * Where the reconcile keeps its mark (`reconcile`): `meta`, io/store `GatewayStore`'s meta
   * table, under `anchor_mark:<ledger>:<logId>`, where `ledger` names the chain and the anchors
   * contract (another deployment starts without a mark). Default: none, so every reconcile
   * reads the chain since the deployment.
   */
  marks?: {
    meta: { getMeta(key: string): string | undefined; setMeta(key: string, value: string): void };
    ledger: string;
  };
}

/** The chain's head when a reconcile last completed (its number and hash). */
interface ReconcileMark {
  n: number;
  hash: string;
}

/** Default of `AnchoringOptions.firstContactMs`. */
export const DEFAULT_FIRST_CONTACT_MS = 3000;

/** Floor of the retry backoff. */
const MIN_BACKOFF_MS = 500;

export interface AnchoringStatus {
  pending: number;
  oldestPendingAgeMs: number | null;
  lastAnchoredSize: number;
  lastError: string | null;
  /**
   * Time since anchoring last made progress (a checkpoint anchored, or settled from the chain),
   * or since the anchorer started if it has not yet: a backlog that drains is not a stall
   * (core/health).
   */
  sinceProgressMs: number;
}

export class Anchorer {
  readonly #o: AnchoringOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #backoffMs = 0;
  #nextTryAt = 0;
  #lastError: string | null = null;
  #stopped = false;
  /** Set once a reconcile succeeded; until then each round starts with one. */
  #reconciled = false;
  /** When anchoring last made progress (or the anchorer was made). */
  #progressAt: number;

  constructor(opts: AnchoringOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#progressAt = this.#now();
  }

  /**
   * Reconciles with the chain, waiting for it at most `firstContactMs` (the option's, unless
   * given), and cuts and submits
   * checkpoints every interval. A reconcile that outlasts the wait goes on as the round in
   * flight (the ticks cut checkpoints meanwhile and submit once it ends); until it answers the
   * status says `ledger_unavailable`.
   */
  async start(firstContactMs = this.#o.firstContactMs ?? DEFAULT_FIRST_CONTACT_MS): Promise<void> {
    this.#stopped = false;
    this.#progressAt = this.#now();
    const first: Promise<void> = (async () => {
      try {
        await this.reconcile();
        this.#lastError = null; // the chain answered (after the start gave up waiting, maybe)
      } catch (err) {
        this.#fail(err);
      }
    })().finally(() => {
      if (this.#running === first) this.#running = null;
    });
    this.#running = first;
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs);
    this.#timer.unref();
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      first.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), firstContactMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    if (!answered) this.#lastError = 'ledger_unavailable'; // not ready until the chain answers
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One round: cut a checkpoint if the log grew, then submit what is pending (unless a round is running). */
  tick(): Promise<void> {
    // Cut even while a submission is in flight: a ledger call can hang for its whole timeout
    // (an outage), and checkpoints must keep their interval meanwhile.
    try {
      this.checkpointNow();
    } catch (err) {
      this.#o.onError?.(err); // a store failure: the next interval tries again
    }
    if (this.#running) return this.#running;
    // `.finally` runs after this assignment even when the round never awaits (during a
    // backoff): clearing inside the round itself would run first and leave a settled
    // promise in #running for good, and anchoring would never resume.
    const round = (async () => {
      if (this.#now() >= this.#nextTryAt) await this.submitPending();
    })()
      .catch((err: unknown) => this.#fail(err)) // never an unhandled rejection from the timer
      .finally(() => {
        if (this.#running === round) this.#running = null;
      });
    this.#running = round;
    return round;
  }

  /**
   * Graceful stop: cuts a last checkpoint, waits for a round in flight (it may not hold the
   * newest checkpoint), then submits everything pending once, whatever the backoff.
   */
  async flush(): Promise<void> {
    this.checkpointNow();
    await this.#running;
    this.#nextTryAt = 0;
    await this.tick();
  }

  /** Writes a checkpoint of the current log if it grew since the last one. */
  checkpointNow(): CheckpointRow | undefined {
    const { store, notes, signer } = this.#o;
    // The outbox row (and its signed note) is durable before any submission.
    return cutCheckpoint({ store, notes, signer, now: this.#now() });
  }

  /** Sends pending checkpoints in order; stops at the first failure and backs off. */
  async submitPending(): Promise<number> {
    const { store, ledger, logId } = this.#o;
    let sent = 0;
    if (!this.#reconciled) {
      try {
        await this.reconcile();
      } catch (err) {
        this.#fail(err);
        return 0;
      }
    }
    for (const c of store.pendingCheckpoints()) {
      if (this.#stopped) break;
      // A reconcile earlier in this round may have settled it already.
      if (store.getCheckpoint(c.treeSize)?.state !== 'pending') continue;
      try {
        const r = await ledger.anchor({
          logId,
          treeSize: c.treeSize,
          rootHash: toHex(c.root),
          checkpointTime: c.createdAt,
        });
        store.markAnchored(c.treeSize, r.txHash, r.blockNumber, this.#now());
        this.#progressAt = this.#now();
        sent += 1;
      } catch (err) {
        let failure = err;
        if (isVitalTrailError(err, 'tree_size_not_increasing')) {
          // Already there (a resend after a crash), or overtaken: settle it from the chain.
          try {
            await this.reconcile();
            continue;
          } catch (again) {
            failure = again;
          }
        }
        this.#fail(failure);
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
   * chain may also have lost recent blocks; checkpoints above the chain's largest anchor
   * go back to pending (see the module notes).
   *
   * With `marks`, a reconcile reads only what the chain added since the last one: it keeps
   * the chain's head (number and hash) as its mark, and when the chain still has that block
   * with that hash, no block up to it changed (a hash names the whole history before it), so
   * the anchors and the store's anchored rows up to it were settled against this same history
   * then. Otherwise (a node restarted from older state, a reorg past the mark, no mark yet)
   * it reads the chain since the deployment, as without marks.
   * @returns how many checkpoints went back to pending.
   */
  async reconcile(): Promise<number> {
    const { store, ledger, logId } = this.#o;
    const since = await this.#unchangedUpTo();
    // Read before the anchors: whatever lands meanwhile lies after it and is read again next time.
    const head = this.#o.marks ? await ledger.head() : null;
    const anchors = await ledger.getAnchors(logId, since === null ? undefined : since + 1);
    const bySize = new Map(anchors.map((a) => [a.treeSize, a]));
    let maxOnChain = anchors.reduce((m, a) => Math.max(m, a.treeSize), 0);
    if (since !== null) maxOnChain = Math.max(maxOnChain, (await ledger.latestAnchor(logId))?.treeSize ?? 0);
    this.#settleLostAnchors(bySize, maxOnChain, since);
    const reopened = this.#o.notes ? this.#o.notes.reopenAbove(maxOnChain) : 0;
    this.#reconciled = true;
    for (const c of store.pendingCheckpoints()) {
      const a = bySize.get(c.treeSize);
      if (a && a.rootHash.toLowerCase() === toHex(c.root)) {
        store.markAnchored(c.treeSize, a.txHash, a.blockNumber, this.#now());
        this.#progressAt = this.#now();
      } else if (c.treeSize <= maxOnChain) {
        store.markSuperseded(c.treeSize);
        this.#progressAt = this.#now();
      }
    }
    if (head)
      this.#o.marks?.meta.setMeta(this.#markKey(), JSON.stringify({ n: head.number, hash: head.hash }));
    return reopened;
  }

  #markKey(): string {
    return `anchor_mark:${this.#o.marks?.ledger}:${this.#o.logId.toLowerCase()}`;
  }

  /** The block of the last reconcile's mark when the chain still has it unchanged, else null. */
  async #unchangedUpTo(): Promise<number | null> {
    const text = this.#o.marks?.meta.getMeta(this.#markKey());
    if (text === undefined) return null;
    let mark: ReconcileMark;
    try {
      mark = JSON.parse(text) as ReconcileMark;
    } catch {
      return null; // not ours to trust: read everything
    }
    if (!Number.isSafeInteger(mark.n) || mark.n < 0 || typeof mark.hash !== 'string') return null;
    const hash = await this.#o.ledger.blockHash(mark.n);
    return hash !== null && hash.toLowerCase() === mark.hash.toLowerCase() ? mark.n : null;
  }

  /**
   * A node restarted from older state lost its last blocks, and with them anchors the store
   * records. Each anchored checkpoint is checked against the chain's anchors (all read by
   * `reconcile` already; one pass over the rows, streamed, newest first): a lost one above the
   * chain's largest anchor goes back to the outbox (`reopenAbove`, after this); a lost one the
   * chain has overtaken (a larger anchor landed on the restarted node first) can never be
   * anchored again, as tree sizes must grow, so it is superseded (still provable through a
   * consistency proof to the larger anchor); one the chain holds through another transaction
   * (anchored again) takes that transaction. Rows in blocks up to `since` (the last reconcile's
   * mark, unchanged) were settled against this same history and end the pass.
   */
  #settleLostAnchors(bySize: Map<number, AnchorRecord>, maxOnChain: number, since: number | null): void {
    const { store } = this.#o;
    const lost: number[] = [];
    const moved: { treeSize: number; a: AnchorRecord }[] = [];
    for (const c of store.checkpoints.anchoredNewestFirst()) {
      if (since !== null && c.blockNumber !== null && c.blockNumber <= since) break;
      if (c.treeSize > maxOnChain) continue; // reopened by reopenAbove
      const a = bySize.get(c.treeSize);
      if (!a || a.rootHash.toLowerCase() !== toHex(c.root)) lost.push(c.treeSize);
      else if (a.txHash.toLowerCase() !== c.txHash?.toLowerCase()) moved.push({ treeSize: c.treeSize, a });
    }
    // After the iteration: the connection runs one statement at a time.
    for (const size of lost) store.markSuperseded(size);
    for (const m of moved) store.markAnchored(m.treeSize, m.a.txHash, m.a.blockNumber, this.#now());
  }

  /**
   * The ledger's node went down or restarted (the embedded chain's watchdog), maybe from older
   * state: forget the client's cached nonce, reconcile before the next submission (the node may
   * have lost recent anchors, which go back to the outbox) and retry at the next tick instead of
   * waiting out the backoff.
   */
  resync(): void {
    this.#o.ledger.resync?.();
    this.#reconciled = false;
    this.#backoffMs = 0;
    this.#nextTryAt = 0;
  }

  status(): AnchoringStatus {
    const pending = this.#o.store.pendingCheckpoints();
    const oldest = pending[0];
    return {
      pending: pending.length,
      oldestPendingAgeMs: oldest ? this.#now() - oldest.createdAt : null,
      lastAnchoredSize: this.#o.store.latestAnchored()?.treeSize ?? 0,
      lastError: this.#lastError,
      sinceProgressMs: this.#now() - this.#progressAt,
    };
  }

  #fail(err: unknown): void {
    this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, MIN_BACKOFF_MS), this.#o.maxBackoffMs ?? 30_000);
    // Equal jitter: wait a uniform time in [backoff/2, backoff].
    this.#nextTryAt = this.#now() + this.#backoffMs * (0.5 + this.#random() / 2);
    this.#lastError = isVitalTrailError(err) ? err.code : 'ledger_unavailable';
    this.#o.onError?.(err);
  }
}
