/**
 * @module test/unit/log-strata
 * A store keeps the nodes of every fourth level only (anchor/src/log/strata): every other
 * node, hashed up from the kept ones, must be the full tree's, so roots and proofs over the
 * kept rows are those of the reference log (`MemoryMerkleTree`); an append keeps ~1.07 rows
 * instead of ~2; a node beyond the log is refused with the store's own error.
 */
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  inclusionProof,
  isKeptLevel,
  LogFrontier,
  MemoryMerkleTree,
  type MerkleNode,
  nodesForAppend,
  rootAt,
  STRATA_CACHE_NODES,
  STRATUM_HEIGHT,
  StrataNodeReader,
} from '../../anchor/src/log/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const leafOf = (i: number) => {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(0, i * 2654435761);
  b[31] = i & 0xff;
  return b;
};

/** The nodes of an append a store writes. */
const keptNodes = (nodes: readonly MerkleNode[]) => nodes.filter((n) => isKeptLevel(n.level));

/** A log kept as a store keeps it: the kept nodes of each append in a map, the rest dropped. */
function keptLog(size: number) {
  const rows = new Map<string, Uint8Array>();
  const ref = new MemoryMerkleTree();
  const reads: { level: number; count: number }[] = [];
  const nodes = new StrataNodeReader({
    readStratum: (level, first, count) => {
      reads.push({ level, count });
      const out: Uint8Array[] = [];
      for (let i = first; i < first + count && rows.has(`${level}/${i}`); i++)
        out.push(rows.get(`${level}/${i}`)!);
      return out;
    },
  });
  const frontier = new LogFrontier(nodes);
  let written = 0;
  for (let i = 0; i < size; i++) {
    const all = nodesForAppend(i, leafOf(i), frontier);
    for (const n of keptNodes(all)) rows.set(`${n.level}/${n.index}`, n.hash);
    written += keptNodes(all).length;
    frontier.remember(all);
    ref.appendLeafHash(leafOf(i));
  }
  return { rows, ref, nodes, written, reads };
}

describe('log strata', () => {
  it('behavior: keeps levels 0, 4, 8, … and drops the rest of an append', () => {
    expect(STRATUM_HEIGHT).toBe(4);
    expect([0, 1, 2, 3, 4, 5, 8, 12, 13].map(isKeptLevel)).toEqual([
      true,
      false,
      false,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
    // Leaf 255 completes levels 1-8 above it: of its nine nodes, levels 0, 4 and 8 are kept.
    const frontier = new LogFrontier(new MemoryMerkleTree());
    const ref = new MemoryMerkleTree();
    for (let i = 0; i < 255; i++) {
      frontier.remember(nodesForAppend(i, leafOf(i), frontier));
      ref.appendLeafHash(leafOf(i));
    }
    const all = nodesForAppend(255, leafOf(255), frontier);
    expect(all.map((n) => n.level)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(keptNodes(all).map((n) => `${n.level}/${n.index}`)).toEqual(['0/255', '4/15', '8/0']);
  });

  it('behavior: every node hashed up from the kept rows is the full tree’s; roots and proofs are the reference’s', () => {
    for (const size of [1, 2, 3, 15, 16, 17, 31, 255, 256, 257, 1000, 4097]) {
      const { ref, nodes } = keptLog(size);
      for (let level = 0; 2 ** level <= size; level++) {
        for (let index = 0; (index + 1) * 2 ** level <= size; index++) {
          expect(hex(nodes.getNode(level, index)), `size ${size}: node ${level}/${index}`).toBe(
            hex(ref.getNode(level, index)),
          );
        }
      }
      for (const n of [1, Math.ceil(size / 3), size]) {
        expect(hex(rootAt(nodes, n))).toBe(hex(ref.root(n)));
        for (const i of [0, n - 1, Math.floor(n / 2)]) {
          expect(inclusionProof(nodes, i, n).map(hex)).toEqual(ref.inclusionProof(i, n).map(hex));
        }
        expect(consistencyProof(nodes, Math.ceil(n / 2), size).map(hex)).toEqual(
          ref.consistencyProof(Math.ceil(n / 2), size).map(hex),
        );
      }
    }
  });

  it('behavior: an append keeps ~1.07 rows instead of ~2, and a node reads at most 8 adjacent rows', () => {
    const { rows, written, nodes, reads } = keptLog(4096);
    // Levels 0, 4, 8 and 12 of 4,096 leaves: 4096 + 256 + 16 + 1, against 8,191 for every level.
    expect(written).toBe(4369);
    expect(rows.size).toBe(4369);
    expect([...rows.keys()].every((k) => Number(k.split('/')[0]) % STRATUM_HEIGHT === 0)).toBe(true);
    reads.length = 0;
    nodes.getNode(7, 3); // level 7 = level 4 + 3: the 8 level-4 nodes below it, in one read
    nodes.getNode(11, 1);
    expect(reads).toEqual([
      { level: 4, count: 8 },
      { level: 8, count: 8 },
    ]);
  });

  it('behavior: keeps the nodes above the leaves it read while allowed, up to its bound; never a leaf', () => {
    const { rows, ref } = keptLog(2 * STRATA_CACHE_NODES);
    let reads = 0;
    let allowed = false;
    const stratum = {
      readStratum: (level: number, first: number, count: number) => {
        reads++;
        return Array.from({ length: count }, (_, k) => rows.get(`${level}/${first + k}`)!);
      },
    };
    const nodes = new StrataNodeReader(stratum, undefined, () => allowed);
    nodes.getNode(3, 5);
    nodes.getNode(3, 5);
    expect(reads).toBe(2); // not allowed: read each time
    allowed = true;
    expect(hex(nodes.getNode(3, 5))).toBe(hex(ref.getNode(3, 5)));
    expect(hex(nodes.getNode(3, 5))).toBe(hex(ref.getNode(3, 5)));
    nodes.getNode(0, 7);
    nodes.getNode(0, 7);
    expect(reads).toBe(5); // one more read for (3, 5), then each leaf read
    // Past its bound it starts afresh: (3, 5) is read again.
    for (let i = 0; i < STRATA_CACHE_NODES; i++) nodes.getNode(1, i);
    reads = 0;
    nodes.getNode(3, 5);
    expect(reads).toBe(1);
  });

  it('error: a node beyond the log is refused, with the store’s own error when it gives one', () => {
    const { rows } = keptLog(20);
    const stratum = {
      readStratum: (level: number, first: number, count: number) =>
        Array.from({ length: count }, (_, k) => rows.get(`${level}/${first + k}`)).filter(
          (h): h is Uint8Array => h !== undefined,
        ),
    };
    const plain = new StrataNodeReader(stratum);
    expect(() => plain.getNode(0, 20)).toThrow(RangeError);
    expect(() => plain.getNode(2, 5)).toThrow(/log node \(2, 5\) is missing/); // leaves 20-23
    expect(() => plain.getNode(2, 4)).not.toThrow(); // leaves 16-19
    class Missing extends Error {}
    const own = new StrataNodeReader(stratum, (level, index) => new Missing(`${level}/${index}`));
    expect(() => own.getNode(5, 0)).toThrow(Missing);
  });
});
