/**
 * @module io/outbound/bundle-json
 * The JSON shapes of a disclosure bundle as the gateway writes it (PROTOCOL.md §5, with the
 * shredded-entry and shredding-record extensions of README "Shredding records"); the
 * auditor's side reads them in anchor/src/verify/bundle. Types only.
 */

/** The JSON document of PROTOCOL.md §5 (with the shredded-entry extension). */
export interface DisclosureBundleJson {
  format: 'vitaltrail-disclosure/1';
  chain: { chainId: number; contract: string };
  log: { origin: string; logId: string };
  kgc: { root: string; intermediates: string[] };
  devices: { dev: string; cert: string }[];
  checkpoints: { treeSize: number; rootHash: string; txHash: string; blockNumber: number; note?: string }[];
  consistency: { from: number; to: number; proof: string[] }[];
  /** Shredding records covering the shredded entries (absent when there is none). */
  shreddings?: ShreddingJson[];
  entries: EntryJson[];
}

/** A shredding record of the log, proven like an entry (README "Shredding records"). */
export interface ShreddingJson {
  leafIndex: number;
  treeSize: number;
  /** Standard base64 of the record's bytes (protocol/shred-record). */
  record: string;
  proof: string[];
}

/** Which end of the range a boundary frame proves (README "Completeness"). */
export type BoundaryJson = 'before' | 'after';

export type EntryJson =
  | { leafIndex: number; treeSize: number; frame: string; proof: string[]; boundary?: BoundaryJson }
  | {
      leafIndex: number;
      treeSize: number;
      leafHash: string;
      shredded: true;
      proof: string[];
      boundary?: BoundaryJson;
    };
