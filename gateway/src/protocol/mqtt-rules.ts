/**
 * @module protocol/mqtt-rules
 * The MUST-level rules of MQTT 3.1.1 (OASIS, 29 October 2014) that a server checks on one
 * whole control packet a client sent, before the packet reaches the broker (aedes). Each
 * refusal names the normative statement it enforces, e.g. `[MQTT-3.1.2-14]`. The broker
 * edge (io/transport/mqtt-edge) closes the connection on a refusal; for the two CONNECT
 * refusals that §3.2.2.3 answers with a CONNACK (unacceptable protocol level, identifier
 * rejected) it sends that CONNACK first.
 *
 * Pure and allocation-light: a PUBLISH costs a few byte comparisons (its topic and packet
 * id); the payload is never read.
 */

/** MQTT control packet types (§2.2.1). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

/** CONNACK return codes a refusal may answer with (§3.2.2.3). */
export const ConnackCode = { unacceptableProtocol: 1, identifierRejected: 2 } as const;

export interface PacketRefusal {
  /** `malformed_packet` for bytes that do not parse; `protocol_violation` for a broken rule. */
  code: 'malformed_packet' | 'protocol_violation';
  /** The rule, e.g. `MQTT-3.1.2-14 Will QoS 3`; safe to log (no packet content). */
  rule: string;
  /** A CONNACK return code to send before closing, when §3.2.2.3 asks for one. */
  connack?: number;
}

/** What the rules need to know about the connection so far. */
export interface SessionState {
  /** A CONNECT has been seen on this connection. */
  connected: boolean;
}

const violation = (rule: string, connack?: number): PacketRefusal =>
  connack === undefined
    ? { code: 'protocol_violation', rule }
    : { code: 'protocol_violation', rule, connack };
const malformed = (rule: string): PacketRefusal => ({ code: 'malformed_packet', rule });

/**
 * Checks one whole packet.
 * @param first the fixed header's first byte (type and flags)
 * @param body the variable header and payload (`remaining length` bytes)
 * @returns null when the packet may go on to the broker, else why not
 */
export function checkPacket(first: number, body: Uint8Array, s: SessionState): PacketRefusal | null {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (!s.connected && type !== PacketType.CONNECT)
    return violation('MQTT-3.1.0-1 first packet must be CONNECT');
  switch (type) {
    case PacketType.CONNECT:
      if (s.connected) return violation('MQTT-3.1.0-2 second CONNECT');
      if (flags !== 0) return malformed('MQTT-2.2.2-2 reserved flags');
      return checkConnect(body);
    case PacketType.PUBLISH:
      return checkPublish(flags, body);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBCOMP:
      if (flags !== 0) return malformed('MQTT-2.2.2-2 reserved flags');
      return checkAck(body);
    case PacketType.PUBREL:
      if (flags !== 0b0010) return malformed('MQTT-3.6.1-1 PUBREL flags');
      return checkAck(body);
    case PacketType.SUBSCRIBE:
      if (flags !== 0b0010) return malformed('MQTT-3.8.1-1 SUBSCRIBE flags');
      return checkSubscribe(body, true);
    case PacketType.UNSUBSCRIBE:
      if (flags !== 0b0010) return malformed('MQTT-3.10.1-1 UNSUBSCRIBE flags');
      return checkSubscribe(body, false);
    case PacketType.PINGREQ:
    case PacketType.DISCONNECT:
      if (flags !== 0) return malformed('MQTT-2.2.2-2 reserved flags');
      return body.length === 0 ? null : malformed('MQTT-2.2 non-empty PINGREQ/DISCONNECT');
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client; 0 and 15 are reserved.
      return violation(`MQTT-2.2.1 packet type ${type} not allowed from a client`);
  }
}

/** Reads a length-prefixed field at `at`; -1 when it overruns the body. */
function fieldEnd(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) return -1;
  const end = at + 2 + ((b[at] as number) << 8) + (b[at + 1] as number);
  return end > b.length ? -1 : end;
}

function checkConnect(b: Uint8Array): PacketRefusal | null {
  const nameEnd = fieldEnd(b, 0);
  if (nameEnd < 0 || nameEnd + 4 > b.length) return malformed('MQTT-3.1.2 truncated variable header');
  const name = String.fromCharCode(...b.subarray(2, nameEnd));
  const level = b[nameEnd] as number;
  const flags = b[nameEnd + 1] as number;
  if (name !== 'MQTT' && name !== 'MQIsdp') return violation('MQTT-3.1.2-1 protocol name');
  if ((name === 'MQTT' && level !== 4) || (name === 'MQIsdp' && level !== 3))
    return violation('MQTT-3.1.2-2 protocol level', ConnackCode.unacceptableProtocol);
  if (flags & 0x01) return malformed('MQTT-3.1.2-3 reserved connect flag');
  const clean = (flags & 0x02) !== 0;
  const will = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!will && (willQos !== 0 || willRetain))
    return violation('MQTT-3.1.2-11/13/15 will flags without a will');
  if (willQos === 3) return violation('MQTT-3.1.2-14 Will QoS 3');
  if (!hasUsername && hasPassword) return violation('MQTT-3.1.2-22 password without user name');

  let at = nameEnd + 4; // level, flags, keep alive
  const idEnd = fieldEnd(b, at);
  if (idEnd < 0) return malformed('MQTT-3.1.3-3 missing client identifier');
  if (!validUtf8(b, at + 2, idEnd)) return malformed('MQTT-3.1.3-4 client identifier is not valid UTF-8');
  if (idEnd === at + 2 && !clean)
    return violation(
      'MQTT-3.1.3-8 empty client identifier without CleanSession',
      ConnackCode.identifierRejected,
    );
  at = idEnd;
  if (will) {
    const topicEnd = fieldEnd(b, at);
    if (topicEnd < 0) return malformed('MQTT-3.1.2-9 missing will topic');
    const bad = topicNameProblem(b, at + 2, topicEnd);
    if (bad) return malformed(`MQTT-3.1.3-10 will topic: ${bad}`);
    const messageEnd = fieldEnd(b, topicEnd);
    if (messageEnd < 0) return malformed('MQTT-3.1.2-9 missing will message');
    at = messageEnd;
  }
  if (hasUsername) {
    const userEnd = fieldEnd(b, at);
    if (userEnd < 0) return malformed('MQTT-3.1.2-19 missing user name');
    if (!validUtf8(b, at + 2, userEnd)) return malformed('MQTT-3.1.3-11 user name is not valid UTF-8');
    at = userEnd;
  }
  if (hasPassword) {
    const passEnd = fieldEnd(b, at);
    if (passEnd < 0) return malformed('MQTT-3.1.2-21 missing password');
    at = passEnd;
  }
  return at === b.length ? null : malformed('MQTT-3.1.3 bytes after the CONNECT payload');
}

