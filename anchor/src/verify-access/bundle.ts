/**
 * @module verify-access/bundle
 * The access-log bundle (issue 18; README "The access log (issue 18)"), in the style of the
 * disclosure bundle of PROTOCOL.md §5: the access entries of one patient pseudonym (or of
 * every patient) in a range of the access log, each with its RFC 9162 inclusion proof against
 * an anchored checkpoint, the signed checkpoints with their anchoring transactions, and the
 * consistency proofs between them.
 *
 * ```json
 * {
 *   "format": "vitaltrail-access/1",
 *   "chain": {"chainId": 31337, "contract": "0x…anchors"},
 *   "log": {"origin": "vitaltrail/gw-1/access", "logId": "0x…", "vkey": "vitaltrail/gw-1/access+1a2b3c4d+AT…"},
 *   "scope": {"patient": "0x…64 hex" | null, "from": ms | null, "to": ms | null, "fromIndex": 0, "toIndex": 12},
 *   "checkpoints": [{"treeSize": 12, "rootHash": "0x…", "txHash": "0x…", "blockNumber": 9, "note": "<signed note>"}],
 *   "consistency": [{"from": 8, "to": 12, "proof": ["0x…"]}],
 *   "entries": [{"leafIndex": 3, "treeSize": 8, "entry": "<canonical JSON text>", "leafHash": "0x…", "proof": ["0x…"]},
 *               {"leafIndex": 4, "treeSize": 8, "leafHash": "0x…", "withheld": true, "proof": ["0x…"]}]
 * }
 * ```
 *
 * `scope.fromIndex`/`toIndex` (exclusive) is the range of leaf indices the bundle accounts
 * for: every index in it has an entry, in increasing order, full or (in a patient's bundle,
 * for another patient's access) withheld with only its leaf hash. Hashes are `0x` + lowercase
 * hex; `note` is required (every access checkpoint is signed).
 *
 * Attacker-controlled input: a wrong top-level shape is a `BundleError` `malformed`; an entry
 * of the wrong shape is kept as `{malformed}` (reported per entry, the rest still checked).
 * Reasons name the JSON path, never a value.
 */
import type { Hex } from '../ledger/index.js';
import { BundleError } from '../verify/bundle.js'; // not the barrel: the auditor page bundles this file

export const ACCESS_BUNDLE_FORMAT = 'vitaltrail-access/1';

export interface AccessCheckpoint {
  treeSize: number;
  rootHash: Hex;
  txHash: Hex;
  blockNumber: number;
  note: string;
}

export interface AccessConsistency {
  from: number;
  to: number;
  proof: Hex[];
}

/** A disclosed entry: its canonical text, leaf hash and inclusion proof. */
export interface AccessFullItem {
  leafIndex: number;
  treeSize: number;
  entry: string;
  leafHash: Hex;
  proof: Hex[];
}

/** Another patient's entry in a patient's bundle: only its leaf hash, proven. */
export interface AccessWithheldItem {
  leafIndex: number;
  treeSize: number;
  leafHash: Hex;
  withheld: true;
  proof: Hex[];
}

/** An item that does not have either shape (its leaf index when it has one). */
export interface AccessMalformedItem {
  leafIndex?: number;
  malformed: string;
}

export type AccessItem = AccessFullItem | AccessWithheldItem | AccessMalformedItem;

export interface AccessScope {
  patient: Hex | null;
  from: number | null;
  to: number | null;
  fromIndex: number;
  toIndex: number;
}

export interface AccessBundle {
  format: typeof ACCESS_BUNDLE_FORMAT;
  chain: { chainId: number; contract: Hex };
  log: { origin: string; logId: Hex; vkey: string };
  scope: AccessScope;
  checkpoints: AccessCheckpoint[];
  consistency: AccessConsistency[];
  entries: AccessItem[];
}

/** Bounds on attacker-chosen sizes. */
export const ACCESS_BUNDLE_LIMITS = {
  /** Characters of an origin, vkey or checkpoint note. */
  textChars: 4096,
  /** Characters of one entry text. */
  entryChars: 4096,
  /** Hashes in one proof. */
  proofHashes: 64,
  checkpoints: 100_000,
  entries: 10_000_000,
} as const;

const HASH_HEX = /^0x[0-9a-f]{64}$/;
const ADDRESS_HEX = /^0x[0-9a-fA-F]{40}$/;

type Obj = Record<string, unknown>;
const malformed = (reason: string) => new BundleError('malformed', reason);

function obj(value: unknown, path: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`${path} must be an object`);
  return value as Obj;
}
const field = (o: Obj, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);
function arr(value: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw malformed(`${path} must be an array`);
  if (value.length > max) throw malformed(`${path} has too many items`);
  return value;
}
function count(value: unknown, path: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw malformed(`${path} must be an integer >= ${min}`);
  return value;
}
function text(value: unknown, path: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw malformed(`${path} must be a non-empty string of at most ${max} characters`);
  return value;
}
function hash(value: unknown, path: string): Hex {
  if (typeof value !== 'string' || !HASH_HEX.test(value))
    throw malformed(`${path} must be 0x-prefixed lowercase hex of 32 bytes`);
  return value as Hex;
}
const hashList = (value: unknown, path: string): Hex[] =>
  arr(value, path, ACCESS_BUNDLE_LIMITS.proofHashes).map((h, i) => hash(h, `${path}[${i}]`));
