/**
 * @module verify-access/evidence-format
 * The saved chain evidence of an access-log bundle, `vitaltrail-access-evidence/1` (issue 18;
 * README "Offline: the access evidence file"): everything `vitaltrail verify-access` reads from
 * the chain for one bundle, so that `verify-access BUNDLE --evidence FILE` runs with no network
 * and gives the live run's report. Pure (no I/O, no network client): the auditor page parses
 * it with the same code. `evidence.ts` fetches it.
 *
 * ```json
 * {
 *   "format": "vitaltrail-access-evidence/1",
 *   "chainId": 31337, "contract": "0x…anchors", "registry": "0x…registry",
 *   "consent": "0x…consent contract", "logId": "0x…the bundle's log.logId",
 *   "head": 42, "fetchedAt": "2026-12-03T09:00:00.000Z",
 *   "anchors": [{"logId": "0x…", "treeSize": 5, "rootHash": "0x…", "checkpointTime": 1764…, "txHash": "0x…", "blockNumber": 11}],
 *   "consents": [{"id": "0x…", "patient": "0x…", "doctor": "0x…", "scope": 1,
 *                 "dataFrom": "1764…", "dataUntil": "0", "validFrom": "1764…", "validUntil": "1764…",
 *                 "purpose": "cardiology follow-up", "nonce": "7",
 *                 "grantedAt": 1764…000, "grantedBlock": 9, "revokedAt": null, "revokedBlock": null}],
 *   "absent": ["0x…a consent id the bundle cites that the contract does not hold"]
 * }
 * ```
 *
 * `anchors` are the `Anchored` events of `logId` (the records of `vitaltrail-anchors/1`);
 * `consents` the stored grant of every consent id the bundle's entries cite on this chain, as
 * the contract's `consent(bytes32)` returns it at `head` (times in ms = block timestamp × 1000;
 * the uint64 fields as decimal strings); `absent` the cited ids it holds no grant for. The
 * verifier needs neither the patient's key nor the doctor's registry status (the contract
 * checked both when it accepted the grant), so the file holds neither.
 *
 * Trust: the document is attacker-controlled like the bundle; `parseAccessEvidence` checks its
 * shape and limits only (`malformed`, reasons naming the JSON path, never a value) and copies
 * the known fields. Whether its records are the chain's is the fetcher's word: the file is as
 * good as whoever fetched it (README).
 */
import type { ErrorGroupCode } from '../../../gateway/src/protocol/error-codes.js';
import { errorClass } from '../../../gateway/src/protocol/errors.js';
import type { AnchorRecord, Hex } from '../ledger/index.js';
import type { ConsentCoverageRecord } from './consent.js';

export const ACCESS_EVIDENCE_FORMAT = 'vitaltrail-access-evidence/1';

/** `malformed` (the file's shape) or `evidence_mismatch` (of another chain, log or bundle). */
export class AccessEvidenceError extends errorClass<'access_evidence'>('AccessEvidenceError') {}
export type AccessEvidenceCode = ErrorGroupCode<'access_evidence'>;

/** A stored grant as the evidence file holds it (anchor/src/consent `ConsentRecord` without its transactions). */
export interface AccessEvidenceConsent extends ConsentCoverageRecord {
  purpose: string;
  nonce: bigint;
}

export interface AccessEvidence {
  format: typeof ACCESS_EVIDENCE_FORMAT;
  chainId: number;
  /** The VitalTrailAnchors contract (the bundle's `chain.contract`). */
  contract: Hex;
  /** The registry the anchors contract names, and the consent contract's `registry()`. */
  registry: Hex;
  /** The VitalTrailConsent contract the grants were read from. */
  consent: Hex;
  /** The access log (the bundle's `log.logId`). */
  logId: Hex;
  /** Block number of the chain head when fetched. */
  head: number;
  /** ISO 8601 time of the fetch (informative). */
  fetchedAt: string;
  anchors: AnchorRecord[];
  consents: AccessEvidenceConsent[];
  /** Cited consent ids the contract holds no grant for. */
  absent: Hex[];
}

/** Bounds on attacker-chosen sizes (the file itself is capped before it is read: `--max-input-mib`). */
export const ACCESS_EVIDENCE_LIMITS = {
  anchors: 1_000_000,
  consents: 1_000_000,
  /** Characters of `purpose` (the contract takes at most 200 UTF-8 bytes). */
  purposeChars: 200,
} as const;

type Obj = Record<string, unknown>;
const bad = (path: string) =>
  new AccessEvidenceError('malformed', `access evidence: ${path} is not of the documented shape`);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Obj, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);
const uint = (v: unknown, path: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(path);
  return v;
};
const hexOf = (v: unknown, path: string, bytes: number): Hex => {
  if (typeof v !== 'string' || !new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v)) throw bad(path);
  return v.toLowerCase() as Hex;
};
/** A clinician id: `0x` + 1-64 bytes (an entry's actor is `0x` + 2-128 hex). */
const idOf = (v: unknown, path: string): Hex => {
  if (typeof v !== 'string' || !/^0x(?:[0-9a-fA-F]{2}){1,64}$/.test(v)) throw bad(path);
  return v.toLowerCase() as Hex;
};
const U64_MAX = 2n ** 64n - 1n;
/** A uint as a decimal string (no sign, no leading zero), at most `max`. */
const decimal = (v: unknown, path: string, max: bigint): bigint => {
  if (typeof v !== 'string' || !/^(?:0|[1-9][0-9]{0,77})$/.test(v)) throw bad(path);
  const n = BigInt(v);
  if (n > max) throw bad(path);
  return n;
};
function list(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw bad(path);
  return v;
}

