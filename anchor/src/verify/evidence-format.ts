/**
 * @module verify/evidence-format
 * The saved chain evidence document `vitaltrail-anchors/1` (PROTOCOL.md §4, §5: the
 * `Anchored` events and the registry's device events) and its shape check. Split from
 * `evidence.ts` (which reads the evidence live over JSON-RPC) so that the auditor page's
 * browser bundle parses the same document with the same code and no network client.
 *
 * Trust: the document is attacker-controlled like the bundle; `parseChainEvidence`
 * checks its shape only and copies the known fields.
 */
import type { AnchorRecord, Hex } from '../ledger/index.js';
import { BundleError } from './bundle.js';
import type { RegistryEvent } from './verify.js';

export const EVIDENCE_FORMAT = 'vitaltrail-anchors/1';

/** The chain evidence for one or more logs of one anchors contract. */
export interface ChainEvidence {
  format: typeof EVIDENCE_FORMAT;
  chainId: number;
  /** The VitalTrailAnchors contract. */
  contract: Hex;
  /** The VitalTrailRegistry it names (`registry()`). */
  registry: Hex;
  /** Block number of the chain head when fetched. */
  head: number;
  /** ISO 8601 time of the fetch (informative). */
  fetchedAt: string;
  anchors: AnchorRecord[];
  registryEvents: RegistryEvent[];
}

type Obj = Record<string, unknown>;
const bad = (path: string) =>
  new BundleError('malformed', `anchors file: ${path} is not of the documented shape`);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const uint = (v: unknown, path: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(path);
  return v;
};
const hexOf = (v: unknown, path: string, bytes: number): Hex => {
  if (typeof v !== 'string' || !new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v)) throw bad(path);
  return v.toLowerCase() as Hex;
};
const DEV = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Checks the shape of a saved `vitaltrail-anchors/1` document and returns a fresh copy.
 * @throws {BundleError} `malformed`, naming the path of the first bad field.
 * @example
 * const ev = parseChainEvidence(JSON.parse(readFileSync('anchors.json', 'utf8')));
 */
export function parseChainEvidence(json: unknown): ChainEvidence {
  if (!isObj(json) || json.format !== EVIDENCE_FORMAT) throw bad('format');
  if (!Array.isArray(json.anchors)) throw bad('anchors');
  if (!Array.isArray(json.registryEvents)) throw bad('registryEvents');
  return {
    format: EVIDENCE_FORMAT,
    chainId: uint(json.chainId, 'chainId'),
    contract: hexOf(json.contract, 'contract', 20),
    registry: hexOf(json.registry, 'registry', 20),
    head: uint(json.head, 'head'),
    fetchedAt: typeof json.fetchedAt === 'string' ? json.fetchedAt.slice(0, 64) : '',
    anchors: json.anchors.map((a: unknown, i): AnchorRecord => {
      if (!isObj(a)) throw bad(`anchors[${i}]`);
      return {
        logId: hexOf(a.logId, `anchors[${i}].logId`, 32),
        treeSize: uint(a.treeSize, `anchors[${i}].treeSize`),
        rootHash: hexOf(a.rootHash, `anchors[${i}].rootHash`, 32),
        checkpointTime: uint(a.checkpointTime, `anchors[${i}].checkpointTime`),
        txHash: hexOf(a.txHash, `anchors[${i}].txHash`, 32),
        blockNumber: uint(a.blockNumber, `anchors[${i}].blockNumber`),
      };
    }),
    registryEvents: json.registryEvents.map((e: unknown, i): RegistryEvent => {
      const path = `registryEvents[${i}]`;
      if (!isObj(e) || typeof e.dev !== 'string' || !DEV.test(e.dev)) throw bad(path);
      const base = {
        dev: e.dev,
        blockNumber: uint(e.blockNumber, `${path}.blockNumber`),
        logIndex: uint(e.logIndex, `${path}.logIndex`),
      };
      if (e.kind === 'registered')
        return { kind: 'registered', spkiHash: hexOf(e.spkiHash, `${path}.spkiHash`, 32), ...base };
      if (e.kind === 'revoked') return { kind: 'revoked', ...base };
      throw bad(`${path}.kind`);
    }),
  };
}
