/**
 * Load driver of the ingest benchmarks (test/bench/run.ts), run in processes of its own so
 * the simulated devices do not share the gateway's event loop. Reads its job from argv[2]
 * (JSON); prints `{"event": …}` lines while it runs and one JSON result as its last line.
 * Every frame is signed before the clock starts (test/bench/setup `signChain`): we measure
 * the gateway and the broker, not the signer. One lean MQTT 3.1.1 session per device
 * (test/bench/lean-mqtt, TCP_NODELAY), so the driver costs microseconds per frame.
 *
 * A frame is done on its PUBACK (embedded broker: the durable ack; plain broker: the
 * broker has it) or, with `appAcks`, on the gateway's `{"seq": n}` on `vt/v1/dev/{dev}/acks`
 * (external broker, PROTOCOL.md §2). Latency is from the publish to that moment.
 * - `closed`: each device keeps `window` frames in flight and sends the next one when one is
 *   done: durable capacity;
 * - `open`: a fixed total rate spread over the devices: latency at that load;
 * - `connections`: many devices connect, then each publishes once every `periodS` seconds
 *   (a random phase each) for `seconds`: the memory and connection benchmark.
 */
import { performance } from 'node:perf_hooks';
import { hostPort, LeanClient as Lean, type LeanClient, topicField } from './lean-mqtt.js';
import { percentile } from './percentile.js';
import { readKeys, signChain } from './setup.js';

export interface DriverJob {
  mode: 'closed' | 'open' | 'connections';
  url: string;
  keysFile: string;
  devices: string[];
  /** Done on the application ack instead of the PUBACK. */
  appAcks?: boolean;
  /** Frames carry a 1 s ECG chunk (250 Hz). */
  ecg?: boolean;
  /** closed: frames in flight per device (default 8) and frames in all (default 20,000). */
  window?: number;
  frames?: number;
  /** open: frames per second in all; connections: seconds between a device's frames. */
  rate?: number;
  periodS?: number;
  /** open, connections: seconds of sending. */
  seconds?: number;
  /** Give up waiting for outstanding acks after this long (default 30 s). */
  drainTimeoutS?: number;
  /** connections: sessions being set up at once (default 200). */
  connectConcurrency?: number;
  /**
   * connections: once every frame is answered, say `drained` and wait for a line on stdin
   * before the devices disconnect, so that the drivers of one phase disconnect only when all
   * of them are done (run.ts): thousands of devices leaving at once hold the gateway's event
   * loop (~0.14 ms each) and would delay another driver's last frames.
   */
  holdBeforeEnd?: boolean;
}

export interface DriverResult {
  made: number;
  acked: number;
  /** From the first publish to the last ack (closed), or of the sending period (open). */
  seconds: number;
  /** open: frames published per second, as achieved. */
  sentRate?: number;
  /**
   * closed, open: this driver's CPU (user + system, µs) from its `sending` event to its
   * last ack or the end of its drain: what the devices' side costs the shared cores.
   */
  cpuUs?: number;
  connected?: number;
  connectSeconds?: number;
  /** Every frame but a device's first (connections: those are `firstFrameLatencyMs`). */
  latencyMs: Latencies;
  firstFrameLatencyMs?: Latencies;
  /**
   * open: the same split by when a frame was sent: in the rate's first second (the devices
   * just connected, the load up from nothing at once) and after it (the steady rate).
   */
  firstSecondLatencyMs?: Latencies;
  afterFirstSecondLatencyMs?: Latencies;
}

/** Publish → ack latencies of a set of frames, ms. */
export interface Latencies {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

interface Dev {
  id: string;
  client: LeanClient;
  topic: Buffer;
  frames: Uint8Array[];
  next: number;
  /** appAcks: seq → (publish time, done). */
  waiting: Map<number, { t0: number; done: () => void }>;
}

const latencies: number[] = [];
/** open: the latencies of the frames sent in the rate's first second, and after it. */
const firstSecond: number[] = [];
const afterFirstSecond: number[] = [];
/** open: when the rate started (performance.now()); NaN otherwise. */
let rateStart = Number.NaN;
/** connections: the latencies of each device's first frame (it opens the device's data key). */
const firstLatencies: number[] = [];
let acked = 0;

function summary(of: number[] = latencies): Latencies {
  const s = Float64Array.from(of).sort();
  return {
    p50: percentile(s, 0.5),
    p99: percentile(s, 0.99),
    p999: percentile(s, 0.999),
    max: s.length ? (s[s.length - 1] as number) : Number.NaN,
  };
}

async function connectAll(job: DriverJob, framesPer: number, offset = 0): Promise<Dev[]> {
  const keys = readKeys(job.keysFile, job.devices);
  const { host, port } = hostPort(job.url);
  const devs: Dev[] = new Array(job.devices.length);
  const ts = Date.now();
  let at = 0;
  let connected = 0;
  const worker = async () => {
    while (at < job.devices.length) {
      const i = at++;
      const id = job.devices[i] as string;
      const waiting = new Map<number, { t0: number; done: () => void }>();
      const frames = signChain(id, keys[i]!, framesPer, { ecg: job.ecg ?? false, ts: ts + offset }).frames;
      const client = await Lean.connect({
        host,
        port,
        clientId: id,
        keepalive: 0,
        onMessage: (_topic, payload) => {
          const seq = (JSON.parse(payload.toString('utf8')) as { seq?: number }).seq;
          const w = seq === undefined ? undefined : waiting.get(seq);
          if (w && seq !== undefined) {
            waiting.delete(seq);
            w.done();
          }
        },
      });
      if (job.appAcks) await client.subscribe(`vt/v1/dev/${id}/acks`);
      devs[i] = { id, client, topic: topicField(`vt/v1/dev/${id}/frames`), frames, next: 0, waiting };
      if (++connected % 1000 === 0 && job.mode === 'connections')
        process.stdout.write(`${JSON.stringify({ event: 'connecting', connected })}\n`);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(job.connectConcurrency ?? 200, job.devices.length) }, worker),
  );
  return devs;
}

