/**
 * @module io/store/rows
 * The shapes of the store's rows: as its API gives them (camelCase, bytes as Uint8Array)
 * and as SQLite returns them (snake_case columns, BLOBs as Buffers), and the conversions.
 * The statements that read and write them are io/store/store's.
 */

/** A missing range of seq numbers, inclusive (PROTOCOL.md §1: recorded as a gap). */
export interface SeqGap {
  from: number;
  to: number;
}

export interface DeviceRow {
  dev: string;
  certPem: string;
  spkiSha256: string;
  status: 'active' | 'revoked';
  enrolledAt: number;
  updatedAt: number;
}

export interface FrameIndexRow {
  dev: string;
  seq: number;
  hash: Uint8Array;
  prev: Uint8Array;
  ts: number;
  acceptedAt: number;
  leafIndex: number;
  batchId: number;
  batchPos: number;
}

/** What a reader needs of an index row (io/store/sealed `SealedReader.read`). */
export type FrameReadRow = Pick<
  FrameIndexRow,
  'dev' | 'seq' | 'ts' | 'leafIndex' | 'hash' | 'batchId' | 'batchPos'
> & {
  /** The log's leaf hash, when the query read it with the row (`framesToRead`). */
  leafHash?: Uint8Array;
};

export interface NewFrame {
  dev: string;
  seq: number;
  hash: Uint8Array;
  prev: Uint8Array;
  ts: number;
  leafHash: Uint8Array;
}

/** Rows as SQLite returns them (snake_case columns, BLOBs as Buffers). */
export interface RawDevice {
  dev: string;
  cert_pem: string;
  spki_sha256: string;
  status: 'active' | 'revoked';
  enrolled_at: number;
  updated_at: number;
}

export interface RawFrame {
  dev: string;
  seq: number;
  hash: Buffer;
  prev: Buffer;
  ts: number;
  accepted_at: number;
  leaf_index: number;
  batch_id: number;
  batch_pos: number;
}

/** The rows in the store's API: camelCase, bytes as Uint8Array. */
export function toDevice(r: RawDevice): DeviceRow {
  return {
    dev: r.dev,
    certPem: r.cert_pem,
    spkiSha256: r.spki_sha256,
    status: r.status,
    enrolledAt: r.enrolled_at,
    updatedAt: r.updated_at,
  };
}

export function toFrame(r: RawFrame): FrameIndexRow {
  return {
    dev: r.dev,
    seq: r.seq,
    hash: new Uint8Array(r.hash),
    prev: new Uint8Array(r.prev),
    ts: r.ts,
    acceptedAt: r.accepted_at,
    leafIndex: r.leaf_index,
    batchId: r.batch_id,
    batchPos: r.batch_pos,
  };
}
