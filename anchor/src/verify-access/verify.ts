/**
 * @module verify-access/verify
 * The auditor's verifier of an access-log bundle (issue 18; README "The access log (issue
 * 18)"): pure and offline like anchor/src/verify, whose checkpoint and anchor checks it
 * reuses (`checkCheckpoints`: anchors by logId, tree size and root in the named transaction,
 * logId = SHA-256(origin), consistency chain). Imports from `gateway/` only the wire codec.
 *
 * Per checkpoint: the checks of anchor/src/verify [`checkpoint_not_anchored`,
 * `inconsistent_checkpoints`], then its signed note must verify with the access log's vkey
 * (the auditor's pinned one, else the bundle's; its key name must be the origin) and name the
 * same origin, tree size and root [`bad_note`].
 *
 * Per item, in bundle order (the first failure is its code):
 * 1. the item has its shape; a full entry's text is a canonical v1 access entry   [`malformed`]
 * 2. its leaf index is above the previous item's (strictly increasing)            [`entry_out_of_order`]
 * 3. it lies in the scope: index in [fromIndex, toIndex), the bundle's patient
 *    (when scoped) and gateway; withheld only in a patient's bundle               [`out_of_scope`]
 * 4. a full entry's bytes hash to its `leafHash` (SHA-256(0x00 || bytes))         [`leaf_hash_mismatch`]
 * 5. the bundle cites a checkpoint of its treeSize                                [`checkpoint_not_anchored`]
 * 6. `leafHash` is leaf `leafIndex` of that checkpoint's tree (RFC 9162 §2.1.3.2) [`bad_inclusion_proof`]
 * 7. that checkpoint is valid (above)                                             [its code]
 * 8. the consent hook, when given (`consentCheck`), on a full entry with its anchoring block
 *    (the earliest block of a valid cited checkpoint covering the leaf)           [the hook's code]
 * A withheld item that passes is `withheld`, a full entry `valid`.
 *
 * Completeness: every leaf index in [scope.fromIndex, scope.toIndex) must have an item (full
 * or withheld); each run of missing indices is one `gaps` item [`entry_missing`]. `toIndex`
 * must not exceed the largest cited checkpoint. `coversWholeLog` is true when the range is
 * [0, largest cited tree size): no entry of the anchored log is left out.
 *
 * Trust: bundle data is attacker-controlled; every failure is a verdict, never a throw, and
 * reasons are fixed texts.
 */
import { type ErrorGroupCode, meaningsOf } from '../../../gateway/src/protocol/error-codes.js';
import type { AnchorRecord } from '../ledger/index.js';
import { bytesEqual, hashLeaf, openCheckpoint, parseVkey, verifyInclusion } from '../log/index.js';
import {
  anchorBlockIndex,
  type CheckpointState,
  checkCheckpoints,
  checkpointCode,
  hexBytes,
  type LinkResult,
} from '../verify/checkpoints.js'; // not the barrel: the auditor page bundles this file (no network client)
import type { AccessBundle, AccessItem } from './bundle.js';
import { type AccessEntry, decodeAccessEntry } from './entry.js';

/** The verdicts of one access-bundle item or gap (the README table is checked against it). */
export const ACCESS_ENTRY_CODES = meaningsOf('access_entry');
export type AccessEntryCode = ErrorGroupCode<'access_entry'>;
export type AccessCheckpointCode = ErrorGroupCode<'access_checkpoint'>;

export interface AccessEntryResult {
  /** Position in `bundle.entries`. */
  index: number;
  leafIndex?: number;
  code: AccessEntryCode;
  reason?: string;
  /** The decoded entry, once its text is a canonical access entry. */
  entry?: AccessEntry;
  /** Earliest anchoring block proving the leaf logged (a valid cited checkpoint covering it). */
  anchoredBlock?: number;
}

export interface AccessGap {
  /** First and last missing leaf index (inclusive). */
  from: number;
  to: number;
  code: 'entry_missing';
}

export interface AccessCheckpointResult {
  treeSize: number;
  code: AccessCheckpointCode;
  reason?: string;
}

/**
 * The hook for consent coverage (the lead's, issue 18): called for every full entry that
 * passed steps 1-7, with the earliest anchoring block of its leaf. Undefined: covered.
 */
