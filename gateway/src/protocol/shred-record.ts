/**
 * @module protocol/shred-record
 * The shredding record (PROTOCOL.md §6: "An entry may be reported as shredded only when the
 * destruction of its data key is itself recorded in the anchored log and the entry lies in
 * that record's window"). When `vitaltrail shred` destroys a device's data key of one
 * window, it appends one record to the gateway's transparency log, in the same transaction:
 * a leaf like any other (RFC 9162 leaf hash of its bytes), anchored with the next
 * checkpoint. The record names what was destroyed, so that a verifier can accept a
 * `shredded` entry only for a leaf that an anchored record lists.
 *
 * Bytes: a CBOR map in RFC 8949 §4.2.1 core deterministic encoding (one encoding per
 * record; a verifier re-encodes and compares), never a tagged COSE_Sign1, so a log leaf's
 * first byte tells a record (a map) from a frame (tag 18, `0xd2`):
 *
 * | key | value |
 * |---|---|
 * | `t` | `"vitaltrail-shred/1"` |
 * | `dev` | the device id (PROTOCOL.md §1 `dev`) |
 * | `window` | `[start, end]`: the data key's window, gateway clock, ms since epoch, start < end |
 * | `retention` | the retention the gateway applied, ms |
 * | `at` | when the key was destroyed, gateway clock, ms; `end + retention <= at` |
 * | `leaves` | the log positions of the frames sealed under that key, strictly ascending |
 * | `seqs` | their seqs, in the same order, strictly ascending, each >= 1 |
 *
 * Every integer is an unsigned CBOR integer below 2^53. Pure; imported by the gateway's
 * store and by the verifier (also in the browser).
 */
import { decode, encode } from 'cbor2';
import { errorClass } from './errors.js';
import { DEVICE_ID_PATTERN } from './frame.js';
import { STRICT_DECODE } from './frame-ints.js';

/** The record's `t`. */
export const SHRED_RECORD_TYPE = 'vitaltrail-shred/1';

/** Bound on a record's size (an hour of a 25 Hz waveform device is ~90,000 leaves, under 1 MiB). */
export const MAX_SHRED_RECORD_BYTES = 2 * 1024 * 1024;

export interface ShredRecord {
  dev: string;
  /** The destroyed data key's window [start, end), gateway clock, ms. */
  window: { start: number; end: number };
  /** The retention applied, ms. */
  retentionMs: number;
  /** When the key was destroyed, gateway clock, ms. */
  at: number;
  /** Log positions of the frames the key sealed, ascending. */
  leaves: number[];
  /** Their seqs, same order. */
  seqs: number[];
}

export class ShredRecordError extends errorClass<'shredding'>('ShredRecordError') {}

const KEYS = ['at', 'dev', 'leaves', 'retention', 'seqs', 't', 'window'];

function uint(x: unknown, what: string, min = 0): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min)
    throw new ShredRecordError('malformed', `${what} must be an integer >= ${min} below 2^53`);
  return x;
}

function ascending(list: unknown, what: string, min: number): number[] {
  if (!Array.isArray(list)) throw new ShredRecordError('malformed', `${what} must be an array`);
  let last = min - 1;
  return list.map((x, i) => {
    const n = uint(x, `${what}[${i}]`, min);
    if (n <= last) throw new ShredRecordError('malformed', `${what} must be strictly ascending`);
    last = n;
    return n;
  });
}

/** Checks a record's fields; returns it. @throws {ShredRecordError} `malformed`. */
function check(r: ShredRecord): ShredRecord {
  if (typeof r.dev !== 'string' || !DEVICE_ID_PATTERN.test(r.dev))
    throw new ShredRecordError('malformed', 'dev must be a device id');
  const start = uint(r.window.start, 'window start');
  const end = uint(r.window.end, 'window end');
  if (end <= start) throw new ShredRecordError('malformed', 'the window must end after it starts');
  uint(r.retentionMs, 'retention');
  uint(r.at, 'at');
  ascending(r.leaves, 'leaves', 0);
  ascending(r.seqs, 'seqs', 1);
  if (r.leaves.length !== r.seqs.length)
    throw new ShredRecordError('malformed', 'leaves and seqs must have the same length');
  return r;
}

/**
 * The record's bytes (deterministic CBOR).
 * @throws {ShredRecordError} `malformed` for a record outside the format.
 * @example const bytes = encodeShredRecord({ dev, window, retentionMs, at: Date.now(), leaves, seqs });
 */
export function encodeShredRecord(r: ShredRecord): Uint8Array {
  check(r);
  return encode(
    {
      t: SHRED_RECORD_TYPE,
      dev: r.dev,
      window: [r.window.start, r.window.end],
      retention: r.retentionMs,
      at: r.at,
      leaves: r.leaves,
      seqs: r.seqs,
    },
    { cde: true },
  );
}

/**
 * Parses a record strictly: the CBOR of the table above, in its one deterministic encoding.
 * @throws {ShredRecordError} `malformed`, naming the broken rule (never a value).
 */
export function decodeShredRecord(bytes: Uint8Array): ShredRecord {
  if (bytes.length > MAX_SHRED_RECORD_BYTES)
    throw new ShredRecordError('malformed', 'the record is larger than the limit');
  let value: unknown;
  try {
    value = decode(bytes, STRICT_DECODE);
  } catch {
    throw new ShredRecordError('malformed', 'the record is not valid CBOR');
  }
  if (!(value instanceof Map)) throw new ShredRecordError('malformed', 'the record must be a CBOR map');
  const keys = [...value.keys()];
  if (keys.length !== KEYS.length || !keys.every((k) => typeof k === 'string' && KEYS.includes(k)))
    throw new ShredRecordError('malformed', `the record must have exactly the keys ${KEYS.join(', ')}`);
  if (value.get('t') !== SHRED_RECORD_TYPE)
    throw new ShredRecordError('malformed', `t must be "${SHRED_RECORD_TYPE}"`);
  const window = value.get('window');
  if (!Array.isArray(window) || window.length !== 2)
    throw new ShredRecordError('malformed', 'window must be [start, end]');
  const record = check({
    dev: value.get('dev') as string,
    window: { start: window[0] as number, end: window[1] as number },
    retentionMs: value.get('retention') as number,
    at: value.get('at') as number,
    leaves: ascending(value.get('leaves'), 'leaves', 0),
    seqs: ascending(value.get('seqs'), 'seqs', 1),
  });
  const again = encodeShredRecord(record);
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i]))
    throw new ShredRecordError('malformed', 'the record is not in its deterministic CBOR encoding');
  return record;
}

/** Whether the record destroyed a window older than the retention it states (`end + retention <= at`). */
export function meetsRetention(r: ShredRecord): boolean {
  return r.window.end + r.retentionMs <= r.at;
}
