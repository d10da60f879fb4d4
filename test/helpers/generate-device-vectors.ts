/**
 * @module test/helpers/generate-device-vectors
 * The device maker's test vectors of test/vectors/device (PROTOCOL.md §1-3, §6): frames
 * (CBOR body, protected header, Sig_structure, ES256 signature, frame hash, leaf hash),
 * frames the gateway rejects with their codes, serial framing (COBS, CRC-32, delimiters, a
 * noisy stream) and the replies (serial acks/naks, MQTT acks/rejects). Everything is made
 * with the project's own encoders from the fixed, published TEST key
 * test/fixtures/device-kit/TEST-ONLY-device-key.pem; ES256 signatures are RFC 6979
 * deterministic (@noble/curves), so the output is byte-for-byte reproducible.
 * test/unit/device-vectors.test.ts checks every vector against the decoders and fails when
 * the committed files differ from what this generator writes. Regenerate (on purpose only)
 * from the repository root with
 *
 *   npm run build && node dist/test/helpers/generate-device-vectors.js
 *
 * Trust: the key is public. It signs nothing but these vectors and is never enrolled.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { p256 } from '@noble/curves/p256';
import { encode, Tag } from 'cbor2';
import { hashLeaf } from '../../anchor/src/log/index.js';
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
  COSE_SIGN1_TAG,
  type DecodedBody,
  encodeBody,
  encodeProtectedHeader,
  frameHash,
  MAX_FRAME_BYTES,
  sigStructure,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';
import {
  encodeSerialAck,
  encodeSerialNak,
  SERIAL_UNKNOWN_SEQ,
} from '../../gateway/src/protocol/serial-control.js';
import {
  cobsEncode,
  cobsMaxEncodedLength,
  encodeSerialMessage,
  SERIAL_CRC_BYTES,
  serialCrc32,
} from '../../gateway/src/protocol/serial-framing.js';

/** The format tag every vector file carries; bump on an incompatible change. */
export const DEVICE_VECTORS_FORMAT = 'vitaltrail-device-vectors/1';
/** Repository-relative paths of the key and the vector folder. */
export const DEVICE_KIT_KEY_PATH = 'test/fixtures/device-kit/TEST-ONLY-device-key.pem';
export const DEVICE_VECTORS_DIR = 'test/vectors/device';
/** The vector files, in the order the README lists them. */
export const DEVICE_VECTOR_FILES = [
  'frames.json',
  'frames-invalid.json',
  'serial.json',
  'serial-invalid.json',
  'replies.json',
] as const;
export type DeviceVectorFile = (typeof DEVICE_VECTOR_FILES)[number];

/** The device id every vector frame is signed for (the kid and `dev`). */
export const KIT_DEV = 'wr-kit-0001';
/** 2026-01-01T00:00:00Z: `ts` of the first frame. */
export const KIT_TS0 = 1_767_225_600_000;
/** The gateway clock the acceptance vectors are judged at: 10 s after the first frame. */
export const KIT_NOW = KIT_TS0 + 10_000;
/** The gateway's default retention horizon (PROTOCOL.md §6: 30 days). */
export const KIT_RETENTION_MS = 30 * 24 * 3600 * 1000;
const FIVE_MINUTES = 5 * 60 * 1000;

/** Lowercase hex without a prefix: what every byte field of the vectors holds. */
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** The test key's P-256 scalar and public point, from its PKCS#8 PEM. */
export function kitKey(pem: string): { d: Uint8Array; x: Uint8Array; y: Uint8Array; spki: Uint8Array } {
  const jwk = createPrivateKey(pem).export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y)
    throw new TypeError('kitKey: pem must be a P-256 private key');
  const b64u = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));
  const spki = createPublicKey(pem).export({ format: 'der', type: 'spki' });
  return { d: b64u(jwk.d), x: b64u(jwk.x), y: b64u(jwk.y), spki: new Uint8Array(spki) };
}

/** ES256 over the Sig_structure, RFC 6979 deterministic (r || s, 64 bytes). */
function es256(d: Uint8Array, toBeSigned: Uint8Array): Uint8Array {
  return p256.sign(sha256(toBeSigned), d).toCompactRawBytes();
}

