/**
 * @module test/helpers/mqtt-packets
 * MQTT 3.1.1 control packets as bytes (OASIS, 29 October 2014, §2-§3), for the tests and
 * benches that speak to a broker without a client library: the edge's limits and rules, the
 * conformance corpus, the frame path, the bench's lean devices. Builds exactly what it is
 * given (a test may ask for a packet the rules refuse, e.g. packet id 0).
 */

import { encodeRemainingLength } from '../../gateway/src/protocol/mqtt-framing.js';

/** §2.2.3: the remaining length, 1-4 bytes of 7 bits (the gateway's own encoder). */
export function remainingLength(n: number): Buffer {
  return Buffer.from(encodeRemainingLength(n));
}

/** §1.5.3: a UTF-8 string (or raw bytes) behind its 2-byte length. */
export function mqttString(s: string | Uint8Array): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** A whole packet: its first byte (type and flags), the remaining length, the body. */
export function packet(first: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body]);
}

/** A CONNECT (§3.1) with no will and no credentials; `flags` 0x02 = clean session. */
export function connectPacket(clientId: string, keepAliveS = 60, protoVer: 3 | 4 = 4, flags = 0x02): Buffer {
  const header = Buffer.from([protoVer, flags, keepAliveS >> 8, keepAliveS & 0xff]);
  return packet(
    0x10,
    Buffer.concat([mqttString(protoVer === 3 ? 'MQIsdp' : 'MQTT'), header, mqttString(clientId)]),
  );
}

/** A PUBLISH (§3.3), not DUP, not RETAIN; the packet id only at QoS 1 and 2. */
export function publishPacket(
  topic: string,
  packetId: number,
  payload: Uint8Array,
  qos: 0 | 1 | 2 = 1,
): Buffer {
  const id = qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0);
  return packet(0x30 | (qos << 1), Buffer.concat([mqttString(topic), id, payload]));
}
