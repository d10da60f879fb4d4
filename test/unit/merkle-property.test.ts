/**
 * @module test/unit/merkle-property
 * Properties of the RFC 9162 §2.1 log core: generated proofs equal the RFC's own
 * recursive definitions (a naive oracle written here from §2.1.1, §2.1.3.1 and
 * §2.1.4.1, hashing with node:crypto directly) and verify; mutated proofs fail with the
 * right code; node reads stay O(log n); and a type-confusion list against every public
 * function (after noble's TYPE_TEST).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  hashChildren,
  hashLeaf,
  inclusionProof,
  leafHashEquals,
  MemoryMerkleTree,
  MerkleError,
  type MerkleErrorCode,
  type MerkleNodeReader,
  nodesForAppend,
  rootAt,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../anchor/src/log/index.js';
import { sha256Equals } from '../../gateway/src/protocol/digest.js';
import { fcRuns } from '../helpers/fc-runs.js';

// Deterministic runs: 60 per property in the full run, fewer when VT_FC_RUNS is lower.
const FC = { seed: 9162, numRuns: fcRuns(60) };

// ---------------------------------------------------------------------------
// The oracle: RFC 9162 §2.1 taken literally, over the list of leaf hashes.

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) of RFC 9162 §2.1.1. */
function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = split(d.length);
  return sha256(Uint8Array.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1. */
function path(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...path(m, d.slice(0, k)), mth(d.slice(k))]
    : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

/** SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1. */
function subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Leaf hashes of `n` distinct leaves. */
function leafHashes(n: number, salt = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => hashLeaf(Uint8Array.of(salt, i >> 8, i & 0xff)));
}

function treeOf(leaves: readonly Uint8Array[]): MemoryMerkleTree {
  const tree = new MemoryMerkleTree();
  for (const l of leaves) tree.appendLeafHash(l);
  return tree;
}

/** A node store like the gateway's SQLite table: a map filled only through nodesForAppend; counts reads. */
class CountingStore implements MerkleNodeReader {
  readonly nodes = new Map<string, Uint8Array>();
  reads = 0;
  size = 0;
  append(leafHash: Uint8Array): void {
    for (const n of nodesForAppend(this.size, leafHash, this))
      this.nodes.set(`${n.level}/${n.index}`, n.hash);
    this.size++;
  }
  getNode(level: number, index: number): Uint8Array {
    this.reads++;
    const h = this.nodes.get(`${level}/${index}`);
    if (h === undefined) throw new RangeError('no such node');
    return h;
  }
}

function codeOf(fn: () => unknown): MerkleErrorCode | 'passed' | 'other' {
  try {
    fn();
    return 'passed';
  } catch (err) {
    return err instanceof MerkleError ? err.code : 'other';
  }
}

// ---------------------------------------------------------------------------

