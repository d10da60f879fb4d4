/**
 * @module verify/bundle
 * The disclosure bundle of PROTOCOL.md §5 (format `vitaltrail-disclosure/1`) and its
 * defensive parser. Pure: no network, no files.
 *
 * Trust: the whole document is attacker-controlled. `parseBundle` checks every field's
 * JSON shape (types, integer ranges, 0x-prefixed lowercase hex of the right length,
 * canonical base64 frames, bounded sizes), builds a fresh object holding only the known
 * fields (unknown keys are ignored, never copied) and throws `BundleError('malformed')`
 * naming the path of the first bad field, never its value, for anything outside
 * `entries`. One entry that does not have its canonical shape (PROTOCOL.md §6: "A
 * non-canonical or unparsable entry is `malformed`; the other entries are still checked")
 * becomes a `DisclosureMalformedEntry` holding the reason, in its place: the verifier
 * reports it `malformed` with its index and checks the others. It checks shape only:
 * signatures, certificates, proofs and anchors are `verifyBundle`'s work, which reports
 * them per entry instead of throwing.
 *
 * Boundary frames (an additive extension of §5, README "Completeness"): an entry may carry
 * `"boundary": "before"` or `"boundary": "after"`: the device's last frame before the
 * disclosed range or its first frame after it, proven like any entry, disclosed so that
 * the seq/prev chain proves both ends of the range.
 */
import { errorClass } from '../../../gateway/src/protocol/errors.js';
import { DEVICE_ID_PATTERN, MAX_FRAME_BYTES } from '../../../gateway/src/protocol/frame.js';
import { MAX_SHRED_RECORD_BYTES } from '../../../gateway/src/protocol/shred-record.js';
import type { Hex } from '../ledger/index.js';

export const DISCLOSURE_FORMAT = 'vitaltrail-disclosure/1';

/** 0x-prefixed hex; `parseBundle` admits lowercase only (PROTOCOL.md §5). */
export type { Hex } from '../ledger/index.js';

export interface DisclosureDevice {
  dev: string;
  /** The device certificate, PEM. */
  cert: string;
}

export interface DisclosureCheckpoint {
  treeSize: number;
  rootHash: Hex;
  txHash: Hex;
  blockNumber: number;
  /** The signed checkpoint text (PROTOCOL.md §3); optional and not checked by `verifyBundle`. */
  note?: string;
}

/** Proves that the checkpoint of size `to` extends the one of size `from` (RFC 9162 §2.1.4). */
export interface DisclosureConsistency {
  from: number;
  to: number;
  proof: Hex[];
}

export interface DisclosureFrameEntry {
  leafIndex: number;
  treeSize: number;
  /** Standard base64 of the exact COSE_Sign1 bytes. */
  frame: string;
  /** Inclusion proof of the leaf in the tree of `treeSize`, leaf level first. */
  proof: Hex[];
  /** Present on a boundary frame: the device's last frame before the range, or its first after it. */
  boundary?: EntryBoundary;
  shredded?: undefined;
  malformed?: undefined;
}

/** Which end of the disclosed range a boundary frame proves. */
export type EntryBoundary = 'before' | 'after';

/**
 * A frame whose bytes were destroyed under the retention policy: only its leaf hash
 * remains, still provably in the log. An additive extension of PROTOCOL.md §5 (a
 * verifier that does not know it reports the entry `malformed`, never `valid`). It counts
 * as shredded only when a valid shredding record of the bundle lists its leaf
 * (`DisclosureShredding`); alone it is `malformed` (PROTOCOL.md §6).
 */
export interface DisclosureShreddedEntry {
  leafIndex: number;
  treeSize: number;
  shredded: true;
  /** The RFC 9162 leaf hash SHA-256(0x00 || frame) the log kept. */
  leafHash: Hex;
  proof: Hex[];
  boundary?: EntryBoundary;
  malformed?: undefined;
}

