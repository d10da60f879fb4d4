/**
 * @module protocol/serial-framing
 * The serial framing of PROTOCOL.md §2 ("Serial"): each message on the wire is
 * `COBS(body || CRC-32(body) big-endian)` followed by one `0x00` delimiter. COBS is
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 7(2), 1999): it
 * removes every zero byte from the message, so `0x00` only ever marks a message end and
 * a receiver resynchronises at the next `0x00` after noise. CRC-32 is the IEEE 802.3 /
 * zlib polynomial (node:zlib `crc32`, never hand-rolled).
 *
 * Pure and dependency-free (node built-ins only); shared by the gateway (io/serial.ts)
 * and the simulator (firmware-sim/src/serial-transport.ts). `CobsCrcParser` is one
 * `Transform` (named after serialport's `<Strategy>Parser`) with a bounded buffer.
 *
 * Trust: every byte a parser receives is attacker-controlled line data. Nothing in this
 * module throws on line data: bad messages are dropped, counted, and reported as
 * `lineError` events with a code.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { ErrorGroupCode } from './error-codes.js';
import { MAX_FRAME_BYTES } from './frame.js';

/** PROTOCOL.md §2: the message delimiter. */
export const SERIAL_DELIMITER = 0x00;
/** PROTOCOL.md §2: CRC-32 trailer length (big-endian). */
export const SERIAL_CRC_BYTES = 4;
/** PROTOCOL.md §2: default line settings, 115200 baud 8N1. */
export const SERIAL_DEFAULT_BAUD_RATE = 115_200;
/** Largest COBS block: a code byte of 0xFF carries 254 data bytes and no implied zero. */
const COBS_MAX_BLOCK = 254;

/** Codes of `lineError` events (line-level failures, not frame rejections). */
export type SerialLineErrorCode = ErrorGroupCode<'serial_line'>;

export interface SerialLineError {
  code: SerialLineErrorCode;
  /** Bytes discarded with this error (encoded bytes on the line, without the delimiter). */
  bytes: number;
}

/**
 * Worst-case COBS length of `n` input bytes (without the delimiter): one code byte per
 * started block of 254 bytes, at least one.
 * @throws {RangeError} when n is not a non-negative integer.
 */
export function cobsMaxEncodedLength(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('cobsMaxEncodedLength: n must be ≥ 0');
  return n + Math.max(1, Math.ceil(n / COBS_MAX_BLOCK));
}

/**
 * COBS-encodes `data` (Cheshire & Baker 1999, §3): the output holds no zero byte and
 * no delimiter.
 * @example cobsEncode(Uint8Array.of(0x11, 0x22, 0x00, 0x33)) // 03 11 22 02 33
 */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(data.length));
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if (b !== 0) {
      out[o++] = b;
      code++;
    }
    if (b === 0 || code === 0xff) {
      out[codeAt] = code;
      code = 1;
      codeAt = o;
      // A full block that ends the input needs no further code byte.
      if (b === 0 || i + 1 < data.length) o++;
    }
  }
  if (codeAt < o) out[codeAt] = code; // the last block is open: write its code
  return out.subarray(0, o);
}

/**
 * Decodes one COBS message (without its delimiter).
 * @returns the decoded bytes, or `null` when the input is not valid COBS (a zero byte,
 *   or a code byte that points past the end). Never throws on line data.
 * @example cobsDecode(Uint8Array.of(0x03, 0x11, 0x22, 0x02, 0x33)) // 11 22 00 33
 */
