/**
 * @module core/topics
 * MQTT topic names, the device topic ACL and the JSON control payloads (acks, rejects) of
 * PROTOCOL.md §2: a device may publish only to its own frames topic and subscribe only
 * under its own prefix.
 */
import { DEVICE_ID_PATTERN, type WireUint } from '../protocol/frame.js';

export const TOPIC_ROOT = 'vt/v1/dev';
export const SHARED_FRAMES_SUBSCRIPTION = `$share/vitaltrail/${TOPIC_ROOT}/+/frames`;

const FRAMES_PREFIX = `${TOPIC_ROOT}/`;
const FRAMES_SUFFIX = '/frames';

export const framesTopic = (dev: string): string => `${FRAMES_PREFIX}${dev}${FRAMES_SUFFIX}`;
export const rejectsTopic = (dev: string): string => `${TOPIC_ROOT}/${dev}/rejects`;
export const acksTopic = (dev: string): string => `${TOPIC_ROOT}/${dev}/acks`;

/**
 * The device id of a frames topic `vt/v1/dev/{dev}/frames`, or undefined for any other topic.
 * Asked for every frame (the ACL, the external lanes): no split, one slice. A device id has no
 * `/`, so what lies between the prefix and the suffix is one topic level.
 */
export function deviceOfFramesTopic(topic: string): string | undefined {
  if (!topic.startsWith(FRAMES_PREFIX) || !topic.endsWith(FRAMES_SUFFIX)) return undefined;
  const dev = topic.slice(FRAMES_PREFIX.length, topic.length - FRAMES_SUFFIX.length);
  return DEVICE_ID_PATTERN.test(dev) ? dev : undefined;
}

/** PROTOCOL.md §2: `clientId` may publish only to its own frames topic. */
export function mayPublish(clientId: string, topic: string): boolean {
  return deviceOfFramesTopic(topic) === clientId;
}

/** PROTOCOL.md §2: `clientId` may subscribe only under `vt/v1/dev/{clientId}/`. */
export function maySubscribe(clientId: string, topicFilter: string): boolean {
  const prefix = `${TOPIC_ROOT}/${clientId}/`;
  if (!topicFilter.startsWith(prefix)) return false;
  // Wildcards after the prefix ('+', '#') stay inside the device's own subtree.
  return topicFilter.length > prefix.length;
}

/** The application ack of PROTOCOL.md §2 (`/acks`) for an accepted or duplicate frame. */
export function appAckPayload(seq: number): Buffer {
  return Buffer.from(JSON.stringify({ seq }));
}

/**
 * The rejection report of PROTOCOL.md §2 (`/rejects`); `seq` is null when the frame did not
 * parse far enough to name it. A seq from 2^53 on (a bigint) is written as its exact digits,
 * still a JSON number.
 */
export function rejectPayload(r: { seq?: WireUint; code: string; reason: string }): Buffer {
  const rest = JSON.stringify({ code: r.code, reason: r.reason }).slice(1);
  return Buffer.from(`{"seq":${r.seq === undefined ? 'null' : r.seq.toString()},${rest}`);
}