/** A tagged COSE_Sign1 from its four items (deterministic encoding, PROTOCOL.md §1). */
function sign1(protectedBytes: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array {
  return encode(new Tag(COSE_SIGN1_TAG, [protectedBytes, new Map(), payload, signature]), { cde: true });
}

/** A body as the vectors write it: byte strings as hex. */
function bodyJson(b: DecodedBody): Record<string, unknown> {
  const out: Record<string, unknown> = {
    v: b.v,
    dev: b.dev,
    seq: b.seq,
    ts: b.ts,
    prev: hex(b.prev),
    obs: b.obs,
  };
  if (b.wf) out.wf = { kind: b.wf.kind, fs: b.wf.fs, s: hex(b.wf.s) };
  if (b.bat !== undefined) out.bat = b.bat;
  return out;
}

/** int16 little-endian samples (µV), as `wf.s` holds them. */
function samples(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (const [i, v] of values.entries()) view.setInt16(i * 2, v, true);
  return out;
}

/** A deterministic synthetic ECG-like chunk of `n` samples (no physiology claimed). */
function syntheticEcg(n: number): Uint8Array {
  return samples(
    Array.from({ length: n }, (_, i) => Math.round(900 * Math.sin(i / 7) - 150 * Math.cos(i / 3))),
  );
}

interface Signed {
  body: DecodedBody;
  payload: Uint8Array;
  protectedBytes: Uint8Array;
  toBeSigned: Uint8Array;
  signature: Uint8Array;
  frame: Uint8Array;
}

function signBody(d: Uint8Array, body: DecodedBody, kid = body.dev): Signed {
  const payload = encodeBody(body);
  return signPayload(d, payload, kid, body);
}

/** Signs raw payload bytes (which may break the body rules on purpose). */
function signPayload(d: Uint8Array, payload: Uint8Array, kid: string, body: DecodedBody): Signed {
  const protectedBytes = encodeProtectedHeader(COSE_ALG_ES256, kid);
  const toBeSigned = sigStructure(protectedBytes, payload);
  const signature = es256(d, toBeSigned);
  return {
    body,
    payload,
    protectedBytes,
    toBeSigned,
    signature,
    frame: sign1(protectedBytes, payload, signature),
  };
}

function frameVector(name: string, description: string, s: Signed): Record<string, unknown> {
  return {
    name,
    description,
    transport_dev: s.body.dev,
    body: bodyJson(s.body),
    body_cbor: hex(s.payload),
    protected_header: hex(s.protectedBytes),
    sig_structure: hex(s.toBeSigned),
    sig_structure_sha256: hex(sha256(s.toBeSigned)),
    signature: hex(s.signature),
    frame: hex(s.frame),
    frame_hash: hex(frameHash(s.frame)),
    leaf_hash: hex(hashLeaf(s.frame)),
    expected: { verdict: 'accepted' },
  };
}

/** The valid chain of four frames (seq 1-4), each `prev` the hash of the one before. */
function validChain(d: Uint8Array): Signed[] {
  const b1: DecodedBody = {
    v: 1,
    dev: KIT_DEV,
    seq: 1,
    ts: KIT_TS0,
    prev: ZERO_HASH,
    obs: { hr: 72, spo2: 98 },
  };
  const s1 = signBody(d, b1);
  const b2: DecodedBody = {
    v: 1,
    dev: KIT_DEV,
    seq: 2,
    ts: KIT_TS0 + 1000,
    prev: frameHash(s1.frame),
    obs: { hr: 72, spo2: 98, rr: 16, temp: 3712, sbp: 120, dbp: 80 },
    bat: 87,
  };
  const s2 = signBody(d, b2);
  const b3: DecodedBody = {
    v: 1,
    dev: KIT_DEV,
    seq: 3,
    ts: KIT_TS0 + 2000,
    prev: frameHash(s2.frame),
    obs: { hr: 71 },
    wf: { kind: 'ecg', fs: 250, s: samples([0, 120, 480, 1200, -300, -80, 0, 15]) },
  };
  const s3 = signBody(d, b3);
  const b4: DecodedBody = {
    v: 1,
    dev: KIT_DEV,
    seq: 4,
    ts: KIT_TS0 + 3000,
    prev: frameHash(s3.frame),
    obs: { hr: 70, spo2: 97 },
    wf: { kind: 'ecg', fs: 250, s: syntheticEcg(250) },
    bat: 86,
  };
  return [s1, s2, s3, signBody(d, b4)];
}

/** Replaces the first occurrence of `from` in `bytes` by `to`. */
function patch(bytes: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const at = Buffer.from(bytes).indexOf(Buffer.from(from));
  if (at < 0) throw new Error('patch: pattern not found');
  return concat(bytes.subarray(0, at), to, bytes.subarray(at + from.length));
}

/** A body as a cbor2 Map in deterministic key order, for encodings `encodeBody` refuses. */
function rawBody(fields: [string, unknown][]): Uint8Array {
  return encode(new Map(fields), { cde: true });
}

interface Expected {
  code: string;
  seq: number | null;
}

function invalidVector(
  name: string,
  description: string,
  frame: Uint8Array,
  expected: Expected,
  transportDev = KIT_DEV,
): Record<string, unknown> {
  return { name, description, transport_dev: transportDev, frame: hex(frame), expected };
}

function invalidFrames(d: Uint8Array, chain: Signed[]): Record<string, unknown>[] {
  const s1 = chain[0]!;
  const b1 = s1.body;
  const flipped = s1.frame.slice();
  flipped[flipped.length - 1]! ^= 0x01;
  // The body of frame 1 with hr 73 instead of 72 (0x18 0x48 -> 0x18 0x49), signature kept.
  const tampered = sign1(
    s1.protectedBytes,
    patch(
      s1.payload,
      Uint8Array.of(0x62, 0x68, 0x72, 0x18, 0x48),
      Uint8Array.of(0x62, 0x68, 0x72, 0x18, 0x49),
    ),
    s1.signature,
  );
  // DER signature (SEQUENCE of two INTEGERs) instead of r || s.
  const der = p256.Signature.fromCompact(s1.signature).toDERRawBytes();
  const floatPayload = patch(
    s1.payload,
    Uint8Array.of(0x62, 0x68, 0x72, 0x18, 0x48),
    Uint8Array.of(0x62, 0x68, 0x72, 0xf9, 0x54, 0x80),
  );
  const indefinitePayload = concat(Uint8Array.of(0xbf), s1.payload.subarray(1), Uint8Array.of(0xff));
  const dupPayload = concat(
    Uint8Array.of(s1.payload[0]! + 1),
    s1.payload.subarray(1),
    Uint8Array.of(0x61, 0x76, 0x01), // "v": 1 again
  );
  const base: [string, unknown][] = [
    ['v', 1],
    ['ts', KIT_TS0],
    ['dev', KIT_DEV],
    ['obs', new Map([['hr', 72]])],
    ['seq', 1],
    ['prev', ZERO_HASH],
  ];
  const unknownKey = rawBody([...base, ['note', 'hi']]);
  const unknownObs = rawBody(
    base.map(([k, v]): [string, unknown] => [
      k,
      k === 'obs'
        ? new Map([
            ['hr', 72],
            ['glucose', 5],
          ])
        : v,
    ]),
  );
  const prevNonZero = rawBody(
    base.map(([k, v]): [string, unknown] => [k, k === 'prev' ? new Uint8Array(32).fill(0xab) : v]),
  );
  const seqZero = rawBody(base.map(([k, v]): [string, unknown] => [k, k === 'seq' ? 0 : v]));
  const nonEmptyUnprotected = encode(
    new Tag(COSE_SIGN1_TAG, [s1.protectedBytes, new Map([[4, utf8(KIT_DEV)]]), s1.payload, s1.signature]),
    { cde: true },
  );
  const untagged = encode([s1.protectedBytes, new Map(), s1.payload, s1.signature], { cde: true });
  const otherKid = signBody(d, b1, 'wr-kit-0002');
  const unknown = signBody(d, { ...b1, dev: 'wr-kit-9999' });
  const skewed = signBody(d, { ...b1, ts: KIT_NOW + FIVE_MINUTES + 1 });
  const old = signBody(d, { ...b1, ts: KIT_NOW - KIT_RETENTION_MS - 1 });
  const malformed = (seq: number | null): Expected => ({ code: 'malformed', seq });
  return [
    invalidVector('bad-signature-flipped-byte', 'frames[0] with the last signature byte flipped', flipped, {
      code: 'bad_signature',
      seq: 1,
    }),
    invalidVector(
      'bad-signature-tampered-body',
      'frames[0] with hr 73 in the body, signature of hr 72 kept',
      tampered,
      {
        code: 'bad_signature',
        seq: 1,
      },
    ),
    invalidVector('malformed-not-cbor', 'ASCII text, not CBOR', utf8('not a frame'), malformed(null)),
    invalidVector(
      'malformed-truncated',
      'frames[0] cut 10 bytes short',
      s1.frame.subarray(0, s1.frame.length - 10),
      malformed(null),
    ),
    invalidVector('malformed-untagged', 'frames[0] without CBOR tag 18', untagged, malformed(null)),
    invalidVector(
      'malformed-unprotected-not-empty',
      'frames[0] with the kid also in the unprotected header (PROTOCOL.md §1: empty map)',
      nonEmptyUnprotected,
      malformed(null),
    ),
    invalidVector(
      'malformed-der-signature',
      'frames[0] with a DER signature instead of r || s (PROTOCOL.md §6)',
      sign1(s1.protectedBytes, s1.payload, der),
      malformed(1),
    ),
    invalidVector(
      'malformed-float-observation',
      'hr as the half float 72.0 (f9 5480), correctly signed (PROTOCOL.md §6)',
      signPayload(d, floatPayload, KIT_DEV, b1).frame,
      malformed(1),
    ),
    invalidVector(
      'malformed-indefinite-body',
      'the body map of frames[0] with indefinite length, correctly signed',
      signPayload(d, indefinitePayload, KIT_DEV, b1).frame,
      malformed(null),
    ),
    invalidVector(
      'malformed-duplicate-key',
      'the body of frames[0] with "v" twice, correctly signed',
      signPayload(d, dupPayload, KIT_DEV, b1).frame,
      malformed(null),
    ),
    invalidVector(
      'malformed-unknown-key',
      'a body with the unknown top-level key "note", correctly signed',
      signPayload(d, unknownKey, KIT_DEV, b1).frame,
      malformed(1),
    ),
    invalidVector(
      'malformed-unknown-observation',
      'obs with the key "glucose", correctly signed',
      signPayload(d, unknownObs, KIT_DEV, b1).frame,
      malformed(1),
    ),
    invalidVector(
      'malformed-prev-not-zero-at-seq-1',
      'seq 1 with prev not all zero, correctly signed',
      signPayload(d, prevNonZero, KIT_DEV, b1).frame,
      malformed(1),
    ),
    invalidVector(
      'malformed-seq-zero',
      'seq 0 (seqs start at 1), correctly signed',
      signPayload(d, seqZero, KIT_DEV, b1).frame,
      malformed(null),
    ),
    invalidVector(
      'identity-mismatch-transport',
      'frames[0] published by another device (transport wr-kit-0002)',
      s1.frame,
      { code: 'identity_mismatch', seq: 1 },
      'wr-kit-0002',
    ),
    invalidVector(
      'identity-mismatch-kid',
      'kid wr-kit-0002 over a body of dev wr-kit-0001, correctly signed',
      otherKid.frame,
      { code: 'identity_mismatch', seq: 1 },
    ),
    invalidVector(
      'unknown-device',
      'a frame of wr-kit-9999, which holds no certificate',
      unknown.frame,
      { code: 'unknown_device', seq: 1 },
      'wr-kit-9999',
    ),
    invalidVector('clock-skew', 'ts 5 minutes and 1 ms ahead of gateway_now_ms', skewed.frame, {
      code: 'clock_skew',
      seq: 1,
    }),
    invalidVector('too-old', 'ts 1 ms beyond the 30-day retention horizon', old.frame, {
      code: 'too_old',
      seq: 1,
    }),
  ];
}

/** A wire message's parts: body, its CRC-32, and COBS(body || CRC) || 0x00. */
function serialMessage(name: string, body: Uint8Array): Record<string, unknown> {
  return {
    name,
    body: hex(body),
    crc32: serialCrc32(body).toString(16).padStart(8, '0'),
    wire: hex(encodeSerialMessage(body)),
  };
}

/** COBS known answers (Cheshire & Baker 1999; the Wikipedia "COBS" examples). */
function cobsVectors(): Record<string, unknown>[] {
  const seqFrom1 = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i % 255) + 1);
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one zero', Uint8Array.of(0x00)],
    ['two zeros', Uint8Array.of(0x00, 0x00)],
    ['zero inside', Uint8Array.of(0x11, 0x22, 0x00, 0x33)],
    ['no zero', Uint8Array.of(0x11, 0x22, 0x33, 0x44)],
    ['trailing zeros', Uint8Array.of(0x11, 0x00, 0x00, 0x00)],
    ['254 non-zero bytes (one full block)', seqFrom1(254)],
    ['255 non-zero bytes', seqFrom1(255)],
    ['zero then 254 non-zero bytes', concat(Uint8Array.of(0x00), seqFrom1(254))],
  ];
  return cases.map(([name, decoded]) => ({ name, decoded: hex(decoded), encoded: hex(cobsEncode(decoded)) }));
}

