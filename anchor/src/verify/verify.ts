/**
 * @module verify/verify
 * The auditor's verifier of PROTOCOL.md §5: checks a disclosure bundle against the
 * `Anchored` events of the ledger (PROTOCOL.md §4) without trusting the gateway that
 * produced it. Pure and offline: the caller fetches the anchors; nothing here opens a
 * socket or a file. Imports from `gateway/` only the wire codec (`protocol/`).
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
import { createHash, type KeyObject } from 'node:crypto';
import {
  type DecodedFrame,
  decodeFrame,
  FrameError,
  frameHashHex,
  verifyFrameSignature,
} from '../../../gateway/src/protocol/frame.js';
import {
  type CertificateCheck,
  type CertificateChecker,
  parseCertificatePem,
  verifyCertificateChain,
} from '../kgc/chain.js';
import type { AnchorRecord, Hex } from '../ledger/types.js';
import {
  bytesEqual,
  hashLeafPrefixed,
  MerkleError,
  RFC6962_LEAF_HASH_PREFIX,
  verifyConsistency,
} from '../log/index.js';
import { InclusionPathCache } from '../log/path-cache.js';
import type { DisclosureBundle, DisclosureDevice, DisclosureEntry } from './bundle.js';

export type { CertificateChecker } from '../kgc/chain.js';

/** One `Anchored(logId, treeSize, rootHash, checkpointTime)` event, as the ledger client returns it. */
export type { AnchorRecord } from '../ledger/types.js';

/** The verdicts of one bundle entry: the registry the README's table is checked against. */
export const ENTRY_CODES = {
  valid: 'every check passed',
  malformed: 'the frame does not parse as a v1 COSE_Sign1 frame (PROTOCOL.md §1)',
  bad_signature: "the signature does not verify with the device certificate's key",
  untrusted_certificate:
    'the device certificate does not chain to the KGC root, or was not valid at the frame time',
  bad_inclusion_proof: 'the leaf is not in the tree of the cited checkpoint',
  checkpoint_not_anchored: 'no Anchored event on chain carries this logId, tree size and root',
  inconsistent_checkpoints: 'the cited checkpoints are not proven to extend one another',
  unknown_device: 'the bundle carries no certificate for the device',
  revoked_at_time:
    "the device was revoked in the registry at or before the anchoring block of the first checkpoint covering the frame's log position",
  shredded:
    'the frame was destroyed under the retention policy; its leaf hash is proven in the anchored log (not a failure)',
} as const;

export type EntryCode = keyof typeof ENTRY_CODES;

export type CheckpointCode = 'valid' | 'checkpoint_not_anchored' | 'inconsistent_checkpoints';

export interface EntryResult {
  /** Position in `bundle.entries`. */
  index: number;
  leafIndex: number;
  /** The device id, once the frame decodes. */
  dev?: string;
  seq?: number;
  /** Device clock (ms), once the frame decodes. */
  ts?: number;
  /** SHA-256 of the frame bytes (PROTOCOL.md §1 `prev` of the next frame), once it decodes. */
  frameHash?: Hex;
  /** The frame's `prev` (hash of the device's previous frame), once it decodes. */
  prev?: Hex;
  code: EntryCode;
  reason?: string;
}

