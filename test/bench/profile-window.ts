/**
 * Where a gateway's event loop spent one phase of a benchmark, from a V8 CPU profile
 * (`BENCH_HOST_PROF=DIR node dist/test/bench/run.js` writes one per host thread; the main
 * thread's file ends in `.0.001.cpuprofile`). README "Benchmarks" → "Where the CPU goes".
 *
 *   node dist/test/bench/profile-window.js timeline FILE [BIN_S]
 *     busy and garbage-collection share of each BIN_S (default 0.5) seconds from the
 *     profile's start: the load phases stand out, so their window can be chosen;
 *   node dist/test/bench/profile-window.js window FILE FROM_S TO_S [TOP]
 *     in that window: busy share, then the TOP (default 40) functions by self time and by
 *     inclusive time, as shares of the window;
 *   node dist/test/bench/profile-window.js callers FILE FROM_S TO_S FUNCTION
 *     the call paths (six frames up) through which FUNCTION spent that window's time;
 *   node dist/test/bench/profile-window.js streaks FILE FROM_S TO_S [MIN_MS]
 *     the event loop's busy streaks (no idle sample) of at least MIN_MS (default 20) in that
 *     window, longest first, each with what ran in it: a frame read during a streak waits
 *     for its end, so these are where a latency phase's p99 comes from.
 *
 * The analysis is pure (a parsed profile in, rows out: `test/unit/profile-window.test.ts`);
 * `main` only reads the file and prints.
 */
import { fileURLToPath } from 'node:url';
import { exitQuietlyOnEpipe } from '../../gateway/src/cli/inputs.js';
import { type CallFrame, callFrameName, readProfile } from './v8-profile.js';

/** The parts of a `.cpuprofile` (Chrome DevTools protocol `Profiler.Profile`) read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: CallFrame;
    children?: number[];
  }[];
  /** µs, the profiler's clock. */
  startTime: number;
  /** The node on top of the stack at each sample. */
  samples: number[];
  /** µs from the previous sample (the first: from `startTime`). */
  timeDeltas: number[];
}

export interface Share {
  name: string;
  /** Share of the window's sampled time, 0..1. */
  share: number;
}

type Node = CpuProfile['nodes'][number];

interface Sample {
  node: Node;
  /** Seconds from the profile's start. */
  at: number;
  /** µs this sample stands for: the gap to the next one. */
  weight: number;
}

function* samplesOf(p: CpuProfile): Generator<Sample> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const node = byId.get(p.samples[i] as number);
    if (node) yield { node, at: (t - p.startTime) / 1e6, weight: p.timeDeltas[i + 1] ?? 0 };
  }
}

const IDLE = '(idle)';
const GC = '(garbage collector)';

/** Busy (not idle) and garbage-collection shares of each `binS` seconds. */
export function timeline(p: CpuProfile, binS = 0.5): { from: number; busy: number; gc: number }[] {
  const bins = new Map<number, { all: number; busy: number; gc: number }>();
  for (const s of samplesOf(p)) {
    const from = Math.floor(s.at / binS) * binS;
    const b = bins.get(from) ?? { all: 0, busy: 0, gc: 0 };
    b.all += s.weight;
    if (s.node.callFrame.functionName !== IDLE) b.busy += s.weight;
    if (s.node.callFrame.functionName === GC) b.gc += s.weight;
    bins.set(from, b);
  }
  return [...bins]
    .sort((a, b) => a[0] - b[0])
    .map(([from, b]) => ({ from, busy: b.all ? b.busy / b.all : 0, gc: b.all ? b.gc / b.all : 0 }));
}

/** Each node's parent, by id. */
function parents(p: CpuProfile): Map<number, Node> {
  const up = new Map<number, Node>();
  for (const n of p.nodes) for (const c of n.children ?? []) up.set(c, n);
  return up;
}

/** Adds a sample's weight to every function on its stack, once each (a recursion counts once). */
function chargeStack(s: Sample, up: Map<number, Node>, inclusive: Map<string, number>): void {
  const seen = new Set<string>();
  for (let n: Node | undefined = s.node; n; n = up.get(n.id)) {
    const k = callFrameName(n.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + s.weight);
  }
}

/**
 * Self and inclusive time per function in [fromS, toS), as shares of the window (idle
 * included in the window, left out of the functions). A function on the stack twice (a
 * recursion) counts once per sample.
 */
export function windowShares(
  p: CpuProfile,
  fromS: number,
  toS: number,
): { ms: number; busy: number; self: Share[]; inclusive: Share[] } {
  const up = parents(p);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let all = 0;
  let busy = 0;
  for (const s of samplesOf(p)) {
    if (s.at < fromS || s.at >= toS) continue;
    all += s.weight;
    if (s.node.callFrame.functionName === IDLE) continue;
    busy += s.weight;
    const name = callFrameName(s.node.callFrame);
    self.set(name, (self.get(name) ?? 0) + s.weight);
    chargeStack(s, up, inclusive);
  }
  const rank = (m: Map<string, number>): Share[] =>
    [...m].map(([name, us]) => ({ name, share: all ? us / all : 0 })).sort((a, b) => b.share - a.share);
  return { ms: all / 1000, busy: all ? busy / all : 0, self: rank(self), inclusive: rank(inclusive) };
}

