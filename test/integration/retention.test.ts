/**
 * Crypto-shredding in a running gateway (io/ingest/retention, `shredAfterMs`; README
 * "Retention"): the gateway destroys the data keys of windows that ended the retention ago,
 * each with its shredding record in the log, while devices keep sending. The log has one
 * writer, so the shred runs only between the ingest's group commits
 * (`Ingest.betweenFlushes`). Real parts: a real Ingest and SQLite store; a real gateway on its
 * embedded broker with mqtt.js devices, anchoring on a real anvil; the frames read back with
 * the recipient's key, and each device's export verified as an auditor does, against the chain.
 * Short windows (`dataKeyWindowMs`) stand in for the production hour.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, test } from 'vitest';
import { hashLeaf } from '../../anchor/src/log/index.js';
import { fetchChainEvidence, parseBundle, verifyBundle } from '../../anchor/src/verify/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { logIdOf } from '../../gateway/src/core/log-names.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { exportBundle, planExport } from '../../gateway/src/io/outbound/export.js';
import { loadRecipientSecrets } from '../../gateway/src/io/store/recipients.js';
import { readSnapshot } from '../../gateway/src/io/store/schema.js';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
import { type ShredResult, shredExpired } from '../../gateway/src/io/store/shredding.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { decodeShredRecord } from '../../gateway/src/protocol/shred-record.js';
import { deviceKey, FrameChain, prepareAnchoredDataDir } from '../helpers/gateway.js';
import { recipientPair, sealedRig, shredderOf, windowedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('Ingest.betweenFlushes', () => {
  test('behavior: runs at once when no commit is under way, else right after the commit, before the next', async () => {
    const t = makeTempDir('vt-between-');
    cleanups.push(t.cleanup);
    const r = recipientPair('care', 'ec');
    const rig = sealedRig(t.dir, [r.recipient]);
    cleanups.push(() => rig.store.close());
    const a = rig.device('wr-a');

    // Idle: synchronously, on the caller's turn.
    let ran = false;
    const idle = rig.ingest.betweenFlushes(() => {
      ran = true;
      return rig.store.size;
    });
    expect(ran).toBe(true);
    expect(await idle).toBe(0);

    // Asked during a commit (its frames' answers are told inside it): after the commit has
    // ended, never inside it.
    const during: { sync: boolean; size: number; inTransaction: boolean; leaf: number }[] = [];
    const told: Promise<unknown>[] = [];
    rig.ingest.on('outcome', (res) => {
      if (res.status !== 'accepted' || told.length >= 5) return;
      let sync = true;
      told.push(
        rig.ingest.betweenFlushes(() =>
          during.push({
            sync,
            size: rig.store.size,
            inTransaction: rig.store.db.inTransaction,
            leaf: res.leafIndex,
          }),
        ),
      );
      sync = false;
    });
    // Under load: and none of them starves behind the commits that follow.
    const acks = Array.from({ length: 300 }, () => rig.ingest.submit(a.next(), 'wr-a'));
    await Promise.all(acks);
    await Promise.all(told);
    expect(during).toHaveLength(5);
    for (const d of during) {
      expect(d.sync, 'deferred past the commit').toBe(false);
      expect(d.inTransaction).toBe(false);
      expect(d.size).toBeGreaterThan(d.leaf);
    }
    expect(rig.store.size).toBe(300);

    // A throwing task rejects its own promise only.
    await expect(
      rig.ingest.betweenFlushes(() => {
        throw new Error('task failed');
      }),
    ).rejects.toThrow('task failed');
    await rig.ingest.close();
  });
});

describe('crypto-shredding in a running gateway', () => {
  test('behavior: while devices keep sending, the expired keys are destroyed with their records in the log; every other frame still opens, every acknowledged frame is kept', async () => {
    const t = makeTempDir('vt-retention-');
    cleanups.push(t.cleanup);
    const devs = ['wr-0001', 'wr-0002'];
    const { paths, chain } = await prepareAnchoredDataDir(t.dir, devs);
    cleanups.push(() => chain.anvil.stop());
    const WINDOW = 400;
    const RETENTION = 800;
    const gw = (await startGateway({
      dataDir: paths.root,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0 },
      checkpointIntervalMs: 300,
      ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
      dataKeyWindowMs: WINDOW,
      shredAfterMs: RETENTION,
      shredIntervalMs: 100,
    })) as RunningGateway;
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await gw.stop();
    });
    expect(gw.retention).not.toBeNull();

    // Two devices, a frame every 20 ms each, for `ms`: the early windows expire while frames
    // still come in (each frame PUBACKed: durable).
    const chains = new Map(devs.map((dev) => [dev, new FrameChain(dev, deviceKey(paths, dev))]));
    const send = (ms: number) =>
      Promise.all(
        devs.map(async (dev) => {
          const client = await mqtt.connectAsync(gw.broker.url, { clientId: dev, reconnectPeriod: 0 });
          const chain = chains.get(dev) as FrameChain;
          const end = Date.now() + ms;
          while (Date.now() < end) {
            await client.publishAsync(`vt/v1/dev/${dev}/frames`, Buffer.from(chain.next()), { qos: 1 });
            await new Promise((res) => setTimeout(res, 20));
          }
          await client.endAsync();
        }),
      );
    await send(3000);
    const retention = gw.retention as NonNullable<RunningGateway['retention']>;
    expect(retention.stats.keys, 'keys destroyed while the devices were sending').toBeGreaterThan(0);
    // Then every window that ended the retention ago goes.
    const lastFrameAt = Date.now();
    await until(() => Date.now() > lastFrameAt + WINDOW + RETENTION, 5000, 'the last window expired');
    for (let turn = 0; ; turn++) {
      const r = await retention.runOnce();
      if (!r.more) break;
      expect(turn, 'turns to catch up').toBeLessThan(100);
    }
    expect(retention.stats.failures).toBe(0);
    await retention.stop(); // so that nothing more expires while the store is read below
    // And the devices go on: their new window's frames are not due yet.
    await send(200);
    const sent = new Map(devs.map((dev) => [dev, (chains.get(dev) as FrameChain).seq]));

    const store = gw.store;
    const db = store.db;
    // Every acknowledged frame is in the index and the log.
    let frames = 0;
    for (const dev of devs) {
      const rows = store.framesByDevice(dev, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      expect(rows.map((r) => r.seq)).toEqual(
        Array.from({ length: sent.get(dev) as number }, (_, i) => i + 1),
      );
      frames += rows.length;
    }
    const records = db
      .prepare('SELECT leaf_index, key_id, dev, record FROM shred_records ORDER BY leaf_index')
      .all() as { leaf_index: number; key_id: number; dev: string; record: Buffer }[];
    const destroyed = db
      .prepare('SELECT id FROM data_keys WHERE shredded_at IS NOT NULL AND envelope IS NULL')
      .pluck()
      .all() as number[];
    expect(records.length).toBeGreaterThan(0);
    expect(store.size).toBe(frames + records.length);

    // Each record is a leaf of the log and lists exactly the frames its key sealed, with their seqs.
    const hashes = store.leafHashes(records.map((r) => r.leaf_index));
    const shreddedLeaves = new Set<number>();
    for (const r of records) {
      expect(destroyed).toContain(r.key_id);
      expect(Buffer.from(hashes.get(r.leaf_index) as Uint8Array)).toEqual(Buffer.from(hashLeaf(r.record)));
      const rec = decodeShredRecord(new Uint8Array(r.record));
      const sealed = db
        .prepare('SELECT leaf_index FROM sealed_frames WHERE key_id = ? ORDER BY leaf_index')
        .pluck()
        .all(r.key_id) as number[];
      expect(rec.leaves).toEqual(sealed);
      expect(rec.dev).toBe(r.dev);
      expect(rec.retentionMs).toBe(RETENTION);
      expect(rec.window.end - rec.window.start).toBe(WINDOW);
      expect(rec.window.end + RETENTION).toBeLessThanOrEqual(rec.at);
      const seqOf = store.seqsOfLeaves(rec.leaves);
      expect(rec.seqs).toEqual(rec.leaves.map((l) => seqOf.get(l)));
      for (const l of rec.leaves) shreddedLeaves.add(l);
    }
    // Their ciphertexts went after them, every one (the turns ran until none was left):
    // each row a tombstone (the key id, no envelope), counted.
    const underDestroyed = db
      .prepare(
        'SELECT length(envelope) FROM sealed_frames WHERE key_id IN (SELECT id FROM data_keys WHERE shredded_at IS NOT NULL)',
      )
      .pluck()
      .all() as number[];
    expect(underDestroyed).toEqual(Array(shreddedLeaves.size).fill(0));
    expect(retention.stats.deleted).toBe(shreddedLeaves.size);

    // Read back with the recipient's key: the shredded frames say so, every other one opens.
    const reader = new SealedReader(store, loadRecipientSecrets(paths.recipientsDir));
    let opened = 0;
    for (const dev of devs) {
      const rows = store.framesToRead(dev, 0, Number.MAX_SAFE_INTEGER);
      const read = await reader.read(rows);
      read.forEach((f, i) => {
        const leaf = (rows[i] as { leafIndex: number }).leafIndex;
        if (shreddedLeaves.has(leaf)) expect(f).toBe('shredded');
        else {
          expect(f).toBeInstanceOf(Uint8Array);
          opened += 1;
        }
      });
    }
    expect(opened).toBe(frames - shreddedLeaves.size);
    expect(opened).toBeGreaterThan(0);

    // The auditor: once the log is anchored up to its end, each device's export verifies with
    // the shredded frames reported `shredded` under valid records, every other frame valid,
    // and no gap in the chain of seqs.
    const secrets = loadRecipientSecrets(paths.recipientsDir);
    const end = Date.now() + 20_000;
    while ((store.latestAnchored()?.treeSize ?? 0) < store.size) {
      expect(Date.now(), 'anchored up to the end of the log').toBeLessThan(end);
      await new Promise((res) => setTimeout(res, 100));
    }
    for (const dev of devs) {
      const { bundle } = await exportBundle({
        store,
        paths,
        deployment: chain.deployment,
        origin: gw.origin,
        logId: gw.logId,
        devices: [dev],
        secrets,
      });
      const parsed = parseBundle(JSON.parse(JSON.stringify(bundle)));
      const evidence = await fetchChainEvidence({
        rpcUrl: chain.rpcUrl,
        contract: chain.deployment.anchors,
        logIds: [parsed.log.logId],
      });
      const report = verifyBundle(parsed, evidence.anchors, { registry: evidence.registryEvents });
      const shredded = store
        .framesByDevice(dev, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
        .filter((r) => shreddedLeaves.has(r.leafIndex)).length;
      expect(shredded).toBeGreaterThan(0);
      expect(report.summary).toMatchObject({
        total: sent.get(dev),
        shredded,
        valid: (sent.get(dev) as number) - shredded,
        invalid: 0,
      });
      expect(report.shreddings.length).toBeGreaterThan(0);
      expect(report.shreddings.every((x) => x.code === 'valid')).toBe(true);
      expect(report.sequence.gaps).toEqual([]);
    }

    // The operator sees it: a line of the audit log a turn, and the metrics.
    const metrics = await (await fetch(`${gw.http.url}/metrics`)).text();
    expect(metrics).toMatch(/vitaltrail_retention_shredded_total\{what="keys"\} [1-9]/);
    expect(metrics).toMatch(/vitaltrail_retention_shredded_total\{what="ciphertexts"\} \d+/);
    expect(metrics).toMatch(/^vitaltrail_store_free_bytes \d+$/m);
    await gw.stop();
    stopped = true;
    const audit = readFileSync(join(paths.gatewayDir, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"event":"data_keys_shredded"/);
  }, 60_000);
});

/** The data-key window of the rigs below: a second of a clock the test moves. */
const RIG_WINDOW = 1000;

