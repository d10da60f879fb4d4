/**
 * @module io/reading/open-chunk
 * Opening a chunk of sealed frames into readings, the same steps on the event loop and on
 * a read thread (io/reading/read-pool; issue 14): per frame, its COSE_Encrypt0 opened under
 * its data key with its place in the store as external AAD (core/cose-encrypt0), checked
 * against the log's leaf hash and the index's frame hash, and decoded (protocol/frame).
 * Pure: no SQLite, no I/O; what it needs comes in one `OpenJob`, a chunk's frames packed
 * into four buffers (one copy each to a thread, not one per frame); the envelopes are the
 * one buffer SQLite hands over for the whole chunk (io/store/sealed `SealedReader.job`).
 *
 * The first frame that does not open, match or decode ends the chunk with its leaf index
 * and the reason; the caller turns it into `integrity_error` (io/store/sealed), exactly as
 * a read on the event loop does. Never a wrong reading.
 */
import type { KeyObject } from 'node:crypto';
import { leafHashEquals } from '../../../../anchor/src/log/index.js';
import { openEncrypt0 } from '../../core/cose-encrypt0.js';
import { frameAad } from '../../core/sealed-aad.js';
import { sha256Equals } from '../../protocol/digest.js';
import { decodeFrame, isSafeFrame, type Observations } from '../../protocol/frame.js';

/** One decrypted reading with its place in the log. */
export interface StoredReading {
  dev: string;
  seq: number;
  ts: number;
  obs: Observations;
  bat?: number;
  leafIndex: number;
}

/**
 * The reading of one opened frame.
 * @throws {Error} when it does not decode, or its seq or ts is beyond 2^53-1 (the gateway
 * accepts none: core/acceptance), i.e. stored damage.
 */
export function decodeReading(bytes: Uint8Array, leafIndex: number): StoredReading {
  const frame = decodeFrame(bytes);
  if (!isSafeFrame(frame)) throw new TypeError('seq or ts beyond 2^53-1');
  const body = frame.body;
  const r: StoredReading = { dev: body.dev, seq: body.seq, ts: body.ts, obs: body.obs, leafIndex };
  if (body.bat !== undefined) r.bat = body.bat;
  return r;
}

/** What a job needs of a frame's index row (io/store `FrameReadRow`, its leaf hash read with it). */
export interface JobRow {
  dev: string;
  seq: number;
  leafIndex: number;
  /** The frame's SHA-256 (the index) and its leaf hash (the log). */
  hash: Uint8Array;
  leafHash: Uint8Array;
}

/** A chunk to open: its frames packed into a few buffers, and its data keys. */
export interface OpenJob {
  keys: KeyObject[];
  keyIds: number[];
  devs: string[];
  /** Per frame: seq, leaf index, key index (-1: its data key was shredded; not opened). */
  nums: Float64Array<ArrayBuffer>;
  /** The envelopes one after the other; `ends[i]` is where frame i's ends. */
  envelopes: Uint8Array;
  ends: Uint32Array<ArrayBuffer>;
  /** Per frame: its leaf hash (32 bytes), then its frame hash (32 bytes). */
  hashes: Uint8Array<ArrayBuffer>;
}

/**
 * The job of `rows`, whose COSE_Encrypt0 envelopes SQLite handed over one after the other
 * (`envelopes`, frame i's `lengths[i]` bytes, sealed under data key `keyIds[i]`), with the
 * data keys by id (`'shredded'`: destroyed; such frames are counted, not opened).
 */
export function packedJob(
  rows: readonly JobRow[],
  keyIds: readonly number[],
  lengths: readonly number[],
  envelopes: Uint8Array,
  keys: ReadonlyMap<number, KeyObject | 'shredded'>,
): { job: OpenJob; shredded: number } {
  const n = rows.length;
  const job: OpenJob = {
    keys: [],
    keyIds: [],
    devs: new Array<string>(n),
    nums: new Float64Array(3 * n),
    envelopes,
    ends: new Uint32Array(n),
    hashes: new Uint8Array(64 * n),
  };
  const index = new Map<number, number>();
  let at = 0;
  let shredded = 0;
  rows.forEach((r, i) => {
    const id = keyIds[i] as number;
    let k = index.get(id);
    if (k === undefined) {
      const key = keys.get(id) as KeyObject | 'shredded';
      k = key === 'shredded' ? -1 : job.keys.push(key) - 1;
      if (k >= 0) job.keyIds.push(id);
      index.set(id, k);
    }
    if (k < 0) shredded += 1;
    job.devs[i] = r.dev;
    job.nums[3 * i] = r.seq;
    job.nums[3 * i + 1] = r.leafIndex;
    job.nums[3 * i + 2] = k;
    at += lengths[i] as number;
    job.ends[i] = at;
    job.hashes.set(r.leafHash, 64 * i);
    job.hashes.set(r.hash, 64 * i + 32);
  });
  return { job, shredded };
}

/** The readings of a chunk, in order, or the first frame that failed and why. */
export type OpenResult =
  | { readings: StoredReading[] }
  | { failed: { leafIndex: number; reason: 'authenticate' | 'match' | 'decode' } };

/** Opens, checks and decodes every frame of `job`, in order (see the module's comment). */
export function openChunk(job: OpenJob): OpenResult {
  const readings: StoredReading[] = [];
  let start = 0;
  for (let i = 0; i < job.ends.length; i++) {
    const end = job.ends[i] as number;
    const seq = job.nums[3 * i] as number;
    const leafIndex = job.nums[3 * i + 1] as number;
    const k = job.nums[3 * i + 2] as number;
    if (k < 0) {
      start = end;
      continue;
    }
    let bytes: Uint8Array;
    try {
      const aad = frameAad(job.devs[i] as string, seq, leafIndex, job.keyIds[k] as number);
      bytes = openEncrypt0(job.envelopes.subarray(start, end), job.keys[k] as KeyObject, aad);
    } catch {
      return { failed: { leafIndex, reason: 'authenticate' } };
    }
    start = end;
    const h = 64 * i;
    if (
      !leafHashEquals(bytes, job.hashes.subarray(h, h + 32)) ||
      !sha256Equals(bytes, job.hashes.subarray(h + 32, h + 64))
    )
      return { failed: { leafIndex, reason: 'match' } };
    try {
      readings.push(decodeReading(bytes, leafIndex));
    } catch {
      return { failed: { leafIndex, reason: 'decode' } };
    }
  }
  return { readings };
}
