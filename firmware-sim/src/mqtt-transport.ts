/**
 * @module firmware-sim/mqtt-transport
 * The MQTT transport of one simulated device (PROTOCOL.md §2): frames go to
 * `vt/v1/dev/{dev}/frames` at QoS 1, not retained; rejections come back as JSON on
 * `vt/v1/dev/{dev}/rejects`; behind an external broker the application acks come as JSON
 * on `vt/v1/dev/{dev}/acks`. Client: mqtt.js 5 (MQTT 3.1.1 by default, which aedes speaks).
 *
 * When is a frame done (dropped from the device's outbox)?
 * - embedded broker (default): on its PUBACK, which the gateway sends only once the frame
 *   is durable (PROTOCOL.md §2) — for rejected frames too, whose decision is final;
 * - external broker (`appAcks: true`): only on the gateway's `{"seq": n}` on `/acks`,
 *   because a broker PUBACK only means the broker has it.
 * A frame is never dropped before its PUBACK. A publish that errors, or whose connection
 * drops before the PUBACK, keeps its frame in the outbox: mqtt.js itself retransmits
 * QoS 1 publishes that were in flight when the connection dropped, and `resendUnacked`
 * republishes (after every reconnect, and in `appAcks` mode also after `ackTimeoutMs`)
 * every outbox frame that has no publish in flight. Resending is harmless: the gateway
 * acknowledges identical bytes for an accepted (dev, seq) as a duplicate.
 *
 * Trust: messages on `/rejects` and `/acks` come from the network; they are parsed
 * defensively (size limit, JSON, integer seq) and anything else is ignored.
 */
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { errorClass } from '../../gateway/src/protocol/errors.js';
import type { SimDevice, SimFrame } from './device.js';

/** Topics of one device (PROTOCOL.md §2). */
export function deviceTopics(dev: string): { frames: string; rejects: string; acks: string } {
  const base = `vt/v1/dev/${dev}`;
  return { frames: `${base}/frames`, rejects: `${base}/rejects`, acks: `${base}/acks` };
}

export class MqttLinkError extends errorClass<'sim_link'>('MqttLinkError') {}
export type MqttLinkErrorCode = MqttLinkError['code'];

export interface MqttDeviceLinkOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883` or `mqtts://…`. */
  url: string;
  device: SimDevice;
  /**
   * Extra mqtt.js options (TLS `cert`/`key`/`ca`, `reconnectPeriod`, …). `clientId` is
   * always the device id and `clean` always true. Defaults: reconnectPeriod 1000 ms,
   * connectTimeout 10 s, protocolVersion 4 (MQTT 3.1.1).
   */
  clientOptions?: IClientOptions;
  /** Called with the publish → PUBACK time of every frame, in ms. */
  onLatency?: (ms: number) => void;
  /**
   * Default false: a PUBACK means done (embedded broker). True: keep each frame until
   * `{"seq": n}` arrives on `vt/v1/dev/{dev}/acks` (external broker mode, PROTOCOL.md §2).
   */
  appAcks?: boolean;
  /** appAcks mode: resend a frame that got its PUBACK but no ack after this long, default 10000 ms. */
  ackTimeoutMs?: number;
  /** How long `connect` waits for the first CONNACK, default 10000 ms. */
  connectTimeoutMs?: number;
  /** Sees each reject report first; returning true claims it (the device never sees it). Used by fault injection. */
  onReject?: (seq: number, code: string) => boolean;
}

