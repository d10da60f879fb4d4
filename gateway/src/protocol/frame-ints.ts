/**
 * @module protocol/frame-ints
 * The integers of a frame (PROTOCOL.md §1, §6): every number in a frame is a CBOR integer,
 * so a CBOR float anywhere, even an integral one (`72.0`), is `malformed`; a `uint` parses
 * up to 2^64−1 (a bigint from 2^53 on) and the rules then judge it. `STRICT_DECODE` holds
 * the one decoding rule (cbor2 rejects floats; the fast path, protocol/cbor-fast, never
 * decides one), used by the gateway's acceptance and both verifiers through `decodeFrame`.
 * For a body that does not pass, `inspectBody` reads what a rejection may report: the seq,
 * and where a float stands. Pure; imports nothing of the project.
 */
import { decode, getEncoded } from 'cbor2';

/**
 * A `uint` field as decoded (PROTOCOL.md §6: any CBOR unsigned integer up to 2^64−1
 * parses): a number below 2^53, a bigint from 2^53 on.
 */
export type WireUint = number | bigint;

/** Largest seq a gateway's log holds (a JS safe integer); a larger one is refused by the rules. */
export const MAX_LOG_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * Strict decoding: PROTOCOL.md §1 "Decoders MUST reject indefinite-length items, duplicate
 * map keys", and §6 "A float, even an integral one (`72.0`), is `malformed`": no field of a
 * frame is a float (each number is a `uint`, or the COSE alg, an int), so cbor2 rejects
 * floats wherever they stand. Tag-2/3 bignums are refused; a major-type-0 integer from 2^53
 * on decodes to a bigint.
 */
export const STRICT_DECODE = {
  rejectStreaming: true,
  rejectDuplicateKeys: true,
  rejectUndefined: true,
  rejectSimple: true,
  rejectBigInts: true,
  rejectFloats: true,
  preferMap: true,
} as const;

/**
 * A decoded CBOR unsigned integer. Floats never get here (`STRICT_DECODE` rejects them), so
 * a number is a CBOR integer; a bigint is one from 2^53 on.
 */
export function isUint(x: unknown): x is WireUint {
  return typeof x === 'number' ? Number.isSafeInteger(x) && x >= 0 : typeof x === 'bigint' && x >= 0n;
}

/**
 * A seq for a JSON line (logs, the audit log): the number, or its decimal text from 2^53
 * on (JSON.stringify throws on a bigint); null when unknown.
 */
export function seqForJson(seq: WireUint | undefined): number | string | null {
  return seq === undefined ? null : typeof seq === 'bigint' ? seq.toString() : seq;
}

/** What a rejection may say of a body that does not pass. */
export interface BodyInspection {
  /** The top-level `seq`, when it is a CBOR unsigned integer ≥ 1. */
  seq?: WireUint;
  /** The first integer field held as a CBOR float: `v`, `seq`, `ts`, `bat`, `wf.fs` or `obs` (any observation). */
  float?: string;
}

/** Major type 7, additional info 25-27: a half, single or double float (RFC 8949 §3.3). */
function isFloatHead(head: number | undefined): boolean {
  return head !== undefined && head >> 5 === 7 && (head & 0x1f) >= 25 && (head & 0x1f) <= 27;
}

/** The map's entries whose text key is `key` (boxed decoding keys are String objects). */
function entryOf(m: Map<unknown, unknown>, key: string): unknown {
  for (const [k, v] of m) if (String(k) === key) return v;
  return undefined;
}

/**
 * Reads a body that failed (not on the path of a valid frame): decoded as `STRICT_DECODE`
 * but with floats allowed and every value boxed with its own encoding, so an integer and a
 * float are told apart by their CBOR head. Anything else broken reports nothing. Never throws.
 */
export function inspectBody(payload: Uint8Array): BodyInspection {
  let doc: unknown;
  try {
    doc = decode(payload, { ...STRICT_DECODE, rejectFloats: false, boxed: true });
  } catch {
    return {};
  }
  if (!(doc instanceof Map)) return {};
  const out: BodyInspection = {};
  const seq = entryOf(doc, 'seq');
  const seqHead = getEncoded(seq)?.[0];
  const seqValue = (seq as { valueOf(): unknown } | undefined)?.valueOf();
  if (seqHead !== undefined && seqHead >> 5 === 0 && isUint(seqValue) && seqValue >= 1) out.seq = seqValue;
  const wf = entryOf(doc, 'wf');
  const obs = entryOf(doc, 'obs');
  const fields: [string, unknown][] = [
    ['v', entryOf(doc, 'v')],
    ['seq', seq],
    ['ts', entryOf(doc, 'ts')],
    ['bat', entryOf(doc, 'bat')],
    ['wf.fs', wf instanceof Map ? entryOf(wf, 'fs') : undefined],
    ...(obs instanceof Map ? [...obs.values()].map((v): [string, unknown] => ['obs', v]) : []),
  ];
  for (const [name, v] of fields) {
    if (v !== undefined && isFloatHead(getEncoded(v)?.[0])) {
      out.float = name;
      break;
    }
  }
  return out;
}

/** The reason for a body whose integer field is a CBOR float, naming the field; else undefined. */
export function floatReason(payload: Uint8Array): string | undefined {
  const { float } = inspectBody(payload);
  if (float === undefined) return undefined;
  return `${float === 'obs' ? 'observations must be unsigned integers' : `${float} must be an unsigned integer`}, not a CBOR float`;
}
