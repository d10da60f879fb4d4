/**
 * @module firmware-sim/fleet
 * A simulated ward: many devices, each with its patient model, its persistent chain state
 * and its own MQTT session (PROTOCOL.md §2), producing frames at a fixed rate, with
 * statistics (made, acked, rejected by code, still in outboxes, publish → PUBACK latency).
 *
 * State saving (see `state.ts`): each device's state is saved at most once per second and
 * on `stop()`. Crash safety without an fsync per frame comes from seq reservations: before
 * a device uses a seq beyond its last persisted reservation, the fleet synchronously
 * persists `reservedThrough = last used seq + 100`. A crash therefore costs at most a gap
 * of ~100 seqs: after it the device resumes past the reservation (never reusing a seq) and
 * its first `prev` names the last persisted frame, which is unverifiable across the gap.
 * Frames still unacknowledged at `stop()` (or at a crash) are not persisted: the gateway
 * sees them as a gap too.
 */
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IClientOptions } from 'mqtt';
import type { Observations } from '../../gateway/src/protocol/frame.js';
import { SimDevice } from './device.js';
import { FaultInjector, type FaultMix, mergeFaultStats, UnknownDeviceProbe } from './faults.js';
import { MqttDeviceLink } from './mqtt-transport.js';
import { createEcgGenerator, createPatientModel, type Scenario } from './physiology.js';
import { loadDeviceState, saveDeviceState } from './state.js';

export interface FleetDeviceSpec {
  devId: string;
  privateKey: KeyObject;
  /** Where the device's seq/prev state lives; without it the device starts fresh each run. */
  statePath?: string;
  /** Default 'steady'. */
  scenario?: Scenario;
  /** Default: a hash of devId, so a device is the same patient on every run. */
  seed?: number;
  /** Attach a synthetic ECG chunk to this device's frames; default `FleetOptions.ecg`. */
  ecg?: boolean;
}

export interface FleetReading {
  devId: string;
  seq: number;
  ts: number;
  obs: Observations;
  bat?: number;
  /**
   * ECG samples the frame carries (`wf`), when it carries a chunk. A frame made in the same
   * millisecond as the one before (a burst that catches up after the driver stalled) has no
   * time to cover and carries none.
   */
  ecgSamples?: number;
}

export interface FleetOptions {
  url: string;
  devices: FleetDeviceSpec[];
  /** Frames per second per device, 0 < rateHz ≤ 1000. */
  rateHz: number;
  /** Stop making frames after this long; default: until `stop()`. */
  durationMs?: number;
  /** Stop making frames after this many per device (this run). */
  maxFrames?: number;
  /** Called with each reading as its frame is made (before it is acknowledged). */
  onReading?: (r: FleetReading) => void;
  /**
   * Called when a device cannot make a frame (its seqs cannot be reserved durably: it makes
   * none, and tries again at the next tick) or its state cannot be saved: once when either
   * trouble starts, and again only after it was over (a frame made, the state saved).
   */
  onError?: (devId: string, err: unknown) => void;
  /** Physiology time per wall time, default 1 (see `createPatientModel`). */
  speedup?: number;
  /** Attach a synthetic ECG chunk (`wf`, 250 Hz) to every frame; default false. */
  ecg?: boolean;
  /** mqtt.js options for every device, or per device (e.g. its TLS client certificate). */
  clientOptions?: IClientOptions | ((devId: string) => IClientOptions);
  /** External-broker mode: frames are done on the gateway's `/acks`, not on PUBACK (PROTOCOL.md §2). */
  appAcks?: boolean;
  /** appAcks: resend a frame that got its PUBACK but no application ack after this long, default 10000 ms. */
  ackTimeoutMs?: number;
  /** Outbox capacity per device, default 10000. */
  maxOutbox?: number;
  /** Device clock, default Date.now. */
  now?: () => number;
  /** Bad frames mixed among the good ones (firmware-sim/src/faults.ts); their rejections join `rejected`. */
  faults?: FaultMix;
}

export interface FleetStats {
  made: number;
  acked: number;
  rejected: Record<string, number>;
  /** Frames made but neither acknowledged nor rejected yet (summed over the outboxes). */
  inOutbox: number;
  resent: number;
  /** Frames evicted from full outboxes. */
  dropped: number;
  /** publish → PUBACK, over the most recent 65536 samples; `count` is every sample. */
  latencyMs: { p50: number; p95: number; p99: number; count: number };
  /** Bad frames injected, by fault kind (only with `FleetOptions.faults`). */
  faultsSent?: Record<string, number>;
}

