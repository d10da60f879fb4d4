/**
 * @module io/reading/read-worker
 * The code of a read thread (io/reading/read-pool; issue 14): each message is one chunk to
 * open (`{ id, job }`, io/reading/open-chunk `OpenJob`), each answer its `OpenResult` under
 * the same id. It says `{ ready: true }` once its code has loaded, so a pool whose threads
 * cannot load it opens every chunk on the event loop instead. It first names itself
 * (`vt-read`, core/thread-nice) and lowers its own priority by `workerData.nice` steps
 * (io/reading/read-pool).
 */
import { writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { READ_THREAD_NAME } from '../../core/thread-nice.js';
import { type OpenJob, openChunk } from './open-chunk.js';

// core/thread-nice. Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, 0)
// from a thread sets its own alone (man 2 setpriority, NOTES); elsewhere it would renice the
// whole process. Counted from the value this thread was made with: only a lower priority is
// asked. The verify threads do the same in their code (io/verify/verify-worker), which runs
// from a string and so cannot import a helper.
const nice = (workerData as { nice?: number } | null)?.nice ?? 0;
if (process.platform === 'linux') {
  try {
    writeFileSync('/proc/thread-self/comm', READ_THREAD_NAME); // its name in `top -H` (core/thread-nice)
  } catch {
    // No name: only how it shows.
  }
  try {
    if (nice > 0) setPriority(0, Math.min(19, getPriority(0) + nice));
  } catch {
    // Not allowed here: the thread runs as the process does.
  }
}

const port = parentPort;
if (port) {
  port.on('message', (m: { id: number; job: OpenJob }) => {
    port.postMessage({ id: m.id, result: openChunk(m.job) });
  });
  port.postMessage({ ready: true });
}
