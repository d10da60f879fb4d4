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

/** A group commit to write (`GatewayStore.commitBatch`): its id, envelope, time and frames. */
export interface NewBatch {
  id: number;
  envelope: string;
  createdAt: number;
  frames: readonly NewFrame[];
}

/** A group commit (`batches`): its envelope is a skeleton JWE or io/store/sealed's marker. */
export interface BatchRow {
  id: number;
  createdAt: number;
  firstLeaf: number;
  frameCount: number;
  envelope: string;
}

/** Rows as SQLite returns them (snake_case columns, BLOBs as Buffers). */
export interface RawBatch {
  id: number;
  created_at: number;
  first_leaf: number;
  frame_count: number;
  envelope: string;
}

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

export function toBatch(r: RawBatch): BatchRow {
  return {
    id: r.id,
    createdAt: r.created_at,
    firstLeaf: r.first_leaf,
    frameCount: r.frame_count,
    envelope: r.envelope,
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

/** What the chain rules need of a frame's stored neighbours (`GatewayStore.neighbours`). */
export type Neighbours = {
  same?: { hash: Uint8Array };
  before?: { hash: Uint8Array };
  after?: { prev: Uint8Array };
};

/** A row of `neighbours`' one range of the (dev, seq) key, seq - 1 to seq + 1: seq, hash, prev. */
export type RawAround = [number, Buffer, Buffer];

/** A row of the row-by-row `framesToRead` statement: seq, ts, leaf index, hash, batch id and position, leaf hash. */
export type RawReadRow = [number, number, number, Buffer, number, number, Buffer | null];

export function toReadRow(
  dev: string,
  [seq, ts, leafIndex, hash, batchId, batchPos, leaf]: RawReadRow,
): FrameReadRow {
  const row: FrameReadRow = { dev, seq, ts, leafIndex, hash, batchId, batchPos };
  if (leaf !== null) row.leafHash = leaf;
  return row;
}

/**
 * Integers SQLite joined with commas (`group_concat`; null: none), or undefined unless there
 * are exactly `n` of them.
 */
export function splitInts(s: string | null, n: number): number[] | undefined {
  const out = s === null ? [] : s.split(',').map(Number);
  return out.length === n ? out : undefined;
}

/**
 * The one row of the packed `framesToRead` statement (io/store/store): how many frames, how
 * many of them with a frame hash and a leaf hash of 32 bytes each; their seq, ts, leaf
 * index, batch id and batch position (`group_concat`, in seq order); their frame hashes and
 * their leaf hashes, one after the other. One row and three BLOBs for a day of frames
 * instead of 86,400 rows and 172,800 BLOBs (issue 14: a day's raw read within 1 s).
 */
export type PackedReadRows = [
  number,
  number,
  string | null,
  string | null,
  string | null,
  string | null,
  string | null,
  Buffer | null,
  Buffer | null,
];

/**
 * The rows of `dev` in a `PackedReadRows` (each hash a view of the packed BLOB), or
 * undefined when they cannot be taken from it: a frame without its leaf in the log or with
 * a hash not of 32 bytes, or seqs not in strictly increasing order. The caller then reads
 * them row by row, where each such frame is refused by itself.
 */
export function unpackReadRows(dev: string, p: PackedReadRows): FrameReadRow[] | undefined {
  const [n, whole, seqs, tss, leaves, batchIds, batchPoss, frameHashes, leafHashes] = p;
  if (n === 0) return [];
  if (whole !== n || frameHashes?.length !== 32 * n || leafHashes?.length !== 32 * n) return undefined;
  const seq = splitInts(seqs, n);
  const ts = splitInts(tss, n);
  const leaf = splitInts(leaves, n);
  const batchId = splitInts(batchIds, n);
  const batchPos = splitInts(batchPoss, n);
  if (!seq || !ts || !leaf || !batchId || !batchPos) return undefined;
  const rows = new Array<FrameReadRow>(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && !((seq[i] as number) > (seq[i - 1] as number))) return undefined;
    rows[i] = {
      dev,
      seq: seq[i] as number,
      ts: ts[i] as number,
      leafIndex: leaf[i] as number,
      hash: frameHashes.subarray(32 * i, 32 * i + 32),
      batchId: batchId[i] as number,
      batchPos: batchPos[i] as number,
      leafHash: leafHashes.subarray(32 * i, 32 * i + 32),
    };
  }
  return rows;
}

/** One accepted frame's key and hash (io/store/store `readFrameKeys`). */
export type FrameKey = { dev: string; seq: number; hash: Buffer };
