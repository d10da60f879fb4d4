/**
 * @module cli/anchors
 * `vitaltrail anchors …`: the anchoring state of a gateway's log (ARCHITECTURE.md guarantee 5,
 * PROTOCOL.md §3-4).
 *
 * - `anchors status --data DIR [--rpc URL] [--json]`: the outbox (pending checkpoints, oldest
 *   pending age, last anchored tree size), the ledger the gateway last ran with (`none`: its
 *   checkpoints wait in the outbox for the first start with a ledger, io/anchoring/checkpointer)
 *   and, with `--rpc`, the chain's latest anchor of the log.
 * - `anchors verify-chain --data DIR --rpc URL [--json]`: every `Anchored` event of the log,
 *   checked against each other and against the local log: tree sizes strictly grow, each root
 *   is the local log's root at that size, each anchor extends the previous one (RFC 9162
 *   §2.1.4 consistency proof from the local log, verified against the two roots on chain),
 *   each signed checkpoint note opens with the gateway's key and names the same root, and no
 *   checkpoint the store calls anchored is missing on chain. Exit 0 when all hold, 1 otherwise.
 * - `anchors vkey --data DIR`: the C2SP verifier key of the signed checkpoints.
 *
 * The deployment is read from DATA/chain/deployment.json unless `--deployment FILE` names one.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { type AnchorRecord, type Deployment, fetchAnchors } from '../../../anchor/src/ledger/index.js';
import { openCheckpoint, verifyConsistency } from '../../../anchor/src/log/index.js';
import { DEFAULT_GATEWAY_ID } from '../app/options.js';
import { checkpointOrigin, logIdOf, toHex } from '../core/log-names.js';
import {
  CheckpointNotes,
  checkpointKeyPath,
  loadCheckpointSigner,
  type RecordedLedger,
  recordedLedger,
} from '../io/anchoring/index.js';
import { type DataPaths, dataPaths, readJson } from '../io/ops/index.js';
import { type GatewayStore, openStore } from '../io/store/index.js';
import { meaningsOf } from '../protocol/error-codes.js';
import { VitalTrailError } from '../protocol/errors.js';
import { dataDirOption } from './inputs.js';

/** Problems `verify-chain` reports (the registry's `chain_check` group); never reused or renamed. */
export const CHAIN_CHECK_CODES = meaningsOf('chain_check');
export type ChainCheckCode = keyof typeof CHAIN_CHECK_CODES;

export interface ChainProblem {
  code: ChainCheckCode;
  treeSize: number;
}

const hexBytes = (h: string) => new Uint8Array(Buffer.from(h.slice(2), 'hex'));

/**
 * Checks the anchors of a log against each other and the local log (pure over the store).
 * @example
 * const problems = checkAnchors(store, notes, vkey, await fetchAnchors({ rpcUrl, deployment, logId }));
 */
export function checkAnchors(
  store: GatewayStore,
  notes: CheckpointNotes,
  vkey: string | null,
  anchors: readonly AnchorRecord[],
): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prev: AnchorRecord | undefined;
  for (const a of anchors) {
    const at = (code: ChainCheckCode) => problems.push({ code, treeSize: a.treeSize });
    if (prev && a.treeSize <= prev.treeSize) at('size_not_increasing');
    if (a.treeSize > store.size) {
      at('anchor_beyond_log');
      continue;
    }
    if (toHex(store.root(a.treeSize)) !== a.rootHash.toLowerCase()) at('root_mismatch');
    if (prev && prev.treeSize < a.treeSize) {
      try {
        // RFC 9162 §2.1.4.2: the proof comes from the local log, the roots from the chain.
        const proof = store.consistencyProof(prev.treeSize, a.treeSize);
        verifyConsistency(prev.treeSize, a.treeSize, proof, hexBytes(prev.rootHash), hexBytes(a.rootHash));
      } catch {
        at('inconsistent_anchors');
      }
    }
    const note = notes.note(a.treeSize);
    if (note !== undefined && vkey !== null) {
      try {
        if (toHex(openCheckpoint(note, vkey).rootHash) !== a.rootHash.toLowerCase()) at('bad_note');
      } catch {
        at('bad_note');
      }
    }
    prev = a;
  }
  const onChain = new Set(anchors.map((a) => a.treeSize));
  for (const c of store.anchoredCheckpoints()) {
    if (!onChain.has(c.treeSize)) problems.push({ code: 'missing_on_chain', treeSize: c.treeSize });
  }
  return problems;
}

