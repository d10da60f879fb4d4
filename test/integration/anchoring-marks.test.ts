import { describe, expect, test } from 'vitest';
import { createViemLedger, type Hex, type LedgerClient, startAnvil } from '../../anchor/src/ledger/index.js';
import { logIdOf, toHex } from '../../gateway/src/core/log-names.js';
import { Anchorer } from '../../gateway/src/io/anchoring/anchoring.js';
import { CheckpointNotes } from '../../gateway/src/io/anchoring/checkpoints.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { grow, memoryLedgerFor, registeredGateway } from '../helpers/anchoring.js';
import { fixturePerTest } from '../helpers/contract.js';
import { makeTempDir } from '../helpers/tmp.js';

const LOG_ID = logIdOf('vitaltrail/gw-marks');
const MARK_KEY = `anchor_mark:test:${LOG_ID}`;

/** `ledger` as it is, with the `fromBlock` of each `getAnchors` call recorded (`null`: since the deployment). */
function recording(ledger: LedgerClient): { ledger: LedgerClient; reads: (number | null)[] } {
  const reads: (number | null)[] = [];
  return {
    reads,
    ledger: {
      account: ledger.account,
      anchor: (p) => ledger.anchor(p),
      latestAnchor: (id) => ledger.latestAnchor(id),
      head: () => ledger.head(),
      blockHash: (n) => ledger.blockHash(n),
      getAnchors: (id, from) => {
        reads.push(from ?? null);
        return ledger.getAnchors(id, from);
      },
    },
  };
}

/** A store, a maker of its anchorers (with marks), and `close` (by `fixturePerTest`, after each test). */
async function open() {
  const tmp = makeTempDir('vt-anch-marks-');
  const store = openStore(`${tmp.dir}/gateway.db`);
  const notes = new CheckpointNotes(store);
  const anchorer = (ledger: LedgerClient) =>
    new Anchorer({
      store,
      ledger,
      logId: LOG_ID,
      intervalMs: 1e6,
      notes,
      marks: { meta: store, ledger: 'test' },
    });
  const close = async (): Promise<void> => {
    store.close();
    tmp.cleanup();
  };
  return { store, anchorer, close };
}

/** The reconcile mark the store holds. */
const markOf = (store: GatewayStore) =>
  JSON.parse(store.getMeta(MARK_KEY) as string) as { n: number; hash: string };

const memoryLedger = () => memoryLedgerFor(LOG_ID);
const fx = fixturePerTest(open);

