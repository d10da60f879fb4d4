/**
 * @module io/queries/readings
 * A device's raw readings over a time range, as the query API and the exports read them
 * (`readReadings`): the frame index fetched an hour of device time at a time (io/reading
 * `inWindows`), every frame opened and decoded, a long read on io/reading's threads. A read
 * may be bounded (`maxRows`): it stops once the index holds more frames than that, before a
 * frame is opened, and refuses with `too_many_readings`.
 */
import { VitalTrailError } from '../../protocol/errors.js';
import type { ReadPool, StoredReading } from '../reading/index.js';
import { countInWindows, decodeReading, inWindows, lastInWindows, sharedReadPool } from '../reading/index.js';
import { type FrameReadRow, type GatewayStore, SealedError, type SealedReader } from '../store/index.js';

export type { StoredReading };

/** Frames opened and decoded together (one statement). */
export const DECODE_CHUNK = 4096;
/** Frames per chunk handed to a read thread. */
const POOL_CHUNK = 1024;
/** Reads of fewer rows stay on the event loop (a thread's start and hand-over cost more). */
const POOL_MIN_ROWS = 2048;

/** The reading of one opened frame. @throws {SealedError} `integrity_error` when it does not decode. */
export function storedReading(bytes: Uint8Array, row: FrameReadRow): StoredReading {
  try {
    return decodeReading(bytes, row.leafIndex);
  } catch (err) {
    throw new SealedError('integrity_error', `entry ${row.leafIndex} does not decode`, { cause: err });
  }
}

/**
 * The query routes' bound on one answer's raw readings: more than a day of a 1 Hz device
 * (86,400). At the bound an answer is ~13 MB of JSON.
 */
export const DEFAULT_MAX_READINGS = 100_000;

/** How `readReadings` reads. */
export interface ReadReadingsOptions {
  /** The read threads (default: the gateway's shared pool). */
  pool?: ReadPool;
  /** Only the `last` latest readings by ts (io/reading `lastInWindows`). */
  last?: number;
  /**
   * The most frames the range may hold: past it the read stops (an hour's index rows past it
   * at most, no frame opened) and refuses with `too_many_readings`.
   */
  maxRows?: number;
}

/** The code of a read refused by its `maxRows` (registered in protocol/error-codes). */
export class TooManyReadings extends VitalTrailError<'too_many_readings'> {
  constructor(maxRows: number) {
    super('too_many_readings', `the range holds more than ${maxRows} readings`);
  }
}

/**
 * A device's readings with from <= ts <= to (device clock), by seq, opened by `reader`
 * (`opts`: the read threads, the latest N only, a bound). Shredded entries are counted, not
 * returned. @throws {SealedError} as `SealedReader.read`; {TooManyReadings} past `maxRows`.
 */
export async function readReadings(
  store: GatewayStore,
  reader: SealedReader,
  dev: string,
  from: number,
  to: number,
  opts: ReadReadingsOptions = {},
): Promise<{ readings: StoredReading[]; shredded: number }> {
  const { pool = sharedReadPool(), last, maxRows = Number.POSITIVE_INFINITY } = opts;
  // Packed only where the read goes to the threads (on the event loop rows were faster).
  const packFrom = pool.threads > 0 ? POOL_MIN_ROWS : undefined;
  const fetch = (a: number, b: number) => store.framesToRead(dev, a, b, packFrom);
  const rows = await (last === undefined
    ? inWindows(fetch, from, to, maxRows)
    : lastInWindows(fetch, from, to, last));
  if (rows.length > maxRows) throw new TooManyReadings(maxRows);
  if (pool.threads > 0 && rows.length >= POOL_MIN_ROWS) return readOnThreads(rows, reader, pool);
  // Chunk by chunk, decoded as opened: no day of frame bytes held at once.
  const out: ChunkRead = { readings: [], shredded: 0 };
  for (let i = 0; i < rows.length; i += DECODE_CHUNK)
    addChunk(out, await readHere(reader, rows.slice(i, i + DECODE_CHUNK)));
  return out;
}

/**
 * How many frames of `dev` have from <= ts <= to (device clock), shredded ones included: from
 * the frame index, an hour of device time at a time (io/reading `countInWindows`).
 * @example const total = await countReadings(store, 'wr-0001', from, to);
 */
export function countReadings(store: GatewayStore, dev: string, from: number, to: number): Promise<number> {
  return countInWindows((a, b) => store.countFrames(dev, a, b + 1), from, to);
}

/** The readings of some rows and how many of them were shredded. */
type ChunkRead = { readings: StoredReading[]; shredded: number };

function addChunk(out: ChunkRead, c: ChunkRead): void {
  for (const r of c.readings) out.readings.push(r);
  out.shredded += c.shredded;
}

/** `chunk` opened (`SealedReader.read`) and decoded on the event loop. */
async function readHere(reader: SealedReader, chunk: readonly FrameReadRow[]): Promise<ChunkRead> {
  const c: ChunkRead = { readings: [], shredded: 0 };
  (await reader.read(chunk)).forEach((bytes, j) => {
    if (bytes === 'shredded') c.shredded += 1;
    else c.readings.push(storedReading(bytes, chunk[j] as FrameReadRow));
  });
  return c;
}

/** The words of a read thread's failure, as `SealedReader` and `storedReading` say them. */
const FAILED = { authenticate: 'authenticate', match: 'match the log', decode: 'decode' };

/**
 * `readReadings` of many rows with the read threads (io/reading): here each chunk's sealed
 * rows are fetched (one statement; the leaf hashes came with the index rows) and its keys
 * unwrapped while the threads open, check and decode the chunks before it; at most
 * `2 × threads` chunks are out at once, and their answers are taken in order, so the first
 * damaged entry in seq order is the one reported, with the same code and words as on the
 * event loop. A chunk not all of COSE_Encrypt0 rows (format 2, skeletons) is read here.
 */
async function readOnThreads(
  rows: readonly FrameReadRow[],
  reader: SealedReader,
  pool: ReadPool,
): Promise<ChunkRead> {
  const out: ChunkRead = { readings: [], shredded: 0 };
  const inFlight: Promise<ChunkRead>[] = [];
  let taken = 0;
  for (let i = 0; i < rows.length; i += POOL_CHUNK) {
    const chunk = rows.slice(i, i + POOL_CHUNK);
    const prepared = await reader.job(chunk);
    const p: Promise<ChunkRead> = prepared
      ? pool.run(prepared.job).then((r) => {
          if ('readings' in r) return { readings: r.readings, shredded: prepared.shredded };
          const { leafIndex, reason } = r.failed;
          throw new SealedError('integrity_error', `entry ${leafIndex} does not ${FAILED[reason]}`);
        })
      : readHere(reader, chunk);
    p.catch(() => {}); // taken, and thrown, in order below
    inFlight.push(p);
    while (inFlight.length - taken > 2 * pool.threads)
      addChunk(out, await (inFlight[taken++] as Promise<ChunkRead>));
  }
  while (taken < inFlight.length) addChunk(out, await (inFlight[taken++] as Promise<ChunkRead>));
  return out;
}