/** Publishes the device's next frame; `after` runs when it is done (PUBACK or app ack). */
function send(job: DriverJob, d: Dev, after?: () => void): boolean {
  const bytes = d.frames[d.next];
  if (bytes === undefined) return false;
  const seq = d.next + 1;
  d.next += 1;
  const t0 = performance.now();
  const into = job.mode === 'connections' && seq === 1 ? firstLatencies : latencies;
  const done = () => {
    const ms = performance.now() - t0;
    into.push(ms);
    if (!Number.isNaN(rateStart)) (t0 - rateStart < 1000 ? firstSecond : afterFirstSecond).push(ms);
    acked += 1;
    after?.();
  };
  if (job.appAcks) {
    d.waiting.set(seq, { t0, done });
    d.client.publish(d.topic, bytes, () => {});
  } else d.client.publish(d.topic, bytes, done);
  return true;
}

/** This process's CPU (user + system) since `from`, µs. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(from);
  return c.user + c.system;
}

async function waitAll(made: () => number, timeoutS: number): Promise<void> {
  const end = performance.now() + timeoutS * 1000;
  while (acked < made() && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
}

async function closedLoop(job: DriverJob): Promise<DriverResult> {
  const total = job.frames ?? 20_000;
  const per = Math.ceil(total / job.devices.length);
  const devs = await connectAll(job, per);
  const window = job.window ?? 8;
  let made = 0;
  let last = 0;
  // Connected and signed: the caller may read the gateway's CPU from here (run.ts).
  process.stdout.write(`${JSON.stringify({ event: 'sending' })}\n`);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let open = devs.length;
    for (const d of devs) {
      let inFlight = 0;
      const pump = () => {
        while (inFlight < window && send(job, d, onDone)) {
          inFlight += 1;
          made += 1;
        }
        if (inFlight === 0 && --open === 0) resolve();
      };
      const onDone = () => {
        inFlight -= 1;
        last = performance.now();
        pump();
      };
      pump();
    }
    setTimeout(resolve, (job.drainTimeoutS ?? 120) * 1000).unref();
  });
  const seconds = ((last || performance.now()) - t0) / 1000;
  const cpuUs = cpuSince(c0);
  for (const d of devs) d.client.end();
  return { made, acked, seconds, cpuUs, latencyMs: summary() };
}

async function openLoop(job: DriverJob): Promise<DriverResult> {
  const rate = job.rate ?? 1000;
  const seconds = job.seconds ?? 10;
  const per = Math.ceil((rate * seconds) / job.devices.length) + 1;
  const devs = await connectAll(job, per);
  let made = 0;
  let turn = 0;
  // Connected and signed: the caller may read the gateway's CPU from here (run.ts).
  process.stdout.write(`${JSON.stringify({ event: 'sending' })}\n`);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  rateStart = t0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      const due = Math.min(Math.floor(elapsed * rate), Math.floor(seconds * rate));
      while (made < due) {
        send(job, devs[turn % devs.length] as Dev);
        turn += 1;
        made += 1;
      }
      if (elapsed >= seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const sendSeconds = (performance.now() - t0) / 1000;
  await waitAll(() => made, job.drainTimeoutS ?? 30);
  const cpuUs = cpuSince(c0);
  for (const d of devs) d.client.end();
  return {
    made,
    acked,
    seconds: sendSeconds,
    sentRate: made / sendSeconds,
    cpuUs,
    latencyMs: summary(),
    firstSecondLatencyMs: summary(firstSecond),
    afterFirstSecondLatencyMs: summary(afterFirstSecond),
  };
}

async function connections(job: DriverJob): Promise<DriverResult> {
  const periodS = job.periodS ?? 10;
  const seconds = job.seconds ?? 30;
  const per = Math.ceil(seconds / periodS) + 1;
  const c0 = performance.now();
  const devs = await connectAll(job, per);
  const connectSeconds = (performance.now() - c0) / 1000;
  process.stdout.write(`${JSON.stringify({ event: 'connected', connected: devs.length, connectSeconds })}\n`);
  let made = 0;
  const t0 = performance.now();
  const phases = devs.map(() => Math.random() * periodS * 1000);
  const sent = new Uint32Array(devs.length);
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - t0;
      const stopAt = seconds * 1000;
      for (let i = 0; i < devs.length; i++) {
        const dueAt = (phases[i] as number) + (sent[i] as number) * periodS * 1000;
        if (dueAt <= elapsed && dueAt < stopAt) {
          send(job, devs[i] as Dev);
          sent[i] = (sent[i] as number) + 1;
          made += 1;
        }
      }
      if (elapsed >= stopAt) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  await waitAll(() => made, job.drainTimeoutS ?? 30);
  const connected = devs.filter((d) => d.client.connected).length;
  if (job.holdBeforeEnd) {
    process.stdout.write(`${JSON.stringify({ event: 'drained' })}\n`);
    // The line, or the end of stdin (the bench gone): never waits for good.
    await new Promise((resolve) => process.stdin.once('data', resolve).once('end', resolve));
    process.stdin.pause();
  }
  for (const d of devs) d.client.end();
  return {
    made,
    acked,
    seconds,
    connected,
    connectSeconds,
    latencyMs: summary(),
    firstFrameLatencyMs: summary(firstLatencies),
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as DriverJob;
const run = job.mode === 'closed' ? closedLoop : job.mode === 'open' ? openLoop : connections;
const result = await run(job);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
