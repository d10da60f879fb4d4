/**
 * The serial framing of PROTOCOL.md §2: COBS known answers (the examples of Cheshire &
 * Baker 1999 as listed on Wikipedia's "Consistent Overhead Byte Stuffing" page), the
 * CRC-32 check value ("123456789" → 0xCBF43926, reproducible with
 * `python3 -c 'import zlib; print(hex(zlib.crc32(b"123456789")))'`), round trips, the
 * streaming parser under split/merged chunks and random bytes, and the ack/nak codec.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MAX_FRAME_BYTES } from '../../gateway/src/protocol/frame.js';
import {
  decodeSerialReply,
  encodeSerialAck,
  encodeSerialNak,
} from '../../gateway/src/protocol/serial-control.js';
import {
  CobsCrcParser,
  cobsDecode,
  cobsEncode,
  cobsMaxEncodedLength,
  decodeSerialMessage,
  encodeSerialMessage,
  type SerialLineError,
  serialCrc32,
} from '../../gateway/src/protocol/serial-framing.js';
import { fcRuns } from '../helpers/fc-runs.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const range = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

/** [decoded, encoded without the delimiter] */
const COBS_VECTORS: [string, Uint8Array, Uint8Array][] = [
  ['one zero', hex('00'), hex('0101')],
  ['two zeros', hex('0000'), hex('010101')],
  ['zero, byte, zero', hex('001100'), hex('01021101')],
  ['zero inside', hex('11220033'), hex('0311220233')],
  ['no zero', hex('11223344'), hex('0511223344')],
  ['trailing zeros', hex('11000000'), hex('0211010101')],
  ['254 non-zero bytes', range(0x01, 0xfe), cat(hex('ff'), range(0x01, 0xfe))],
  ['zero then 254 non-zero', range(0x00, 0xfe), cat(hex('01ff'), range(0x01, 0xfe))],
  ['255 non-zero bytes', range(0x01, 0xff), cat(hex('ff'), range(0x01, 0xfe), hex('02ff'))],
  ['02..ff then zero', cat(range(0x02, 0xff), hex('00')), cat(hex('ff'), range(0x02, 0xff), hex('0101'))],
  ['03..ff then 00 01', cat(range(0x03, 0xff), hex('0001')), cat(hex('fe'), range(0x03, 0xff), hex('0201'))],
  ['empty', new Uint8Array(0), hex('01')],
];

function collect(parser: CobsCrcParser): { bodies: Buffer[]; errors: SerialLineError[] } {
  const bodies: Buffer[] = [];
  const errors: SerialLineError[] = [];
  parser.on('data', (b: Buffer) => bodies.push(b));
  parser.on('lineError', (e: SerialLineError) => errors.push(e));
  return { bodies, errors };
}

describe('COBS (Cheshire & Baker 1999)', () => {
  test.each(COBS_VECTORS)('behavior: known answer: %s', (_name, decoded, encoded) => {
    expect(Buffer.from(cobsEncode(decoded)).toString('hex')).toBe(Buffer.from(encoded).toString('hex'));
    expect(Buffer.from(cobsDecode(encoded) ?? []).toString('hex')).toBe(Buffer.from(decoded).toString('hex'));
  });

  test('behavior: round trip, no zero in the output, length within the bound', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
        const enc = cobsEncode(data);
        expect(enc.includes(0)).toBe(false);
        expect(enc.length).toBeLessThanOrEqual(cobsMaxEncodedLength(data.length));
        expect(Buffer.from(cobsDecode(enc) ?? [0xde, 0xad]).equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: fcRuns(300) },
    );
  });

  test('error: invalid COBS decodes to null, never throws', () => {
    expect(cobsDecode(new Uint8Array(0))).toBeNull();
    expect(cobsDecode(hex('05112233'))).toBeNull(); // code points past the end
    expect(cobsDecode(hex('031100'))).toBeNull(); // a zero inside
    expect(cobsDecode(hex('00'))).toBeNull();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        const r = cobsDecode(data);
        expect(r === null || r instanceof Uint8Array).toBe(true);
      }),
      { numRuns: fcRuns(300) },
    );
  });
});

