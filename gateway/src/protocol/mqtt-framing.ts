/**
 * @module protocol/mqtt-framing
 * Splits the bytes a client sends into MQTT control packets (MQTT 3.1.1 §2.2: a type and
 * flags byte, a variable-length "remaining length" of 1 to 4 bytes, then that many bytes)
 * and enforces size limits while parsing: a packet is refused as soon as its fixed header
 * says it is larger than its limit, before any of its body is buffered. Whole packets are
 * then checked against the rules of protocol/mqtt-rules.
 *
 * The limits depend on the connection's state: before CONNECT every packet must fit the
 * (small) CONNECT limit; afterwards a PUBLISH may be as large as a frame plus its topic,
 * anything else as large as the control limit.
 *
 * Pure: no timers, no sockets (the broker edge, io/transport/mqtt-edge, adds those).
 * Packets that arrive whole within one chunk are passed on as views of that chunk (no
 * copy); only a packet split across chunks is assembled, in a buffer of its exact size.
 * Packets are passed on one by one, so the edge can hold PUBLISHes back for its rate.
 */
import { MAX_FRAME_BYTES } from './frame.js';
import { checkPacket, type PacketRefusal, PacketType } from './mqtt-rules.js';

export interface MqttPacketLimits {
  /** Largest packet (fixed header included) before the CONNECT has been accepted. */
  maxConnectBytes: number;
  /** Largest PUBLISH after CONNECT. */
  maxPublishBytes: number;
  /** Largest packet of any other type after CONNECT. */
  maxControlBytes: number;
}

/**
 * Defaults: a CONNECT of a device (a 64-character client id, no will, a short user name and
 * password) is well under 1 KB; a PUBLISH carries one frame and a topic of at most
 * `vt/v1/dev/` + 64 + `/frames`; SUBSCRIBE and the acks are tiny.
 */
export const DEFAULT_PACKET_LIMITS: Readonly<MqttPacketLimits> = {
  maxConnectBytes: 4096,
  maxPublishBytes: MAX_FRAME_BYTES + 1024,
  maxControlBytes: 4096,
};

/** Why the edge closes a connection (the registry's `mqtt_edge` group). */
export interface EdgeRefusal {
  code: 'packet_too_large' | PacketRefusal['code'];
  /** A short, content-free explanation, e.g. the rule broken. */
  rule: string;
  /** A CONNACK return code to send before closing. */
  connack?: number;
}

export interface FeedResult {
  /** Checked packets to pass on, one entry each, in order (views of the input where possible). */
  forward: Uint8Array[];
  /** How many of them are PUBLISH packets. */
  publishes: number;
  /** True when one of them is the CONNECT. */
  connect: boolean;
  /** Set when the connection must be closed; nothing after the refused packet is passed on. */
  refusal?: EdgeRefusal;
}

/** Largest remaining length MQTT can express (§2.2.3): four 7-bit digits. */
const MAX_REMAINING_LENGTH = 268_435_455;

export class MqttFramer {
  readonly #limits: MqttPacketLimits;
  readonly #state = { connected: false };
  /** Bytes of a fixed header split across chunks (at most 5). */
  #header: number[] = [];
  /** The packet being assembled across chunks, and how much of it is filled. */
  #packet: Uint8Array | null = null;
  #filled = 0;
  #headerLength = 0;
  #refused = false;

  constructor(limits: MqttPacketLimits) {
    this.#limits = limits;
  }

  /** True while a packet has begun but not completed (for the edge's packet timeout). */
  get midPacket(): boolean {
    return this.#packet !== null || this.#header.length > 0;
  }

  /** True once a CONNECT has passed the rules. */
  get connected(): boolean {
    return this.#state.connected;
  }