/** The call paths (`depth` frames from `fn` up) through which `fn` spent time in the window. */
export function callers(p: CpuProfile, fromS: number, toS: number, fn: string, depth = 6): Share[] {
  const up = parents(p);
  const paths = new Map<string, number>();
  let all = 0;
  for (const s of samplesOf(p)) {
    if (s.at < fromS || s.at >= toS) continue;
    all += s.weight;
    let n: Node | undefined = s.node;
    while (n && n.callFrame.functionName !== fn) n = up.get(n.id);
    const chain: string[] = [];
    for (; n && chain.length < depth; n = up.get(n.id)) chain.push(callFrameName(n.callFrame));
    const key = chain.join(' < ');
    if (key) paths.set(key, (paths.get(key) ?? 0) + s.weight);
  }
  return [...paths]
    .map(([name, us]) => ({ name, share: all ? us / all : 0 }))
    .sort((a, b) => b.share - a.share);
}

export interface Streak {
  /** Seconds from the profile's start. */
  from: number;
  ms: number;
  gcShare: number;
  /** Inclusive time per function within the streak, largest first. */
  inclusive: Share[];
}

/**
 * Maximal runs of samples with no idle one among them, in [fromS, toS), of at least `minMs`,
 * longest first. An idle sample is the event loop waiting in the OS for work.
 */
export function streaks(p: CpuProfile, fromS: number, toS: number, minMs = 20): Streak[] {
  const up = parents(p);
  const found: Streak[] = [];
  let run: Sample[] = [];
  const close = (): void => {
    const us = run.reduce((a, s) => a + s.weight, 0);
    if (run.length > 0 && us >= minMs * 1000) {
      const inclusive = new Map<string, number>();
      let gc = 0;
      for (const s of run) {
        if (s.node.callFrame.functionName === GC) gc += s.weight;
        chargeStack(s, up, inclusive);
      }
      found.push({
        from: run[0]?.at ?? 0,
        ms: us / 1000,
        gcShare: gc / us,
        inclusive: [...inclusive]
          .map(([name, w]) => ({ name, share: w / us }))
          .sort((a, b) => b.share - a.share),
      });
    }
    run = [];
  };
  for (const s of samplesOf(p)) {
    if (s.at < fromS || s.at >= toS) continue;
    if (s.node.callFrame.functionName === IDLE) close();
    else run.push(s);
  }
  close();
  return found.sort((a, b) => b.ms - a.ms);
}

const pct = (x: number): string => `${(x * 100).toFixed(1).padStart(5)} %`;

function main(argv: readonly string[]): void {
  exitQuietlyOnEpipe(); // read through `head`: a closed pipe ends the listing quietly
  const [command, file, ...rest] = argv;
  if (!command || !file || !['timeline', 'window', 'callers', 'streaks'].includes(command)) {
    process.stderr.write(
      'usage: profile-window timeline FILE [BIN_S] | window FILE FROM_S TO_S [TOP] | callers FILE FROM_S TO_S FUNCTION | streaks FILE FROM_S TO_S [MIN_MS]\n',
    );
    process.exitCode = 2;
    return;
  }
  const p = readProfile<CpuProfile>('profile-window', file);
  if (!p) return;
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  if (command === 'timeline') {
    for (const b of timeline(p, Number(rest[0] ?? 0.5)))
      out(`${b.from.toFixed(1).padStart(7)} s  busy ${pct(b.busy)}  gc ${pct(b.gc)}`);
    return;
  }
  const [from, to] = [Number(rest[0]), Number(rest[1])];
  if (!(to > from)) {
    process.stderr.write('profile-window: FROM_S and TO_S must be numbers, FROM_S < TO_S\n');
    process.exitCode = 2;
    return;
  }
  if (command === 'callers') {
    for (const c of callers(p, from, to, rest[2] ?? '').slice(0, 10)) out(`${pct(c.share)}  ${c.name}`);
    return;
  }
  if (command === 'streaks') {
    const all = streaks(p, from, to, Number(rest[2] ?? 20));
    const ms = all.reduce((a, s) => a + s.ms, 0);
    out(`${all.length} busy streaks, ${ms.toFixed(0)} ms in all`);
    for (const s of all.slice(0, 30)) {
      // The four frames every sample of a streak shares say nothing: (root), the loop, …
      const what = s.inclusive.filter((f) => f.share < 0.999).slice(0, 6);
      out(`${s.from.toFixed(3).padStart(8)} s  ${s.ms.toFixed(1).padStart(6)} ms  gc ${pct(s.gcShare)}`);
      for (const f of what) out(`      ${pct(f.share)}  ${f.name}`);
    }
    return;
  }
  const top = Number(rest[2] ?? 40);
  const w = windowShares(p, from, to);
  out(`window ${w.ms.toFixed(0)} ms, busy ${pct(w.busy)}`);
  out('self time');
  for (const s of w.self.slice(0, top)) out(`${pct(s.share)}  ${s.name}`);
  out('inclusive time');
  for (const s of w.inclusive.slice(0, top * 2)) out(`${pct(s.share)}  ${s.name}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