export type ConsentCheck = (
  entry: AccessEntry,
  anchoredBlock: number | undefined,
) => { code: AccessEntryCode; reason?: string } | undefined;

export interface VerifyAccessOptions {
  /** The access log's C2SP vkey the auditor trusts (default: the bundle's own, `vkeyPinned` false). */
  vkey?: string;
  consentCheck?: ConsentCheck;
}

export interface AccessReport {
  /** VALID: every item `valid` or `withheld`, no gap, every checkpoint and link valid, no problem. */
  verdict: 'VALID' | 'INVALID';
  entries: AccessEntryResult[];
  gaps: AccessGap[];
  checkpoints: AccessCheckpointResult[];
  links: LinkResult[];
  /** Bundle-level findings (fixed texts): an empty bundle, a scope beyond the checkpoints, a bad vkey. */
  problems: string[];
  coversWholeLog: boolean;
  vkeyPinned: boolean;
  counts: Partial<Record<AccessEntryCode, number>>;
}

/** The gateway id of an access origin `vitaltrail/<gatewayId>/access`, or undefined. */
function gatewayOfOrigin(origin: string): string | undefined {
  return /^vitaltrail\/([^/]+)\/access$/.exec(origin)?.[1];
}

/** Checks each cited checkpoint's signed note; returns the reason per failing state. */
function checkNotes(
  bundle: AccessBundle,
  states: CheckpointState[],
  vkey: string,
): Map<CheckpointState, string> {
  const bad = new Map<CheckpointState, string>();
  let key: ReturnType<typeof parseVkey> | undefined;
  try {
    key = parseVkey(vkey);
    if (key.name !== bundle.log.origin) key = undefined;
  } catch {
    key = undefined;
  }
  bundle.checkpoints.forEach((cp, i) => {
    const s = states[i]!;
    if (!key) {
      bad.set(s, 'the vkey is not a C2SP Ed25519 key named by the log origin');
      return;
    }
    try {
      const c = openCheckpoint(cp.note, key);
      const root = hexBytes(cp.rootHash);
      if (c.treeSize !== cp.treeSize || !root || !bytesEqual(c.rootHash, root))
        bad.set(s, 'the signed note names another tree size or root');
    } catch {
      bad.set(s, 'the signed note does not verify with the access log key');
    }
  });
  return bad;
}

/**
 * Verifies an access-log bundle against the chain's `Anchored` events of its logId
 * (anchor/src/verify `fetchChainEvidence` reads them).
 * @example
 * const report = verifyAccessBundle(parseAccessBundle(json), evidence.anchors, { vkey });
 */