describe('CRC-32 and messages (PROTOCOL.md §2)', () => {
  test('behavior: CRC-32 check value of "123456789" is 0xCBF43926', () => {
    expect(serialCrc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  test('behavior: a message is COBS(body || CRC-32 big-endian) then 0x00', () => {
    const body = new TextEncoder().encode('123456789');
    const msg = encodeSerialMessage(body);
    expect(msg.at(-1)).toBe(0);
    expect(msg.subarray(0, -1).includes(0)).toBe(false);
    const raw = cobsDecode(msg.subarray(0, -1));
    expect(Buffer.from(raw ?? []).toString('hex')).toBe(`${Buffer.from(body).toString('hex')}cbf43926`);
    expect(decodeSerialMessage(msg.subarray(0, -1))).toEqual({ ok: true, body });
  });

  test('error: one flipped bit is bad_crc; fewer than 4 bytes is too_short; bad COBS is bad_cobs', () => {
    const msg = encodeSerialMessage(hex('a1636f6b01'));
    const raw = cobsDecode(msg.subarray(0, -1)) as Uint8Array;
    raw[2] = (raw[2] as number) ^ 0x10;
    expect(decodeSerialMessage(cobsEncode(raw))).toEqual({ ok: false, code: 'bad_crc' });
    expect(decodeSerialMessage(cobsEncode(hex('010203')))).toEqual({ ok: false, code: 'too_short' });
    expect(decodeSerialMessage(hex('09aa'))).toEqual({ ok: false, code: 'bad_cobs' });
  });
});

describe('CobsCrcParser', () => {
  test('behavior: bodies come out whole, in order, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 30 }),
        (bodies, cuts) => {
          const parser = new CobsCrcParser();
          const out = collect(parser);
          const stream = Buffer.concat(bodies.map((b) => encodeSerialMessage(b)));
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length] as number;
            parser.write(stream.subarray(at, at + n));
            at += n;
          }
          expect(out.errors).toEqual([]);
          expect(out.bodies.map((b) => b.toString('hex'))).toEqual(
            bodies.map((b) => Buffer.from(b).toString('hex')),
          );
          expect(parser.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: fcRuns(100) },
    );
  });

  test('behavior: resynchronises after noise at the next delimiter; empty messages are ignored', () => {
    const parser = new CobsCrcParser();
    const out = collect(parser);
    const a = hex('0102030400ff');
    parser.write(Buffer.concat([hex('0000'), hex('77883399'), hex('00'), encodeSerialMessage(a), hex('00')]));
    expect(out.bodies.map((b) => b.toString('hex'))).toEqual(['0102030400ff']);
    expect(out.errors).toHaveLength(1);
    expect(['bad_cobs', 'bad_crc', 'too_short']).toContain(out.errors[0]?.code);
  });

  test('behavior: a run longer than the bound is discarded up to the next 0x00 and counted as oversize', () => {
    const parser = new CobsCrcParser({ maxBodyBytes: 100 });
    const out = collect(parser);
    expect(parser.maxBufferedBytes).toBe(cobsMaxEncodedLength(104));
    const long = Buffer.alloc(5000, 0x41);
    for (let i = 0; i < 50; i++) parser.write(long.subarray(i * 100, i * 100 + 100));
    expect(parser.bufferedBytes).toBe(0);
    parser.write(Buffer.concat([hex('00'), encodeSerialMessage(hex('aabb'))]));
    expect(out.errors).toEqual([{ code: 'oversize', bytes: 5000 }]);
    expect(out.bodies.map((b) => b.toString('hex'))).toEqual(['aabb']);
    expect(parser.stats.peakBufferedBytes).toBeLessThanOrEqual(parser.maxBufferedBytes);
    // The largest allowed body still passes.
    parser.write(encodeSerialMessage(new Uint8Array(100).fill(7)));
    expect(out.bodies).toHaveLength(2);
  });

  test('behavior: the default bound fits the largest frame (MAX_FRAME_BYTES)', () => {
    const parser = new CobsCrcParser();
    const out = collect(parser);
    parser.write(encodeSerialMessage(new Uint8Array(MAX_FRAME_BYTES).fill(9)));
    parser.write(encodeSerialMessage(new Uint8Array(MAX_FRAME_BYTES + 300).fill(9)));
    expect(out.bodies.map((b) => b.length)).toEqual([MAX_FRAME_BYTES]);
    expect(out.errors.map((e) => e.code)).toEqual(['oversize']);
  });

  test('error: 4 MB of random bytes: no throw, no body, buffer never above its bound', () => {
    const parser = new CobsCrcParser({ maxBodyBytes: 2048 });
    const out = collect(parser);
    let maxSeen = 0;
    for (let i = 0; i < 64; i++) {
      parser.write(randomBytes(65_536));
      maxSeen = Math.max(maxSeen, parser.bufferedBytes);
    }
    expect(out.bodies).toHaveLength(0); // a random CRC match is 2^-32 per message
    expect(out.errors.length).toBeGreaterThan(1000);
    expect(maxSeen).toBeLessThanOrEqual(parser.maxBufferedBytes);
    expect(parser.stats.peakBufferedBytes).toBeLessThanOrEqual(parser.maxBufferedBytes);
  });
});

describe('ack / nak (PROTOCOL.md §2 gateway to device)', () => {
  test('behavior: deterministic CBOR maps that decode back', () => {
    expect(Buffer.from(encodeSerialAck(1)).toString('hex')).toBe('a16361636b01'); // {"ack": 1}
    expect(decodeSerialReply(encodeSerialAck(70_000))).toEqual({ kind: 'ack', seq: 70_000 });
    // {"nak": 5, "code": "bad_signature"}: keys in bytewise order of their encodings
    const nak = encodeSerialNak(5, 'bad_signature');
    expect(Buffer.from(nak).toString('hex')).toBe(
      `a2636e616b05${'64636f6465'}6d${Buffer.from('bad_signature').toString('hex')}`,
    );
    expect(decodeSerialReply(nak)).toEqual({ kind: 'nak', seq: 5, code: 'bad_signature' });
    expect(decodeSerialReply(encodeSerialNak(0, 'malformed'))).toEqual({
      kind: 'nak',
      seq: 0,
      code: 'malformed',
    });
  });

  test('error: anything else is not a reply (null), never a throw', () => {
    expect(decodeSerialReply(hex('a163616b6b00'))).toBeNull(); // {"akk": 0}
    expect(decodeSerialReply(hex('a163616b6b00ff'))).toBeNull();
    expect(decodeSerialReply(hex('a163616b6b20'))).toBeNull(); // negative seq
    expect(decodeSerialReply(new Uint8Array(300))).toBeNull();
    expect(() => encodeSerialAck(0)).toThrow(TypeError);
    expect(() => encodeSerialNak(1, 'Bad Code')).toThrow(TypeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(() => decodeSerialReply(b)).not.toThrow();
      }),
      { numRuns: fcRuns(500) },
    );
  });
});