interface Segment {
  hex?: string;
  repeat?: string;
  count?: number;
}

/** Expands a stream description: `{hex}` literal bytes, `{repeat, count}` one byte repeated. */
export function expandStream(segments: readonly Segment[]): Uint8Array {
  return concat(
    ...segments.map((s) =>
      s.hex !== undefined
        ? fromHex(s.hex)
        : new Uint8Array(s.count ?? 0).fill(Number.parseInt(s.repeat ?? '00', 16)),
    ),
  );
}

function serialVectors(chain: Signed[]): {
  valid: Record<string, unknown>;
  invalid: Record<string, unknown>;
} {
  const msgs = chain.map((s, i) => serialMessage(`frames[${i}]`, s.frame));
  const valid = {
    format: DEVICE_VECTORS_FORMAT,
    protocol:
      'PROTOCOL.md §2 "Serial": COBS(body || CRC-32(body) big-endian) || 0x00; CRC-32 IEEE 802.3 / zlib',
    crc32: [
      {
        name: 'check value',
        data: hex(utf8('123456789')),
        crc32: serialCrc32(utf8('123456789')).toString(16).padStart(8, '0'),
      },
      { name: 'empty', data: '', crc32: serialCrc32(new Uint8Array(0)).toString(16).padStart(8, '0') },
    ],
    cobs: cobsVectors(),
    messages: msgs,
  };
  const w1 = encodeSerialMessage(chain[0]!.frame);
  const w2 = encodeSerialMessage(chain[1]!.frame);
  const enc1 = w1.subarray(0, w1.length - 1);
  // bad CRC: flip the last CRC byte before COBS.
  const withCrc = fromHex(hex(chain[0]!.frame) + (msgs[0]!.crc32 as string));
  withCrc[withCrc.length - 1]! ^= 0xff;
  const badCrc = cobsEncode(withCrc);
  // bad COBS: the first code byte points past the end of the message.
  const badCobs = Uint8Array.of(0x09, 0x11, 0x22);
  const tooShort = cobsEncode(Uint8Array.of(0xaa, 0xbb, 0xcc));
  const maxBuffered = cobsMaxEncodedLength(MAX_FRAME_BYTES + SERIAL_CRC_BYTES);
  const garbage = Uint8Array.of(0x47, 0x41, 0x52, 0x42, 0x41, 0x47, 0x45); // "GARBAGE": bytes, no zero
  const noisy: Segment[] = [
    { hex: hex(garbage.subarray(0, 3)) }, // a tail of a message whose start was lost
    { hex: '00' },
    { hex: hex(w1) },
    { hex: '0000' }, // empty messages: resynchronisation, ignored
    { hex: hex(garbage) },
    { hex: '00' },
    { hex: hex(badCrc) },
    { hex: '00' },
    { hex: hex(w2) },
    { hex: hex(enc1.subarray(0, 20)) }, // an unterminated tail: dropped at the end of the line
  ];
  const invalid = {
    format: DEVICE_VECTORS_FORMAT,
    protocol:
      'PROTOCOL.md §2 "Serial", §6: a message that fails COBS or CRC-32 is dropped with no answer; an oversize run is answered nak 0 malformed',
    max_body_bytes: MAX_FRAME_BYTES,
    max_buffered_bytes: maxBuffered,
    // What the gateway sends back for each line error (io/transport/serial): nothing, except
    // for an oversize run, which is answered as an unparsable frame (nak 0, PROTOCOL.md §6).
    answers: {
      bad_cobs: null,
      bad_crc: null,
      too_short: null,
      oversize: {
        reply: { kind: 'nak', seq: SERIAL_UNKNOWN_SEQ, code: 'malformed' },
        wire: hex(encodeSerialMessage(encodeSerialNak(SERIAL_UNKNOWN_SEQ, 'malformed'))),
      },
    },
    messages: [
      { name: 'bad CRC (last CRC byte flipped)', encoded: hex(badCrc), expected: { code: 'bad_crc' } },
      { name: 'bad COBS (code byte past the end)', encoded: hex(badCobs), expected: { code: 'bad_cobs' } },
      { name: 'bad COBS (zero byte inside)', encoded: '021100', expected: { code: 'bad_cobs' } },
      {
        name: 'too short for a CRC (3 bytes decoded)',
        encoded: hex(tooShort),
        expected: { code: 'too_short' },
      },
    ],
    streams: [
      {
        name: 'noisy line',
        description:
          'garbage before the first delimiter, frames[0], two empty messages, garbage, a bad-CRC message, frames[1], an unterminated tail',
        segments: noisy,
        expected: {
          events: [
            { line_error: 'bad_cobs', bytes: 3 },
            { message: hex(chain[0]!.frame) },
            { line_error: 'bad_cobs', bytes: garbage.length },
            { line_error: 'bad_crc', bytes: badCrc.length },
            { message: hex(chain[1]!.frame) },
          ],
        },
      },
      {
        name: 'oversize run',
        description: `a run of ${maxBuffered + 1} non-zero bytes (more than max_buffered_bytes), then frames[0]: the run is dropped up to the next delimiter`,
        segments: [{ repeat: '01', count: maxBuffered + 1 }, { hex: '00' }, { hex: hex(w1) }],
        expected: {
          events: [{ line_error: 'oversize', bytes: maxBuffered + 1 }, { message: hex(chain[0]!.frame) }],
        },
      },
    ],
  };
  return { valid, invalid };
}

