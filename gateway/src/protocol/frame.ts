/**
 * @module protocol/frame
 * The device frame of PROTOCOL.md §1: a tagged COSE_Sign1 (RFC 9052 §4.2, CBOR tag 18)
 * whose payload is one CBOR map, the frame body. This module is the single wire codec
 * of the project: the gateway, the simulator and the auditor's verifier all import it.
 * It is pure (no sockets, files or timers) and imports nothing else from `gateway/`.
 *
 * Trust: every byte handed to `decodeFrame` is attacker-controlled. Parsing is strict
 * and every failure becomes `FrameError('malformed', …)`, never a SyntaxError.
 */
import { type KeyObject, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { decode, encode, Tag } from 'cbor2';
import { FALLBACK, fastDecode, fastDecodeObject } from './cbor-fast.js';
import { sha256, sha256Hex } from './digest.js';
import { errorClass } from './errors.js';
import { floatReason, inspectBody, isUint, STRICT_DECODE, type WireUint } from './frame-ints.js';
import { sigStructure, sigStructureScratch } from './sig-structure.js';

export { MAX_LOG_SEQ, STRICT_DECODE, seqForJson, type WireUint } from './frame-ints.js';
export { sigStructure, sigStructureLength, writeSigStructureAt } from './sig-structure.js';

/** CBOR tag of COSE_Sign1 (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;
/** COSE header labels (RFC 9052 §3.1). */
export const COSE_HEADER_ALG = 1;
export const COSE_HEADER_KID = 4;
/** COSE algorithm identifiers (RFC 9053 §2.1, §2.2). */
export const COSE_ALG_ES256 = -7;
export const COSE_ALG_EDDSA = -8;
export type CoseAlg = typeof COSE_ALG_ES256 | typeof COSE_ALG_EDDSA;

export const FRAME_VERSION = 1;
/** PROTOCOL.md §1: decoders MUST reject bodies over 64 KiB. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Largest complete frame we will even try to parse: body + headers + signature. */
export const MAX_FRAME_BYTES = MAX_BODY_BYTES + 512;
export const HASH_BYTES = 32;
export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_BYTES);
/**
 * PROTOCOL.md §1: 1-64 chars of [A-Za-z0-9._-]; and, because a device id names a directory
 * (DATA/devices/<id>/) and a command-line value, not `.` or `..` and not starting with `-`
 * (issue 13: `kgc enroll --device ..` wrote keys into the data directory's root).
 */
export const DEVICE_ID_PATTERN = /^(?!\.{1,2}$)(?!-)[A-Za-z0-9._-]{1,64}$/;
/** The device-id rule in words, for usage messages. */
export const DEVICE_ID_RULE =
  "device ids are 1-64 chars of [A-Za-z0-9._-], not '.' or '..', not starting with '-'";

/** Observation keys with their units and LOINC codes (PROTOCOL.md §1). */
export const OBSERVATIONS = {
  hr: { unit: '/min', display: 'Heart rate', loinc: '8867-4', scale: 1 },
  spo2: { unit: '%', display: 'Oxygen saturation', loinc: '59408-5', scale: 1 },
  rr: { unit: '/min', display: 'Respiratory rate', loinc: '9279-1', scale: 1 },
  temp: { unit: 'Cel', display: 'Body temperature', loinc: '8310-5', scale: 0.01 },
  sbp: { unit: 'mm[Hg]', display: 'Systolic blood pressure', loinc: '8480-6', scale: 1 },
  dbp: { unit: 'mm[Hg]', display: 'Diastolic blood pressure', loinc: '8462-4', scale: 1 },
} as const;
export type ObservationKey = keyof typeof OBSERVATIONS;
export type Observations = Partial<Record<ObservationKey, number>>;

export interface Waveform {
  kind: 'ecg';
  /** Sampling rate in Hz. */
  fs: number;
  /** int16 little-endian samples in microvolts. */
  s: Uint8Array;
}

/** What a device signs, and the body of every frame the gateway accepts (seq, ts safe integers). */
export interface FrameBody {
  v: 1;
  dev: string;
  seq: number;
  ts: number;
  prev: Uint8Array;
  obs: Observations;
  wf?: Waveform;
  bat?: number;
}

/** A body as decoded: seq and ts bigints from 2^53 on, for the rules to judge (PROTOCOL.md §6). */
export type DecodedBody = Omit<FrameBody, 'seq' | 'ts'> & { seq: WireUint; ts: WireUint };

