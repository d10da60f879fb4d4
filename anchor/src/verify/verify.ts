/**
 * @module verify/verify
 * The auditor's verifier of PROTOCOL.md §5: checks a disclosure bundle against the
 * `Anchored` events of the ledger (PROTOCOL.md §4) without trusting the gateway that
 * produced it. Pure and offline: the caller fetches the anchors; nothing here opens a
 * socket or a file. Imports from `gateway/` only the wire codec (`protocol/`).
 * This file holds the report, the sequence analysis and `verifyBundle`; the checks are in
 * `./checkpoints.ts` (per checkpoint) and `./entries.ts` (per entry).
 *
 * Per entry, in order (the first failure is the entry's code):
 * 1. the frame decodes strictly and its kid equals its body's dev      [`malformed`]
 * 2. the bundle carries a certificate for that device                 [`unknown_device`]
 * 3. the certificate chains to `kgc.root` through `kgc.intermediates`,
 *    is valid at the frame's `ts`, and its commonName is the device id [`untrusted_certificate`]
 * 4. the COSE signature verifies with the certificate's key           [`bad_signature`]
 *    (`ts` is the frame's signed claim: with a trusted certificate that is not valid at
 *    `ts`, a signature that does not verify is `bad_signature`, one that does is
 *    `untrusted_certificate`)
 * 5. the bundle has a checkpoint of the entry's treeSize              [`checkpoint_not_anchored`]
 * 6. hashLeaf(frame) is leaf `leafIndex` of that checkpoint's tree     [`bad_inclusion_proof`]
 * 7. the checkpoint itself is valid (below)                           [its code]
 * 8. registry at time, when registry events are given: let B be the smallest block of an
 *    `Anchored` event (chain evidence, not the bundle's claim) of a valid bundle checkpoint
 *    whose treeSize > leafIndex; the device's registry state after every event in blocks
 *    <= B, in (block, log index) order, must be "registered with spkiHash = SHA-256 of the
 *    signing certificate's SubjectPublicKeyInfo"                   [`untrusted_certificate`]
 *    and not revoked                                                  [`revoked_at_time`]
 *    (a revocation in block B itself counts: the frame is not proven logged before it).
 * A shredded entry (`{leafIndex, treeSize, leafHash, shredded: true, proof}`, an additive
 * extension of §5) gets steps 5-7 on its leaf hash and is `shredded` when they pass.
 *
 * Per checkpoint: an anchor in `anchors` has the bundle's logId, its treeSize and its
 * rootHash, in the transaction and block the bundle names, and `log.logId` = SHA-256(origin)
 * [`checkpoint_not_anchored`]; every consistency proof that names it verifies (RFC 9162
 * §2.1.4), no other checkpoint of the same size has another root, and when the bundle cites
 * several sizes, verified consistency proofs link it to the largest ("a bundle citing
 * several checkpoints of one log carries a chain of them") [`inconsistent_checkpoints`].
 *
 * Beside the codes, the report's `sequence` lists gaps (missing seqs, or a `prev` that is
 * not the hash of the frame before) in each device's chain among the valid entries, with
 * the entries on both sides, and counts an identical (dev, seq) once (`analyseSequences`).
 *
 * Trust: bundle data is attacker-controlled; failures are reported per entry and per
 * checkpoint, never thrown. Reasons are fixed texts: no frame content, identifiers or
 * other bundle values. Not checked: the optional checkpoint `note`; revocation when no
 * registry events are given (`registryChecked: false` in the report).
 */
// The pure chain check, not the kgc barrel (which reaches node:fs): this file is in the
// auditor page's browser bundle.
import { type CertificateChecker, verifyCertificateChain } from '../kgc/chain.js';
import type { AnchorRecord, Hex } from '../ledger/index.js';
import { InclusionPathCache } from '../log/index.js';
import type { DisclosureBundle, DisclosureDevice } from './bundle.js';
import {
  anchorBlockIndex,
  type CheckpointCode,
  checkCheckpoints,
  checkpointCode,
  hexBytes,
} from './checkpoints.js';
import {
  CertificateCache,
  checkEntry,
  type EntryContext,
  type EntryResult,
  type Outcome,
  RegistryAtTime,
  type RegistryEvent,
} from './entries.js';

export type { CertificateChecker } from '../kgc/chain.js';

/** One `Anchored(logId, treeSize, rootHash, checkpointTime)` event, as the ledger client returns it. */
export type { AnchorRecord } from '../ledger/index.js';
export { type CheckpointCode, logIdOf } from './checkpoints.js';
export { ENTRY_CODES, type EntryCode, type EntryResult, type RegistryEvent } from './entries.js';

/** An entry on one side of a sequence gap. */
export interface SequenceSide {
  bundle?: number;
  index: number;
  leafIndex: number;
  seq: number;
  ts: number;
}