/** One `DeviceRegistered` / `DeviceRevoked` event of the registry (PROTOCOL.md §4), in chain order. */
export type RegistryEvent =
  | { kind: 'registered'; dev: string; spkiHash: Hex; blockNumber: number; logIndex: number }
  | { kind: 'revoked'; dev: string; blockNumber: number; logIndex: number };

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
function hexBytes(value: unknown): Uint8Array | undefined {
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

function sameHex(a: unknown, b: unknown): boolean {
  return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
}

// ---------------------------------------------------------------------------------------
// Checkpoints.

interface CheckpointState {
  treeSize: number;
  root: Uint8Array | undefined;
  /** Earliest block of a matching `Anchored` event (chain evidence, not the bundle's claim). */
  anchorBlock?: number;
  notAnchored?: string;
  inconsistent?: string;
}

function checkpointCode(s: CheckpointState): { code: CheckpointCode; reason?: string } {
  // A fork is the graver finding, so it is reported first.
  if (s.inconsistent !== undefined) return { code: 'inconsistent_checkpoints', reason: s.inconsistent };
  if (s.notAnchored !== undefined) return { code: 'checkpoint_not_anchored', reason: s.notAnchored };
  return { code: 'valid' };
}

function markInconsistent(states: readonly CheckpointState[] | undefined, reason: string): void {
  for (const s of states ?? []) s.inconsistent ??= reason;
}

function checkCheckpoints(
  bundle: DisclosureBundle,
  anchors: readonly AnchorRecord[],
): { states: CheckpointState[]; bySize: Map<number, CheckpointState[]> } {
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

  // RFC 9162 §2.1.4.2: every consistency proof; verified ones link their two sizes.
  const linked = new Map<number, number>(); // union-find over tree sizes
  const find = (x: number): number => {
    let r = x;
    while (linked.has(r) && linked.get(r) !== r) r = linked.get(r)!;
    return r;
  };
  for (const c of bundle.consistency) {
    const from = bySize.get(c.from);
    const to = bySize.get(c.to);
    if (!from || !to) {
      markInconsistent(from ?? to, 'a consistency proof names a checkpoint the bundle does not carry');
      continue;
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
    } catch {
      markInconsistent([...from, ...to], 'a consistency proof involving this checkpoint does not verify');
    }
  }
  // "A bundle citing several checkpoints of one log carries a chain of them."
  if (bySize.size > 1) {
    const largest = Math.max(...bySize.keys());
    for (const [size, same] of bySize) {
      if (find(size) !== find(largest)) {
        markInconsistent(same, 'no verified consistency proof links this checkpoint to the largest one');
      }
    }
  }
  return { states, bySize };
}

// ---------------------------------------------------------------------------------------
// Device certificates.

type Trusted = { ok: true; publicKey: KeyObject; spki: Hex };
/**
 * `expiredKey`: the chain is trusted but not valid at the frame's time. Since that time is
 * the frame's own (signed) claim, the signature still decides between a forged frame
 * (`bad_signature`) and a genuine one signed outside the certificate's validity.
 */
type Refused = { ok: false; code: 'untrusted_certificate'; reason: string; expiredKey?: KeyObject };

/**
 * Chain checks cost a few signature verifications each, and a bundle may hold many frames
 * per certificate. Validity periods are intervals, so a chain trusted at one instant is
 * trusted at every instant where all its certificates are valid: the checker's path window.
 * Any frame time inside that window needs no new check.
 */
class CertificateCache {
  readonly #check: CertificateChecker;
  readonly #root: string;
  readonly #intermediates: readonly string[];
  readonly #windows = new Map<
    string,
    { notBefore: number; notAfter: number; cn: string; trusted: Trusted }
  >();

  constructor(check: CertificateChecker, root: string, intermediates: readonly string[]) {
    this.#check = check;
    this.#root = root;
    this.#intermediates = intermediates;
  }

  #run(certPem: string, atMs: number): CertificateCheck {
    try {
      return this.#check(certPem, this.#root, this.#intermediates, atMs);
    } catch {
      return {
        ok: false,
        code: 'untrusted_certificate',
        reason: 'the certificate chain could not be checked',
      };
    }
  }

  check(certPem: string, dev: string, atMs: number): Trusted | Refused {
    const known = this.#windows.get(certPem);
    if (known && atMs >= known.notBefore && atMs <= known.notAfter) return this.#accept(known, dev);
    const r = this.#run(certPem, atMs);
    if (!r.ok) {
      if (r.code !== 'expired_certificate')
        return { ok: false, code: 'untrusted_certificate', reason: r.reason };
      const refused: Refused = {
        ok: false,
        code: 'untrusted_certificate',
        reason: `certificate not valid at the frame's time: ${r.reason}`,
      };
      const expiredKey = parseCertificatePem(certPem)?.publicKey;
      if (expiredKey) refused.expiredKey = expiredKey;
      return refused;
    }
    const accepted = {
      cn: r.cn,
      trusted: { ok: true, publicKey: r.publicKey, spki: r.spkiSha256.toLowerCase() as Hex } as Trusted,
    };
    // A checker's path window must hold the time it accepted; anything else is not cached.
    if (atMs >= r.pathNotBefore && atMs <= r.pathNotAfter) {
      this.#windows.set(certPem, { notBefore: r.pathNotBefore, notAfter: r.pathNotAfter, ...accepted });
    }
    return this.#accept(accepted, dev);
  }

  #accept(r: { cn: string; trusted: Trusted }, dev: string): Trusted | Refused {
    // The certificate must name the device that signed: its CN is the device id (PROTOCOL.md §2).
    if (r.cn !== dev)
      return { ok: false, code: 'untrusted_certificate', reason: 'certificate CN is not the device id' };
    return r.trusted;
  }
}

