/**
 * @module io/access/export
 * Access-log bundles (issue 18; anchor/src/verify-access/bundle has the format): for an
 * auditor, every access in a range; for a patient, their own accesses, the others' entries of
 * the range withheld (leaf hash and proof only), so the bundle still accounts for every leaf
 * index and a deleted entry shows as a gap.
 *
 * The range: the leaf indices of the access log from the first entry with `at >= from` to the
 * last with `at <= to` (access time, gateway clock; the whole anchored log without bounds),
 * cut at the latest anchored checkpoint (later entries are not provable yet and are counted
 * in `pendingAnchor`). As the readings' export (io/outbound/export), each entry is proven
 * against the FIRST anchored checkpoint that covers it (its block is the earliest on-chain
 * evidence of the access, what a consent valid "at that block" is judged against); the bundle
 * cites those checkpoints and the latest anchored one, each with its signed note, with a
 * consistency proof between each consecutive pair.
 *
 * Nothing read back is trusted: each entry must decode and hash to its stored leaf hash, each
 * cited checkpoint's root must be the tree's; anything else is an `integrity_error`.
 */
import type { Deployment, Hex } from '../../../../anchor/src/ledger/index.js';
import { bytesEqual } from '../../../../anchor/src/log/index.js';
import {
  ACCESS_BUNDLE_FORMAT,
  type AccessBundle,
  type AccessItem,
  accessLeafHash,
} from '../../../../anchor/src/verify-access/index.js';
import { toHex } from '../../core/log-names.js';
import { errorClass } from '../../protocol/errors.js';
import { writeOutputFile } from '../ops/index.js';
import type { AccessLog } from './access-log.js';

export class AccessExportError extends errorClass<'export'>('AccessExportError') {}

const PSEUDONYM = /^0x[0-9a-f]{64}$/;

export interface AccessExportParameters {
  log: AccessLog;
  deployment: Pick<Deployment, 'chainId' | 'anchors'>;
  /** The access log's C2SP vkey (io/access/access-anchoring `vkey`). */
  vkey: string;
  /** One patient's accesses (their pseudonym); absent: every patient's. */
  patient?: string;
  /** Inclusive access-time bounds, ms since the epoch. */
  from?: number;
  to?: number;
}

export interface AccessExportResult {
  bundle: AccessBundle;
  /** Entries disclosed in full. */
  entries: number;
  /** Other patients' entries of the range, withheld. */
  withheld: number;
  /** Entries after the latest anchored checkpoint (not provable yet, left out). */
  pendingAnchor: number;
}

/**
 * Builds an access-log bundle (module doc).
 * @throws {TypeError | RangeError} on a malformed pseudonym or bounds (misuse; the CLI checks them first).
 * @throws {AccessExportError} `not_anchored` when no access checkpoint is anchored yet,
 *   `integrity_error` when the stored log does not match itself.
 * @example
 * const { bundle } = exportAccessBundle({ log, deployment, vkey, patient: '0x…' });
 */
export function exportAccessBundle(p: AccessExportParameters): AccessExportResult {
  const { log } = p;
  if (p.patient !== undefined && !PSEUDONYM.test(p.patient))
    throw new TypeError('exportAccessBundle: patient must be 0x + 64 lowercase hex');
  for (const [name, v] of [
    ['from', p.from],
    ['to', p.to],
  ] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0))
      throw new RangeError(`exportAccessBundle: ${name} must be a non-negative safe integer`);
  }
  const latest = log.latestAnchored();
  if (!latest) throw new AccessExportError('not_anchored', 'no access-log checkpoint is anchored yet');
  const n = latest.treeSize;
  const fromIndex = Math.min(n, p.from === undefined ? 0 : (log.firstIndexAtOrAfter(p.from) ?? n));
  const toIndex = Math.max(
    fromIndex,
    Math.min(n, p.to === undefined ? n : (log.lastIndexAtOrBefore(p.to) ?? -1) + 1),
  );

  const cited = new Set<number>([n]);
  const items: AccessItem[] = [];
  let full = 0;
  let cover: number | undefined; // the first anchored checkpoint above the current index
  for (const row of [...log.range(fromIndex, toIndex)]) {
    if (cover === undefined || row.index >= cover) cover = log.firstAnchoredAbove(row.index) ?? n;
    if (!bytesEqual(accessLeafHash(row.bytes), row.leafHash))
      throw new AccessExportError('integrity_error', `access entry ${row.index} does not hash to its leaf`);
    cited.add(cover);
    const base = {
      leafIndex: row.index,
      treeSize: cover,
      leafHash: toHex(row.leafHash),
      proof: log.inclusionProof(row.index, cover).map(toHex),
    };
    if (p.patient === undefined || row.patient === p.patient) {
      items.push({ ...base, entry: Buffer.from(row.bytes).toString('utf8') });
      full++;
    } else {
      items.push({ ...base, withheld: true });
    }
  }
  if (items.length !== toIndex - fromIndex)
    throw new AccessExportError('integrity_error', 'the access log has a hole in its entries');

  const sizes = [...cited].sort((a, b) => a - b);
  const checkpoints = sizes.map((size) => {
    const c = log.getCheckpoint(size);
    const note = log.note(size);
    if (c?.state !== 'anchored' || c.txHash === null || c.blockNumber === null || note === undefined)
      throw new AccessExportError(
        'integrity_error',
        `access checkpoint ${size} is not anchored with a signed note`,
      );
    if (!bytesEqual(c.root, log.root(size)))
      throw new AccessExportError('integrity_error', `access checkpoint ${size} does not match the log`);
    return {
      treeSize: size,
      rootHash: toHex(c.root),
      txHash: c.txHash as Hex,
      blockNumber: c.blockNumber,
      note,
    };
  });
  const consistency = sizes.slice(1).map((to, i) => ({
    from: sizes[i]!,
    to,
    proof: log.consistencyProof(sizes[i]!, to).map(toHex),
  }));
  const bundle: AccessBundle = {
    format: ACCESS_BUNDLE_FORMAT,
    chain: { chainId: p.deployment.chainId, contract: p.deployment.anchors },
    log: { origin: log.origin, logId: log.logId, vkey: p.vkey },
    scope: {
      patient: (p.patient as Hex | undefined) ?? null,
      from: p.from ?? null,
      to: p.to ?? null,
      fromIndex,
      toIndex,
    },
    checkpoints,
    consistency,
    entries: items,
  };
  return { bundle, entries: full, withheld: items.length - full, pendingAnchor: log.size - n };
}

/**
 * Writes an access-log bundle to `out` (mode 0600, through a fresh temporary file renamed into
 * place when complete: io/ops/safe-write).
 * @throws {OutputPathError} `output_path_invalid` for a bad `out` (checked before the work).
 * @throws {AccessExportError} as `exportAccessBundle`.
 */
export function exportAccessBundleToFile(p: AccessExportParameters & { out: string }): AccessExportResult {
  const r = exportAccessBundle(p);
  writeOutputFile(p.out, `${JSON.stringify(r.bundle)}\n`);
  return r;
}
