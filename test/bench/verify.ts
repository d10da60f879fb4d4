/**
 * Verify benchmark (`node dist/test/bench/verify.js`): the auditor's verifier on one core
 * over a bundle of BENCH_ENTRIES (default 100,000) frames from 20 devices, verified
 * BENCH_VERIFY_ROUNDS (default 3) times, printed as entries/s beside node:crypto's P-256
 * verify rate (the floor: every entry costs one ECDSA verify), measured before the first
 * round and after each, all on the process's CPU clock so a busy machine does not skew the
 * ratio. Each round is read against the two references around it and the figure is the
 * median round: the host's speed drifts over minutes. Goal: >= 0.85 x that rate. Also prints the split of
 * an entry's cost: strict CBOR decode (decodeFrame) and signature verify alone. Ends with one
 * `BENCH {json}` line (names in README "Benchmarks").
 */
import { createPublicKey } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseBundle, verifyBundle } from '../../anchor/src/verify/index.js';
import { decodeFrame, verifyFrameSignature } from '../../gateway/src/protocol/frame.js';
import { buildFixture, fixtureKey } from '../helpers/bundle-fixtures.js';
import { benchLine, clockMs, p256VerifyRate } from './reference.js';

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 100_000);
/** Times the bundle is verified, each between two measurements of the reference. */
const ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 3);
if (!Number.isSafeInteger(ROUNDS) || ROUNDS < 1)
  throw new RangeError('BENCH_VERIFY_ROUNDS must be a whole number >= 1');

function rate(n: number, ms: number): string {
  return `${Math.round(n / (ms / 1000))} /s`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const devices = Array.from({ length: 20 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
  const fx = await buildFixture({ entries: ENTRIES, devices, checkpointEvery: 1000 });
  const json = JSON.parse(JSON.stringify(fx.bundle));
  process.stderr.write(`built ${ENTRIES} entries in ${Math.round(performance.now() - t0)} ms\n`);

  // Both on the process's CPU clock (time waiting for a core on a busy machine is not
  // counted; GC threads are), in ROUNDS rounds, each between two measurements of the
  // reference: the host's speed drifts over minutes, so each round is read against the
  // reference around it, and the figure is the median round (as farm-bench alternates).
  const refs = [p256VerifyRate(1500, 'cpu')];
  const rounds: { ms: number; wallMs: number; ratio: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const bundle = parseBundle(json); // not timed; a fresh one a round, nothing carried over
    const t1 = clockMs('cpu');
    const w1 = performance.now();
    const report = verifyBundle(bundle, fx.evidence.anchors, { registry: fx.evidence.registryEvents });
    const ms = clockMs('cpu') - t1;
    const wallMs = performance.now() - w1;
    if (!report.integrity) throw new Error('bench bundle did not verify');
    refs.push(p256VerifyRate(1500, 'cpu'));
    const around = ((refs.at(-2) as number) + (refs.at(-1) as number)) / 2;
    rounds.push({ ms, wallMs, ratio: ENTRIES / (ms / 1000) / around });
  }
  const ref = refs.reduce((a, b) => a + b, 0) / refs.length;
  const ms = rounds.reduce((a, r) => a + r.ms, 0);
  const wallMs = rounds.reduce((a, r) => a + r.wallMs, 0);
  const perSec = (ENTRIES * ROUNDS) / (ms / 1000);
  const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)] as number;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;

  // The split, on a sample of 10,000 frames.
  const sample = fx.frames.slice(0, Math.min(10_000, fx.frames.length));
  const t2 = performance.now();
  const decoded = sample.map((b) => decodeFrame(b));
  const decodeMs = performance.now() - t2;
  const keys = new Map(devices.map((d, i) => [d, createPublicKey(fixtureKey(`device-${i % 8}`))]));
  const t3 = performance.now();
  for (const f of decoded) verifyFrameSignature(f, keys.get(f.kid)!);
  const sigMs = performance.now() - t3;

  const pad = (s: string) => s.padEnd(50);
  process.stdout.write(
    `${pad('node:crypto P-256 verify (reference, 1 core, CPU s)')}${Math.round(ref)} /s\n`,
  );
  process.stdout.write(
    `${pad('verifyBundle entries (1 core, CPU s)')}${Math.round(perSec)} /s = ${r3(perSec / ref)} x verify rate  (${ENTRIES} entries, ${ROUNDS} rounds, checkpoints every 1,000, registry checked; ${Math.round((ENTRIES * ROUNDS) / (wallMs / 1000))} /s by the wall clock)\n`,
  );
  process.stdout.write(
    `${pad('  each round beside the reference around it')}${ratios.map(r3).join(', ')} x; median ${r3(median)} x  (goal >= 0.85; references ${refs.map(Math.round).join(', ')} /s)\n`,
  );
  process.stdout.write(`${pad('  decodeFrame (strict CBOR) alone')}${rate(sample.length, decodeMs)}\n`);
  process.stdout.write(`${pad('  verifyFrameSignature alone')}${rate(sample.length, sigMs)}\n`);
  process.stdout.write(
    `${benchLine({
      bench: 'verify',
      date: new Date().toISOString(),
      node: process.version,
      entries: ENTRIES,
      rounds: ROUNDS,
      verifyRateCpu: Math.round(ref),
      entriesPerCpuSecond: Math.round(perSec),
      ratio: r3(median),
      ratioMin: r3(ratios[0] as number),
      ratioMax: r3(ratios.at(-1) as number),
      ratioOverall: r3(perSec / ref),
      entriesPerWallSecond: Math.round((ENTRIES * ROUNDS) / (wallMs / 1000)),
      decodeFramePerSecond: Math.round(sample.length / (decodeMs / 1000)),
      verifySignaturePerSecond: Math.round(sample.length / (sigMs / 1000)),
    })}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
