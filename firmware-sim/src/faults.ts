/**
 * @module firmware-sim/faults
 * Fault injection for the simulated fleet (issue 3): bad frames mixed among a device's
 * good ones, each kind aimed at one acceptance rule of PROTOCOL.md §1:
 * - `forge`: the genuine frame with random signature bytes → `bad_signature`
 * - `replay`: an earlier seq of the device with other bytes → `replay_conflict`
 * - `skew`: the genuine frame re-signed with `ts` moved `skewMs` ahead → `clock_skew`
 * - `wrongKey`: the genuine body signed with a key the KGC never issued → `bad_signature`
 * - `unknown`: a frame of a device id the KGC never issued, from its own connection → `unknown_device`
 *   (on a mutual-TLS listener that connection is refused at the handshake instead).
 *
 * Fault frames are published raw (`MqttDeviceLink.publishRaw`): they never enter the
 * device's outbox, and the rejects they earn are claimed here (by seq) and counted apart,
 * so the device's own ack/reject bookkeeping stays exact. Fractions are per genuine frame.
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type FrameBody, signFrame, ZERO_HASH } from '../../gateway/src/protocol/frame.js';
import { mulberry32 } from './physiology.js';

export type FaultKind = 'forge' | 'replay' | 'skew' | 'wrongKey' | 'unknown';

/** Fractions in [0, 1] of genuine frames that get one bad frame of each kind alongside. */
export interface FaultMix {
  forge?: number;
  replay?: number;
  skew?: number;
  /** How far ahead a `skew` frame's ts is, default 10 minutes (the gateway allows 5). */
  skewMs?: number;
  wrongKey?: number;
  unknown?: number;
  /**
   * Deterministic choice of which frames get faults (default: random). In a fleet it is one
   * generator shared by every device, whose draws interleave as the fleet makes frames; give
   * `seed` instead for faults that are deterministic per device.
   */
  random?: () => number;
  /**
   * Seeds the injector's own generator (mulberry32) instead of `random`. A fleet gives each
   * device its own, seeded from this and the device's id (firmware-sim/src/fleet.ts
   * `deviceFaultMix`), so a device's faults do not depend on how the devices' draws interleave.
   */
  seed?: number;
}

export const DEFAULT_SKEW_MS = 10 * 60_000;
const KINDS: readonly FaultKind[] = ['forge', 'replay', 'skew', 'wrongKey', 'unknown'];

export interface FaultStats {
  /** Bad frames sent, by kind. */
  sent: Record<string, number>;
  /** Rejections the bad frames earned, by code. */
  rejected: Record<string, number>;
}

/**
 * Checks a mix: every fraction a number in [0, 1].
 * @throws {RangeError} naming the bad field.
 */
export function checkFaultMix(mix: FaultMix): void {
  for (const k of KINDS) {
    const v = mix[k];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) {
      throw new RangeError(`faults.${k} must be a fraction in [0, 1]`);
    }
  }
  if (mix.skewMs !== undefined && !(Number.isFinite(mix.skewMs) && mix.skewMs > 0)) {
    throw new RangeError('faults.skewMs must be a positive number');
  }
  if (mix.seed !== undefined && !Number.isSafeInteger(mix.seed)) {
    throw new RangeError('faults.seed must be a safe integer');
  }
  if (mix.seed !== undefined && mix.random !== undefined) {
    throw new TypeError('faults.seed and faults.random exclude each other');
  }
}

function bump(r: Record<string, number>, k: string): void {
  r[k] = (r[k] ?? 0) + 1;
}

/** One device's injector: decides, makes the bad frames, and claims their rejects. */
export class FaultInjector {
  readonly stats: FaultStats = { sent: Object.create(null), rejected: Object.create(null) };
  readonly #key: KeyObject;
  readonly #mix: FaultMix;
  readonly #rand: () => number;
  readonly #stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  /** Earlier genuine bodies (a few) to replay. */
  readonly #history: FrameBody[] = [];
  /** seq → rejects still expected for bad frames of that seq. */
  readonly #expecting = new Map<number, number>();
  /** Replays drawn before any earlier frame was settled: owed until one is. */
  #owedReplays = 0;
  /** Replays made so far: each one's `bat` differs from the frame it replays and from the last. */
  #replaysMade = 0;

  constructor(deviceKey: KeyObject, mix: FaultMix) {
    checkFaultMix(mix);
    this.#key = deviceKey;
    this.#mix = mix;
    this.#rand = mix.random ?? (mix.seed !== undefined ? mulberry32(mix.seed) : Math.random);
  }

