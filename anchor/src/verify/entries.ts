/**
 * @module verify/entries
 * The per-entry checks of the auditor's verifier (PROTOCOL.md §5, steps 1-8 of
 * `./verify.ts`): strict frame decoding, the device certificate chain at the frame's time
 * (cached by path window), the COSE signature, RFC 9162 §2.1.3.2 inclusion in the cited
 * checkpoint, and the device registry at the anchoring block (PROTOCOL.md §4). Pure; the
 * entry's verdict is the first failing check, returned, never thrown.
 */
import type { KeyObject } from 'node:crypto';
import { type ErrorGroupCode, meaningsOf } from '../../../gateway/src/protocol/error-codes.js';
import {
  type DecodedFrame,
  decodeFrame,
  FrameError,
  MAX_LOG_SEQ,
  verifyFrameSignature,
} from '../../../gateway/src/protocol/frame.js';
import { type CertificateCheck, type CertificateChecker, parseCertificatePem } from '../kgc/chain.js';
import type { Hex } from '../ledger/index.js';
import {
  hashLeafPrefixed,
  type InclusionPathCache,
  MerkleError,
  RFC6962_LEAF_HASH_PREFIX,
} from '../log/index.js';
import type { DisclosureDevice, DisclosureEntry } from './bundle.js';
import { type CheckpointCode, type CheckpointState, checkpointCode, hexBytes } from './checkpoints.js';
import type { ChainHashText } from './hash-text.js';
import type { ShreddedLeaf } from './shreddings.js';

/**
 * The verdicts of one bundle entry: the registry's `entry` group with its meanings (the
 * README's table is checked against it).
 */
export const ENTRY_CODES = meaningsOf('entry');

export type EntryCode = ErrorGroupCode<'entry'>;

export interface EntryResult {
  /** Position in `bundle.entries`. */
  index: number;
  leafIndex: number;
  /** The device id, once the frame decodes. */
  dev?: string;
  /** The frame's seq, once it decodes, when below 2^53 (a larger one is `malformed`, unset here). */
  seq?: number;
  /** Device clock (ms), once the frame decodes, when below 2^53 (past any certificate). */
  ts?: number;
  /** SHA-256 of the frame bytes (PROTOCOL.md §1 `prev` of the next frame), once it decodes. */
  frameHash?: Hex;
  /** The frame's `prev` (hash of the device's previous frame), once it decodes. */
  prev?: Hex;
  /** Set on a boundary frame (the device's last frame before the range, or first after it). */
  boundary?: 'before' | 'after';
  /** On a shredded entry: the position in `bundle.shreddings` of the record that lists it. */
  shreddedBy?: number;
  code: EntryCode;
  reason?: string;
}