/**
 * A windowed rig (io/ingest/retention's tests: `windowedRig`, windows of `RIG_WINDOW`) in a temp
 * directory, with its recipient; closed after the test.
 */
async function shredRig(prefix: string, o: { dev: string; windows: number; frames: number; start: number }) {
  const t = makeTempDir(prefix);
  cleanups.push(t.cleanup);
  const r = recipientPair('care', 'ec');
  const made = await windowedRig(t.dir, r.recipient, { ...o, windowMs: RIG_WINDOW });
  cleanups.push(() => made.rig.store.close());
  return { ...made, dir: t.dir, r };
}

describe('an export while the gateway shreds', () => {
  /** A device's two windows of 5 frames, anchored; the first window expired. */
  async function exportRig() {
    const { rig, clock, dir, r } = await shredRig('vt-export-shred-', {
      dev: 'wr-x',
      windows: 2,
      frames: 5,
      start: Date.UTC(2026, 11, 7, 9, 0, 0),
    });
    const paths = dataPaths(dir);
    mkdirSync(paths.kgcDir, { recursive: true });
    writeFileSync(paths.kgcRootCert, '-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n');
    await rig.ingest.close();
    const anchor = () => {
      const size = rig.store.size;
      rig.store.addCheckpoint(size, rig.store.root(size), clock.now);
      rig.store.markAnchored(size, `0x${'ab'.repeat(32)}`, 42, clock.now);
    };
    anchor();
    const params = {
      store: rig.store,
      paths,
      deployment: { chainId: 31337, anchors: '0x00000000000000000000000000000000000000aa' as const },
      origin: 'vitaltrail/gw-1',
      logId: logIdOf('vitaltrail/gw-1'),
      secrets: [{ kid: 'care', privateKey: r.privateKey }],
      devices: ['wr-x'],
    };
    const shred = () =>
      shredExpired(rig.store, RIG_WINDOW, clock.now, { windowMs: RIG_WINDOW, checkpoint: 'none' });
    return { rig, anchor, params, shred, dbPath: paths.db };
  }

  test('behavior: entries whose keys are destroyed after the plan are read shredded and counted, never passed off as vouched for', async () => {
    const { anchor, params, shred } = await exportRig();
    // Planned, then the first window's key destroyed (a turn between two of the reads), then read.
    const plan = await planExport(params);
    expect(shred()).toMatchObject({ keys: 1, frames: 5 });
    const entries = [];
    for await (const e of plan.entries()) entries.push(e);
    expect(entries.filter((e) => 'shredded' in e)).toHaveLength(5);
    expect(plan.head.shreddings).toBeUndefined();
    expect(plan.shreddedUnrecorded()).toBe(5);

    // Once the record is anchored, the next export carries it: nothing unrecorded.
    anchor();
    const again = await exportBundle(params);
    expect(again.shreddedUnrecorded).toBe(0);
    expect(again.shreddingPending).toBe(0);
    expect(again.bundle.shreddings).toHaveLength(1);
  });

  test('behavior: an export command reads one snapshot on a connection of its own: a shred by the running gateway between its plan and its entries is not in it, and every entry opens', async () => {
    const { params, shred, dbPath } = await exportRig();
    const own = openStore(dbPath); // as `vitaltrail export` opens the data directory beside the gateway
    cleanups.push(() => own.close());
    const entries = await readSnapshot(own.db, async () => {
      const plan = await planExport({ ...params, store: own });
      expect(shred()).toMatchObject({ keys: 1, frames: 5, deleted: 5 }); // the gateway's connection
      const out = [];
      for await (const e of plan.entries()) out.push(e);
      expect(plan.shreddedUnrecorded()).toBe(0);
      return out;
    });
    expect(entries).toHaveLength(10);
    expect(entries.filter((e) => 'shredded' in e)).toEqual([]);
    // After it, the same connection sees the shred.
    const after = await planExport({ ...params, store: own });
    const read = [];
    for await (const e of after.entries()) read.push(e);
    expect(read.filter((e) => 'shredded' in e)).toHaveLength(5);
    // A snapshot is refused inside a transaction, and one that fails leaves none open.
    own.db.exec('BEGIN');
    await expect(readSnapshot(own.db, async () => 1)).rejects.toMatchObject({ code: 'store_failed' });
    own.db.exec('ROLLBACK');
    await expect(
      readSnapshot(own.db, async () => {
        throw new Error('export failed');
      }),
    ).rejects.toThrow('export failed');
    expect(own.db.inTransaction).toBe(false);
  });
});

