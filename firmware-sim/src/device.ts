/**
 * @module firmware-sim/device
 * The device side of the protocol (PROTOCOL.md §1, §2): each frame gets the next `seq`,
 * `prev` = SHA-256 of the previous frame's complete bytes, the device clock as `ts`, and
 * a COSE_Sign1 signature by the device key (through the project's one wire codec,
 * `gateway/src/protocol/frame.ts`). Frames stay in an outbox until the gateway
 * acknowledges them (store-and-forward); a transport resends what is still there.
 *
 * Pure: no sockets, files or timers. Time comes from `now`, readings from the injected
 * patient model, and the only durable effect is the injected `reserve` callback.
 *
 * Trust: `ack` and `reject` are driven by messages from the network (PUBACKs and the
 * JSON of the `/rejects` and `/acks` topics); unknown seqs and odd codes are tolerated
 * and never become object keys outside a null-prototype record.
 */
import type { KeyObject } from 'node:crypto';
import {
  COSE_ALG_EDDSA,
  COSE_ALG_ES256,
  type CoseAlg,
  DEVICE_ID_PATTERN,
  FRAME_VERSION,
  type FrameBody,
  frameHash,
  HASH_BYTES,
  signFrame,
} from '../../gateway/src/protocol/frame.js';
import type { EcgGenerator, PatientModel } from './physiology.js';
import { type DeviceState, initialDeviceState } from './state.js';

/** A frame as it travels: its seq and its exact signed bytes. */
export interface SimFrame {
  seq: number;
  bytes: Uint8Array;
}

/** What `makeFrame` returns: the frame plus the body it signed (for displays and tests). */
export interface MadeFrame extends SimFrame {
  body: FrameBody;
}

export interface SimDeviceStats {
  /** Frames made (signed and put in the outbox). */
  made: number;
  /** Frames acknowledged by the gateway and dropped from the outbox. */
  acked: number;
  /** Frames the gateway rejected, by rejection code (PROTOCOL.md §1). */
  rejected: Record<string, number>;
  /** Frames sent again by a transport after a reconnect or an ack timeout. */
  resent: number;
  /** Oldest unacknowledged frames evicted because the outbox was full (a gap at the gateway). */
  dropped: number;
}

export interface SimDeviceOptions {
  /** Device id, 1-64 chars of [A-Za-z0-9._-] (PROTOCOL.md §1); also the COSE kid. */
  devId: string;
  /** P-256 (ES256, the default of PROTOCOL.md §1) or Ed25519 (EdDSA) private key. */
  privateKey: KeyObject;
  model: PatientModel;
  /** Where to continue the chain; default a fresh device (seq 0, ZERO_HASH). */
  state?: DeviceState;
  /** Device clock in ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** Outbox capacity in frames, default 10000; when full the oldest frame is evicted and counted as dropped. */
  maxOutbox?: number;
  /**
   * Called synchronously before the device uses a seq above its current reservation; it
   * must durably record that seqs up to `reservedThrough` may be in use (e.g.
   * `saveDeviceState(path, state, { reservedThrough })`). If it throws, `makeFrame` throws
   * and no seq is used. Omit it when the state is not persisted. See `state.ts`.
   */
  reserve?: (reservedThrough: number, state: DeviceState) => void;
  /** Seqs per reservation, default 100. */
  reserveBlock?: number;
  /** When given, each frame carries an ECG chunk (`wf`) covering the time since the previous frame, up to 2 s. */
  ecg?: EcgGenerator;
}

const DEFAULT_MAX_OUTBOX = 10_000;
const DEFAULT_RESERVE_BLOCK = 100;
/** How many recently settled seqs are remembered, to reconcile a PUBACK and a late reject. */
const SETTLED_MEMORY = 4096;
const MAX_ECG_CHUNK_MS = 2000;
/** Rejection codes are short snake_case names (PROTOCOL.md §1); anything else is counted as 'unknown'. */
const CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

function algFor(key: KeyObject): CoseAlg {
  if (key === null || typeof key !== 'object' || key.type !== 'private') {
    throw new TypeError('SimDevice: privateKey must be a private KeyObject');
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return COSE_ALG_ES256;
  }
  if (key.asymmetricKeyType === 'ed25519') return COSE_ALG_EDDSA;
  throw new TypeError('SimDevice: privateKey must be a P-256 or Ed25519 key');
}