  /** Takes the next bytes of the connection. After a refusal, everything is discarded. */
  feed(chunk: Uint8Array): FeedResult {
    const out: FeedResult = { forward: [], publishes: 0, connect: false };
    if (this.#refused) return out;
    let i = 0;
    while (i < chunk.length) {
      if (this.#packet) {
        const n = Math.min(this.#packet.length - this.#filled, chunk.length - i);
        this.#packet.set(chunk.subarray(i, i + n), this.#filled);
        this.#filled += n;
        i += n;
        if (this.#filled < this.#packet.length) break;
        const whole = this.#packet;
        this.#packet = null;
        const refusal = this.#check(whole, this.#headerLength, out);
        if (refusal) return this.#refuse(out, refusal);
        out.forward.push(whole);
        continue;
      }
      // A fixed header: from the chunk alone, or completing bytes carried over.
      let header: Uint8Array;
      const carried = this.#header.length;
      if (carried > 0) {
        header = Uint8Array.from([...this.#header, ...chunk.subarray(i, i + 5 - carried)]);
      } else {
        header = chunk.subarray(i, i + 5);
      }
      const h = readFixedHeader(header);
      if (h === 'short') {
        this.#header = Array.from(header);
        return out;
      }
      if (h === 'malformed')
        return this.#refuse(out, { code: 'malformed_packet', rule: 'MQTT-2.2.3 remaining length' });
      this.#header = [];
      const type = (header[0] as number) >> 4;
      const total = h.headerLength + h.remainingLength;
      if (!this.#state.connected && type !== PacketType.CONNECT) {
        return this.#refuse(out, {
          code: 'protocol_violation',
          rule: 'MQTT-3.1.0-1 first packet must be CONNECT',
        });
      }
      const limit = this.#limitFor(type);
      if (total > limit) {
        return this.#refuse(out, {
          code: 'packet_too_large',
          rule: `${total} bytes over the ${limit}-byte limit`,
        });
      }
      if (carried === 0 && i + total <= chunk.length) {
        const whole = chunk.subarray(i, i + total);
        const refusal = this.#check(whole, h.headerLength, out);
        if (refusal) return this.#refuse(out, refusal);
        out.forward.push(whole);
        i += total;
        continue;
      }
      // Split across chunks: assembled in a buffer of its exact size (the branch above
      // copies the bytes, from `i` on, that this chunk holds of it).
      this.#packet = new Uint8Array(total);
      this.#packet.set(header.subarray(0, carried), 0);
      this.#filled = carried;
      this.#headerLength = h.headerLength;
    }
    return out;
  }

  #limitFor(type: number): number {
    if (!this.#state.connected) return this.#limits.maxConnectBytes;
    return type === PacketType.PUBLISH ? this.#limits.maxPublishBytes : this.#limits.maxControlBytes;
  }

  #check(whole: Uint8Array, headerLength: number, out: FeedResult): EdgeRefusal | null {
    const first = whole[0] as number;
    const refusal = checkPacket(first, whole.subarray(headerLength), this.#state);
    if (refusal) return refusal;
    const type = first >> 4;
    if (type === PacketType.PUBLISH) out.publishes += 1;
    else if (type === PacketType.CONNECT) {
      this.#state.connected = true;
      out.connect = true;
    }
    return null;
  }

  #refuse(out: FeedResult, refusal: EdgeRefusal): FeedResult {
    this.#refused = true;
    this.#packet = null;
    this.#header = [];
    out.refusal = refusal;
    return out;
  }
}

/** The remaining length `n` as MQTT writes it (§2.2.3): 1-4 bytes of 7 bits, lowest first. */
export function encodeRemainingLength(n: number): Uint8Array {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Uint8Array.from(out);
}

/**
 * Reads a fixed header (§2.2): `short` when more bytes are needed, `malformed` when the
 * remaining length runs past four bytes.
 */
export function readFixedHeader(
  b: Uint8Array,
): { headerLength: number; remainingLength: number } | 'short' | 'malformed' {
  let value = 0;
  let multiplier = 1;
  for (let k = 1; k <= 4; k++) {
    if (k >= b.length) return 'short';
    const digit = b[k] as number;
    value += (digit & 0x7f) * multiplier;
    if ((digit & 0x80) === 0) {
      return value > MAX_REMAINING_LENGTH ? 'malformed' : { headerLength: k + 1, remainingLength: value };
    }
    multiplier *= 128;
  }
  return 'malformed';
}

/** The parts of a QoS 1 PUBLISH the embedded broker's own path needs (io/transport/mqtt-edge). */
export interface Qos1Publish {
  /** The Packet Identifier its PUBACK must carry (§3.3.2.2), 1-65535. */
  packetId: number;
  /** The application message: a view of `packet`, not a copy. */
  payload: Uint8Array;
}

/**
 * The packet identifier and payload of `packet` when it is one whole QoS 1 PUBLISH (MQTT 3.1.1
 * §3.3: fixed header, topic name, Packet Identifier, payload) to exactly `topic` (its UTF-8
 * bytes, compared byte by byte: no string is made); null for anything else, which then takes
 * the broker's general path. DUP and RETAIN are not looked at. Reads only; the packet has
 * passed protocol/mqtt-rules, but its lengths are checked again here, never trusted.
 */
export function qos1PublishTo(packet: Uint8Array, topic: Uint8Array): Qos1Publish | null {
  const first = packet[0];
  if (first === undefined || first >> 4 !== PacketType.PUBLISH || ((first >> 1) & 3) !== 1) return null;
  const h = readFixedHeader(packet);
  if (typeof h !== 'object' || h.headerLength + h.remainingLength !== packet.length) return null;
  let at = h.headerLength;
  const n = topic.length;
  if (packet.length < at + 2 + n + 2) return null;
  if ((((packet[at] as number) << 8) | (packet[at + 1] as number)) !== n) return null;
  at += 2;
  for (let i = 0; i < n; i++) if (packet[at + i] !== topic[i]) return null;
  at += n;
  const packetId = ((packet[at] as number) << 8) | (packet[at + 1] as number);
  if (packetId === 0) return null;
  return { packetId, payload: packet.subarray(at + 2) };
}
