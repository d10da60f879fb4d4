/**
 * @module io/transport/mqtt-edge
 * The guarded connection the embedded broker (aedes) reads from instead of the raw
 * socket. Every byte a client sends passes protocol/mqtt-framing first, so:
 * - a packet over its size limit is refused at its fixed header, before its body is read
 *   (CONNECT a few KB, PUBLISH a frame plus its topic);
 * - a packet that breaks a MUST of MQTT 3.1.1 never reaches aedes (protocol/mqtt-rules);
 * - a packet begun and not finished within `packetTimeoutMs`, or a CONNECT not complete
 *   within `connectTimeoutMs`, closes the connection;
 * - after the CONNECT nothing more is read until the broker has answered it (the client
 *   cannot queue packets behind an authentication in progress);
 * - PUBLISH packets over the connection's rate are not dropped: they are held, and the
 *   socket is not read, until the token bucket allows them (TCP flow control slows the
 *   device down; at most one read's worth of packets is held).
 * Each PUBLISH's read time is kept, so the ack latency counts from the socket read.
 *
 * A device's frames need not go through aedes at all: the broker may take a PUBLISH itself
 * (`takePublish`: a QoS 1 frame on the device's own topic, io/transport/mqtt-broker), which
 * saves aedes' second parse of bytes the framer has already split and checked. It is offered
 * a PUBLISH only when aedes has read every packet passed on before it, so the two paths never
 * reorder what a client sent; and at most `maxTaken` taken PUBLISHes may wait for their
 * answer, after which the socket is not read (as aedes reads no further while a batch of its
 * own is unanswered).
 *
 * The edge is a Duplex: aedes writes to it as to the socket, and its reads come out
 * checked. Closing either side closes both.
 */

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { type RateLimit, TokenBucket } from '../../core/ingress-limits.js';
import { type EdgeRefusal, MqttFramer, type MqttPacketLimits } from '../../protocol/mqtt-framing.js';
import { PacketType } from '../../protocol/mqtt-rules.js';

export interface EdgeOptions {
  limits: MqttPacketLimits;
  /** A CONNECT must be complete this long after the connection opened. */
  connectTimeoutMs: number;
  /** A packet begun must be complete within this. */
  packetTimeoutMs: number;
  rate: RateLimit;
  /** Called once, when the edge closes the connection itself (not when the client leaves). */
  onRefused: (r: EdgeCloseReason) => void;
  now?: () => number;
  /**
   * Takes a checked PUBLISH instead of passing it on to aedes (true), or declines it (false:
   * aedes gets it). `answered` is to be called once, when the PUBLISH has been answered.
   */
  takePublish?: (packet: Uint8Array, readAt: number, answered: () => void) => boolean;
  /** Taken PUBLISHes waiting for their answer, at most (default 64). */
  maxTaken?: number;
}

/** Why the edge closed a connection. */
export type EdgeCloseReason =
  | EdgeRefusal
  | { code: 'connect_timeout' | 'packet_timeout'; rule: string; connack?: undefined };

/** Why the socket is not read: each reason one bit of `#paused` (a Set per connection cost ~120 bytes). */
const PAUSE = { backpressure: 1, connack: 2, rate: 4, taken: 8 } as const;
type PauseReason = keyof typeof PAUSE;