/** Largest `/rejects` or `/acks` message we parse; real ones are well under 1 KiB. */
const MAX_CONTROL_MESSAGE_BYTES = 4096;
const DEFAULT_ACK_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Waits for the client's first CONNACK; fails fast on a CONNACK refusal. */
function firstConnect(client: MqttClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let lastError: unknown;
    const done = (err?: MqttLinkError) => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = () => done();
    const onError = (err: Error & { code?: unknown }) => {
      lastError = err;
      // A CONNACK refusal carries a numeric return code: retrying will not help.
      if (typeof err.code === 'number') {
        done(new MqttLinkError('connect_failed', 'the broker refused the connection', { cause: err }));
      }
    };
    const timer = setTimeout(
      () => done(new MqttLinkError('connect_failed', 'no CONNACK in time', { cause: lastError })),
      timeoutMs,
    );
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

/**
 * One device's MQTT session.
 * @example
 * const link = await MqttDeviceLink.connect({ url: 'mqtt://127.0.0.1:1883', device });
 * await link.send(device.makeFrame()); // resolves on PUBACK; the frame has left the outbox
 * await link.close();
 */
export class MqttDeviceLink {
  readonly device: SimDevice;
  readonly #client: MqttClient;
  readonly #topics: ReturnType<typeof deviceTopics>;
  readonly #appAcks: boolean;
  readonly #onReject: ((seq: number, code: string) => boolean) | undefined;
  readonly #ackTimeoutMs: number;
  readonly #onLatency: ((ms: number) => void) | undefined;
  /** seq -> publishes of it still waiting for their PUBACK. */
  readonly #inflight = new Map<number, number>();
  /** Rejecters of the promises `send` returned that have not settled. */
  readonly #pending = new Set<(err: Error) => void>();
  /** appAcks: seq -> when its last PUBACK came (ms, monotonic). */
  readonly #pubackedAt = new Map<number, number>();
  #ackTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastError: unknown;

  private constructor(client: MqttClient, opts: MqttDeviceLinkOptions) {
    this.#client = client;
    this.device = opts.device;
    this.#topics = deviceTopics(opts.device.devId);
    this.#appAcks = opts.appAcks ?? false;
    this.#onReject = opts.onReject;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.#onLatency = opts.onLatency;
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
    // Every reconnect: mqtt.js has retransmitted what was in flight; we add what is left.
    client.on('connect', () => void this.resendUnacked());
    if (this.#appAcks) {
      this.#ackTimer = setInterval(() => this.#resendOverdue(), Math.max(50, this.#ackTimeoutMs / 2));
      this.#ackTimer.unref();
    }
  }

  /**
   * Connects (clientId = device id, clean session), subscribes QoS 1 to the device's
   * `/rejects` (and `/acks` with `appAcks`), then starts resending any frames already in
   * the device's outbox.
   * @throws {TypeError|RangeError} on invalid options.
   * @throws {MqttLinkError} `connect_failed` when no CONNACK comes in time, the broker
   *   refuses the connection, or it refuses a subscription.
   */
  static async connect(opts: MqttDeviceLinkOptions): Promise<MqttDeviceLink> {
    if (typeof opts.url !== 'string' || opts.url === '')
      throw new TypeError('MqttDeviceLink: url must be a string');
    if (typeof opts.device?.makeFrame !== 'function')
      throw new TypeError('MqttDeviceLink: device must be a SimDevice');
    const ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    if (!(Number.isFinite(ackTimeoutMs) && ackTimeoutMs > 0)) {
      throw new RangeError('MqttDeviceLink: ackTimeoutMs must be a positive number');
    }
    const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0)) {
      throw new RangeError('MqttDeviceLink: connectTimeoutMs must be a positive number');
    }
    const client = connect(opts.url, {
      reconnectPeriod: 1000,
      connectTimeout: connectTimeoutMs,
      protocolVersion: 4,
      ...opts.clientOptions,
      clientId: opts.device.devId, // PROTOCOL.md §2: MQTT client id = device id
      clean: true,
    });
    let link: MqttDeviceLink | undefined;
    // mqtt.js emits socket errors on every failed reconnect; an unhandled 'error' would crash.
    client.on('error', (err) => {
      if (link) link.#lastError = err;
    });
    try {
      await firstConnect(client, connectTimeoutMs);
      link = new MqttDeviceLink(client, opts);
      const topics = deviceTopics(opts.device.devId);
      const subs: Record<string, { qos: 1 }> = { [topics.rejects]: { qos: 1 } };
      if (opts.appAcks) subs[topics.acks] = { qos: 1 };
      const granted = await client.subscribeAsync(subs);
      if (granted.some((g) => g.qos !== 1 && g.qos !== 0)) {
        throw new MqttLinkError('connect_failed', 'the broker refused a subscription');
      }
    } catch (err) {
      if (link) {
        link.#closed = true;
        if (link.#ackTimer) clearInterval(link.#ackTimer);
      }
      await client.endAsync(true);
      throw err instanceof MqttLinkError
        ? err
        : new MqttLinkError('connect_failed', 'the session could not be set up', { cause: err });
    }
    void link.resendUnacked();
    return link;
  }

  /** True while the session is up. */
  get connected(): boolean {
    return this.#client.connected;
  }

  /** The last transport error mqtt.js reported (for diagnostics; never logged here). */
  get lastError(): unknown {
    return this.#lastError;
  }

  /**
   * Publishes a frame at QoS 1, not retained (PROTOCOL.md §2). While disconnected the
   * publish waits in mqtt.js and goes out after the reconnect.
   * Resolves on the PUBACK (then, unless `appAcks`, the device drops the frame).
   * @throws {MqttLinkError} `publish_failed` when mqtt.js fails the publish, `link_closed`
   *   when the link is or gets closed first; the frame stays in the outbox either way.
   */
  send(frame: SimFrame): Promise<void> {
    if (this.#closed) return Promise.reject(new MqttLinkError('link_closed', 'the link is closed'));
    const { seq, bytes } = frame;
    this.#inflight.set(seq, (this.#inflight.get(seq) ?? 0) + 1);
    const t0 = performance.now();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        this.#pending.delete(fail);
        const n = (this.#inflight.get(seq) ?? 1) - 1;
        if (n > 0) this.#inflight.set(seq, n);
        else this.#inflight.delete(seq);
        return true;
      };
      const fail = (err: Error) => {
        if (settle()) reject(err);
      };
      this.#pending.add(fail);
      const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.#client.publish(this.#topics.frames, payload, { qos: 1, retain: false }, (err) => {
        if (err) {
          fail(new MqttLinkError('publish_failed', 'the publish failed', { cause: err }));
          return;
        }
        if (!settle()) return;
        this.#onPuback(seq, performance.now() - t0);
        resolve();
      });
    });
  }

  /**
   * Publishes bytes on the device's frames topic (QoS 1) outside the outbox: no ack
   * bookkeeping, no resend. For fault injection only (firmware-sim/src/faults.ts).
   */
  publishRaw(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#client.publish(this.#topics.frames, Buffer.from(bytes), { qos: 1, retain: false }, () => {});
  }

  /**
   * Republishes, oldest first, every outbox frame that has no publish in flight. Called on
   * every (re)connect; resolves when each of them got its PUBACK or failed (a failed one
   * stays in the outbox for the next attempt).
   */
  async resendUnacked(): Promise<void> {
    if (this.#closed) return;
    const frames = this.device.unacked.filter((f) => !this.#inflight.has(f.seq));
    await this.#resend(frames);
  }

  /**
   * Stops the ack timer, fails the pending sends with `link_closed` (their frames stay in the
   * outbox), and ends the session (DISCONNECT when nothing is pending, else drops the socket).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ackTimer) clearInterval(this.#ackTimer);
    const graceful = this.#client.connected && this.#pending.size === 0;
    const err = new MqttLinkError('link_closed', 'the link was closed before the PUBACK');
    for (const fail of [...this.#pending]) fail(err);
    await this.#client.endAsync(!graceful);
  }

  async #resend(frames: SimFrame[]): Promise<void> {
    if (frames.length === 0) return;
    this.device.noteResent(frames.length);
    await Promise.allSettled(frames.map((f) => this.send(f)));
  }

  #onPuback(seq: number, latencyMs: number): void {
    try {
      this.#onLatency?.(latencyMs);
    } catch {
      // A broken statistics hook must not affect delivery.
    }
    if (!this.#appAcks) {
      this.device.ack(seq); // PROTOCOL.md §2: the PUBACK means the gateway has it durably
    } else if (this.device.isUnacked(seq)) {
      this.#pubackedAt.set(seq, performance.now());
    }
  }

  /** appAcks: resend frames whose PUBACK came long ago but whose application ack did not. */
  #resendOverdue(): void {
    if (this.#closed || !this.#client.connected) return;
    const cutoff = performance.now() - this.#ackTimeoutMs;
    for (const seq of this.#pubackedAt.keys()) {
      if (!this.device.isUnacked(seq)) this.#pubackedAt.delete(seq);
    }
    const overdue = this.device.unacked.filter((f) => {
      const at = this.#pubackedAt.get(f.seq);
      return at !== undefined && at < cutoff && !this.#inflight.has(f.seq);
    });
    void this.#resend(overdue);
  }

  /** Handles `/rejects` and `/acks`: attacker-controlled JSON, parsed defensively. */
  #onMessage(topic: string, payload: Buffer): void {
    if (this.#closed || payload.length > MAX_CONTROL_MESSAGE_BYTES) return;
    const isReject = topic === this.#topics.rejects;
    const isAck = this.#appAcks && topic === this.#topics.acks;
    if (!isReject && !isAck) return;
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (typeof doc !== 'object' || doc === null) return;
    const { seq, code } = doc as { seq?: unknown; code?: unknown };
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return;
    this.#pubackedAt.delete(seq);
    if (isReject) {
      const c = typeof code === 'string' ? code : 'unknown';
      if (!this.#onReject?.(seq, c)) this.device.reject(seq, c);
    } else this.device.ack(seq); // PROTOCOL.md §2: application ack, the frame is durable at the gateway
  }
}
