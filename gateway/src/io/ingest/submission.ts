/**
 * @module io/ingest/submission
 * A frame verified and queued for its group commit (io/ingest), and how it is answered:
 * its promise settled once, its outcome told, the frames waiting for a commit counted down.
 * One object a frame with its methods on the prototype, not closures: at full rate a frame
 * waits from its verdict to its commit long enough to outlive the young generation, so what
 * it carries is promoted and left to a full collection (README "What a frame allocates at
 * 5,000 frames/s").
 */
import type { SafeFrame } from '../../protocol/frame.js';
import type { Queued } from './batch-rules.js';
import type { IngestResult, IngressVia } from './ingest-options.js';

/** What the ingest does when a submission is answered. */
export interface SubmissionOwner {
  /** It no longer waits for a commit (answered or failed). */
  settled(): void;
  /** It was answered `r` (the ingest's `outcome` event). */
  outcome(r: IngestResult, s: Submission): void;
}

export class Submission implements Queued<IngestResult> {
  readonly frame: SafeFrame;
  readonly hash: Uint8Array;
  readonly via: IngressVia;
  /** The device the transport named. */
  readonly transportDev: string;
  /** When its bytes were read (`performance.now`, ms). */
  readonly readAt: number;
  readonly #fulfil: (r: IngestResult) => void;
  readonly #fail: (e: unknown) => void;
  readonly #owner: SubmissionOwner;
  #open = true;
  /** Told right after its answer (a copy of it later in the same commit: io/ingest/batch-rules). */
  #followers: ((ok: boolean, err?: unknown) => void)[] | null = null;

  constructor(
    at: { frame: SafeFrame; hash: Uint8Array; via: IngressVia; transportDev: string; readAt: number },
    answer: { fulfil: (r: IngestResult) => void; fail: (e: unknown) => void; owner: SubmissionOwner },
  ) {
    this.frame = at.frame;
    this.hash = at.hash;
    this.via = at.via;
    this.transportDev = at.transportDev;
    this.readAt = at.readAt;
    this.#fulfil = answer.fulfil;
    this.#fail = answer.fail;
    this.#owner = answer.owner;
  }

  /** Answers it (the first answer counts), then its followers. */
  resolve(r: IngestResult): void {
    if (!this.#close()) return;
    this.#owner.outcome(r, this);
    this.#fulfil(r);
    if (this.#followers) for (const next of this.#followers) next(true);
  }

  /** Answers it as not stored (the first answer counts), then its followers. */
  reject(e: unknown): void {
    if (!this.#close()) return;
    this.#fail(e);
    if (this.#followers) for (const next of this.#followers) next(false, e);
  }

  /** `next` is told right after its answer (io/ingest/batch-rules `Queued.follow`). */
  follow(next: (ok: boolean, err?: unknown) => void): void {
    if (this.#followers) this.#followers.push(next);
    else this.#followers = [next];
  }

  #close(): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.#owner.settled();
    return true;
  }
}