export interface DecodedFrame<B extends DecodedBody = DecodedBody> {
  /** The exact bytes received; never re-encoded (PROTOCOL.md §1). */
  bytes: Uint8Array;
  alg: CoseAlg;
  /** The kid of the protected header, as UTF-8 text. */
  kid: string;
  protectedBytes: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  body: B;
}

/** A decoded frame whose seq and ts are safe integers (every frame the gateway accepts). */
export type SafeFrame = DecodedFrame<FrameBody>;

/** Whether `frame`'s seq and ts are numbers (below 2^53), as the log holds them. */
export function isSafeFrame(frame: DecodedFrame): frame is SafeFrame {
  return typeof frame.body.seq === 'number' && typeof frame.body.ts === 'number';
}

export class FrameError extends errorClass<'frame'>('FrameError') {
  /** The seq, when the body parsed far enough to read it: the rejection names it (PROTOCOL.md §6). */
  seq?: WireUint;
}

const BODY_KEYS = new Set(['v', 'dev', 'seq', 'ts', 'prev', 'obs', 'wf', 'bat']);
const WF_KEYS = new Set(['kind', 'fs', 's']);

/** RFC 8949 §4.2.1 core deterministic encoding. */
const DETERMINISTIC_ENCODE = { cde: true } as const;

function malformed(reason: string, cause?: unknown): FrameError {
  return new FrameError('malformed', reason, cause === undefined ? undefined : { cause });
}

function strictDecode(bytes: Uint8Array, what: string): unknown {
  // The fast path decides only what it decodes exactly as cbor2 would (protocol/cbor-fast).
  const fast = fastDecode(bytes);
  return fast !== FALLBACK ? fast : cbor2Decode(bytes, what);
}

/** cbor2 with the strict options; a failure is `malformed` naming `what`. */
function cbor2Decode(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes, STRICT_DECODE);
  } catch (err) {
    throw malformed((what === 'body' && floatReason(bytes)) || `${what} is not valid CBOR`, err);
  }
}

/**
 * A plain Uint8Array view of `b`. cbor2 encodes a Node Buffer as a JSON-like map
 * ({type: "Buffer", data: […]}) and decodes byte strings inside a Buffer as Buffers,
 * so every byte string crossing the codec goes through this first.
 */
export function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype
    ? b
    : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** SHA-256 of the complete COSE_Sign1 bytes: what `prev` of the next frame names. */
export function frameHash(bytes: Uint8Array): Uint8Array {
  return sha256(bytes);
}

/** `frameHash` as 0x-prefixed lowercase hex, without the bytes (what reports carry). */
export function frameHashHex(bytes: Uint8Array): `0x${string}` {
  return sha256Hex(bytes);
}

/** Strict UTF-8 (a bad sequence throws); stateless when not streaming, so shared. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Encodes a frame body deterministically.
 * @throws {TypeError} when the body breaks the v1 schema (see `validateBody`).
 */
export function encodeBody(body: DecodedBody): Uint8Array {
  const m = new Map<string, unknown>([
    ['v', body.v],
    ['dev', body.dev],
    ['seq', body.seq],
    ['ts', body.ts],
    ['prev', body.prev instanceof Uint8Array ? plainBytes(body.prev) : body.prev],
    ['obs', new Map(Object.entries(body.obs))],
  ]);
  if (body.wf) {
    const s = body.wf.s instanceof Uint8Array ? plainBytes(body.wf.s) : body.wf.s;
    m.set('wf', new Map<string, unknown>(Object.entries({ ...body.wf, s })));
  }
  if (body.bat !== undefined) m.set('bat', body.bat);
  const bytes = encode(m, DETERMINISTIC_ENCODE);
  try {
    validateBody(decodeMapToBody(strictDecode(bytes, 'body')), bytes.length);
  } catch (err) {
    throw new TypeError(`encodeBody: invalid frame body (${(err as Error).message})`);
  }
  return bytes;
}

export function encodeProtectedHeader(alg: CoseAlg, kid: string): Uint8Array {
  return encode(
    new Map<number, unknown>([
      [COSE_HEADER_ALG, alg],
      [COSE_HEADER_KID, new TextEncoder().encode(kid)],
    ]),
    DETERMINISTIC_ENCODE,
  );
}