export function cobsDecode(encoded: Uint8Array): Uint8Array | null {
  if (encoded.length === 0) return null;
  const out = new Uint8Array(encoded.length);
  let o = 0;
  let i = 0;
  while (i < encoded.length) {
    const code = encoded[i] as number;
    if (code === 0) return null;
    const end = i + code;
    if (end > encoded.length) return null;
    for (let j = i + 1; j < end; j++) {
      const b = encoded[j] as number;
      if (b === 0) return null;
      out[o++] = b;
    }
    i = end;
    if (code !== 0xff && i < encoded.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

/** CRC-32 (IEEE 802.3 / zlib) of `data`, as an unsigned 32-bit integer. */
export function serialCrc32(data: Uint8Array): number {
  return crc32(data) >>> 0;
}

/**
 * One wire message of PROTOCOL.md §2: `COBS(body || CRC-32(body) big-endian) || 0x00`.
 * @example port.write(encodeSerialMessage(frameBytes))
 */
export function encodeSerialMessage(body: Uint8Array): Uint8Array {
  const withCrc = new Uint8Array(body.length + SERIAL_CRC_BYTES);
  withCrc.set(body, 0);
  new DataView(withCrc.buffer).setUint32(body.length, serialCrc32(body), false); // big-endian
  const encoded = cobsEncode(withCrc);
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded, 0);
  out[encoded.length] = SERIAL_DELIMITER;
  return out;
}

/**
 * Decodes one message without its delimiter: COBS, then the CRC-32 trailer.
 * @returns `{ ok: true, body }` or `{ ok: false, code }`; never throws on line data.
 */
export function decodeSerialMessage(
  encoded: Uint8Array,
): { ok: true; body: Uint8Array } | { ok: false; code: Exclude<SerialLineErrorCode, 'oversize'> } {
  const decoded = cobsDecode(encoded);
  if (decoded === null) return { ok: false, code: 'bad_cobs' };
  if (decoded.length < SERIAL_CRC_BYTES) return { ok: false, code: 'too_short' };
  const bodyLength = decoded.length - SERIAL_CRC_BYTES;
  const body = decoded.subarray(0, bodyLength);
  const crc = new DataView(decoded.buffer, decoded.byteOffset).getUint32(bodyLength, false);
  if (crc !== serialCrc32(body)) return { ok: false, code: 'bad_crc' };
  return { ok: true, body };
}

export interface CobsCrcParserOptions {
  /**
   * Largest body accepted, in bytes (without the CRC). Default `MAX_FRAME_BYTES` of
   * protocol/frame.ts (a complete COSE_Sign1 frame). Longer runs are discarded as
   * `oversize` up to the next delimiter.
   */
  maxBodyBytes?: number;
}

export interface CobsCrcParserStats {
  /** Messages emitted (COBS and CRC valid). */
  messages: number;
  /** Line errors by code. */
  lineErrors: Record<SerialLineErrorCode, number>;
  /** Bytes dropped by line errors (without delimiters). */
  discardedBytes: number;
  /** The most bytes the parser ever held while waiting for a delimiter. */
  peakBufferedBytes: number;
}

/**
 * Splits a byte stream on `0x00`, decodes each message (COBS, CRC-32) and pushes its
 * body (a Buffer, one per chunk: the readable side is in object mode). Bad messages
 * emit `lineError` (`SerialLineError`) and are dropped; empty messages (consecutive
 * delimiters, which senders may use to resynchronise the line) are ignored. The parser
 * never holds more than `maxBufferedBytes` bytes: a longer run without a delimiter is
 * discarded up to the next `0x00` and counted as `oversize`.
 * @example
 * const parser = port.pipe(new CobsCrcParser());
 * parser.on('data', (body: Buffer) => handle(body));
 * parser.on('lineError', (e: SerialLineError) => count(e.code));
 */
export class CobsCrcParser extends Transform {
  /** Upper bound of buffered bytes: the COBS length of the largest body plus its CRC. */
  readonly maxBufferedBytes: number;
  readonly stats: CobsCrcParserStats = {
    messages: 0,
    lineErrors: { bad_cobs: 0, bad_crc: 0, too_short: 0, oversize: 0 },
    discardedBytes: 0,
    peakBufferedBytes: 0,
  };
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes of an oversize run being skipped until the next delimiter, or -1 when not skipping. */
  #skipping = -1;

  /** @throws {RangeError} when maxBodyBytes is not a positive integer. */
  constructor(opts: CobsCrcParserOptions = {}) {
    super({ readableObjectMode: true });
    const maxBody = opts.maxBodyBytes ?? MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(maxBody) || maxBody < 1) {
      throw new RangeError('CobsCrcParser: maxBodyBytes must be a positive integer');
    }
    this.maxBufferedBytes = cobsMaxEncodedLength(maxBody + SERIAL_CRC_BYTES);
  }

  /** Bytes held now while waiting for a delimiter. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    const data = Buffer.isBuffer(chunk)
      ? chunk
      : chunk instanceof Uint8Array
        ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : Buffer.from(String(chunk));
    let at = 0;
    while (at < data.length) {
      const zero = data.indexOf(SERIAL_DELIMITER, at);
      const end = zero === -1 ? data.length : zero;
      this.#take(data.subarray(at, end));
      if (zero === -1) break;
      this.#endOfMessage();
      at = zero + 1;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    // An unterminated tail is not a message: drop it silently (the line was closed).
    this.#chunks = [];
    this.#buffered = 0;
    this.#skipping = -1;
    done();
  }

  /** Adds bytes of the current message, discarding it once it exceeds the bound. */
  #take(part: Buffer): void {
    if (part.length === 0) return;
    if (this.#skipping >= 0) {
      this.#skipping += part.length;
      return;
    }
    if (this.#buffered + part.length > this.maxBufferedBytes) {
      this.#skipping = this.#buffered + part.length;
      this.#chunks = [];
      this.#buffered = 0;
      return;
    }
    // Copy: the source chunk may be reused by the stream after this call.
    this.#chunks.push(Buffer.from(part));
    this.#buffered += part.length;
    if (this.#buffered > this.stats.peakBufferedBytes) this.stats.peakBufferedBytes = this.#buffered;
  }

  #endOfMessage(): void {
    if (this.#skipping >= 0) {
      const bytes = this.#skipping;
      this.#skipping = -1;
      this.#lineError('oversize', bytes);
      return;
    }
    if (this.#buffered === 0) return; // an empty message: resynchronisation, not an error
    const encoded = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    const r = decodeSerialMessage(encoded);
    if (!r.ok) {
      this.#lineError(r.code, encoded.length);
      return;
    }
    this.stats.messages++;
    this.push(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
  }

  #lineError(code: SerialLineErrorCode, bytes: number): void {
    this.stats.lineErrors[code]++;
    this.stats.discardedBytes += bytes;
    const e: SerialLineError = { code, bytes };
    this.emit('lineError', e);
  }
}
