/**
 * @module core/live-stream
 * The internal live stream (issue 16, ARCHITECTURE.md "Scale-out"): every gateway publishes
 * the readings it accepted, once they are durable, on `vt/v1/internal/live/<gateway id>`
 * through the broker the deployment already runs, and every gateway feeds its own live hub
 * (tiles, ECG strips, alarms, NEWS2) from the others' stream and from its own readings
 * directly (io/transport/live-stream: the broker does not send a gateway its own messages
 * back). So a nurse sees every reading of every patient whatever gateway accepted it and
 * whatever gateway her browser reaches. A gateway on its embedded broker has no other gateway
 * to hear: it feeds its ward directly and runs no stream (app/ingress-steps).
 *
 * What travels is what the live hub carries today (decoded observations, battery, ECG
 * samples, the accepting gateway's receive time), never the sealed bytes, signatures or
 * keys. A message is one JSON object `{"v": 1, "gw", "r": [reading…]}`, each reading
 * `{"dev", "seq", "ts", "rx", "obs", "bat"?, "wf"?: {"fs", "s"}}` with the ECG samples as
 * base64 of int16 little-endian bytes (PROTOCOL.md §1's own waveform layout). JSON, not
 * CBOR: node's own JSON is far faster here than cbor2's encoder (`npm run bench:store`
 * prints the codec's cost per reading beside a P-256 verify), and the stream runs once per
 * accepted reading on the accepting gateway and once on every gateway. A batch is split so
 * that no message exceeds `maxBytes` (Mosquitto's `max_packet_size` is 128 KiB in our config).
 *
 * The stream is internal: only gateways may publish or read it (the embedded broker's edge
 * lets a device publish only to its own frames topic and subscribe only under its own
 * prefix; the Mosquitto ACL grants `vt/v1/internal/live/#` to gateway identities only).
 * Still, a message that does not decode strictly is dropped whole and counted, never passed
 * on. Pure: no I/O here (io/transport/live-stream binds it to a broker).
 */
import { DEVICE_ID_PATTERN, OBSERVATIONS, type Observations } from '../protocol/frame.js';
import type { LiveReading } from './live.js';

export const LIVE_STREAM_ROOT = 'vt/v1/internal/live';
/** Every gateway's readings: a plain (not shared) subscription, so each gateway gets all. */
export const LIVE_STREAM_SUBSCRIPTION = `${LIVE_STREAM_ROOT}/+`;
/** The largest stream message we write (below the broker's 128 KiB packet limit). */
export const LIVE_STREAM_MAX_BYTES = 64 * 1024;
/** Gateway ids follow the config's id rule (the device-id rule): safe as one topic level. */
const GATEWAY_ID_PATTERN = DEVICE_ID_PATTERN;
/** ECG samples one reading may carry on the stream (a frame's chunk is far smaller). */
const MAX_SAMPLES = 16_384;

/** The topic a gateway publishes its accepted readings on. */
export function liveStreamTopic(gatewayId: string): string {
  if (!GATEWAY_ID_PATTERN.test(gatewayId)) throw new RangeError('gateway id is not a valid topic level');
  return `${LIVE_STREAM_ROOT}/${gatewayId}`;
}

/** A decoded stream message: the publishing gateway and its readings, each tagged with it. */
export interface LiveBatch {
  origin: string;
  readings: LiveReading[];
}

function samplesToBytes(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i] as number, true);
  return out;
}

function bytesToSamples(bytes: Uint8Array): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

function wireReading(r: LiveReading): Record<string, unknown> {
  return {
    dev: r.dev,
    seq: r.seq,
    ts: r.ts,
    rx: r.receivedAt,
    obs: r.obs,
    ...(r.bat !== undefined ? { bat: r.bat } : {}),
    ...(r.wf ? { wf: { fs: r.wf.fs, s: Buffer.from(samplesToBytes(r.wf.samples)).toString('base64') } } : {}),
  };
}

/** A generous size estimate of one reading on the wire, to cut batches before encoding. */
function estimate(r: LiveReading): number {
  const wf = r.wf ? Math.ceil((r.wf.samples.length * 8) / 3) + 32 : 0;
  return 128 + r.dev.length + Object.keys(r.obs).length * 24 + wf;
}

