/**
 * @module io/reading/open-chunk
 * Opening a chunk of sealed frames into readings, the same steps on the event loop and on
 * a read thread (io/reading/read-pool; issue 14): per frame, its COSE_Encrypt0 opened under
 * its data key with its place in the store as external AAD (core/cose-encrypt0), checked
 * against the log's leaf hash and the index's frame hash, and decoded (protocol/frame).
 * Pure: no SQLite, no I/O; what it needs comes in one `OpenJob`, a chunk's frames packed
 * into four buffers (one copy each to a thread, not one per frame).
 *
 * The first frame that does not open, match or decode ends the chunk with its leaf index
 * and the reason; the caller turns it into `integrity_error` (io/store/sealed), exactly as
 * a read on the event loop does. Never a wrong reading.
 */
import type { KeyObject } from 'node:crypto';
import { leafHashEquals } from '../../../../anchor/src/log/index.js';
import { openEncrypt0 } from '../../core/cose-encrypt0.js';
import { sha256Equals } from '../../protocol/digest.js';
import { decodeFrame, isSafeFrame, type Observations } from '../../protocol/frame.js';

const UTF8 = new TextEncoder();

/**
 * The AAD of one sealed frame, its place in the store and its key: the COSE external AAD
 * of a COSE_Encrypt0 (schema 11 on), the JWE AAD of a row of format 2.
 */
export function frameAad(dev: string, seq: number, leafIndex: number, keyId: number): Uint8Array {
  return UTF8.encode(`vitaltrail-frame/2:${dev}:${seq}:${leafIndex}:${keyId}`);
}

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

/** One frame of a job, as the reader has it. */
export interface JobFrame {
  dev: string;
  seq: number;
  leafIndex: number;
  /** Index into the job's keys. */
  key: number;
  envelope: Uint8Array;
  leafHash: Uint8Array;
  frameHash: Uint8Array;
}

/** A chunk to open: its frames packed into a few buffers, and its data keys. */
export interface OpenJob {
  keys: KeyObject[];
  keyIds: number[];
  devs: string[];
  /** Per frame: seq, leaf index, key index. */
  nums: Float64Array<ArrayBuffer>;
  /** The envelopes one after the other; `ends[i]` is where frame i's ends. */
  envelopes: Uint8Array<ArrayBuffer>;
  ends: Uint32Array<ArrayBuffer>;
  /** Per frame: its leaf hash (32 bytes), then its frame hash (32 bytes). */
  hashes: Uint8Array<ArrayBuffer>;
}

/** The readings of a chunk, in order, or the first frame that failed and why. */
export type OpenResult =
  | { readings: StoredReading[] }
  | { failed: { leafIndex: number; reason: 'authenticate' | 'match' | 'decode' } };

/** Packs `frames` (keys by index into `keys`/`keyIds`) into an `OpenJob`. */
export function packJob(frames: readonly JobFrame[], keys: KeyObject[], keyIds: number[]): OpenJob {
  const n = frames.length;
  let total = 0;
  for (const f of frames) total += f.envelope.length;
  const job: OpenJob = {
    keys,
    keyIds,
    devs: new Array<string>(n),
    nums: new Float64Array(3 * n),
    envelopes: new Uint8Array(total),
    ends: new Uint32Array(n),
    hashes: new Uint8Array(64 * n),
  };
  let at = 0;
  frames.forEach((f, i) => {
    job.devs[i] = f.dev;
    job.nums[3 * i] = f.seq;
    job.nums[3 * i + 1] = f.leafIndex;
    job.nums[3 * i + 2] = f.key;
    job.envelopes.set(f.envelope, at);
    at += f.envelope.length;
    job.ends[i] = at;
    job.hashes.set(f.leafHash, 64 * i);
    job.hashes.set(f.frameHash, 64 * i + 32);
  });
  return job;
}

/** Opens, checks and decodes every frame of `job`, in order (see the module's comment). */
export function openChunk(job: OpenJob): OpenResult {
  const readings: StoredReading[] = [];
  let start = 0;
  for (let i = 0; i < job.ends.length; i++) {
    const end = job.ends[i] as number;
    const seq = job.nums[3 * i] as number;
    const leafIndex = job.nums[3 * i + 1] as number;
    const k = job.nums[3 * i + 2] as number;
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
