/**
 * @module io/store/scale-out
 * Counting frames across several gateways (ARCHITECTURE.md "Scale-out"): each gateway
 * keeps its own store and log; after a failover the broker may redeliver a frame that
 * the failed gateway had already stored, so it sits in two logs with identical bytes.
 * Queries count an identical `(dev, seq)` once. Two different frame hashes for one
 * `(dev, seq)` across gateways are a `replay_conflict` seen only at this level: the
 * device (or its key) signed two different frames with one seq.
 *
 * Opens every store read-only; safe while the gateways run (SQLite WAL readers).
 */
import { readFrameKeys } from './store.js';

export interface GatewayFrameCount {
  /** The store file as given. */
  db: string;
  frames: number;
}

export interface CrossGatewayCount {
  perGateway: GatewayFrameCount[];
  /** Distinct `(dev, seq)` over every store: what queries and exports count. */
  distinct: number;
  /** Copies beyond the first of an identical frame (same dev, seq and hash). */
  duplicates: number;
  /** `(dev, seq)` pairs stored with different hashes by different gateways. */
  conflicts: number;
  /** Distinct frames per device. */
  perDevice: Map<string, Set<number>>;
}

/**
 * Unions the frame index of several gateway stores on `(dev, seq)`.
 * @throws {Error} when a store cannot be opened (better-sqlite3's error, e.g. missing file)
 * @example
 * const c = countAcrossGateways(['a/gateway/gateway.db', 'b/gateway/gateway.db']);
 * console.log(c.distinct, c.duplicates);
 */
export function countAcrossGateways(dbPaths: readonly string[]): CrossGatewayCount {
  const seen = new Map<string, string>();
  const perGateway: GatewayFrameCount[] = [];
  const perDevice = new Map<string, Set<number>>();
  let duplicates = 0;
  let conflicts = 0;
  for (const path of dbPaths) {
    let frames = 0;
    for (const r of readFrameKeys(path)) {
      frames += 1;
      const key = `${r.dev}\u0000${r.seq}`;
      const hash = r.hash.toString('hex');
      const prior = seen.get(key);
      if (prior === undefined) {
        seen.set(key, hash);
        const set = perDevice.get(r.dev) ?? new Set<number>();
        perDevice.set(r.dev, set.add(r.seq));
      } else if (prior === hash) duplicates += 1;
      else conflicts += 1;
    }
    perGateway.push({ db: path, frames });
  }
  return { perGateway, distinct: seen.size, duplicates, conflicts, perDevice };
}
