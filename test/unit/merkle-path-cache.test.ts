/**
 * @module test/unit/merkle-path-cache
 * The verifier's inclusion cache (anchor/src/log/path-cache.ts) gives exactly what
 * `verifyInclusion` gives, proof after proof with the cache warm: on the RFC 9162 probes
 * of transparency-dev/merkle, and on random trees with random runs of queries (several
 * tree sizes of one growing log in one cache; valid proofs, mutated nodes, swapped,
 * dropped and extra nodes, other indexes, leaves and sizes, tokens that are not hex).
 * It also shows it saves work: a run of neighbouring leaves hashes about one node each.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashLeaf, MemoryMerkleTree, MerkleError, verifyInclusion } from '../../anchor/src/log/index.js';
import { InclusionPathCache } from '../../anchor/src/log/path-cache.js';
import { fcRuns } from '../helpers/fc-runs.js';

const VECTORS = fileURLToPath(new URL('../vectors/rfc9162/inclusion', import.meta.url));
const FC = { seed: 6962, numRuns: fcRuns(80) };

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;

/** Decodes 0x-hex tokens; counts calls (each computed step decodes one). */
function decoder() {
  const d = {
    calls: 0,
    decode(t: unknown): Uint8Array | undefined {
      d.calls++;
      if (typeof t !== 'string' || !/^0x(?:[0-9a-fA-F]{2})*$/.test(t)) return undefined;
      return new Uint8Array(Buffer.from(t.slice(2), 'hex'));
    },
  };
  return d;
}

/** The outcome of a check: null, or the MerkleError's code and reason. */
function outcome(check: () => void): { code: string; reason: string } | null {
  try {
    check();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(MerkleError);
    return { code: (err as MerkleError).code, reason: (err as MerkleError).reason };
  }
}

