/**
 * @module test/unit/frame-ints
 * Strict integers in frames (PROTOCOL.md §1 and §6, issue 13): every `uint` is a CBOR
 * unsigned integer, so a float (even an integral `72.0`) in any integer field is `malformed`,
 * on the fast path and on cbor2's alike; a value from 2^53 up to 2^64−1 parses and the rules
 * judge it (a `ts` years ahead is `clock_skew`; a seq above 2^53−1, which no log holds, is
 * refused); and a rejection names the seq whenever it was readable.
 */
import { generateKeyPairSync } from 'node:crypto';
import { decode } from 'cbor2';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkFrame, type DeviceRecord } from '../../gateway/src/core/acceptance.js';
import { rejectPayload } from '../../gateway/src/core/topics.js';
import { FALLBACK, fastDecodeObject } from '../../gateway/src/protocol/cbor-fast.js';
import {
  decodeFrame,
  encodeProtectedHeader,
  FrameError,
  STRICT_DECODE,
} from '../../gateway/src/protocol/frame.js';
import { decodeSerialReply, encodeSerialNak } from '../../gateway/src/protocol/serial-control.js';
import { fcRuns } from '../helpers/fc-runs.js';
import {
  coseSign1,
  encodeRawBody,
  type FloatWidth,
  INT_FIELDS,
  type IntField,
  type RawBody,
  signRawBody,
} from '../helpers/frame-ints.js';

const DEV = 'wr-0001';
const NOW = 1_760_000_000_000;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const DEVICE: DeviceRecord = { dev: DEV, publicKey, status: 'active', notBefore: 0, notAfter: 2 * NOW };
const check = (bytes: Uint8Array) =>
  checkFrame(bytes, DEV, (d) => (d === DEV ? DEVICE : undefined), NOW, { retentionMs: 30 * 86_400_000 });

function body(over: Partial<RawBody> = {}): RawBody {
  return {
    v: 1,
    dev: DEV,
    seq: 7,
    ts: NOW - 1000,
    prev: new Uint8Array(32).fill(7),
    obs: { hr: 72, temp: 3712 },
    wf: { kind: 'ecg', fs: 250, s: new Uint8Array(4) },
    bat: 80,
    ...over,
  };
}
const frame = (b: RawBody, field?: IntField, width?: FloatWidth) =>
  signRawBody(encodeRawBody(b, field, width), DEV, privateKey);

