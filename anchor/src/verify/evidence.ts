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
import { parseAbiItem } from 'abitype';
import type { PublicClient } from 'viem';
import { ANCHORS_ABI } from '../contracts/index.js';
import type { AnchorRecord, Hex } from '../ledger/index.js';
import { type ChainEvidence, EVIDENCE_FORMAT } from './evidence-format.js';
import type { RegistryEvent } from './verify.js';

export { type ChainEvidence, EVIDENCE_FORMAT, parseChainEvidence } from './evidence-format.js';

// The same fragments as REGISTRY_ABI (a test keeps that equal to the compiled ABI).
const REGISTERED = parseAbiItem(
  'event DeviceRegistered(bytes32 indexed devIdHash, string devId, bytes32 spkiHash)',
);
const REVOKED = parseAbiItem('event DeviceRevoked(bytes32 indexed devIdHash, string devId)');
const LOG_WINDOW = 10_000n;

/** Every `DeviceRegistered` / `DeviceRevoked` event of `registry`, in chain order. */
async function readRegistryEvents(
  toSafeNumber: (n: bigint) => number,
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
  // The chain client (viem: some 400 modules) is loaded here, not with the verifier:
  // `vitaltrail verify --anchors` never reads a chain and starts without it.
  const { createReadClient, fetchAnchors, toSafeNumber } = await import('../ledger/index.js');
  const reader = createReadClient(p.rpcUrl);
  const chainId = await reader.getChainId();
  const head = await reader.getBlockNumber({ cacheTime: 0 }); // viem caches the head for ~4 s by default: read it fresh
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
    registryEvents: await readRegistryEvents(toSafeNumber, reader, registry, head),
  };
}