/**
 * An entry that does not have its canonical §5 shape (e.g. a base64url frame, uppercase
 * hex, a missing field): kept in its place so that the verifier reports it `malformed`
 * with its index and goes on with the others. `leafIndex` is the entry's own when it is
 * an integer >= 0, else -1.
 */
export interface DisclosureMalformedEntry {
  leafIndex: number;
  /** Why, naming the field (never its value). */
  malformed: string;
  frame?: undefined;
  shredded?: undefined;
  boundary?: undefined;
}

export type DisclosureEntry = DisclosureFrameEntry | DisclosureShreddedEntry | DisclosureMalformedEntry;

/**
 * A shredding record of the log (gateway/src/protocol/shred-record), proven like an entry:
 * an additive extension of §5 (README "Shredding records"). `record` is standard base64 of
 * the record's bytes, the leaf's input. A shredding item without its canonical shape keeps
 * its place with `malformed` set, as an entry does.
 */
export interface DisclosureShredding {
  leafIndex: number;
  treeSize: number;
  record: string;
  proof: Hex[];
  malformed?: undefined;
}

export type DisclosureShreddingItem = DisclosureShredding | { leafIndex: number; malformed: string };

/** PROTOCOL.md §5. */
export interface DisclosureBundle {
  format: typeof DISCLOSURE_FORMAT;
  chain: { chainId: number; contract: Hex };
  log: { origin: string; logId: Hex };
  kgc: { root: string; intermediates: string[] };
  devices: DisclosureDevice[];
  checkpoints: DisclosureCheckpoint[];
  consistency: DisclosureConsistency[];
  entries: DisclosureEntry[];
  /** Shredding records (absent in the bundle: empty). */
  shreddings: DisclosureShreddingItem[];
}

export class BundleError extends errorClass<'bundle'>('BundleError') {}

/** Bounds on attacker-chosen sizes (work and memory an auditor can be made to spend). */
export const BUNDLE_LIMITS = {
  /** Characters of one PEM certificate. */
  pemChars: 64 * 1024,
  /** Intermediate certificates. */
  intermediates: 16,
  /** Characters of an origin line or a checkpoint note. */
  textChars: 4096,
  /** Hashes in one proof: a tree of fewer than 2^53 leaves needs at most 53, plus a seed. */
  proofHashes: 64,
  /** Base64 characters of one frame. */
  frameChars: Math.ceil(MAX_FRAME_BYTES / 3) * 4,
  /** Base64 characters of one shredding record. */
  recordChars: Math.ceil(MAX_SHRED_RECORD_BYTES / 3) * 4,
} as const;

const HASH_HEX = /^0x[0-9a-f]{64}$/;
const ADDRESS_HEX = /^0x[0-9a-fA-F]{40}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function malformed(reason: string): BundleError {
  return new BundleError('malformed', reason);
}

type Obj = Record<string, unknown>;

function obj(value: unknown, path: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`${path} must be an object`);
  }
  return value as Obj;
}

/** An own property (never one inherited from Object.prototype). */
function field(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

function arr(value: unknown, path: string, max = Number.POSITIVE_INFINITY): unknown[] {
  if (!Array.isArray(value)) throw malformed(`${path} must be an array`);
  if (value.length > max) throw malformed(`${path} has too many items`);
  return value;
}

function count(value: unknown, path: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw malformed(`${path} must be an integer >= ${min}`);
  }
  return value;
}