describe('strict integers in frames', () => {
  it('error: an integral float in any integer field (hr, seq, ts, v, bat, temp, fs) is malformed, naming the field and the seq', () => {
    expect(check(frame(body())).ok).toBe(true);
    for (const field of INT_FIELDS) {
      for (const width of ['f16', 'f32', 'f64'] as const) {
        const r = check(frame(body(), field, width));
        expect(r, `${field} as ${width}`).toMatchObject({ ok: false, code: 'malformed' });
        if (r.ok) continue;
        expect(r.reason, field).toMatch(field.startsWith('obs.') ? /observations/ : new RegExp(field));
        // The seq was readable unless it is the float itself.
        if (field === 'seq') expect(r.seq).toBeUndefined();
        else expect(r.seq, field).toBe(7);
      }
    }
  });

  it('error: the seq of any malformed frame is named when it is a readable uint (bat out of range, DER-length signature)', () => {
    const r = check(frame(body({ bat: 101 })));
    expect(r).toMatchObject({ ok: false, code: 'malformed', seq: 7 });
    const payload = encodeRawBody(body());
    const short = coseSign1(encodeProtectedHeader(-7, DEV), payload, new Uint8Array(63));
    expect(check(short)).toMatchObject({ ok: false, code: 'malformed', reason: /64 bytes/, seq: 7 });
    // A seq that is not a uint >= 1 is not named.
    expect(check(frame(body({ seq: 0 })))).not.toHaveProperty('seq');
  });

  it('behavior: seq and ts from 2^53 to 2^64-1 parse; a ts years ahead is clock_skew naming the seq', () => {
    const big = 2n ** 64n - 1n;
    const f = decodeFrame(frame(body({ seq: big, ts: 2n ** 53n })));
    expect(f.body.seq).toBe(big);
    expect(f.body.ts).toBe(2n ** 53n);
    expect(check(frame(body({ ts: 2n ** 53n })))).toMatchObject({ ok: false, code: 'clock_skew', seq: 7 });
    expect(check(frame(body({ seq: big, ts: big })))).toMatchObject({
      ok: false,
      code: 'clock_skew',
      seq: big,
    });
  });

  it('error: a seq above 2^53-1 with a good ts is refused (malformed: no log holds it) and named exactly, on /rejects and in the serial nak', () => {
    for (const seq of [2n ** 53n, 2n ** 63n + 5n, 2n ** 64n - 1n]) {
      const r = check(frame(body({ seq })));
      expect(r).toMatchObject({ ok: false, code: 'malformed', seq });
      if (r.ok) continue;
      expect(rejectPayload(r).toString()).toBe(
        `{"seq":${seq},"code":"malformed","reason":${JSON.stringify(r.reason)}}`,
      );
      expect(decode(encodeSerialNak(r.seq!, r.code))).toEqual({ nak: seq, code: 'malformed' });
    }
    expect(check(frame(body({ seq: 2 ** 53 - 1 }))).ok).toBe(true);
    expect(decodeSerialReply(encodeSerialNak(7, 'malformed'))).toEqual({
      kind: 'nak',
      seq: 7,
      code: 'malformed',
    });
  });

  it('behavior: property — any float-encoded integer field is refused while its integer encoding is accepted; fast path and cbor2 agree', () => {
    const value: Record<IntField, fc.Arbitrary<number>> = {
      v: fc.constant(1),
      seq: fc.integer({ min: 2, max: 2 ** 31 }),
      ts: fc.integer({ min: NOW - 86_400_000, max: NOW }),
      bat: fc.integer({ min: 0, max: 100 }),
      'obs.hr': fc.integer({ min: 0, max: 2 ** 40 }),
      'obs.temp': fc.integer({ min: 0, max: 2 ** 40 }),
      'wf.fs': fc.integer({ min: 1, max: 2 ** 24 }),
    };
    const caseArb = fc.constantFrom(...INT_FIELDS).chain((field) =>
      fc.record({
        field: fc.constant(field),
        x: value[field],
        width: fc.constantFrom<FloatWidth>('f16', 'f32', 'f64'),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ field, x, width }) => {
        const [top, sub] = field.split('.') as [string, string | undefined];
        const b = body();
        if (sub === undefined) (b as unknown as Record<string, number>)[top] = x;
        else if (top === 'obs') b.obs[sub] = x;
        else b.wf!.fs = x;
        const asInt = encodeRawBody(b);
        const asFloat = encodeRawBody(b, field, width);
        // Integers: accepted by checkFrame; the fast path decides and yields what cbor2 does.
        expect(check(signRawBody(asInt, DEV, privateKey)).ok).toBe(true);
        const fast = fastDecodeObject(asInt);
        expect(fast).not.toBe(FALLBACK);
        expect(decode(asInt, STRICT_DECODE)).toBeInstanceOf(Map);
        // Floats: the fast path gives up, cbor2 (the fallback) refuses, and the frame is malformed.
        expect(fastDecodeObject(asFloat)).toBe(FALLBACK);
        expect(() => decode(asFloat, STRICT_DECODE)).toThrow();
        const r = check(signRawBody(asFloat, DEV, privateKey));
        expect(r).toMatchObject({ ok: false, code: 'malformed' });
        expect(() => decodeFrame(signRawBody(asFloat, DEV, privateKey))).toThrow(FrameError);
      }),
      { numRuns: fcRuns(200) },
    );
  });
});