export class MqttEdge extends Duplex {
  readonly socket: Socket;
  readonly #o: EdgeOptions;
  readonly #framer: MqttFramer;
  readonly #bucket: TokenBucket;
  #paused = 0;
  /** performance.now() of each PUBLISH passed on and not yet claimed by the broker. */
  readonly #readAt: number[] = [];
  /** Checked packets not yet passed on (PUBLISHes over the rate, and what follows them). */
  readonly #held: { bytes: Uint8Array; readAt: number }[] = [];
  /** The first bytes aedes writes, until they show the CONNACK's return code. */
  #firstWrite: number[] | null = [];
  #connectTimer: NodeJS.Timeout | null;
  #packetTimer: NodeJS.Timeout | null = null;
  #rateTimer: NodeJS.Timeout | null = null;
  #refused = false;
  /** PUBLISHes taken by the broker (`takePublish`) and not yet answered. */
  #taken = 0;
  readonly #maxTaken: number;
  /** Given with each taken PUBLISH; called once, when it is answered. */
  readonly #answered = (): void => {
    this.#taken -= 1;
    if (this.#paused & PAUSE.taken && this.#taken < this.#maxTaken) {
      this.#resume('taken');
      this.#release();
    }
  };

  constructor(socket: Socket, opts: EdgeOptions) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.#o = opts;
    this.#framer = new MqttFramer(opts.limits);
    this.#bucket = new TokenBucket(opts.rate, this.#now());
    this.#maxTaken = opts.maxTaken ?? 64;
    this.#connectTimer = setTimeout(
      () => this.#close({ code: 'connect_timeout', rule: `no CONNECT within ${opts.connectTimeoutMs} ms` }),
      opts.connectTimeoutMs,
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** The read time (performance.now()) of the oldest PUBLISH not yet claimed. */
  takePublishReadAt(): number | undefined {
    const at = this.#readAt.shift();
    // An emptied array keeps its spare slots (~130 bytes) until its length is set to 0:
    // 10,000 idle devices each kept one (issue 14's memory bench).
    if (this.#readAt.length === 0) this.#readAt.length = 0;
    return at;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  #onData(chunk: Buffer): void {
    const readAt = performance.now();
    const r = this.#framer.feed(chunk);
    for (const bytes of r.forward) this.#held.push({ bytes, readAt });
    if (r.connect) {
      if (this.#connectTimer) clearTimeout(this.#connectTimer);
      this.#connectTimer = null;
    }
    this.#release();
    if (r.refusal) {
      this.#close(r.refusal);
      return;
    }
    this.#armPacketTimer();
  }

  /**
   * Passes held packets on, in order, as long as the token bucket has a token for each
   * PUBLISH; the rest wait (and the socket is not read) until one is due. So at most one
   * read's worth of packets is ever held.
   */
  #release(): void {
    let room = true;
    while (this.#held.length > 0) {
      const next = this.#held[0] as { bytes: Uint8Array; readAt: number };
      const first = next.bytes[0] as number;
      if (first >> 4 === PacketType.PUBLISH) {
        if (this.#taken >= this.#maxTaken) {
          this.#pause('taken');
          break;
        }
        const wait = this.#bucket.waitMs(this.#now());
        if (wait > 0) {
          this.#pause('rate');
          this.#rateTimer ??= setTimeout(() => {
            this.#rateTimer = null;
            this.#release();
          }, wait);
          break;
        }
        this.#bucket.take(1, this.#now());
        this.#held.shift();
        // Only once aedes has read all that went before it: the paths never reorder packets.
        this.#taken += 1; // first: `answered` may come at once
        if (this.readableLength === 0 && this.#o.takePublish?.(next.bytes, next.readAt, this.#answered))
          continue;
        this.#taken -= 1;
        this.#readAt.push(next.readAt);
        room = this.push(next.bytes) && room;
        continue;
      }
      this.#held.shift();
      room = this.push(next.bytes) && room;
      // After the CONNECT nothing more is read until the broker has answered it.
      if (first >> 4 === PacketType.CONNECT && this.#firstWrite) this.#pause('connack');
    }
    if (this.#held.length === 0) {
      this.#held.length = 0; // its spare slots too (see takePublishReadAt)
      this.#resume('rate');
    }
    if (!room) this.#pause('backpressure');
  }

  #armPacketTimer(): void {
    if (this.#framer.midPacket && this.#paused === 0) {
      this.#packetTimer ??= setTimeout(
        () =>
          this.#close({
            code: 'packet_timeout',
            rule: `a packet stayed incomplete for ${this.#o.packetTimeoutMs} ms`,
          }),
        this.#o.packetTimeoutMs,
      );
    } else if (this.#packetTimer) {
      clearTimeout(this.#packetTimer);
      this.#packetTimer = null;
    }
  }

  #pause(why: PauseReason): void {
    this.#paused |= PAUSE[why];
    this.socket.pause();
    // A packet cannot be completed while the gateway does not read: its time runs only while
    // the socket is read (a device held back by its rate or its unread PUBACKs is not cut off).
    if (this.#packetTimer) {
      clearTimeout(this.#packetTimer);
      this.#packetTimer = null;
    }
  }

  #resume(why: PauseReason): void {
    this.#paused &= ~PAUSE[why];
    if (this.#paused === 0 && !this.destroyed) {
      this.socket.resume();
      this.#armPacketTimer();
    }
  }

  /** Closes the connection for `reason`, after a CONNACK when the rules ask for one. */
  #close(reason: EdgeCloseReason): void {
    if (this.#refused || this.destroyed) return;
    this.#refused = true;
    this.#clearTimers();
    this.#o.onRefused(reason);
    if (reason.connack !== undefined) {
      // The CONNACK the rules ask for, then the close; a client that never reads is cut off.
      const socket = this.socket;
      socket.end(Buffer.from([0x20, 0x02, 0x00, reason.connack]), () => socket.destroy());
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
  }

  #clearTimers(): void {
    for (const t of [this.#connectTimer, this.#packetTimer, this.#rateTimer]) if (t) clearTimeout(t);
    this.#connectTimer = this.#packetTimer = this.#rateTimer = null;
  }

  /** Watches the broker's first bytes for the CONNACK, then lets reading go on. */
  #watchConnack(chunk: Uint8Array): void {
    const seen = this.#firstWrite;
    if (!seen) return;
    for (const b of chunk) {
      seen.push(b);
      if (seen.length === 4) break;
    }
    if (seen.length < 4) return;
    this.#firstWrite = null;
    // 0x20 = CONNACK; its fourth byte is the return code. A refused client is closed by aedes.
    if (seen[0] === 0x20 && seen[3] === 0) this.#resume('connack');
  }

  override _read(): void {
    this.#resume('backpressure');
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#watchConnack(chunk);
    if (this.socket.write(chunk)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) {
      this.#watchConnack(chunk);
      ok = this.socket.write(chunk);
    }
    this.socket.uncork();
    if (ok) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#clearTimers();
    this.#readAt.length = 0;
    this.#held.length = 0;
    // A refusal closes the socket itself (after its CONNACK, if any); anything else ends now.
    if (!this.#refused) this.socket.destroy();
    cb(err);
  }
}
