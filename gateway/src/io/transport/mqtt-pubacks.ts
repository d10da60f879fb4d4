/**
 * @module io/transport/mqtt-pubacks
 * The PUBACKs of one connection, written by the gateway itself once each frame is durable,
 * so that many frames of one session can wait for the same group commit: an MQTT 5 lane of
 * the external-broker client (io/transport/mqtt-client-ingest), or a device's MQTT 3.1.1
 * connection to the embedded broker (io/transport/frame-path).
 *
 * - Order: a client MUST send PUBACK packets in the order in which the corresponding
 *   PUBLISH packets were received [MQTT-4.6.0-2]. Each PUBLISH takes a slot when it is read;
 *   a slot released out of order (a rejection decided at once, a duplicate) waits until
 *   every slot before it is released too (at most one commit later).
 * - Coalescing: the PUBACKs released in one turn of the event loop (typically the frames of
 *   one commit) go out in one write, i.e. one TCP segment with TCP_NODELAY.
 * - One connection only: the PUBACKs are written to the socket the PUBLISHes came in on, or
 *   not at all. After a reconnect the broker resends the un-PUBACKed PUBLISHes of the session
 *   (DUP) and they are answered on the new connection; a PUBACK never crosses to another
 *   connection, where its packet identifier could name another message.
 *
 * - Application acks at QoS 0 (`send`, `qos0Publish`) go out in the same write, after the
 *   PUBACKs of that tick.
 * - A bound: `whenBelow` tells the reader when fewer than a given number of PUBLISHes wait,
 *   so it can stop reading the connection meanwhile (TCP flow control) when the broker sends
 *   more than the Receive Maximum allows (Mosquitto 2.0.11 does, after a session resume and
 *   while PUBACKs stream back).
 *
 * Packet (MQTT 5 §3.4): fixed header 0x40, Remaining Length 2, the Packet Identifier; the
 * Reason Code and Property Length are omitted for Success with no properties [MQTT 5 §3.4.2.1].
 * The same four bytes are MQTT 3.1.1's PUBACK (§3.4).
 */

import { encodeRemainingLength } from '../../protocol/mqtt-framing.js';

/** Where the PUBACKs go: the connection's socket (net.Socket or tls.TLSSocket). */
export interface PubackSink {
  write(chunk: Uint8Array): unknown;
  readonly destroyed?: boolean;
}

/** One PUBLISH waiting for its PUBACK. */
export interface PubackSlot {
  readonly packetId: number;
  released: boolean;
}

/** PUBACK with Reason Code 0 (Success) and no properties: 4 bytes. */
const PUBACK_BYTES = 4;
/** Compact the slot list once this many answered slots sit in front of it. */
const COMPACT_AT = 4096;

export class OrderedPubacks {
  readonly #sink: PubackSink;
  #slots: PubackSlot[] = [];
  /** Index of the oldest slot not yet answered. */
  #head = 0;
  #scheduled = false;
  #discarded = false;
  #waiter: { limit: number; wake: () => void } | undefined;
  /** Whole packets to send after this tick's PUBACKs. */
  #extra: Uint8Array[] = [];
  #extraBytes = 0;
  /** PUBACKs written (for tests and metrics). */
  written = 0;

  constructor(sink: PubackSink) {
    this.#sink = sink;
  }

  /** The connection these PUBACKs belong to. */
  get sink(): PubackSink {
    return this.#sink;
  }

  /** False once the connection is gone (destroyed, or discarded for a newer one). */
  get open(): boolean {
    return !this.#discarded && !this.#sink.destroyed;
  }

  /** Slots held in memory: those not yet answered, and answered ones not yet dropped. */
  get held(): number {
    return this.#slots.length;
  }

  /** PUBLISHes read and not yet answered. */
  get pending(): number {
    return this.#slots.length - this.#head;
  }