describe('InclusionPathCache', () => {
  it('behavior: every RFC 9162 inclusion probe gives the same result through the cache, cold and warm', () => {
    const files = readdirSync(VECTORS, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.json'),
    );
    expect(files.length).toBeGreaterThan(50);
    const warm = new InclusionPathCache(decoder().decode);
    for (const f of files.sort()) {
      const p = JSON.parse(readFileSync(join(VECTORS, f), 'utf8')) as {
        leafIdx: number;
        treeSize: number;
        root: string;
        leafHash: string;
        proof: string[] | null;
        wantErr: boolean;
      };
      const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
      const proofBytes = (p.proof ?? []).map(b64);
      const tokens = proofBytes.map(hex);
      const want = outcome(() =>
        verifyInclusion(p.leafIdx, p.treeSize, b64(p.leafHash), proofBytes, b64(p.root)),
      );
      expect(want === null, f).toBe(!p.wantErr);
      const cold = new InclusionPathCache(decoder().decode);
      expect(
        outcome(() => cold.verify(p.leafIdx, p.treeSize, b64(p.leafHash), tokens, b64(p.root))),
        f,
      ).toEqual(want);
      // The warm cache has seen every probe before this one (valid ones became states).
      expect(
        outcome(() => warm.verify(p.leafIdx, p.treeSize, b64(p.leafHash), tokens, b64(p.root))),
        f,
      ).toEqual(want);
    }
  });

  const query = fc.record({
    index: fc.nat(),
    size: fc.nat(),
    mutation: fc.constantFrom(
      'none',
      'none',
      'none',
      'flip',
      'swap',
      'drop',
      'extra',
      'index',
      'leaf',
      'size',
      'token',
      'upper',
    ),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 255 }),
  });

  it('behavior: random trees and runs of queries: the warm cache agrees with verifyInclusion on every one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(query, { minLength: 1, maxLength: 60 }),
        (n, qs) => {
          const tree = new MemoryMerkleTree();
          for (let i = 0; i < n; i++) tree.appendData(Uint8Array.of(i & 0xff, i >> 8, 7));
          const cache = new InclusionPathCache(decoder().decode);
          for (const q of qs) {
            // A few sizes of one growing log share the cache (a bundle cites several checkpoints).
            const size = 1 + (q.size % n);
            let index = q.index % size;
            const root = tree.root(size);
            let leaf = hashLeaf(Uint8Array.of(index & 0xff, index >> 8, 7));
            const proof = tree.inclusionProof(index, size).map((h) => new Uint8Array(h));
            let tokens: unknown[] = proof.map(hex);
            let claimedSize = size;
            const j = proof.length > 0 ? q.at % proof.length : 0;
            switch (q.mutation) {
              case 'flip':
                if (proof.length > 0) {
                  const node = proof[j]!;
                  node[q.bit % 32] = node[q.bit % 32]! ^ (1 << (q.bit % 8));
                  tokens[j] = hex(node);
                }
                break;
              case 'swap':
                if (proof.length > 1) {
                  const k = (j + 1) % proof.length;
                  [proof[j], proof[k]] = [proof[k]!, proof[j]!];
                  tokens = proof.map(hex);
                }
                break;
              case 'drop':
                proof.splice(j, 1);
                tokens = proof.map(hex);
                break;
              case 'extra':
                proof.splice(j, 0, new Uint8Array(32).fill(q.bit));
                tokens = proof.map(hex);
                break;
              case 'index':
                index = (index + 1 + (q.at % size)) % (size + 1);
                break;
              case 'leaf':
                leaf = hashLeaf(Uint8Array.of(q.bit, 1, 2, 3));
                break;
              case 'size':
                claimedSize = 1 + ((size + q.at) % n);
                break;
              case 'token':
                tokens[j] = q.bit % 2 ? 'not hex' : 42;
                break;
              case 'upper':
                // The same bytes spelt in capitals: valid, only not a cache hit.
                if (tokens.length > 0) tokens[j] = `0x${(tokens[j] as string).slice(2).toUpperCase()}`;
                break;
            }
            const bytes = tokens.map((t) => decoder().decode(t) ?? new Uint8Array(0));
            const want = outcome(() => verifyInclusion(index, claimedSize, leaf, bytes, root));
            const got = outcome(() => cache.verify(index, claimedSize, leaf, tokens, root));
            expect(got).toEqual(want);
            if (q.mutation === 'none' || q.mutation === 'upper') expect(got).toBeNull();
          }
        },
      ),
      FC,
    );
  });

  it('behavior: a run of neighbouring leaves decodes about two proof nodes each instead of log2(n)', () => {
    const tree = new MemoryMerkleTree();
    const n = 4096;
    for (let i = 0; i < n; i++) tree.appendData(Uint8Array.of(i & 0xff, i >> 8));
    const d = decoder();
    const cache = new InclusionPathCache(d.decode);
    const root = tree.root();
    for (let i = 0; i < n; i++) {
      cache.verify(i, n, hashLeaf(Uint8Array.of(i & 0xff, i >> 8)), tree.inclusionProof(i).map(hex), root);
    }
    // Without the cache: 12 per leaf.
    expect(d.calls / n).toBeLessThan(2.1);
  });

  it('error: a mutated upper node of a proof whose lower path joins a cached one is still refused', () => {
    const tree = new MemoryMerkleTree();
    for (let i = 0; i < 64; i++) tree.appendData(Uint8Array.of(i));
    const cache = new InclusionPathCache(decoder().decode);
    const root = tree.root();
    cache.verify(10, 64, hashLeaf(Uint8Array.of(10)), tree.inclusionProof(10).map(hex), root);
    const tokens = tree.inclusionProof(11).map(hex);
    tokens[5] = hex(new Uint8Array(32).fill(9)); // the root-most node
    expect(outcome(() => cache.verify(11, 64, hashLeaf(Uint8Array.of(11)), tokens, root))).toEqual({
      code: 'bad_inclusion_proof',
      reason: 'the proof does not lead to the given root',
    });
    // The genuine proof of that leaf still verifies afterwards.
    expect(
      outcome(() =>
        cache.verify(11, 64, hashLeaf(Uint8Array.of(11)), tree.inclusionProof(11).map(hex), root),
      ),
    ).toBeNull();
  });
});
