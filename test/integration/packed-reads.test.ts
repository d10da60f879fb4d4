/**
 * A long read takes SQLite's answers packed (issue 14: a day of raw readings within 1 s):
 * a device's frame index as one row (io/store/store `framesToRead`: integers joined by
 * commas, the hashes one BLOB each) and each chunk's sealed rows as one row (io/store/sealed
 * `SealedReader.job`: the envelopes one BLOB), instead of a row and a Buffer per frame.
 * Through a real sealed store in a temp dir and real read threads (dist/, as `npm test`
 * builds it first), with two devices interleaved in the log and one device's frames
 * stored out of seq order, so neither leaf indexes nor the log's order line up with seq:
 * - the packed index is exactly the row-by-row one;
 * - reads on threads and on the event loop give the same readings, in seq order;
 * - a read over hours is fetched an hour of device time at a time (io/reading/windows), with
 *   the same readings;
 * - a frame whose leaf the log lacks makes the index fall back to rows, and the read
 *   refuses that frame by name, on threads as on the event loop.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { readReadings } from '../../gateway/src/io/queries/index.js';
import { ReadPool } from '../../gateway/src/io/reading/index.js';
import { SealedReader } from '../../gateway/src/io/store/sealed.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const BUILT = new URL('../../dist/gateway/src/io/reading/read-worker.js', import.meta.url);
const BLOCK = 300;
const BLOCKS = 8;
const T0 = Date.UTC(2026, 11, 3, 8, 0, 0);
/** The row-by-row statement the packed one replaces, as the test's reference. */
const ROWS_SQL = `SELECT f.seq, f.ts, f.leaf_index, f.hash, f.batch_id, f.batch_pos, n.hash AS leaf FROM frames f
  LEFT JOIN log_nodes n ON n.level = 0 AND n.idx = f.leaf_index WHERE f.dev = ? ORDER BY f.seq`;

