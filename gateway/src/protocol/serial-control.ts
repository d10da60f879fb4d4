/**
 * @module protocol/serial-control
 * The gateway-to-device messages of PROTOCOL.md §2 ("Serial"): a CBOR map
 * `{"ack": seq}` once the frame is durable, or `{"nak": seq, "code": text}` when it was
 * rejected. Encoded with RFC 8949 §4.2.1 core deterministic encoding (cbor2 `cde`), and
 * framed on the line by `encodeSerialMessage` (protocol/serial-framing.ts).
 *
 * Seq 0 (`SERIAL_UNKNOWN_SEQ`) in a nak means "a message of yours could not be parsed far
 * enough to name its seq" (a malformed or oversize frame). PROTOCOL.md §2 does not say
 * what seq such a nak carries; 0 is never a valid frame seq (§1: seqs start at 1).
 *
 * Trust: `decodeSerialReply` parses bytes from the line (attacker-controlled on the
 * device side); anything unexpected returns null, never throws.
 */
import { decode, encode } from 'cbor2';

/** Seq of a nak for a frame whose seq is unknown (see the module note). */
export const SERIAL_UNKNOWN_SEQ = 0;
/** Replies are tiny; anything longer is not a reply. */
export const MAX_SERIAL_REPLY_BYTES = 256;
/** Codes are short snake_case names (PROTOCOL.md §1). */
const CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export type SerialReply = { kind: 'ack'; seq: number } | { kind: 'nak'; seq: number; code: string };

function checkSeq(seq: number, what: string, min: number): void {
  if (!Number.isSafeInteger(seq) || seq < min)
    throw new TypeError(`${what}: seq must be an integer ≥ ${min}`);
}

/**
 * `{"ack": seq}` (PROTOCOL.md §2), deterministic CBOR.
 * @throws {TypeError} when seq is not an integer ≥ 1.
 * @example port.write(encodeSerialMessage(encodeSerialAck(17)))
 */
export function encodeSerialAck(seq: number): Uint8Array {
  checkSeq(seq, 'encodeSerialAck', 1);
  return encode({ ack: seq }, { cde: true });
}

/**
 * `{"nak": seq, "code": text}` (PROTOCOL.md §2), deterministic CBOR; seq 0 when unknown.
 * A frame's seq may be any CBOR uint (PROTOCOL.md §6): from 2^53 on it is a bigint, and
 * the nak names it exactly.
 * @throws {TypeError} when seq is not an integer ≥ 0 (bigint: below 2^64) or code is not a snake_case code.
 * @example encodeSerialNak(17, 'bad_signature')
 */
export function encodeSerialNak(seq: number | bigint, code: string): Uint8Array {
  if (typeof seq !== 'bigint') checkSeq(seq, 'encodeSerialNak', 0);
  else if (seq < 0n || seq > 0xffff_ffff_ffff_ffffn)
    throw new TypeError('encodeSerialNak: seq must be an integer ≥ 0 and below 2^64');
  if (typeof code !== 'string' || !CODE_PATTERN.test(code))
    throw new TypeError('encodeSerialNak: code must be snake_case');
  return encode({ nak: seq, code }, { cde: true });
}

/**
 * Parses a reply body (the device side). Returns null for anything that is not exactly
 * an ack or a nak as above.
 */
export function decodeSerialReply(body: Uint8Array): SerialReply | null {
  if (!(body instanceof Uint8Array) || body.length > MAX_SERIAL_REPLY_BYTES) return null;
  let doc: unknown;
  try {
    doc = decode(body, {
      rejectStreaming: true,
      rejectDuplicateKeys: true,
      rejectBigInts: true,
      preferMap: true,
    });
  } catch {
    return null;
  }
  if (!(doc instanceof Map)) return null;
  const isSeq = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (doc.size === 1 && doc.has('ack')) {
    const seq = doc.get('ack');
    return isSeq(seq) && seq >= 1 ? { kind: 'ack', seq } : null;
  }
  if (doc.size === 2 && doc.has('nak') && doc.has('code')) {
    const seq = doc.get('nak');
    const code = doc.get('code');
    return isSeq(seq) && typeof code === 'string' && CODE_PATTERN.test(code)
      ? { kind: 'nak', seq, code }
      : null;
  }
  return null;
}
