/**
 * The frame codec of PROTOCOL.md §1 against a fixed vector: a COSE_Sign1 frame signed by
 * the fixed test key in test/fixtures/frames (a test fixture, never a real device key).
 * Reproduce the expected bytes with any CBOR tool, e.g.
 *   python3 -c "import cbor2; print(cbor2.dumps({1:-7,4:b'wr-0001'}, canonical=True).hex())"
 * Then parse/generate/mirror, strict-decoding rejections, and random bytes (STYLE.md §4).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encode, Tag } from 'cbor2';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  COSE_ALG_EDDSA,
  decodeFrame,
  encodeBody,
  encodeProtectedHeader,
  type FrameBody,
  FrameError,
  frameHash,
  MAX_BODY_BYTES,
  signFrame,
  sigStructure,
  verifyFrameSignature,
  waveformSamples,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';
import { fcRuns } from '../helpers/fc-runs.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/frames/${name}`, import.meta.url), 'utf8');
const publicKey = createPublicKey(fixture('device-test.pub.pem'));
const privateKey = createPrivateKey(fixture('device-test.key.pem'));
const VECTOR = Buffer.from(fixture('wr-0001-seq1.cose.hex').trim(), 'hex'); // a Buffer on purpose: callers pass them

// {1: -7, 4: h'77722d30303031'}  — alg ES256, kid "wr-0001"
const EXPECTED_PROTECTED = 'a2' + '0126' + '0447' + '77722d30303031';
// Body in RFC 8949 §4.2.1 order (shorter encoded keys first, then bytewise):
// {"v": 1, "ts": 1767225600000, "bat": 87, "dev": "wr-0001",
//  "obs": {"hr": 72, "rr": 14, "dbp": 80, "sbp": 120, "spo2": 98, "temp": 3712},
//  "seq": 1, "prev": h'00…00'}
const EXPECTED_PAYLOAD =
  'a7' +
  '6176' +
  '01' +
  '627473' +
  '1b0000019b76daa800' +
  '63626174' +
  '1857' +
  '63646576' +
  '6777722d30303031' +
  '636f6273' +
  'a6' +
  '626872' +
  '1848' +
  '627272' +
  '0e' +
  '63646270' +
  '1850' +
  '63736270' +
  '1878' +
  '6473706f32' +
  '1862' +
  '6474656d70' +
  '190e80' +
  '63736571' +
  '01' +
  '6470726576' +
  '5820' +
  '00'.repeat(32);

const BODY: FrameBody = {
  v: 1,
  dev: 'wr-0001',
  seq: 1,
  ts: 1767225600000,
  prev: ZERO_HASH,
  obs: { hr: 72, spo2: 98, rr: 14, temp: 3712, sbp: 120, dbp: 80 },
  bat: 87,
};

function expectMalformed(bytes: Uint8Array, reason?: RegExp): void {
  try {
    decodeFrame(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).code).toBe('malformed');
    if (reason) expect((err as FrameError).reason).toMatch(reason);
    return;
  }
  throw new Error('expected a malformed frame');
}

/** A tagged COSE_Sign1 around an arbitrary body value, correctly signed by the test key. */
function frameWithBody(body: unknown, opts: { raw?: Uint8Array } = {}): Uint8Array {
  const payload = new Uint8Array(opts.raw ?? encode(body));
  const protectedBytes = encodeProtectedHeader(-7, 'wr-0001');
  return encode(new Tag(18, [protectedBytes, new Map(), payload, new Uint8Array(64)]));
}

