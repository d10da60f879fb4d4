/**
 * Crypto-shredding at scale (io/store/shredding, schema 14): every statement the shred runs on
 * the data keys and the sealed frames is an index search, never a scan of the table. Before
 * schema 14 each destroyed key's frames were found by reading every sealed frame of the
 * store (143 ms a key at a million frames: a month of a ward took days; the figures are in
 * README "Retention"). Real parts: the Ingest seals real frames into a SQLite file; the
 * shred runs on that file through a connection that records every statement it executes,
 * and SQLite's own `EXPLAIN QUERY PLAN` says how each one reads.
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { shredExpired } from '../../gateway/src/io/store/shredding.js';
import { GatewayStore } from '../../gateway/src/io/store/store.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** How SQLite runs `sql` (expanded: its values inline), one line per step of the plan. */
function planOf(db: Database.Database, sql: string): string[] {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail);
}

/**
 * A store of three devices over three hourly windows, 4 frames a device and window, written
 * by a real Ingest; returns the database file and the clock after the last window.
 */
async function threeWindows(): Promise<{ file: string; now: number }> {
  const t = makeTempDir('vt-shred-scale-');
  cleanups.push(t.cleanup);
  const r = recipientPair('care', 'ec');
  let now = T0;
  const rig = sealedRig(t.dir, [r.recipient], { now: () => now });
  const devices = ['wr-a', 'wr-b', 'wr-c'].map((d) => [d, rig.device(d)] as const);
  for (let w = 0; w < 3; w++) {
    for (let i = 0; i < 4; i++)
      for (const [dev, chain] of devices) await rig.ingest.submit(chain.next({ ts: now }), dev);
    now += HOUR;
  }
  await rig.ingest.close();
  rig.store.close();
  return { file: join(t.dir, 'gateway', 'gateway.db'), now };
}

describe('crypto-shredding at scale', () => {
  test('behavior: the shred finds expired keys and their frames by index, never by reading the tables whole', async () => {
    // Two windows expire an hour after their end; the third does not.
    const { file, now } = await threeWindows();

    const executed: string[] = [];
    const db = new Database(file, {
      verbose: (sql) => executed.push(String(sql)),
    });
    const store = new GatewayStore(db);
    cleanups.push(() => store.close());
    executed.length = 0; // the open's own statements are not the shred's

    expect(shredExpired(store, HOUR, now)).toEqual({ keys: 6, records: 6, frames: 24, more: false });

    const onKeysOrFrames = executed.filter(
      (s) => /^\s*(SELECT|UPDATE|DELETE)\b/i.test(s) && /\b(data_keys|sealed_frames)\b/.test(s),
    );
    // The shred asked for the expired keys (and after them, whether any are left), each key's
    // frames, and destroyed each key.
    expect(onKeysOrFrames.filter((s) => /\bFROM data_keys\b/.test(s))).toHaveLength(2);
    expect(onKeysOrFrames.filter((s) => /\bFROM sealed_frames\b/.test(s))).toHaveLength(6);
    expect(onKeysOrFrames.filter((s) => /^\s*UPDATE data_keys\b/.test(s))).toHaveLength(6);
    for (const sql of onKeysOrFrames) {
      const plan = planOf(db, sql);
      expect(plan.join(' | '), sql).not.toMatch(/\bSCAN (data_keys|sealed_frames)\b/);
      expect(plan.join(' | '), sql).toMatch(/\bSEARCH (data_keys|sealed_frames)\b/);
    }
    // And the keys of the last window, not expired, are still there.
    expect(db.prepare('SELECT count(*) FROM data_keys WHERE shredded_at IS NULL').pluck().get()).toBe(3);
  });

  test("behavior: a bounded call (a running gateway's turn) does the oldest keys first, says what is left, and the log keeps every record in order", async () => {
    const { file, now } = await threeWindows();
    const store = new GatewayStore(new Database(file));
    cleanups.push(() => store.close());
    const size = store.size;
    // Four frames a key: the first key always, the second would pass 5 frames.
    expect(shredExpired(store, HOUR, now, { maxFrames: 5, checkpoint: 'none' })).toEqual({
      keys: 1,
      records: 1,
      frames: 4,
      more: true,
    });
    expect(shredExpired(store, HOUR, now, { maxKeys: 2, keysPerCommit: 1 })).toEqual({
      keys: 2,
      records: 2,
      frames: 8,
      more: true,
    });
    expect(shredExpired(store, HOUR, now, { keysPerCommit: 2 })).toEqual({
      keys: 3,
      records: 3,
      frames: 12,
      more: false,
    });
    // Six records, each a leaf after the frames, oldest window first.
    expect(store.size).toBe(size + 6);
    const rows = store.db
      .prepare('SELECT leaf_index, dev, first_leaf FROM shred_records ORDER BY leaf_index')
      .all() as { leaf_index: number; dev: string; first_leaf: number }[];
    expect(rows.map((r) => r.leaf_index)).toEqual([0, 1, 2, 3, 4, 5].map((i) => size + i));
    const firsts = rows.map((r) => r.first_leaf);
    expect(firsts.slice(0, 3).every((l) => l < Math.min(...firsts.slice(3)))).toBe(true);
    expect(() => shredExpired(store, HOUR, now, { maxFrames: 0 })).toThrow(TypeError);
  });
});