/**
 * Signs a frame body into a tagged COSE_Sign1 (ES256 r||s, or Ed25519).
 * @example
 * const bytes = signFrame(body, deviceKey); // deviceKey: a P-256 private KeyObject
 */
export function signFrame(
  body: DecodedBody,
  privateKey: KeyObject,
  alg: CoseAlg = COSE_ALG_ES256,
): Uint8Array {
  const payload = encodeBody(body);
  const protectedBytes = encodeProtectedHeader(alg, body.dev);
  const toBeSigned = sigStructure(protectedBytes, payload);
  const signature =
    alg === COSE_ALG_ES256
      ? nodeSign('sha256', toBeSigned, { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : nodeSign(null, toBeSigned, privateKey);
  return encode(
    new Tag(COSE_SIGN1_TAG, [protectedBytes, new Map(), payload, new Uint8Array(signature)]),
    DETERMINISTIC_ENCODE,
  );
}

/**
 * Parses a COSE_Sign1 frame and its body, strictly. Does not check the signature.
 * @throws {FrameError} code `malformed`, with the first rule broken as the reason.
 */
export function decodeFrame(input: Uint8Array): DecodedFrame {
  if (!(input instanceof Uint8Array)) throw new TypeError('decodeFrame: bytes must be a Uint8Array');
  if (input.length > MAX_FRAME_BYTES) throw malformed(`frame exceeds ${MAX_FRAME_BYTES} bytes`);
  const bytes = plainBytes(input);
  const { protectedBytes, payload, signature, alg, kidBytes } = canonicalSign1(bytes) ?? decodeSign1(bytes);
  try {
    if (alg !== COSE_ALG_ES256 && alg !== COSE_ALG_EDDSA)
      throw malformed('alg must be -7 (ES256) or -8 (EdDSA)');
    if (!(kidBytes instanceof Uint8Array)) throw malformed('kid must be a byte string');
    let kid: string;
    try {
      kid = UTF8.decode(kidBytes);
    } catch (err) {
      throw malformed('kid is not UTF-8', err);
    }
    if (!DEVICE_ID_PATTERN.test(kid)) throw malformed('kid is not a valid device id');
    // ES256 (r||s, RFC 9053 §2.1) and Ed25519 (RFC 8032) signatures are both 64 bytes.
    if (signature.length !== 64) throw malformed('signature must be 64 bytes');
    // The body's maps straight into objects on the fast path; else cbor2's Maps (rare: see cbor-fast).
    const record = fastDecodeObject(payload);
    const body = record === FALLBACK ? decodeMapToBody(cbor2Decode(payload, 'body')) : bodyOf(record);
    validateBody(body, payload.length);
    return { bytes: input, alg, kid, protectedBytes, payload, signature, body };
  } catch (err) {
    // PROTOCOL.md §6: a rejection names the seq whenever the frame parsed far enough to read it.
    if (err instanceof FrameError) err.seq = inspectBody(payload).seq;
    throw err;
  }
}

interface Sign1Parts {
  protectedBytes: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  alg: unknown;
  kidBytes: unknown;
}

/** The COSE_Sign1 items and the protected header's alg and kid, by the generic strict decoder. */
function decodeSign1(bytes: Uint8Array): Sign1Parts {
  const outer = strictDecode(bytes, 'frame');
  if (!(outer instanceof Tag) || Number(outer.tag) !== COSE_SIGN1_TAG) {
    throw malformed('frame is not a CBOR tag 18 COSE_Sign1');
  }
  const arr = outer.contents;
  if (!Array.isArray(arr) || arr.length !== 4) throw malformed('COSE_Sign1 must be an array of 4 items');
  const [protectedBytes, unprotected, payload, signature] = arr as unknown[];
  if (!(protectedBytes instanceof Uint8Array)) throw malformed('protected header must be a byte string');
  if (!(unprotected instanceof Map) || unprotected.size !== 0) {
    throw malformed('unprotected header must be an empty map');
  }
  if (!(payload instanceof Uint8Array)) throw malformed('payload must be a byte string');
  if (!(signature instanceof Uint8Array)) throw malformed('signature must be a byte string');
  if (payload.length > MAX_BODY_BYTES) throw malformed(`body exceeds ${MAX_BODY_BYTES} bytes`);

  const hdr = strictDecode(protectedBytes, 'protected header');
  if (!(hdr instanceof Map) || hdr.size !== 2) throw malformed('protected header must be {1: alg, 4: kid}');
  return {
    protectedBytes,
    payload,
    signature,
    alg: hdr.get(COSE_HEADER_ALG),
    kidBytes: hdr.get(COSE_HEADER_KID),
  };
}

/**
 * The layout every conforming signer writes (deterministic encoding, PROTOCOL.md §1):
 * `D2 84 | bstr protected | A0 | bstr payload | 58 40 signature`, with the protected header
 * `A2 01 26|27 04 bstr(kid)`. Bytes of exactly this shape have one decoding, the one cbor2
 * gives (tag 18 of [protected, {}, payload, signature]; {1: -7|-8, 4: kid}), so they are
 * sliced without a generic decode; anything else (`undefined`) goes to `decodeSign1`.
 */
function canonicalSign1(bytes: Uint8Array): Sign1Parts | undefined {
  if (bytes[0] !== 0xd2 || bytes[1] !== 0x84) return undefined;
  const prot = bstrAt(bytes, 2);
  if (!prot || bytes[prot.end] !== 0xa0) return undefined;
  const body = bstrAt(bytes, prot.end + 1);
  if (!body || body.end + 66 !== bytes.length || bytes[body.end] !== 0x58 || bytes[body.end + 1] !== 0x40)
    return undefined;
  // The protected header: {1: alg, 4: kid} in this order, nothing after the kid.
  const h = bytes.subarray(prot.start, prot.end);
  if (h[0] !== 0xa2 || h[1] !== 0x01 || (h[2] !== 0x26 && h[2] !== 0x27) || h[3] !== 0x04) return undefined;
  const kid = bstrAt(h, 4);
  if (!kid || kid.end !== h.length || body.end - body.start > MAX_BODY_BYTES) return undefined;
  return {
    protectedBytes: h,
    payload: bytes.subarray(body.start, body.end),
    signature: bytes.subarray(body.end + 2),
    alg: h[2] === 0x26 ? COSE_ALG_ES256 : COSE_ALG_EDDSA,
    kidBytes: h.subarray(kid.start, kid.end),
  };
}

/** A definite-length byte string head at `at` (lengths below 2^16): where its content lies. */
function bstrAt(b: Uint8Array, at: number): { start: number; end: number } | undefined {
  const head = b[at];
  if (head === undefined || head >> 5 !== 2) return undefined;
  const ai = head & 0x1f;
  let start = at + 1;
  let n: number;
  if (ai < 24) n = ai;
  else if (ai === 24 && start < b.length) n = b[start++]!;
  else if (ai === 25 && start + 1 < b.length) {
    n = b[start]! * 0x100 + b[start + 1]!;
    start += 2;
  } else return undefined;
  return start + n <= b.length ? { start, end: start + n } : undefined;
}

/**
 * Whether `publicKey` is of the kind COSE `alg` needs (ES256: an EC key; EdDSA: Ed25519).
 * A key of another kind never verifies: `verifyFrameSignature` answers false without trying.
 */
export function keyFitsAlg(alg: CoseAlg, publicKey: KeyObject): boolean {
  return publicKey.asymmetricKeyType === (alg === COSE_ALG_ES256 ? 'ec' : 'ed25519');
}

/**
 * Verifies the COSE_Sign1 signature with the device's public key. A bad signature returns false.
 * The verify pool's workers (io/verify/verify-pool) make the same node:crypto call on the
 * same Sig_structure bytes (`writeSigStructureAt`), after the same `keyFitsAlg` check.
 */
export function verifyFrameSignature(frame: DecodedFrame, publicKey: KeyObject): boolean {
  if (!keyFitsAlg(frame.alg, publicKey)) return false;
  // Verification is synchronous: the to-be-signed bytes need no buffer of their own.
  const toBeSigned = sigStructureScratch(frame.protectedBytes, frame.payload);
  try {
    if (frame.alg === COSE_ALG_ES256) {
      return nodeVerify('sha256', toBeSigned, { key: publicKey, dsaEncoding: 'ieee-p1363' }, frame.signature);
    }
    return nodeVerify(null, toBeSigned, publicKey, frame.signature);
  } catch {
    return false;
  }
}

/** The body of a map decoded as an object with text keys (its maps objects too). */
function bodyOf(record: Record<string, unknown>): DecodedBody {
  for (const key of Object.keys(record)) {
    if (!BODY_KEYS.has(key)) throw malformed('body has an unknown top-level key');
  }
  const body: Record<string, unknown> = {
    v: record.v,
    dev: record.dev,
    seq: record.seq,
    ts: record.ts,
    prev: record.prev,
    obs: record.obs,
  };
  if ('wf' in record) body.wf = record.wf;
  if ('bat' in record) body.bat = record.bat;
  return body as unknown as DecodedBody;
}

/** The body of cbor2's decoding: text keys only, its `obs` and `wf` Maps made objects. */
function decodeMapToBody(decoded: unknown): DecodedBody {
  if (!(decoded instanceof Map)) throw malformed('body must be a CBOR map');
  for (const key of decoded.keys()) {
    if (typeof key !== 'string') throw malformed('body keys must be text');
    if (!BODY_KEYS.has(key)) throw malformed('body has an unknown top-level key');
  }
  const record = Object.fromEntries(decoded) as Record<string, unknown>;
  if (record.obs instanceof Map) record.obs = mapToObject(record.obs, 'obs');
  if (record.wf instanceof Map) record.wf = mapToObject(record.wf, 'wf');
  return bodyOf(record);
}

function mapToObject(m: Map<unknown, unknown>, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of m) {
    if (typeof k !== 'string') throw malformed(`${what} keys must be text`);
    out[k] = v;
  }
  return out;
}

/** Checks the v1 body schema of PROTOCOL.md §1. */
function validateBody(body: DecodedBody, payloadLength: number): void {
  if (payloadLength > MAX_BODY_BYTES) throw malformed(`body exceeds ${MAX_BODY_BYTES} bytes`);
  if (body.v !== FRAME_VERSION) throw malformed('v must be 1');
  if (typeof body.dev !== 'string' || !DEVICE_ID_PATTERN.test(body.dev))
    throw malformed('dev is not a valid device id');
  if (!isUint(body.seq) || body.seq < 1) throw malformed('seq must be an unsigned integer >= 1');
  if (!isUint(body.ts)) throw malformed('ts must be an unsigned integer (ms since epoch)');
  if (!(body.prev instanceof Uint8Array) || body.prev.length !== HASH_BYTES)
    throw malformed('prev must be 32 bytes');
  if (body.seq === 1 && body.prev.some((b) => b !== 0)) throw malformed('prev must be zero when seq is 1');
  const obs = body.obs as unknown;
  if (typeof obs !== 'object' || obs === null || obs instanceof Uint8Array || Array.isArray(obs)) {
    throw malformed('obs must be a map');
  }
  const obsKeys = Object.keys(obs);
  if (obsKeys.length === 0) throw malformed('obs must hold at least one observation');
  for (const k of obsKeys) {
    if (!Object.hasOwn(OBSERVATIONS, k)) throw malformed('obs has an unknown observation key');
    const o = obs as Record<string, unknown>;
    if (!isUint(o[k])) throw malformed('observations must be unsigned integers');
    // No rule reads a measurement beyond its magnitude: from 2^53 on it is carried as a number.
    if (typeof o[k] === 'bigint') o[k] = Number(o[k]);
  }
  if (body.wf !== undefined) {
    const wf = body.wf as unknown as Record<string, unknown>;
    if (typeof wf !== 'object' || wf === null || wf instanceof Uint8Array)
      throw malformed('wf must be a map');
    for (const k of Object.keys(wf)) if (!WF_KEYS.has(k)) throw malformed('wf has an unknown key');
    if (wf.kind !== 'ecg') throw malformed('wf.kind must be "ecg"');
    if (!isUint(wf.fs) || wf.fs < 1) throw malformed('wf.fs must be a positive integer');
    wf.fs = Number(wf.fs);
    if (!(wf.s instanceof Uint8Array) || wf.s.length % 2 !== 0)
      throw malformed('wf.s must hold int16 samples');
  }
  if (body.bat !== undefined && (!isUint(body.bat) || body.bat > 100)) throw malformed('bat must be 0-100');
}

/** Reads the int16 little-endian microvolt samples of a waveform chunk. */
export function waveformSamples(wf: Waveform): Int16Array {
  const view = new DataView(wf.s.buffer, wf.s.byteOffset, wf.s.byteLength);
  const out = new Int16Array(wf.s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}
