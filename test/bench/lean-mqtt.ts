/**
 * @module test/bench/lean-mqtt
 * A minimal MQTT 3.1.1 client (OASIS MQTT 3.1.1 §3) for the benchmarks' load generator and
 * pass-through drain: CONNECT (clean session), SUBSCRIBE at QoS 1, PUBLISH at QoS 1 with its
 * PUBACK, and the PUBACK of every QoS 1 PUBLISH it receives. It exists so that the devices'
 * driver costs a few microseconds per frame (mqtt.js costs tens): the benchmarks measure the
 * gateway and the broker, not the load generator. Not a device implementation (that is
 * firmware-sim, on mqtt.js): no reconnects, no retransmission, no session state.
 *
 * Writes made within one tick are corked into one send; every socket has TCP_NODELAY.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { mqttString, remainingLength } from '../helpers/mqtt-packets.js';

export interface LeanOptions {
  host: string;
  port: number;
  clientId: string;
  /** Seconds; default 60. */
  keepalive?: number;
  /** A QoS 1 PUBLISH from the broker (after its PUBACK is queued). */
  onMessage?: (topic: string, payload: Buffer) => void;
  /** The connection closed (after the CONNACK). */
  onClose?: () => void;
}

const CONNACK = 2;
const PUBLISH = 3;
const PUBACK = 4;
const SUBACK = 9;
const PINGRESP = 13;

/** The bytes of a QoS 1 PUBLISH of `payload` on a topic given as its length-prefixed field. */
export function publishPacket(topicField: Buffer, packetId: number, payload: Uint8Array): Buffer {
  const rest = topicField.length + 2 + payload.length;
  const rl = remainingLength(rest);
  const out = Buffer.allocUnsafe(1 + rl.length + rest);
  out[0] = 0x32; // PUBLISH, QoS 1, not DUP, not RETAIN
  rl.copy(out, 1);
  let at = 1 + rl.length;
  topicField.copy(out, at);
  at += topicField.length;
  out.writeUInt16BE(packetId, at);
  out.set(payload, at + 2);
  return out;
}

export class LeanClient {
  readonly socket: Socket;
  readonly #acks = new Map<number, () => void>();
  #nextId = 1;
  #buf: Buffer = Buffer.alloc(0);
  #corked = false;
  #onConnack: ((rc: number) => void) | undefined;
  #onSuback: (() => void) | undefined;
  readonly #opts: LeanOptions;
  #closed = false;

  private constructor(socket: Socket, opts: LeanOptions) {
    this.socket = socket;
    this.#opts = opts;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('close', () => {
      this.#closed = true;
      opts.onClose?.();
    });
    socket.on('error', () => {});
  }

  /**
   * Connects and waits for CONNACK 0.
   * @throws {Error} when the connection fails or the broker refuses it.
   */
  static connect(opts: LeanOptions): Promise<LeanClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: opts.host, port: opts.port, noDelay: true });
      const c = new LeanClient(socket, opts);
      const fail = (err: Error) => reject(err);
      socket.once('error', fail);
      socket.once('close', () => reject(new Error('closed before CONNACK')));
      c.#onConnack = (rc) => {
        socket.off('error', fail);
        if (rc === 0) resolve(c);
        else reject(new Error(`CONNACK ${rc}`));
      };
      const vh = Buffer.concat([
        mqttString('MQTT'),
        Buffer.from([4, 0x02]), // protocol level 4 (3.1.1), clean session
        Buffer.from([((opts.keepalive ?? 60) >> 8) & 0xff, (opts.keepalive ?? 60) & 0xff]),
        mqttString(opts.clientId),
      ]);
      socket.write(Buffer.concat([Buffer.from([0x10]), remainingLength(vh.length), vh]));
    });
  }

  get connected(): boolean {
    return !this.#closed;
  }

  /** Packets awaiting their PUBACK. */
  get inFlight(): number {
    return this.#acks.size;
  }

  /** Subscribes to `filter` at QoS 1 and waits for the SUBACK. */
  subscribe(filter: string): Promise<void> {
    return new Promise((resolve) => {
      this.#onSuback = resolve;
      const body = Buffer.concat([Buffer.from([0, 1]), mqttString(filter), Buffer.from([1])]);
      this.#send(Buffer.concat([Buffer.from([0x82]), remainingLength(body.length), body]));
    });
  }

  /**
   * Publishes at QoS 1; `onPuback` runs when the PUBACK arrives.
   * @param topicField the topic as a length-prefixed UTF-8 field (see `topicField`)
   */
  publish(topicField: Buffer, payload: Uint8Array, onPuback: () => void): void {
    let id = this.#nextId;
    while (this.#acks.has(id)) id = (id % 0xffff) + 1;
    this.#nextId = (id % 0xffff) + 1;
    this.#acks.set(id, onPuback);
    this.#send(publishPacket(topicField, id, payload));
  }

  end(): void {
    if (this.#closed) return;
    this.socket.end(Buffer.from([0xe0, 0])); // DISCONNECT
  }

  destroy(): void {
    this.socket.destroy();
  }

  #send(bytes: Buffer): void {
    if (this.#closed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  #read(chunk: Buffer): void {
    let buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      let len = 0;
      let mul = 1;
      let i = at + 1;
      let complete = false;
      for (; i < buf.length && i < at + 5; i++) {
        const b = buf[i] as number;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i += 1;
          break;
        }
      }
      if (!complete || buf.length < i + len) break;
      this.#packet(buf[at] as number, buf.subarray(i, i + len));
      at = i + len;
    }
    buf = buf.subarray(at);
    this.#buf = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  #packet(first: number, body: Buffer): void {
    switch (first >> 4) {
      case CONNACK:
        this.#onConnack?.(body[1] as number);
        this.#onConnack = undefined;
        return;
      case PUBACK: {
        const id = body.readUInt16BE(0);
        const done = this.#acks.get(id);
        if (done) {
          this.#acks.delete(id);
          done();
        }
        return;
      }
      case PUBLISH: {
        const qos = (first >> 1) & 3;
        const tl = body.readUInt16BE(0);
        const topic = body.toString('utf8', 2, 2 + tl);
        let at = 2 + tl;
        if (qos > 0) {
          const id = body.readUInt16BE(at);
          at += 2;
          this.#send(Buffer.from([0x40, 2, id >> 8, id & 0xff]));
        }
        this.#opts.onMessage?.(topic, body.subarray(at));
        return;
      }
      case SUBACK:
        this.#onSuback?.();
        this.#onSuback = undefined;
        return;
      case PINGRESP:
        return;
      default:
        return;
    }
  }
}

/** A topic as the length-prefixed field PUBLISH carries (computed once per device). */
export function topicField(topic: string): Buffer {
  return mqttString(topic);
}

/** host and port of an `mqtt://host:port` URL. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 1883) };
}
