/**
 * @module log/path-cache
 * Inclusion proofs of many leaves of one tree, verified without re-hashing the paths they
 * share. Leaves that are neighbours in the log share all of their audit path above their
 * lowest common ancestor, so a bundle of n consecutive leaves costs about 2n node hashes
 * instead of n·log2(treeSize) (issue 6: verification within 85 % of the bare signature
 * rate).
 *
 * The result is exactly that of `verifyInclusion` (no assumption on the hash function):
 * the cache remembers, per tree (size and root), the states of the RFC 9162 §2.1.3.2 loop
 * (`fn`, `sn`, `r`, the remaining proof) of the last proof that verified. When a new proof
 * reaches a remembered state with the same `fn` after the same number of shifts (hence the
 * same `sn`), the same `r` and the same remaining proof (compared token by token), the rest
 * of its loop is the remembered one, which ended at the root. In every other case, and on
 * any failure, the proof is verified from scratch by `verifyInclusion`, so failures carry
 * its reasons.
 *
 * Memory: one state per level (64) per tree (size, root) seen. Proof tokens are kept by
 * reference. Synchronous, not shared between threads.
 */
import { bytesEqual, HASH_SIZE, hashChildren } from './hash.js';
import { verifyInclusion } from './proof.js';

/** Levels of a tree of up to 2^53 leaves, with room to spare. */
const LEVELS = 64;
const NO_BYTES = new Uint8Array(0);
const NO_PROOF: readonly unknown[] = [];

/**
 * Iteration starts of the RFC 9162 loop, by the number of shifts `h` before them: the
 * node position `fn` (-1: none), its hash `r`, the proof and the index `k` of the sibling
 * it was hashed with, and that sibling decoded. Fixed arrays of fields rather than objects:
 * the verifier visits a few levels per entry and should not allocate for each.
 */
class PathStates {
  readonly fn = new Float64Array(LEVELS).fill(-1);
  readonly r: Uint8Array[] = new Array<Uint8Array>(LEVELS).fill(NO_BYTES);
  readonly proof: (readonly unknown[])[] = new Array<readonly unknown[]>(LEVELS).fill(NO_PROOF);
  readonly k = new Float64Array(LEVELS);
  readonly sib: Uint8Array[] = new Array<Uint8Array>(LEVELS).fill(NO_BYTES);

  set(h: number, fn: number, r: Uint8Array, proof: readonly unknown[], k: number, sib: Uint8Array): void {
    this.fn[h] = fn;
    this.r[h] = r;
    this.proof[h] = proof;
    this.k[h] = k;
    this.sib[h] = sib;
  }

  /** Copies the levels of `from` listed in `levels[0, count)` whose level is below `top`. */
  take(from: PathStates, levels: Int32Array, count: number, top: number): void {
    for (let i = 0; i < count; i++) {
      const h = levels[i]!;
      if (h < top) this.set(h, from.fn[h]!, from.r[h]!, from.proof[h]!, from.k[h]!, from.sib[h]!);
    }
  }
}

export class InclusionPathCache {
  readonly #decode: (token: unknown) => Uint8Array | undefined;
  /** tree size → (root, states of verified paths to it, the newest per level); one root per size in a sound bundle. */
  readonly #paths = new Map<number, { root: Uint8Array; states: PathStates }[]>();
  /** The states of the proof being checked, and their levels (reused: verification is synchronous). */
  readonly #fresh = new PathStates();
  readonly #freshLevels = new Int32Array(LEVELS);
  #freshCount = 0;
  /** The tree asked for last: a bundle's entries cite few checkpoints, in runs. */
  #last: { size: number; root: Uint8Array; states: PathStates } | undefined;

  /**
   * @param decode - turns one proof token (e.g. a bundle's hex string) into its 32 bytes,
   *   or `undefined` when it is not one. Tokens are compared with `===` on cache hits, so
   *   two spellings of one hash only cost a recomputation.
   */
  constructor(decode: (token: unknown) => Uint8Array | undefined) {
    this.#decode = decode;
  }