describe('the shredding held by an export', () => {
  test("behavior: the timer's turns wait while an export of the process holds them, at most maxHoldMs without a break", async () => {
    const { rig, clock } = await shredRig('vt-shred-hold-', {
      dev: 'wr-h',
      windows: 3,
      frames: 3,
      start: Date.UTC(2026, 11, 7, 10, 0, 0),
    });
    const shredder = shredderOf(rig, clock, RIG_WINDOW, { maxHoldMs: 5000 });
    cleanups.push(() => shredder.stop());
    const settle = (ms: number) => new Promise((res) => setTimeout(res, ms));
    const waitFor = async (ok: () => boolean, what: string) => {
      const end = Date.now() + 5000;
      while (!ok()) {
        expect(Date.now(), what).toBeLessThan(end);
        await settle(10);
      }
    };

    // Held: expired keys wait (the clock the shredder reads stands still here).
    const release = shredder.hold.take();
    const second = shredder.hold.take();
    shredder.start();
    await waitFor(() => shredder.stats.held >= 3, 'turns put off');
    expect(shredder.stats.keys).toBe(0);
    release();
    release(); // once only: the other holder still holds
    await settle(100);
    expect(shredder.stats.keys).toBe(0);
    // Released by every holder: the next turn shreds.
    second();
    expect(shredder.hold.heldSince).toBeNull();
    await waitFor(() => shredder.stats.keys === 2, 'the two expired windows shredded');

    // Held past maxHoldMs without a break: shredded anyway (retention is a duty too).
    const late = shredder.hold.take();
    clock.now += 2 * RIG_WINDOW; // the third window expires, and the hold is as old as the clock says
    await settle(100);
    expect(shredder.stats.keys).toBe(2);
    clock.now += 5000;
    await waitFor(() => shredder.stats.keys === 3, 'shredded past the longest hold');
    expect(shredder.hold.heldSince).not.toBeNull();
    late();
    await shredder.stop();
    await rig.ingest.close();
  });
});