function anchorOf(a: unknown, path: string): AnchorRecord {
  if (!isObj(a)) throw bad(path);
  return {
    logId: hexOf(own(a, 'logId'), `${path}.logId`, 32),
    treeSize: uint(own(a, 'treeSize'), `${path}.treeSize`),
    rootHash: hexOf(own(a, 'rootHash'), `${path}.rootHash`, 32),
    checkpointTime: uint(own(a, 'checkpointTime'), `${path}.checkpointTime`),
    txHash: hexOf(own(a, 'txHash'), `${path}.txHash`, 32),
    blockNumber: uint(own(a, 'blockNumber'), `${path}.blockNumber`),
  };
}

function consentOf(c: unknown, path: string): AccessEvidenceConsent {
  if (!isObj(c)) throw bad(path);
  const scope = uint(own(c, 'scope'), `${path}.scope`);
  if (scope > 255) throw bad(`${path}.scope`);
  const purpose = own(c, 'purpose');
  if (typeof purpose !== 'string' || purpose.length > ACCESS_EVIDENCE_LIMITS.purposeChars)
    throw bad(`${path}.purpose`);
  const revokedAt = own(c, 'revokedAt');
  const revokedBlock = own(c, 'revokedBlock');
  if ((revokedAt === null) !== (revokedBlock === null)) throw bad(`${path}.revokedBlock`);
  return {
    id: hexOf(own(c, 'id'), `${path}.id`, 32),
    patient: hexOf(own(c, 'patient'), `${path}.patient`, 32),
    doctor: idOf(own(c, 'doctor'), `${path}.doctor`),
    scope,
    dataFrom: decimal(own(c, 'dataFrom'), `${path}.dataFrom`, U64_MAX),
    dataUntil: decimal(own(c, 'dataUntil'), `${path}.dataUntil`, U64_MAX),
    validFrom: decimal(own(c, 'validFrom'), `${path}.validFrom`, U64_MAX),
    validUntil: decimal(own(c, 'validUntil'), `${path}.validUntil`, U64_MAX),
    purpose,
    nonce: decimal(own(c, 'nonce'), `${path}.nonce`, 2n ** 256n - 1n),
    grantedAt: uint(own(c, 'grantedAt'), `${path}.grantedAt`),
    grantedBlock: uint(own(c, 'grantedBlock'), `${path}.grantedBlock`),
    revokedAt: revokedAt === null ? null : uint(revokedAt, `${path}.revokedAt`),
    revokedBlock: revokedBlock === null ? null : uint(revokedBlock, `${path}.revokedBlock`),
  };
}

/**
 * Checks the shape of a saved `vitaltrail-access-evidence/1` document and returns a fresh copy.
 * A consent id may appear once, in `consents` or in `absent`.
 * @throws {AccessEvidenceError} `malformed`, naming the path of the first bad field.
 * @example
 * const ev = parseAccessEvidence(JSON.parse(readFileSync('access-evidence.json', 'utf8')));
 */
export function parseAccessEvidence(json: unknown): AccessEvidence {
  if (!isObj(json) || own(json, 'format') !== ACCESS_EVIDENCE_FORMAT) throw bad('format');
  const L = ACCESS_EVIDENCE_LIMITS;
  const chainId = uint(own(json, 'chainId'), 'chainId');
  if (chainId < 1) throw bad('chainId');
  const fetchedAt = own(json, 'fetchedAt');
  const ev: AccessEvidence = {
    format: ACCESS_EVIDENCE_FORMAT,
    chainId,
    contract: hexOf(own(json, 'contract'), 'contract', 20),
    registry: hexOf(own(json, 'registry'), 'registry', 20),
    consent: hexOf(own(json, 'consent'), 'consent', 20),
    logId: hexOf(own(json, 'logId'), 'logId', 32),
    head: uint(own(json, 'head'), 'head'),
    fetchedAt: typeof fetchedAt === 'string' ? fetchedAt.slice(0, 64) : '',
    anchors: list(own(json, 'anchors'), 'anchors', L.anchors).map((a, i) => anchorOf(a, `anchors[${i}]`)),
    consents: list(own(json, 'consents'), 'consents', L.consents).map((c, i) =>
      consentOf(c, `consents[${i}]`),
    ),
    absent: list(own(json, 'absent'), 'absent', L.consents).map((h, i) => hexOf(h, `absent[${i}]`, 32)),
  };
  const seen = new Set<string>();
  for (const [i, id] of [...ev.consents.map((c) => c.id), ...ev.absent].entries()) {
    if (seen.has(id)) throw bad(`consent id #${i} (listed twice)`);
    seen.add(id);
  }
  return ev;
}

/**
 * The JSON text of an evidence document: bigints as decimal strings, as `parseAccessEvidence`
 * reads them back.
 * @example
 * writeFileSync('access-evidence.json', accessEvidenceJson(ev));
 */
export function accessEvidenceJson(ev: AccessEvidence): string {
  return `${JSON.stringify(ev, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 1)}\n`;
}
