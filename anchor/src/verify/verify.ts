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
 *
 * Per checkpoint: an anchor in `anchors` has the bundle's logId, its treeSize and its
 * rootHash, and `log.logId` = SHA-256(origin) [`checkpoint_not_anchored`]; every
 * consistency proof that names it verifies (RFC 9162 §2.1.4), no other checkpoint of the
 * same size has another root, and when the bundle cites several sizes, verified
 * consistency proofs link it to the largest ("a bundle citing several checkpoints of one
 * log carries a chain of them") [`inconsistent_checkpoints`].
 *
 * Trust: bundle data is attacker-controlled; failures are reported per entry and per
 * checkpoint, never thrown. Reasons are fixed texts: no frame content, identifiers or
 * other bundle values. Not checked offline: revocation (the bundle carries no CRL; check
 * the registry) and the optional checkpoint `note`.
 */
import { createHash, type KeyObject } from 'node:crypto';
import {
  type DecodedFrame,
  decodeFrame,
  FrameError,
  verifyFrameSignature,
} from '../../../gateway/src/protocol/frame.js';
import {
  type CertificateCheck,
  type CertificateChecker,
  parseCertificatePem,
  verifyCertificateChain,
} from '../kgc/chain.js';
import type { AnchorRecord, Hex } from '../ledger/types.js';
import { bytesEqual, hashLeaf, MerkleError, verifyConsistency, verifyInclusion } from '../merkle/index.js';
import type { DisclosureBundle, DisclosureDevice, DisclosureEntry } from './bundle.js';

export type { CertificateChecker } from '../kgc/chain.js';

/** One `Anchored(logId, treeSize, rootHash, checkpointTime)` event, as the ledger client returns it. */
export type { AnchorRecord } from '../ledger/types.js';

/** The verdicts of one bundle entry: the registry the README's table is checked against. */
export const ENTRY_CODES = {
  valid: 'every check passed',
  malformed: 'the frame does not parse as a v1 COSE_Sign1 frame (PROTOCOL.md §1)',
  bad_signature: "the signature does not verify with the device certificate's key",
  untrusted_certificate: 'the device certificate does not chain to the KGC root, or was not valid at the frame time',
  bad_inclusion_proof: 'the leaf is not in the tree of the cited checkpoint',
  checkpoint_not_anchored: 'no Anchored event on chain carries this logId, tree size and root',
  inconsistent_checkpoints: 'the cited checkpoints are not proven to extend one another',
  unknown_device: 'the bundle carries no certificate for the device',
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
  code: EntryCode;
  reason?: string;
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
  summary: { total: number; valid: number; invalid: number; byCode: Record<string, number> };
}

export interface VerifyBundleOptions {
  /** Certificate-chain checker; default `verifyCertificateChain` of `anchor/src/kgc/chain.ts`. */
  certificateCheck?: CertificateChecker;
}

/** `logId` of PROTOCOL.md §3: SHA-256 of the origin line's UTF-8 bytes, 0x lowercase hex. */
export function logIdOf(origin: string): Hex {
  return `0x${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}

/** Decodes 0x-hex; `undefined` for anything that is not an even run of hex digits. */
function hexBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || !/^0x(?:[0-9a-fA-F]{2})*$/.test(value)) return undefined;
  return new Uint8Array(Buffer.from(value.slice(2), 'hex'));
}

function sameHex(a: unknown, b: unknown): boolean {
  return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
}

// ---------------------------------------------------------------------------------------
// Checkpoints.

interface CheckpointState {
  treeSize: number;
  root: Uint8Array | undefined;
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
    else if (
      !anchors.some(
        (a) => sameHex(a.logId, logId) && a.treeSize === cp.treeSize && sameHex(a.rootHash, cp.rootHash),
      )
    ) {
      s.notAnchored = 'no anchor on the ledger has this log id, tree size and root hash';
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

type Trusted = { ok: true; publicKey: KeyObject };
/**
 * `expiredKey`: the chain is trusted but not valid at the frame's time. Since that time is
 * the frame's own (signed) claim, the signature still decides between a forged frame
 * (`bad_signature`) and a genuine one signed outside the certificate's validity.
 */
type Refused = { ok: false; code: 'untrusted_certificate'; reason: string; expiredKey?: KeyObject };

/**
 * Chain checks cost a few signature verifications each, and a bundle may hold many frames
 * per certificate. A certificate whose whole path is valid at both ends of the leaf's
 * validity window is valid at every instant between them (each validity period is an
 * interval), so after those two checks any frame time inside the window needs no new check.
 */
class CertificateCache {
  readonly #check: CertificateChecker;
  readonly #root: string;
  readonly #intermediates: readonly string[];
  readonly #windows = new Map<
    string,
    { notBefore: number; notAfter: number; publicKey: KeyObject; cn: string }
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
    const { notBefore, notAfter } = r;
    if (
      Number.isFinite(notBefore) &&
      Number.isFinite(notAfter) &&
      this.#run(certPem, notBefore).ok &&
      this.#run(certPem, notAfter).ok
    ) {
      this.#windows.set(certPem, { notBefore, notAfter, publicKey: r.publicKey, cn: r.cn });
    }
    return this.#accept(r, dev);
  }

  #accept(r: { publicKey: KeyObject; cn: string }, dev: string): Trusted | Refused {
    // The certificate must name the device that signed: its CN is the device id (PROTOCOL.md §2).
    if (r.cn !== dev)
      return { ok: false, code: 'untrusted_certificate', reason: 'certificate CN is not the device id' };
    return { ok: true, publicKey: r.publicKey };
  }
}

// ---------------------------------------------------------------------------------------
// Entries.

type Outcome = { code: EntryCode; reason?: string };

function checkSignature(
  frame: DecodedFrame,
  candidates: readonly DisclosureDevice[],
  certs: CertificateCache,
): Outcome | undefined {
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
      if (verifyFrameSignature(frame, r.publicKey)) return undefined;
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

function checkEntry(
  entry: DisclosureEntry,
  result: EntryResult,
  ctx: {
    devices: Map<string, DisclosureDevice[]>;
    certs: CertificateCache;
    bySize: Map<number, CheckpointState[]>;
  },
): Outcome {
  if (typeof entry.frame !== 'string') return { code: 'malformed', reason: 'the frame is not base64 text' };
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(new Uint8Array(Buffer.from(entry.frame, 'base64')));
  } catch (err) {
    // FrameError reasons name the broken rule, never a value.
    return {
      code: 'malformed',
      reason: err instanceof FrameError ? err.reason : 'the frame does not decode',
    };
  }
  result.dev = frame.body.dev;
  result.seq = frame.body.seq;
  // PROTOCOL.md §1: "dev ... equals kid".
  if (frame.kid !== frame.body.dev)
    return { code: 'malformed', reason: 'kid and body dev name different devices' };

  const sig = checkSignature(frame, ctx.devices.get(frame.kid) ?? [], ctx.certs);
  if (sig) return sig;

  const checkpoint = ctx.bySize.get(entry.treeSize)?.[0];
  if (!checkpoint?.root) {
    return { code: 'checkpoint_not_anchored', reason: 'the bundle has no checkpoint of this tree size' };
  }
  try {
    // RFC 9162 §2.1.3.2, leaf hash of PROTOCOL.md §3.
    const proof = (entry.proof as unknown[]).map((h) => hexBytes(h) ?? new Uint8Array(0));
    verifyInclusion(entry.leafIndex, entry.treeSize, hashLeaf(frame.bytes), proof, checkpoint.root);
  } catch (err) {
    return {
      code: 'bad_inclusion_proof',
      reason: err instanceof MerkleError ? err.reason : 'proof not usable',
    };
  }
  const cp = checkpointCode(checkpoint);
  return cp.code === 'valid' ? { code: 'valid' } : cp;
}

/**
 * Verifies a disclosure bundle against the ledger's anchors (PROTOCOL.md §5). Never
 * throws for bad bundle data: every entry and checkpoint gets a code.
 * @param bundle - from `parseBundle` (entries of another shape are reported `malformed`).
 * @param anchors - the `Anchored` events of the bundle's logId, as read from the chain;
 *   hex is compared case-insensitively.
 * @param opts.certificateCheck - default `verifyCertificateChain` (anchor/src/kgc/chain.ts).
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
  const certs = new CertificateCache(
    opts.certificateCheck ?? verifyCertificateChain,
    bundle.kgc.root,
    bundle.kgc.intermediates,
  );

  const entries = bundle.entries.map((entry, index): EntryResult => {
    const result: EntryResult = { index, leafIndex: entry?.leafIndex, code: 'malformed' };
    let outcome: Outcome;
    try {
      outcome = checkEntry(entry, result, { devices, certs, bySize });
    } catch {
      outcome = { code: 'malformed', reason: 'the entry does not have the shape of PROTOCOL.md §5' };
    }
    result.code = outcome.code;
    if (outcome.reason !== undefined) result.reason = outcome.reason;
    return result;
  });

  const byCode: Record<string, number> = {};
  for (const e of entries) byCode[e.code] = (byCode[e.code] ?? 0) + 1;
  const valid = byCode.valid ?? 0;
  const checkpoints = states.map((s): CheckpointResult => ({ treeSize: s.treeSize, ...checkpointCode(s) }));
  return {
    ok: valid === entries.length && checkpoints.every((c) => c.code === 'valid'),
    entries,
    checkpoints,
    summary: { total: entries.length, valid, invalid: entries.length - valid, byCode },
  };
}
