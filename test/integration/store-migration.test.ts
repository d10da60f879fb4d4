/**
 * @module test/integration/store-migration
 * A data directory written by the previous release (schema version 1, made by that
 * release's own gateway and kept in `test/fixtures/datadir-v1/`: two devices with 12
 * frames each, a patient admitted to Bed 7, alarm settings, signed checkpoints) opens
 * under this release: the schema is migrated to `SCHEMA_VERSION`, nothing stored is lost
 * or altered, and ingest resumes every device's chain.
 *
 * The fixture was generated with the release before the store schema moved into
 * io/store/schema (`git show be332c9`): `prepareDataDir`, `startGateway`,
 * `Bindings.admit('wr-mig-1', 'P-MIG-0001', 'Bed 7')`, `alarms.updateSettings(...)`, 12
 * `FrameChain` frames per device through `ingest.submit`, two signed checkpoints
 * (`CheckpointNotes.addSigned` at sizes 12 and 24), then `stop()`.
 */
import { chmodSync, cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { hashLeaf, MemoryMerkleTree, verifyInclusion } from '../../anchor/src/log/index.js';
import { encodeAccessEntry } from '../../anchor/src/verify-access/index.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { downsample } from '../../gateway/src/core/trend.js';
import { AccessLog } from '../../gateway/src/io/access/index.js';
import { CheckpointNotes } from '../../gateway/src/io/anchoring/checkpoints.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { readReadings, readTrend } from '../../gateway/src/io/queries/index.js';
import { Bindings } from '../../gateway/src/io/store/bindings.js';
import { loadRecipientSecrets } from '../../gateway/src/io/store/recipients.js';
import { SCHEMA_VERSION, TABLE_OWNERS } from '../../gateway/src/io/store/schema.js';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
import { shredExpired } from '../../gateway/src/io/store/shredding.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { VitalTrailError } from '../../gateway/src/protocol/errors.js';
import { ACCESS_FIXTURE_GATEWAY, accessEntry } from '../helpers/access-fixtures.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const FIXTURE = new URL('../fixtures/datadir-v1/', import.meta.url);
const V2_TABLES = [
  'sealed_frames',
  'data_keys',
  'bindings',
  'checkpoint_notes',
  'dashboard_patient_settings',
  'dashboard_alarm_events',
];

/** A private copy of the fixture, with the key modes a real data directory has. */
function copyFixture(dir: string): string {
  cpSync(FIXTURE, dir, { recursive: true });
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        chmodSync(p, 0o700);
        walk(p);
      } else chmodSync(p, name.endsWith('.key.pem') || name === 'users.json' ? 0o600 : 0o644);
    }
  };
  walk(dir);
  return join(dir, 'gateway', 'gateway.db');
}

function rawVersion(db: string): string | undefined {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get() as
      | string
      | undefined;
  } finally {
    d.close();
  }
}

function tables(db: Database.Database): string[] {
  return (
    db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .pluck()
      .all() as string[]
  ).sort();
}