function loadDeployment(paths: DataPaths, file: string | undefined): Deployment {
  const d = readJson<Deployment>(file ?? paths.deployment);
  if (!d) {
    throw new VitalTrailError(
      'config_invalid',
      'no deployment file (DATA/chain/deployment.json or --deployment)',
    );
  }
  return d;
}

/** The data directory's store, origin and notes; refuses a directory without a store. */
function openLog(dataDir: string): {
  paths: DataPaths;
  store: GatewayStore;
  origin: string;
  notes: CheckpointNotes;
} {
  const paths = dataPaths(dataDir);
  if (!existsSync(paths.db))
    throw new VitalTrailError('config_invalid', 'no gateway store in the data directory');
  const store = openStore(paths.db);
  const origin = store.getMeta('origin') ?? checkpointOrigin(DEFAULT_GATEWAY_ID);
  return { paths, store, origin, notes: new CheckpointNotes(store) };
}

const vkeyOf = (paths: DataPaths, origin: string): string | null =>
  existsSync(checkpointKeyPath(paths)) ? loadCheckpointSigner(paths, origin).vkey : null;

const out = (s: string) => process.stdout.write(`${s}\n`);

/** What `anchors status` reports of the local store (without `--rpc`: no chain read). */
export interface AnchorsStatus {
  origin: string;
  logId: string;
  logSize: number;
  /**
   * The ledger the gateway last ran with: `none` (no ledger configured: checkpoints are signed
   * and kept in the outbox), the anchors contract, or null (not recorded: an older release).
   */
  ledger: RecordedLedger;
  /** `no ledger configured` with `ledger: none`; `anchoring` otherwise. */
  state: 'no ledger configured' | 'anchoring';
  pending: number;
  oldestPendingAgeMs: number | null;
  lastAnchoredSize: number;
  lastAnchoredTx: string | null;
  lastAnchoredBlock: number | null;
  latestSignedSize: number | null;
  vkey: string | null;
  onChainAnchors?: number;
  onChainLatestSize?: number;
}

/**
 * The anchoring state of a data directory's store, read offline.
 * @example
 * const s = anchorsStatus(dataPaths(dir), store, 'vitaltrail/gw-1', new CheckpointNotes(store), Date.now());
 * // { ledger: 'none', state: 'no ledger configured', pending: 3, … }
 */
export function anchorsStatus(
  paths: DataPaths,
  store: GatewayStore,
  origin: string,
  notes: CheckpointNotes,
  now: number,
): AnchorsStatus {
  const pending = store.pendingCheckpoints();
  const last = store.latestAnchored();
  const ledger = recordedLedger(store);
  return {
    origin,
    logId: logIdOf(origin),
    logSize: store.size,
    ledger,
    state: ledger === 'none' ? 'no ledger configured' : 'anchoring',
    pending: pending.length,
    oldestPendingAgeMs: pending[0] ? now - pending[0].createdAt : null,
    lastAnchoredSize: last?.treeSize ?? 0,
    lastAnchoredTx: last?.txHash ?? null,
    lastAnchoredBlock: last?.blockNumber ?? null,
    latestSignedSize: notes.latest()?.treeSize ?? null,
    vkey: vkeyOf(paths, origin),
  };
}

