/**
 * Crypto-shredding at scale (io/store/shredding, schema 14, and io/store/sealed
 * `sweepShredded`): every statement the shred runs on the data keys and the sealed frames is
 * an index search, never a scan of the table; and the space of the frames it shreds is
 * written again, so a store kept under retention stops growing by their ciphertexts. Before
 * schema 14 each destroyed key's frames were found by reading every sealed frame of the
 * store (143 ms a key at a million frames: a month of a ward took days; the figures are in
 * README "Retention"). Real parts: the Ingest seals real frames into a SQLite file; the
 * shred runs on that file through a connection that records every statement it executes,
 * and SQLite's own `EXPLAIN QUERY PLAN` says how each one reads.
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
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

/** A sealed rig in a temp directory on a clock the test moves (from `T0`), closed after the test. */
function clockedRig(prefix: string) {
  const t = makeTempDir(prefix);
  cleanups.push(t.cleanup);
  const r = recipientPair('care', 'ec');
  const clock = { now: T0 };
  const rig = sealedRig(t.dir, [r.recipient], { now: () => clock.now });
  cleanups.push(() => rig.store.close());
  return { rig, r, clock };
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

    expect(shredExpired(store, HOUR, now)).toEqual({
      keys: 6,
      records: 6,
      frames: 24,
      deleted: 24,
      more: false,
    });

    const onKeysOrFrames = executed.filter(
      (s) => /^\s*(SELECT|UPDATE|DELETE)\b/i.test(s) && /\b(data_keys|sealed_frames)\b/.test(s),
    );
    // The shred asked for the expired keys (and after them, whether any are left), each key's
    // frames, and destroyed each key; then it swept the ciphertexts of destroyed keys in one
    // span of the log (the last sealed frame, the delete, the first frame not destroyed).
    expect(onKeysOrFrames.filter((s) => /^\s*SELECT\b[\s\S]*\bFROM data_keys\b/.test(s))).toHaveLength(2);
    expect(onKeysOrFrames.filter((s) => /^\s*SELECT\b[\s\S]*\bFROM sealed_frames\b/.test(s))).toHaveLength(8);
    expect(onKeysOrFrames.filter((s) => /^\s*UPDATE data_keys\b/.test(s))).toHaveLength(6);
    expect(onKeysOrFrames.filter((s) => /^\s*DELETE FROM sealed_frames\b/.test(s))).toHaveLength(1);
    for (const sql of onKeysOrFrames) {
      const plan = planOf(db, sql);
      expect(plan.join(' | '), sql).not.toMatch(/\bSCAN (data_keys|sealed_frames)\b/);
      expect(plan.join(' | '), sql).toMatch(/\bSEARCH (data_keys|sealed_frames)\b/);
    }
    // And the keys of the last window, not expired, are still there.
    expect(db.prepare('SELECT count(*) FROM data_keys WHERE shredded_at IS NULL').pluck().get()).toBe(3);
  });

  test('behavior: the space of the frames shredded is written again: a store kept under retention stops growing by their ciphertexts', async () => {
    const { rig, r, clock } = clockedRig('vt-shred-space-');
    const devices = ['wr-a', 'wr-b', 'wr-c'].map((d) => [d, rig.device(d)] as const);
    const db = rig.store.db;
    const pages = () => db.pragma('page_count', { simple: true }) as number;
    /** An hour's window of 600 frames a device, sent as a ward's devices send (commits interleave them). */
    const window = async () => {
      for (let i = 0; i < 600; i += 50) {
        const sent: Promise<unknown>[] = [];
        for (let j = 0; j < 50; j++)
          for (const [dev, chain] of devices)
            sent.push(rig.ingest.submit(chain.next({ ts: clock.now + i + j }), dev));
        for (const s of await Promise.all(sent)) expect(s).toMatchObject({ status: 'accepted' });
      }
      clock.now += HOUR;
    };
    await window();
    await window();
    const before = pages();
    await window(); // the third window, nothing shredded yet: the file grows by all of it
    const grown = pages() - before;
    // The first window expires and goes (1,800 frames), then a fourth window is written.
    expect(shredExpired(rig.store, 2 * HOUR, clock.now)).toMatchObject({
      keys: 3,
      frames: 1_800,
      more: false,
    });
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const atShred = pages();
    await window();
    const regrown = pages() - atShred;
    // The ciphertexts are most of a frame's bytes: their pages were freed and are written again.
    expect(free).toBeGreaterThan(grown * 0.4);
    expect(regrown).toBeLessThan(grown * 0.6);
    expect(db.pragma('freelist_count', { simple: true })).toBeLessThan(free);
    // And nothing is lost: every frame of the last three windows opens, the first reads shredded.
    const reader = new SealedReader(rig.store, [{ kid: 'care', privateKey: r.privateKey }]);
    for (const [dev] of devices) {
      const rows = rig.store.framesToRead(dev, 0, Number.MAX_SAFE_INTEGER);
      const read = await reader.read(rows);
      expect(read.slice(0, 600)).toEqual(Array(600).fill('shredded'));
      expect(read.slice(600).every((f) => f instanceof Uint8Array)).toBe(true);
      expect(read).toHaveLength(2_400);
    }
  });

  test('behavior: once every frame is swept, the frames sealed after are swept when their keys go (the sweep never passes the last sealed frame)', async () => {
    const { rig, clock } = clockedRig('vt-shred-sweep-');
    const a = rig.device('wr-a');
    const whole = rig.store.db
      .prepare('SELECT count(*) FROM sealed_frames WHERE length(envelope) > 0')
      .pluck();
    for (const _ of [1, 2]) {
      for (let i = 0; i < 5; i++) await rig.ingest.submit(a.next({ ts: clock.now }), 'wr-a');
      clock.now += 2 * HOUR;
      expect(shredExpired(rig.store, HOUR, clock.now)).toMatchObject({
        keys: 1,
        frames: 5,
        deleted: 5,
        more: false,
      });
      expect(whole.get()).toBe(0);
    }
  });

  test("behavior: a bounded call (a running gateway's turn) does the oldest keys first, says what is left, and the log keeps every record in order", async () => {
    const { file, now } = await threeWindows();
    const store = new GatewayStore(new Database(file));
    cleanups.push(() => store.close());
    const size = store.size;
    // Four frames a key: the first key always, the second would pass 5 frames. The devices'
    // frames interleave (a, b, c, a, …): the sweep looks at 5 log positions, deletes wr-a's
    // two there and stops at wr-b's first frame, whose key is not destroyed yet.
    expect(shredExpired(store, HOUR, now, { maxFrames: 5, checkpoint: 'none' })).toEqual({
      keys: 1,
      records: 1,
      frames: 4,
      deleted: 2,
      more: true,
    });
    // The rest of the first window (its other keys): every frame of it deleted.
    expect(shredExpired(store, HOUR, now, { maxKeys: 2, keysPerCommit: 1 })).toEqual({
      keys: 2,
      records: 2,
      frames: 8,
      deleted: 10,
      more: true,
    });
    expect(shredExpired(store, HOUR, now, { keysPerCommit: 2 })).toEqual({
      keys: 3,
      records: 3,
      frames: 12,
      deleted: 12,
      more: false,
    });
    // The third window's frames, not expired, are all there; the others are tombstones.
    expect(
      store.db.prepare('SELECT count(*) FROM sealed_frames WHERE length(envelope) > 0').pluck().get(),
    ).toBe(12);
    expect(store.db.prepare('SELECT count(*) FROM sealed_frames').pluck().get()).toBe(36);
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