describe('store migration from the previous release', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('behavior: a version-1 data directory opens, migrated, with every frame, binding, setting and note intact', async () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const db = copyFixture(tmp.dir);
    expect(rawVersion(db)).toBe('1');

    const gw = await startGateway({ dataDir: tmp.dir, checkpointIntervalMs: 3_600_000 });
    try {
      expect(gw.store.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      expect(SCHEMA_VERSION).toBe(14);
      // Version 14: the shred's indexes (the data keys not destroyed, the sealed frames by key).
      expect(
        gw.store.db
          .prepare(
            `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('data_keys', 'sealed_frames') ORDER BY name`,
          )
          .pluck()
          .all(),
      ).toEqual(['data_keys_unshredded', 'sealed_frames_key']);
      // Version 13: the log keeps every fourth level; the fixture's 24 leaves, levels 0 and 4.
      expect(gw.store.db.prepare('SELECT count(*) FROM log_nodes WHERE level % 4 != 0').pluck().get()).toBe(
        0,
      );
      // Version 4: the shredding records' table exists, empty (no key of the old release has a record).
      expect(gw.store.db.prepare('SELECT count(*) FROM shred_records').pluck().get()).toBe(0);
      // Version 5: the wall displays' table exists, empty.
      expect(gw.store.db.prepare('SELECT count(*) FROM displays').pluck().get()).toBe(0);
      // Version 6: the dead letters' replay columns exist.
      expect(
        gw.store.db
          .prepare('SELECT count(*) FROM outbound_dead_letters WHERE replayed_at IS NULL')
          .pluck()
          .get(),
      ).toBe(0);
      // Version 7: the lone gateway's alarm states and sessions (issue 16), empty; the migrated
      // settings still read, and the alarm history of the old release is kept.
      expect(gw.store.db.prepare('SELECT count(*) FROM dashboard_sessions').pluck().get()).toBe(0);
      expect(
        gw.store.db
          .prepare("SELECT count(*) FROM dashboard_alarms WHERE scope LIKE 'wr-mig-%'")
          .pluck()
          .get(),
      ).toBe(0);
      expect(gw.store.size).toBe(24);

      // Every sealed frame opens and decodes to what the devices sent.
      const reader = new SealedReader(gw.store, loadRecipientSecrets(join(tmp.dir, 'gateway', 'recipients')));
      for (const dev of ['wr-mig-1', 'wr-mig-2']) {
        const { readings, shredded } = await readReadings(gw.store, reader, dev, 0, Number.MAX_SAFE_INTEGER);
        expect(shredded).toBe(0);
        expect(readings.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        expect(readings.map((r) => r.obs.hr)).toEqual([70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81]);
      }

      // The sealed patient binding, the alarm settings and the signed checkpoints survive.
      const binding = await new Bindings(gw.store).current('wr-mig-1');
      expect(binding).toMatchObject({ patientId: 'P-MIG-0001', bed: 'Bed 7' });
      expect(gw.alarms.settings('wr-mig-1')).toMatchObject({
        spo2Scale: 2,
        limits: { hr: { low: 45, high: 125 } },
      });
      const latest = new CheckpointNotes(gw.store).latest();
      expect(latest?.treeSize).toBe(24);

      // Ingest resumes each device's chain where the previous release left it.
      const last = gw.store.getFrame('wr-mig-1', 12);
      expect(last).toBeDefined();
      const chain = new FrameChain('wr-mig-1', deviceKey(dataPaths(tmp.dir), 'wr-mig-1'));
      chain.seq = 12;
      chain.prev = last?.hash ?? new Uint8Array(32);
      const bytes = chain.next({}, { hr: 90, spo2: 96 });
      expect(await gw.ingest.submit(bytes, 'wr-mig-1')).toMatchObject({ status: 'accepted', leafIndex: 24 });
      // Version 11: the old release's sealed frames stay JWE texts in the renamed column; the new
      // frame is a COSE_Encrypt0; both read in one query.
      const kinds = gw.store.db
        .prepare('SELECT typeof(envelope), count(*) FROM sealed_frames GROUP BY 1 ORDER BY 1')
        .raw()
        .all();
      expect(kinds).toEqual([
        ['blob', 1],
        ['text', 24],
      ]);
      const after = await readReadings(gw.store, reader, 'wr-mig-1', 0, Number.MAX_SAFE_INTEGER);
      expect(after.readings.map((r) => r.obs.hr)).toEqual([
        70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 90,
      ]);

      // Leaves of the old release stay provable in the grown tree.
      const root = gw.store.root(25);
      const first = gw.store.getFrame('wr-mig-2', 1);
      expect(first).toBeDefined();
      const idx = first?.leafIndex ?? -1;
      const leafBytes = await reader.read(first ? [first] : []);
      expect(leafBytes[0]).toBeInstanceOf(Uint8Array);
      expect(() =>
        verifyInclusion(
          idx,
          25,
          hashLeaf(leafBytes[0] as Uint8Array),
          gw.store.inclusionProof(idx, 25),
          root,
        ),
      ).not.toThrow();
    } finally {
      await gw.stop();
    }
    expect(rawVersion(db)).toBe(String(SCHEMA_VERSION));
  });

  it('behavior: rollups of the frames an older release stored are filled by the first trend that needs them; answers are the raw frames’ before and after', async () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const db = copyFixture(tmp.dir);
    const gw = await startGateway({
      dataDir: tmp.dir,
      checkpointIntervalMs: 3_600_000,
      retentionMs: 10 * 365 * 24 * 3_600_000, // the fixture's frames stay within retention
    });
    try {
      expect(rawVersion(db)).toBe(String(SCHEMA_VERSION));
      const count = () => gw.store.db.prepare('SELECT count(*) FROM rollups').pluck().get() as number;
      expect(count()).toBe(0); // no private key at open: nothing can be sealed then
      const secrets = loadRecipientSecrets(join(tmp.dir, 'gateway', 'recipients'));
      const reader = () => new SealedReader(gw.store, secrets);
      const old = gw.store.getFrame('wr-mig-1', 12);
      if (!old) throw new Error('fixture frame missing');
      const hour = old.ts - (old.ts % 3_600_000);
      const to = hour + 3_600_000 - 1;
      const raw = async (dev: string, bucketMs: number) =>
        downsample((await readReadings(gw.store, reader(), dev, hour, to)).readings, hour, to, bucketMs);

      // A frame of this release in the same minute as the old ones, which have no rows: the
      // writer does not start rows that would count the new frame alone; the first trend
      // that reads the window from its frames writes them, under both data keys.
      const chain = new FrameChain('wr-mig-1', deviceKey(dataPaths(tmp.dir), 'wr-mig-1'));
      chain.seq = 12;
      chain.prev = old.hash;
      const late = chain.next({ ts: old.ts + 1 }, { hr: 140, spo2: 91 });
      expect(await gw.ingest.submit(late, 'wr-mig-1')).toMatchObject({ status: 'accepted' });
      gw.ingest.flushRollups();
      expect(count()).toBe(0);
      expect(gw.ingest.rollups).toMatchObject({ torn: 2, pending: 0 });

      const first = await readTrend(gw.store, reader(), 'wr-mig-1', hour, to, 900_000);
      expect(first.series).toEqual(await raw('wr-mig-1', 900_000));
      expect(first.series.hr).toEqual([
        { t: old.ts - (old.ts % 900_000), min: 70, max: 140, mean: 1046 / 13, n: 13 },
      ]);
      expect(first.stats).toEqual({ rollupRows: 0, rawFrames: 13, filled: 4 });
      const second = await readTrend(gw.store, reader(), 'wr-mig-1', hour, to, 900_000);
      expect(second.series).toEqual(first.series);
      expect(second.stats).toEqual({ rollupRows: 2, rawFrames: 0, filled: 0 });
      const minutes = await readTrend(gw.store, reader(), 'wr-mig-1', hour, to, 300_000);
      expect(minutes.series).toEqual(await raw('wr-mig-1', 300_000));
      expect(minutes.stats).toEqual({ rollupRows: 2, rawFrames: 0, filled: 0 });

      const other = await readTrend(gw.store, reader(), 'wr-mig-2', hour, to, 300_000);
      expect(other.series).toEqual(await raw('wr-mig-2', 300_000));
      expect(other.stats).toEqual({ rollupRows: 0, rawFrames: 12, filled: 1 });
      const again = await readTrend(gw.store, reader(), 'wr-mig-2', hour, to, 300_000);
      expect(again.series).toEqual(other.series);
      expect(again.stats).toEqual({ rollupRows: 1, rawFrames: 0, filled: 0 });
      expect(count()).toBe(5);
    } finally {
      await gw.stop();
    }
  });

  it('behavior: a version-1 file that only `kgc enroll` wrote gains the tables its modules used to create lazily', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const path = copyFixture(tmp.dir);
    const raw = new Database(path);
    for (const t of V2_TABLES) raw.exec(`DROP TABLE ${t}`);
    expect(tables(raw)).not.toContain('sealed_frames');
    raw.close();

    const store = openStore(path);
    try {
      expect(tables(store.db)).toEqual(Object.keys(TABLE_OWNERS).sort());
      expect(store.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      expect(store.listDevices().map((d) => d.dev)).toEqual(['wr-mig-1', 'wr-mig-2']);
      expect(store.size).toBe(24);
    } finally {
      store.close();
    }
    // Opening again is a no-op: the migration ran once.
    const again = openStore(path);
    expect(again.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
    again.close();
  });

  it('behavior: a new file is created at the current version with every table of the schema', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const store = openStore(join(tmp.dir, 'fresh.db'));
    try {
      expect(tables(store.db)).toEqual(Object.keys(TABLE_OWNERS).sort());
      expect(store.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
    } finally {
      store.close();
    }
  });

  it('behavior: what a long-running gateway reads again and again is found by an index, not by a scan of a table that only grows (version 12)', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const store = openStore(join(tmp.dir, 'plans.db'));
    const plan = (sql: string) =>
      (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
    try {
      // The anchoring status (every second, every /metrics scrape) and the anchored checkpoint
      // holding a leaf (each proof): one checkpoint more every 10 s, for ever.
      expect(plan(`SELECT * FROM checkpoints WHERE state = 'pending' ORDER BY tree_size`)).toMatch(
        /^SEARCH checkpoints USING INDEX checkpoints_state \(state=\?\)$/,
      );
      expect(
        plan(
          `SELECT tree_size FROM checkpoints WHERE state = 'anchored' AND tree_size > 5 ORDER BY tree_size LIMIT 1`,
        ),
      ).toMatch(/^SEARCH checkpoints USING COVERING INDEX checkpoints_state \(state=\? AND tree_size>\?\)$/);
      // The device rows written since the registry's last look (every 2 s), the admissions
      // still open, the break-glass openings in force (every 10 s).
      expect(plan('SELECT * FROM devices WHERE updated_at >= 5')).toMatch(
        /^SEARCH devices USING INDEX devices_updated \(updated_at>\?\)$/,
      );
      expect(plan('SELECT * FROM bindings WHERE to_ts IS NULL ORDER BY dev')).toMatch(
        /^SCAN bindings USING INDEX bindings_open$/,
      );
      expect(plan('SELECT id FROM care_break_glass WHERE at <= 5 AND until > 5 ORDER BY at, id')).toMatch(
        /^SEARCH care_break_glass USING INDEX care_break_glass_until \(until>\?\)/,
      );
      // A receiver's dead letters not yet replayed (its delivery state).
      expect(
        plan(
          `SELECT count(*) FROM outbound_dead_letters d WHERE d.receiver = 'pcd01' AND d.replayed_at IS NULL`,
        ),
      ).toMatch(/USING (COVERING )?INDEX outbound_dead_letters_open \(receiver=\?\)/);
    } finally {
      store.close();
    }
  });

  it('behavior: version 13 keeps every fourth level of both logs; a log written with every level keeps its roots and proofs', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const path = join(tmp.dir, 'gw.db');
    const leaf = (i: number) => hashLeaf(new TextEncoder().encode(`leaf ${i}`));
    const readings = new MemoryMerkleTree();
    const access = new MemoryMerkleTree();
    let store = openStore(path);
    for (let b = 0; b < 10; b++) {
      const frames = Array.from({ length: 37 }, (_, k) => {
        const i = readings.appendLeafHash(leaf(b * 37 + k));
        return { dev: 'wr-v13', seq: i + 1, hash: leaf(-i), prev: leaf(-i - 1), ts: i, leafHash: leaf(i) };
      });
      store.commitBatch({ id: store.nextBatchId(), envelope: 'test', createdAt: 1, frames });
    }
    const accessLog = new AccessLog({ store, gatewayId: ACCESS_FIXTURE_GATEWAY });
    for (let i = 0; i < 70; i++) {
      const e = accessEntry({ at: 1_000 + i });
      accessLog.append(e);
      access.appendData(encodeAccessEntry(e));
    }
    // As version 12 wrote them: every level of both trees, and the file at version 12.
    const raw = store.db;
    for (const [table, tree] of [
      ['log_nodes', readings],
      ['access_nodes', access],
    ] as const) {
      const put = raw.prepare(`INSERT INTO ${table} (level, idx, hash) VALUES (?, ?, ?)`);
      for (let level = 1; 2 ** level <= tree.size; level++)
        for (let idx = 0; (idx + 1) * 2 ** level <= tree.size; idx++)
          if (level % 4 !== 0) put.run(level, idx, tree.getNode(level, idx));
    }
    raw.prepare(`UPDATE meta SET value = '12' WHERE key = 'schema_version'`).run();
    const between = (db: Database.Database, table: string) =>
      db.prepare(`SELECT count(*) FROM ${table} WHERE level % 4 != 0`).pluck().get();
    // 370 leaves: 185 + 92 + 46 + 23 + 11 + 5 + 2 + 1 nodes above them, 23 and 1 of them kept.
    expect(between(raw, 'log_nodes')).toBe(365 - 24);
    // 70 leaves: 35 + 17 + 8 + 4 + 2 + 1 above them, 4 kept (level 4).
    expect(between(raw, 'access_nodes')).toBe(67 - 4);
    store.close();

    store = openStore(path);
    try {
      expect(rawVersion(path)).toBe(String(SCHEMA_VERSION));
      expect(between(store.db, 'log_nodes')).toBe(0);
      expect(between(store.db, 'access_nodes')).toBe(0);
      const migrated = new AccessLog({ store, gatewayId: ACCESS_FIXTURE_GATEWAY });
      for (const [log, tree] of [
        [store, readings],
        [migrated, access],
      ] as const) {
        for (const n of [1, 16, 33, tree.size]) {
          expect(log.root(n)).toEqual(tree.root(n));
          for (const i of [0, n - 1, Math.floor(n / 3)])
            expect(log.inclusionProof(i, n)).toEqual(tree.inclusionProof(i, n));
          expect(log.consistencyProof(n, tree.size)).toEqual(tree.consistencyProof(n, tree.size));
        }
      }
    } finally {
      store.close();
    }
  });

  it('behavior: the ciphertexts an earlier release kept under destroyed keys are deleted by the next shred, with a record or without (before version 4); every frame reads as before', async () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const r = recipientPair('care', 'ec');
    const HOUR = 3_600_000;
    let now = Date.UTC(2026, 10, 21, 8, 0, 0);
    const rig = sealedRig(tmp.dir, [r.recipient], { now: () => now });
    const devices = ['wr-a', 'wr-b'].map((d) => [d, rig.device(d)] as const);
    for (let w = 0; w < 2; w++) {
      for (let i = 0; i < 3; i++)
        for (const [dev, chain] of devices) await rig.ingest.submit(chain.next({ ts: now }), dev);
      now += HOUR;
    }
    await rig.ingest.close();
    const db = rig.store.db;
    // The file as an earlier release left it: the first window's first key shredded with its
    // record and its ciphertexts kept; the other destroyed by a release before version 4 (no
    // record), its ciphertexts kept too.
    const [keyA, keyB] = db
      .prepare('SELECT id FROM data_keys ORDER BY window_start, id')
      .pluck()
      .all() as number[];
    const whole = db.prepare('SELECT leaf_index, envelope FROM sealed_frames WHERE key_id = ?').all(keyA);
    expect(whole).toHaveLength(3);
    expect(shredExpired(rig.store, HOUR, now, { maxKeys: 1 })).toMatchObject({ keys: 1, records: 1 });
    const restore = db.prepare(
      'UPDATE sealed_frames SET envelope = @envelope WHERE leaf_index = @leaf_index',
    );
    for (const row of whole) restore.run(row);
    db.prepare(`DELETE FROM meta WHERE key = 'shred_swept_to'`).run();
    db.prepare('UPDATE data_keys SET envelope = NULL, shredded_at = 1 WHERE id = ?').run(keyB);
    rig.store.close();

    const store = openStore(join(tmp.dir, 'gateway', 'gateway.db'));
    try {
      const whole = () =>
        store.db
          .prepare(
            'SELECT key_id, count(*) FROM sealed_frames WHERE length(envelope) > 0 GROUP BY key_id ORDER BY key_id',
          )
          .raw()
          .all() as [number, number][];
      const reader = new SealedReader(store, [{ kid: 'care', privateKey: r.privateKey }]);
      const readBoth = async () => {
        for (const [dev] of devices) {
          const read = await reader.read(store.framesToRead(dev, 0, Number.MAX_SAFE_INTEGER));
          expect(read.slice(0, 3)).toEqual(Array(3).fill('shredded'));
          expect(read.slice(3).every((f) => f instanceof Uint8Array)).toBe(true);
        }
      };
      expect(whole().filter(([k]) => k === keyA || k === keyB)).toEqual([
        [keyA, 3],
        [keyB, 3],
      ]);
      await readBoth();
      // The next shred (nothing new expired) deletes both keys' ciphertexts; their rows stay
      // as tombstones, and the second window's are whole.
      expect(shredExpired(store, 10 * HOUR, now)).toMatchObject({ keys: 0, deleted: 6, more: false });
      expect(whole().filter(([k]) => k === keyA || k === keyB)).toEqual([]);
      expect(whole().reduce((n, [, c]) => n + c, 0)).toBe(6);
      expect(store.db.prepare('SELECT count(*) FROM sealed_frames').pluck().get()).toBe(12);
      await readBoth();
    } finally {
      store.close();
    }
  });

  it('error: a file of a newer schema version is refused with store_failed, untouched', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const path = copyFixture(tmp.dir);
    const raw = new Database(path);
    raw.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION + 1));
    raw.close();
    let caught: unknown;
    try {
      openStore(path).close();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VitalTrailError);
    expect((caught as VitalTrailError).code).toBe('store_failed');
    expect(rawVersion(path)).toBe(String(SCHEMA_VERSION + 1));
  });
});
