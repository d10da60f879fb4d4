/**
 * @module test/integration/access-log
 * Issue 18: the access log on a real SQLite store (io/access). Appends are durable (they
 * survive closing the file without a checkpoint, and the next append continues the tree), the
 * tree is anchor/src/log's (its roots match the in-memory reference log, inclusion and
 * consistency proofs verify), appends are cheap, checkpoints are signed notes under the access
 * origin and wait in the outbox without a ledger, schema version 8 migrates a version-7 file,
 * and the golden access bundles are what the gateway's export makes.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import {
  MemoryMerkleTree,
  openCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '../../anchor/src/log/index.js';
import { encodeAccessEntry } from '../../anchor/src/verify-access/index.js';
import { accessLogOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { AccessLog, createAccessAnchoring } from '../../gateway/src/io/access/index.js';
import { loadCheckpointSigner } from '../../gateway/src/io/anchoring/index.js';
import { dataPaths } from '../../gateway/src/io/ops/index.js';
import { openStore } from '../../gateway/src/io/store/index.js';
import { SCHEMA_VERSION } from '../../gateway/src/io/store/schema.js';
import {
  accessEntry,
  buildAccessFixture,
  ACCESS_FIXTURE_GATEWAY as GW,
  PATIENT_A,
  PATIENT_B,
  readAccessFixture,
  writeAccessFixture,
} from '../helpers/access-fixtures.js';
import { makeTempDir } from '../helpers/tmp.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

function fresh() {
  const tmp = makeTempDir('vt-access-');
  cleanup = tmp.cleanup;
  const paths = dataPaths(tmp.dir);
  return { paths, open: () => openStore(paths.db) };
}

describe('access log: append, proofs, durability', () => {
  test('behavior: leaves are the canonical entries; roots, inclusion and consistency proofs match anchor/src/log', () => {
    const { open } = fresh();
    const store = open();
    try {
      const log = new AccessLog({ store, gatewayId: GW });
      const ref = new MemoryMerkleTree();
      for (let i = 0; i < 37; i++) {
        const e = accessEntry({ at: 1000 + i, patient: i % 2 ? PATIENT_A : PATIENT_B });
        const { index, leafHash } = log.append(e);
        expect(index).toBe(i);
        ref.appendData(encodeAccessEntry(e));
        expect(log.root()).toEqual(ref.root());
        expect(log.entry(i)?.leafHash).toEqual(leafHash);
      }
      expect(log.size).toBe(37);
      for (const [i, n] of [
        [0, 1],
        [5, 17],
        [36, 37],
        [16, 33],
      ] as const) {
        const leaf = log.entry(i)!.leafHash;
        expect(() => verifyInclusion(i, n, leaf, log.inclusionProof(i, n), log.root(n))).not.toThrow();
      }
      for (const [a, b] of [
        [1, 37],
        [7, 8],
        [16, 32],
        [13, 29],
      ] as const) {
        expect(() =>
          verifyConsistency(a, b, log.consistencyProof(a, b), log.root(a), log.root(b)),
        ).not.toThrow();
      }
      expect(log.entriesOf(PATIENT_A).map((e) => e.index)).toEqual(
        Array.from({ length: 18 }, (_, k) => 2 * k + 1),
      );
      expect(log.firstIndexAtOrAfter(1010)).toBe(10);
      expect(log.lastIndexAtOrBefore(1010)).toBe(10);
    } finally {
      store.close();
    }
  });

  test('behavior: two connections appending in turn (a CLI beside the gateway) keep one RFC 9162 tree; each appends from its frontier', () => {
    const { paths, open } = fresh();
    const a = open();
    const b = open();
    try {
      const logs = [new AccessLog({ store: a, gatewayId: GW }), new AccessLog({ store: b, gatewayId: GW })];
      const ref = new MemoryMerkleTree();
      // Runs of 1, 2, 3, … appends by one connection, then the other: each one's frontier holds
      // nodes the other's appends have since left behind, and siblings only the other wrote.
      let i = 0;
      for (let run = 1; i < 90; run += 1)
        for (let k = 0; k < run && i < 90; k += 1, i += 1) {
          const e = accessEntry({ at: 5000 + i });
          expect(logs[run % 2]!.append(e).index).toBe(i);
          ref.appendData(encodeAccessEntry(e));
        }
      for (const log of logs) {
        expect(log.size).toBe(90);
        expect(log.root()).toEqual(ref.root());
        for (const n of [1, 2, 7, 33, 64, 90]) expect(log.root(n)).toEqual(ref.root(n));
      }
      const nodes = a.db.prepare('SELECT level, idx, hash FROM access_nodes ORDER BY level, idx').all();
      const c = openStore(`${paths.db}-one-writer.db`);
      try {
        const one = new AccessLog({ store: c, gatewayId: GW });
        for (let j = 0; j < 90; j += 1) one.append(accessEntry({ at: 5000 + j }));
        expect(c.db.prepare('SELECT level, idx, hash FROM access_nodes ORDER BY level, idx').all()).toEqual(
          nodes,
        );
      } finally {
        c.close();
      }
    } finally {
      a.close();
      b.close();
    }
  });

  test('behavior: appends are durable (a reopened store has them, and the tree goes on); an append is cheap', () => {
    const { open } = fresh();
    let store = open();
    const log = new AccessLog({ store, gatewayId: GW });
    const n = 200;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) log.append(accessEntry({ at: i }));
    const perAppendMs = Number(process.hrtime.bigint() - t0) / 1e6 / n;
    // Measured on the 2-core CI kind: well under a millisecond with WAL; each is its own fsync'd commit.
    console.info(`access log append: ${perAppendMs.toFixed(3)} ms each (${n} appends, synchronous=FULL)`);
    expect(perAppendMs).toBeLessThan(25);
    const root = log.root();
    store.close(); // no checkpoint, no graceful anything: what was appended is in the file

    store = open();
    try {
      const again = new AccessLog({ store, gatewayId: GW });
      expect(again.size).toBe(n);
      expect(again.root()).toEqual(root);
      expect(again.entry(n - 1)?.entry.at).toBe(n - 1);
      expect(again.append(accessEntry({ at: 999 })).index).toBe(n);
      expect(() =>
        verifyConsistency(n, n + 1, again.consistencyProof(n, n + 1), root, again.root()),
      ).not.toThrow();
    } finally {
      store.close();
    }
  });

  test('error: append refuses an invalid entry, another gateway, and a caller inside a transaction', () => {
    const { open } = fresh();
    const store = open();
    try {
      const log = new AccessLog({ store, gatewayId: GW });
      expect(() => log.append({ ...accessEntry(), patient: 'PAT-0001' })).toThrow(TypeError);
      expect(() => log.append(accessEntry({ gateway: 'gw-other' }))).toThrow(/another gateway/);
      expect(() => store.db.transaction(() => log.append(accessEntry()))()).toThrow(
        /inside another transaction/,
      );
      expect(log.size).toBe(0);
      expect(log.entry(0)).toBeUndefined();
    } finally {
      store.close();
    }
  });
});

describe('access log: checkpoints without a ledger', () => {
  test('behavior: signed notes under the access origin, kept pending in the outbox; a second account key at 0600', async () => {
    const { paths, open } = fresh();
    const store = open();
    try {
      const access = createAccessAnchoring({ store, paths, gatewayId: GW, intervalMs: 1e6 });
      expect(access.anchorer).toBeNull();
      expect(access.log.origin).toBe(`vitaltrail/${GW}/access`);
      expect(access.log.logId).toBe(logIdOf(accessLogOrigin(GW)));
      const { statSync } = await import('node:fs');
      expect(statSync(`${paths.chainDir}/gateway-access.key`).mode & 0o777).toBe(0o600);

      access.log.append(accessEntry());
      access.log.append(accessEntry({ at: 2 }));
      const c = access.checkpointer!.tick()!;
      expect(c).toMatchObject({ treeSize: 2, state: 'pending' });
      expect(access.checkpointer!.tick()).toBeUndefined(); // nothing grew
      const body = openCheckpoint(access.log.note(2)!, access.vkey);
      expect(body).toMatchObject({ origin: `vitaltrail/${GW}/access`, treeSize: 2 });
      expect(body.rootHash).toEqual(access.log.root(2));
      // The same checkpoint key signs the readings' log under its own origin.
      expect(loadCheckpointSigner(paths, `vitaltrail/${GW}`).vkey).not.toBe(access.vkey);
      expect(access.log.pendingCheckpoints().map((p) => p.treeSize)).toEqual([2]);
      // The readings' outbox is untouched.
      expect(store.pendingCheckpoints()).toEqual([]);
    } finally {
      store.close();
    }
  });
});

describe('schema version 8', () => {
  test('behavior: a version-7 file gains the access tables, nothing else changes; a new file is at the latest version', () => {
    const { paths, open } = fresh();
    let store = open();
    store.setMeta('origin', 'vitaltrail/gw-mig');
    store.close();
    // Make it a version-7 file: drop what version 8 added.
    const raw = new Database(paths.db);
    raw.exec(
      'DROP TABLE access_entries; DROP TABLE access_nodes; DROP TABLE access_checkpoints; DROP TABLE care_patient_keys;',
    );
    raw.prepare(`UPDATE meta SET value = '7' WHERE key = 'schema_version'`).run();
    raw.close();

    store = open();
    try {
      expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(8);
      expect(store.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      expect(store.getMeta('origin')).toBe('vitaltrail/gw-mig');
      const log = new AccessLog({ store, gatewayId: GW });
      expect(log.size).toBe(0);
      expect(log.append(accessEntry()).index).toBe(0);
    } finally {
      store.close();
    }
  });
});

describe('golden access bundles', () => {
  test('behavior: the committed fixtures are what the export makes (VT_REGEN_ACCESS_GOLDEN=1 rewrites them)', () => {
    const built = buildAccessFixture();
    if (process.env.VT_REGEN_ACCESS_GOLDEN === '1') writeAccessFixture(built);
    expect(readAccessFixture()).toEqual(built);
  });
});
