/**
 * @module io/ingest/batch-rules
 * The dedupe and hash-chain rules (PROTOCOL.md §1, core/acceptance `classifyAgainstLog`)
 * applied to one group commit's frames, against the store and within the batch. Only the
 * ingest's flusher writes frames, so what is read here is what its commit will see.
 * A duplicate (the same bytes again) is answered `duplicate`: at once when the first copy
 * is stored, right after the first copy's own answer when it is earlier in this batch (so
 * its ack still means durable). Rejections go to the caller.
 */
import { type ChainContext, classifyAgainstLog, type Rejection } from '../../core/acceptance.js';
import type { SafeFrame } from '../../protocol/frame.js';
import type { GatewayStore } from '../store/index.js';

/** A verified frame waiting for its commit, and how it is answered. */
export interface Queued<R> {
  readonly frame: SafeFrame;
  readonly hash: Uint8Array;
  resolve(r: R): void;
  reject(e: unknown): void;
  /**
   * Calls `next` right after this frame's own answer (before it, nothing): `ok` after
   * `resolve`, else with what `reject` was given. Asked before it is answered.
   */
  follow(next: (ok: boolean, err?: unknown) => void): void;
}

/** What a queued frame is answered with. */
type AnswerOf<P extends Queued<never>> = Parameters<P['resolve']>[0];

/** How the caller answers the frames that are not new. */
export interface BatchAnswers<P extends Queued<never>> {
  /** The answer of a duplicate. */
  duplicate: (p: P) => AnswerOf<P>;
  /** Answers a frame the rules reject. */
  rejected: (p: P, rejection: Rejection) => void;
}

/**
 * Sorts `take` (in queue order) into the frames to commit, in order, and answers the
 * duplicates (now or after their first copy) and, through `answers`, the rejected.
 * @returns the new frames and how many were duplicates.
 */
export function sortBatch<P extends Queued<never>>(
  take: readonly P[],
  store: Pick<GatewayStore, 'neighbours'>,
  answers: BatchAnswers<P>,
): { fresh: P[]; duplicates: number } {
  const fresh: P[] = [];
  let duplicates = 0;
  // This batch's new frames by device, then seq (no key string made per frame).
  const inBatch = new Map<string, Map<number, P>>();
  for (const p of take) {
    const { dev, seq } = p.frame.body;
    let mine = inBatch.get(dev);
    const stored = store.neighbours(dev, seq);
    const same = mine?.get(seq) ?? stored.same;
    const before = mine?.get(seq - 1) ?? stored.before;
    const after = mine?.get(seq + 1) ?? stored.after;
    const chain: ChainContext = {};
    if (same) chain.same = same;
    if (before) chain.before = before;
    if (after) chain.after = { prev: 'frame' in after ? after.frame.body.prev : after.prev };
    const v = classifyAgainstLog(p.frame, p.hash, chain);
    if (v.kind === 'new') {
      fresh.push(p);
      if (!mine) {
        mine = new Map();
        inBatch.set(dev, mine);
      }
      mine.set(seq, p);
    } else if (v.kind === 'duplicate') {
      duplicates += 1;
      const first = mine?.get(seq);
      if (first) {
        // Its answer follows the first copy's: durable once that one is, failed if it fails.
        first.follow((ok, err) => (ok ? p.resolve(answers.duplicate(p)) : p.reject(err)));
      } else {
        p.resolve(answers.duplicate(p));
      }
    } else {
      answers.rejected(p, v.rejection);
    }
  }
  return { fresh, duplicates };
}