export function verifyAccessBundle(
  bundle: AccessBundle,
  anchors: readonly AnchorRecord[],
  opts: VerifyAccessOptions = {},
): AccessReport {
  const problems: string[] = [];
  const { states, bySize, links } = checkCheckpoints(bundle, anchors);
  const badNotes = checkNotes(bundle, states, opts.vkey ?? bundle.log.vkey);
  const stateCode = (s: CheckpointState): { code: AccessCheckpointCode; reason?: string } => {
    const c = checkpointCode(s);
    if (c.code !== 'valid') return c;
    const note = badNotes.get(s);
    return note === undefined ? { code: 'valid' } : { code: 'bad_note', reason: note };
  };
  const checkpoints = states.map((s) => ({ treeSize: s.treeSize, ...stateCode(s) }));
  const blockOf = anchorBlockIndex(states.filter((s) => !badNotes.has(s)));
  const maxSize = states.reduce((m, s) => Math.max(m, s.treeSize), 0);
  const { scope } = bundle;
  if (bundle.entries.length === 0) problems.push('the bundle has no entries');
  if (scope.toIndex > maxSize) problems.push('the scope reaches beyond the largest cited checkpoint');
  const gateway = gatewayOfOrigin(bundle.log.origin);
  if (gateway === undefined) problems.push('the log origin is not an access log origin');

  let previous = -1;
  const covered: number[] = [];
  const entries = bundle.entries.map((item, index): AccessEntryResult => {
    const r = checkItem(item, index);
    if (item.leafIndex !== undefined) {
      // A moved item still accounts for its index (its own code says it moved).
      if (item.leafIndex >= scope.fromIndex && item.leafIndex < scope.toIndex) covered.push(item.leafIndex);
      if (r.code !== 'entry_out_of_order') previous = Math.max(previous, item.leafIndex);
    }
    return r;
  });

  function checkItem(item: AccessItem, index: number): AccessEntryResult {
    if ('malformed' in item) {
      return {
        index,
        ...(item.leafIndex !== undefined ? { leafIndex: item.leafIndex } : {}),
        code: 'malformed',
        reason: item.malformed,
      };
    }
    const at = { index, leafIndex: item.leafIndex };
    let entry: AccessEntry | undefined;
    if ('entry' in item) {
      const d = decodeAccessEntry(item.entry);
      if ('problem' in d) return { ...at, code: 'malformed', reason: d.problem };
      entry = d.entry;
    }
    if (item.leafIndex <= previous)
      return {
        ...at,
        code: 'entry_out_of_order',
        reason: 'the leaf index does not grow from the item before',
      };
    const withEntry = entry ? { ...at, entry } : at;
    if (item.leafIndex < scope.fromIndex || item.leafIndex >= scope.toIndex)
      return { ...withEntry, code: 'out_of_scope', reason: 'the leaf index is outside the scope range' };
    if (!entry && scope.patient === null)
      return { ...at, code: 'out_of_scope', reason: 'an entry is withheld in a bundle of every patient' };
    if (entry && scope.patient !== null && entry.patient !== scope.patient)
      return { ...withEntry, code: 'out_of_scope', reason: "the entry is not of the bundle's patient" };
    if (entry && entry.gateway !== gateway)
      return { ...withEntry, code: 'out_of_scope', reason: 'the entry names another gateway than the log' };
    const leafHash = hexBytes(item.leafHash)!;
    if ('entry' in item && !bytesEqual(hashLeaf(new TextEncoder().encode(item.entry)), leafHash))
      return { ...withEntry, code: 'leaf_hash_mismatch', reason: 'the entry does not hash to its leaf hash' };
    const cps = bySize.get(item.treeSize);
    if (!cps)
      return {
        ...withEntry,
        code: 'checkpoint_not_anchored',
        reason: 'the bundle cites no checkpoint of this tree size',
      };
    try {
      verifyInclusion(
        item.leafIndex,
        item.treeSize,
        leafHash,
        item.proof.map((h) => hexBytes(h)!),
        cps[0]!.root ?? new Uint8Array(0),
      );
    } catch {
      return { ...withEntry, code: 'bad_inclusion_proof', reason: 'the inclusion proof does not verify' };
    }
    const c = stateCode(cps[0]!);
    if (c.code !== 'valid') return { ...withEntry, code: c.code, ...(c.reason ? { reason: c.reason } : {}) };
    const anchoredBlock = blockOf(item.leafIndex);
    const proven = anchoredBlock === undefined ? withEntry : { ...withEntry, anchoredBlock };
    if (!entry) return { ...proven, code: 'withheld' };
    const consent = opts.consentCheck?.(entry, anchoredBlock);
    if (consent)
      return { ...proven, code: consent.code, ...(consent.reason ? { reason: consent.reason } : {}) };
    return { ...proven, code: 'valid' };
  }

  // Completeness: runs of indices of [fromIndex, toIndex) that no item accounts for.
  const gaps: AccessGap[] = [];
  let next = scope.fromIndex;
  for (const i of [...new Set(covered)].sort((a, b) => a - b)) {
    if (i > next) gaps.push({ from: next, to: i - 1, code: 'entry_missing' });
    next = i + 1;
  }
  if (next < scope.toIndex) gaps.push({ from: next, to: scope.toIndex - 1, code: 'entry_missing' });

  const counts: Partial<Record<AccessEntryCode, number>> = {};
  for (const e of entries) counts[e.code] = (counts[e.code] ?? 0) + 1;
  if (gaps.length > 0) counts.entry_missing = gaps.length;
  const ok =
    problems.length === 0 &&
    gaps.length === 0 &&
    entries.every((e) => e.code === 'valid' || e.code === 'withheld') &&
    checkpoints.every((c) => c.code === 'valid') &&
    links.every((l) => l.code === 'valid');
  return {
    verdict: ok ? 'VALID' : 'INVALID',
    entries,
    gaps,
    checkpoints,
    links,
    problems,
    coversWholeLog: scope.fromIndex === 0 && scope.toIndex === maxSize && maxSize > 0,
    vkeyPinned: opts.vkey !== undefined,
    counts,
  };
}