describe('known-answer vector', () => {
  test('behavior: protected header and payload match the expected bytes exactly', () => {
    const f = decodeFrame(VECTOR);
    expect(Buffer.from(f.protectedBytes).toString('hex')).toBe(EXPECTED_PROTECTED);
    expect(Buffer.from(f.payload).toString('hex')).toBe(EXPECTED_PAYLOAD);
    expect(f.alg).toBe(-7);
    expect(f.kid).toBe('wr-0001');
    expect(f.signature).toHaveLength(64);
    expect({ ...f.body, obs: { ...f.body.obs } }).toEqual(BODY);
    // The encoder produces exactly these bytes from the body (generate = parse mirror).
    expect(Buffer.from(encodeBody(BODY)).toString('hex')).toBe(EXPECTED_PAYLOAD);
    // Sig_structure = ["Signature1", protected (12-byte bstr: 4c), h'' (40), payload (119-byte bstr: 58 77)]
    expect(Buffer.from(sigStructure(f.protectedBytes, f.payload)).toString('hex')).toBe(
      `84${'6a5369676e617475726531'}4c${EXPECTED_PROTECTED}40${'5877'}${EXPECTED_PAYLOAD}`,
    );
  });

  test('behavior: sigStructure equals the deterministic CBOR encoding for every length class', () => {
    for (const [pl, yl] of [
      [0, 0],
      [12, 23],
      [24, 255],
      [256, 65535],
      [3, 65536],
    ] as const) {
      const p = new Uint8Array(pl).fill(1);
      const y = new Uint8Array(yl).fill(2);
      const want = encode(['Signature1', p, new Uint8Array(0), y], { cde: true });
      expect(Buffer.from(sigStructure(p, y)).equals(Buffer.from(want))).toBe(true);
    }
  });

  test('behavior: the fixed signature verifies with the test key', () => {
    expect(verifyFrameSignature(decodeFrame(VECTOR), publicKey)).toBe(true);
  });

  test('error: every single bit flip of the frame fails (malformed, or the signature does not verify)', () => {
    let malformed = 0;
    let badSig = 0;
    for (let i = 0; i < VECTOR.length * 8; i++) {
      const m = Uint8Array.from(VECTOR);
      m[i >> 3]! ^= 1 << (i & 7);
      try {
        const f = decodeFrame(m);
        expect(verifyFrameSignature(f, publicKey)).toBe(false);
        badSig++;
      } catch (err) {
        expect(err).toBeInstanceOf(FrameError);
        malformed++;
      }
    }
    expect(malformed + badSig).toBe(VECTOR.length * 8);
    expect(badSig).toBeGreaterThan(512); // every signature bit at least
  });
});

describe('sign, decode, verify', () => {
  test('behavior: round trip with ES256, frameHash is SHA-256 of the exact bytes', () => {
    const bytes = signFrame({ ...BODY, seq: 2, prev: frameHash(VECTOR) }, privateKey);
    const f = decodeFrame(bytes);
    expect(f.body.seq).toBe(2);
    expect(Buffer.from(f.body.prev)).toEqual(Buffer.from(frameHash(VECTOR)));
    expect(verifyFrameSignature(f, publicKey)).toBe(true);
    expect(Buffer.from(frameHash(bytes)).toString('hex')).toMatch(/^[0-9a-f]{64}$/);
  });

  test('behavior: EdDSA (Ed25519) frames verify with an Ed25519 key and not with a P-256 key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const ed = generateKeyPairSync('ed25519');
    const f = decodeFrame(signFrame(BODY, ed.privateKey, COSE_ALG_EDDSA));
    expect(f.alg).toBe(-8);
    expect(verifyFrameSignature(f, ed.publicKey)).toBe(true);
    expect(verifyFrameSignature(f, publicKey)).toBe(false);
  });

  test('error: alg confusion — an ES256 frame never verifies with an Ed25519 key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    expect(verifyFrameSignature(decodeFrame(VECTOR), generateKeyPairSync('ed25519').publicKey)).toBe(false);
  });

  test('behavior: a waveform chunk round-trips as int16 little-endian microvolts', () => {
    const samples = Int16Array.from([0, 120, -340, 1000, -32768, 32767]);
    const wf = { kind: 'ecg' as const, fs: 250, s: new Uint8Array(samples.buffer) };
    const f = decodeFrame(signFrame({ ...BODY, wf }, privateKey));
    expect(Array.from(waveformSamples(f.body.wf!))).toEqual(Array.from(samples));
  });

  test('error: encodeBody refuses a body that breaks the schema (TypeError)', () => {
    expect(() => encodeBody({ ...BODY, obs: {} })).toThrow(TypeError);
    expect(() => encodeBody({ ...BODY, dev: 'bad id!' })).toThrow(TypeError);
    expect(() => encodeBody({ ...BODY, seq: 0 })).toThrow(TypeError);
  });
});