describe('a turn whose deletion of ciphertexts fails', () => {
  test('error: the keys it destroyed are counted and told all the same, and their ciphertexts go with the next turn', async () => {
    const { rig, clock } = await shredRig('vt-sweep-fault-', {
      dev: 'wr-f',
      windows: 2,
      frames: 4,
      start: Date.UTC(2026, 11, 7, 11, 0, 0),
    });
    const told: ShredResult[] = [];
    const shredder = shredderOf(rig, clock, RIG_WINDOW, { onShred: (x) => told.push(x) });
    // An injected fault, not a real one: a write failing between the keys' transaction and the
    // deletion after it (a disk that fills up exactly there) cannot be had on cue, so SQLite is
    // made to refuse every delete of a sealed frame.
    rig.store.db.exec(
      `CREATE TEMP TRIGGER injected_fault BEFORE DELETE ON sealed_frames BEGIN SELECT RAISE(FAIL, 'injected fault'); END`,
    );
    await expect(shredder.runOnce()).rejects.toMatchObject({ code: 'store_failed' });
    expect(shredder.stats).toMatchObject({ keys: 1, records: 1, frames: 4, deleted: 0 });
    expect(told).toMatchObject([{ keys: 1, records: 1, frames: 4, deleted: 0 }]);
    const whole = rig.store.db
      .prepare('SELECT count(*) FROM sealed_frames WHERE length(envelope) > 0')
      .pluck();
    expect(whole.get()).toBe(8);
    rig.store.db.exec('DROP TRIGGER injected_fault');
    await expect(shredder.runOnce()).resolves.toMatchObject({ keys: 0, deleted: 4, more: false });
    expect(whole.get()).toBe(4);
    expect(shredder.stats).toMatchObject({ keys: 1, deleted: 4 });
  });
});