function replyVectors(): Record<string, unknown> {
  const serial = (reply: Record<string, unknown>, body: Uint8Array) => ({
    reply,
    body_cbor: hex(body),
    wire: hex(encodeSerialMessage(body)),
  });
  const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
  const cborHex = (v: unknown) => hex(encode(v, { cde: true }));
  return {
    format: DEVICE_VECTORS_FORMAT,
    protocol: 'PROTOCOL.md §2 (MQTT acks and rejects, serial acks and naks), §6 (seq null / nak 0)',
    serial: [
      serial({ kind: 'ack', seq: 1 }, encodeSerialAck(1)),
      serial({ kind: 'ack', seq: 24 }, encodeSerialAck(24)),
      serial({ kind: 'ack', seq: 65_536 }, encodeSerialAck(65_536)),
      serial({ kind: 'nak', seq: 2, code: 'bad_signature' }, encodeSerialNak(2, 'bad_signature')),
      serial({ kind: 'nak', seq: 0, code: 'malformed' }, encodeSerialNak(0, 'malformed')),
    ],
    serial_invalid: [
      { name: 'ack 0 (seqs start at 1)', body_cbor: cborHex(new Map([['ack', 0]])) },
      {
        name: 'ack with an extra key',
        body_cbor: cborHex(
          new Map<string, unknown>([
            ['x', 1],
            ['ack', 1],
          ]),
        ),
      },
      { name: 'nak without a code', body_cbor: cborHex(new Map([['nak', 2]])) },
      {
        name: 'nak with a code that is not snake_case',
        body_cbor: cborHex(
          new Map<string, unknown>([
            ['nak', 2],
            ['code', 'Bad Signature'],
          ]),
        ),
      },
      { name: 'ack seq as text', body_cbor: cborHex(new Map([['ack', '1']])) },
      { name: 'indefinite-length map', body_cbor: 'bf6361636b01ff' },
      { name: 'not a map', body_cbor: cborHex([1]) },
    ],
    mqtt: {
      dev: KIT_DEV,
      topics: { frames: framesTopic(KIT_DEV), rejects: rejectsTopic(KIT_DEV), acks: acksTopic(KIT_DEV) },
      acks: [{ seq: 1, payload: text(appAckPayload(1)) }],
      rejects: [
        {
          seq: 1,
          code: 'bad_signature',
          payload: text(
            rejectPayload({
              seq: 1,
              code: 'bad_signature',
              reason: 'the signature does not verify with the device key',
            }),
          ),
        },
        {
          seq: null,
          code: 'malformed',
          payload: text(rejectPayload({ code: 'malformed', reason: 'frame is not valid CBOR' })),
        },
      ],
    },
  };
}

