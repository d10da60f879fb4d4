/**
 * @module verify/verify
 * The auditor's verifier of PROTOCOL.md §5: checks a disclosure bundle against the
 * `Anchored` events of the ledger (PROTOCOL.md §4) without trusting the gateway that
 * produced it. Pure and offline: the caller fetches the anchors; nothing here opens a
 * socket or a file. Imports from `gateway/` only the wire codec (`protocol/`).
 * This file holds the report, the verdict and `verifyBundle`; the checks are in
 * `./checkpoints.ts` (per checkpoint and consistency link), `./entries.ts` (per entry) and
 * `./sequences.ts` (completeness of each device's chain in the range).
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
 * extension of §5) gets steps 5-7 on its leaf hash and is `shredded` when they pass and a
 * valid shredding record of the bundle lists its leaf (`./shreddings.ts`, checked first,
 * also by steps 5-7, and reported in `shreddings`); otherwise `malformed`. It then takes its
 * device and seq from the record.
 *
 * Per checkpoint: an anchor in `anchors` has the bundle's logId, its treeSize and its
 * rootHash, in the transaction and block the bundle names, and `log.logId` = SHA-256(origin)
 * [`checkpoint_not_anchored`]; every consistency proof that names it verifies (RFC 9162
 * §2.1.4), no other checkpoint of the same size has another root, and when the bundle cites
 * several sizes, a verified consistency proof links it to the next larger cited size ("a
 * bundle citing several checkpoints of one log carries a chain of them")
 * [`inconsistent_checkpoints`]; a proof that does not verify is reported once, in `links`.
 *
 * Beside the codes, the report's `sequence` gives each device's range with how its ends are
 * proven (boundary frames, or seq 1 at the start) and lists gaps (missing seqs, or a `prev`
 * that is not the hash of the frame before) among the valid entries, with the entries on
 * both sides, counting an identical (dev, seq) once (`analyseSequences`). The `verdict` is
 * VALID, INCOMPLETE or INVALID (`Verdict`). A malformed entry (non-canonical encoding
 * included) is reported with its index; the others are still checked.
 *
 * Trust: bundle data is attacker-controlled; failures are reported per entry and per
 * checkpoint, never thrown. Reasons are fixed texts: no frame content, identifiers or
 * other bundle values. Not checked: the optional checkpoint `note`; revocation when no
 * registry events are given (`registryChecked: false` in the report).
 */
// The pure chain check, not the kgc barrel (which reaches node:fs): this file is in the
// auditor page's browser bundle.
import { type CertificateChecker, verifyCertificateChain } from '../kgc/chain.js';
import type { AnchorRecord } from '../ledger/index.js';
import { InclusionPathCache } from '../log/index.js';
import type { DisclosureBundle, DisclosureDevice } from './bundle.js';
import {
  anchorBlockIndex,
  type CheckpointCode,
  checkCheckpoints,
  checkpointCode,
  hexBytes,
  type LinkResult,
} from './checkpoints.js';
import {
  CertificateCache,
  checkEntry,
  checkProof,
  type EntryContext,
  type EntryResult,
  entryResult,
  type Outcome,
  RegistryAtTime,
  type RegistryEvent,
} from './entries.js';
import { ChainHashText } from './hash-text.js';
import { analyseSequences, type SequenceReport, sequenceInputs } from './sequences.js';
import { checkShreddings, type ShreddingResult } from './shreddings.js';

export type { CertificateChecker } from '../kgc/chain.js';

/** One `Anchored(logId, treeSize, rootHash, checkpointTime)` event, as the ledger client returns it. */
export type { AnchorRecord } from '../ledger/index.js';
export type { LinkResult } from './checkpoints.js';
export { type CheckpointCode, logIdOf } from './checkpoints.js';
export { ENTRY_CODES, type EntryCode, type EntryResult, type RegistryEvent } from './entries.js';
export {
  analyseSequences,
  type DeviceRange,
  GENESIS_PREV,
  type RangeEnd,
  type RangeStart,
  type SequenceGap,
  type SequenceInput,
  type SequenceReport,
  type SequenceSide,
  sequenceInputs,
} from './sequences.js';
export { SHREDDING_CODES, type ShreddingCode, type ShreddingResult } from './shreddings.js';

