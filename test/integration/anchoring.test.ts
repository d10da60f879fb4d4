/**
 * The anchoring outbox (ARCHITECTURE.md guarantee 5, PROTOCOL.md §3-4) on a real SQLite store:
 * signed checkpoint notes written with the outbox row, backoff with jitter, receipts,
 * reconciliation with a chain that lost its latest anchors (the in-memory ledger, then a real
 * anvil restarted from an older state file), confirmations on a chain with block time, and the
 * HTTP proof endpoints through `app.inject`.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createMemoryLedger,
  createViemLedger,
  fetchAnchors,
  type Hex,
  type LedgerClient,
  startAnvil,
} from '../../anchor/src/ledger/index.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../anchor/src/log/index.js';
import { openCheckpoint } from '../../anchor/src/log/note.js';
import { wardStaticDir } from '../../gateway/src/app/gateway.js';
import { checkAnchors } from '../../gateway/src/cli/anchors.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { logIdOf, toHex } from '../../gateway/src/core/log-names.js';
import { Anchorer, type AnchoringOptions } from '../../gateway/src/io/anchoring/anchoring.js';
import { CheckpointNotes, loadCheckpointSigner } from '../../gateway/src/io/anchoring/checkpoints.js';
import { logRoutes } from '../../gateway/src/io/http/routes/log-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { grow, memoryLedgerFor, registeredGateway } from '../helpers/anchoring.js';
import { makeTempDir } from '../helpers/tmp.js';

const ORIGIN = 'vitaltrail/gw-test';
const LOG_ID = logIdOf(ORIGIN);

function fresh(prefix: string) {
  const tmp = makeTempDir(prefix);
  const paths = dataPaths(tmp.dir);
  const store = openStore(paths.db);
  const notes = new CheckpointNotes(store);
  const signer = loadCheckpointSigner(paths, ORIGIN);
  /** An Anchorer of this store on `ledger` (interval timer unused: the tests call tick()). */
  const anchorer = (ledger: LedgerClient, more: Partial<AnchoringOptions> = {}) =>
    new Anchorer({ store, ledger, logId: LOG_ID, intervalMs: 1e6, notes, signer, ...more });
  return { tmp, paths, store, notes, signer, anchorer };
}

const memoryLedger = () => memoryLedgerFor(LOG_ID);

