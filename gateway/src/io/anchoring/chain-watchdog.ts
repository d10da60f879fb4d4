/**
 * @module io/anchoring/chain-watchdog
 * Keeps the embedded chain's node running under a running gateway (issue 13 item 11, "chain
 * watchdog"; ARCHITECTURE.md guarantee 5). When anvil exits without being asked to (a crash,
 * a kill -9), it is started again on the same state file, port and accounts
 * (io/anchoring/chain `restartEmbeddedChain`) after a backoff drawn by core/restart-policy,
 * so a node that dies at every start is retried ever more slowly, never in a tight loop.
 * Anchoring then resumes by itself: the gateway's `chain-watch` step (app/core-steps) hears
 * `restarted` and calls `Anchorer.resync`, which reconciles the outbox with the restarted
 * node (it may have lost its last second of blocks) and forgets the cached nonce.
 *
 * Events (the `chain-watch` step logs each one and counts restarts in
 * `vitaltrail_chain_restarts_total`):
 * - `down` `{pid, exit, retryInMs}`: the node exited; a restart is scheduled;
 * - `restarted` `{pid, downMs, deployed, sameContracts}`: a new node answers and is provisioned;
 *   `sameContracts: false` means the node lost its state and the contracts were deployed at
 *   other addresses than the gateway's ledger client knows (restart the gateway then);
 * - `restart_failed` `{code, retryInMs}`: the attempt failed (e.g. `anvil_failed`, the port is
 *   taken); another is scheduled.
 *
 * `up` is false from the exit until a restarted node answers: `/readyz` and `/healthz` report
 * `ledger_unavailable` meanwhile (core/health).
 */
import { EventEmitter } from 'node:events';
import type { Hex } from '../../../../anchor/src/ledger/index.js';
import {
  checkRestartPolicy,
  DEFAULT_RESTART_POLICY,
  INITIAL_RESTART_STATE,
  nextRestart,
  type RestartPolicy,
  type RestartState,
  restartSucceeded,
} from '../../core/restart-policy.js';
import { isVitalTrailError } from '../../protocol/errors.js';
import type { DataPaths } from '../ops/index.js';
import { type EmbeddedChain, restartEmbeddedChain } from './chain.js';

export interface ChainWatchEvents {
  down: [info: { pid: number; exit: string; retryInMs: number }];
  restarted: [info: { pid: number; downMs: number; deployed: boolean; sameContracts: boolean }];
  restart_failed: [info: { code: string; retryInMs: number }];
}

/** What the gateway needs of a watched chain (`GatewayOptions.chainWatch`). */
export interface ChainWatch extends EventEmitter<ChainWatchEvents> {
  /** False from the node's unexpected exit until a restarted node answers. */
  readonly up: boolean;
}

export interface ChainWatchdogOptions {
  paths: DataPaths;
  /** The gateway's logId (registered again on a node that lost its state). */
  logId: Hex;
  /** Restart backoff; defaults `DEFAULT_RESTART_POLICY` (0.5 s doubling to 30 s, forgiven after 60 s up). */
  policy?: Partial<RestartPolicy>;
  /** Default Date.now. */
  now?: () => number;
  /** Uniform [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Starts the chain again. Default `restartEmbeddedChain(paths, logId, previous)`. */
  restart?: (previous: EmbeddedChain) => Promise<EmbeddedChain>;
}

/** Watches an embedded chain and restarts its node when it dies. */
export class ChainWatchdog extends EventEmitter<ChainWatchEvents> implements ChainWatch {
  readonly #policy: RestartPolicy;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #restart: (previous: EmbeddedChain) => Promise<EmbeddedChain>;
  #chain: EmbeddedChain;
  #up = true;
  #closed = false;
  #state: RestartState;
  #timer: NodeJS.Timeout | null = null;
  #attempt: Promise<void> | null = null;
  #downAt = 0;
  #restarts = 0;