/** A break in one device's frame chain between two entries of the bundle(s). */
export interface SequenceGap {
  dev: string;
  /** `missing`: seqs between the two are absent; `prev_mismatch`: consecutive seqs whose `prev` is not the hash of the frame before. */
  kind: 'missing' | 'prev_mismatch';
  /** First and last missing seq (for `missing`). */
  fromSeq: number;
  toSeq: number;
  before: SequenceSide;
  after: SequenceSide;
}

export interface CheckpointResult {
  treeSize: number;
  code: CheckpointCode;
  reason?: string;
}

export interface BundleReport {
  /** True when every entry and every checkpoint is valid (vacuously true for none). */
  ok: boolean;
  /** One per bundle entry, in bundle order. */
  entries: EntryResult[];
  /** One per bundle checkpoint, in bundle order. */
  checkpoints: CheckpointResult[];
  summary: {
    total: number;
    valid: number;
    /** Shredded entries whose leaf hash is proven: neither valid readings nor failures. */
    shredded: number;
    invalid: number;
    byCode: Record<string, number>;
  };
  /** Whether the device registry at time (PROTOCOL.md §4) was checked: `opts.registry` given. */
  registryChecked: boolean;
  /** Gaps, duplicates and conflicts among the valid entries (`analyseSequences`). */
  sequence: SequenceReport;
}

export interface VerifyBundleOptions {
  /** Certificate-chain checker; default `verifyCertificateChain` of `anchor/src/kgc/chain.ts`. */
  certificateCheck?: CertificateChecker;
  /**
   * The registry's device events (all devices, chain order not required). When given, a
   * signature counts only if its key was the device's registered, unrevoked key at the
   * anchoring block of the first valid checkpoint covering the entry (see the module doc).
   * When absent the registry is not checked and the report says so (`registryChecked`).
   */
  registry?: readonly RegistryEvent[];
  /** Called every `progressEvery` entries and once at the end. */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

// ---------------------------------------------------------------------------------------
// Sequences (reported beside the per-entry codes; they are not entry failures).

/** What the sequence analysis needs of an entry result, with the frame's `prev`. */
export interface SequenceInput {
  /** Which bundle, when several are analysed together. */
  bundle?: number;
  index: number;
  leafIndex: number;
  dev: string;
  seq: number;
  ts: number;
  frameHash: Hex;
  prev: Hex;
}

export interface SequenceReport {
  /** Distinct (dev, seq) among the valid entries: each reading counted once, however many logs hold it. */
  distinct: number;
  /** Breaks in a device's chain between entries that are present. */
  gaps: SequenceGap[];
  /** Entries whose (dev, seq) and bytes were already seen (e.g. the same frame in two logs): counted once. */
  duplicates: number;
  /** (dev, seq) pairs seen with different bytes. */
  conflicts: { dev: string; seq: number; indexes: number[] }[];
}

/** The sequence inputs of a report's valid entries, tagged with `bundle` when given. */
export function sequenceInputs(entries: readonly EntryResult[], bundle?: number): SequenceInput[] {
  const out: SequenceInput[] = [];
  for (const e of entries) {
    if (e.code !== 'valid' || e.dev === undefined || e.seq === undefined) continue;
    if (bundle === undefined) {
      // A valid entry result carries every field of a SequenceInput: no copy.
      out.push(e as SequenceInput);
      continue;
    }
    const s: SequenceInput = {
      index: e.index,
      leafIndex: e.leafIndex,
      dev: e.dev,
      seq: e.seq,
      ts: e.ts!,
      frameHash: e.frameHash!,
      prev: e.prev!,
    };
    if (bundle !== undefined) s.bundle = bundle;
    out.push(s);
  }
  return out;
}

/**
 * Finds gaps and chain breaks in each device's frames (PROTOCOL.md §1 `seq` and `prev`),
 * counting an identical (dev, seq) once (ARCHITECTURE.md scale-out: one frame may sit in
 * two gateways' logs). Pure.
 * @example
 * const { gaps } = analyseSequences(inputs);
 */
export function analyseSequences(inputs: readonly SequenceInput[]): SequenceReport {
  const byDev = new Map<string, Map<number, SequenceInput>>();
  let duplicates = 0;
  const conflicts = new Map<string, { dev: string; seq: number; indexes: number[] }>();
  for (const e of inputs) {
    let seqs = byDev.get(e.dev);
    if (!seqs) {
      seqs = new Map();
      byDev.set(e.dev, seqs);
    }
    const seen = seqs.get(e.seq);
    if (!seen) {
      seqs.set(e.seq, e);
    } else if (seen.frameHash === e.frameHash) {
      duplicates++;
    } else {
      const key = `${e.dev}\u0000${e.seq}`;
      const c = conflicts.get(key) ?? { dev: e.dev, seq: e.seq, indexes: [seen.index] };
      c.indexes.push(e.index);
      conflicts.set(key, c);
    }
  }
  const gaps: SequenceGap[] = [];
  const side = (e: SequenceInput): SequenceSide => {
    const s: SequenceSide = { index: e.index, leafIndex: e.leafIndex, seq: e.seq, ts: e.ts };
    if (e.bundle !== undefined) s.bundle = e.bundle;
    return s;
  };
  for (const [dev, seqs] of byDev) {
    const sorted = [...seqs.values()].sort((a, b) => a.seq - b.seq);
    for (let k = 1; k < sorted.length; k++) {
      const a = sorted[k - 1]!;
      const b = sorted[k]!;
      if (b.seq > a.seq + 1) {
        gaps.push({
          dev,
          kind: 'missing',
          fromSeq: a.seq + 1,
          toSeq: b.seq - 1,
          before: side(a),
          after: side(b),
        });
      } else if (b.prev !== a.frameHash) {
        gaps.push({
          dev,
          kind: 'prev_mismatch',
          fromSeq: b.seq,
          toSeq: b.seq,
          before: side(a),
          after: side(b),
        });
      }
    }
  }
  gaps.sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : x.fromSeq - y.fromSeq));
  let distinct = 0;
  for (const seqs of byDev.values()) distinct += seqs.size;
  return { distinct, gaps, duplicates, conflicts: [...conflicts.values()] };
}

