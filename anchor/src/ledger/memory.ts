/**
 * @module anchor/ledger/memory
 * An in-memory `LedgerClient` with the rules of the anchors contract (PROTOCOL.md §4), for unit
 * tests of the anchoring outbox: the same refusals, plus switches to take the ledger down and to
 * deactivate the gateway. Passes the same abstract suite as the viem client.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type AnchorParameters,
  type AnchorRecord,
  assertAddress,
  assertAnchorParameters,
  assertBytes32,
  assertSafeUint,
  type Hex,
  LEDGER_ERROR_CODES,
  type LedgerClient,
  LedgerError,
} from './types.js';

/** The memory ledger, with test switches. */
export interface MemoryLedger extends LedgerClient {
  /** While false, every call throws `ledger_unavailable`. */
  setAvailable(available: boolean): void;
  /** Activates or deactivates this gateway for `logId`, as the KGC would. */
  setGatewayActive(logId: Hex, active: boolean): void;
  /** The block height: one block per anchor. */
  readonly blockNumber: number;
}

/**
 * @param opts.account The gateway account.
 * @param opts.activeLogIds The logIds this account may anchor.
 * @example
 * const ledger = createMemoryLedger({ account: '0x…', activeLogIds: [logId] });
 */
export function createMemoryLedger(opts: { account: Hex; activeLogIds: Hex[] }): MemoryLedger {
  assertAddress('account', opts.account);
  if (!Array.isArray(opts.activeLogIds)) throw new TypeError('activeLogIds must be an array');
  const active = new Set<string>();
  for (const id of opts.activeLogIds) {
    assertBytes32('activeLogIds[]', id, true);
    active.add(id.toLowerCase());
  }
  const anchors = new Map<string, AnchorRecord[]>();
  let available = true;
  let block = 0;
  // Each ledger is a history of its own: two never share a block hash.
  const chain = randomUUID();
  const hashOf = (n: number): Hex =>
    `0x${createHash('sha256').update(`memory-ledger-block-${chain}-${n}`).digest('hex')}` as Hex;

  const up = (action: string): void => {
    if (!available)
      throw new LedgerError('ledger_unavailable', `${action}: ${LEDGER_ERROR_CODES.ledger_unavailable}`);
  };

  return {
    account: opts.account,
    get blockNumber() {
      return block;
    },
    setAvailable(a) {
      available = a;
    },
    setGatewayActive(logId, a) {
      assertBytes32('logId', logId, true);
      if (a) active.add(logId.toLowerCase());
      else active.delete(logId.toLowerCase());
    },
    async anchor(p: AnchorParameters) {
      assertAnchorParameters(p);
      up('anchor');
      const logId = p.logId.toLowerCase() as Hex;
      // PROTOCOL.md §4: only an active registered gateway may anchor its own logId
      if (!active.has(logId)) {
        throw new LedgerError('not_active_gateway', `anchor: ${LEDGER_ERROR_CODES.not_active_gateway}`);
      }
      const list = anchors.get(logId) ?? [];
      const last = list.at(-1)?.treeSize ?? 0;
      // PROTOCOL.md §4: treeSize must grow with every anchor of a logId
      if (p.treeSize <= last) {
        throw new LedgerError(
          'tree_size_not_increasing',
          `anchor: ${LEDGER_ERROR_CODES.tree_size_not_increasing}`,
        );
      }
      block += 1;
      const txHash = `0x${createHash('sha256').update(`memory-ledger-tx-${block}`).digest('hex')}` as Hex;
      const rec: AnchorRecord = {
        logId,
        treeSize: p.treeSize,
        rootHash: p.rootHash.toLowerCase() as Hex,
        checkpointTime: p.checkpointTime,
        txHash,
        blockNumber: block,
      };
      list.push(rec);
      anchors.set(logId, list);
      return { txHash, blockNumber: block };
    },
    async latestAnchor(logId) {
      assertBytes32('logId', logId);
      up('latestAnchor');
      const last = anchors.get(logId.toLowerCase())?.at(-1);
      return last ? { treeSize: last.treeSize, rootHash: last.rootHash } : null;
    },
    async getAnchors(logId, fromBlock = 0) {
      assertBytes32('logId', logId);
      assertSafeUint('fromBlock', fromBlock);
      up('getAnchors');
      const list = anchors.get(logId.toLowerCase()) ?? [];
      return list.filter((r) => r.blockNumber >= fromBlock).map((r) => ({ ...r }));
    },
    async head() {
      up('head');
      return { number: block, hash: hashOf(block) };
    },
    async blockHash(n) {
      assertSafeUint('n', n);
      up('blockHash');
      return n <= block ? hashOf(n) : null;
    },
  };
}