  /**
   * Starts watching `chain` (already started and provisioned).
   * @throws {RangeError} on a bad `policy` (core/restart-policy `checkRestartPolicy`).
   */
  constructor(chain: EmbeddedChain, opts: ChainWatchdogOptions) {
    super();
    this.#policy = checkRestartPolicy({ ...DEFAULT_RESTART_POLICY, ...opts.policy });
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#restart = opts.restart ?? ((prev) => restartEmbeddedChain(opts.paths, opts.logId, prev));
    this.#chain = chain;
    this.#state = restartSucceeded(INITIAL_RESTART_STATE, this.#now());
    this.#watch(chain);
  }

  /** The chain as it runs now (a restart replaces the node; its RPC URL stays). */
  get chain(): EmbeddedChain {
    return this.#chain;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Successful restarts so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Stops watching: no restart after this; a restart in progress finishes and its node is stopped. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#attempt;
  }

  /** `close`, then stops the current node (SIGTERM: anvil saves its state). Idempotent. */
  async stop(): Promise<void> {
    await this.close();
    await this.#chain.anvil.stop();
  }

  #watch(chain: EmbeddedChain): void {
    void chain.anvil.exited.then((exit) => this.#onExit(chain, exit));
  }

  #onExit(chain: EmbeddedChain, exit: string): void {
    // A node we stopped ourselves, or one already replaced, is not a death to act on.
    if (this.#closed || chain !== this.#chain) return;
    this.#up = false;
    this.#downAt = this.#now();
    const retryInMs = this.#schedule();
    this.#emit('down', { pid: chain.anvil.pid, exit, retryInMs });
  }

  /** Schedules the next attempt per the policy; returns its delay. */
  #schedule(): number {
    const next = nextRestart(this.#policy, this.#state, this.#now(), this.#random);
    this.#state = next.state;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const attempt = this.#restartOnce().finally(() => {
        if (this.#attempt === attempt) this.#attempt = null;
      });
      this.#attempt = attempt;
    }, next.delayMs);
    this.#timer.unref();
    return next.delayMs;
  }

  async #restartOnce(): Promise<void> {
    const previous = this.#chain;
    let next: EmbeddedChain;
    try {
      next = await this.#restart(previous);
    } catch (err) {
      if (this.#closed) return;
      const retryInMs = this.#schedule();
      this.#emit('restart_failed', { code: isVitalTrailError(err) ? err.code : 'unknown', retryInMs });
      return;
    }
    if (this.#closed) {
      await next.anvil.stop();
      return;
    }
    this.#chain = next;
    this.#up = true;
    this.#restarts += 1;
    this.#state = restartSucceeded(this.#state, this.#now());
    this.#watch(next);
    const same =
      next.deployment.anchors.toLowerCase() === previous.deployment.anchors.toLowerCase() &&
      next.deployment.registry.toLowerCase() === previous.deployment.registry.toLowerCase();
    this.#emit('restarted', {
      pid: next.anvil.pid,
      downMs: this.#now() - this.#downAt,
      deployed: next.deployed,
      sameContracts: same,
    });
  }

  /** Emits without letting a listener's exception stop the watchdog. */
  #emit<K extends keyof ChainWatchEvents>(event: K, ...args: ChainWatchEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ChainWatchEvents[K]) => boolean)(event, ...args);
    } catch {
      // a listener's failure is its own; the watchdog keeps watching
    }
  }
}

/**
 * Watches the embedded chain of a data directory and restarts its node when it dies.
 * @example
 * const chain = await startEmbeddedChain(paths, logId);
 * const watch = watchEmbeddedChain(chain, { paths, logId });
 * await startGateway({ …, ledger: { rpcUrl: chain.rpcUrl, … }, chainWatch: watch });
 * // at the end, after the gateway stopped:
 * await watch.stop();
 */
export function watchEmbeddedChain(chain: EmbeddedChain, opts: ChainWatchdogOptions): ChainWatchdog {
  return new ChainWatchdog(chain, opts);
}