/**
 * Encodes readings a gateway accepted into stream messages of at most about `maxBytes` each
 * (a single reading larger than that still goes alone).
 * @example
 * for (const m of encodeLiveBatch('gw-1', readings)) client.publish(liveStreamTopic('gw-1'), m);
 */
export function encodeLiveBatch(
  origin: string,
  readings: readonly LiveReading[],
  maxBytes = LIVE_STREAM_MAX_BYTES,
): Buffer[] {
  const out: Buffer[] = [];
  let group: Record<string, unknown>[] = [];
  let size = 32;
  const flush = () => {
    if (group.length === 0) return;
    out.push(Buffer.from(JSON.stringify({ v: 1, gw: origin, r: group })));
    group = [];
    size = 32;
  };
  for (const r of readings) {
    const n = estimate(r);
    if (size + n > maxBytes) flush();
    group.push(wireReading(r));
    size += n;
  }
  flush();
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
/** Base64 as `Buffer.toString('base64')` writes it (padded), nothing else. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const OBS_KEYS: ReadonlySet<string> = new Set(Object.keys(OBSERVATIONS));

function readObs(v: unknown): Observations | string {
  if (!isObject(v)) return 'obs is not a map';
  const obs: Observations = {};
  for (const [k, x] of Object.entries(v)) {
    if (!OBS_KEYS.has(k)) return 'unknown observation';
    if (typeof x !== 'number' || !Number.isFinite(x)) return 'observation is not a number';
    obs[k as keyof Observations] = x;
  }
  return obs;
}

function readReading(v: unknown, origin: string): LiveReading | string {
  if (!isObject(v)) return 'reading is not a map';
  const { dev, seq, ts, rx, obs, bat, wf } = v;
  if (typeof dev !== 'string' || !DEVICE_ID_PATTERN.test(dev)) return 'bad device id';
  if (!isCount(seq) || !isCount(ts) || !isCount(rx)) return 'bad seq, ts or rx';
  const o = readObs(obs);
  if (typeof o === 'string') return o;
  if (bat !== undefined && (typeof bat !== 'number' || !Number.isFinite(bat))) return 'bad battery';
  const reading: LiveReading = { dev, seq, ts, obs: o, receivedAt: rx, origin };
  if (bat !== undefined) reading.bat = bat as number;
  if (wf !== undefined) {
    if (!isObject(wf) || !isCount(wf.fs) || wf.fs === 0 || typeof wf.s !== 'string') return 'bad waveform';
    if (wf.s.length > Math.ceil((MAX_SAMPLES * 2) / 3) * 4 || !BASE64.test(wf.s)) return 'bad waveform';
    const bytes = Buffer.from(wf.s, 'base64');
    if (bytes.byteLength % 2 !== 0) return 'bad waveform';
    reading.wf = { fs: wf.fs, samples: bytesToSamples(bytes) };
  }
  return reading;
}

/**
 * Decodes one stream message strictly: the whole message or nothing.
 * @returns the batch, or a short reason why it was dropped (no payload values in it).
 */
export function decodeLiveBatch(payload: Uint8Array): LiveBatch | { error: string } {
  let msg: unknown;
  try {
    msg = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return { error: 'not JSON' };
  }
  if (!isObject(msg) || msg.v !== 1) return { error: 'not a version 1 stream message' };
  const { gw, r } = msg;
  if (typeof gw !== 'string' || !GATEWAY_ID_PATTERN.test(gw)) return { error: 'bad gateway id' };
  if (!Array.isArray(r)) return { error: 'readings are not an array' };
  const readings: LiveReading[] = [];
  for (const item of r) {
    const reading = readReading(item, gw);
    if (typeof reading === 'string') return { error: reading };
    readings.push(reading);
  }
  return { origin: gw, readings };
}

/**
 * Drops readings seen before: the broker redelivers after a failover, and two gateways may
 * both accept one frame (ARCHITECTURE.md "Scale-out": identical bytes in two logs). Keeps
 * the last `window` seqs per device in a ring (8 bytes each: 10,000 devices × 128 = 10 MB),
 * so a late gap-filler (an older seq never seen) still passes.
 */
export class SeenReadings {
  readonly #byDev = new Map<string, { ring: Float64Array; next: number }>();
  readonly #window: number;

  constructor(window = 128) {
    this.#window = window;
  }

  /** True the first time `(dev, seq)` is offered (within the window), false after. */
  first(dev: string, seq: number): boolean {
    let seen = this.#byDev.get(dev);
    if (!seen) {
      seen = { ring: new Float64Array(this.#window).fill(-1), next: 0 };
      this.#byDev.set(dev, seen);
    }
    if (seen.ring.includes(seq)) return false;
    seen.ring[seen.next] = seq;
    seen.next = (seen.next + 1) % this.#window;
    return true;
  }
}

/** How long a reading waits for the one before it (see `DeviceOrder`). */
export const LIVE_STREAM_HOLD_MS = 400;
/** Readings held for one device at most; beyond, the oldest are released. */
const MAX_HELD = 256;

/**
 * Puts each device's readings back in seq order. Behind a shared subscription the broker
 * deals one device's frames to several gateways in turn, and each publishes them when its own
 * commit is durable, so consecutive readings can cross on the stream; an ECG strip drawn from
 * them would jump back and forth. A reading that comes before the one it follows waits for
 * it, at most `holdMs` (a jitter buffer, as central stations hold a few hundred milliseconds
 * of waveform); after that the wait ends (the missing one was rejected, or is late) and the
 * held readings go on in order. A reading older than the last one passed on (a late
 * gap-filler) is passed on at once: the hub keeps the newest as the tile's value. A device's
 * first reading (since this gateway started) waits too, as nothing says which seq comes
 * before it: so the first readings of a device dealt to two gateways pass in order.
 */
export class DeviceOrder {
  readonly #next = new Map<string, number>();
  readonly #held = new Map<string, { since: number; readings: LiveReading[] }>();
  readonly #holdMs: number;

  constructor(holdMs = LIVE_STREAM_HOLD_MS) {
    this.#holdMs = holdMs;
  }

  /** Offers one reading; returns what may be passed on now, in order. */
  offer(r: LiveReading, now: number): LiveReading[] {
    const next = this.#next.get(r.dev);
    if (next !== undefined && r.seq === next) {
      this.#next.set(r.dev, r.seq + 1);
      return [r, ...this.#release(r.dev, false, now)];
    }
    // Older than the last one passed on: a late gap-filler, at once. (A device's first
    // reading is held like any other: the one before it may still be on its way.)
    if (next !== undefined && r.seq < next) return [r];
    const held = this.#held.get(r.dev) ?? { since: now, readings: [] };
    held.readings.push(r);
    held.readings.sort((a, b) => a.seq - b.seq);
    this.#held.set(r.dev, held);
    if (held.readings.length > MAX_HELD) return this.#release(r.dev, true, now);
    return [];
  }

  /** Readings whose wait is over at `now`, in order per device. */
  due(now: number): LiveReading[] {
    const out: LiveReading[] = [];
    for (const [dev, held] of this.#held)
      if (now - held.since >= this.#holdMs) out.push(...this.#release(dev, true, now));
    return out;
  }

  /** When the next wait ends (ms since epoch), or null when nothing is held. */
  nextDeadline(): number | null {
    let min: number | null = null;
    for (const held of this.#held.values()) {
      const d = held.since + this.#holdMs;
      if (min === null || d < min) min = d;
    }
    return min;
  }

  /**
   * Passes on the held readings that follow on from the last one passed on, or, with
   * `skipGap`, all of the held readings up to the next gap in them (the wait is over).
   */
  #release(dev: string, skipGap: boolean, now: number): LiveReading[] {
    const held = this.#held.get(dev);
    if (!held) return [];
    let next = this.#next.get(dev) as number;
    const out: LiveReading[] = [];
    let i = 0;
    if (skipGap && held.readings.length > 0) next = (held.readings[0] as LiveReading).seq;
    for (; i < held.readings.length; i++) {
      const r = held.readings[i] as LiveReading;
      if (r.seq < next) continue; // offered twice while held: the stream's dedupe passes one
      if (r.seq !== next) break;
      out.push(r);
      next += 1;
    }
    this.#next.set(dev, next);
    held.readings = held.readings.slice(i);
    if (held.readings.length === 0) this.#held.delete(dev);
    else if (out.length > 0) held.since = now; // the wait for the next gap starts now
    return out;
  }
}