  /**
   * Verifies that `leafHash` is leaf `index` of the tree of `size` with `root`.
   * @throws {MerkleError} `bad_inclusion_proof`, as `verifyInclusion` would.
   * @throws {TypeError} on arguments of the wrong type, as `verifyInclusion` would.
   */
  verify(
    index: number,
    size: number,
    leafHash: Uint8Array,
    proof: readonly unknown[],
    root: Uint8Array,
  ): void {
    if (this.#fast(index, size, leafHash, proof, root)) return;
    verifyInclusion(
      index,
      size,
      leafHash,
      proof.map((t) => this.#decode(t) ?? new Uint8Array(0)),
      root,
    );
  }

  /** The RFC 9162 §2.1.3.2 loop, stopping where it joins a remembered path. false: not proven here. */
  #fast(index: number, size: number, leaf: Uint8Array, proof: readonly unknown[], root: Uint8Array): boolean {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
      return false;
    if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_SIZE || !Array.isArray(proof)) return false;
    if (proof.length >= LEVELS) return false;
    const known = this.#statesOf(size, root);
    const fresh = this.#fresh;
    this.#freshCount = 0;
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    let h = 0;
    for (let k = 0; k < proof.length; k++) {
      if (sn === 0 || h >= LEVELS) return false;
      const kfn = known === undefined ? -1 : known.fn[h]!;
      // The same node as on a remembered path: the rest of the loop is that path's.
      if (kfn === fn) return bytesEqual(r, known!.r[h]!) && this.#joins(known!, h, 0, proof, k, h);
      const p = this.#decode(proof[k]);
      if (p === undefined || p.length !== HASH_SIZE) return false;
      fresh.set(h, fn, r, proof, k, p);
      this.#freshLevels[this.#freshCount++] = h;
      // Its sibling, the two hashed together (no right-border climb on either side): each is
      // the other's proof node, so their parent, the next state, is the remembered path's.
      if (
        kfn >= 0 &&
        (fn % 2 === 1 || fn !== sn) &&
        kfn === (fn % 2 === 1 ? fn - 1 : fn + 1) &&
        bytesEqual(r, known!.sib[h]!) &&
        bytesEqual(p, known!.r[h]!) &&
        this.#joins(known!, h, 1, proof, k + 1, h + 1)
      ) {
        return true;
      }
      if (fn % 2 === 1 || fn === sn) {
        r = hashChildren(p, r);
        // The right border: climb while this node has no right sibling.
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
          h++;
        }
      } else {
        r = hashChildren(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
      h++;
    }
    if (sn !== 0 || !bytesEqual(r, root)) return false;
    let path = known;
    if (path === undefined) {
      path = new PathStates();
      const roots = this.#paths.get(size);
      const entry = { root: Uint8Array.from(root), states: path };
      if (roots) roots.push(entry);
      else this.#paths.set(size, [entry]);
    }
    path.take(fresh, this.#freshLevels, this.#freshCount, LEVELS);
    return true;
  }

  /** The remembered states of the tree of `size` and `root` (the last one asked for first). */
  #statesOf(size: number, root: Uint8Array): PathStates | undefined {
    const last = this.#last;
    if (last !== undefined && last.size === size && bytesEqual(last.root, root)) return last.states;
    const tree = this.#paths.get(size)?.find((p) => bytesEqual(p.root, root));
    if (tree !== undefined) this.#last = { size, ...tree };
    return tree?.states;
  }

  /**
   * Whether `proof` from `k` on is the remembered path's proof from its level-`h` sibling
   * (`skip` 1: from the one after it). If so, the fresh states below `top` are remembered.
   */
  #joins(
    known: PathStates,
    h: number,
    skip: number,
    proof: readonly unknown[],
    k: number,
    top: number,
  ): boolean {
    const theirs = known.proof[h]!;
    const from = known.k[h]! + skip;
    const rest = proof.length - k;
    if (rest !== theirs.length - from) return false;
    for (let j = 0; j < rest; j++) if (proof[k + j] !== theirs[from + j]) return false;
    // Every state of a verified path stays true for this tree; keep the newest below the
    // join, for the next neighbour.
    known.take(this.#fresh, this.#freshLevels, this.#freshCount, top);
    return true;
  }
}