/**
 * The bundle's verdict. `VALID`: every entry, checkpoint and consistency proof verifies, no
 * bundle-level problem, and every device's chain in the range is complete with both ends
 * proven (`./sequences.ts`). `INVALID`: something does not verify (an entry that is neither
 * `valid` nor `shredded`, a checkpoint, a consistency proof), a bundle-level problem
 * (`BundleProblem`), or a (dev, seq) with two different frames. `INCOMPLETE`: nothing failed,
 * but the chain has a gap or an end that is not proven.
 */
export type Verdict = 'VALID' | 'INCOMPLETE' | 'INVALID';

/**
 * A finding about the bundle as a whole. `empty`: no entries (PROTOCOL.md §6: "An empty
 * `entries` is not valid"); `order`: entries not in strictly increasing leaf index (the
 * canonical order `export` writes; one log holds each frame once, so a repeated or moved
 * entry is not a bundle `export` made); `boundary`: a device with two before- (or
 * after-) boundary frames, or a boundary frame that is not below (above) every frame of
 * the device's range; `note`: a checkpoint carries a `note`, which this verifier does not
 * check (PROTOCOL.md §6: a note, when present, MUST verify; a bundle never carries a note
 * that nothing checks; `export` writes none), so the bundle is not valid with it.
 */
export interface BundleProblem {
  kind: 'empty' | 'order' | 'boundary' | 'note';
  /** The entry where it was found (for `order`). */
  index?: number;
  reason: string;
}

/**
 * The verdict from its parts: `integrity` is "every entry, checkpoint and link verified and
 * no bundle problem"; several bundles analysed together combine their integrity and
 * analyse their sequences as one.
 */
export function verdictOf(integrity: boolean, sequence: SequenceReport): Verdict {
  if (!integrity || sequence.conflicts.length > 0) return 'INVALID';
  return sequence.complete ? 'VALID' : 'INCOMPLETE';
}

export interface CheckpointResult {
  treeSize: number;
  code: CheckpointCode;
  reason?: string;
}

export interface BundleReport {
  /** `verdict === 'VALID'`. */
  ok: boolean;
  verdict: Verdict;
  /**
   * Every entry is `valid` or `shredded`, every checkpoint, consistency proof and shredding
   * record is valid, and there is no bundle problem: what the bundle holds verifies (its completeness is
   * `sequence.complete`).
   */
  integrity: boolean;
  problems: BundleProblem[];
  /** One per bundle entry, in bundle order. */
  entries: EntryResult[];
  /** One per bundle checkpoint, in bundle order. */
  checkpoints: CheckpointResult[];
  /** One per `consistency` item, in bundle order: a broken link is reported here, once. */
  links: LinkResult[];
  /** One per shredding record (`bundle.shreddings`), in bundle order (`./shreddings.ts`). */
  shreddings: ShreddingResult[];
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
  /** Per device range, ends, gaps, duplicates and conflicts among the valid entries (`analyseSequences`). */
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