interface Unit {
  spec: FleetDeviceSpec;
  device: SimDevice;
  link: MqttDeviceLink;
  /** Frames made this run. */
  count: number;
  /**
   * Where in each period this device sends, as a share of it in [0, 1): frame k is due
   * (k + phase) / rate seconds after the start. The ward's devices are spread evenly over the
   * period, as wearables switched on at different moments are, instead of every device sending
   * at the same instant.
   */
  phase: number;
  producing: boolean;
  /** seq of the last save (skip saving when nothing changed). */
  savedSeq: number;
  /** The troubles `onError` was told of and not yet over (no frame made, no save since). */
  troubled: { make: boolean; save: boolean };
  faults?: FaultInjector;
}

const LATENCY_WINDOW = 65_536;
/** At most this many frames per device per tick, when the event loop has fallen behind. */
const MAX_BURST = 1000;
const SAVE_INTERVAL_MS = 1000;
const DEFAULT_STOP_TIMEOUT_MS = 5000;

/** FNV-1a 32-bit: a stable per-device default seed. Not cryptographic. */
export function seedOf(devId: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(devId, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}

/**
 * A device's fault mix: with `mix.seed`, a seed of its own from `mix.seed` and `seedOf(devId)`
 * (its injector's draws then do not depend on the other devices' draws).
 */
export function deviceFaultMix(mix: FaultMix, devId: string): FaultMix {
  return mix.seed === undefined ? mix : { ...mix, seed: (mix.seed ^ seedOf(devId)) >>> 0 };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function safeCall<A extends unknown[]>(fn: ((...a: A) => void) | undefined, ...args: A): void {
  try {
    fn?.(...args);
  } catch {
    // Hooks belong to the caller; they must not stop the fleet.
  }
}

/**
 * Runs a simulated ward against a broker.
 * @example
 * const fleet = await Fleet.start({ url, devices, rateHz: 1, durationMs: 60_000 });
 * await fleet.finished;               // production over
 * const stats = await fleet.stop();   // waits for outstanding acks, saves states
 */
export class Fleet {
  /** Resolves when no device makes frames any more (durationMs or maxFrames reached, or stop()). */
  readonly finished: Promise<void>;
  readonly #opts: FleetOptions;
  readonly #units: Unit[];
  readonly #latency = new Float64Array(LATENCY_WINDOW);
  #latencyCount = 0;
  #t0 = 0;
  #ticker: NodeJS.Timeout | undefined;
  #saver: NodeJS.Timeout | undefined;
  #finish!: () => void;
  #stopping: Promise<FleetStats> | undefined;
  #probe: UnknownDeviceProbe | undefined;

  private constructor(opts: FleetOptions, units: Unit[]) {
    this.#opts = opts;
    this.#units = units;
    units.forEach((u, i) => {
      u.phase = i / units.length;
    });
    this.finished = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  /**
   * Loads each device's state, connects every device, and starts producing.
   * @throws {TypeError|RangeError} on invalid options.
   * @throws {DeviceStateError} when a state file is corrupt; {MqttLinkError} when a device cannot connect
   *   (the devices already connected are closed again).
   */
  static async start(opts: FleetOptions): Promise<Fleet> {
    if (!(Number.isFinite(opts.rateHz) && opts.rateHz > 0 && opts.rateHz <= 1000)) {
      throw new RangeError('Fleet: rateHz must be in (0, 1000]');
    }
    if (opts.durationMs !== undefined && !(Number.isFinite(opts.durationMs) && opts.durationMs >= 0)) {
      throw new RangeError('Fleet: durationMs must be a non-negative number');
    }
    if (opts.maxFrames !== undefined && !(Number.isSafeInteger(opts.maxFrames) && opts.maxFrames >= 0)) {
      throw new RangeError('Fleet: maxFrames must be a non-negative integer');
    }
    if (!Array.isArray(opts.devices) || opts.devices.length === 0) {
      throw new TypeError('Fleet: devices must be a non-empty array');
    }
    if (new Set(opts.devices.map((d) => d.devId)).size !== opts.devices.length) {
      throw new TypeError('Fleet: devices must have distinct devIds');
    }
    // The links' latency hook needs the fleet, which exists only once they are connected.
    let fleet: Fleet | undefined;
    const onLatency = (ms: number) => {
      if (fleet) fleet.#recordLatency(ms);
    };
    const results = await Promise.allSettled(
      opts.devices.map(async (spec): Promise<Unit> => {
        const device = Fleet.#makeDevice(spec, opts);
        const faults = opts.faults
          ? new FaultInjector(spec.privateKey, deviceFaultMix(opts.faults, spec.devId))
          : undefined;
        const clientOptions =
          typeof opts.clientOptions === 'function' ? opts.clientOptions(spec.devId) : opts.clientOptions;
        const link = await MqttDeviceLink.connect({
          url: opts.url,
          device,
          onLatency,
          ...(clientOptions ? { clientOptions } : {}),
          ...(opts.appAcks ? { appAcks: true } : {}),
          ...(opts.ackTimeoutMs !== undefined ? { ackTimeoutMs: opts.ackTimeoutMs } : {}),
          ...(faults ? { onReject: (seq: number, code: string) => faults.claim(seq, code) } : {}),
        });
        const unit: Unit = {
          spec,
          device,
          link,
          count: 0,
          phase: 0,
          producing: true,
          savedSeq: device.state.seq,
          troubled: { make: false, save: false },
        };
        if (faults) unit.faults = faults;
        return unit;
      }),
    );
    const units = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) {
      await Promise.allSettled(units.map((u) => u.link.close()));
      throw failure.reason;
    }
    fleet = new Fleet(opts, units);
    if ((opts.faults?.unknown ?? 0) > 0) {
      const probe = new UnknownDeviceProbe();
      const first = opts.devices[0]?.devId ?? '';
      const co = typeof opts.clientOptions === 'function' ? opts.clientOptions(first) : opts.clientOptions;
      await probe.start(opts.url, co);
      fleet.#probe = probe;
    }
    fleet.#run();
    return fleet;
  }

  static #makeDevice(spec: FleetDeviceSpec, opts: FleetOptions): SimDevice {
    const seed = spec.seed ?? seedOf(spec.devId);
    const { statePath } = spec;
    return new SimDevice({
      devId: spec.devId,
      privateKey: spec.privateKey,
      model: createPatientModel({ seed, scenario: spec.scenario ?? 'steady', speedup: opts.speedup ?? 1 }),
      ...(statePath
        ? {
            state: loadDeviceState(statePath),
            // Durable before any seq of the new block is used (see the module notes).
            reserve: (reservedThrough, state) => saveDeviceState(statePath, state, { reservedThrough }),
          }
        : {}),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.maxOutbox !== undefined ? { maxOutbox: opts.maxOutbox } : {}),
      ...((spec.ecg ?? opts.ecg) ? { ecg: createEcgGenerator({ seed }) } : {}),
    });
  }

  /** Current totals over all devices. */
  stats(): FleetStats {
    const rejected: Record<string, number> = Object.create(null);
    let made = 0;
    let acked = 0;
    let inOutbox = 0;
    let resent = 0;
    let dropped = 0;
    for (const { device } of this.#units) {
      const s = device.stats;
      made += s.made;
      acked += s.acked;
      resent += s.resent;
      dropped += s.dropped;
      inOutbox += device.unackedCount;
      for (const [code, n] of Object.entries(s.rejected)) rejected[code] = (rejected[code] ?? 0) + n;
    }
    const faultStats = [
      ...this.#units.flatMap((u) => (u.faults ? [u.faults.stats] : [])),
      ...(this.#probe ? [this.#probe.stats] : []),
    ];
    const faultsSent = this.#opts.faults ? mergeFaultStats(rejected, faultStats) : undefined;
    const n = Math.min(this.#latencyCount, LATENCY_WINDOW);
    const sorted = this.#latency.slice(0, n).sort();
    return {
      made,
      acked,
      rejected: { ...rejected },
      inOutbox,
      resent,
      dropped,
      latencyMs: {
        p50: percentile(sorted, 0.5),
        p95: percentile(sorted, 0.95),
        p99: percentile(sorted, 0.99),
        count: this.#latencyCount,
      },
      ...(faultsSent ? { faultsSent: { ...faultsSent } } : {}),
    };
  }

  /**
   * Stops making frames, waits up to `timeoutMs` (default 5000) for the outboxes to empty
   * and, with faults, for the gateway's reports on the bad frames (the owed replays sent
   * first), saves every device's state (a clean stop: no reservation left), and closes the
   * sessions. Idempotent.
   */
  stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<FleetStats> {
    this.#stopping ??= (async () => {
      this.#halt();
      const deadline = performance.now() + timeoutMs;
      const until = async (done: () => boolean) => {
        while (!done() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      };
      await until(() => this.#units.every((u) => u.device.unackedCount === 0));
      // The bad frames still owed (replays drawn before any frame was acked), then the
      // gateway's reports on every bad frame, so the summary counts them all.
      for (const u of this.#units) {
        for (const bad of u.faults?.payOwed((seq) => !u.device.isUnacked(seq)) ?? []) u.link.publishRaw(bad);
      }
      await until(
        () => this.#units.every((u) => (u.faults?.awaited ?? 0) === 0) && (this.#probe?.awaited ?? 0) === 0,
      );
      if (this.#saver) clearInterval(this.#saver);
      for (const u of this.#units) this.#save(u, true);
      await Promise.allSettled(this.#units.map((u) => u.link.close()));
      await this.#probe?.close();
      return this.stats();
    })();
    return this.#stopping;
  }

  #run(): void {
    this.#t0 = performance.now();
    // Fine enough that each tick sends about one device's frame (the phases spread them).
    const tickMs = Math.min(250, Math.max(5, 1000 / (this.#opts.rateHz * Math.max(1, this.#units.length))));
    this.#ticker = setInterval(() => this.#tick(), tickMs);
    this.#saver = setInterval(() => {
      for (const u of this.#units) this.#save(u, false);
    }, SAVE_INTERVAL_MS);
    this.#saver.unref();
    this.#tick();
  }

  #tick(): void {
    const { rateHz, durationMs, maxFrames, onReading } = this.#opts;
    const elapsed = performance.now() - this.#t0;
    const inTime = durationMs === undefined || elapsed < durationMs;
    const periods = (elapsed * rateHz) / 1000;
    const last =
      durationMs === undefined ? Number.POSITIVE_INFINITY : Math.ceil((durationMs * rateHz) / 1000);
    for (const u of this.#units) {
      if (!u.producing) continue;
      // Frame k (0-based) of a device is due at (k + phase) / rateHz seconds after the start.
      let due = Math.min(Math.floor(periods - u.phase) + 1, last);
      if (maxFrames !== undefined) due = Math.min(due, maxFrames);
      for (let burst = 0; u.count < due && burst < MAX_BURST; burst++) {
        let frame: ReturnType<SimDevice['makeFrame']>;
        try {
          frame = u.device.makeFrame();
        } catch (err) {
          // No durable reservation, no frame (a seq must never be used twice, across a crash
          // too); as a wearable does, it tries again at the next tick (a full disk is freed).
          this.#trouble(u, 'make', err);
          break;
        }
        u.troubled.make = false;
        u.count++;
        const { seq, ts, obs, bat, wf } = frame.body;
        safeCall(onReading, {
          devId: u.spec.devId,
          seq,
          ts,
          obs,
          ...(bat !== undefined ? { bat } : {}),
          ...(wf ? { ecgSamples: wf.s.byteLength / 2 } : {}),
        });
        // A failed send leaves the frame in the outbox; the link resends it after a reconnect.
        u.link.send(frame).catch(() => {});
        if (u.faults) {
          const settled = (seq: number) => !u.device.isUnacked(seq);
          for (const bad of u.faults.alongside(frame.body, settled)) u.link.publishRaw(bad);
          if (this.#probe && u.faults.wantsUnknown()) this.#probe.send();
        }
      }
      if (!inTime || (maxFrames !== undefined && u.count >= maxFrames)) u.producing = false;
    }
    if (this.#units.every((u) => !u.producing)) this.#halt();
  }

  #halt(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    for (const u of this.#units) u.producing = false;
    this.#finish();
  }

  #save(u: Unit, clean: boolean): void {
    const path = u.spec.statePath;
    if (!path) return;
    const state = u.device.state;
    if (!clean && state.seq === u.savedSeq) return;
    try {
      // Mid-run saves keep the reservation; only the final save marks a clean stop.
      saveDeviceState(path, state, { reservedThrough: clean ? state.seq : u.device.reservedThrough });
      u.savedSeq = state.seq;
      u.troubled.save = false;
    } catch (err) {
      this.#trouble(u, 'save', err);
    }
  }

  /** Tells `onError` of a device's trouble once, until that trouble is over. */
  #trouble(u: Unit, kind: 'make' | 'save', err: unknown): void {
    if (u.troubled[kind]) return;
    u.troubled[kind] = true;
    safeCall(this.#opts.onError, u.spec.devId, err);
  }

  #recordLatency(ms: number): void {
    this.#latency[this.#latencyCount % LATENCY_WINDOW] = ms;
    this.#latencyCount++;
  }
}
