/**
 * @module verify/shreddings
 * The bundle's shredding records (README "Shredding records"; PROTOCOL.md §6: "An entry may
 * be reported as shredded only when the destruction of its data key is itself recorded in
 * the anchored log and the entry lies in that record's window; otherwise it is
 * `malformed`"). Per record, in order (the first failure is its code):
 * 1. its item has the canonical shape and its bytes decode strictly as a record
 *    (gateway/src/protocol/shred-record), every listed leaf below its own  [`malformed`]
 * 2-4. as an entry: a checkpoint of its treeSize, RFC 9162 inclusion of
 *    hashLeaf(record), the checkpoint valid  [`checkpoint_not_anchored`,
 *    `bad_inclusion_proof`, `inconsistent_checkpoints`]
 * 5. the window had aged past the record's retention when the key was destroyed:
 *    `window end + retention <= at`  [`retention_not_met`]
 * A valid record vouches for the leaves it lists: each is of its device, with its seq.
 * Pure.
 */
import { type ErrorGroupCode, meaningsOf } from '../../../gateway/src/protocol/error-codes.js';
import {
  decodeShredRecord,
  meetsRetention,
  type ShredRecord,
  ShredRecordError,
} from '../../../gateway/src/protocol/shred-record.js';
import { hashLeaf } from '../log/index.js';
import type { DisclosureShreddingItem } from './bundle.js';

/** The verdicts of one shredding record (the registry's `shredding` group). */
export const SHREDDING_CODES = meaningsOf('shredding');
export type ShreddingCode = ErrorGroupCode<'shredding'>;

export interface ShreddingResult {
  /** Position in `bundle.shreddings`. */
  index: number;
  leafIndex: number;
  /** What the record says, once it decodes. */
  dev?: string;
  window?: { start: number; end: number };
  retentionMs?: number;
  at?: number;
  /** Leaves the record lists. */
  frames?: number;
  code: ShreddingCode;
  reason?: string;
}

/** A leaf a valid record vouches for. */
export interface ShreddedLeaf {
  dev: string;
  seq: number;
  /** The record's position in `bundle.shreddings`. */
  record: number;
}

type Proof = (
  item: { leafIndex: number; treeSize: number; proof: readonly string[] },
  leaf: Uint8Array,
) => { code: ShreddingCode; reason?: string } | undefined;

function base64Bytes(s: string): Uint8Array {
  const b = Buffer.from(s, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Checks every shredding record of a bundle.
 * @param checkProof - the entries' steps 5-7 (inclusion in a valid cited checkpoint).
 * @returns one result per item, and the leaves that valid records vouch for.
 */
export function checkShreddings(
  items: readonly DisclosureShreddingItem[],
  checkProof: Proof,
): { results: ShreddingResult[]; covered: Map<number, ShreddedLeaf> } {
  const covered = new Map<number, ShreddedLeaf>();
  const results = items.map((item, index): ShreddingResult => {
    const result: ShreddingResult = { index, leafIndex: item.leafIndex, code: 'malformed' };
    if (typeof item.malformed === 'string') return { ...result, reason: item.malformed };
    const bytes = base64Bytes(item.record);
    let record: ShredRecord;
    try {
      record = decodeShredRecord(bytes);
    } catch (err) {
      return {
        ...result,
        reason: err instanceof ShredRecordError ? err.reason : 'the record does not decode',
      };
    }
    Object.assign(result, {
      dev: record.dev,
      window: record.window,
      retentionMs: record.retentionMs,
      at: record.at,
      frames: record.leaves.length,
    });
    if ((record.leaves.at(-1) ?? -1) >= item.leafIndex)
      return { ...result, reason: 'the record lists a leaf at or after its own position in the log' };
    const proof = checkProof(item, hashLeaf(bytes));
    if (proof) return { ...result, ...proof };
    if (!meetsRetention(record))
      return {
        ...result,
        code: 'retention_not_met',
        reason: "the key was destroyed before its window had aged past the record's retention",
      };
    record.leaves.forEach((leaf, i) => {
      covered.set(leaf, { dev: record.dev, seq: record.seqs[i]!, record: index });
    });
    result.code = 'valid';
    return result;
  });
  return { results, covered };
}