// ---------------------------------------------------------------------------------------
// Entries.

type Outcome = { code: EntryCode; reason?: string };

function checkSignature(
  frame: DecodedFrame,
  candidates: readonly DisclosureDevice[],
  certs: CertificateCache,
): Outcome | { signer: Hex } {
  if (candidates.length === 0) {
    return { code: 'unknown_device', reason: 'the bundle carries no certificate for this device' };
  }
  let refused: Refused | undefined;
  let signedOutsideValidity: Refused | undefined;
  let badSignature = false;
  // A device may have been re-enrolled: any trusted certificate of it may have signed.
  for (const d of candidates) {
    const r = certs.check(d.cert, frame.kid, frame.body.ts);
    if (r.ok) {
      if (verifyFrameSignature(frame, r.publicKey)) return { signer: r.spki };
      badSignature = true;
    } else if (r.expiredKey) {
      if (verifyFrameSignature(frame, r.expiredKey)) signedOutsideValidity ??= r;
      else badSignature = true;
    } else {
      refused ??= r;
    }
  }
  if (signedOutsideValidity) return { code: 'untrusted_certificate', reason: signedOutsideValidity.reason };
  if (badSignature) {
    return { code: 'bad_signature', reason: 'the signature does not verify with the device certificate' };
  }
  return { code: 'untrusted_certificate', reason: refused?.reason ?? 'certificate not trusted' };
}

// ---------------------------------------------------------------------------------------
// Device registry at time (PROTOCOL.md §4).

/**
 * The registry state of each device as a function of the block number. The state at
 * block B is the one after every event in blocks <= B, applied in (block, log index)
 * order: `DeviceRegistered` makes its spkiHash the device's one active key (a rotation
 * replaces the previous key), `DeviceRevoked` revokes the device.
 */
class RegistryAtTime {
  readonly #byDev = new Map<string, RegistryEvent[]>();

  constructor(events: readonly RegistryEvent[]) {
    for (const event of events) {
      // Hex compared as lowercase: normalised once here, not per entry.
      const e: RegistryEvent =
        event.kind === 'registered' && typeof event.spkiHash === 'string'
          ? { ...event, spkiHash: event.spkiHash.toLowerCase() as Hex }
          : event;
      const list = this.#byDev.get(e.dev);
      if (list) list.push(e);
      else this.#byDev.set(e.dev, [e]);
    }
    for (const list of this.#byDev.values()) {
      list.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
    }
  }

  check(dev: string, spki: Hex, block: number): Outcome | undefined {
    let state: RegistryEvent | undefined;
    for (const e of this.#byDev.get(dev) ?? []) {
      if (e.blockNumber > block) break;
      state = e;
    }
    if (state?.kind === 'revoked') {
      return {
        code: 'revoked_at_time',
        reason: 'the device was revoked at or before the anchoring block of its log position',
      };
    }
    // `spki` is lowercase (CertificateCache), as are the events' hashes.
    if (state?.kind !== 'registered' || state.spkiHash !== spki) {
      return {
        code: 'untrusted_certificate',
        reason: "the certificate's key was not the device's registered key at the anchoring block",
      };
    }
    return undefined;
  }
}

/**
 * The earliest anchoring block at which leaf `i` is provably in the log: the minimum
 * over the bundle's valid checkpoints of size > i (all valid checkpoints are linked by
 * verified consistency proofs, so leaf i of one is leaf i of every larger one).
 */