  /**
   * The bad frames (possibly none) to publish next to the genuine frame `body`. A replay
   * targets only a seq `settled(seq)` says the gateway has already decided (else the
   * "replay", validly signed, could be accepted in place of the genuine frame); one drawn
   * while none is settled yet is owed, and made alongside a later frame or by `payOwed`.
   */
  alongside(body: FrameBody, settled: (seq: number) => boolean = () => true): Uint8Array[] {
    const out: Uint8Array[] = [];
    const hit = (k: FaultKind) => (this.#mix[k] ?? 0) > 0 && this.#rand() < (this.#mix[k] ?? 0);
    if (hit('forge')) {
      const good = signFrame(body, this.#key);
      const bad = new Uint8Array(good);
      bad.set(randomBytes(64), bad.length - 64); // ES256 r||s is the last 64 bytes
      out.push(this.#note('forge', body.seq, bad));
    }
    // Drawn whether or not a frame is settled yet (acks come when they come), and owed
    // until one is, so the draws per frame, and with a seeded `random` the faults sent, do
    // not depend on timing (a burst of frames made before any ack still gets its replays).
    if (hit('replay')) this.#owedReplays += 1;
    out.push(...this.#replays(settled));
    if (hit('skew')) {
      const ts = body.ts + (this.#mix.skewMs ?? DEFAULT_SKEW_MS);
      out.push(this.#note('skew', body.seq, signFrame({ ...body, ts }, this.#key)));
    }
    if (hit('wrongKey')) out.push(this.#note('wrongKey', body.seq, signFrame(body, this.#stranger)));
    this.#history.push(body);
    if (this.#history.length > 16) this.#history.shift();
    return out;
  }

  /**
   * The replays still owed, made now if an earlier frame is settled (none otherwise). The
   * fleet calls this when it stops, once its outbox is empty.
   */
  payOwed(settled: (seq: number) => boolean): Uint8Array[] {
    return this.#replays(settled);
  }

  /** Reject reports still expected for the bad frames sent (the fleet's stop waits for them). */
  get awaited(): number {
    let n = 0;
    for (const v of this.#expecting.values()) n += v;
    return n;
  }

  #replays(settled: (seq: number) => boolean): Uint8Array[] {
    if (this.#owedReplays === 0) return [];
    const old = this.#history.find((b) => settled(b.seq));
    if (!old) return [];
    const out: Uint8Array[] = [];
    for (; this.#owedReplays > 0; this.#owedReplays--) {
      // bat in 0..100, never the replayed frame's own (k < 100 steps past it, mod 101)
      const bat = ((old.bat ?? -1) + 1 + (this.#replaysMade++ % 100)) % 101;
      out.push(this.#note('replay', old.seq, signFrame({ ...old, bat }, this.#key)));
    }
    return out;
  }

  /** Whether the next genuine frame should also trigger an unknown-device frame. */
  wantsUnknown(): boolean {
    return (this.#mix.unknown ?? 0) > 0 && this.#rand() < (this.#mix.unknown ?? 0);
  }

  /**
   * Claims a reject report for a seq this injector sent a bad frame for; true when claimed
   * (the device must then not see it).
   */
  claim(seq: number, code: string): boolean {
    const n = this.#expecting.get(seq);
    if (!n) return false;
    if (n > 1) this.#expecting.set(seq, n - 1);
    else this.#expecting.delete(seq);
    bump(this.stats.rejected, code);
    return true;
  }

  #note(kind: FaultKind, seq: number, bytes: Uint8Array): Uint8Array {
    bump(this.stats.sent, kind);
    this.#expecting.set(seq, (this.#expecting.get(seq) ?? 0) + 1);
    if (this.#expecting.size > 10_000) this.#expecting.delete(this.#expecting.keys().next().value as number);
    return bytes;
  }
}

/**
 * A device id the KGC never issued, with its own MQTT connection, publishing frames signed
 * by a fresh key and counting the rejects it gets (`unknown_device`) — or the refusal of
 * its connection, counted as `connect_refused`.
 */
export class UnknownDeviceProbe {
  readonly stats: FaultStats = { sent: Object.create(null), rejected: Object.create(null) };
  readonly devId = `ghost-${randomBytes(4).toString('hex')}`;
  readonly #key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  #client: MqttClient | undefined;
  #seq = 0;

  /** Connects (failures are counted, not thrown). */
  async start(url: string, clientOptions: IClientOptions = {}): Promise<void> {
    const base = `vt/v1/dev/${this.devId}`;
    try {
      const { cert: _c, key: _k, ...rest } = clientOptions; // a ghost has no KGC certificate
      // allowRetries false: a connection closed before its CONNACK rejects instead of
      // leaving connectAsync pending for good (mqtt.js waits for an event that never comes).
      this.#client = await mqtt.connectAsync(
        url,
        { ...rest, clientId: this.devId, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4 },
        false,
      );
      this.#client.on('message', (_t, m) => {
        try {
          const { code } = JSON.parse(m.toString()) as { code?: unknown };
          bump(this.stats.rejected, typeof code === 'string' ? code : 'unknown');
        } catch {
          // not ours to judge
        }
      });
      await this.#client.subscribeAsync(`${base}/rejects`, { qos: 1 });
    } catch {
      bump(this.stats.rejected, 'connect_refused');
      this.#client = undefined;
    }
  }

  send(): void {
    if (!this.#client) return;
    this.#seq += 1;
    const body: FrameBody = {
      v: 1,
      dev: this.devId,
      seq: this.#seq,
      ts: Date.now(),
      prev: this.#seq === 1 ? ZERO_HASH : new Uint8Array(32).fill(1),
      obs: { hr: 70 },
    };
    bump(this.stats.sent, 'unknown');
    this.#client.publish(`vt/v1/dev/${this.devId}/frames`, Buffer.from(signFrame(body, this.#key)), {
      qos: 1,
    });
  }

  /** Reject reports still expected for the frames sent (the fleet's stop waits for them). */
  get awaited(): number {
    const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    return this.#client ? Math.max(0, total(this.stats.sent) - total(this.stats.rejected)) : 0;
  }

  async close(): Promise<void> {
    await this.#client?.endAsync().catch(() => {});
  }
}

/** Adds fault stats into a fleet's `rejected` totals and returns the sent counts. */
export function mergeFaultStats(
  rejected: Record<string, number>,
  all: readonly FaultStats[],
): Record<string, number> {
  const sent: Record<string, number> = Object.create(null);
  for (const s of all) {
    for (const [k, n] of Object.entries(s.sent)) sent[k] = (sent[k] ?? 0) + n;
    for (const [k, n] of Object.entries(s.rejected)) rejected[k] = (rejected[k] ?? 0) + n;
  }
  return sent;
}
