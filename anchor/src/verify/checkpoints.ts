/**
 * @module verify/checkpoints
 * The checkpoint checks of the auditor's verifier (PROTOCOL.md §5): each bundle checkpoint
 * against the chain's `Anchored` events (PROTOCOL.md §4) and `logId` = SHA-256(origin)
 * [`checkpoint_not_anchored`]; one root per tree size and a verified consistency proof
 * (RFC 9162 §2.1.4) linking every cited size to the next larger one
 * [`inconsistent_checkpoints`], each failing proof reported once at its link;
 * and, per leaf, the earliest anchoring block that proves it logged. Pure; bundle data is
 * attacker-controlled and every failure is a verdict, never a throw.
 */
import { createHash } from 'node:crypto';
import type { ErrorGroupCode } from '../../../gateway/src/protocol/error-codes.js';
import type { AnchorRecord, Hex } from '../ledger/index.js';
import { bytesEqual, verifyConsistency } from '../log/index.js';
import type { DisclosureBundle } from './bundle.js';

export type CheckpointCode = ErrorGroupCode<'checkpoint'>;

/** `logId` of PROTOCOL.md §3: SHA-256 of the origin line's UTF-8 bytes, 0x lowercase hex. */
export function logIdOf(origin: string): Hex {
  return `0x${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}

/** Hex digit values by char code; -1 for every other character. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/**
 * Decodes 0x-hex; `undefined` for anything that is not `0x` and an even run of hex digits.
 * One pass, no regular expression or Buffer: the verifier decodes proof nodes per entry.
 */
export function hexBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length % 2 !== 0 || !value.startsWith('0x')) return undefined;
  const out = new Uint8Array((value.length - 2) / 2);
  for (let i = 0, j = 2; i < out.length; i++, j += 2) {
    const a = value.charCodeAt(j);
    const b = value.charCodeAt(j + 1);
    const hi = a < 128 ? HEX_VALUE[a]! : -1;
    const lo = b < 128 ? HEX_VALUE[b]! : -1;
    if ((hi | lo) < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export function sameHex(a: unknown, b: unknown): boolean {
  return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
}

export interface CheckpointState {
  treeSize: number;
  root: Uint8Array | undefined;
  /** Earliest block of a matching `Anchored` event (chain evidence, not the bundle's claim). */
  anchorBlock?: number;
  notAnchored?: string;
  inconsistent?: string;
}

/** The verdict on one `consistency` item of the bundle. */
export interface LinkResult {
  /** Position in `bundle.consistency`. */
  index: number;
  from: number;
  to: number;
  code: 'valid' | 'inconsistent_checkpoints';
  reason?: string;
}

export function checkpointCode(s: CheckpointState): { code: CheckpointCode; reason?: string } {
  // A fork is the graver finding, so it is reported first.
  if (s.inconsistent !== undefined) return { code: 'inconsistent_checkpoints', reason: s.inconsistent };
  if (s.notAnchored !== undefined) return { code: 'checkpoint_not_anchored', reason: s.notAnchored };
  return { code: 'valid' };
}

function markInconsistent(states: readonly CheckpointState[] | undefined, reason: string): void {
  for (const s of states ?? []) s.inconsistent ??= reason;
}

export function checkCheckpoints(
  // Only the log, checkpoints and consistency proofs: the access-log bundle (verify-access) has them too.
  bundle: Pick<DisclosureBundle, 'log' | 'checkpoints' | 'consistency'>,
  anchors: readonly AnchorRecord[],
): { states: CheckpointState[]; bySize: Map<number, CheckpointState[]>; links: LinkResult[] } {
  const logId = bundle.log.logId;
  // PROTOCOL.md §3: logId = SHA-256(origin). Anchors are looked up by logId, so a bundle
  // whose logId is not its origin's would borrow another log's anchors.
  const logIdOk = typeof bundle.log.origin === 'string' && sameHex(logIdOf(bundle.log.origin), logId);

  const states: CheckpointState[] = bundle.checkpoints.map((cp) => {
    const root = hexBytes(cp.rootHash);
    const s: CheckpointState = { treeSize: cp.treeSize, root };
    if (!logIdOk) s.notAnchored = 'the log id is not the SHA-256 of the log origin';
    else if (root?.length !== 32) s.notAnchored = 'the checkpoint root hash is not 32 bytes of hex';
    // PROTOCOL.md §5: "an Anchored event with that logId, treeSize and rootHash".
    else {
      let sameEvent = false;
      for (const a of anchors) {
        if (sameHex(a.logId, logId) && a.treeSize === cp.treeSize && sameHex(a.rootHash, cp.rootHash)) {
          s.anchorBlock = Math.min(s.anchorBlock ?? Number.POSITIVE_INFINITY, a.blockNumber);
          // The bundle names the anchoring transaction and block: they must be this event's.
          if (sameHex(a.txHash, cp.txHash) && a.blockNumber === cp.blockNumber) sameEvent = true;
        }
      }
      if (s.anchorBlock === undefined) {
        s.notAnchored = 'no anchor on the ledger has this log id, tree size and root hash';
      } else if (!sameEvent) {
        s.notAnchored = 'the anchor on the ledger is in another transaction or block than the bundle names';
      }
    }
    return s;
  });

  const bySize = new Map<number, CheckpointState[]>();
  for (const s of states) {
    const same = bySize.get(s.treeSize);
    if (same) same.push(s);
    else bySize.set(s.treeSize, [s]);
  }
  // Two roots for one tree size: a split view (RFC 9162 §8.2) within the bundle itself.
  for (const same of bySize.values()) {
    const first = same[0]!.root;
    if (same.some((s) => !s.root || !first || !bytesEqual(s.root, first))) {
      markInconsistent(same, 'another checkpoint of the same tree size has a different root');
    }
  }

  // RFC 9162 §2.1.4.2: every consistency proof; verified ones link their two sizes. A proof
  // that fails is reported once, at its link (`links`), not on every checkpoint it touches.
  const linked = new Map<number, number>(); // union-find over tree sizes
  const find = (x: number): number => {
    let r = x;
    while (linked.has(r) && linked.get(r) !== r) r = linked.get(r)!;
    return r;
  };
  const links: LinkResult[] = bundle.consistency.map((c, index): LinkResult => {
    const from = bySize.get(c.from);
    const to = bySize.get(c.to);
    const link = { index, from: c.from, to: c.to };
    if (!from || !to) {
      return {
        ...link,
        code: 'inconsistent_checkpoints',
        reason: 'the consistency proof names a checkpoint the bundle does not carry',
      };
    }
    try {
      const proof = (c.proof as unknown[]).map((h) => hexBytes(h) ?? new Uint8Array(0));
      verifyConsistency(
        c.from,
        c.to,
        proof,
        from[0]!.root ?? new Uint8Array(0),
        to[0]!.root ?? new Uint8Array(0),
      );
      linked.set(find(c.from), find(c.to));
      return { ...link, code: 'valid' };
    } catch {
      return { ...link, code: 'inconsistent_checkpoints', reason: 'the consistency proof does not verify' };
    }
  });
  // "A bundle citing several checkpoints of one log carries a chain of them" (§5, §6: in
  // increasing order). A checkpoint depends on one link: the proven one to the next larger
  // cited size. Verified links are transitive, so every checkpoint whose link holds is a
  // proven prefix of the largest one exactly when no link above it is broken; a break is
  // reported once at its link (`links`) and marks only the checkpoint below it (whose
  // entries are not proven to be in the log the later checkpoints extend), not every
  // smaller one: those are proven prefixes of an anchored checkpoint, and the bundle is not
  // valid anyway.
  const sizes = [...bySize.keys()].sort((a, b) => a - b);
  for (let i = 0; i + 1 < sizes.length; i++) {
    if (find(sizes[i]!) !== find(sizes[i + 1]!)) {
      markInconsistent(
        bySize.get(sizes[i]!),
        'no verified consistency proof links this checkpoint to the next larger cited one',
      );
    }
  }
  return { states, bySize, links };
}

/**
 * The earliest anchoring block at which leaf `i` is provably in the log: the minimum
 * over the bundle's valid checkpoints of size > i. Anchored tree sizes grow with every
 * anchor (PROTOCOL.md §4), so that minimum is the block of the smallest valid checkpoint
 * covering the leaf, the one `export` proves it against; a valid checkpoint is linked to the
 * next larger cited one by a verified consistency proof.
 */
export function anchorBlockIndex(
  states: readonly CheckpointState[],
): (leafIndex: number) => number | undefined {
  const valid = states
    .filter((s) => s.anchorBlock !== undefined && checkpointCode(s).code === 'valid')
    .sort((a, b) => a.treeSize - b.treeSize);
  // suffixMin[k] = min anchorBlock of valid[k..]
  const suffixMin = new Array<number>(valid.length);
  let m = Number.POSITIVE_INFINITY;
  for (let k = valid.length - 1; k >= 0; k--) {
    m = Math.min(m, valid[k]!.anchorBlock!);
    suffixMin[k] = m;
  }
  return (leafIndex) => {
    let lo = 0;
    let hi = valid.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (valid[mid]!.treeSize > leafIndex) hi = mid;
      else lo = mid + 1;
    }
    return lo < valid.length ? suffixMin[lo] : undefined;
  };
}
