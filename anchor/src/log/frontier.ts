/**
 * @module log/frontier
 * The right edge of an append-only RFC 9162 tree: the last complete perfect node at each
 * level. That is exactly what `nodesForAppend` reads (the left sibling of each parent a new
 * leaf completes: when leaf `size` completes node (l, i), its sibling (l, i - 1) is the last
 * node completed at level l), so a store that keeps its log's frontier in memory reads no
 * node back while it appends. Any other node, or one the frontier does not hold yet (after
 * a reopen), comes from the store's own reader. Pure: no I/O of its own.
 *
 * A transaction rolled back after `remember` needs no undo: a node is read only as the
 * left sibling of the next node of its level, and that one can only be completed after the
 * rolled-back leaves are appended again, which writes (and remembers) the node anew. Until
 * then the frontier holds an index no append asks for.
 */
import type { MerkleNode, MerkleNodeReader } from './tree.js';

/**
 * @example
 * const frontier = new LogFrontier(store);
 * const nodes = nodesForAppend(store.size, leafHash, frontier);
 * for (const n of nodes) insert.run(n.level, n.index, n.hash);
 * frontier.remember(nodes);
 */
export class LogFrontier implements MerkleNodeReader {
  readonly #fallback: MerkleNodeReader;
  /** By level: the last node this frontier saw written there. */
  readonly #edge: (MerkleNode | undefined)[] = [];

  /** `fallback` answers every node the frontier does not hold (the store it sits on). */
  constructor(fallback: MerkleNodeReader) {
    this.#fallback = fallback;
  }

  getNode(level: number, index: number): Uint8Array {
    const n = this.#edge[level];
    return n !== undefined && n.index === index ? n.hash : this.#fallback.getNode(level, index);
  }

  /** Takes the nodes of an append (`nodesForAppend`'s answer), once they are written. */
  remember(nodes: readonly MerkleNode[]): void {
    for (const n of nodes) this.#edge[n.level] = n;
  }
}
