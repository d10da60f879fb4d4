/**
 * `npm run bench:ingest`: the ingest figures of issue 14, each beside a reference measured
 * in the same run, ending with one `BENCH {json}` line (names in README "Benchmarks").
 *
 * The figures are printed by test/bench/ingest-report.
 *
 * Processes: this orchestrator (the references, then it waits); a host (test/bench/host.ts:
 * the gateway, or the pass-through drain); drivers (test/bench/driver.ts: the devices,
 * lean MQTT sessions with pre-signed frames); Debian Mosquitto where a phase needs it.
 * 1. reference: node:crypto P-256 verify rate on one core (before and after the run; mean),
 *    and again right before and after each capacity phase (the host's speed drifts);
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
 * gateway's `verifyThreads`; unset: its default), BENCH_VERIFY_NICE (their nice value,
 * `ingest.verifyNice`; unset: its default), BENCH_HEAP_GROWING_PERCENT (the gateway's
 * `memory.heapGrowingPercent`; unset: its default), BENCH_MALLOC_ARENA_MAX (the gateway's glibc
 * arenas: 2 as its image sets, `default` for glibc's own), BENCH_RECEIVE_MAXIMUM (the external
 * gateway's `externalBroker.receiveMaximum`, un-PUBACKed frames a lane may hold; unset: its
 * default), BENCH_HOST_PROF=DIR (a CPU profile of each host).
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';
import type { DriverJob, DriverResult } from './driver.js';
import type { GatewayTuning, HostStats } from './host.js';
import { type Embedded, r0, r1, r2, r3, report } from './ingest-report.js';
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
import { aroundReference, p256VerifyRate } from './reference.js';
import { prepareBenchDataDir } from './setup.js';
import { cpuBetween, type ThreadCpu } from './thread-cpu.js';

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
/** The verify threads' nice value (`ingest.verifyNice`); unset: the gateway's default. */
const VERIFY_NICE =
  process.env.BENCH_VERIFY_NICE === undefined ? undefined : Number(process.env.BENCH_VERIFY_NICE);
/** Un-PUBACKed frames each lane of the external gateway may hold (`receiveMaximum`); unset: its default. */
const RECEIVE_MAXIMUM =
  process.env.BENCH_RECEIVE_MAXIMUM === undefined ? undefined : Number(process.env.BENCH_RECEIVE_MAXIMUM);
/** What every gateway host of the run is given: verify threads, their nice value and heap growth, when set. */
const tuning: GatewayTuning = {
  ...(VERIFY_THREADS === undefined ? {} : { verifyThreads: VERIFY_THREADS }),
  ...(VERIFY_NICE === undefined ? {} : { verifyNice: VERIFY_NICE }),
  ...(HOST_HEAP_GROWING_PERCENT === undefined ? {} : { heapGrowingPercent: HOST_HEAP_GROWING_PERCENT }),
};
const PHASES = new Set((process.env.BENCH_PHASES ?? 'embedded,external,passthrough,connections').split(','));

const ids = (set: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${set}-${String(i + 1).padStart(5, '0')}`);
const mb = (b: number) => b / 1048576;
/** Progress on stderr; the figures go to stdout at the end. */
const progress = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const tmp = makeTempDir('vt-bench-');
  const figures: Record<string, unknown> = {
    bench: 'ingest',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    verifyThreads: VERIFY_THREADS ?? 'default',
    verifyNice: VERIFY_NICE ?? 'default',
    receiveMaximum: RECEIVE_MAXIMUM ?? 'default',
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
      figures.embeddedStartMs = r0(gw.startMs);
      figures.embeddedEnrolled = enrolled.emb.length;
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
        embeddedLoopCpuUsPerFrame: r1(cap.threads.loop),
        embeddedVerifyThreadsCpuUsPerFrame: r1(cap.threads.verify),
        embeddedOtherThreadsCpuUsPerFrame: r1(cap.threads.other),
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
      const gw = await startHost({
        kind: 'external',
        dataDir: ext,
        url: broker.url,
        ...tuning,
        ...(RECEIVE_MAXIMUM === undefined ? {} : { receiveMaximum: RECEIVE_MAXIMUM }),
      });
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
        externalLoopCpuUsPerFrame: r1(xcap.threads.loop),
        externalVerifyThreadsCpuUsPerFrame: r1(xcap.threads.verify),
        externalOtherThreadsCpuUsPerFrame: r1(xcap.threads.other),
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
      const readyAt = performance.now();
      await new Promise((res) => setTimeout(res, 1000));
      const idle = await gw.stats();
      let peak = idle;
      let connectedPeak = 0;
      let threadsPeak = 0;
      let asking = false;
      const rss: MemorySample[] = [];
      const heap: MemorySample[] = [];
      let allConnectedAt = Number.POSITIVE_INFINITY;
      /** When the gateway had read every enrolled device (its start reads them in slices). */
      let allReadAt = (idle.devicesKnown ?? 0) >= CONN_DEVICES ? performance.now() : Number.POSITIVE_INFINITY;
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
          if ((s.devicesKnown ?? 0) >= CONN_DEVICES) allReadAt = Math.min(allReadAt, performance.now());
          connectedPeak = Math.max(connectedPeak, s.connections);
          threadsPeak = Math.max(threadsPeak, s.verifyThreadsRunning);
        });
      }, 500);
      const per = Math.ceil(CONN_DEVICES / CONN_PROCS);
      const phaseFrom = performance.now();
      // The devices disconnect once every driver's frames are answered (`holdBeforeEnd`): the
      // phase measures a ward that stays connected, not the bench's own teardown.
      const drained: (() => void)[] = [];
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
              holdBeforeEnd: true,
            },
            (e, release) => {
              progress(`  driver ${p}: ${JSON.stringify(e)}`);
              if (e.event === 'drained' && drained.push(release) === CONN_PROCS) for (const r of drained) r();
            },
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
        connGatewayStartMs: r0(gw.startMs),
        connDevicesReadSeconds: Number.isFinite(allReadAt) ? r2((allReadAt - readyAt) / 1000) : null,
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
    report(figures, verify, embedded, externalFps, {
      devices: DEVICES,
      window: WINDOW,
      edgeRate: EDGE_RATE,
      warmFrames: WARM_FRAMES,
      connPeriodS: CONN_PERIOD_S,
      steadyMinMs: STEADY_MIN_MS,
      passLanes: PASS_LANES,
    });
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
  /** The same by the gateway's thread roles (test/bench/thread-cpu), µs a frame; NaN off Linux. */
  threads: ThreadCpu;
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
    threads: await cpu.threadsPerFrame(s1, stored),
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
  threadsPerFrame: (end: HostStats, frames: number) => Promise<ThreadCpu>;
} {
  let start: Promise<HostStats> | undefined;
  return {
    onEvent: (e) => {
      if (e.event === 'sending' && start === undefined) start = gw.stats();
    },
    perFrame: async (end, frames) =>
      start === undefined ? Number.NaN : (end.cpuMicros - (await start).cpuMicros) / Math.max(1, frames),
    threadsPerFrame: async (end, frames) => {
      const a = start === undefined ? undefined : (await start).threads;
      const b = end.threads;
      if (!a || !b) return { loop: Number.NaN, verify: Number.NaN, other: Number.NaN };
      const t = cpuBetween(a, b);
      const n = Math.max(1, frames);
      return { loop: t.loop / n, verify: t.verify / n, other: t.other / n };
    },
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

await main();