describe('exhaustive small trees', () => {
  const N = 128;
  const leaves = leafHashes(N);
  const tree = treeOf(leaves);
  const roots = [EMPTY_ROOT, ...leaves.map((_, i) => mth(leaves.slice(0, i + 1)))];

  it('behavior: the root at every size equals the naive MTH', () => {
    for (let n = 0; n <= N; n++) expect(hex(tree.root(n))).toBe(hex(roots[n]!));
  });

  it('behavior: every leaf is provable against every later size', () => {
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      for (let i = 0; i < n; i++) {
        verifyInclusion(i, n, leaves[i]!, tree.inclusionProof(i, n), roots[n]!);
        checked++;
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
  });

  it('behavior: every pair 1 <= size1 <= size2 is consistent', () => {
    let checked = 0;
    for (let s2 = 1; s2 <= N; s2++) {
      for (let s1 = 1; s1 <= s2; s1++) {
        verifyConsistency(s1, s2, tree.consistencyProof(s1, s2), roots[s1]!, roots[s2]!);
        checked++;
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
  });

  it('behavior: a proof against the wrong root or a neighbouring leaf fails', () => {
    for (let n = 2; n <= 40; n++) {
      for (let i = 0; i < n; i++) {
        const proof = tree.inclusionProof(i, n);
        expect(codeOf(() => verifyInclusion(i, n, leaves[i]!, proof, roots[n - 1]!))).toBe(
          'bad_inclusion_proof',
        );
        const other = leaves[(i + 1) % n]!;
        expect(codeOf(() => verifyInclusion(i, n, other, proof, roots[n]!))).toBe('bad_inclusion_proof');
      }
      for (let s1 = 1; s1 < n; s1++) {
        const proof = tree.consistencyProof(s1, n);
        expect(codeOf(() => verifyConsistency(s1, n, proof, roots[s1 - 1]!, roots[n]!))).toBe(
          'bad_consistency_proof',
        );
        expect(codeOf(() => verifyConsistency(s1, n, proof, roots[s1]!, roots[n - 1]!))).toBe(
          'bad_consistency_proof',
        );
      }
    }
  });
});

describe('random trees up to 300 leaves (fast-check)', () => {
  const leavesArb = fc.array(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 300 });
  const pairsArb = fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 8 });

  it('behavior: generated proofs equal the RFC 9162 recursion and verify', () => {
    fc.assert(
      fc.property(leavesArb, pairsArb, (data, pairs) => {
        const leaves = data.map(hashLeaf);
        const tree = new MemoryMerkleTree();
        for (const d of data) tree.appendData(d);
        expect(tree.size).toBe(leaves.length);
        expect(hex(tree.root())).toBe(hex(mth(leaves)));
        for (const [a, b] of pairs) {
          const n = 1 + (b % leaves.length);
          const i = a % n;
          const prefix = leaves.slice(0, n);
          const root = mth(prefix);
          const proof = tree.inclusionProof(i, n);
          expect(proof.map(hex)).toEqual(path(i, prefix).map(hex));
          expect(hex(rootFromInclusionProof(i, n, leaves[i]!, proof))).toBe(hex(root));
          const s1 = 1 + (a % n);
          const cproof = tree.consistencyProof(s1, n);
          expect(cproof.map(hex)).toEqual(subproof(s1, prefix, true).map(hex));
          verifyConsistency(s1, n, cproof, mth(leaves.slice(0, s1)), root);
        }
      }),
      FC,
    );
  });

  it('behavior: a store fed only by nodesForAppend serves the same proofs in O(log n) reads', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (size, a, b) => {
        const leaves = leafHashes(size, 7);
        const memory = treeOf(leaves);
        const store = new CountingStore();
        for (const l of leaves) {
          store.reads = 0;
          store.append(l);
          expect(store.reads).toBeLessThanOrEqual(Math.log2(store.size) + 1);
        }
        // Every complete perfect subtree is stored, nothing else: about 2n nodes.
        expect(store.nodes.size).toBe(2 * size - popcount(size));
        const bound = 2 * Math.ceil(Math.log2(size + 1)) + 2;
        const i = a % size;
        const s1 = 1 + (b % size);

        store.reads = 0;
        const root = rootAt(store, size);
        expect(store.reads).toBeLessThanOrEqual(bound);
        expect(hex(root)).toBe(hex(memory.root()));

        store.reads = 0;
        const proof = inclusionProof(store, i, size);
        expect(store.reads).toBeLessThanOrEqual(bound);
        expect(proof.map(hex)).toEqual(memory.inclusionProof(i).map(hex));

        store.reads = 0;
        const cproof = consistencyProof(store, s1, size);
        expect(store.reads).toBeLessThanOrEqual(bound);
        expect(cproof.map(hex)).toEqual(memory.consistencyProof(s1).map(hex));
      }),
      FC,
    );
  });

  type Mutation =
    | { kind: 'flip'; at: number; bit: number }
    | { kind: 'drop'; at: number }
    | { kind: 'add'; at: number };
  const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('add' as const), at: fc.nat() }),
  );

  function mutate(proof: Uint8Array[], m: Mutation): Uint8Array[] {
    const out: Uint8Array[] = proof.map((h) => h.slice());
    if (out.length === 0 || m.kind === 'add') {
      out.splice(m.at % (out.length + 1), 0, hashLeaf(Uint8Array.of(0xee)));
    } else if (m.kind === 'drop') {
      out.splice(m.at % out.length, 1);
    } else {
      const h = out[m.at % out.length]!;
      h[m.bit >> 3]! ^= 1 << (m.bit & 7);
    }
    return out;
  }

  it('error: a mutated inclusion proof (bit flipped, element dropped or added) fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), mutationArb, (size, a, m) => {
        const leaves = leafHashes(size, 3);
        const tree = treeOf(leaves);
        const i = a % size;
        const bad = mutate(tree.inclusionProof(i), m);
        expect(codeOf(() => verifyInclusion(i, size, leaves[i]!, bad, tree.root()))).toBe(
          'bad_inclusion_proof',
        );
      }),
      FC,
    );
  });

  it('error: a mutated consistency proof (bit flipped, element dropped or added) fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), mutationArb, (size, a, m) => {
        const tree = treeOf(leafHashes(size, 4));
        const s1 = 1 + (a % size);
        const bad = mutate(tree.consistencyProof(s1), m);
        expect(codeOf(() => verifyConsistency(s1, size, bad, tree.root(s1), tree.root()))).toBe(
          'bad_consistency_proof',
        );
      }),
      FC,
    );
  });
});

