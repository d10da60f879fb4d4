/**
 * @module test/integration/ledger-abstract
 * The abstract `LedgerClient` suite (STYLE.md §4, after aedes-persistence `abstract.js`): every
 * implementation (in memory, viem on a real chain) must keep the PROTOCOL.md §4 anchoring rules
 * the same way.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Hex, type LedgerClient, LedgerError } from '../../anchor/src/ledger/types.js';

/** A fresh ledger whose account actively holds `logId` and does not hold `foreignLogId`. */
export interface LedgerFixture {
  ledger: LedgerClient;
  logId: Hex;
  foreignLogId: Hex;
}

let seq = 0;
/** A distinct 32-byte hash per call. */
export function freshHash(label: string): Hex {
  seq += 1;
  return `0x${createHash('sha256').update(`${label}-${process.pid}-${seq}-${Math.random()}`).digest('hex')}`;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<LedgerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LedgerError);
  expect((err as LedgerError).code).toBe(code);
  return err as LedgerError;
}

/** Registers the suite under `describe(name)`; `factory` runs once per test. */
export function ledgerContract(name: string, factory: () => Promise<LedgerFixture>): void {
  describe(`LedgerClient contract: ${name}`, () => {
    it('behavior: latestAnchor is null before the first anchor, then the last anchored size and root', async () => {
      const { ledger, logId } = await factory();
      expect(await ledger.latestAnchor(logId)).toBeNull();
      expect(await ledger.getAnchors(logId)).toEqual([]);
      const root = freshHash('root');
      const r = await ledger.anchor({ logId, treeSize: 7, rootHash: root, checkpointTime: 1_767_225_600 });
      expect(r.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(r.blockNumber).toBeGreaterThan(0);
      expect(await ledger.latestAnchor(logId)).toEqual({ treeSize: 7, rootHash: root });
    });

    it('behavior: getAnchors lists every anchor of the log in order, with all fields', async () => {
      const { ledger, logId } = await factory();
      const sent = [];
      for (const [i, treeSize] of [1, 2, 5, 1000].entries()) {
        const rootHash = freshHash('root');
        const checkpointTime = 1_767_225_600 + i;
        const r = await ledger.anchor({ logId, treeSize, rootHash, checkpointTime });
        sent.push({
          logId,
          treeSize,
          rootHash,
          checkpointTime,
          txHash: r.txHash,
          blockNumber: r.blockNumber,
        });
      }
      const got = await ledger.getAnchors(logId);
      expect(got).toEqual(sent);
      const blocks = got.map((a) => a.blockNumber);
      expect([...blocks].sort((a, b) => a - b)).toEqual(blocks);
      expect(await ledger.latestAnchor(logId)).toEqual({ treeSize: 1000, rootHash: sent[3]?.rootHash });
    });

    it('behavior: head names the newest block and blockHash its hash (null past it); getAnchors from a block lists the anchors from it on', async () => {
      const { ledger, logId } = await factory();
      const h0 = await ledger.head();
      expect(h0.hash).toMatch(/^0x[0-9a-f]{64}$/);
      for (const treeSize of [1, 2, 3])
        await ledger.anchor({ logId, treeSize, rootHash: freshHash('root'), checkpointTime: treeSize });
      const h1 = await ledger.head();
      expect(h1.number).toBeGreaterThanOrEqual(h0.number + 3);
      expect(await ledger.blockHash(h1.number)).toBe(h1.hash);
      expect(await ledger.blockHash(h0.number)).toBe(h0.hash); // the history before it did not change
      expect(await ledger.blockHash(h1.number + 1000)).toBeNull();
      const all = await ledger.getAnchors(logId);
      expect(await ledger.getAnchors(logId, 0)).toEqual(all);
      expect(await ledger.getAnchors(logId, all[1]?.blockNumber as number)).toEqual(all.slice(1));
      expect(await ledger.getAnchors(logId, h1.number + 1)).toEqual([]);
      await expect(ledger.blockHash(-1)).rejects.toThrow(RangeError);
      await expect(ledger.blockHash(1.5)).rejects.toThrow(/must be a safe integer/);
      await expect(ledger.getAnchors(logId, -1)).rejects.toThrow(/fromBlock/);
    });

    it('behavior: anchors sent concurrently in increasing order all land, in that order', async () => {
      const { ledger, logId } = await factory();
      const roots = [freshHash('root'), freshHash('root'), freshHash('root')];
      await Promise.all(
        roots.map((rootHash, i) => ledger.anchor({ logId, treeSize: i + 1, rootHash, checkpointTime: i })),
      );
      expect((await ledger.getAnchors(logId)).map((a) => [a.treeSize, a.rootHash])).toEqual(
        roots.map((r, i) => [i + 1, r]),
      );
    });

    it('error: an equal or a smaller tree size is refused with tree_size_not_increasing, nothing recorded', async () => {
      const { ledger, logId } = await factory();
      const root = freshHash('root');
      await ledger.anchor({ logId, treeSize: 10, rootHash: root, checkpointTime: 1 });
      await expectCode(
        ledger.anchor({ logId, treeSize: 10, rootHash: freshHash('root'), checkpointTime: 2 }),
        'tree_size_not_increasing',
      );
      await expectCode(
        ledger.anchor({ logId, treeSize: 9, rootHash: freshHash('root'), checkpointTime: 2 }),
        'tree_size_not_increasing',
      );
      // the same checkpoint again (an outbox retry) is refused too: retries are idempotent
      await expectCode(
        ledger.anchor({ logId, treeSize: 10, rootHash: root, checkpointTime: 1 }),
        'tree_size_not_increasing',
      );
      expect(await ledger.getAnchors(logId)).toHaveLength(1);
      expect(await ledger.latestAnchor(logId)).toEqual({ treeSize: 10, rootHash: root });
      await ledger.anchor({ logId, treeSize: 11, rootHash: freshHash('root'), checkpointTime: 3 });
    });

    it('error: a logId the account does not hold is refused with not_active_gateway', async () => {
      const { ledger, logId, foreignLogId } = await factory();
      const err = await expectCode(
        ledger.anchor({ logId: foreignLogId, treeSize: 1, rootHash: freshHash('root'), checkpointTime: 1 }),
        'not_active_gateway',
      );
      expect(err.message).not.toContain(foreignLogId.slice(2, 18)); // no input in the message
      expect(await ledger.getAnchors(foreignLogId)).toEqual([]);
      expect(await ledger.getAnchors(logId)).toEqual([]);
    });

    it('error: malformed parameters throw TypeError/RangeError naming the parameter', async () => {
      const { ledger, logId } = await factory();
      const ok = { logId, treeSize: 1, rootHash: freshHash('root'), checkpointTime: 1 };
      await expect(ledger.anchor({ ...ok, logId: '0x1234' })).rejects.toThrow(/logId/);
      await expect(ledger.anchor({ ...ok, rootHash: `0x${'0'.repeat(64)}` })).rejects.toThrow(RangeError);
      await expect(ledger.anchor({ ...ok, treeSize: 0 })).rejects.toThrow(RangeError);
      await expect(ledger.anchor({ ...ok, treeSize: 1.5 })).rejects.toThrow(/treeSize/);
      await expect(ledger.anchor({ ...ok, treeSize: 2 ** 53 })).rejects.toThrow(TypeError);
      await expect(ledger.anchor({ ...ok, checkpointTime: -1 })).rejects.toThrow(/checkpointTime/);
      await expect(ledger.anchor({ ...ok, logId: 42 as unknown as Hex })).rejects.toThrow(TypeError);
      await expect(ledger.latestAnchor('nope' as Hex)).rejects.toThrow(TypeError);
      await expect(ledger.getAnchors('0x' as Hex)).rejects.toThrow(TypeError);
      expect(await ledger.getAnchors(logId)).toEqual([]);
    });
  });
}
