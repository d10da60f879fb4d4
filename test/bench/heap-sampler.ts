/**
 * What the gateway allocates, and where (README "Benchmarks" → "Where the bytes go"): V8's
 * sampling heap profiler in the process that imports this module (its main thread), counting
 * objects the collector has freed since as well, so short-lived garbage shows, not only what
 * stays live. Given to the gateway with `--import`:
 *
 *   BENCH_HOST_NODE_ARGS="--max-semi-space-size=4 --import=./dist/test/bench/heap-sampler.js" \
 *     BENCH_PHASES=embedded node dist/test/bench/run.js
 *   kill -USR2 <the host's pid>   # starts sampling; a second USR2 writes
 *                                 # $HEAP_SAMPLING_DIR (default the cwd)/heap-<pid>-<n>.heapprofile
 *
 * `node dist/test/bench/heap-profile.js FILE` reads what it wrote. With HEAP_SAMPLING_PROMOTED=1
 * it counts only the objects that outlived the young generation (promoted, freed later or not).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

function installSampler(): void {
  const session = new Session();
  session.connect();
  let on = false;
  let written = 0;
  process.on('SIGUSR2', () => {
    if (!on) {
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 8192,
        includeObjectsCollectedByMajorGC: true,
        // HEAP_SAMPLING_PROMOTED=1: only what survived the scavenges (promoted to the old
        // generation, whose marking and sweeping the collector's helper threads pay for).
        includeObjectsCollectedByMinorGC: process.env.HEAP_SAMPLING_PROMOTED !== '1',
      });
      on = true;
      return;
    }
    on = false;
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (err) {
        process.stderr.write(`heap-sampler: ${err.message}\n`);
        return;
      }
      const file = join(process.env.HEAP_SAMPLING_DIR ?? '.', `heap-${process.pid}-${written++}.heapprofile`);
      writeFileSync(file, JSON.stringify(r.profile));
      process.stderr.write(`heap-sampler: wrote ${file}\n`);
    });
  });
}

if (isMainThread) installSampler();
