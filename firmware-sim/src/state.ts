/**
 * @module firmware-sim/state
 * The persistent state of a simulated device: the last used `seq` and the hash of the
 * last frame (`prev` of the next one), so that a restarted device continues its chain
 * (PROTOCOL.md §1: seq +1 per frame, prev = SHA-256 of the previous frame). A device
 * must never reuse a seq with different bytes: the gateway rejects that as
 * `replay_conflict`.
 *
 * Crash safety without an fsync per frame: seq reservations. Before the device uses a
 * seq above the last persisted reservation it durably writes a new one (the last used seq
 * + 100, a block of 100 seqs; see `SimDevice`'s `reserve` option). The file therefore holds
 * `{seq, prev, reservedThrough}`:
 * - after a clean stop `reservedThrough = seq` and the device resumes exactly at `seq + 1`
 *   with `prev` = the hash of frame `seq`;
 * - after a crash `reservedThrough > seq` (frames up to `reservedThrough` may have been
 *   sent) and the device resumes at `reservedThrough + 2`: the seqs in between are a gap,
 *   which PROTOCOL.md §1 allows. `prev` is then the last persisted hash, which names an
 *   older frame and is unverifiable across the gap; seq `reservedThrough + 1` is never
 *   used, so the first frame after a crash never has a known predecessor that the
 *   gateway could check it against (`chain_mismatch`).
 *
 * File format (JSON, mode 0600): `{"format":"vitaltrail-sim-state/1","seq":n,
 * "prev":"<64 hex>","reservedThrough":n}`. Writes are atomic: temp file, fsync, rename,
 * fsync of the directory.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { renameDurably } from '../../gateway/src/io/ops/index.js';
import { errorClass } from '../../gateway/src/protocol/errors.js';
import { HASH_BYTES, ZERO_HASH } from '../../gateway/src/protocol/frame.js';

export const DEVICE_STATE_FORMAT = 'vitaltrail-sim-state/1';

export interface DeviceState {
  /** Last used seq, 0 if none. */
  seq: number;
  /** Hash of the last frame, ZERO_HASH if none. */
  prev: Uint8Array;
}

export interface SaveDeviceStateOptions {
  /**
   * Highest seq that may be in use before the next save (default: `s.seq`, which marks a
   * clean stop). Must be ≥ `s.seq`.
   */
  reservedThrough?: number;
}

export class DeviceStateError extends errorClass<'sim_state'>('DeviceStateError') {}

/** A fresh device: no frame yet. */
export function initialDeviceState(): DeviceState {
  return { seq: 0, prev: new Uint8Array(ZERO_HASH) };
}

function isSeq(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Loads a device state; a missing file is a fresh device. After a crash (a reservation
 * above the saved seq) the state resumes past the reservation, see the module notes.
 * @throws {DeviceStateError} code `bad_state_file` when the file exists but is not a valid state.
 * @example
 * const s = loadDeviceState('/var/lib/vt/wr-0001.state.json'); // {seq: 0, prev: ZERO_HASH} the first time
 */
export function loadDeviceState(path: string): DeviceState {
  if (typeof path !== 'string' || path === '') throw new TypeError('loadDeviceState: path must be a string');
  // The file named: a fleet (or the demo) of twenty devices says which one is torn.
  const bad = (why: string, opts?: ErrorOptions) =>
    new DeviceStateError('bad_state_file', `${path}: ${why}`, opts);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return initialDeviceState();
    throw bad('the device state file cannot be read', { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad('the device state file is not JSON', { cause: err });
  }
  const d = doc as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || d.format !== DEVICE_STATE_FORMAT) {
    throw bad(`the device state file is not ${DEVICE_STATE_FORMAT}`);
  }
  if (!isSeq(d.seq) || !isSeq(d.reservedThrough) || d.reservedThrough < d.seq) {
    throw bad('seq or reservedThrough is invalid');
  }
  if (typeof d.prev !== 'string' || !/^[0-9a-f]{64}$/.test(d.prev)) {
    throw bad('prev must be 64 lowercase hex digits');
  }
  const prev = new Uint8Array(Buffer.from(d.prev, 'hex'));
  if (d.reservedThrough === d.seq) return { seq: d.seq, prev };
  // Crash: frames up to reservedThrough may be out; skip one more so that the first
  // frame after the gap has no known predecessor (see the module notes).
  return { seq: d.reservedThrough + 1, prev };
}

/**
 * Writes a device state atomically (temp file + fsync + rename + directory fsync), mode 0600.
 * @throws {TypeError|RangeError} on an invalid state or reservation.
 * @throws {Error} the file system's error when the write fails (the old file is then intact).
 */
export function saveDeviceState(path: string, s: DeviceState, opts: SaveDeviceStateOptions = {}): void {
  if (typeof path !== 'string' || path === '') throw new TypeError('saveDeviceState: path must be a string');
  if (!isSeq(s.seq)) throw new TypeError('saveDeviceState: s.seq must be a non-negative safe integer');
  if (!(s.prev instanceof Uint8Array) || s.prev.length !== HASH_BYTES) {
    throw new TypeError('saveDeviceState: s.prev must be 32 bytes');
  }
  const reservedThrough = opts.reservedThrough ?? s.seq;
  if (!isSeq(reservedThrough) || reservedThrough < s.seq) {
    throw new RangeError('saveDeviceState: opts.reservedThrough must be an integer ≥ s.seq');
  }
  const doc = {
    format: DEVICE_STATE_FORMAT,
    seq: s.seq,
    prev: Buffer.from(s.prev).toString('hex'),
    reservedThrough,
  };
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(doc)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameDurably(tmp, path); // the rename itself must survive a power cut
}
