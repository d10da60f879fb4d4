/**
 * @module io/reading/read-worker
 * The code of a read thread (io/reading/read-pool; issue 14): each message is one chunk to
 * open (`{ id, job }`, io/reading/open-chunk `OpenJob`), each answer its `OpenResult` under
 * the same id. It says `{ ready: true }` once its code has loaded, so a pool whose threads
 * cannot load it opens every chunk on the event loop instead.
 */
import { parentPort } from 'node:worker_threads';
import { type OpenJob, openChunk } from './open-chunk.js';

const port = parentPort;
if (port) {
  port.on('message', (m: { id: number; job: OpenJob }) => {
    port.postMessage({ id: m.id, result: openChunk(m.job) });
  });
  port.postMessage({ ready: true });
}
