/**
 * @module io/access/access-anchoring
 * Checkpoints and anchoring of the access log (issue 18; PROTOCOL.md §3-4 applied to a
 * second log of the gateway). The access log is anchored exactly as the readings' log:
 * signed checkpoint notes (the gateway's checkpoint key, `gateway/checkpoint.key.pem`, under
 * the access origin `vitaltrail/<gatewayId>/access`), the durable outbox
 * (`access_checkpoints`), and io/anchoring's `Anchorer` (reconcile, ordered submission,
 * backoff) or, without a ledger, its `Checkpointer` (the checkpoints wait in the outbox).
 *
 * The registry lets one gateway account hold one logId (anchor/contracts/VitalTrailRegistry),
 * so the access log has its own ledger account:
 *
 * ```
 * DIR/chain/gateway-access.key   the access log's ledger account key (0x hex, 0600), made at first start
 * ```
 *
 * registered by the KGC for the access logId: by io/anchoring/chain (the embedded chain,
 * `accessLogId` option) or io/anchoring/deploy-job (`accessKey` of a gateway) on an external
 * chain.
 */
import type { Deployment, Hex } from '../../../../anchor/src/ledger/index.js';
import { createViemLedger } from '../../../../anchor/src/ledger/index.js';
import { accessLogOrigin } from '../../core/log-names.js';
import {
  Anchorer,
  accessAccountKeyPath,
  accountOf,
  Checkpointer,
  ensureAccountKey,
  ledgerMarkOf,
  loadCheckpointSigner,
} from '../anchoring/index.js';
import { type DataPaths, ensureDir } from '../ops/index.js';
import type { GatewayStore } from '../store/index.js';
import { AccessLog } from './access-log.js';

export interface AccessAnchoringParameters {
  store: GatewayStore;
  paths: DataPaths;
  gatewayId: string;
  /** How often a checkpoint is cut (if the log grew): the readings' interval. */
  intervalMs: number;
  /**
   * The ledger to anchor on (the readings' one); absent: a checkpointer fills the outbox.
   * `privateKey` defaults to the access account key of the data directory (made at first use).
   */
  ledger?: {
    rpcUrl: string;
    deployment: Deployment;
    privateKey?: Hex;
    confirmations?: number;
    maxBackoffMs?: number;
    /** When it aborts, the ledger's calls in flight are aborted (the gateway's stop). */
    signal?: AbortSignal;
    /** The anchorer's `firstContactMs` (io/anchoring `AnchoringOptions`). */
    firstContactMs?: number;
  };
  /** A failed cut or submission; the next interval tries again. */
  onError?: (err: unknown) => void;
}

export interface AccessAnchoring {
  log: AccessLog;
  /** Set when a ledger is configured; `start()` it after the readings' anchorer, `flush()` and `stop()` it at stop. */
  anchorer: Anchorer | null;
  /** Set without a ledger; `start()` it, `stop()` it at stop. */
  checkpointer: Checkpointer | null;
  /** The ledger account that anchors the access log (to register for `log.logId`). */
  account: Hex;
  /** The C2SP verifier key of the access log's notes (auditors pin it). */
  vkey: string;
}

/**
 * The access log of a gateway and what checkpoints and anchors it. Creates the access account
 * key (0600) and the checkpoint key on first use. Starts nothing: the caller starts the
 * anchorer or checkpointer it returns.
 * @throws {KeyFileError} `key_permissions`, `key_invalid` for the checkpoint key file.
 * @example
 * const access = createAccessAnchoring({ store, paths, gatewayId, intervalMs: 10_000, ledger });
 * await access.anchorer?.start(); access.checkpointer?.start();
 */
export function createAccessAnchoring(p: AccessAnchoringParameters): AccessAnchoring {
  const origin = accessLogOrigin(p.gatewayId);
  const signer = loadCheckpointSigner(p.paths, origin);
  ensureDir(p.paths.chainDir);
  const key = p.ledger?.privateKey ?? ensureAccountKey(accessAccountKeyPath(p.paths));
  const log = new AccessLog({ store: p.store, gatewayId: p.gatewayId, signer });
  const common = { account: accountOf(key), vkey: signer.vkey, log };
  if (!p.ledger) {
    const checkpointer = new Checkpointer({
      store: log,
      notes: log,
      signer,
      intervalMs: p.intervalMs,
      ...(p.onError ? { onError: p.onError } : {}),
    });
    return { ...common, anchorer: null, checkpointer };
  }
  const ledger = createViemLedger({
    rpcUrl: p.ledger.rpcUrl,
    deployment: p.ledger.deployment,
    privateKey: key,
    ...(p.ledger.confirmations !== undefined ? { confirmations: p.ledger.confirmations } : {}),
    ...(p.ledger.signal ? { signal: p.ledger.signal } : {}),
  });
  const anchorer = new Anchorer({
    store: log,
    ledger,
    logId: log.logId,
    intervalMs: p.intervalMs,
    notes: log,
    signer,
    marks: { meta: p.store, ledger: ledgerMarkOf(p.ledger.deployment) },
    ...(p.ledger.maxBackoffMs !== undefined ? { maxBackoffMs: p.ledger.maxBackoffMs } : {}),
    ...(p.ledger.firstContactMs !== undefined ? { firstContactMs: p.ledger.firstContactMs } : {}),
    ...(p.onError ? { onError: p.onError } : {}),
  });
  return { ...common, anchorer, checkpointer: null };
}
