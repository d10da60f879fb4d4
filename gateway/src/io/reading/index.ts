/**
 * @module io/reading
 * Reading sealed frames into readings (issue 14): the chunk opener shared by the event loop
 * and the read threads (open-chunk.ts), the pool of read threads (read-pool.ts) and the
 * threads' code (read-worker.ts, loaded by URL, never imported), and ranged reads fetched
 * an hour at a time (windows.ts). The one way into this folder from the rest of the gateway
 * (test/unit/house-rules.test.ts).
 */
export {
  decodeReading,
  type JobRow,
  type OpenJob,
  type OpenResult,
  openChunk,
  packedJob,
  type StoredReading,
} from './open-chunk.js';
export {
  DEFAULT_READ_IDLE_MS,
  DEFAULT_READ_NICE,
  ReadPool,
  type ReadPoolOptions,
  sharedReadPool,
} from './read-pool.js';
export {
  countInWindows,
  inWindows,
  lastInWindows,
  READ_WINDOW_MS,
  WINDOWED_MAX_MS,
  windowsOf,
} from './windows.js';
