/**
 * @module test/unit/store-log-frontier
 * The store's log appends from its frontier in memory (anchor/src/log/frontier), not from
 * nodes read back: its roots and proofs must stay those of the reference log
 * (`MemoryMerkleTree`) through commits of every size, a commit that fails half way (its
 * nodes rolled back, so the frontier must forget them), a leaf that is not a frame and a
 * reopen (an empty frontier, filled from the file); the table holds the kept levels only.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogFrontier, MemoryMerkleTree, verifyInclusion } from '../../anchor/src/log/index.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir> | undefined;
afterEach(() => {
  tmp?.cleanup();
  tmp = undefined;
});

const leafOf = (i: number) => {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(0, i + 1);
  b[31] = 0x5a;
  return b;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Commits `count` frames of device `dev` from `seq` on; the reference log takes their leaves. */
function commit(store: GatewayStore, ref: MemoryMerkleTree, dev: string, seq: number, count: number): void {
  const frames = Array.from({ length: count }, (_, k) => ({
    dev,
    seq: seq + k,
    hash: leafOf(1000 + seq + k),
    prev: leafOf(999 + seq + k),
    ts: seq + k,
    leafHash: leafOf(store.size + k),
  }));
  store.commitBatch({ id: store.nextBatchId(), envelope: 'test', createdAt: 1, frames });
  for (const f of frames) ref.appendLeafHash(f.leafHash);
}

function expectSameLog(store: GatewayStore, ref: MemoryMerkleTree): void {
  expect(store.size).toBe(ref.size);
  expect(hex(store.root())).toBe(hex(ref.root()));
  for (const i of [0, Math.floor(ref.size / 2), ref.size - 1]) {
    const path = store.inclusionProof(i, store.size);
    expect(path.map(hex), `path of leaf ${i}`).toEqual(ref.inclusionProof(i, ref.size).map(hex));
    expect(() => verifyInclusion(i, ref.size, leafOf(i), path, ref.root())).not.toThrow();
  }
}

describe('the store log frontier', () => {
  it('behavior: roots and proofs stay the reference log through batches, a failed commit, a shredding leaf and a reopen', () => {
    tmp = makeTempDir('vt-frontier-');
    const path = join(tmp.dir, 'gw.db');
    const ref = new MemoryMerkleTree();
    let store = openStore(path);
    let seq = 1;
    for (const n of [1, 2, 3, 7, 8, 13, 64, 1, 100]) {
      commit(store, ref, 'wr-a', seq, n);
      seq += n;
      expectSameLog(store, ref);
    }
    // A commit that fails at its last frame (a (dev, seq) already stored): its nodes, the
    // frontier's newest among them, are rolled back; the commits after it must not use them.
    const failed = () =>
      store.commitBatch({
        id: store.nextBatchId(),
        envelope: 'test',
        createdAt: 1,
        frames: [0, 1, 2].map((k) => ({
          dev: 'wr-a',
          seq: k === 2 ? 1 : seq + k, // seq 1 of wr-a is stored: the third insert fails
          hash: leafOf(k),
          prev: leafOf(k),
          ts: k,
          leafHash: leafOf(7_000 + k),
        })),
      });
    expect(failed).toThrow(/could not be written/);
    expectSameLog(store, ref);
    commit(store, ref, 'wr-a', seq, 5);
    seq += 5;
    expectSameLog(store, ref);
    // A leaf that is not a frame (a shredding record's), then more frames.
    const leaf = store.appendLeaf(leafOf(store.size), () => {});
    ref.appendLeafHash(leafOf(leaf));
    commit(store, ref, 'wr-a', seq, 9);
    seq += 9;
    expectSameLog(store, ref);
    // Reopened: the frontier starts empty and reads the file.
    store.close();
    store = openStore(path);
    for (const n of [1, 31, 2]) {
      commit(store, ref, 'wr-a', seq, n);
      seq += n;
      expectSameLog(store, ref);
    }
    // Only the kept levels are written (anchor/src/log/strata): every node of levels 0 and 4.
    const levels = store.db.prepare('SELECT level, count(*) FROM log_nodes GROUP BY level').raw().all();
    expect(ref.size).toBe(248);
    expect(levels).toEqual([
      [0, 248],
      [4, 15],
    ]);
    expect(hex(store.getNode(3, 1))).toBe(hex(ref.getNode(3, 1)));
    store.close();
  });

  it('behavior: a node read inside a commit that is then rolled back is not kept for the reads after it', () => {
    tmp = makeTempDir('vt-frontier-');
    const store = openStore(join(tmp.dir, 'gw.db'));
    const frames = (salt: number) =>
      Array.from({ length: 32 }, (_, k) => ({
        dev: 'wr-b',
        seq: k + 1,
        hash: leafOf(salt + k),
        prev: leafOf(salt + k - 1),
        ts: k,
        leafHash: leafOf(salt + 100 + k),
      }));
    // Inside the commit a proof needs node (3, 1), hashed up from leaves 8-15 of this very
    // commit (the frontier holds (3, 3) by then); the commit then fails and is rolled back.
    expect(() =>
      store.commitBatch(
        { id: store.nextBatchId(), envelope: 'test', createdAt: 1, frames: frames(0) },
        () => {
          expect(store.inclusionProof(0, 32)).toHaveLength(5);
          throw new Error('the commit fails after it');
        },
      ),
    ).toThrow(/could not be written/);
    const ref = new MemoryMerkleTree();
    const again = frames(5000);
    store.commitBatch({ id: store.nextBatchId(), envelope: 'test', createdAt: 1, frames: again });
    for (const f of again) ref.appendLeafHash(f.leafHash);
    expect(store.inclusionProof(0, 32).map(hex)).toEqual(ref.inclusionProof(0, 32).map(hex));
    expect(hex(store.root())).toBe(hex(ref.root()));
    store.close();
  });

  it('behavior: answers the last node of each level from memory, every other node from its fallback', () => {
    const ref = new MemoryMerkleTree();
    for (let i = 0; i < 6; i++) ref.appendLeafHash(leafOf(i));
    const asked: string[] = [];
    const frontier = new LogFrontier({
      getNode: (level, index) => {
        asked.push(`${level}/${index}`);
        return ref.getNode(level, index);
      },
    });
    frontier.remember([{ level: 0, index: 5, hash: leafOf(5) }]);
    expect(hex(frontier.getNode(0, 5))).toBe(hex(leafOf(5)));
    expect(asked).toEqual([]);
    expect(hex(frontier.getNode(0, 4))).toBe(hex(ref.getNode(0, 4)));
    expect(asked).toEqual(['0/4']);
  });
});