/**
 * Every vector file's text (2-space JSON, a trailing newline), by file name.
 * @param keyPem the fixed test key (PKCS#8 PEM of DEVICE_KIT_KEY_PATH)
 * @example const files = generateDeviceVectors(readFileSync(DEVICE_KIT_KEY_PATH, 'utf8'));
 */
export function generateDeviceVectors(keyPem: string): Record<DeviceVectorFile, string> {
  const key = kitKey(keyPem);
  const chain = validChain(key.d);
  const names = ['es256-first', 'es256-all-observations', 'es256-waveform', 'es256-long-waveform'];
  const descriptions = [
    'seq 1: prev is 32 zero bytes; two observations',
    'seq 2: prev = frame_hash of es256-first; all six observations and bat',
    'seq 3: an 8-sample ECG chunk (wf)',
    'seq 4: a 250-sample ECG chunk: the body is over 255 bytes (2-byte bstr length heads)',
  ];
  const frames = {
    format: DEVICE_VECTORS_FORMAT,
    protocol: 'PROTOCOL.md §1 (frame, Sig_structure, acceptance), §3 (leaf hash)',
    test_key: {
      warning:
        'TEST ONLY: this private key is published. Never provision it on a device or trust it anywhere.',
      curve: 'P-256',
      pkcs8_pem: keyPem,
      d: hex(key.d),
      x: hex(key.x),
      y: hex(key.y),
      spki_der: hex(key.spki),
    },
    signing:
      'ES256, RFC 6979 deterministic nonce (an ordinary randomized ECDSA signature differs but verifies just as well)',
    gateway_now_ms: KIT_NOW,
    retention_ms: KIT_RETENTION_MS,
    frames: chain.map((s, i) => frameVector(names[i]!, descriptions[i]!, s)),
  };
  const invalid = {
    format: DEVICE_VECTORS_FORMAT,
    protocol:
      'PROTOCOL.md §1 acceptance rules, §6 clarifications; judged at gateway_now_ms with the test key enrolled for wr-kit-0001 only',
    gateway_now_ms: KIT_NOW,
    retention_ms: KIT_RETENTION_MS,
    enrolled: [KIT_DEV],
    frames: invalidFrames(key.d, chain),
  };
  const serial = serialVectors(chain);
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  return {
    'frames.json': json(frames),
    'frames-invalid.json': json(invalid),
    'serial.json': json(serial.valid),
    'serial-invalid.json': json(serial.invalid),
    'replies.json': json(replyVectors()),
  };
}

if (process.argv[1]?.endsWith('generate-device-vectors.js')) {
  const root = process.cwd();
  const files = generateDeviceVectors(readFileSync(join(root, DEVICE_KIT_KEY_PATH), 'utf8'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, DEVICE_VECTORS_DIR, name), text);
  process.stdout.write(`wrote ${Object.keys(files).length} files to ${DEVICE_VECTORS_DIR}\n`);
}
