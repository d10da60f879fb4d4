/**
 * @module io/ingest/batch-rules
 * The dedupe and hash-chain rules (PROTOCOL.md §1, core/acceptance `classifyAgainstLog`)
 * applied to one group commit's frames, against the store and within the batch. Only the
 * ingest's flusher writes frames, so what is read here is what its commit will see.
 * A duplicate of a frame earlier in the same batch is answered only after that frame's
 * own answer (so its ack still means durable); one of a stored frame and every rejection
 * go to the caller.
 */
import { classifyAgainstLog, type Rejection } from '../../core/acceptance.js';
import type { SafeFrame } from '../../protocol/frame.js';
import type { GatewayStore } from '../store/index.js';

/** A verified frame waiting for its commit, and how it is answered. */
export interface Queued<R> {
  frame: SafeFrame;
  hash: Uint8Array;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** What the caller does with the frames that are not new. */
export interface BatchAnswers<P> {
  /** Identical bytes to a stored frame (it may still wait for its sync). */
  duplicateOfStored: (p: P) => void;
  rejected: (p: P, rejection: Rejection) => void;
}

/**
 * Sorts `take` (in queue order) into the frames to commit, in order; the others go to
 * `answers` or, for a duplicate within the batch, after the first copy (`duplicate` is the
 * answer it then gets).
 * @returns the new frames and how many were duplicates.
 */
export function sortBatch<R, P extends Queued<R>>(
  take: readonly P[],
  store: Pick<GatewayStore, 'neighbours'>,
  answers: BatchAnswers<P>,
  duplicate: (p: P) => R,
): { fresh: P[]; duplicates: number } {
  const fresh: P[] = [];
  let duplicates = 0;
  const inBatch = new Map<string, P>();
  for (const p of take) {
    const { dev, seq } = p.frame.body;
    const key = (s: number) => `${dev}\u0000${s}`;
    const stored = store.neighbours(dev, seq);
    const same = inBatch.get(key(seq)) ?? stored.same;
    const before = inBatch.get(key(seq - 1)) ?? stored.before;
    const after = inBatch.get(key(seq + 1)) ?? stored.after;
    const v = classifyAgainstLog(p.frame, p.hash, {
      ...(same ? { same: { hash: same.hash } } : {}),
      ...(before ? { before: { hash: before.hash } } : {}),
      ...(after ? { after: { prev: 'frame' in after ? after.frame.body.prev : after.prev } } : {}),
    });
    if (v.kind === 'new') {
      fresh.push(p);
      inBatch.set(key(seq), p);
    } else if (v.kind === 'duplicate') {
      duplicates += 1;
      const first = inBatch.get(key(seq));
      if (first) {
        const orig = first.resolve;
        first.resolve = (r) => {
          orig(r);
          p.resolve(duplicate(p));
        };
        const origRej = first.reject;
        first.reject = (e) => {
          origRej(e);
          p.reject(e);
        };
      } else {
        answers.duplicateOfStored(p);
      }
    } else {
      answers.rejected(p, v.rejection);
    }
  }
  return { fresh, duplicates };
}
