/**
 * `npm run bench:ingest`: the ingest figures of issue 14, each beside a reference measured
 * in the same run, ending with one `BENCH {json}` line (names in README "Benchmarks").
 *
 * Processes: this orchestrator (the references, then it waits); a host (test/bench/host.ts:
 * the gateway, or the pass-through drain); drivers (test/bench/driver.ts: the devices,
 * lean MQTT sessions with pre-signed frames); Debian Mosquitto where a phase needs it.
 * 1. reference: node:crypto P-256 verify rate on one core (before and after the run; mean);
 * 2. embedded broker, after a warm-up (BENCH_WARM_FRAMES frames from devices of its own, not
 *    counted, its figures printed: the JIT, the verify threads and the caches are then as a
 *    gateway running for a while has them): durable verified capacity (closed loop, done on
 *    the PUBACK), the same with a 1 s ECG chunk per frame, publish → PUBACK p50/p99 at 5,000 and 1,000 frames/s;
 *    the MQTT edge's PUBLISH rate limit is set explicitly (BENCH_EDGE_RATE, default 100,000/s
 *    per connection) so that 50 devices are not throttled by the 200/s default;
 * 3. external Mosquitto, gateway in external mode (shared subscription, app acks), after the
 *    same warm-up: capacity (done on the app ack), ratio to the embedded figure; publish →
 *    app ack at 5,000/s;
 * 4. reference: Mosquitto QoS 1 pass-through (no verification, no durability): the same
 *    driver and frames, a fresh Mosquitto, 8 lean sessions on the shared subscription
 *    draining them; the gateway's ratios to it;
 * 5. 10,000 devices connected to one gateway (embedded, default limits), each publishing
 *    every 10 s: gateway RSS idle and at peak, frames acked; once the load is steady (a period
 *    after the last connection, and the phase's second half at least) its RSS at the start
 *    and end and its slope (MB an hour: with BENCH_CONN_SECONDS=900, whether memory still
 *    grows over a quarter-hour of a 10,000-device ward; the default 30 s is too short to tell).
 * Knobs: BENCH_DEVICES (50), BENCH_WINDOW (16), BENCH_FRAMES (30000), BENCH_WARM_FRAMES (10000;
 * 0: no warm-up), BENCH_LAT_SECONDS (10),
 * BENCH_CONN_DEVICES (10000), BENCH_CONN_SECONDS (30), BENCH_CONN_PROCS (2),
 * BENCH_PHASES (all of: embedded,external,passthrough,connections), BENCH_VERIFY_THREADS (the
 * gateway's `verifyThreads`; unset: its default), BENCH_HEAP_GROWING_PERCENT (the gateway's
 * `memory.heapGrowingPercent`; unset: its default), BENCH_MALLOC_ARENA_MAX (the gateway's glibc
 * arenas: 2 as its image sets, `default` for glibc's own), BENCH_HOST_PROF=DIR (a CPU profile of each host).
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';
import type { DriverJob, DriverResult } from './driver.js';
import type { GatewayTuning, HostStats } from './host.js';
import { type MemorySample, memoryTrend } from './memory-trend.js';
import {
  drive,
  HOST_HEAP_GROWING_PERCENT,
  HOST_MALLOC_ARENA_MAX,
  HOST_NODE_ARGS,
  type Host,
  processCpuMicros,
  startHost,
} from './procs.js';
import { aroundReference, benchLine, p256VerifyRate } from './reference.js';
import { prepareBenchDataDir } from './setup.js';

const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const DEVICES = env('BENCH_DEVICES', 50);
const WINDOW = env('BENCH_WINDOW', 16);
const FRAMES = env('BENCH_FRAMES', 30_000);
const WARM_FRAMES = env('BENCH_WARM_FRAMES', 10_000);
const LAT_SECONDS = env('BENCH_LAT_SECONDS', 10);
const EDGE_RATE = env('BENCH_EDGE_RATE', 100_000);
const CONN_DEVICES = env('BENCH_CONN_DEVICES', 10_000);
const CONN_SECONDS = env('BENCH_CONN_SECONDS', 30);
const CONN_PERIOD_S = 10;
/** The shortest steady stretch whose memory trend is reported (shorter: the collector's saw-tooth). */
const STEADY_MIN_MS = 300_000;
const CONN_PROCS = env('BENCH_CONN_PROCS', 2);
const PASS_LANES = 8;
/** The gateway's signature-check threads (`verifyThreads`); unset: the gateway's default. */
const VERIFY_THREADS =
  process.env.BENCH_VERIFY_THREADS === undefined ? undefined : Number(process.env.BENCH_VERIFY_THREADS);
