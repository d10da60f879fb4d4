/**
 * @module test/bench/ingest-report
 * What `npm run bench:ingest` (test/bench/run.ts) prints: every figure beside its reference,
 * then the `BENCH` line (names in README "The `BENCH` line of `bench:ingest`").
 */

import type { DriverResult } from './driver.js';
import { benchLine } from './reference.js';

export const r0 = (x: number) => Math.round(x);
export const r1 = (x: number) => Math.round(x * 10) / 10;
export const r2 = (x: number) => Math.round(x * 100) / 100;
export const r3 = (x: number) => Math.round(x * 1000) / 1000;
const ms = (l: DriverResult['latencyMs']) => `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)} ms`;

/** The run's settings the report names. */
export interface ReportSettings {
  devices: number;
  window: number;
  edgeRate: number;
  warmFrames: number;
  connPeriodS: number;
  steadyMinMs: number;
  passLanes: number;
}

/** The warm-up's row, when there was one: the same gateway just started, not counted. */
function warmUpRow(
  f: Record<string, unknown>,
  kind: 'embedded' | 'external',
  verify: number,
  s: ReportSettings,
  row: (k: string, v: string) => void,
): void {
  const fps = f[`${kind}WarmUp`] as number | undefined;
  if (fps === undefined) return;
  row(
    '  its warm-up before (just started; not counted)',
    `${fps} /s = ${r3(fps / verify)} x verify rate, ${f[`${kind}WarmUpCpuUsPerFrame`]} µs CPU a frame  (${s.warmFrames} frames from ${s.devices} devices of its own)`,
  );
}

/**
 * The gateway's CPU a frame by thread role (`<kind>LoopCpuUsPerFrame`, …), beside one P-256
 * verify; undefined when the run could not read them (not Linux).
 */
function threadRow(
  f: Record<string, unknown>,
  kind: 'embedded' | 'external',
  verify: number,
): string | undefined {
  const v = (k: string) => f[`${kind}${k}CpuUsPerFrame`];
  if (!Number.isFinite(v('Loop'))) return undefined;
  const ref = 1e6 / verify;
  return `event loop ${v('Loop')}, verify threads ${v('VerifyThreads')} (${r2(Number(v('VerifyThreads')) / ref)} x one verify), other threads (V8's GC and compiler helpers, libuv) ${v('OtherThreads')} µs`;
}

/** A frame's CPU in the gateway beside the reference (one P-256 verify on one core), and what this host's cores could carry at that cost. */
function cpuPerFrame(us: number, verify: number, cores: number): string {
  const ref = 1e6 / verify;
  return `${us} µs = ${r2(us / ref)} x one P-256 verify (${r1(ref)} µs); ${cores} cores / this = ${r0((cores * 1e6) / us)} frames/s at most`;
}

export interface Embedded {
  cap: { r: DriverResult; fps: number };
  ecg: { fps: number };
  l5k: DriverResult;
  l1k: DriverResult;
}

