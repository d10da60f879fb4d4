/**
 * @module core/acceptance
 * The acceptance rules of PROTOCOL.md §1, as pure functions. `checkFrame` holds every
 * rule that needs only the frame, the device registry and the clock, composed of
 * `checkBeforeSignature` (decode, identity, certificate), the signature's verdict and
 * `checkAfterSignature` (clock, seq bound), so the signature can be checked elsewhere (a
 * worker thread) between the two with the same verdicts in the same order; `classifyAgainstLog`
 * holds the rules that need what was accepted before ((dev, seq) dedupe and the prev
 * chain). The I/O shell (`io/ingest.ts`) runs the second inside its commit, so both see
 * one consistent state.
 */
import type { KeyObject } from 'node:crypto';
import type { RejectionCode } from '../protocol/codes.js';
import {
  type DecodedFrame,
  decodeFrame,
  FrameError,
  isSafeFrame,
  MAX_LOG_SEQ,
  type SafeFrame,
  verifyFrameSignature,
  type WireUint,
} from '../protocol/frame.js';

/** PROTOCOL.md §1: `ts` at most 5 minutes ahead of the gateway clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface DeviceRecord {
  dev: string;
  publicKey: KeyObject;
  status: 'active' | 'revoked';
  /** Certificate validity window, ms since epoch. */
  notBefore: number;
  notAfter: number;
  /**
   * `false` when the gateway anchors on a chain whose registry does not hold this key as
   * active (PROTOCOL.md §4): its frames could never be proven (`unregistered_device`).
   * Absent when the gateway anchors nowhere.
   */
  registered?: boolean;
}

export interface AcceptancePolicy {
  /** Frames with `ts` older than now - retentionMs are `too_old`. */
  retentionMs: number;
  maxClockSkewMs?: number;
}

export interface Rejection {
  ok: false;
  code: RejectionCode;
  reason: string;
  /**
   * Present when the frame parsed far enough to name them (never trusted for routing); a
   * seq from 2^53 on is a bigint (PROTOCOL.md §6: any uint up to 2^64−1 parses).
   */
  dev?: string;
  seq?: WireUint;
}

export type Verdict = { ok: true; frame: SafeFrame } | Rejection;

function reject(code: RejectionCode, reason: string, frame?: DecodedFrame): Rejection {
  return frame
    ? { ok: false, code, reason, dev: frame.body.dev, seq: frame.body.seq }
    : { ok: false, code, reason };
}

/** A frame that passed every rule before the signature, with the device record to check it against. */
export interface SignatureDue {
  ok: true;
  frame: DecodedFrame;
  /** The device as looked up on arrival: its key checks the signature (PROTOCOL.md §1). */
  device: DeviceRecord;
}

/**
 * The stateless rules before the signature, in the order of PROTOCOL.md §1: decode
 * (`malformed`), identity (`identity_mismatch`), the device's certificate (`unknown_device`,
 * `revoked_device`, `expired_certificate`) and, on an anchoring gateway, its key's
 * registration (`unregistered_device`). The device is looked up here, once: its record
 * (status and key) as of arrival is what the rest of the check uses.
 * @param bytes attacker-controlled frame bytes, exactly as received
 * @param transportDev the device named by the transport (MQTT topic + identity, or serial binding)
 */
export function checkBeforeSignature(
  bytes: Uint8Array,
  transportDev: string,
  lookup: (dev: string) => DeviceRecord | undefined,
  now: number,
): SignatureDue | Rejection {
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    if (!(err instanceof FrameError)) throw err;
    const r = reject('malformed', err.reason);
    if (err.seq !== undefined) r.seq = err.seq;
    return r;
  }
  if (frame.kid !== frame.body.dev || frame.body.dev !== transportDev) {
    return reject('identity_mismatch', 'kid, dev and the transport identity differ', frame);
  }
  const device = lookup(frame.body.dev);
  if (!device) return reject('unknown_device', 'no KGC certificate is known for this device', frame);
  if (device.status === 'revoked')
    return reject('revoked_device', 'the device certificate is revoked', frame);
  if (now < device.notBefore || now > device.notAfter) {
    return reject('expired_certificate', 'the device certificate is not valid now', frame);
  }
  if (device.registered === false) {
    return reject('unregistered_device', 'the device key is not registered on the anchoring chain', frame);
  }
  return { ok: true, frame, device };
}