describe('anchoring outbox (memory ledger)', () => {
  test('behavior: each checkpoint is stored with a signed note that opens with the vkey', async () => {
    const { tmp, store, notes, signer, anchorer } = fresh('vt-anch-');
    try {
      const a = anchorer(memoryLedger());
      grow(store, 5);
      await a.tick();
      grow(store, 3);
      await a.tick();
      await a.tick(); // the log did not grow: no new checkpoint
      expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([5, 8]);
      for (const size of [5, 8]) {
        const c = openCheckpoint(notes.note(size)!, signer.vkey);
        expect(c).toMatchObject({ origin: ORIGIN, treeSize: size });
        expect(toHex(c.rootHash)).toBe(toHex(store.root(size)));
      }
      expect(notes.latest()?.treeSize).toBe(8);
      // the key file is private, and reloading gives the same key
      const { statSync } = await import('node:fs');
      expect(statSync(join(tmp.dir, 'gateway', 'checkpoint.key.pem')).mode & 0o777).toBe(0o600);
      expect(loadCheckpointSigner(dataPaths(tmp.dir), ORIGIN).vkey).toBe(signer.vkey);
    } finally {
      store.close();
      tmp.cleanup();
    }
  });

  test('behavior: a receipt names the first anchored checkpoint above the leaf', async () => {
    const { tmp, store, notes, anchorer } = fresh('vt-anch-');
    try {
      const a = anchorer(memoryLedger());
      grow(store, 4);
      await a.tick();
      grow(store, 4);
      a.checkpointNow(); // size 8 cut, not anchored yet
      expect(notes.receipt(3)).toMatchObject({ leafIndex: 3, treeSize: 4, blockNumber: 1 });
      expect(notes.receipt(4)).toBeUndefined();
      await a.tick();
      expect(notes.receipt(4)).toMatchObject({ treeSize: 8, blockNumber: 2 });
      expect(notes.receipt(8)).toBeUndefined();
    } finally {
      store.close();
      tmp.cleanup();
    }
  });

  test('behavior: while the ledger is down checkpoints queue; backoff doubles with jitter in [d/2, d]', async () => {
    const { tmp, store, anchorer } = fresh('vt-anch-');
    try {
      const ledger = memoryLedger();
      let now = 1_000_000;
      let rnd = 0;
      const errors: string[] = [];
      const a = anchorer(ledger, {
        now: () => now,
        random: () => rnd,
        maxBackoffMs: 4000,
        onError: (e) => errors.push((e as { code: string }).code),
      });
      ledger.setAvailable(false);
      const waits: number[] = [];
      for (const r of [0, 0.999, 0, 0.5, 0]) {
        rnd = r;
        grow(store, 1);
        await a.tick(); // fails: schedules the next try
        // advance until the next tick submits again (a failure is counted)
        const before = errors.length;
        let waited = 0;
        while (errors.length === before) {
          now += 50;
          waited += 50;
          await a.tick();
        }
        waits.push(waited);
      }
      // Each wait was drawn at the failure before it: bases 500, 1000, 2000, 4000, 4000 (the cap),
      // drawn with r = 0, 0, 0.999, 0, 0.5 → base * (0.5 + r/2) = 250, 500, ~2000, 2000, 3000.
      expect(waits).toEqual([250, 500, 2000, 2000, 3000]);
      expect(a.status()).toMatchObject({ pending: 5, lastAnchoredSize: 0, lastError: 'ledger_unavailable' });
      expect(a.status().oldestPendingAgeMs).toBeGreaterThan(0);
      ledger.setAvailable(true);
      now += 10_000;
      await a.tick();
      expect(a.status()).toMatchObject({ pending: 0, lastAnchoredSize: 5, lastError: null });
      expect((await ledger.getAnchors(LOG_ID)).map((x) => x.treeSize)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      store.close();
      tmp.cleanup();
    }
  });

  test('behavior: on start, checkpoints the chain lost go back to the outbox and are anchored again, once each', async () => {
    const { tmp, store, anchorer } = fresh('vt-anch-');
    try {
      const first = memoryLedger();
      const a = anchorer(first);
      for (const n of [2, 2, 2, 2]) {
        grow(store, n);
        await a.tick();
      }
      expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([2, 4, 6, 8]);
      // A "restarted dev chain" that kept only the first two anchors.
      const lost = memoryLedger();
      for (const c of store.anchoredCheckpoints().slice(0, 2)) {
        await lost.anchor({
          logId: LOG_ID,
          treeSize: c.treeSize,
          rootHash: toHex(c.root),
          checkpointTime: 1,
        });
      }
      const b = anchorer(lost);
      expect(await b.reconcile()).toBe(2);
      expect(store.pendingCheckpoints().map((c) => c.treeSize)).toEqual([6, 8]);
      await b.tick();
      expect((await lost.getAnchors(LOG_ID)).map((x) => x.treeSize)).toEqual([2, 4, 6, 8]);
      expect(store.anchoredCheckpoints().map((c) => c.blockNumber)).toEqual([1, 2, 3, 4]);
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

describe('anchoring outbox: a node restarted from older state, overtaken before the reconcile (issue 13 item 11)', () => {
  test('behavior: anchors lost with the node are superseded when a larger one landed first; re-anchored ones take the chain’s tx; the store and the chain agree', async () => {
    const { tmp, store, notes, signer, anchorer } = fresh('vt-anch-lost-');
    try {
      const a = anchorer(memoryLedger());
      for (const n of [2, 2, 2, 2]) {
        grow(store, n);
        await a.tick();
      }
      expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([2, 4, 6, 8]);
      // The restarted node kept 2 and 4 (its blocks renumbered: other tx hashes) and lost 6 and 8.
      const other = logIdOf('vitaltrail/someone-else');
      const restarted = createMemoryLedger({
        account: privateKeyToAccount(generatePrivateKey()).address,
        activeLogIds: [LOG_ID, other],
      });
      await restarted.anchor({
        logId: other,
        treeSize: 1,
        rootHash: `0x${'01'.repeat(32)}`,
        checkpointTime: 1,
      });
      for (const c of store.anchoredCheckpoints().slice(0, 2)) {
        await restarted.anchor({
          logId: LOG_ID,
          treeSize: c.treeSize,
          rootHash: toHex(c.root),
          checkpointTime: 1,
        });
      }
      // A round in flight when the node died lands checkpoint 10 on the new node before any reconcile.
      grow(store, 2);
      const ten = a.checkpointNow()!;
      const landed = await restarted.anchor({
        logId: LOG_ID,
        treeSize: 10,
        rootHash: toHex(ten.root),
        checkpointTime: ten.createdAt,
      });
      store.markAnchored(10, landed.txHash, landed.blockNumber, Date.now());
      const onChain = await restarted.getAnchors(LOG_ID);
      expect(checkAnchors(store, notes, signer.vkey, onChain)).toEqual([
        { code: 'missing_on_chain', treeSize: 6 },
        { code: 'missing_on_chain', treeSize: 8 },
      ]);

      const b = anchorer(restarted);
      b.resync(); // what the chain watchdog does when the node is back
      await b.tick();
      // 6 and 8 can never be anchored (10 is on chain): superseded, naming no transaction.
      expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([2, 4, 10]);
      expect([store.getCheckpoint(6), store.getCheckpoint(8)]).toMatchObject([
        { state: 'superseded', txHash: null, blockNumber: null },
        { state: 'superseded', txHash: null, blockNumber: null },
      ]);
      // 2 and 4 carry the transactions the chain holds now.
      expect(store.anchoredCheckpoints().map((c) => c.txHash)).toEqual(onChain.map((x) => x.txHash));
      expect(checkAnchors(store, notes, signer.vkey, onChain)).toEqual([]);
      // A reading of the superseded range is proven by the next anchored checkpoint.
      expect(notes.receipt(5)).toMatchObject({ treeSize: 10, txHash: landed.txHash });
      expect(b.status()).toMatchObject({ pending: 0, lastAnchoredSize: 10, lastError: null });
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

describe('anchoring outbox: a checkpoint that landed but was not recorded (crash after send)', () => {
  test('behavior: the refused resend is settled from the chain with its tx; nothing is anchored twice', async () => {
    const { tmp, store, anchorer } = fresh('vt-anch-');
    try {
      const ledger = memoryLedger();
      const a = anchorer(ledger);
      grow(store, 2);
      await a.tick();
      grow(store, 2);
      const c = a.checkpointNow()!;
      // "Sent before the crash": the chain has it, the store still calls it pending.
      const landed = await ledger.anchor({
        logId: LOG_ID,
        treeSize: c.treeSize,
        rootHash: toHex(c.root),
        checkpointTime: c.createdAt,
      });
      grow(store, 1);
      await a.tick(); // 4 is refused (tree_size_not_increasing) → reconcile → anchored; then 5
      expect((await ledger.getAnchors(LOG_ID)).map((x) => x.treeSize)).toEqual([2, 4, 5]);
      expect(store.getCheckpoint(4)).toMatchObject({ state: 'anchored', txHash: landed.txHash });
      expect(a.status()).toMatchObject({ pending: 0, lastAnchoredSize: 5, lastError: null });
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

describe('anchors verify-chain checks (checkAnchors)', () => {
  test('error: a foreign root, an anchor beyond the log, a non-extending anchor and a lost anchor are each named', async () => {
    const { tmp, store, notes, signer, anchorer } = fresh('vt-anch-check-');
    try {
      const ledger = memoryLedger();
      const a = anchorer(ledger);
      for (const n of [3, 4, 5]) {
        grow(store, n);
        await a.tick();
      }
      const good = await ledger.getAnchors(LOG_ID);
      expect(checkAnchors(store, notes, signer.vkey, good)).toEqual([]);
      const other = `0x${'ab'.repeat(32)}` as Hex;
      const bad = [
        { ...good[0]!, rootHash: other }, // size 3 with another root: also breaks 3 → 7
        good[1]!,
        { ...good[2]!, treeSize: 99 }, // beyond the log (12 leaves)
      ];
      expect(checkAnchors(store, notes, signer.vkey, bad)).toEqual([
        { code: 'root_mismatch', treeSize: 3 },
        { code: 'bad_note', treeSize: 3 },
        { code: 'inconsistent_anchors', treeSize: 7 },
        { code: 'anchor_beyond_log', treeSize: 99 },
        { code: 'missing_on_chain', treeSize: 12 },
      ]);
      expect(checkAnchors(store, notes, signer.vkey, [good[1]!, good[0]!])).toContainEqual({
        code: 'size_not_increasing',
        treeSize: 3,
      });
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

describe('anchoring on a real anvil', () => {
  const tmp = makeTempDir('vt-anch-anvil-');

  afterAll(() => tmp.cleanup());

  test('behavior: anvil restarted without its latest state: the lost anchors are resubmitted, none doubled', async () => {
    const stateFile = join(tmp.dir, 'anvil-state.json');
    const older = join(tmp.dir, 'anvil-state.older.json');
    const { store, anchorer } = fresh('vt-anch-store-');
    let node = await startAnvil({ stateFile });
    try {
      const { deployment, gwKey } = await registeredGateway(node.rpcUrl, LOG_ID);
      const anchorWith = async (rpcUrl: string, rounds: number) => {
        const ledger: LedgerClient = createViemLedger({ rpcUrl, deployment, privateKey: gwKey });
        // With the mark the gateway keeps (io/anchoring `marks`): read after the mark when the
        // older state kept the block it names, whole when not, 9 and 12 are found gone.
        const a = anchorer(ledger, { marks: { meta: store, ledger: 'anvil' } });
        await a.start();
        for (let i = 0; i < rounds; i++) {
          grow(store, 3);
          await a.tick();
        }
        await a.tick(); // submits what start() put back in the outbox, if anything
        await a.stop();
        return a;
      };
      await anchorWith(node.rpcUrl, 2);
      await node.stop(); // anvil writes its state on SIGTERM
      copyFileSync(stateFile, older);
      node = await startAnvil({ stateFile });
      await anchorWith(node.rpcUrl, 2);
      expect(store.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([3, 6, 9, 12]);
      await node.stop();
      // The chain comes back from the older state: anchors 9 and 12 are gone.
      copyFileSync(older, stateFile);
      node = await startAnvil({ stateFile });
      expect(
        (await fetchAnchors({ rpcUrl: node.rpcUrl, deployment, logId: LOG_ID })).map((x) => x.treeSize),
      ).toEqual([3, 6]);
      await anchorWith(node.rpcUrl, 0); // start() reconciles: 9 and 12 go back to the outbox
      const onChain = await fetchAnchors({ rpcUrl: node.rpcUrl, deployment, logId: LOG_ID });
      expect(onChain.map((x) => x.treeSize)).toEqual([3, 6, 9, 12]);
      expect(onChain.map((x) => x.rootHash)).toEqual(store.anchoredCheckpoints().map((c) => toHex(c.root)));
      expect(store.anchoredCheckpoints().map((c) => c.txHash)).toEqual(onChain.map((x) => x.txHash));
    } finally {
      await node.stop();
      store.close();
    }
  });

  test('behavior: confirmations N waits for N blocks after the including one; 0 takes the receipt', async () => {
    const node = await startAnvil({ blockTime: 1 });
    try {
      const { deployment, gwKey } = await registeredGateway(node.rpcUrl, LOG_ID);
      const root = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
      const head = async () =>
        Number.parseInt(
          (
            (await (
              await fetch(node.rpcUrl, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
              })
            ).json()) as { result: string }
          ).result,
          16,
        );
      const zero = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gwKey, confirmations: 0 });
      const r0 = await zero.anchor({ logId: LOG_ID, treeSize: 1, rootHash: root(1), checkpointTime: 1 });
      expect((await head()) - r0.blockNumber).toBeLessThan(1);
      const two = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: gwKey, confirmations: 2 });
      const r2 = await two.anchor({ logId: LOG_ID, treeSize: 2, rootHash: root(2), checkpointTime: 2 });
      expect((await head()) - r2.blockNumber).toBeGreaterThanOrEqual(2);
    } finally {
      await node.stop();
    }
  });
});

describe('HTTP proof endpoints (app.inject)', () => {
  const ledger = memoryLedger();
  const { tmp, store, notes, signer, anchorer: make } = fresh('vt-anch-http-');
  const anchorer = make(ledger);
  let srv: HttpServer;
  const cookies: Record<string, string> = {};

  beforeAll(async () => {
    const users = new UserFile(join(tmp.dir, 'gateway', 'users.json'));
    await users.add('audit.al', 'auditor', 'proofs-not-pulses');
    await users.add('nurse.ann', 'nurse', 'pulses-not-proofs');
    srv = await startHttpServer({
      hub: new LiveHub(),
      users,
      staticDir: wardStaticDir(),
      routes: [logRoutes({ store, notes, anchoring: () => anchorer.status() })],
    });
    for (const [u, p] of [
      ['audit.al', 'proofs-not-pulses'],
      ['nurse.ann', 'pulses-not-proofs'],
    ] as const) {
      const res = await srv.app.inject({
        method: 'POST',
        url: '/api/login',
        payload: { username: u, password: p },
      });
      expect(res.statusCode).toBe(200);
      cookies[u] = String(res.headers['set-cookie']).split(';', 1)[0]!;
    }
    grow(store, 5);
    await anchorer.tick();
    grow(store, 6);
    await anchorer.tick();
    grow(store, 2); // leaves 11, 12: not in any checkpoint yet
  });

  afterAll(async () => {
    await srv?.close();
    store.close();
    tmp.cleanup();
  });

  const get = (url: string, who = 'audit.al') =>
    srv.app.inject({ method: 'GET', url, headers: cookies[who] ? { cookie: cookies[who] } : {} });

  test('behavior: GET /checkpoint is the latest signed note, text/plain; ?size= picks one', async () => {
    const res = await get('/checkpoint');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(openCheckpoint(res.body, signer.vkey).treeSize).toBe(11);
    expect(openCheckpoint((await get('/checkpoint?size=5')).body, signer.vkey).treeSize).toBe(5);
    expect((await get('/checkpoint?size=6')).statusCode).toBe(404);
  });

  test('behavior: inclusion and consistency proofs verify against the checkpoints', async () => {
    const inc = (await get('/proof/inclusion?leaf=3&size=11')).json() as {
      leafHash: string;
      rootHash: string;
      proof: string[];
      treeSize: number;
    };
    const b = (h: string) => new Uint8Array(Buffer.from(h.slice(2), 'hex'));
    expect(inc.treeSize).toBe(11);
    expect(inc.leafHash).toBe(toHex(hashLeaf(Buffer.from('wr-0001/4'))));
    verifyInclusion(3, 11, b(inc.leafHash), inc.proof.map(b), b(inc.rootHash));
    const cons = (await get('/proof/consistency?from=5&to=11')).json() as {
      fromRoot: string;
      toRoot: string;
      proof: string[];
    };
    const cp5 = openCheckpoint((await get('/checkpoint?size=5')).body, signer.vkey);
    expect(cons.fromRoot).toBe(toHex(cp5.rootHash));
    verifyConsistency(5, 11, cons.proof.map(b), b(cons.fromRoot), b(cons.toRoot));
    expect(inc.proof.every((h) => /^0x[0-9a-f]{64}$/.test(h))).toBe(true);
  });

  test('behavior: /anchoring reports the outbox; /receipt gives the anchoring of a reading', async () => {
    expect((await get('/anchoring')).json()).toEqual({
      ledger: true,
      logSize: 13,
      pending: 0,
      oldestPendingAgeMs: null,
      lastAnchoredSize: 11,
      lastError: null,
    });
    expect((await get('/receipt?dev=wr-0001&seq=7')).json()).toMatchObject({
      dev: 'wr-0001',
      seq: 7,
      leafIndex: 6,
      anchored: true,
      treeSize: 11,
      blockNumber: 2,
    });
    expect((await get('/receipt?dev=wr-0001&seq=12')).json()).toMatchObject({
      anchored: false,
      treeSize: null,
    });
    expect((await get('/receipt?dev=wr-0001&seq=99')).statusCode).toBe(404);
  });

  test('error: bad parameters are 400 bad_request; sizes beyond the log 404 not_found', async () => {
    for (const url of [
      '/proof/inclusion?leaf=11&size=11',
      '/proof/inclusion?leaf=-1&size=5',
      '/proof/inclusion?leaf=01&size=5',
      '/proof/inclusion?leaf=1',
      '/proof/inclusion?leaf=1&size=5&size=6',
      '/proof/consistency?from=0&to=5',
      '/proof/consistency?from=6&to=5',
      '/proof/consistency?from=1e2&to=500',
      '/receipt?dev=../x&seq=1',
      '/checkpoint?size=abc',
    ]) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ error: { code: 'bad_request' } });
    }
    for (const url of ['/proof/inclusion?leaf=1&size=14', '/proof/consistency?from=5&to=14']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json(), url).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  test('error: without a session every route is 401 unauthenticated', async () => {
    for (const url of [
      '/checkpoint',
      '/proof/inclusion?leaf=0&size=1',
      '/anchoring',
      '/receipt?dev=wr-0001&seq=1',
    ]) {
      const res = await get(url, 'nobody');
      expect(res.statusCode, url).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'unauthenticated' } });
    }
  });
});