function checkPublish(flags: number, b: Uint8Array): PacketRefusal | null {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) return malformed('MQTT-3.3.1-4 PUBLISH QoS 3');
  if (qos === 0 && flags & 0x08) return violation('MQTT-3.3.1-2 DUP set on a QoS 0 PUBLISH');
  const topicEnd = fieldEnd(b, 0);
  if (topicEnd < 0) return malformed('MQTT-3.3.2 truncated topic name');
  const bad = topicNameProblem(b, 2, topicEnd);
  if (bad) return malformed(`MQTT-3.3.2 topic name: ${bad}`);
  if (qos > 0) {
    if (topicEnd + 2 > b.length) return malformed('MQTT-2.3.1-1 missing packet identifier');
    if (b[topicEnd] === 0 && b[topicEnd + 1] === 0) return violation('MQTT-2.3.1-1 packet identifier 0');
  }
  return null;
}

function checkAck(b: Uint8Array): PacketRefusal | null {
  if (b.length !== 2) return malformed('MQTT-3.4.2 acknowledgement is not 2 bytes');
  if (b[0] === 0 && b[1] === 0) return violation('MQTT-2.3.1-1 packet identifier 0');
  return null;
}

function checkSubscribe(b: Uint8Array, subscribe: boolean): PacketRefusal | null {
  const what = subscribe ? 'SUBSCRIBE' : 'UNSUBSCRIBE';
  if (b.length < 2) return malformed(`MQTT-2.3.1 ${what} without packet identifier`);
  if (b[0] === 0 && b[1] === 0) return violation('MQTT-2.3.1-1 packet identifier 0');
  let at = 2;
  if (at === b.length)
    return violation(
      subscribe ? 'MQTT-3.8.3-3 SUBSCRIBE without a filter' : 'MQTT-3.10.3-2 UNSUBSCRIBE without a filter',
    );
  while (at < b.length) {
    const end = fieldEnd(b, at);
    if (end < 0) return malformed(`MQTT-3.8.3 truncated ${what} filter`);
    const bad = topicFilterProblem(b, at + 2, end);
    if (bad) return malformed(`MQTT-4.7 topic filter: ${bad}`);
    at = end;
    if (subscribe) {
      if (at >= b.length) return malformed('MQTT-3.8.3 missing requested QoS');
      const q = b[at] as number;
      if (q > 2) return malformed('MQTT-3.8.3-4 requested QoS byte');
      at += 1;
    }
  }
  return null;
}

/** Why a topic name (PUBLISH, will) is not valid, or null (§4.7.1, §4.7.3, §1.5.3). */
function topicNameProblem(b: Uint8Array, from: number, to: number): string | null {
  if (to === from) return 'empty (MQTT-4.7.3-1)';
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (c === 0x2b || c === 0x23) return 'wildcard (MQTT-3.3.2-2)';
  }
  return validUtf8(b, from, to) ? null : 'not valid UTF-8 or a control character (MQTT-1.5.3)';
}

/** Why a topic filter (SUBSCRIBE, UNSUBSCRIBE) is not valid, or null (§4.7.1). */
function topicFilterProblem(b: Uint8Array, from: number, to: number): string | null {
  if (to === from) return 'empty (MQTT-4.7.3-1)';
  for (let i = from; i < to; i++) {
    const c = b[i];
    const levelStart = i === from || b[i - 1] === 0x2f;
    const levelEnd = i === to - 1 || b[i + 1] === 0x2f;
    if (c === 0x23 && !(levelStart && i === to - 1)) return "'#' not alone at the end (MQTT-4.7.1-2)";
    if (c === 0x2b && !(levelStart && levelEnd)) return "'+' not a whole level (MQTT-4.7.1-3)";
  }
  return validUtf8(b, from, to) ? null : 'not valid UTF-8 or a control character (MQTT-1.5.3)';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * True when bytes [from, to) are well-formed UTF-8 without U+0000 (MQTT-1.5.3-1/2; the
 * WHATWG decoder refuses encoded surrogates U+D800..U+DFFF and overlong forms) and without
 * the control characters U+0001..U+001F and U+007F..U+009F, which §1.5.3 says a string
 * SHOULD NOT hold and a receiver MAY refuse: no device id, topic or user name needs them,
 * and they are how log and terminal injection starts.
 */
export function validUtf8(b: Uint8Array, from: number, to: number): boolean {
  let ascii = true;
  for (let i = from; i < to; i++) {
    const c = b[i] as number;
    if (c < 0x20 || c === 0x7f) return false;
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return true;
  let text: string;
  try {
    text = utf8.decode(b.subarray(from, to));
  } catch {
    return false;
  }
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}