/** One `DeviceRegistered` / `DeviceRevoked` event of the registry (PROTOCOL.md §4), in chain order. */
export type RegistryEvent =
  | { kind: 'registered'; dev: string; spkiHash: Hex; blockNumber: number; logIndex: number }
  | { kind: 'revoked'; dev: string; blockNumber: number; logIndex: number };

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
export class CertificateCache {
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

export type Outcome = { code: EntryCode; reason?: string };

function checkSignature(
  frame: DecodedFrame,
  candidates: readonly DisclosureDevice[],
  certs: CertificateCache,
): Outcome | Hex {
  if (candidates.length === 0) {
    return { code: 'unknown_device', reason: 'the bundle carries no certificate for this device' };
  }
  let refused: Refused | undefined;
  let signedOutsideValidity: Refused | undefined;
  let badSignature = false;
  // A device may have been re-enrolled: any trusted certificate of it may have signed.
  for (const d of candidates) {
    // A ts from 2^53 on is a bigint: as a number it still lies past every certificate.
    const r = certs.check(d.cert, frame.kid, Number(frame.body.ts));
    if (r.ok) {
      if (verifyFrameSignature(frame, r.publicKey)) return r.spki;
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
export class RegistryAtTime {
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

// ---------------------------------------------------------------------------------------
// Entries.

export interface EntryContext {
  devices: Map<string, DisclosureDevice[]>;
  certs: CertificateCache;
  bySize: Map<number, CheckpointState[]>;
  registry: RegistryAtTime | undefined;
  anchorBlockOf: (leafIndex: number) => number | undefined;
  /** Inclusion proofs of neighbouring leaves share their upper paths: hashed once. */
  inclusion: InclusionPathCache;
  /** `frameHash` and `prev` as text, one string per frame in an unbroken chain. */
  hashText: ChainHashText;
  /** The leaves that valid shredding records vouch for (./shreddings). */
  shredded: ReadonlyMap<number, ShreddedLeaf>;
  /** The report line of the entry being checked, once made (`checkEntry`). */
  line: EntryResult | undefined;
}

/**
 * RFC 9162 §2.1.3.2 inclusion of `leaf`, then the checkpoint's own verdict (steps 5-7, also
 * for shredding records).
 */
export function checkProof(
  entry: { leafIndex: number; treeSize: number; proof: readonly unknown[] },
  leaf: Uint8Array,
  ctx: Pick<EntryContext, 'bySize' | 'inclusion'>,
): { code: 'checkpoint_not_anchored' | 'bad_inclusion_proof' | CheckpointCode; reason?: string } | undefined {
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
  // `checkpointCode` is 'valid' exactly when neither is set: no verdict object per entry.
  if (checkpoint.inconsistent === undefined && checkpoint.notAnchored === undefined) return undefined;
  return checkpointCode(checkpoint);
}

/**
 * The report line of `entry` as every check starts it: its place, `malformed` until a
 * verdict is set, and its boundary mark.
 */
export function entryResult(entry: DisclosureEntry | undefined, index: number): EntryResult {
  const result: EntryResult = { index, leafIndex: entry?.leafIndex as number, code: 'malformed' };
  if (entry?.boundary === 'before' || entry?.boundary === 'after') result.boundary = entry.boundary;
  return result;
}

/**
 * Steps 1-8 for `entry`, the `index`-th of the bundle: its report line is left in
 * `ctx.line` as soon as it is made (`entryResult`, or all fields at once for the usual
 * decoded frame), before anything that could throw, and its verdict is returned.
 */
export function checkEntry(entry: DisclosureEntry, index: number, ctx: EntryContext): Outcome {
  // PROTOCOL.md §6: a non-canonical or unparsable entry is malformed; the others go on.
  if (typeof entry.malformed === 'string') {
    ctx.line = entryResult(entry, index);
    return { code: 'malformed', reason: entry.malformed };
  }
  if (entry.shredded === true) {
    const result = entryResult(entry, index);
    ctx.line = result;
    // The bytes are gone; the leaf hash is still proven in the anchored log, and only an
    // anchored shredding record listing the leaf makes it shredded (PROTOCOL.md §6).
    const leaf = hexBytes(entry.leafHash);
    if (leaf?.length !== 32) return { code: 'malformed', reason: 'the leaf hash is not 32 bytes of hex' };
    const proof = checkProof(entry, leaf, ctx);
    if (proof) return proof;
    const by = ctx.shredded.get(entry.leafIndex);
    if (!by)
      return {
        code: 'malformed',
        reason: 'shredded, but no valid shredding record of the bundle lists this leaf',
      };
    result.dev = by.dev;
    result.seq = by.seq;
    result.shreddedBy = by.record;
    return {
      code: 'shredded',
      reason: 'frame destroyed under the retention policy; an anchored shredding record lists it',
    };
  }
  if (typeof entry.frame !== 'string') {
    ctx.line = entryResult(entry, index);
    return { code: 'malformed', reason: 'the frame is not base64 text' };
  }
  // The frame is decoded one byte into the scratch buffer, behind the leaf prefix: the leaf
  // hash then needs no copy of it. Nothing keeps a view of it past this call.
  const text = entry.frame;
  const scratch = frameScratch(1 + Math.ceil((text.length * 3) / 4));
  const length = scratch.write(text, 1, 'base64');
  const leafInput = new Uint8Array(scratch.buffer, scratch.byteOffset, 1 + length);
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(new Uint8Array(scratch.buffer, scratch.byteOffset + 1, length));
  } catch (err) {
    ctx.line = entryResult(entry, index);
    // FrameError reasons name the broken rule, never a value.
    return {
      code: 'malformed',
      reason: err instanceof FrameError ? err.reason : 'the frame does not decode',
    };
  }
  const body = frame.body;
  // Before this frame's hash replaces it: `prev` is usually the device's last frame hash.
  const prev = ctx.hashText.prev(body.dev, body.prev);
  const frameHash = ctx.hashText.frameHash(body.dev, frame.bytes);
  if (entry.boundary === undefined && typeof body.seq === 'number' && typeof body.ts === 'number') {
    // The usual line, made whole (the fields in `entryResult`'s order, then the frame's):
    // one object of one layout, not one grown field by field.
    const { seq, ts } = body;
    ctx.line = {
      index,
      leafIndex: entry.leafIndex,
      code: 'malformed',
      dev: body.dev,
      seq,
      ts,
      frameHash,
      prev,
    };
  } else {
    const result = entryResult(entry, index);
    ctx.line = result;
    result.dev = body.dev;
    if (typeof body.seq === 'number') result.seq = body.seq;
    if (typeof body.ts === 'number') result.ts = body.ts;
    result.frameHash = frameHash;
    result.prev = prev;
  }
  // PROTOCOL.md §1: "dev ... equals kid".
  if (frame.kid !== body.dev) return { code: 'malformed', reason: 'kid and body dev name different devices' };

  const signer = checkSignature(frame, ctx.devices.get(frame.kid) ?? [], ctx.certs);
  if (typeof signer !== 'string') return signer;
  // The gateway's rule (core/acceptance): a seq parses up to 2^64−1 but no log holds one above 2^53−1.
  if (typeof body.seq !== 'number' || body.seq > MAX_LOG_SEQ)
    return { code: 'malformed', reason: 'seq is above 2^53-1, the largest seq the log holds' };

  const proof = checkProof(entry, hashLeafPrefixed(leafInput), ctx);
  if (proof) return proof;

  if (ctx.registry) {
    const block = ctx.anchorBlockOf(entry.leafIndex);
    if (block === undefined) {
      return { code: 'checkpoint_not_anchored', reason: 'no valid anchored checkpoint covers this leaf' };
    }
    const reg = ctx.registry.check(frame.kid, signer, block);
    if (reg) return reg;
  }
  return VALID;
}

/** 0x00 and a frame's bytes: reused, grown to the largest frame seen (checks are synchronous). */
let scratchBuffer = Buffer.alloc(1 + 1024);
scratchBuffer[0] = RFC6962_LEAF_HASH_PREFIX;

/** The scratch buffer, of at least `size` bytes, starting with the leaf prefix 0x00. */
function frameScratch(size: number): Buffer {
  if (scratchBuffer.length < size) {
    scratchBuffer = Buffer.alloc(size);
    scratchBuffer[0] = RFC6962_LEAF_HASH_PREFIX;
  }
  return scratchBuffer;
}

const VALID: Outcome = Object.freeze({ code: 'valid' });