/** What every gateway host of the run is given: verify threads and heap growth, when set. */
const tuning: GatewayTuning = {
  ...(VERIFY_THREADS === undefined ? {} : { verifyThreads: VERIFY_THREADS }),
  ...(HOST_HEAP_GROWING_PERCENT === undefined ? {} : { heapGrowingPercent: HOST_HEAP_GROWING_PERCENT }),
};
const PHASES = new Set((process.env.BENCH_PHASES ?? 'embedded,external,passthrough,connections').split(','));

const ids = (set: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${set}-${String(i + 1).padStart(5, '0')}`);
const mb = (b: number) => b / 1048576;
const r0 = (x: number) => Math.round(x);
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const lines: string[] = [];
const row = (k: string, v: string) => lines.push(`  ${k.padEnd(52)} ${v}`);
const head = (s: string) => lines.push(s);
/** Progress on stderr; the figures go to stdout at the end. */
const progress = (s: string) => process.stderr.write(`${s}\n`);
const ms = (l: DriverResult['latencyMs']) => `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)} ms`;

async function main(): Promise<void> {
  const tmp = makeTempDir('vt-bench-');
  const figures: Record<string, unknown> = {
    bench: 'ingest',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    verifyThreads: VERIFY_THREADS ?? 'default',
    mallocArenaMax: HOST_MALLOC_ARENA_MAX,
    heapGrowingPercent: HOST_HEAP_GROWING_PERCENT ?? 'default',
    hostNodeArgs: HOST_NODE_ARGS,
  };
  const brokers: RunningMosquitto[] = [];
  try {
    const verifyBefore = p256VerifyRate();
    const t0 = Date.now();
    const emb = join(tmp.dir, 'embedded');
    const ext = join(tmp.dir, 'external');
    const conn = join(tmp.dir, 'connections');
    const sets = {
      warm: WARM_FRAMES > 0 ? ids('warm', DEVICES) : [],
      xwarm: WARM_FRAMES > 0 ? ids('xwarm', DEVICES) : [],
      cap: ids('cap', DEVICES),
      ecg: ids('ecg', DEVICES),
      l5k: ids('l5k', DEVICES),
      l1k: ids('l1k', DEVICES),
      xcap: ids('xcap', DEVICES),
      xlat: ids('xlat', DEVICES),
      conn: ids('conn', CONN_DEVICES),
    };
    const enrolled = {
      emb: [...sets.warm, ...sets.cap, ...sets.ecg, ...sets.l5k, ...sets.l1k],
      ext: [...sets.xwarm, ...sets.xcap, ...sets.xlat],
      conn: PHASES.has('connections') ? sets.conn : [],
    };
    const embKeys = await prepareBenchDataDir(emb, enrolled.emb);
    const extKeys = await prepareBenchDataDir(ext, enrolled.ext);
    const connKeys = enrolled.conn.length > 0 ? await prepareBenchDataDir(conn, enrolled.conn) : '';
    const count = enrolled.emb.length + enrolled.ext.length + enrolled.conn.length;
    progress(`set-up (enrolment of ${count} devices): ${Date.now() - t0} ms`);
    const verifyAfterSetup = p256VerifyRate();
    const verify0 = (verifyBefore + verifyAfterSetup) / 2;

    let embedded: Embedded | undefined;
    let embeddedFps = Number.NaN;
    let externalFps = Number.NaN;
    /** The embedded capacity ÷ the reference measured around it. */
    let embeddedToVerifyAround = Number.NaN;
    const closed = { mode: 'closed' as const, window: WINDOW, frames: FRAMES };

    if (PHASES.has('embedded')) {
      progress('embedded broker: capacity, ECG capacity, latency at 5,000 and 1,000 frames/s');
      const gw = await startHost({
        kind: 'embedded',
        dataDir: emb,
        ratePerSecond: EDGE_RATE,
        rateBurst: EDGE_RATE,
        ...tuning,
      });
      const base = { url: gw.url, keysFile: embKeys };
      const capacity = (devices: string[], ecg: boolean) => measure(gw, { ...base, ...closed, devices, ecg });
      // A fixed rate: latency, and what a frame costs the gateway at that load (the batches
      // are smaller than at capacity, so each commit and thread message carries fewer frames).
      const rated = (devices: string[], rate: number) =>
        measure(gw, { ...base, mode: 'open', devices, rate, seconds: LAT_SECONDS });
      const warm = await warmUp(gw, { ...base, ...closed, frames: WARM_FRAMES, devices: sets.warm });
      // The reference again right before and after the capacity phase: the host's speed drifts.
      const around = await aroundReference(() => capacity(sets.cap, false));
      const cap = around.value;
      const ecg = await capacity(sets.ecg, true);
      const at5k = await rated(sets.l5k, 5000);
      const at1k = await rated(sets.l1k, 1000);
      const [l5k, l1k, g5k] = [at5k.r, at1k.r, at5k.answerMs];
      await gw.stop();
      embeddedFps = cap.fps;
      embeddedToVerifyAround = cap.fps / around.rate;
      Object.assign(figures, {
        edgeRatePerSecond: EDGE_RATE,
        ...(warm
          ? { embeddedWarmUp: r0(warm.fps), embeddedWarmUpCpuUsPerFrame: r1(warm.cpuUsPerFrame) }
          : {}),
        embeddedCapacity: r0(cap.fps),
        verifyRateAroundCapacity: r0(around.rate),
        verifyRateAroundCapacityBefore: r0(around.before),
        verifyRateAroundCapacityAfter: r0(around.after),
        embeddedCapacityToVerifyAround: r3(cap.fps / around.rate),
        embeddedFramesPerCommit: r2(cap.perCommit),
        embeddedPooledShare: r3(cap.pooledShare),
        embeddedCapacityP50Ms: r2(cap.r.latencyMs.p50),
        embeddedCapacityP99Ms: r2(cap.r.latencyMs.p99),
        embeddedAcked: cap.r.acked,
        embeddedMade: cap.r.made,
        embeddedCpuUsPerFrame: r1(cap.cpuUsPerFrame),
        embeddedDriverCpuUsPerFrame: r1(cap.driverCpuUsPerFrame),
        embeddedMachineBound: r0(machineBound(cap)),
        embeddedEcgCapacity: r0(ecg.fps),
        embeddedEcgPooledShare: r3(ecg.pooledShare),
        embeddedEcgCpuUsPerFrame: r1(ecg.cpuUsPerFrame),
        p50At5000Ms: r2(l5k.latencyMs.p50),
        p99At5000Ms: r2(l5k.latencyMs.p99),
        sentRateAt5000: r0(l5k.sentRate ?? 0),
        gatewayAnswerP50At5000Ms: r2(g5k?.p50 ?? Number.NaN),
        gatewayAnswerP99At5000Ms: r2(g5k?.p99 ?? Number.NaN),
        cpuUsPerFrameAt5000: r1(at5k.cpuUsPerFrame),
        framesPerCommitAt5000: r2(at5k.perCommit),
        ackedAt5000: l5k.acked,
        p50At5000FirstSecondMs: r2(l5k.firstSecondLatencyMs?.p50 ?? Number.NaN),
        p99At5000FirstSecondMs: r2(l5k.firstSecondLatencyMs?.p99 ?? Number.NaN),
        p50At5000AfterFirstSecondMs: r2(l5k.afterFirstSecondLatencyMs?.p50 ?? Number.NaN),
        p99At5000AfterFirstSecondMs: r2(l5k.afterFirstSecondLatencyMs?.p99 ?? Number.NaN),
        pooledShareAt5000: r3(at5k.pooledShare),
        madeAt5000: l5k.made,
        p50At1000Ms: r2(l1k.latencyMs.p50),
        p99At1000Ms: r2(l1k.latencyMs.p99),
        sentRateAt1000: r0(l1k.sentRate ?? 0),
        cpuUsPerFrameAt1000: r1(at1k.cpuUsPerFrame),
        framesPerCommitAt1000: r2(at1k.perCommit),
        pooledShareAt1000: r3(at1k.pooledShare),
      });
      embedded = { cap, ecg, l5k, l1k };
    }

    if (PHASES.has('external')) {
      progress('external Mosquitto: capacity, latency at 5,000 frames/s');
      const broker = await startMosquitto(tmp.dir);
      brokers.push(broker);
      const gw = await startHost({ kind: 'external', dataDir: ext, url: broker.url, ...tuning });
      const base = { url: broker.url, keysFile: extKeys, appAcks: true };
      const xwarm = await warmUp(gw, { ...base, ...closed, frames: WARM_FRAMES, devices: sets.xwarm });
      const xaround = await aroundReference(() =>
        measure(gw, { ...base, ...closed, devices: sets.xcap }, broker.process.pid),
      );
      const xcap = xaround.value;
      const cap = xcap.r;
      const lat = await drive({
        ...base,
        mode: 'open',
        devices: sets.xlat,
        rate: 5000,
        seconds: LAT_SECONDS,
      });
      await gw.stop();
      await broker.stop();
      externalFps = xcap.fps;
      Object.assign(figures, {
        ...(xwarm
          ? { externalWarmUp: r0(xwarm.fps), externalWarmUpCpuUsPerFrame: r1(xwarm.cpuUsPerFrame) }
          : {}),
        externalCapacity: r0(externalFps),
        verifyRateAroundExternal: r0(xaround.rate),
        externalToVerifyAround: r3(externalFps / xaround.rate),
        ...(Number.isFinite(embeddedToVerifyAround)
          ? { externalToEmbeddedAround: r3(externalFps / xaround.rate / embeddedToVerifyAround) }
          : {}),
        externalCpuUsPerFrame: r1(xcap.cpuUsPerFrame),
        externalDriverCpuUsPerFrame: r1(xcap.driverCpuUsPerFrame),
        externalBrokerCpuUsPerFrame: r1(xcap.brokerCpuUsPerFrame),
        externalMachineBound: r0(machineBound(xcap)),
        externalFramesPerCommit: r2(xcap.perCommit),
        externalCapacityP50Ms: r2(cap.latencyMs.p50),
        externalCapacityP99Ms: r2(cap.latencyMs.p99),
        externalAcked: cap.acked,
        externalMade: cap.made,
        externalAppAckP50At5000Ms: r2(lat.latencyMs.p50),
        externalAppAckP99At5000Ms: r2(lat.latencyMs.p99),
        externalSentRateAt5000: r0(lat.sentRate ?? 0),
      });
    }

    if (PHASES.has('passthrough')) {
      progress('Mosquitto pass-through');
      const broker = await startMosquitto(join(tmp.dir, 'external'));
      brokers.push(broker);
      const drain = await startHost({ kind: 'drain', url: broker.url, lanes: PASS_LANES });
      const r = await drive({ url: broker.url, keysFile: extKeys, ...closed, devices: sets.xcap });
      const started = Date.now();
      let s: HostStats = await drain.stats();
      while (s.frames < r.made && Date.now() - started < 30_000) {
        await new Promise((res) => setTimeout(res, 10));
        s = await drain.stats();
      }
      const drainedSeconds = r.seconds + (Date.now() - started) / 1000;
      await drain.stop();
      await broker.stop();
      const fps = s.frames / drainedSeconds;
      Object.assign(figures, {
        passThrough: r0(fps),
        passThroughDrained: s.frames,
        passThroughMade: r.made,
        embeddedRatioToPassThrough: r3(embeddedFps / fps),
        externalRatioToPassThrough: r3(externalFps / fps),
      });
    }

    if (PHASES.has('connections')) {
      progress(`${CONN_DEVICES} connected devices`);
      const gw = await startHost({
        kind: 'embedded',
        dataDir: conn,
        ratePerSecond: 200, // the defaults (DEFAULT_MQTT_LIMITS): one frame every 10 s is far below
        rateBurst: 400,
        ...tuning,
      });
      await new Promise((res) => setTimeout(res, 1000));
      const idle = await gw.stats();
      let peak = idle;
      let connectedPeak = 0;
      let threadsPeak = 0;
      let asking = false;
      const rss: MemorySample[] = [];
      const heap: MemorySample[] = [];
      let allConnectedAt = Number.POSITIVE_INFINITY;
      const sampler = setInterval(() => {
        if (asking) return; // a busy gateway answers late: one question at a time
        asking = true;
        void gw.stats().then((s) => {
          asking = false;
          if (s.rssBytes > peak.rssBytes) peak = s;
          const t = performance.now();
          rss.push({ t, bytes: s.rssBytes });
          heap.push({ t, bytes: s.heapUsedBytes });
          if (s.connections >= CONN_DEVICES) allConnectedAt = Math.min(allConnectedAt, performance.now());
          connectedPeak = Math.max(connectedPeak, s.connections);
          threadsPeak = Math.max(threadsPeak, s.verifyThreadsRunning);
        });
      }, 500);
      const per = Math.ceil(CONN_DEVICES / CONN_PROCS);
      const phaseFrom = performance.now();
      const results = await Promise.all(
        Array.from({ length: CONN_PROCS }, (_, p) =>
          drive(
            {
              mode: 'connections',
              url: gw.url,
              keysFile: connKeys,
              devices: sets.conn.slice(p * per, (p + 1) * per),
              periodS: CONN_PERIOD_S,
              seconds: CONN_SECONDS,
              connectConcurrency: 100,
              drainTimeoutS: 180,
            },
            (e) => progress(`  driver ${p}: ${JSON.stringify(e)}`),
          ),
        ),
      );
      clearInterval(sampler);
      // From a period after the last connection (every device sending) or the phase's second
      // half, whichever is later: memory once the load is steady (a long run: a shift's frames).
      const steadyFrom = Math.max(
        allConnectedAt + CONN_PERIOD_S * 1000,
        phaseFrom + (CONN_SECONDS * 1000) / 2,
      );
      const trend = memoryTrend(rss, steadyFrom, STEADY_MIN_MS);
      const heapTrend = memoryTrend(heap, steadyFrom, STEADY_MIN_MS);
      // The highest RSS of each minute since the devices began (how it climbs, where it levels).
      const byMinute: number[] = [];
      for (const x of rss) {
        const m = Math.floor((x.t - phaseFrom) / 60_000);
        byMinute[m] = Math.max(byMinute[m] ?? 0, r0(mb(x.bytes)));
      }
      const end = await gw.stats();
      if (end.rssBytes > peak.rssBytes) peak = end;
      const stopped = await gw.stop(60_000);
      const sum = (f: (r: DriverResult) => number) => results.reduce((a, r) => a + f(r), 0);
      const worst = (f: (r: DriverResult) => number) => Math.max(...results.map(f));
      Object.assign(figures, {
        connDevices: CONN_DEVICES,
        connConnected: sum((r) => r.connected ?? 0),
        connPeakBrokerConnections: connectedPeak,
        connConnectSeconds: r2(worst((r) => r.connectSeconds ?? 0)),
        connMade: sum((r) => r.made),
        connAcked: sum((r) => r.acked),
        connStored: end.frames,
        connStoppedCleanly: stopped,
        connRssIdleMB: r0(mb(idle.rssBytes)),
        connRssPeakMB: r0(mb(peak.rssBytes)),
        connHeapPeakMB: r0(mb(peak.heapUsedBytes)),
        connHeapTotalAtPeakMB: r0(mb(peak.heapTotalBytes)),
        connExternalAtPeakMB: r0(mb(peak.externalBytes)),
        connRssSteadySeconds: trend ? r0((performance.now() - steadyFrom) / 1000) : 0,
        connRssSteadyStartMB: trend ? r0(trend.startMB) : null,
        connRssSteadyEndMB: trend ? r0(trend.endMB) : null,
        connRssSlopeMBPerHour: trend ? r1(trend.slopeMBPerHour) : null,
        connHeapSteadyStartMB: heapTrend ? r0(heapTrend.startMB) : null,
        connHeapSteadyEndMB: heapTrend ? r0(heapTrend.endMB) : null,
        connHeapSlopeMBPerHour: heapTrend ? r1(heapTrend.slopeMBPerHour) : null,
        connRssByMinuteMB: Array.from(byMinute, (x) => x ?? null),
        connVerifyThreadsPeak: Math.max(threadsPeak, end.verifyThreadsRunning),
        connVerifyLoadStarts: end.verifyLoadStarts,
        connP50Ms: r2(worst((r) => r.latencyMs.p50)),
        connP99Ms: r2(worst((r) => r.latencyMs.p99)),
        connFirstFrameP50Ms: r2(worst((r) => r.firstFrameLatencyMs?.p50 ?? Number.NaN)),
        connFirstFrameP99Ms: r2(worst((r) => r.firstFrameLatencyMs?.p99 ?? Number.NaN)),
      });
    }

    const verifyAfter = p256VerifyRate();
    const verify = (verify0 + verifyAfter) / 2;
    figures.verifyRate = r0(verify);
    figures.verifyRateBefore = r0(verify0);
    figures.verifyRateAfter = r0(verifyAfter);
    report(figures, verify, embedded, externalFps);
  } finally {
    for (const b of brokers) await b.stop().catch(() => {});
    tmp.cleanup();
  }
}

interface Measured {
  r: DriverResult;
  /** Frames stored per second of the driver's run. */
  fps: number;
  perCommit: number;
  pooledShare: number;
  cpuUsPerFrame: number;
  /** The devices' driver's CPU per frame stored, µs (from its `sending` on). */
  driverCpuUsPerFrame: number;
  /** The external broker's CPU per frame stored, µs (the same span; NaN without one). */
  brokerCpuUsPerFrame: number;
  answerMs: HostStats['answerMs'];
}

/**
 * Drives `job` against the gateway `gw` and reads what it did meanwhile: frames stored (and
 * per second of the driver's run), frames per group commit, the share of signature checks
 * on the verify threads, its CPU per frame from the driver's `sending` on, and its own
 * socket-read → answer times; beside it, the CPU per frame of the driver and of the broker
 * `brokerPid` (external mode): what else the shared cores carried.
 */
async function measure(gw: Host, job: DriverJob, brokerPid?: number): Promise<Measured> {
  const s0 = await gw.stats();
  const cpu = cpuFrom(gw); // its stats call at `sending` also starts the gateway's answer times
  let broker0 = Number.NaN;
  const r = await drive(job, (e) => {
    if (e.event === 'sending' && Number.isNaN(broker0)) broker0 = processCpuMicros(brokerPid);
    cpu.onEvent(e);
  });
  const broker = processCpuMicros(brokerPid) - broker0;
  const s1 = await gw.stats();
  const stored = s1.frames - s0.frames;
  const pooled = s1.verifyPooled - s0.verifyPooled;
  const checked = pooled + s1.verifyInline - s0.verifyInline;
  return {
    r,
    fps: stored / r.seconds,
    perCommit: stored / Math.max(1, s1.batches - s0.batches),
    pooledShare: pooled / Math.max(1, checked),
    cpuUsPerFrame: await cpu.perFrame(s1, stored),
    driverCpuUsPerFrame: (r.cpuUs ?? Number.NaN) / Math.max(1, stored),
    brokerCpuUsPerFrame: broker / Math.max(1, stored),
    answerMs: s1.answerMs,
  };
}

/**
 * The warm-up before a gateway's capacity phase (BENCH_WARM_FRAMES frames, closed loop, from
 * devices of its own): what it measured, or undefined when there is none. A gateway just
 * started runs its first seconds unoptimised by the JIT, with its verify threads still to be
 * started (`verifyThreads` on load) and cold caches; the capacity is the gateway's steady
 * state, as benchmarks warm up before they measure.
 */
async function warmUp(gw: Host, job: DriverJob): Promise<Measured | undefined> {
  if (WARM_FRAMES <= 0) return undefined;
  const w = await measure(gw, job);
  if (w.r.acked !== w.r.made) throw new Error(`warm-up: ${w.r.acked} of ${w.r.made} frames acked`);
  return w;
}

/**
 * The gateway's CPU (its whole process) from the driver's `sending` event (connected, frames
 * signed: the gateway idle before it) to `end`, per frame stored, µs; NaN when no event came.
 */
function cpuFrom(gw: Host): {
  onEvent: (e: Record<string, unknown>) => void;
  perFrame: (end: HostStats, frames: number) => Promise<number>;
} {
  let start: Promise<HostStats> | undefined;
  return {
    onEvent: (e) => {
      if (e.event === 'sending' && start === undefined) start = gw.stats();
    },
    perFrame: async (end, frames) =>
      start === undefined ? Number.NaN : (end.cpuMicros - (await start).cpuMicros) / Math.max(1, frames),
  };
}

/**
 * The most frames a second this machine's cores could carry at a phase's measured costs:
 * the gateway's CPU per frame, the driver's and (external mode) the broker's, all on the
 * same cores, with no idle moment anywhere.
 */
function machineBound(m: Measured): number {
  const broker = Number.isNaN(m.brokerCpuUsPerFrame) ? 0 : m.brokerCpuUsPerFrame;
  return (cpus().length * 1e6) / (m.cpuUsPerFrame + m.driverCpuUsPerFrame + broker);
}

/** The warm-up's row, when there was one: the same gateway just started, not counted. */
function warmUpRow(f: Record<string, unknown>, kind: 'embedded' | 'external', verify: number): void {
  const fps = f[`${kind}WarmUp`] as number | undefined;
  if (fps === undefined) return;
  row(
    '  its warm-up before (just started; not counted)',
    `${fps} /s = ${r3(fps / verify)} x verify rate, ${f[`${kind}WarmUpCpuUsPerFrame`]} µs CPU a frame  (${WARM_FRAMES} frames from ${DEVICES} devices of its own)`,
  );
}

/** A frame's CPU in the gateway beside the reference (one P-256 verify on one core), and what this host's cores could carry at that cost. */
function cpuPerFrame(us: number, verify: number, cores: number): string {
  const ref = 1e6 / verify;
  return `${us} µs = ${r2(us / ref)} x one P-256 verify (${r1(ref)} µs); ${cores} cores / this = ${r0((cores * 1e6) / us)} frames/s at most`;
}

interface Embedded {
  cap: { r: DriverResult; fps: number };
  ecg: { fps: number };
  l5k: DriverResult;
  l1k: DriverResult;
}

function report(
  f: Record<string, unknown>,
  verify: number,
  e: Embedded | undefined,
  externalFps: number,
): void {
  const n = (k: string) => f[k] as number;
  const embeddedFps = e?.cap.fps ?? Number.NaN;
  head(
    `\nVitalTrail ingest benchmark (${f.cpus} cores, Node ${f.node}; gateway verifyThreads: ${f.verifyThreads}, heapGrowingPercent: ${f.heapGrowingPercent}, MALLOC_ARENA_MAX: ${f.mallocArenaMax}, node ${f.hostNodeArgs || '(no options)'})`,
  );
  row(
    'node:crypto P-256 verify (reference, 1 core)',
    `${n('verifyRate')} /s  (before ${n('verifyRateBefore')}, after ${n('verifyRateAfter')})`,
  );
  if (e) {
    head(
      `embedded broker; MQTT edge PUBLISH rate limit set to ${EDGE_RATE}/s per connection here (default 200/s)`,
    );
    row(
      'durable verified capacity (done on PUBACK)',
      `${n('embeddedCapacity')} /s = ${r3(embeddedFps / verify)} x verify rate  (${e.cap.r.made} frames, ${DEVICES} devices x ${WINDOW} in flight, ${n('embeddedFramesPerCommit')} frames/commit; ${r0(100 * n('embeddedPooledShare'))} % checked on verify threads)`,
    );
    row(
      '  beside the reference measured around it',
      `${n('verifyRateAroundCapacity')} /s (right before ${n('verifyRateAroundCapacityBefore')}, right after ${n('verifyRateAroundCapacityAfter')}): capacity = ${n('embeddedCapacityToVerifyAround')} x verify rate`,
    );
    warmUpRow(f, 'embedded', verify);
    row('  publish -> PUBACK p50 / p99 at capacity', ms(e.cap.r.latencyMs));
    row(
      '  gateway CPU per frame (all its threads)',
      cpuPerFrame(n('embeddedCpuUsPerFrame'), verify, n('cpus')),
    );
    row(
      "    the devices' driver beside it",
      `${n('embeddedDriverCpuUsPerFrame')} µs a frame; ${n('cpus')} cores / (gateway + driver) = ${n('embeddedMachineBound')} frames/s = ${r3(n('embeddedMachineBound') / verify)} x verify rate at most`,
    );
    row(
      '  with a 1 s ECG chunk per frame (250 Hz)',
      `${n('embeddedEcgCapacity')} /s = ${r3(e.ecg.fps / verify)} x verify rate  (${r0(100 * n('embeddedEcgPooledShare'))} % on verify threads)`,
    );
    row('    gateway CPU per frame, ECG', cpuPerFrame(n('embeddedEcgCpuUsPerFrame'), verify, n('cpus')));
    row(
      'publish -> PUBACK p50 / p99 at 5,000 frames/s',
      `${ms(e.l5k.latencyMs)}  (sent ${n('sentRateAt5000')}/s, ${DEVICES} devices; acked ${e.l5k.acked} of ${e.l5k.made}; goal p99 <= 50 ms)`,
    );
    row(
      '  frames sent in its first second / after it',
      `${n('p50At5000FirstSecondMs')} / ${n('p99At5000FirstSecondMs')} ms; ${n('p50At5000AfterFirstSecondMs')} / ${n('p99At5000AfterFirstSecondMs')} ms  (the devices just connected, the load up from nothing at once; then the steady rate)`,
    );
    row(
      '  in the gateway: socket read -> answer p50 / p99',
      `${n('gatewayAnswerP50At5000Ms')} / ${n('gatewayAnswerP99At5000Ms')} ms  (the rest: the PUBACK's way back, the driver and the OS on the same cores)`,
    );
    row(
      '  gateway CPU per frame at 5,000 frames/s',
      `${cpuPerFrame(n('cpuUsPerFrameAt5000'), verify, n('cpus'))}  (${n('framesPerCommitAt5000')} frames/commit; ${r0(100 * n('pooledShareAt5000'))} % checked on verify threads)`,
    );
    row(
      'publish -> PUBACK p50 / p99 at 1,000 frames/s',
      `${ms(e.l1k.latencyMs)}  (sent ${n('sentRateAt1000')}/s; acked ${e.l1k.acked} of ${e.l1k.made}; goal p50 <= 10 ms)`,
    );
    row(
      '  gateway CPU per frame at 1,000 frames/s',
      `${cpuPerFrame(n('cpuUsPerFrameAt1000'), verify, n('cpus'))}  (${n('framesPerCommitAt1000')} frames/commit; ${r0(100 * n('pooledShareAt1000'))} % checked on verify threads)`,
    );
  }
  if (f.externalCapacity !== undefined) {
    head('external Debian Mosquitto, gateway in external mode (shared subscription, 8 lanes, app acks)');
    row(
      'durable verified capacity (done on the app ack)',
      `${n('externalCapacity')} /s = ${Number.isFinite(embeddedFps) ? `${r3(externalFps / embeddedFps)} x embedded` : 'no embedded phase this run, so no ratio to it'} (goal >= 0.8); = ${r3(externalFps / verify)} x verify rate  (${n('externalFramesPerCommit')} frames/commit; acked ${n('externalAcked')} of ${n('externalMade')})`,
    );
    row(
      '  beside the reference measured around it',
      `${n('verifyRateAroundExternal')} /s: capacity = ${n('externalToVerifyAround')} x verify rate${f.externalToEmbeddedAround === undefined ? '' : `; each capacity against its own: ${n('externalToEmbeddedAround')} x embedded`}`,
    );
    warmUpRow(f, 'external', verify);
    row(
      '  gateway CPU per frame (all its threads)',
      cpuPerFrame(n('externalCpuUsPerFrame'), verify, n('cpus')),
    );
    row(
      '    the driver and Mosquitto beside it',
      `${n('externalDriverCpuUsPerFrame')} + ${n('externalBrokerCpuUsPerFrame')} µs a frame; ${n('cpus')} cores / (gateway + driver + Mosquitto) = ${n('externalMachineBound')} frames/s at most${f.embeddedMachineBound === undefined ? '' : ` = ${r3(n('externalMachineBound') / n('embeddedMachineBound'))} x the embedded bound`}`,
    );
    row(
      '  publish -> app ack p50 / p99 at capacity',
      `${n('externalCapacityP50Ms')} / ${n('externalCapacityP99Ms')} ms`,
    );
    row(
      'publish -> app ack p50 / p99 at 5,000 frames/s',
      `${n('externalAppAckP50At5000Ms')} / ${n('externalAppAckP99At5000Ms')} ms  (sent ${n('externalSentRateAt5000')}/s)`,
    );
  }
  if (f.passThrough !== undefined) {
    head('reference: Mosquitto QoS 1 pass-through (no verification, no durability; same driver and frames)');
    row(
      'frames through (published, PUBACKed, drained)',
      `${n('passThrough')} /s  (${n('passThroughDrained')} of ${n('passThroughMade')} drained by ${PASS_LANES} sessions)`,
    );
    row(
      '  gateway / pass-through',
      `embedded ${n('embeddedRatioToPassThrough')} x, external ${n('externalRatioToPassThrough')} x`,
    );
  }
  if (f.connDevices !== undefined) {
    head(
      `${n('connDevices')} devices on one gateway (embedded, default limits), one frame each every ${CONN_PERIOD_S} s`,
    );
    row(
      'connected / frames acked',
      `${n('connConnected')} (broker saw ${n('connPeakBrokerConnections')}) in ${n('connConnectSeconds')} s / ${n('connAcked')} of ${n('connMade')} (stored ${n('connStored')})`,
    );
    row(
      'gateway RSS: idle -> peak (goal <= 400 MB)',
      `${n('connRssIdleMB')} MB -> ${n('connRssPeakMB')} MB (${r0(((n('connRssPeakMB') - n('connRssIdleMB')) * 1024) / n('connDevices'))} KB per device; heap ${n('connHeapPeakMB')} MB used of ${n('connHeapTotalAtPeakMB')} MB committed, external ${n('connExternalAtPeakMB')} MB; verify threads: at most ${n('connVerifyThreadsPeak')} running, started ${n('connVerifyLoadStarts')} times)`,
    );
    row(
      "publish -> PUBACK p50 / p99, a device's first frame",
      `${n('connFirstFrameP50Ms')} / ${n('connFirstFrameP99Ms')} ms  (its data key is made when it connects: io/data-keys/ahead)`,
    );
    row('publish -> PUBACK p50 / p99, the frames after it', `${n('connP50Ms')} / ${n('connP99Ms')} ms`);
    row(
      "gateway RSS once steady (every device sending; the phase's second half at least)",
      f.connRssSlopeMBPerHour === null
        ? `under ${STEADY_MIN_MS / 60_000} minutes steady: too short to tell (BENCH_CONN_SECONDS=900 for a trend)`
        : `${n('connRssSteadyStartMB')} MB -> ${n('connRssSteadyEndMB')} MB over ${n('connRssSteadySeconds')} s, ${n('connRssSlopeMBPerHour')} MB an hour (least squares; run long with BENCH_CONN_SECONDS); JS heap used ${n('connHeapSteadyStartMB')} -> ${n('connHeapSteadyEndMB')} MB, ${n('connHeapSlopeMBPerHour')} MB an hour`,
    );
    row(
      'gateway RSS, the highest of each minute from the first connection',
      `${(f.connRssByMinuteMB as number[]).join(', ')} MB`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(`${benchLine(f)}\n`);
}

await main();