/** Prints the run's figures, each beside its reference, then the `BENCH` line. */
export function report(
  f: Record<string, unknown>,
  verify: number,
  e: Embedded | undefined,
  externalFps: number,
  s: ReportSettings,
): void {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(52)} ${v}`);
  const head = (t: string) => lines.push(t);
  const n = (k: string) => f[k] as number;
  const embeddedFps = e?.cap.fps ?? Number.NaN;
  head(
    `\nVitalTrail ingest benchmark (${f.cpus} cores, Node ${f.node}; gateway verifyThreads: ${f.verifyThreads}, verifyNice: ${f.verifyNice}, heapGrowingPercent: ${f.heapGrowingPercent}, MALLOC_ARENA_MAX: ${f.mallocArenaMax}, node ${f.hostNodeArgs || '(no options)'})`,
  );
  row(
    'node:crypto P-256 verify (reference, 1 core)',
    `${n('verifyRate')} /s  (before ${n('verifyRateBefore')}, after ${n('verifyRateAfter')})`,
  );
  if (e) {
    head(
      `embedded broker; MQTT edge PUBLISH rate limit set to ${s.edgeRate}/s per connection here (default 200/s)`,
    );
    row(
      'durable verified capacity (done on PUBACK)',
      `${n('embeddedCapacity')} /s = ${r3(embeddedFps / verify)} x verify rate  (${e.cap.r.made} frames, ${s.devices} devices x ${s.window} in flight, ${n('embeddedFramesPerCommit')} frames/commit; ${r0(100 * n('embeddedPooledShare'))} % checked on verify threads)`,
    );
    row(
      '  beside the reference measured around it',
      `${n('verifyRateAroundCapacity')} /s (right before ${n('verifyRateAroundCapacityBefore')}, right after ${n('verifyRateAroundCapacityAfter')}): capacity = ${n('embeddedCapacityToVerifyAround')} x verify rate`,
    );
    warmUpRow(f, 'embedded', verify, s, row);
    row('  publish -> PUBACK p50 / p99 at capacity', ms(e.cap.r.latencyMs));
    row(
      '  gateway CPU per frame (all its threads)',
      cpuPerFrame(n('embeddedCpuUsPerFrame'), verify, n('cpus')),
    );
    const emThreads = threadRow(f, 'embedded', verify);
    if (emThreads) row('    of it, by thread', emThreads);
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
      `${ms(e.l5k.latencyMs)}  (sent ${n('sentRateAt5000')}/s, ${s.devices} devices; acked ${e.l5k.acked} of ${e.l5k.made}; goal p99 <= 50 ms)`,
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
    head(
      `external Debian Mosquitto, gateway in external mode (shared subscription, 8 lanes, app acks; receive maximum ${f.receiveMaximum === 'default' ? 'the default' : f.receiveMaximum} a lane)`,
    );
    row(
      'durable verified capacity (done on the app ack)',
      `${n('externalCapacity')} /s = ${Number.isFinite(embeddedFps) ? `${r3(externalFps / embeddedFps)} x embedded` : 'no embedded phase this run, so no ratio to it'} (goal >= 0.8); = ${r3(externalFps / verify)} x verify rate  (${n('externalFramesPerCommit')} frames/commit; acked ${n('externalAcked')} of ${n('externalMade')})`,
    );
    row(
      '  beside the reference measured around it',
      `${n('verifyRateAroundExternal')} /s: capacity = ${n('externalToVerifyAround')} x verify rate${f.externalToEmbeddedAround === undefined ? '' : `; each capacity against its own: ${n('externalToEmbeddedAround')} x embedded`}`,
    );
    warmUpRow(f, 'external', verify, s, row);
    row(
      '  gateway CPU per frame (all its threads)',
      cpuPerFrame(n('externalCpuUsPerFrame'), verify, n('cpus')),
    );
    const exThreads = threadRow(f, 'external', verify);
    if (exThreads) row('    of it, by thread', exThreads);
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
      `${n('passThrough')} /s  (${n('passThroughDrained')} of ${n('passThroughMade')} drained by ${s.passLanes} sessions)`,
    );
    row(
      '  gateway / pass-through',
      `embedded ${n('embeddedRatioToPassThrough')} x, external ${n('externalRatioToPassThrough')} x`,
    );
  }
  if (f.connDevices !== undefined) {
    head(
      `${n('connDevices')} devices on one gateway (embedded, default limits), one frame each every ${s.connPeriodS} s`,
    );
    row(
      `gateway start with ${n('connDevices')} devices enrolled`,
      `${n('connGatewayStartMs')} ms to listening${f.embeddedStartMs === undefined ? '' : ` (with ${n('embeddedEnrolled')}: ${n('embeddedStartMs')} ms, the embedded phase's)`}; every device read ${f.connDevicesReadSeconds === null ? 'not within the phase' : `${n('connDevicesReadSeconds')} s after it (in slices, answering meanwhile)`}`,
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
        ? `under ${s.steadyMinMs / 60_000} minutes steady: too short to tell (BENCH_CONN_SECONDS=900 for a trend)`
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
