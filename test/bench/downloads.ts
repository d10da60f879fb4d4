/**
 * Downloads against the ingest (2026-12-06): `npm run bench:downloads`
 * (= `npm run build && node dist/test/bench/downloads.js`). How long a user's read holds the
 * gateway's event loop, the loop every frame's acknowledgement waits for. Each figure is
 * printed beside a reference measured in the same run, and the last line is `BENCH {json}`
 * (names in README "Benchmarks"):
 * - 6 hours of one 1 Hz device (21,600 frames, six vitals) read as the query routes read it
 *   (io/queries `readReadings`: the index an hour at a time, the frames on the read
 *   threads): the longest wait of a 1 ms timer, beside the reference: the same index fetched
 *   in one statement (its time is the loop's); and the latest 20 of them, as the care pages
 *   read them (`&limit=20`: the last hour's index, 20 frames opened);
 * - the same 6 hours as the FHIR export a patient downloads (~180 MB), served over real HTTP
 *   to `curl` in another process (a client that reads as fast as it is sent, so a stream's
 *   backpressure never pauses it): the longest wait with the gateway's 10 ms slices
 *   (io/outbound/time-slices), beside the same pieces streamed without them; then three at
 *   once, both ways.
 * Knob: BENCH_DOWNLOAD_FRAMES (21600).
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { exportFhir } from '../../gateway/src/io/outbound/fhir-export.js';
import { inTimeSlices } from '../../gateway/src/io/outbound/index.js';
import { readReadings } from '../../gateway/src/io/queries/index.js';
import { sharedReadPool } from '../../gateway/src/io/reading/index.js';
import { Bindings } from '../../gateway/src/io/store/bindings.js';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
import { loopStalls } from '../helpers/loop-stalls.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const FRAMES = Number(process.env.BENCH_DOWNLOAD_FRAMES ?? 21_600);
const DEV = 'wr-0001';
const run = promisify(execFile);

function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}

async function main(): Promise<void> {
  const bench: Record<string, number> = { frames: FRAMES };
  const tmp = makeTempDir('vt-bench-downloads-');
  const r = recipientPair('care', 'ec');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  let now = Date.UTC(2026, 11, 6, 0, 0, 0);
  const rig = sealedRig(tmp.dir, [r.recipient], { now: () => now });
  try {
    const chain = rig.device(DEV);
    const from = now;
    for (let i = 0; i < FRAMES; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(FRAMES, i + 1000); j++) {
        now = from + j * 1000;
        batch.push(
          rig.ingest.submit(
            chain.next({ ts: now }, { hr: 60 + (j % 40), spo2: 97, rr: 15, temp: 3700, sbp: 120, dbp: 80 }),
            DEV,
          ),
        );
      }
      await Promise.all(batch);
    }
    const to = now;

    // --- the read the query routes make ----------------------------------------------
    const read = () => readReadings(rig.store, new SealedReader(rig.store, secrets), DEV, from, to);
    await read(); // the read threads started, as after a first long read
    const reading = await loopStalls(read);
    const t = performance.now();
    rig.store.framesToRead(DEV, from, to, 2048);
    const oneStatementMs = Math.round(performance.now() - t);
    Object.assign(bench, {
      read_ms: reading.ms,
      read_longest_stall_ms: reading.longestMs,
      read_index_one_statement_ms: oneStatementMs,
      read_threads: sharedReadPool().threads,
    });
    line(
      `${FRAMES} readings of one device, read (${reading.out.readings.length})`,
      `${reading.ms} ms; longest stall ${reading.longestMs} ms (reference: its index in one statement ${oneStatementMs} ms)`,
    );

    // What the care pages read since they show the latest 20 rows (`&limit=20`).
    const latest = await loopStalls(() =>
      readReadings(rig.store, new SealedReader(rig.store, secrets), DEV, from, to, { last: 20 }),
    );
    Object.assign(bench, { read_last20_ms: latest.ms, read_last20_longest_stall_ms: latest.longestMs });
    line(
      `  the latest 20 of them (the care pages' table)`,
      `${latest.ms} ms; longest stall ${latest.longestMs} ms (${latest.out.readings.length} readings)`,
    );

    // --- the FHIR export a patient downloads -------------------------------------------
    const bindings = new Bindings(rig.store, { recipients: [r.recipient], secrets });
    let sliced = true;
    const server = createServer((_req, res) => {
      exportFhir({
        store: rig.store,
        bindings,
        secrets,
        log: { origin: 'vitaltrail/gw-bench', logId: 'ab'.repeat(32) },
        dev: DEV,
        from,
        to,
      }).then(
        (x) => Readable.from(sliced ? inTimeSlices(x.text()) : x.text()).pipe(res),
        () => res.destroy(),
      );
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const curl = async () =>
      Number((await run('curl', ['-sf', '-o', '/dev/null', '-w', '%{size_download}', url])).stdout);
    try {
      for (const n of [1, 3]) {
        const got: Record<string, { longestMs: number; ms: number; bytes: number }> = {};
        for (const mode of ['unsliced', 'sliced'] as const) {
          sliced = mode === 'sliced';
          const s = await loopStalls(() => Promise.all(Array.from({ length: n }, curl)));
          got[mode] = { longestMs: s.longestMs, ms: s.ms, bytes: s.out[0] as number };
        }
        const a = got.sliced as { longestMs: number; ms: number; bytes: number };
        const b = got.unsliced as { longestMs: number; ms: number; bytes: number };
        const key = n === 1 ? 'fhir' : `fhir_x${n}`;
        Object.assign(bench, {
          [`${key}_bytes`]: a.bytes,
          [`${key}_ms`]: a.ms,
          [`${key}_longest_stall_ms`]: a.longestMs,
          [`${key}_unsliced_ms`]: b.ms,
          [`${key}_unsliced_longest_stall_ms`]: b.longestMs,
        });
        line(
          `FHIR export of those readings${n > 1 ? `, ${n} at once` : ''} (${(a.bytes / 1e6).toFixed(1)} MB each)`,
          `${a.ms} ms; longest stall ${a.longestMs} ms (reference, the pieces without slices: ${b.ms} ms, stall ${b.longestMs} ms)`,
        );
      }
    } finally {
      server.close();
    }
  } finally {
    await rig.ingest.close();
    rig.store.close();
    await sharedReadPool().close();
    tmp.cleanup();
  }
  process.stdout.write(`BENCH ${JSON.stringify({ bench: 'downloads', ...bench })}\n`);
}

await main();