/**
 * Verifies a disclosure bundle against the ledger's anchors (PROTOCOL.md §5). Never
 * throws for bad bundle data: every entry and checkpoint gets a code.
 * @param bundle - from `parseBundle` (entries of another shape are reported `malformed`).
 * @param anchors - the `Anchored` events of the bundle's logId, as read from the chain;
 *   hex is compared case-insensitively.
 * @param opts.certificateCheck - default `verifyCertificateChain` (anchor/src/kgc/chain.ts).
 * @param opts.registry - the registry's device events; absent = registry not checked.
 * @throws {TypeError} when `bundle` or `anchors` is not of the documented shape at all.
 * @example
 * const report = verifyBundle(parseBundle(JSON.parse(text)), await ledger.anchorsOf(logId));
 * if (!report.ok) for (const e of report.entries) if (e.code !== 'valid') console.log(e.index, e.code);
 */
export function verifyBundle(
  bundle: DisclosureBundle,
  anchors: readonly AnchorRecord[],
  opts: VerifyBundleOptions = {},
): BundleReport {
  if (typeof bundle !== 'object' || bundle === null || !Array.isArray(bundle.entries)) {
    throw new TypeError('verifyBundle: bundle must be a DisclosureBundle (see parseBundle)');
  }
  if (!Array.isArray(anchors)) throw new TypeError('verifyBundle: anchors must be an array');

  const { states, bySize } = checkCheckpoints(bundle, anchors);
  const devices = new Map<string, DisclosureDevice[]>();
  for (const d of bundle.devices) {
    const list = devices.get(d.dev);
    if (list) list.push(d);
    else devices.set(d.dev, [d]);
  }
  const ctx: EntryContext = {
    devices,
    certs: new CertificateCache(
      opts.certificateCheck ?? verifyCertificateChain,
      bundle.kgc.root,
      bundle.kgc.intermediates,
    ),
    bySize,
    registry: opts.registry ? new RegistryAtTime(opts.registry) : undefined,
    anchorBlockOf: anchorBlockIndex(states),
    inclusion: new InclusionPathCache(hexBytes),
  };

  const total = bundle.entries.length;
  const every = Math.max(1, opts.progressEvery ?? 1000);
  const entries = bundle.entries.map((entry, index): EntryResult => {
    const result: EntryResult = { index, leafIndex: entry?.leafIndex, code: 'malformed' };
    let outcome: Outcome;
    try {
      outcome = checkEntry(entry, result, ctx);
    } catch {
      outcome = { code: 'malformed', reason: 'the entry does not have the shape of PROTOCOL.md §5' };
    }
    result.code = outcome.code;
    if (outcome.reason !== undefined) result.reason = outcome.reason;
    if (opts.onProgress && (index + 1) % every === 0) opts.onProgress(index + 1, total);
    return result;
  });
  opts.onProgress?.(total, total);

  const byCode: Record<string, number> = {};
  for (const e of entries) byCode[e.code] = (byCode[e.code] ?? 0) + 1;
  const valid = byCode.valid ?? 0;
  const shredded = byCode.shredded ?? 0;
  const checkpoints = states.map((s): CheckpointResult => ({ treeSize: s.treeSize, ...checkpointCode(s) }));
  return {
    ok: valid + shredded === entries.length && checkpoints.every((c) => c.code === 'valid'),
    entries,
    checkpoints,
    summary: { total, valid, shredded, invalid: total - valid - shredded, byCode },
    registryChecked: opts.registry !== undefined,
    sequence: analyseSequences(sequenceInputs(entries)),
  };
}
