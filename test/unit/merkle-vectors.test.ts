/**
 * @module test/unit/merkle-vectors
 * RFC 9162 §2.1.3 / §2.1.4 golden probes of transparency-dev/merkle (`testdata/`,
 * Apache-2.0), copied into test/vectors/rfc9162 (see its README for the source, licence,
 * format and edge rules), plus the known-answer roots of the 8-leaf reference tree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  hashLeaf,
  MemoryMerkleTree,
  MerkleError,
  type MerkleErrorCode,
  verifyConsistency,
  verifyInclusion,
} from '../../anchor/src/log/index.js';

// In the checkout (test/vectors/README.md), so CI needs nothing beside it.
const VECTORS = fileURLToPath(new URL('../vectors/rfc9162', import.meta.url));

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(dir, f))
    .sort();
}

function b64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function b64List(list: string[] | null): Uint8Array[] {
  return (list ?? []).map(b64);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Runs `check`; returns the MerkleError code it threw, or null when it passed. */
function outcome(check: () => void): string | null {
  try {
    check();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(MerkleError);
    return (err as MerkleError).code;
  }
}

interface InclusionProbe {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyProbe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

/** One test per probe file under `kind/`, named after its path and desc. */
function probeSuite<P extends { desc: string; wantErr: boolean }>(
  kind: 'inclusion' | 'consistency',
  code: MerkleErrorCode,
  check: (probe: P) => void,
): void {
  const files = jsonFiles(join(VECTORS, kind));
  describe(`RFC 9162 ${kind} probes (transparency-dev/merkle testdata)`, () => {
    it('behavior: the probe corpus is present', () => {
      expect(files.length).toBeGreaterThanOrEqual(90);
    });
    for (const file of files) {
      const p = JSON.parse(readFileSync(file, 'utf8')) as P;
      it(`${p.wantErr ? 'error' : 'behavior'}: ${relative(VECTORS, file)} (${p.desc})`, () => {
        expect(outcome(() => check(p))).toBe(p.wantErr ? code : null);
      });
    }
  });
}

probeSuite<InclusionProbe>('inclusion', 'bad_inclusion_proof', (p) =>
  verifyInclusion(p.leafIdx, p.treeSize, b64(p.leafHash), b64List(p.proof), b64(p.root)),
);
probeSuite<ConsistencyProbe>('consistency', 'bad_consistency_proof', (p) =>
  verifyConsistency(p.size1, p.size2, b64List(p.proof), b64(p.root1), b64(p.root2)),
);

describe('known-answer roots', () => {
  // The reference leaves of transparency-dev/merkle (testonly.LeafInputs). Reproduce by shell, e.g.
  //   size 1: printf '\x00' | sha256sum                                  -> 6e340b9c...
  //   size 2: L0=6e340b9c...; L1=$(printf '\x00\x00' | sha256sum | cut -c1-64)
  //           (printf '\x01'; echo "$L0$L1" | xxd -r -p) | sha256sum      -> fac54203...
  const leaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ];
  // Roots of the first n leaves, n = 1..8 (testonly.RootHashes; size 8 is also in the vectors README).
  const roots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];

  it('behavior: the empty tree hashes to SHA-256 of nothing', () => {
    // printf '' | sha256sum
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(new MemoryMerkleTree().root())).toBe(hex(EMPTY_ROOT));
  });

  it('behavior: the leaf hash of the empty string is SHA-256(0x00)', () => {
    // printf '\x00' | sha256sum
    expect(hex(hashLeaf(new Uint8Array(0)))).toBe(roots[0]);
  });

  it('behavior: roots of sizes 1..8 match the reference, incrementally and at past sizes', () => {
    const tree = new MemoryMerkleTree();
    leaves.forEach((leaf, i) => {
      expect(tree.appendData(new Uint8Array(Buffer.from(leaf, 'hex')))).toBe(i);
      expect(hex(tree.root())).toBe(roots[i]);
    });
    roots.forEach((root, i) => {
      expect(hex(tree.root(i + 1))).toBe(root);
    });
  });

  it('behavior: the happy-path consistency probe 1 -> 8 is reproduced by the generator', () => {
    const p = JSON.parse(
      readFileSync(join(VECTORS, 'consistency/1/happy-path.json'), 'utf8'),
    ) as ConsistencyProbe;
    const tree = new MemoryMerkleTree();
    for (const leaf of leaves) tree.appendData(new Uint8Array(Buffer.from(leaf, 'hex')));
    expect(tree.consistencyProof(p.size1, p.size2).map(hex)).toEqual(b64List(p.proof).map(hex));
    expect(hex(tree.root(p.size2))).toBe(hex(b64(p.root2)));
  });
});