const countOrNull = (value: unknown, path: string): number | null =>
  value === null ? null : count(value, path);

function parseItem(value: unknown, path: string): AccessItem {
  const leafIndex = (() => {
    const o = typeof value === 'object' && value !== null ? (value as Obj) : {};
    const i = field(o, 'leafIndex');
    return typeof i === 'number' && Number.isSafeInteger(i) && i >= 0 ? i : undefined;
  })();
  try {
    const o = obj(value, path);
    const base = {
      leafIndex: count(field(o, 'leafIndex'), `${path}.leafIndex`),
      treeSize: count(field(o, 'treeSize'), `${path}.treeSize`, 1),
      leafHash: hash(field(o, 'leafHash'), `${path}.leafHash`),
      proof: hashList(field(o, 'proof'), `${path}.proof`),
    };
    if (field(o, 'withheld') !== undefined) {
      if (field(o, 'withheld') !== true || field(o, 'entry') !== undefined)
        throw malformed(`${path}: a withheld item has withheld true and no entry`);
      return { ...base, withheld: true };
    }
    return { ...base, entry: text(field(o, 'entry'), `${path}.entry`, ACCESS_BUNDLE_LIMITS.entryChars) };
  } catch (err) {
    if (!(err instanceof BundleError)) throw err;
    return leafIndex === undefined ? { malformed: err.reason } : { leafIndex, malformed: err.reason };
  }
}

/**
 * Parses an access-log bundle (module doc). Entries of the wrong shape become
 * `{malformed}` items; the rest of the bundle must have its shape.
 * @throws {BundleError} `malformed` (attacker-controlled input; never a SyntaxError).
 * @example
 * const bundle = parseAccessBundle(JSON.parse(readFileSync('access.json', 'utf8')));
 */
export function parseAccessBundle(json: unknown): AccessBundle {
  const o = obj(json, 'bundle');
  if (field(o, 'format') !== ACCESS_BUNDLE_FORMAT) throw malformed(`format must be ${ACCESS_BUNDLE_FORMAT}`);
  const chain = obj(field(o, 'chain'), 'chain');
  const contract = field(chain, 'contract');
  if (typeof contract !== 'string' || !ADDRESS_HEX.test(contract))
    throw malformed('chain.contract must be an address');
  const log = obj(field(o, 'log'), 'log');
  const scope = obj(field(o, 'scope'), 'scope');
  const patient = field(scope, 'patient');
  if (patient !== null && (typeof patient !== 'string' || !HASH_HEX.test(patient)))
    throw malformed('scope.patient must be null or 0x + 64 lowercase hex');
  const parsedScope: AccessScope = {
    patient: patient as Hex | null,
    from: countOrNull(field(scope, 'from'), 'scope.from'),
    to: countOrNull(field(scope, 'to'), 'scope.to'),
    fromIndex: count(field(scope, 'fromIndex'), 'scope.fromIndex'),
    toIndex: count(field(scope, 'toIndex'), 'scope.toIndex'),
  };
  if (parsedScope.fromIndex > parsedScope.toIndex)
    throw malformed('scope.fromIndex must not exceed scope.toIndex');
  const L = ACCESS_BUNDLE_LIMITS;
  return {
    format: ACCESS_BUNDLE_FORMAT,
    chain: { chainId: count(field(chain, 'chainId'), 'chain.chainId', 1), contract: contract as Hex },
    log: {
      origin: text(field(log, 'origin'), 'log.origin', L.textChars),
      logId: hash(field(log, 'logId'), 'log.logId'),
      vkey: text(field(log, 'vkey'), 'log.vkey', L.textChars),
    },
    scope: parsedScope,
    checkpoints: arr(field(o, 'checkpoints'), 'checkpoints', L.checkpoints).map((v, i) => {
      const c = obj(v, `checkpoints[${i}]`);
      return {
        treeSize: count(field(c, 'treeSize'), `checkpoints[${i}].treeSize`, 1),
        rootHash: hash(field(c, 'rootHash'), `checkpoints[${i}].rootHash`),
        txHash: hash(field(c, 'txHash'), `checkpoints[${i}].txHash`),
        blockNumber: count(field(c, 'blockNumber'), `checkpoints[${i}].blockNumber`),
        note: text(field(c, 'note'), `checkpoints[${i}].note`, L.textChars),
      };
    }),
    consistency: arr(field(o, 'consistency'), 'consistency', L.checkpoints).map((v, i) => {
      const c = obj(v, `consistency[${i}]`);
      return {
        from: count(field(c, 'from'), `consistency[${i}].from`, 1),
        to: count(field(c, 'to'), `consistency[${i}].to`, 1),
        proof: hashList(field(c, 'proof'), `consistency[${i}].proof`),
      };
    }),
    entries: arr(field(o, 'entries'), 'entries', L.entries).map((v, i) => parseItem(v, `entries[${i}]`)),
  };
}