function anchorBlockIndex(states: readonly CheckpointState[]): (leafIndex: number) => number | undefined {
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

// ---------------------------------------------------------------------------------------
// Entries.

interface EntryContext {
  devices: Map<string, DisclosureDevice[]>;
  certs: CertificateCache;
  bySize: Map<number, CheckpointState[]>;
  registry: RegistryAtTime | undefined;
  anchorBlockOf: (leafIndex: number) => number | undefined;
  /** Inclusion proofs of neighbouring leaves share their upper paths: hashed once. */
  inclusion: InclusionPathCache;
}

/** RFC 9162 §2.1.3.2 inclusion of `leaf`, then the checkpoint's own verdict. */
function checkProof(entry: DisclosureEntry, leaf: Uint8Array, ctx: EntryContext): Outcome | undefined {
  const checkpoint = ctx.bySize.get(entry.treeSize)?.[0];
  if (!checkpoint?.root) {
    return { code: 'checkpoint_not_anchored', reason: 'the bundle has no checkpoint of this tree size' };
  }
  try {
    ctx.inclusion.verify(entry.leafIndex, entry.treeSize, leaf, entry.proof as unknown[], checkpoint.root);
  } catch (err) {
    return {
      code: 'bad_inclusion_proof',
      reason: err instanceof MerkleError ? err.reason : 'proof not usable',
    };
  }
  const cp = checkpointCode(checkpoint);
  return cp.code === 'valid' ? undefined : cp;
}

function checkEntry(entry: DisclosureEntry, result: EntryResult, ctx: EntryContext): Outcome {
  if (entry.shredded === true) {
    // The bytes are gone; the leaf hash is still proven in the anchored log.
    const leaf = hexBytes(entry.leafHash);
    if (leaf?.length !== 32) return { code: 'malformed', reason: 'the leaf hash is not 32 bytes of hex' };
    return (
      checkProof(entry, leaf, ctx) ?? {
        code: 'shredded',
        reason: 'frame destroyed under the retention policy; its leaf hash is in the anchored log',
      }
    );
  }
  if (typeof entry.frame !== 'string') return { code: 'malformed', reason: 'the frame is not base64 text' };
  // The frame is decoded one byte into its buffer, behind the leaf prefix: the leaf hash
  // then needs no copy of it.
  const text = entry.frame;
  const buffer = Buffer.allocUnsafe(1 + Math.ceil((text.length * 3) / 4));
  buffer[0] = RFC6962_LEAF_HASH_PREFIX;
  const length = buffer.write(text, 1, 'base64');
  const leafInput = new Uint8Array(buffer.buffer, buffer.byteOffset, 1 + length);
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(new Uint8Array(buffer.buffer, buffer.byteOffset + 1, length));
  } catch (err) {
    // FrameError reasons name the broken rule, never a value.
    return {
      code: 'malformed',
      reason: err instanceof FrameError ? err.reason : 'the frame does not decode',
    };
  }
  result.dev = frame.body.dev;
  result.seq = frame.body.seq;
  result.ts = frame.body.ts;
  result.frameHash = frameHashHex(frame.bytes);
  result.prev = hexOf(frame.body.prev);
  // PROTOCOL.md §1: "dev ... equals kid".
  if (frame.kid !== frame.body.dev)
    return { code: 'malformed', reason: 'kid and body dev name different devices' };

  const sig = checkSignature(frame, ctx.devices.get(frame.kid) ?? [], ctx.certs);
  if ('code' in sig) return sig;

  const proof = checkProof(entry, hashLeafPrefixed(leafInput), ctx);
  if (proof) return proof;

  if (ctx.registry) {
    const block = ctx.anchorBlockOf(entry.leafIndex);
    if (block === undefined) {
      return { code: 'checkpoint_not_anchored', reason: 'no valid anchored checkpoint covers this leaf' };
    }
    const reg = ctx.registry.check(frame.kid, sig.signer, block);
    if (reg) return reg;
  }
  return VALID;
}

const VALID: Outcome = Object.freeze({ code: 'valid' });

function hexOf(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
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
