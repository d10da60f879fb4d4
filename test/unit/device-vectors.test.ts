/**
 * @module test/unit/device-vectors
 * Every vector of the device maker's kit (test/vectors/device, PROTOCOL.md §1-3, §6) checked
 * against the project's own decoders and encoders: each field recomputed and compared,
 * every signature verified with the published test key, every rejection judged by the
 * acceptance rules (core/acceptance `checkFrame`), every serial message and stream run
 * through `decodeSerialMessage` and the `CobsCrcParser`. And the committed files must be
 * exactly what test/helpers/generate-device-vectors.ts writes: a change to an encoder that
 * moves a byte shows up here, not on a device maker's bench.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { p256 } from '@noble/curves/p256';
import { describe, expect, it } from 'vitest';
import { hashLeaf } from '../../anchor/src/log/index.js';
import { type AcceptancePolicy, checkFrame, type DeviceRecord } from '../../gateway/src/core/acceptance.js';
import {
  acksTopic,
  appAckPayload,
  framesTopic,
  rejectPayload,
  rejectsTopic,
} from '../../gateway/src/core/topics.js';
import { sha256 } from '../../gateway/src/protocol/digest.js';
import {
  COSE_ALG_ES256,
  type DecodedBody,
  decodeFrame,
  encodeBody,
  encodeProtectedHeader,
  frameHash,
  MAX_FRAME_BYTES,
  sigStructure,
  verifyFrameSignature,
} from '../../gateway/src/protocol/frame.js';
import {
  decodeSerialReply,
  encodeSerialAck,
  encodeSerialNak,
  SERIAL_UNKNOWN_SEQ,
} from '../../gateway/src/protocol/serial-control.js';
import {
  CobsCrcParser,
  cobsDecode,
  cobsEncode,
  decodeSerialMessage,
  encodeSerialMessage,
  type SerialLineError,
  serialCrc32,
} from '../../gateway/src/protocol/serial-framing.js';
import {
  DEVICE_KIT_KEY_PATH,
  DEVICE_VECTOR_FILES,
  DEVICE_VECTORS_DIR,
  DEVICE_VECTORS_FORMAT,
  expandStream,
  generateDeviceVectors,
} from '../helpers/generate-device-vectors.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const KEY_PEM = readFileSync(join(ROOT, DEVICE_KIT_KEY_PATH), 'utf8');
const PUBLIC_KEY = createPublicKey(KEY_PEM);

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const crcHex = (b: Uint8Array): string => serialCrc32(b).toString(16).padStart(8, '0');

function load<T>(name: string): T {
  return JSON.parse(readFileSync(join(ROOT, DEVICE_VECTORS_DIR, name), 'utf8')) as T;
}

interface BodyJson {
  v: 1;
  dev: string;
  seq: number;
  ts: number;
  prev: string;
  obs: Record<string, number>;
  wf?: { kind: 'ecg'; fs: number; s: string };
  bat?: number;
}

interface FrameVector {
  name: string;
  transport_dev: string;
  body: BodyJson;
  body_cbor: string;
  protected_header: string;
  sig_structure: string;
  sig_structure_sha256: string;
  signature: string;
  frame: string;
  frame_hash: string;
  leaf_hash: string;
}

interface FramesFile {
  format: string;
  test_key: { pkcs8_pem: string; d: string; x: string; y: string; spki_der: string };
  gateway_now_ms: number;
  retention_ms: number;
  frames: FrameVector[];
}

interface InvalidFramesFile {
  format: string;
  gateway_now_ms: number;
  retention_ms: number;
  enrolled: string[];
  frames: {
    name: string;
    transport_dev: string;
    frame: string;
    expected: { code: string; seq: number | null };
  }[];
}

interface Segment {
  hex?: string;
  repeat?: string;
  count?: number;
}
type StreamEvent = { line_error: string; bytes: number } | { message: string };

function bodyOf(j: BodyJson): DecodedBody {
  const body: DecodedBody = { v: j.v, dev: j.dev, seq: j.seq, ts: j.ts, prev: bytes(j.prev), obs: j.obs };
  if (j.wf) body.wf = { kind: j.wf.kind, fs: j.wf.fs, s: bytes(j.wf.s) };
  if (j.bat !== undefined) body.bat = j.bat;
  return body;
}

describe('device vectors (test/vectors/device)', () => {
  it('behavior: the committed files are exactly what the generator writes', () => {
    const generated = generateDeviceVectors(KEY_PEM);
    for (const name of DEVICE_VECTOR_FILES) {
      const committed = readFileSync(join(ROOT, DEVICE_VECTORS_DIR, name), 'utf8');
      expect(committed, `${name} differs from the generator's output; regenerate on purpose`).toBe(
        generated[name],
      );
      expect((JSON.parse(committed) as { format: string }).format).toBe(DEVICE_VECTORS_FORMAT);
    }
  });

  describe('frames.json', () => {
    const file = load<FramesFile>('frames.json');

    it('behavior: the published test key is the fixture key', () => {
      expect(file.test_key.pkcs8_pem).toBe(KEY_PEM);
      expect(hex(PUBLIC_KEY.export({ format: 'der', type: 'spki' }))).toBe(file.test_key.spki_der);
      expect(hex(p256.getPublicKey(bytes(file.test_key.d), false))).toBe(
        `04${file.test_key.x}${file.test_key.y}`,
      );
    });

    it.each(file.frames.map((f) => [f.name, f] as const))(
      'behavior: %s recomputes field by field',
      (_n, v) => {
        const body = bodyOf(v.body);
        expect(hex(encodeBody(body))).toBe(v.body_cbor);
        const protectedBytes = encodeProtectedHeader(COSE_ALG_ES256, v.body.dev);
        expect(hex(protectedBytes)).toBe(v.protected_header);
        const tbs = sigStructure(protectedBytes, bytes(v.body_cbor));
        expect(hex(tbs)).toBe(v.sig_structure);
        expect(hex(sha256(tbs))).toBe(v.sig_structure_sha256);
        // RFC 6979: the published signature is the deterministic one, and it verifies.
        expect(hex(p256.sign(sha256(tbs), bytes(file.test_key.d)).toCompactRawBytes())).toBe(v.signature);
        expect(p256.verify(bytes(v.signature), sha256(tbs), `04${file.test_key.x}${file.test_key.y}`)).toBe(
          true,
        );

        const frame = bytes(v.frame);
        const decoded = decodeFrame(frame);
        expect(decoded.kid).toBe(v.body.dev);
        expect(hex(decoded.protectedBytes)).toBe(v.protected_header);
        expect(hex(decoded.payload)).toBe(v.body_cbor);
        expect(hex(decoded.signature)).toBe(v.signature);
        expect(decoded.body).toEqual(body);
        expect(verifyFrameSignature(decoded, PUBLIC_KEY)).toBe(true);
        expect(hex(frameHash(frame))).toBe(v.frame_hash);
        expect(hex(hashLeaf(frame))).toBe(v.leaf_hash);
        expect(hex(sha256(Uint8Array.of(0x00, ...frame)))).toBe(v.leaf_hash); // RFC 9162 §2.1.1
      },
    );

    it('behavior: the frames form one chain: seq 1.., prev = frame_hash of the one before', () => {
      file.frames.forEach((v, i) => {
        expect(v.body.seq).toBe(i + 1);
        expect(v.body.prev).toBe(i === 0 ? '00'.repeat(32) : file.frames[i - 1]!.frame_hash);
      });
    });

    it('behavior: every frame is accepted by the acceptance rules at gateway_now_ms', () => {
      const lookup = registry([file.frames[0]!.body.dev], file.gateway_now_ms);
      for (const v of file.frames) {
        const verdict = checkFrame(bytes(v.frame), v.transport_dev, lookup, file.gateway_now_ms, {
          retentionMs: file.retention_ms,
        });
        expect(verdict.ok, v.name).toBe(true);
      }
    });
  });

  describe('frames-invalid.json', () => {
    const file = load<InvalidFramesFile>('frames-invalid.json');
    const policy: AcceptancePolicy = { retentionMs: file.retention_ms };
    const lookup = registry(file.enrolled, file.gateway_now_ms);

    it.each(file.frames.map((f) => [f.name, f] as const))(
      'error: %s is rejected with its code and seq',
      (_n, v) => {
        const verdict = checkFrame(bytes(v.frame), v.transport_dev, lookup, file.gateway_now_ms, policy);
        expect(verdict.ok).toBe(false);
        if (verdict.ok) return;
        expect({ code: verdict.code, seq: verdict.seq ?? null }).toEqual(v.expected);
      },
    );

    it('behavior: a case for every frame-level code a device can cause by its bytes or clock', () => {
      const codes = new Set(file.frames.map((f) => f.expected.code));
      for (const c of [
        'malformed',
        'bad_signature',
        'identity_mismatch',
        'unknown_device',
        'clock_skew',
        'too_old',
      ])
        expect(codes).toContain(c);
      expect(file.frames.some((f) => f.expected.seq === null)).toBe(true);
    });
  });

  describe('serial.json', () => {
    const file = load<{
      crc32: { data: string; crc32: string }[];
      cobs: { name: string; decoded: string; encoded: string }[];
      messages: { name: string; body: string; crc32: string; wire: string }[];
    }>('serial.json');

    it('behavior: CRC-32 known answers (IEEE 802.3 / zlib; check value cbf43926)', () => {
      expect(file.crc32.find((c) => c.data === hex(new TextEncoder().encode('123456789')))?.crc32).toBe(
        'cbf43926',
      );
      for (const c of file.crc32) expect(crcHex(bytes(c.data))).toBe(c.crc32);
    });

    it.each(file.cobs.map((c) => [c.name, c] as const))('behavior: COBS %s encodes and decodes', (_n, c) => {
      expect(hex(cobsEncode(bytes(c.decoded)))).toBe(c.encoded);
      expect(bytes(c.encoded).includes(0)).toBe(false);
      expect(hex(cobsDecode(bytes(c.encoded)) ?? Uint8Array.of(0xde, 0xad))).toBe(c.decoded);
    });

    it.each(file.messages.map((m) => [m.name, m] as const))('behavior: message %s', (_n, m) => {
      const body = bytes(m.body);
      expect(crcHex(body)).toBe(m.crc32);
      expect(hex(encodeSerialMessage(body))).toBe(m.wire);
      const wire = bytes(m.wire);
      expect(wire.indexOf(0)).toBe(wire.length - 1);
      const r = decodeSerialMessage(wire.subarray(0, wire.length - 1));
      expect(r.ok && hex(r.body)).toBe(m.body);
      expect(decodeFrame(body).body.dev).toBe('wr-kit-0001');
    });
  });

  describe('serial-invalid.json', () => {
    const file = load<{
      max_body_bytes: number;
      max_buffered_bytes: number;
      answers: { bad_cobs: null; bad_crc: null; too_short: null; oversize: { reply: unknown; wire: string } };
      messages: { name: string; encoded: string; expected: { code: string } }[];
      streams: { name: string; segments: Segment[]; expected: { events: StreamEvent[] } }[];
    }>('serial-invalid.json');

    it('behavior: only an oversize run is answered, with the nak of an unparsable frame', () => {
      expect(file.answers).toEqual({
        bad_cobs: null,
        bad_crc: null,
        too_short: null,
        oversize: {
          reply: { kind: 'nak', seq: SERIAL_UNKNOWN_SEQ, code: 'malformed' },
          wire: hex(encodeSerialMessage(encodeSerialNak(SERIAL_UNKNOWN_SEQ, 'malformed'))),
        },
      });
      const wire = bytes(file.answers.oversize.wire);
      const r = decodeSerialMessage(wire.subarray(0, wire.length - 1));
      expect(r.ok && decodeSerialReply(r.body)).toEqual(file.answers.oversize.reply);
    });

    it('behavior: the limits are the parser defaults', () => {
      expect(file.max_body_bytes).toBe(MAX_FRAME_BYTES);
      expect(new CobsCrcParser().maxBufferedBytes).toBe(file.max_buffered_bytes);
    });

    it.each(file.messages.map((m) => [m.name, m] as const))('error: %s', (_n, m) => {
      expect(decodeSerialMessage(bytes(m.encoded))).toEqual({ ok: false, code: m.expected.code });
    });

    it.each(file.streams.map((s) => [s.name, s] as const))('behavior: stream %s', async (_n, s) => {
      const stream = expandStream(s.segments);
      // The reference reading: split on 0x00, skip empty messages, drop an unterminated tail.
      const parts = hex(stream)
        .match(/../g)!
        .map((b) => Number.parseInt(b, 16));
      const events: StreamEvent[] = [];
      let cur: number[] = [];
      for (const b of parts) {
        if (b !== 0) {
          cur.push(b);
          continue;
        }
        if (cur.length > file.max_buffered_bytes) events.push({ line_error: 'oversize', bytes: cur.length });
        else if (cur.length > 0) {
          const r = decodeSerialMessage(Uint8Array.from(cur));
          events.push(r.ok ? { message: hex(r.body) } : { line_error: r.code, bytes: cur.length });
        }
        cur = [];
      }
      expect(events).toEqual(s.expected.events);

      // The gateway's parser, fed in uneven chunks.
      const parser = new CobsCrcParser();
      const seen: StreamEvent[] = [];
      parser.on('data', (b: Buffer) => seen.push({ message: hex(b) }));
      parser.on('lineError', (e: SerialLineError) => seen.push({ line_error: e.code, bytes: e.bytes }));
      const done = new Promise<void>((resolve) => parser.on('end', () => resolve()));
      for (let at = 0, n = 1; at < stream.length; at += n, n = (n * 7 + 3) % 61) {
        parser.write(Buffer.from(stream.subarray(at, at + n)));
      }
      parser.end();
      await done;
      expect(seen).toEqual(s.expected.events);
    });
  });

  describe('replies.json', () => {
    const file = load<{
      serial: {
        reply: { kind: 'ack' | 'nak'; seq: number; code?: string };
        body_cbor: string;
        wire: string;
      }[];
      serial_invalid: { name: string; body_cbor: string }[];
      mqtt: {
        dev: string;
        topics: { frames: string; rejects: string; acks: string };
        acks: { seq: number; payload: string }[];
        rejects: { seq: number | null; code: string; payload: string }[];
      };
    }>('replies.json');

    it.each(file.serial.map((r) => [`${r.reply.kind} ${r.reply.seq}`, r] as const))(
      'behavior: serial %s',
      (_n, r) => {
        const body =
          r.reply.kind === 'ack' ? encodeSerialAck(r.reply.seq) : encodeSerialNak(r.reply.seq, r.reply.code!);
        expect(hex(body)).toBe(r.body_cbor);
        expect(hex(encodeSerialMessage(body))).toBe(r.wire);
        expect(decodeSerialReply(bytes(r.body_cbor))).toEqual(r.reply);
      },
    );

    it.each(file.serial_invalid.map((r) => [r.name, r] as const))(
      'error: serial reply %s is refused',
      (_n, r) => {
        expect(decodeSerialReply(bytes(r.body_cbor))).toBeNull();
      },
    );

    it('behavior: MQTT topics and JSON payloads', () => {
      const { dev, topics } = file.mqtt;
      expect(topics).toEqual({ frames: framesTopic(dev), rejects: rejectsTopic(dev), acks: acksTopic(dev) });
      for (const a of file.mqtt.acks) {
        expect(appAckPayload(a.seq).toString()).toBe(a.payload);
        expect(JSON.parse(a.payload)).toEqual({ seq: a.seq });
      }
      for (const r of file.mqtt.rejects) {
        const parsed = JSON.parse(r.payload) as { seq: number | null; code: string; reason: string };
        expect(Object.keys(parsed)).toEqual(['seq', 'code', 'reason']);
        expect({ seq: parsed.seq, code: parsed.code }).toEqual({ seq: r.seq, code: r.code });
        const again = rejectPayload({
          ...(r.seq === null ? {} : { seq: r.seq }),
          code: r.code,
          reason: parsed.reason,
        }).toString();
        expect(again).toBe(r.payload);
      }
    });
  });
});

/** The test key enrolled, active and valid around `now`, for each of `devs`. */
function registry(devs: readonly string[], now: number): (dev: string) => DeviceRecord | undefined {
  const records = new Map(
    devs.map((dev): [string, DeviceRecord] => [
      dev,
      {
        dev,
        publicKey: PUBLIC_KEY,
        status: 'active',
        notBefore: now - 86_400_000,
        notAfter: now + 86_400_000,
      },
    ]),
  );
  return (dev) => records.get(dev);
}