function checkSeq(seq: number, what: string): void {
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new TypeError(`SimDevice.${what}: seq must be an integer ≥ 1`);
}

/**
 * A simulated wearable: makes signed, hash-chained frames and keeps them until acked.
 * @example
 * const dev = new SimDevice({ devId: 'wr-0001', privateKey, model: createPatientModel({ seed: 1 }) });
 * const f = dev.makeFrame(); // f.seq === 1, body.prev = ZERO_HASH
 * await link.send(f);        // the transport calls dev.ack(f.seq) on PUBACK
 */
export class SimDevice {
  readonly devId: string;
  readonly #key: KeyObject;
  readonly #alg: CoseAlg;
  readonly #model: PatientModel;
  readonly #now: () => number;
  readonly #maxOutbox: number;
  readonly #reserve: ((reservedThrough: number, state: DeviceState) => void) | undefined;
  readonly #reserveBlock: number;
  readonly #ecg: EcgGenerator | undefined;
  #seq: number;
  #prev: Uint8Array;
  #reservedThrough: number;
  #lastTs: number | undefined;
  /** seq -> bytes, in seq order (Map keeps insertion order and seqs only grow). */
  readonly #outbox = new Map<number, Uint8Array>();
  readonly #settled = new Map<number, 'acked' | 'rejected'>();
  readonly #stats: SimDeviceStats = {
    made: 0,
    acked: 0,
    rejected: Object.create(null) as Record<string, number>,
    resent: 0,
    dropped: 0,
  };

  /**
   * @throws {TypeError} on an invalid device id, key, model or state.
   * @throws {RangeError} on an invalid maxOutbox or reserveBlock.
   */
  constructor(opts: SimDeviceOptions) {
    if (typeof opts.devId !== 'string' || !DEVICE_ID_PATTERN.test(opts.devId)) {
      throw new TypeError('SimDevice: devId must be 1-64 chars of [A-Za-z0-9._-]');
    }
    if (typeof opts.model?.next !== 'function')
      throw new TypeError('SimDevice: model must be a PatientModel');
    const state = opts.state ?? initialDeviceState();
    if (!Number.isSafeInteger(state.seq) || state.seq < 0) {
      throw new TypeError('SimDevice: state.seq must be a non-negative safe integer');
    }
    if (!(state.prev instanceof Uint8Array) || state.prev.length !== HASH_BYTES) {
      throw new TypeError('SimDevice: state.prev must be 32 bytes');
    }
    const maxOutbox = opts.maxOutbox ?? DEFAULT_MAX_OUTBOX;
    if (!Number.isSafeInteger(maxOutbox) || maxOutbox < 1) {
      throw new RangeError('SimDevice: maxOutbox must be a positive integer');
    }
    const reserveBlock = opts.reserveBlock ?? DEFAULT_RESERVE_BLOCK;
    if (!Number.isSafeInteger(reserveBlock) || reserveBlock < 1) {
      throw new RangeError('SimDevice: reserveBlock must be a positive integer');
    }
    this.devId = opts.devId;
    this.#alg = algFor(opts.privateKey);
    this.#key = opts.privateKey;
    this.#model = opts.model;
    this.#now = opts.now ?? Date.now;
    this.#maxOutbox = maxOutbox;
    this.#reserve = opts.reserve;
    this.#reserveBlock = reserveBlock;
    this.#ecg = opts.ecg;
    this.#seq = state.seq;
    this.#prev = new Uint8Array(state.prev);
    this.#reservedThrough = state.seq;
  }

  /**
   * Reads the patient, signs the next frame and appends it to the outbox.
   * PROTOCOL.md §1: seq = last + 1 (1 for the first frame), prev = SHA-256 of the previous frame.
   * @throws {RangeError} when the clock is not a non-negative number or seq would overflow.
   * @throws whatever `reserve` throws (no seq is used then).
   */
  makeFrame(): MadeFrame {
    const seq = this.#seq + 1;
    if (!Number.isSafeInteger(seq)) throw new RangeError('SimDevice.makeFrame: seq space exhausted');
    const now = this.#now();
    if (!(Number.isFinite(now) && now >= 0))
      throw new RangeError('SimDevice: now() must return ms since the epoch');
    const ts = Math.floor(now);
    if (this.#reserve && seq > this.#reservedThrough) {
      const through = this.#seq + this.#reserveBlock;
      this.#reserve(through, this.state); // durable before the seq is used
      this.#reservedThrough = through;
    }
    const dt = this.#lastTs === undefined ? 0 : Math.max(0, ts - this.#lastTs);
    const { obs, bat } = this.#model.next(dt);
    const body: FrameBody = { v: FRAME_VERSION, dev: this.devId, seq, ts, prev: this.#prev, obs, bat };
    if (this.#ecg && dt > 0) {
      const s = this.#ecg.chunk(Math.min(dt, MAX_ECG_CHUNK_MS), obs.hr ?? 60);
      if (s.length > 0) body.wf = { kind: 'ecg', fs: this.#ecg.fs, s };
    }
    const bytes = signFrame(body, this.#key, this.#alg);
    this.#seq = seq;
    this.#prev = frameHash(bytes); // PROTOCOL.md §1: prev of the next frame
    this.#lastTs = ts;
    this.#stats.made++;
    this.#outbox.set(seq, bytes);
    if (this.#outbox.size > this.#maxOutbox) {
      const oldest = this.#outbox.keys().next().value as number;
      this.#outbox.delete(oldest);
      this.#stats.dropped++;
    }
    return { seq, bytes, body };
  }

  /**
   * The gateway has the frame durably (PUBACK from the embedded broker, an application
   * ack, or a serial ack): drop it from the outbox. Unknown or repeated seqs are ignored.
   * @throws {TypeError} when seq is not an integer ≥ 1.
   */
  ack(seq: number): void {
    checkSeq(seq, 'ack');
    if (!this.#outbox.delete(seq)) return;
    this.#stats.acked++;
    this.#settle(seq, 'acked');
  }

  /**
   * The gateway rejected the frame (its decision is final): drop it and count it by code.
   * A reject that arrives after the frame's PUBACK moves it from acked to rejected;
   * repeated rejects and seqs this device does not remember are ignored.
   * @throws {TypeError} when seq is not an integer ≥ 1.
   */
  reject(seq: number, code: string): void {
    checkSeq(seq, 'reject');
    const key = typeof code === 'string' && CODE_PATTERN.test(code) ? code : 'unknown';
    if (this.#outbox.delete(seq)) {
      // rejected before any ack
    } else if (this.#settled.get(seq) === 'acked') {
      this.#stats.acked--;
    } else {
      return;
    }
    this.#stats.rejected[key] = (this.#stats.rejected[key] ?? 0) + 1;
    this.#settle(seq, 'rejected');
  }

  /** Lets a transport count frames it sent again. */
  noteResent(count = 1): void {
    if (!Number.isSafeInteger(count) || count < 0)
      throw new RangeError('SimDevice.noteResent: count must be ≥ 0');
    this.#stats.resent += count;
  }

  /** True while the frame is still waiting for its ack. */
  isUnacked(seq: number): boolean {
    return this.#outbox.has(seq);
  }

  /** The outbox, oldest first. */
  get unacked(): SimFrame[] {
    return [...this.#outbox].map(([seq, bytes]) => ({ seq, bytes }));
  }

  get unackedCount(): number {
    return this.#outbox.size;
  }

  /** Where the chain stands: the last used seq and the hash of that frame (copies). */
  get state(): DeviceState {
    return { seq: this.#seq, prev: new Uint8Array(this.#prev) };
  }

  /** Highest seq covered by the last reservation (equals `state.seq` when none is needed). */
  get reservedThrough(): number {
    return this.#reserve ? this.#reservedThrough : this.#seq;
  }

  /** Counters, live (read-only view). */
  get stats(): Readonly<SimDeviceStats> {
    return this.#stats;
  }

  #settle(seq: number, how: 'acked' | 'rejected'): void {
    this.#settled.set(seq, how);
    if (this.#settled.size > SETTLED_MEMORY) {
      this.#settled.delete(this.#settled.keys().next().value as number);
    }
  }
}
