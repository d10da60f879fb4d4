/**
 * Data-key benchmark (issue 14; io/data-keys): what the top of the hour costs a ward. Every
 * device seals its frames under a data key of its own per hour, and making one costs a
 * JWE wrapping it for each recipient and a share of an fsync. At the top of the hour every
 * device of the ward needs a new one at once.
 *
 * A real Ingest on a real SQLite store (test/helpers/sealed), an EC recipient as the
 * gateway's data directory has, signatures checked in the event loop, and an injected clock
 * (the window is the gateway's, 1 h). For each ward size, every device sends one frame, the
 * ward's frames spread evenly over one second (100 ticks of 10 ms), in four rounds:
 * 1. half past the hour, each device's first frame (its key is made: the first-frame cost);
 * 2. a second later, the reference: the same ward with every key made;
 * 3. the top of the next hour with the keys made on the commit's path (as before keys were
 *    made ahead, and as a gateway started in the last minutes of an hour still does);
 * 4. the top of the hour after, with the next hour's keys made ahead three minutes before
 *    (`Ingest.prepareKeys`, what the gateway's timer does from five minutes before the end
 *    of each hour), timed too: how long it took and the longest the event loop waited.
 * Each round: every frame's submit → answer latency (p50, p99, max) and the event loop's
 * longest delay. Ends with one `BENCH {json}` line.
 *
 *   node dist/test/bench/keys.js [--devices 1000,5000]
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { FrameChain } from '../helpers/gateway.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { percentile } from './percentile.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '1000,5000' } } });
const SIZES = String(values.devices)
  .split(',')
  .map((s) => Number(s.trim()));
if (SIZES.some((n) => !Number.isInteger(n) || n < 100 || n > 50_000)) {
  console.error('keys bench: --devices takes ward sizes from 100 to 50000, comma-separated');
  process.exit(2);
}

const HOUR = 3_600_000;
const TICKS = 100;
const TICK_MS = 10;

interface RoundFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  loopMaxMs: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** One frame of every device at gateway time `at`, spread over one second of real time. */
async function round(rig: SealedRig, chains: readonly FrameChain[], at: number, clock: { now: number }) {
  clock.now = at;
  const frames = chains.map((c) => c.next({ ts: at }));
  const lat: number[] = [];
  const answers: Promise<unknown>[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const per = Math.ceil(chains.length / TICKS);
  for (let t = 0; t < TICKS; t++) {
    for (let i = t * per; i < Math.min(chains.length, (t + 1) * per); i++) {
      const t0 = performance.now();
      answers.push(
        rig.ingest.submit(frames[i] as Uint8Array, (chains[i] as FrameChain).dev).then((a) => {
          if (a.status !== 'accepted') throw new Error(`keys bench: a frame was answered ${a.status}`);
          lat.push(performance.now() - t0);
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await Promise.all(answers);
  loop.disable();
  lat.sort((a, b) => a - b);
  return {
    p50Ms: r2(percentile(lat, 0.5)),
    p99Ms: r2(percentile(lat, 0.99)),
    maxMs: r2(lat[lat.length - 1] as number),
    loopMaxMs: r2(loop.max / 1e6),
  } satisfies RoundFigures;
}

async function ward(devices: number) {
  const tmp = makeTempDir('vt-bench-keys-');
  const clock = { now: 0 };
  // The timer is left out (a check every ~24 days): round 4 calls what it would call.
  const rig = sealedRig(tmp.dir, [recipientPair('records', 'ec').recipient], {
    now: () => clock.now,
    keysAhead: { leadMs: 5 * 60_000, checkMs: 2 ** 31 - 1 },
  });
  try {
    const chains = Array.from({ length: devices }, (_, i) => rig.device(`wr-${String(i).padStart(5, '0')}`));
    const h = 100 * HOUR;
    const first = await round(rig, chains, h + 30 * 60_000, clock);
    const reference = await round(rig, chains, h + 30 * 60_000 + 1000, clock);
    const onPath = await round(rig, chains, h + HOUR + 500, clock);
    clock.now = h + 2 * HOUR - 3 * 60_000;
    const made0 = rig.ingest.dataKeys.madeAhead;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const a0 = performance.now();
    await rig.ingest.prepareKeys();
    const aheadMs = performance.now() - a0;
    loop.disable();
    const madeAhead = rig.ingest.dataKeys.madeAhead - made0;
    const ahead = await round(rig, chains, h + 2 * HOUR + 500, clock);
    const usedAhead = rig.ingest.dataKeys.usedAhead;
    return {
      devices,
      first,
      reference,
      onPath,
      ahead,
      making: {
        ms: r2(aheadMs),
        keys: madeAhead,
        msPerKey: r2(aheadMs / madeAhead),
        loopMaxMs: r2(loop.max / 1e6),
      },
      usedAhead,
    };
  } finally {
    await rig.ingest.close();
    rig.store.close();
    tmp.cleanup();
  }
}

const fmt = (r: RoundFigures) =>
  `p50/p99/max ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} / ${r.maxMs.toFixed(2)} ms (event loop's longest wait ${r.loopMaxMs.toFixed(1)} ms)`;

console.log(`VitalTrail data-key benchmark (Node ${process.version}): one frame per device, a ward's second`);
const out: Record<string, unknown> = { bench: 'keys', date: new Date().toISOString(), node: process.version };
for (const n of SIZES) {
  const w = await ward(n);
  console.log(`${n} devices`);
  console.log(`  half past, each device's first frame (makes its key)   ${fmt(w.first)}`);
  console.log(`  a second later, every key made (reference)             ${fmt(w.reference)}`);
  console.log(`  top of the hour, keys made on the commit's path        ${fmt(w.onPath)}`);
  console.log(
    `  keys made ahead, 3 min before the hour: ${w.making.keys} keys in ${w.making.ms.toFixed(0)} ms (${w.making.msPerKey.toFixed(2)} ms each; event loop's longest wait ${w.making.loopMaxMs.toFixed(1)} ms)`,
  );
  console.log(`  top of the hour, keys made ahead (${w.usedAhead} used)             ${fmt(w.ahead)}`);
  Object.assign(out, {
    [`first${n}`]: w.first,
    [`reference${n}`]: w.reference,
    [`topOfHourOnPath${n}`]: w.onPath,
    [`topOfHourAhead${n}`]: w.ahead,
    [`aheadMaking${n}`]: w.making,
  });
}
console.log(`BENCH ${JSON.stringify(out)}`);