describe('anchoring: the reconcile mark (memory ledger)', () => {
  test('behavior: a restart on the same chain reads only the blocks after the mark and settles what landed there', async () => {
    const { store, anchorer } = await fx.fresh();
    const chain = memoryLedger();
    const first = recording(chain);
    const a = anchorer(first.ledger);
    for (const n of [2, 2]) {
      grow(store, n);
      await a.tick();
    }
    a.resync(); // as after a node restart the watchdog saw: the next round reconciles
    grow(store, 2);
    await a.tick();
    // The first reconcile had no mark (read whole); the second read after the first's head (0).
    expect(first.reads).toEqual([null, 1]);
    expect(markOf(store)).toEqual({
      n: 2,
      hash: await chain.blockHash(2),
    });
    // Sent before a crash, not recorded: the chain has 8, the store calls it pending.
    grow(store, 2);
    const eight = a.checkpointNow();
    expect(eight?.treeSize).toBe(8);
    const landed = await chain.anchor({
      logId: LOG_ID,
      treeSize: 8,
      rootHash: toHex(store.root(8)),
      checkpointTime: 1,
    });
    const restart = recording(chain);
    const b = anchorer(restart.ledger);
    expect(await b.reconcile()).toBe(0);
    expect(restart.reads).toEqual([3]);
    expect(store.getCheckpoint(8)).toMatchObject({ state: 'anchored', txHash: landed.txHash });
    expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([2, 4, 6, 8]);
    expect(markOf(store).n).toBe(4);
  });

  test('behavior: another history (the block at the mark differs) is read whole; what it lost goes back to the outbox', async () => {
    const { store, anchorer } = await fx.fresh();
    const a = anchorer(memoryLedger());
    for (const n of [2, 2, 2, 2]) {
      grow(store, n);
      await a.tick();
    }
    a.resync();
    await a.tick(); // the mark now names block 4
    expect(markOf(store).n).toBe(4);
    // A node restarted from older state: it kept 2 and 4, and grew back past the mark.
    const older = memoryLedger();
    const put = (logId: Hex, treeSize: number, rootHash: Hex) =>
      older.anchor({ logId, treeSize, rootHash, checkpointTime: 1 });
    for (const c of store.anchoredCheckpoints().slice(0, 2)) await put(LOG_ID, c.treeSize, toHex(c.root));
    const other = logIdOf('vitaltrail/someone-else');
    older.setGatewayActive(other, true);
    for (const size of [1, 2, 3]) await put(other, size, `0x${'0a'.repeat(32)}`);
    expect(older.blockNumber).toBeGreaterThanOrEqual(4);
    const restart = recording(older);
    const b = anchorer(restart.ledger);
    expect(await b.reconcile()).toBe(2);
    expect(restart.reads).toEqual([null]);
    expect(store.pendingCheckpoints().map((c) => c.treeSize)).toEqual([6, 8]);
    await b.tick();
    expect((await older.getAnchors(LOG_ID)).map((x) => x.treeSize)).toEqual([2, 4, 6, 8]);
  });

  test('error: a mark that does not parse, or names no block, is not trusted: the chain is read whole', async () => {
    const { store, anchorer } = await fx.fresh();
    const chain = memoryLedger();
    grow(store, 2);
    await anchorer(chain).tick();
    for (const bad of ['not json', '{"n":-1,"hash":"0x00"}', '{"n":99,"hash":"0x00"}', '{"n":1}']) {
      store.setMeta(MARK_KEY, bad);
      const r = recording(chain);
      await anchorer(r.ledger).reconcile();
      expect(r.reads, bad).toEqual([null]);
      expect(markOf(store).n).toBe(1);
    }
    expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([2]);
  });
});

describe('anchoring: the reconcile mark (real anvil)', () => {
  test('behavior: taken back before the mark (evm_revert) and grown past it, the chain is read whole; its lost anchors go back and are anchored once', async () => {
    const { store, anchorer } = await fx.fresh();
    const node = await startAnvil();
    const rpc = async (method: string, params: unknown[] = []) => {
      const res = await fetch(node.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      return ((await res.json()) as { result: unknown }).result;
    };
    try {
      const { deployment, gwKey } = await registeredGateway(node.rpcUrl, LOG_ID);
      const ledger = (): LedgerClient =>
        createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gwKey });
      const a = anchorer(ledger());
      grow(store, 3);
      await a.tick();
      const snapshot = await rpc('evm_snapshot');
      for (const n of [3, 3]) {
        grow(store, n);
        await a.tick();
      }
      a.resync();
      await a.tick(); // the mark names the head with 3, 6 and 9 anchored
      const mark = markOf(store);
      expect(mark.hash).toBe(await ledger().blockHash(mark.n));
      // The node goes back to the snapshot (6 and 9 gone) and grows past the mark again.
      expect(await rpc('evm_revert', [snapshot])).toBe(true);
      await rpc('anvil_mine', ['0x5']);
      expect((await ledger().head()).number).toBeGreaterThanOrEqual(mark.n);
      expect(await ledger().blockHash(mark.n)).not.toBe(mark.hash);
      const restart = recording(ledger());
      const b = anchorer(restart.ledger);
      expect(await b.reconcile()).toBe(2);
      expect(restart.reads).toEqual([null]);
      expect(store.pendingCheckpoints().map((c) => c.treeSize)).toEqual([6, 9]);
      await b.tick();
      const onChain = await ledger().getAnchors(LOG_ID);
      expect(onChain.map((x) => x.treeSize)).toEqual([3, 6, 9]);
      expect(store.anchoredCheckpoints().map((c) => c.txHash)).toEqual(onChain.map((x) => x.txHash));
      // The next restart, on this chain unchanged, reads only after the new mark.
      const before = markOf(store);
      const again = recording(ledger());
      expect(await anchorer(again.ledger).reconcile()).toBe(0);
      expect(again.reads).toEqual([before.n + 1]);
    } finally {
      await node.stop();
    }
  });
});