describe('packed reads', () => {
  const tmp = makeTempDir('vt-packed-reads-');
  const r = recipientPair('care', 'ec');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  let rig: SealedRig;
  const pools: ReadPool[] = [];
  const read = (threads: number) => {
    const p = new ReadPool({ threads, workerUrl: BUILT });
    pools.push(p);
    return readReadings(rig.store, new SealedReader(rig.store, secrets), 'wr-a', 0, Number.MAX_SAFE_INTEGER, {
      pool: p,
    })
      .then((x) => ({ ...x, stats: { ...p.stats } }))
      .catch((e: Error & { code?: string }) => ({ code: e.code, message: e.message }));
  };

  beforeAll(async () => {
    rig = sealedRig(tmp.dir, [r.recipient], { now: () => T0 + 3_600_000 });
    const a = rig.device('wr-a');
    const b = rig.device('wr-b');
    const blocks = Array.from({ length: BLOCKS }, (_, k) =>
      Array.from({ length: BLOCK }, (_, j) => {
        const i = k * BLOCK + j;
        return a.next({ ts: T0 + i * 1000 }, { hr: 50 + (i % 90), spo2: 97 });
      }),
    );
    // Blocks 1 and 0, then 3 and 2, …: each later block reaches the log before the one
    // before it; wr-b's frames land in between.
    for (let k = 0; k < BLOCKS; k += 2) {
      for (const block of [blocks[k + 1], blocks[k]] as (typeof blocks)[number][]) {
        await Promise.all(block.map((f) => rig.ingest.submit(f, 'wr-a')));
        const fb = b.next({ ts: T0 + k * 1000 }, { hr: 70 });
        await rig.ingest.submit(fb, 'wr-b');
      }
    }
  }, 120_000);
  afterAll(async () => {
    for (const p of pools) await p.close();
    rig?.store.close();
    tmp.cleanup();
  });

  test('behavior: the packed index is exactly the row-by-row one, leaves out of seq order', () => {
    type Row = {
      seq: number;
      ts: number;
      leaf_index: number;
      hash: Buffer;
      batch_id: number;
      batch_pos: number;
      leaf: Buffer;
    };
    const want = (rig.store.db.prepare(ROWS_SQL).all('wr-a') as Row[]).map((x) => ({
      dev: 'wr-a',
      seq: x.seq,
      ts: x.ts,
      leafIndex: x.leaf_index,
      hash: new Uint8Array(x.hash),
      batchId: x.batch_id,
      batchPos: x.batch_pos,
      leafHash: new Uint8Array(x.leaf),
    }));
    const got = rig.store.framesToRead('wr-a', 0, Number.MAX_SAFE_INTEGER, 1).map((x) => ({
      ...x,
      hash: new Uint8Array(x.hash),
      leafHash: new Uint8Array(x.leafHash as Uint8Array),
    }));
    expect(got).toHaveLength(BLOCK * BLOCKS);
    expect(got).toEqual(want);
    // Taken from the pack: every hash a view of one BLOB, not a Buffer of its own.
    const packed = rig.store.framesToRead('wr-a', 0, Number.MAX_SAFE_INTEGER, 1);
    expect(packed[1]?.hash.buffer).toBe(packed[0]?.hash.buffer);
    expect((packed[1]?.hash.byteOffset as number) - (packed[0]?.hash.byteOffset as number)).toBe(32);
    // Without `packed` (the event loop's reads), one row and one Buffer per frame, the same rows.
    const plain = rig.store.framesToRead('wr-a', 0, Number.MAX_SAFE_INTEGER);
    expect(plain[1]?.hash.buffer).not.toBe(plain[0]?.hash.buffer);
    expect(plain.map((x) => x.leafIndex)).toEqual(got.map((x) => x.leafIndex));
    // What the set-up promised: seq order is not leaf order, and wr-b sits in between.
    const leaves = got.map((x) => x.leafIndex);
    expect(leaves.some((l, i) => i > 0 && l < (leaves[i - 1] as number))).toBe(true);
    expect(Math.max(...leaves) - Math.min(...leaves) + 1).toBeGreaterThan(leaves.length);
    // A range inside the day: the same as the filter of the whole.
    const part = rig.store.framesToRead('wr-a', T0 + 250_000, T0 + 1_249_000, 1);
    expect(part.map((x) => x.seq)).toEqual(
      got.filter((x) => x.ts >= T0 + 250_000 && x.ts <= T0 + 1_249_000).map((x) => x.seq),
    );
    expect(rig.store.framesToRead('wr-none', 0, Number.MAX_SAFE_INTEGER, 1)).toEqual([]);
  });

  test('behavior: reads on threads and on the event loop give the same readings, in seq order', async () => {
    const here = await read(0);
    const threads = await read(2);
    expect('readings' in here && here.readings.map((x) => x.seq)).toEqual(
      Array.from({ length: BLOCK * BLOCKS }, (_, i) => i + 1),
    );
    expect({ ...threads, stats: undefined }).toEqual({ ...here, stats: undefined });
    // Three chunks of 1,024 (the last one short): every one opened on a thread.
    expect('stats' in threads && threads.stats).toEqual({ onThreads: 3, here: 0 });
  });

  test('behavior: a read over hours is fetched an hour of device time at a time, the same readings in seq order', async () => {
    // The frames span 40 minutes from T0; a range from 2 h before to 2 h after is four windows
    // (a turn of the event loop between each: io/reading/windows), where it was one statement.
    const whole = await read(2);
    const spy = vi.spyOn(rig.store, 'framesToRead');
    try {
      for (const threads of [0, 2]) {
        spy.mockClear();
        const p = new ReadPool({ threads, workerUrl: BUILT });
        pools.push(p);
        const got = await readReadings(
          rig.store,
          new SealedReader(rig.store, secrets),
          'wr-a',
          T0 - 2 * 3_600_000,
          T0 + 2 * 3_600_000 - 1,
          { pool: p },
        );
        expect(spy).toHaveBeenCalledTimes(4);
        expect({ readings: got.readings, shredded: got.shredded }).toEqual({
          readings: 'readings' in whole ? whole.readings : [],
          shredded: 0,
        });
      }
    } finally {
      spy.mockRestore();
    }
  });

  test('error: a frame whose leaf the log lacks: the index falls back to rows and the read refuses that frame', async () => {
    const db = rig.store.db;
    const leaf = rig.store.framesToRead('wr-a', 0, Number.MAX_SAFE_INTEGER)[1_500]?.leafIndex as number;
    const node = db
      .prepare('SELECT hash FROM log_nodes WHERE level = 0 AND idx = ?')
      .pluck()
      .get(leaf) as Buffer;
    db.prepare('DELETE FROM log_nodes WHERE level = 0 AND idx = ?').run(leaf);
    try {
      const rows = rig.store.framesToRead('wr-a', 0, Number.MAX_SAFE_INTEGER, 1);
      expect(rows).toHaveLength(BLOCK * BLOCKS);
      expect(rows.filter((x) => x.leafHash === undefined).map((x) => x.leafIndex)).toEqual([leaf]);
      const here = await read(0);
      expect(here).toMatchObject({ message: expect.stringContaining(`(0, ${leaf})`) });
      expect(await read(2)).toEqual(here);
    } finally {
      db.prepare('INSERT INTO log_nodes (level, idx, hash) VALUES (0, ?, ?)').run(leaf, node);
    }
  });
});