  const { states, bySize, links } = checkCheckpoints(bundle, anchors);
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
    hashText: new ChainHashText(),
    shredded: new Map(),
    line: undefined,
  };
  const shreddings = checkShreddings(bundle.shreddings ?? [], (item, leaf) => checkProof(item, leaf, ctx));
  ctx.shredded = shreddings.covered;

  const total = bundle.entries.length;
  const every = Math.max(1, opts.progressEvery ?? 1000);
  const entries = bundle.entries.map((entry, index): EntryResult => {
    let outcome: Outcome;
    ctx.line = undefined;
    try {
      outcome = checkEntry(entry, index, ctx);
    } catch {
      outcome = { code: 'malformed', reason: 'the entry does not have the shape of PROTOCOL.md §5' };
    }
    // What the checks made before a throw stays, as a line grown in place would.
    const result = ctx.line ?? entryResult(entry, index);
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
  const problems = [...bundleProblems(entries), ...noteProblems(bundle)];
  const integrity =
    valid + shredded === entries.length &&
    checkpoints.every((c) => c.code === 'valid') &&
    links.every((l) => l.code === 'valid') &&
    shreddings.results.every((x) => x.code === 'valid') &&
    problems.length === 0;
  const sequence = analyseSequences(
    sequenceInputs(entries),
    bundle.devices.map((d) => d.dev),
  );
  const verdict = verdictOf(integrity, sequence);
  return {
    ok: verdict === 'VALID',
    verdict,
    integrity,
    problems,
    entries,
    checkpoints,
    links,
    shreddings: shreddings.results,
    summary: { total, valid, shredded, invalid: total - valid - shredded, byCode },
    registryChecked: opts.registry !== undefined,
    sequence,
  };
}

/**
 * A checkpoint `note` is never ignored (PROTOCOL.md §6): this verifier has no checkpoint key
 * bound to the gateway to check a C2SP signed note against, so a bundle carrying one is not
 * valid (`export` writes none; an auditor who has the gateway's vkey can check the note
 * with it apart: README "Signed checkpoints and the verifier key").
 */
function noteProblems(bundle: DisclosureBundle): BundleProblem[] {
  return bundle.checkpoints.flatMap((c) =>
    c.note === undefined
      ? []
      : [
          {
            kind: 'note' as const,
            reason: `checkpoint ${c.treeSize} carries a note, which this verifier does not check (a bundle carries no note that nothing checks)`,
          },
        ],
  );
}

/** Bundle-level findings (`BundleProblem`): an empty bundle, entries out of log order. */
function bundleProblems(entries: readonly EntryResult[]): BundleProblem[] {
  if (entries.length === 0) return [{ kind: 'empty', reason: 'the bundle has no entries' }];
  const problems: BundleProblem[] = [];
  let last = -1;
  for (const e of entries) {
    // An entry whose leaf index could not be read is reported malformed on its own.
    if (typeof e.leafIndex !== 'number' || e.leafIndex < 0) continue;
    if (e.leafIndex <= last) {
      problems.push({
        kind: 'order',
        index: e.index,
        reason:
          e.leafIndex === last
            ? 'the same leaf index as the entry before it (each log position is disclosed once)'
            : 'a leaf index below the entry before it (entries are in increasing log order)',
      });
    }
    last = Math.max(last, e.leafIndex);
  }
  problems.push(...boundaryProblems(entries));
  return problems;
}

/** One bundle's boundary marks per device: one before, one after, outside the range. */
function boundaryProblems(entries: readonly EntryResult[]): BundleProblem[] {
  const byDev = new Map<string, { before: EntryResult[]; after: EntryResult[]; lo: number; hi: number }>();
  for (const e of entries) {
    if (e.dev === undefined || e.seq === undefined) continue;
    let d = byDev.get(e.dev);
    if (!d) {
      d = { before: [], after: [], lo: Number.POSITIVE_INFINITY, hi: Number.NEGATIVE_INFINITY };
      byDev.set(e.dev, d);
    }
    if (e.boundary === 'before') d.before.push(e);
    else if (e.boundary === 'after') d.after.push(e);
    else {
      d.lo = Math.min(d.lo, e.seq);
      d.hi = Math.max(d.hi, e.seq);
    }
  }
  const problems: BundleProblem[] = [];
  for (const d of byDev.values()) {
    const bad = (e: EntryResult, reason: string) =>
      problems.push({ kind: 'boundary', index: e.index, reason });
    for (const e of d.before.slice(1)) bad(e, 'a second before-boundary frame of the same device');
    for (const e of d.after.slice(1)) bad(e, 'a second after-boundary frame of the same device');
    for (const e of d.before)
      if (e.seq! >= d.lo) bad(e, "a before-boundary frame inside or after the device's range");
    for (const e of d.after)
      if (e.seq! <= d.hi) bad(e, "an after-boundary frame inside or before the device's range");
    const [b, a] = [d.before[0], d.after[0]];
    if (b && a && b.seq! >= a.seq!) bad(a, 'an after-boundary frame not after the before-boundary frame');
  }
  return problems.sort((x, y) => x.index! - y.index!);
}