function text(value: unknown, path: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw malformed(`${path} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

function hash(value: unknown, path: string): Hex {
  if (typeof value !== 'string' || !HASH_HEX.test(value)) {
    throw malformed(`${path} must be 0x-prefixed lowercase hex of 32 bytes`);
  }
  return value as Hex;
}

function hashList(value: unknown, path: string): Hex[] {
  return arr(value, path, BUNDLE_LIMITS.proofHashes).map((h, i) => hash(h, `${path}[${i}]`));
}

function pem(value: unknown, path: string): string {
  const s = text(value, path, BUNDLE_LIMITS.pemChars);
  if (!s.includes('-----BEGIN CERTIFICATE-----')) throw malformed(`${path} must be a PEM certificate`);
  return s;
}

function parseCheckpoint(value: unknown, path: string): DisclosureCheckpoint {
  const o = obj(value, path);
  const cp: DisclosureCheckpoint = {
    treeSize: count(field(o, 'treeSize'), `${path}.treeSize`, 1),
    rootHash: hash(field(o, 'rootHash'), `${path}.rootHash`),
    txHash: hash(field(o, 'txHash'), `${path}.txHash`),
    blockNumber: count(field(o, 'blockNumber'), `${path}.blockNumber`),
  };
  const note = field(o, 'note');
  if (note !== undefined) cp.note = text(note, `${path}.note`, BUNDLE_LIMITS.textChars);
  return cp;
}

function parseConsistency(value: unknown, path: string): DisclosureConsistency {
  const o = obj(value, path);
  return {
    from: count(field(o, 'from'), `${path}.from`, 1),
    to: count(field(o, 'to'), `${path}.to`, 1),
    proof: hashList(field(o, 'proof'), `${path}.proof`),
  };
}

const BASE64_VALUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Standard base64 with padding (RFC 4648 §4) in its one canonical spelling: the alphabet
 * `A-Z a-z 0-9 + /`, `=` padding to a multiple of 4, and the unused bits of the last
 * character zero (so that exactly one text encodes the bytes; PROTOCOL.md §6).
 */
export function isCanonicalBase64(s: string): boolean {
  if (!BASE64.test(s)) return false;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (pad === 0) return true;
  const last = BASE64_VALUE.indexOf(s[s.length - pad - 1]!);
  // "xx==" carries 8 bits in 12 (4 unused), "xxx=" 16 in 18 (2 unused).
  return (last & (pad === 2 ? 0x0f : 0x03)) === 0;
}

function parseBoundary(o: Obj, path: string): { boundary?: EntryBoundary } {
  const b = field(o, 'boundary');
  if (b === undefined) return {};
  if (b !== 'before' && b !== 'after') throw malformed(`${path}.boundary must be "before" or "after"`);
  return { boundary: b };
}

function parseEntry(value: unknown, path: string): DisclosureEntry {
  const o = obj(value, path);
  const shredded = field(o, 'shredded');
  if (shredded !== undefined) {
    if (shredded !== true) throw malformed(`${path}.shredded must be true when present`);
    if (field(o, 'frame') !== undefined) throw malformed(`${path} is shredded and must not carry a frame`);
    return {
      leafIndex: count(field(o, 'leafIndex'), `${path}.leafIndex`),
      treeSize: count(field(o, 'treeSize'), `${path}.treeSize`, 1),
      shredded: true,
      leafHash: hash(field(o, 'leafHash'), `${path}.leafHash`),
      proof: hashList(field(o, 'proof'), `${path}.proof`),
      ...parseBoundary(o, path),
    };
  }
  const frame = text(field(o, 'frame'), `${path}.frame`, BUNDLE_LIMITS.frameChars);
  if (!isCanonicalBase64(frame))
    throw malformed(`${path}.frame must be canonical standard base64 with padding`);
  return {
    leafIndex: count(field(o, 'leafIndex'), `${path}.leafIndex`),
    treeSize: count(field(o, 'treeSize'), `${path}.treeSize`, 1),
    frame,
    proof: hashList(field(o, 'proof'), `${path}.proof`),
    ...parseBoundary(o, path),
  };
}

function parseShredding(value: unknown, path: string): DisclosureShredding {
  const o = obj(value, path);
  const record = text(field(o, 'record'), `${path}.record`, BUNDLE_LIMITS.recordChars);
  if (!isCanonicalBase64(record))
    throw malformed(`${path}.record must be canonical standard base64 with padding`);
  return {
    leafIndex: count(field(o, 'leafIndex'), `${path}.leafIndex`),
    treeSize: count(field(o, 'treeSize'), `${path}.treeSize`, 1),
    record,
    proof: hashList(field(o, 'proof'), `${path}.proof`),
  };
}

/** `parse`, with a shape error kept in the item's place (PROTOCOL.md §6). */
function orMalformed<T>(
  parse: (value: unknown, path: string) => T,
): (value: unknown, path: string) => T | { leafIndex: number; malformed: string } {
  return (value, path) => {
    try {
      return parse(value, path);
    } catch (err) {
      if (!(err instanceof BundleError)) throw err;
      const raw =
        typeof value === 'object' && value !== null && !Array.isArray(value)
          ? field(value as Obj, 'leafIndex')
          : undefined;
      const leafIndex = typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? raw : -1;
      return { leafIndex, malformed: err.reason };
    }
  };
}

function parseDevice(value: unknown, path: string): DisclosureDevice {
  const o = obj(value, path);
  const dev = field(o, 'dev');
  if (typeof dev !== 'string' || !DEVICE_ID_PATTERN.test(dev)) {
    throw malformed(`${path}.dev must be a device id (1-64 of [A-Za-z0-9._-])`);
  }
  return { dev, cert: pem(field(o, 'cert'), `${path}.cert`) };
}

/**
 * Checks the JSON shape of a disclosure bundle (PROTOCOL.md §5) and returns a fresh,
 * typed copy holding only the known fields.
 * @param json - the output of `JSON.parse` on attacker-supplied text.
 * @throws {BundleError} code `malformed`, naming the path of the first bad field outside
 *   `entries` (a bad entry is kept as a `DisclosureMalformedEntry` instead).
 * @example
 * const report = verifyBundle(parseBundle(JSON.parse(text)), anchors);
 */
export function parseBundle(json: unknown): DisclosureBundle {
  const o = obj(json, 'bundle');
  if (field(o, 'format') !== DISCLOSURE_FORMAT) throw malformed(`format must be "${DISCLOSURE_FORMAT}"`);

  const chain = obj(field(o, 'chain'), 'chain');
  const contract = field(chain, 'contract');
  if (typeof contract !== 'string' || !ADDRESS_HEX.test(contract)) {
    throw malformed('chain.contract must be a 0x-prefixed 20-byte address');
  }

  const log = obj(field(o, 'log'), 'log');
  const origin = text(field(log, 'origin'), 'log.origin', BUNDLE_LIMITS.textChars);
  // PROTOCOL.md §3: the origin is the first line of a checkpoint.
  if (/[\n\r]/.test(origin)) throw malformed('log.origin must be one line');

  const kgc = obj(field(o, 'kgc'), 'kgc');
  const intermediates = arr(field(kgc, 'intermediates'), 'kgc.intermediates', BUNDLE_LIMITS.intermediates);

  return {
    format: DISCLOSURE_FORMAT,
    chain: { chainId: count(field(chain, 'chainId'), 'chain.chainId'), contract: contract as Hex },
    log: { origin, logId: hash(field(log, 'logId'), 'log.logId') },
    kgc: {
      root: pem(field(kgc, 'root'), 'kgc.root'),
      intermediates: intermediates.map((c, i) => pem(c, `kgc.intermediates[${i}]`)),
    },
    devices: arr(field(o, 'devices'), 'devices').map((d, i) => parseDevice(d, `devices[${i}]`)),
    checkpoints: arr(field(o, 'checkpoints'), 'checkpoints').map((c, i) =>
      parseCheckpoint(c, `checkpoints[${i}]`),
    ),
    consistency: arr(field(o, 'consistency'), 'consistency').map((c, i) =>
      parseConsistency(c, `consistency[${i}]`),
    ),
    entries: arr(field(o, 'entries'), 'entries').map(
      (e, i): DisclosureEntry => orMalformed(parseEntry)(e, `entries[${i}]`),
    ),
    shreddings:
      field(o, 'shreddings') === undefined
        ? []
        : arr(field(o, 'shreddings'), 'shreddings').map((x, i) =>
            orMalformed(parseShredding)(x, `shreddings[${i}]`),
          ),
  };
}