describe('strict decoding (PROTOCOL.md §1 "Decoders MUST reject")', () => {
  const good = () =>
    new Map<string, unknown>(Object.entries({ ...BODY, obs: new Map(Object.entries(BODY.obs)) }));

  test('error: indefinite-length items', () => {
    // {_ "v": 1 …} — an indefinite-length map as the body
    const enc = Buffer.from(encode(good())).toString('hex');
    const indefinite = Buffer.from(`bf${enc.slice(2)}ff`, 'hex');
    expectMalformed(frameWithBody(null, { raw: indefinite }), /not valid CBOR/);
  });

  test('error: duplicate map keys', () => {
    const enc = Buffer.from(encode(good())).toString('hex');
    // one more pair "v": 1 with the map length bumped by one
    const dup = Buffer.from(`a8${enc.slice(2)}617601`, 'hex');
    expectMalformed(frameWithBody(null, { raw: dup }), /not valid CBOR/);
  });

  test('error: unknown top-level keys, unknown observations, wrong types', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ extra: 1 }, /unknown top-level key/],
      [{ v: 2 }, /v must be 1/],
      [{ seq: 0 }, /seq/],
      [{ seq: -1 }, /seq/],
      [{ ts: 1.5 }, /ts/],
      [{ prev: new Uint8Array(31) }, /prev/],
      [{ prev: new Uint8Array(32).fill(1) }, /prev must be zero when seq is 1/],
      [{ obs: new Map() }, /at least one/],
      [{ obs: new Map([['glucose', 5]]) }, /unknown observation/],
      [{ obs: new Map([['hr', 72.5]]) }, /unsigned integers/],
      [{ obs: new Map([['hr', -1]]) }, /unsigned integers/],
      [{ dev: 'a/b' }, /dev/],
      [{ dev: 'x'.repeat(65) }, /dev/],
      [{ bat: 101 }, /bat/],
      [
        {
          wf: new Map<string, unknown>([
            ['kind', 'ppg'],
            ['fs', 1],
            ['s', new Uint8Array(2)],
          ]),
        },
        /wf.kind/,
      ],
      [
        {
          wf: new Map<string, unknown>([
            ['kind', 'ecg'],
            ['fs', 250],
            ['s', new Uint8Array(3)],
          ]),
        },
        /int16/,
      ],
    ];
    for (const [over, reason] of cases) {
      const m = good();
      for (const [k, v] of Object.entries(over)) m.set(k, v);
      expectMalformed(frameWithBody(m), reason);
    }
  });

  test('error: bodies over 64 KiB', () => {
    const m = good();
    m.set(
      'wf',
      new Map<string, unknown>([
        ['kind', 'ecg'],
        ['fs', 250],
        ['s', new Uint8Array(MAX_BODY_BYTES)],
      ]),
    );
    expectMalformed(frameWithBody(m), /exceeds/);
  });

  test('error: envelope shapes — untagged, wrong tag, wrong arity, headers', () => {
    const p = encodeProtectedHeader(-7, 'wr-0001');
    const payload = encodeBody(BODY);
    const sig = new Uint8Array(64);
    expectMalformed(encode([p, new Map(), payload, sig]), /tag 18/);
    expectMalformed(encode(new Tag(17, [p, new Map(), payload, sig])), /tag 18/);
    expectMalformed(encode(new Tag(18, [p, new Map(), payload])), /4 items/);
    expectMalformed(encode(new Tag(18, [p, new Map([[1, -7]]), payload, sig])), /unprotected/);
    expectMalformed(encode(new Tag(18, [p, new Map(), payload, new Uint8Array(70)])), /signature/);
    expectMalformed(
      encode(
        new Tag(18, [
          encode(
            new Map<number, unknown>([
              [1, -35],
              [4, Buffer.from('wr-0001')],
            ]),
          ),
          new Map(),
          payload,
          sig,
        ]),
      ),
      /alg/,
    );
    expectMalformed(
      encode(new Tag(18, [encode(new Map([[1, -7]])), new Map(), payload, sig])),
      /protected header/,
    );
    expectMalformed(
      encode(
        new Tag(18, [
          encode(
            new Map<number, unknown>([
              [1, -7],
              [4, 'wr-0001'],
            ]),
          ),
          new Map(),
          payload,
          sig,
        ]),
      ),
      /kid/,
    );
    // trailing bytes after the frame
    expectMalformed(Buffer.concat([VECTOR, Buffer.from([0x00])]), /not valid CBOR/);
  });

  test('error: random bytes never crash the decoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: fcRuns(process.env.CI ? 5000 : 1000) },
    );
  });

  test('error: type confusion on the public API throws TypeError, never a crash', () => {
    for (const bad of [null, undefined, 'frame', 42, {}, [1, 2], new ArrayBuffer(8)]) {
      expect(() => decodeFrame(bad as unknown as Uint8Array)).toThrow(TypeError);
    }
  });
});