/** The human lines of `anchors status`. */
export function formatAnchorsStatus(s: AnchorsStatus): string[] {
  const lines = [`log ${s.origin} (logId ${s.logId}), ${s.logSize} leaves`];
  if (s.ledger === 'none') {
    lines.push(
      'ledger: none configured: checkpoints are signed and kept in the outbox; ' +
        'they are anchored, oldest first, once the gateway runs with a ledger',
    );
  } else if (s.ledger !== null) lines.push(`ledger: anchors contract ${s.ledger}`);
  lines.push(
    `outbox: ${s.pending} pending` +
      (s.oldestPendingAgeMs !== null ? `, oldest ${Math.round(s.oldestPendingAgeMs / 1000)} s old` : ''),
  );
  if (s.latestSignedSize !== null) lines.push(`latest signed checkpoint: tree size ${s.latestSignedSize}`);
  lines.push(
    s.lastAnchoredTx !== null
      ? `last anchored: tree size ${s.lastAnchoredSize}, tx ${s.lastAnchoredTx}, block ${s.lastAnchoredBlock}`
      : 'last anchored: none',
  );
  if (s.onChainAnchors !== undefined)
    lines.push(`on chain: ${s.onChainAnchors} anchors, latest tree size ${s.onChainLatestSize}`);
  if (s.vkey) lines.push(`checkpoint key: ${s.vkey}`);
  return lines;
}

/**
 * Adds `vitaltrail anchors status|verify-chain|vkey`.
 * @example
 * registerAnchorsCommands(program, '.vitaltrail/demo');
 */
export function registerAnchorsCommands(program: Command, defaultDataDir: string): void {
  const anchors = program
    .command('anchors')
    .description("the anchoring of the gateway's transparency log on the ledger");

  anchors
    .command('status')
    .description(
      'pending checkpoints, oldest pending age, last anchored tree size; with --rpc the chain side',
    )
    .addOption(dataDirOption(defaultDataDir))
    .option('--rpc <url>', 'JSON-RPC URL of the chain (default: do not ask the chain)')
    .option('--deployment <file>', 'deployment JSON (default: DATA/chain/deployment.json)')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; rpc?: string; deployment?: string; json?: boolean }) => {
      const { paths, store, origin, notes } = openLog(o.data);
      try {
        const status = anchorsStatus(paths, store, origin, notes, Date.now());
        if (o.rpc) {
          const chain = await fetchAnchors({
            rpcUrl: o.rpc,
            deployment: loadDeployment(paths, o.deployment),
            logId: logIdOf(origin),
          });
          status.onChainAnchors = chain.length;
          status.onChainLatestSize = chain.at(-1)?.treeSize ?? 0;
        }
        if (o.json) {
          out(JSON.stringify(status, null, 2));
          return;
        }
        for (const line of formatAnchorsStatus(status)) out(line);
      } finally {
        store.close();
      }
    });

  anchors
    .command('verify-chain')
    .description(
      'check every Anchored event of this log: strictly growing, consistent with each other (RFC 9162 ' +
        'consistency proofs from the local log) and with the local roots and signed notes; exit 1 on any problem',
    )
    .addOption(dataDirOption(defaultDataDir))
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain')
    .option('--deployment <file>', 'deployment JSON (default: DATA/chain/deployment.json)')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; rpc: string; deployment?: string; json?: boolean }) => {
      const { paths, store, origin, notes } = openLog(o.data);
      try {
        const chain = await fetchAnchors({
          rpcUrl: o.rpc,
          deployment: loadDeployment(paths, o.deployment),
          logId: logIdOf(origin),
        });
        const problems = checkAnchors(store, notes, vkeyOf(paths, origin), chain);
        if (o.json) {
          out(JSON.stringify({ origin, anchors: chain.length, logSize: store.size, problems }, null, 2));
        } else {
          out(`${chain.length} anchors of ${origin} on chain; local log ${store.size} leaves`);
          for (const p of problems) out(`  tree size ${p.treeSize}: ${p.code}: ${CHAIN_CHECK_CODES[p.code]}`);
          out(
            problems.length === 0
              ? 'ok: every anchor extends the previous one and matches the local log'
              : `${problems.length} problem(s)`,
          );
        }
        process.exitCode = problems.length === 0 ? 0 : 1;
      } finally {
        store.close();
      }
    });

  anchors
    .command('vkey')
    .description(
      'print the C2SP verifier key of the signed checkpoints (created with the key on first gateway start)',
    )
    .addOption(dataDirOption(defaultDataDir))
    .action((o: { data: string }) => {
      const { paths, store, origin } = openLog(o.data);
      try {
        const vkey = vkeyOf(paths, origin);
        if (!vkey)
          throw new VitalTrailError('config_invalid', 'no checkpoint key yet: start the gateway once');
        out(vkey);
      } finally {
        store.close();
      }
    });
}