/**
 * The signature's verdict (`bad_signature`), then the stateless rules after it, in the
 * order of PROTOCOL.md §1: the clock (`clock_skew`, `too_old`) and the seq bound.
 * @param signatureValid whether the signature verifies with the key `checkBeforeSignature`
 *   returned (`verifyFrameSignature`, here or on a verify-pool thread)
 * @param now the same clock reading `checkBeforeSignature` was given
 */
export function checkAfterSignature(
  frame: DecodedFrame,
  signatureValid: boolean,
  now: number,
  policy: AcceptancePolicy,
): Verdict {
  if (!signatureValid) {
    return reject('bad_signature', 'the signature does not verify with the device key', frame);
  }
  if (frame.body.ts > now + (policy.maxClockSkewMs ?? MAX_CLOCK_SKEW_MS)) {
    return reject('clock_skew', 'ts is more than 5 minutes ahead of the gateway clock', frame);
  }
  if (frame.body.ts < now - policy.retentionMs) {
    return reject('too_old', 'ts is older than the retention horizon', frame);
  }
  // The seq rules come last (PROTOCOL.md §1). A seq parses up to 2^64−1 (§6), but the log
  // holds seqs up to MAX_LOG_SEQ (2^53−1): a device cannot honestly count that far, and a
  // larger one would be a gap no frame can fill, so it is refused as not a v1 frame.
  if (!isSafeFrame(frame) || frame.body.seq > MAX_LOG_SEQ) {
    return reject('malformed', 'seq is above 2^53-1, the largest seq the log holds', frame);
  }
  return { ok: true, frame };
}

/**
 * Checks one frame against every stateless rule, in the order of PROTOCOL.md §1:
 * `checkBeforeSignature`, the signature, `checkAfterSignature`. The ingest pipeline runs
 * the same three steps with the signature on a worker thread (io/verify/verify-pool).
 * @param bytes attacker-controlled frame bytes, exactly as received
 * @param transportDev the device named by the transport (MQTT topic + identity, or serial binding)
 */
export function checkFrame(
  bytes: Uint8Array,
  transportDev: string,
  lookup: (dev: string) => DeviceRecord | undefined,
  now: number,
  policy: AcceptancePolicy,
): Verdict {
  const due = checkBeforeSignature(bytes, transportDev, lookup, now);
  if (!due.ok) return due;
  return checkAfterSignature(due.frame, verifyFrameSignature(due.frame, due.device.publicKey), now, policy);
}

/** What the log already knows around (dev, seq). Hashes are SHA-256 of complete frames. */
export interface ChainContext {
  /** The accepted frame with the same (dev, seq), if any. */
  same?: { hash: Uint8Array };
  /** The accepted frame (dev, seq - 1), if any. */
  before?: { hash: Uint8Array };
  /** The accepted frame (dev, seq + 1), if any: its `prev` must name this frame. */
  after?: { prev: Uint8Array };
}

export type ChainVerdict = { kind: 'new' } | { kind: 'duplicate' } | { kind: 'reject'; rejection: Rejection };

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Dedupe and hash-chain rules (PROTOCOL.md §1): the same bytes again are a duplicate;
 * other bytes for an accepted (dev, seq) are `replay_conflict`; `prev` must match each
 * accepted neighbour that is known (in-order arrival checks the one before; a frame
 * filling a gap is checked against both sides).
 */
export function classifyAgainstLog(frame: SafeFrame, hash: Uint8Array, ctx: ChainContext): ChainVerdict {
  if (ctx.same) {
    return equalBytes(ctx.same.hash, hash)
      ? { kind: 'duplicate' }
      : {
          kind: 'reject',
          rejection: reject('replay_conflict', 'other bytes were already accepted for this seq', frame),
        };
  }
  if (ctx.before && !equalBytes(ctx.before.hash, frame.body.prev)) {
    return {
      kind: 'reject',
      rejection: reject('chain_mismatch', 'prev does not match the accepted frame before it', frame),
    };
  }
  if (ctx.after && !equalBytes(ctx.after.prev, hash)) {
    return {
      kind: 'reject',
      rejection: reject('chain_mismatch', 'the accepted frame after it does not name this frame', frame),
    };
  }
  return { kind: 'new' };
}
