/**
 * @module verify/evidence
 * The chain evidence an auditor checks a disclosure bundle against (PROTOCOL.md §4, §5):
 * the `Anchored` events of the bundle's log and the registry's `DeviceRegistered` /
 * `DeviceRevoked` events. `fetchChainEvidence` reads them live, read-only, from any EVM
 * JSON-RPC endpoint; the same document saved as JSON (`vitaltrail-anchors/1`) lets
 * `vitaltrail verify --anchors FILE` run fully offline.
 *
 * Trust: live evidence is as good as the RPC endpoint the auditor chose (ideally their own
 * node of the consortium chain). A saved file is as good as whoever fetched it and the
 * channel it came through: it is plain JSON, not signed. `parseChainEvidence` checks its
 * shape only (it is attacker-controlled like the bundle).
 *
 * This file is the verifier's only network I/O and is not part of the browser bundle.
 */
import { type PublicClient, parseAbiItem } from 'viem';
import { ANCHORS_ABI } from '../contracts/artifacts.js';
import type { AnchorRecord, Hex } from '../ledger/types.js';
import { toSafeNumber } from '../ledger/types.js';
import { createReadClient, fetchAnchors } from '../ledger/viem.js';
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

// The same fragments as REGISTRY_ABI (a test keeps that equal to the compiled ABI).
const REGISTERED = parseAbiItem(
  'event DeviceRegistered(bytes32 indexed devIdHash, string devId, bytes32 spkiHash)',
);
const REVOKED = parseAbiItem('event DeviceRevoked(bytes32 indexed devIdHash, string devId)');
const LOG_WINDOW = 10_000n;

/** Every `DeviceRegistered` / `DeviceRevoked` event of `registry`, in chain order. */
async function readRegistryEvents(
  reader: PublicClient,
  registry: Hex,
  head: bigint,
): Promise<RegistryEvent[]> {
  const out: RegistryEvent[] = [];
  for (let from = 0n; from <= head; from += LOG_WINDOW) {
    const to = from + LOG_WINDOW - 1n < head ? from + LOG_WINDOW - 1n : head;
    const logs = await reader.getLogs({
      address: registry,
      events: [REGISTERED, REVOKED],
      fromBlock: from,
      toBlock: to,
    });
    for (const l of logs) {
      if (l.removed || l.blockNumber === null || l.logIndex === null) continue;
      const blockNumber = toSafeNumber(l.blockNumber);
      const logIndex = l.logIndex;
      const args = l.args as { devId?: string; spkiHash?: Hex };
      if (typeof args.devId !== 'string') continue;
      if (l.eventName === 'DeviceRegistered') {
        if (typeof args.spkiHash !== 'string') continue;
        out.push({
          kind: 'registered',
          dev: args.devId,
          spkiHash: args.spkiHash.toLowerCase() as Hex,
          blockNumber,
          logIndex,
        });
      } else {
        out.push({ kind: 'revoked', dev: args.devId, blockNumber, logIndex });
      }
    }
  }
  return out;
}

/**
 * Reads the chain evidence for `logIds` from `rpcUrl`: chain id, the registry the anchors
 * contract names, every `Anchored` event of those logs and every registry device event.
 * Read-only: no account, no transaction.
 * @throws {LedgerError} `ledger_unavailable`, `contract_missing`, `bad_ledger_data`.
 * @example
 * const ev = await fetchChainEvidence({ rpcUrl: 'http://127.0.0.1:8545', contract: bundle.chain.contract, logIds: [bundle.log.logId] });
 * verifyBundle(bundle, ev.anchors, { registry: ev.registryEvents });
 */
export async function fetchChainEvidence(p: {
  rpcUrl: string;
  contract: Hex;
  logIds: readonly Hex[];
}): Promise<ChainEvidence> {
  const reader = createReadClient(p.rpcUrl);
  const chainId = await reader.getChainId();
  const head = await reader.getBlockNumber();
  const anchors: AnchorRecord[] = [];
  for (const logId of new Set(p.logIds.map((l) => l.toLowerCase() as Hex))) {
    anchors.push(
      ...(await fetchAnchors({
        rpcUrl: p.rpcUrl,
        deployment: { anchors: p.contract, deployBlock: 0 },
        logId,
      })),
    );
  }
  const registry = (await reader.readContract({
    address: p.contract,
    abi: ANCHORS_ABI,
    functionName: 'registry',
  })) as Hex;
  return {
    format: EVIDENCE_FORMAT,
    chainId,
    contract: p.contract,
    registry,
    head: toSafeNumber(head),
    fetchedAt: new Date().toISOString(),
    anchors,
    registryEvents: await readRegistryEvents(reader, registry, head),
  };
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
