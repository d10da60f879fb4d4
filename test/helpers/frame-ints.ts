/**
 * @module test/helpers/frame-ints
 * Frames whose integer fields are written as CBOR floats (half, single, double) or as
 * integers of any size, signed like a device would (or re-wrapped with an old signature):
 * what `signFrame` refuses to write (PROTOCOL.md §6: a float is `malformed`).
 */
import { type KeyObject, sign } from 'node:crypto';
import { encode, encodedNumber, Tag } from 'cbor2';
import { encodeProtectedHeader, sigStructure } from '../../gateway/src/protocol/frame.js';

/** The integer fields of a v1 body (PROTOCOL.md §1): top level, `obs` and `wf`. */
export const INT_FIELDS = ['v', 'seq', 'ts', 'bat', 'obs.hr', 'obs.temp', 'wf.fs'] as const;
export type IntField = (typeof INT_FIELDS)[number];
export type FloatWidth = 'f16' | 'f32' | 'f64';

export interface RawBody {
  v: number;
  dev: string;
  seq: number | bigint;
  ts: number | bigint;
  prev: Uint8Array;
  obs: Record<string, number>;
  wf?: { kind: string; fs: number; s: Uint8Array };
  bat?: number;
}

/** `x` as a CBOR float of `width`, or of the next wider one where `width` cannot hold it exactly. */
function floatOf(x: number, width: FloatWidth): ReturnType<typeof encodedNumber> {
  const widths: FloatWidth[] = ['f16', 'f32', 'f64'];
  for (const w of widths.slice(widths.indexOf(width))) {
    try {
      return encodedNumber(x, w);
    } catch {
      // not exact in w: wider
    }
  }
  throw new RangeError(`${x} is not exact in a float64`);
}

/** The body's CBOR map with `field` (if any) written as a float of `width` (or wider, see `floatOf`). */
export function encodeRawBody(body: RawBody, field?: IntField, width: FloatWidth = 'f64'): Uint8Array {
  const num = (name: string, x: number | bigint) => (name === field ? floatOf(Number(x), width) : x);
  const obs = new Map(Object.entries(body.obs).map(([k, x]) => [k, num(`obs.${k}`, x)]));
  const m = new Map<string, unknown>([
    ['v', num('v', body.v)],
    ['dev', body.dev],
    ['seq', num('seq', body.seq)],
    ['ts', num('ts', body.ts)],
    ['prev', body.prev],
    ['obs', obs],
  ]);
  if (body.wf)
    m.set(
      'wf',
      new Map<string, unknown>([
        ['kind', body.wf.kind],
        ['fs', num('wf.fs', body.wf.fs)],
        ['s', body.wf.s],
      ]),
    );
  if (body.bat !== undefined) m.set('bat', num('bat', body.bat));
  return encode(m);
}

/** A tagged COSE_Sign1 of `payload` with `protectedBytes` and `signature` as given. */
export function coseSign1(
  protectedBytes: Uint8Array,
  payload: Uint8Array,
  signature: Uint8Array,
): Uint8Array {
  return encode(new Tag(18, [protectedBytes, new Map(), payload, signature]), { cde: true });
}

/** `payload` signed (ES256, r||s) by `key` as device `dev`: a frame whatever its body holds. */
export function signRawBody(payload: Uint8Array, dev: string, key: KeyObject): Uint8Array {
  const protectedBytes = encodeProtectedHeader(-7, dev);
  const signature = sign('sha256', sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' });
  return coseSign1(protectedBytes, payload, new Uint8Array(signature));
}
