/**
 * @module io/export
 * Disclosure bundles (PROTOCOL.md §5): a device's frames in a time range, each with its
 * inclusion proof against the latest anchored checkpoint, plus the certificates and the
 * anchor that let anyone verify them without trusting this gateway.
 *
 * The export trusts nothing it reads back from disk: each envelope must authenticate
 * (AES-GCM tag, bound to its batch by AAD), and each frame it yields must hash to the
 * leaf recorded in the log and to the frame hash recorded in the index. Anything else is
 * an `integrity_error` naming the batch or the entry; nothing is exported as valid.
 */
import { readFileSync } from 'node:fs';
import { decode } from 'cbor2';
import type { Deployment } from '../../../anchor/src/ledger/types.js';
import { hashLeaf } from '../../../anchor/src/merkle/index.js';
import { openBatch, type RecipientSecret } from '../core/envelope.js';
import { VitalTrailError } from '../protocol/errors.js';
import { frameHash } from '../protocol/frame.js';
import { toHex } from './anchoring.js';
import type { DataPaths } from './datadir.js';
import { batchAad } from './ingest.js';
import type { GatewayStore } from './store.js';

export type ExportErrorCode = 'integrity_error' | 'not_found' | 'not_anchored';

export class ExportError extends VitalTrailError<ExportErrorCode> {
  override readonly name = 'ExportError';
}

/** The JSON document of PROTOCOL.md §5. */
export interface DisclosureBundleJson {
  format: 'vitaltrail-disclosure/1';
  chain: { chainId: number; contract: string };
  log: { origin: string; logId: string };
  kgc: { root: string; intermediates: string[] };
  devices: { dev: string; cert: string }[];
  checkpoints: { treeSize: number; rootHash: string; txHash: string; blockNumber: number; note?: string }[];
  consistency: { from: number; to: number; proof: string[] }[];
  entries: { leafIndex: number; treeSize: number; frame: string; proof: string[] }[];
}

export interface ExportParameters {
  store: GatewayStore;
  paths: DataPaths;
  deployment: Pick<Deployment, 'chainId' | 'anchors'>;
  origin: string;
  logId: string;
  dev: string;
  /** Inclusive device-clock range, ms since epoch. */
  from?: number;
  to?: number;
  secrets: readonly RecipientSecret[];
  /** Called every 1000 entries. */
  onProgress?: (done: number, total: number) => void;
}

export interface ExportResult {
  bundle: DisclosureBundleJson;
  /** Frames of the range accepted after the latest anchored checkpoint (not yet provable). */
  pendingAnchor: number;
}

/**
 * @throws {ExportError} `not_found` (unknown device), `not_anchored` (no anchored
 * checkpoint yet), `integrity_error` (stored data does not authenticate or match the log).
 */
export async function exportBundle(p: ExportParameters): Promise<ExportResult> {
  const { store } = p;
  const device = store.getDevice(p.dev);
  if (!device) throw new ExportError('not_found', 'no such device in this gateway');
  const cp = store.latestAnchored();
  if (!cp || cp.txHash === null || cp.blockNumber === null) {
    throw new ExportError(
      'not_anchored',
      'no checkpoint has been anchored yet; try again after the next interval',
    );
  }
  const from = p.from ?? 0;
  const to = p.to ?? Number.MAX_SAFE_INTEGER;
  const rows = store.framesByDevice(p.dev, from, to, cp.treeSize);
  const pendingAnchor = store.framesByDevice(p.dev, from, to, Number.MAX_SAFE_INTEGER).length - rows.length;

  const batchCache = new Map<number, Uint8Array[]>();
  const openCached = async (batchId: number): Promise<Uint8Array[]> => {
    const hit = batchCache.get(batchId);
    if (hit) return hit;
    const b = store.getBatch(batchId);
    let plain: Uint8Array;
    try {
      plain = await openBatch(b.envelope, p.secrets, batchAad(b.id, b.firstLeaf));
    } catch (err) {
      throw new ExportError('integrity_error', `stored batch ${batchId} does not authenticate`, {
        cause: err,
      });
    }
    let frames: unknown;
    try {
      frames = decode(plain);
    } catch (err) {
      throw new ExportError('integrity_error', `stored batch ${batchId} does not decode`, { cause: err });
    }
    if (
      !Array.isArray(frames) ||
      frames.length !== b.frameCount ||
      !frames.every((f) => f instanceof Uint8Array)
    ) {
      throw new ExportError('integrity_error', `stored batch ${batchId} has the wrong shape`);
    }
    if (batchCache.size > 256) batchCache.clear();
    batchCache.set(batchId, frames as Uint8Array[]);
    return frames as Uint8Array[];
  };

  const entries: DisclosureBundleJson['entries'] = [];
  for (const row of rows) {
    const frames = await openCached(row.batchId);
    const bytes = frames[row.batchPos];
    if (!bytes)
      throw new ExportError('integrity_error', `stored batch ${row.batchId} lacks entry ${row.leafIndex}`);
    const leaf = hashLeaf(bytes);
    if (
      Buffer.compare(leaf, store.getNode(0, row.leafIndex)) !== 0 ||
      Buffer.compare(frameHash(bytes), row.hash) !== 0
    ) {
      throw new ExportError('integrity_error', `entry ${row.leafIndex} does not match the log`);
    }
    entries.push({
      leafIndex: row.leafIndex,
      treeSize: cp.treeSize,
      frame: Buffer.from(bytes).toString('base64'),
      proof: store.inclusionProof(row.leafIndex, cp.treeSize).map(toHex),
    });
    if (entries.length % 1000 === 0) p.onProgress?.(entries.length, rows.length);
  }

  const root = store.root(cp.treeSize);
  if (Buffer.compare(root, cp.root) !== 0) {
    throw new ExportError(
      'integrity_error',
      `the log no longer has the anchored root of size ${cp.treeSize}`,
    );
  }

  return {
    pendingAnchor,
    bundle: {
      format: 'vitaltrail-disclosure/1',
      chain: { chainId: p.deployment.chainId, contract: p.deployment.anchors },
      log: { origin: p.origin, logId: p.logId },
      kgc: { root: readFileSync(p.paths.kgcRootCert, 'utf8'), intermediates: [] },
      devices: [{ dev: p.dev, cert: device.certPem }],
      checkpoints: [
        { treeSize: cp.treeSize, rootHash: toHex(cp.root), txHash: cp.txHash, blockNumber: cp.blockNumber },
      ],
      consistency: [],
      entries,
    },
  };
}