function popcount(n: number): number {
  let c = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) c += v % 2;
  return c;
}

// ---------------------------------------------------------------------------
// Type confusion (noble TYPE_TEST): attacker-shaped values become MerkleError in the
// verifiers; wrong JS types are TypeError; misuse of the generators is RangeError.

describe('type confusion', () => {
  const leaves = leafHashes(5);
  const tree = treeOf(leaves);
  const root = tree.root();
  const proof = tree.inclusionProof(2);
  const h31 = new Uint8Array(31);
  const h33 = new Uint8Array(33);
  const any = (x: unknown) => x as never;

  const verifierCases: [string, () => unknown][] = [
    ['index -1', () => verifyInclusion(-1, 5, leaves[2]!, proof, root)],
    ['index NaN', () => verifyInclusion(Number.NaN, 5, leaves[2]!, proof, root)],
    ['index 2.5', () => verifyInclusion(2.5, 5, leaves[2]!, proof, root)],
    ['index Infinity', () => verifyInclusion(Number.POSITIVE_INFINITY, 5, leaves[2]!, proof, root)],
    ['index 2^53', () => verifyInclusion(2 ** 53, 2 ** 53 + 2, leaves[2]!, proof, root)],
    ['index = size', () => verifyInclusion(5, 5, leaves[2]!, proof, root)],
    ['index > size', () => verifyInclusion(6, 5, leaves[2]!, proof, root)],
    ['size 0', () => verifyInclusion(0, 0, leaves[2]!, [], EMPTY_ROOT)],
    ['size -5', () => verifyInclusion(2, -5, leaves[2]!, proof, root)],
    ['leafHash 31 bytes', () => verifyInclusion(2, 5, h31, proof, root)],
    ['leafHash 33 bytes', () => verifyInclusion(2, 5, h33, proof, root)],
    ['root 31 bytes', () => verifyInclusion(2, 5, leaves[2]!, proof, root.subarray(1))],
    ['root empty', () => verifyInclusion(2, 5, leaves[2]!, proof, new Uint8Array(0))],
    ['proof hash 31 bytes', () => verifyInclusion(2, 5, leaves[2]!, [h31, ...proof.slice(1)], root)],
    ['proof hash 33 bytes', () => verifyInclusion(2, 5, leaves[2]!, [...proof.slice(1), h33], root)],
    ['rootFromInclusionProof index = size', () => rootFromInclusionProof(5, 5, leaves[2]!, proof)],
    ['consistency size1 -1', () => verifyConsistency(-1, 5, [], root, root)],
    ['consistency size2 NaN', () => verifyConsistency(2, Number.NaN, [], root, root)],
    ['consistency size1 1.5', () => verifyConsistency(1.5, 5, [], root, root)],
    ['consistency size1 > size2', () => verifyConsistency(5, 2, [], root, root)],
    ['consistency size1 0', () => verifyConsistency(0, 5, [], EMPTY_ROOT, root)],
    ['consistency proof hash 31 bytes', () => verifyConsistency(2, 5, [h31, h31, h31], tree.root(2), root)],
    [
      'consistency root2 31 bytes',
      () => verifyConsistency(2, 5, tree.consistencyProof(2), tree.root(2), h31),
    ],
  ];
  it.each(verifierCases)('error: verifier refuses %s with a MerkleError', (_name, call) => {
    expect(call).toThrow(MerkleError);
  });

  const typeCases: [string, () => unknown][] = [
    ['index "2"', () => verifyInclusion(any('2'), 5, leaves[2]!, proof, root)],
    ['index 2n', () => verifyInclusion(any(2n), 5, leaves[2]!, proof, root)],
    ['size null', () => verifyInclusion(2, any(null), leaves[2]!, proof, root)],
    ['leafHash as number[]', () => verifyInclusion(2, 5, any([...leaves[2]!]), proof, root)],
    ['leafHash as hex string', () => verifyInclusion(2, 5, any(hex(leaves[2]!)), proof, root)],
    ['root undefined', () => verifyInclusion(2, 5, leaves[2]!, proof, any(undefined))],
    ['proof null', () => verifyInclusion(2, 5, leaves[2]!, any(null), root)],
    ['proof of strings', () => verifyInclusion(2, 5, leaves[2]!, any(proof.map(hex)), root)],
    ['consistency size1 "2"', () => verifyConsistency(any('2'), 5, [], root, root)],
    ['consistency proof not an array', () => verifyConsistency(2, 5, any({ length: 0 }), root, root)],
    ['consistency root1 string', () => verifyConsistency(2, 5, [], any('00'), root)],
    ['hashLeaf string', () => hashLeaf(any('frame'))],
    ['hashChildren undefined', () => hashChildren(root, any(undefined))],
    ['appendLeafHash string', () => new MemoryMerkleTree().appendLeafHash(any(hex(root)))],
    ['appendData null', () => new MemoryMerkleTree().appendData(any(null))],
    ['inclusionProof index "0"', () => tree.inclusionProof(any('0'))],
    ['nodesForAppend leafHash array', () => nodesForAppend(5, any([...root]), tree)],
  ];
  it.each(typeCases)('error: %s is a TypeError', (_name, call) => {
    expect(call).toThrow(TypeError);
  });

  const rangeCases: [string, () => unknown][] = [
    ['inclusionProof index -1', () => tree.inclusionProof(-1)],
    ['inclusionProof index NaN', () => tree.inclusionProof(Number.NaN)],
    ['inclusionProof index 1.5', () => tree.inclusionProof(1.5)],
    ['inclusionProof index = size', () => tree.inclusionProof(5)],
    ['inclusionProof size beyond the tree', () => tree.inclusionProof(0, 6)],
    ['inclusionProof on empty tree', () => new MemoryMerkleTree().inclusionProof(0)],
    ['consistencyProof size1 > size2', () => tree.consistencyProof(4, 3)],
    ['consistencyProof size2 beyond the tree', () => tree.consistencyProof(1, 6)],
    ['consistencyProof size1 -1', () => consistencyProof(tree, -1, 5)],
    ['root size -1', () => tree.root(-1)],
    ['root size beyond the tree', () => tree.root(6)],
    ['rootAt size Infinity', () => rootAt(tree, Number.POSITIVE_INFINITY)],
    ['appendLeafHash 31 bytes', () => new MemoryMerkleTree().appendLeafHash(h31)],
    ['nodesForAppend size 1.5', () => nodesForAppend(1.5, root, tree)],
    ['nodesForAppend size 2^53 - 1', () => nodesForAppend(Number.MAX_SAFE_INTEGER, root, tree)],
    ['getNode absent', () => tree.getNode(3, 0)],
    ['getNode level -1', () => tree.getNode(-1, 0)],
    ['inclusionProof over a reader missing nodes', () => inclusionProof(tree, 0, 9)],
  ];
  it.each(rangeCases)('error: %s is a RangeError', (_name, call) => {
    expect(call).toThrow(RangeError);
  });

  it('behavior: the memory tree hands out copies, so callers cannot alter it', () => {
    const t = treeOf(leafHashes(4));
    const before = hex(t.root());
    t.getNode(0, 0).fill(0);
    t.root().fill(0);
    t.inclusionProof(1)[0]!.fill(0);
    expect(hex(t.root())).toBe(before);
    const empty = new MemoryMerkleTree().root();
    empty.fill(0);
    expect(hex(new MemoryMerkleTree().root())).toBe(hex(sha256()));
  });

  it('behavior: index and sizes above 2^32 are handled without 32-bit truncation', () => {
    // A tree of 2^40 + 3 leaves, leaf 2^40 + 1: its path has 2 inner nodes (leaf 2^40, then
    // leaf 2^40 + 2 as the ephemeral right node) and the left perfect subtree of 2^40 leaves.
    const size = 2 ** 40 + 3;
    const l = leafHashes(4, 9);
    const left = hashLeaf(Uint8Array.of(42)); // stands for the root of the 2^40 perfect subtree
    const rightPart = sha256(Uint8Array.of(1), sha256(Uint8Array.of(1), l[0]!, l[1]!), l[2]!);
    const root = sha256(Uint8Array.of(1), left, rightPart);
    verifyInclusion(2 ** 40 + 1, size, l[1]!, [l[0]!, l[2]!, left], root);
    expect(codeOf(() => verifyInclusion(1, size, l[1]!, [l[0]!, l[2]!, left], root))).toBe(
      'bad_inclusion_proof',
    );

    // Leaf 1 of 2^33 + 1 leaves: a left sibling, 32 right siblings up to the 2^33 subtree, then leaf 2^33.
    const sib = leafHashes(34, 10);
    let acc = sha256(Uint8Array.of(1), sib[0]!, l[3]!);
    for (let i = 1; i <= 32; i++) acc = sha256(Uint8Array.of(1), acc, sib[i]!);
    const root2 = sha256(Uint8Array.of(1), acc, sib[33]!);
    verifyInclusion(1, 2 ** 33 + 1, l[3]!, sib, root2);

    // Consistency 2^32 + 1 -> 2^32 + 2: proof [a, b, L] with L the root of the first 2^32 leaves.
    const [a, b, big] = leafHashes(3, 11) as [Uint8Array, Uint8Array, Uint8Array];
    const r1 = sha256(Uint8Array.of(1), big, a);
    const r2 = sha256(Uint8Array.of(1), big, sha256(Uint8Array.of(1), a, b));
    verifyConsistency(2 ** 32 + 1, 2 ** 32 + 2, [a, b, big], r1, r2);
    // 2^33 -> 2^33 + 1: a power of two, so root1 seeds the proof [leaf].
    verifyConsistency(2 ** 33, 2 ** 33 + 1, [a], big, sha256(Uint8Array.of(1), big, a));
  });
});

describe('leaf hashes compared in place', () => {
  const naive = (d: Uint8Array) =>
    new Uint8Array(
      createHash('sha256')
        .update(Buffer.from([0]))
        .update(d)
        .digest(),
    );

  it('behavior: hashLeaf and leafHashEquals agree with SHA-256(0x00 || d) for any data, small or past the reused buffer', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ minLength: 16_380, maxLength: 16_400 })),
        fc.nat(31),
        (d, flip) => {
          const want = naive(d);
          expect(hashLeaf(d)).toEqual(want);
          expect(leafHashEquals(d, want)).toBe(true);
          const wrong = want.slice();
          wrong[flip] = (wrong[flip] as number) ^ 1;
          expect(leafHashEquals(d, wrong)).toBe(false);
          expect(leafHashEquals(d, want.subarray(0, 31))).toBe(false);
          expect(sha256Equals(d, new Uint8Array(createHash('sha256').update(d).digest()))).toBe(true);
          return true;
        },
      ),
      { numRuns: fcRuns(200) },
    );
  });
});