  /**
   * Takes the next slot for a PUBLISH just read from the connection.
   * @throws {RangeError} when `packetId` is not 1-65535 [MQTT-2.2.1-3].
   */
  take(packetId: number): PubackSlot {
    if (!(Number.isInteger(packetId) && packetId >= 1 && packetId <= 0xffff))
      throw new RangeError('packetId must be an integer from 1 to 65535');
    const slot: PubackSlot = { packetId, released: false };
    if (!this.#discarded) this.#slots.push(slot);
    return slot;
  }

  /**
   * Marks a slot answered: its PUBACK goes out, in order, at the end of this tick (after
   * the promise reactions of one commit have run), with the others released by then.
   */
  release(slot: PubackSlot): void {
    if (slot.released) return;
    slot.released = true;
    this.#schedule();
  }

  /** Sends a whole packet (an application ack) with this tick's PUBACKs, after them. */
  send(packet: Uint8Array): void {
    if (this.#discarded) return;
    this.#extra.push(packet);
    this.#extraBytes += packet.length;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#discarded) return;
    this.#scheduled = true;
    process.nextTick(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  /**
   * Calls `wake` once fewer than `limit` PUBLISHes wait for their PUBACK (at once if so
   * already), or when the connection is discarded. One waiter at a time: a new one replaces it.
   */
  whenBelow(limit: number, wake: () => void): void {
    if (this.#discarded || this.pending < limit) {
      wake();
      return;
    }
    this.#waiter = { limit, wake };
  }

  #wakeWaiter(): void {
    const w = this.#waiter;
    if (w === undefined || (!this.#discarded && this.pending >= w.limit)) return;
    this.#waiter = undefined;
    w.wake();
  }

  /** Writes now the PUBACKs of every released slot at the front, then the packets sent, in one write. */
  flush(): void {
    if (this.#discarded) return;
    const slots = this.#slots;
    let end = this.#head;
    while (end < slots.length && (slots[end] as PubackSlot).released) end += 1;
    const n = end - this.#head;
    if (n === 0 && this.#extra.length === 0) return;
    const out = Buffer.allocUnsafe(n * PUBACK_BYTES + this.#extraBytes);
    for (let i = 0; i < n; i++) {
      const at = i * PUBACK_BYTES;
      out[at] = 0x40; // PUBACK [MQTT 5 §3.4.1]
      out[at + 1] = 2; // Remaining Length: the Packet Identifier only [MQTT 5 §3.4.2.1]
      out.writeUInt16BE((slots[this.#head + i] as PubackSlot).packetId, at + 2);
    }
    let at = n * PUBACK_BYTES;
    for (const p of this.#extra) {
      out.set(p, at);
      at += p.length;
    }
    this.#extra = [];
    this.#extraBytes = 0;
    this.#head = end;
    if (end === slots.length) {
      // Every slot answered (a wearable at 1 Hz, after each frame): none is kept. Before, a
      // quiet connection's answered slots piled up to COMPACT_AT (4,096 objects, ~170 KB of
      // heap a connection: 1.7 GB on a 10,000-device gateway once each had sent 4,096 frames).
      this.#slots = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= slots.length) {
      this.#slots = slots.slice(this.#head);
      this.#head = 0;
    }
    if (!this.#sink.destroyed) {
      this.#sink.write(out);
      this.written += n;
    }
    this.#wakeWaiter();
  }

  /** The connection is gone: nothing more is written; the broker resends what was not answered. */
  discard(): void {
    this.#discarded = true;
    this.#slots = [];
    this.#head = 0;
    this.#extra = [];
    this.#extraBytes = 0;
    this.#wakeWaiter();
  }
}

/**
 * An MQTT 5 PUBLISH at QoS 0, not retained, without properties [MQTT 5 §3.3]: fixed header
 * 0x30, Remaining Length (§1.5.5), topic name (a UTF-8 string, §1.5.4), Property Length 0,
 * the payload. No Packet Identifier at QoS 0 [MQTT-2.2.1-2], so it needs no state of mqtt.js.
 * @throws {RangeError} when the topic is longer than 65535 bytes.
 */
export function qos0Publish(topic: string, payload: Uint8Array): Buffer {
  const t = Buffer.from(topic, 'utf8');
  if (t.length > 0xffff) throw new RangeError('topic must be at most 65535 bytes');
  const rest = 2 + t.length + 1 + payload.length;
  const rl = encodeRemainingLength(rest);
  const out = Buffer.allocUnsafe(1 + rl.length + rest);
  out[0] = 0x30;
  out.set(rl, 1);
  let at = 1 + rl.length;
  out.writeUInt16BE(t.length, at);
  t.copy(out, at + 2);
  at += 2 + t.length;
  out[at] = 0; // Property Length: no properties
  out.set(payload, at + 1);
  return out;
}
