/**
 * @module test/unit/batch-rules
 * One group commit's dedupe and chain rules (io/ingest/batch-rules, PROTOCOL.md §1): real
 * signed frames (FrameChain) queued as the ingest queues them (io/ingest/submission); the
 * store's `neighbours` is given as what it would answer (the function takes only that of the
 * store).
 */

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { sortBatch } from '../../gateway/src/io/ingest/batch-rules.js';
import type { IngestResult } from '../../gateway/src/io/ingest/ingest-options.js';
import { Submission } from '../../gateway/src/io/ingest/submission.js';
import type { GatewayStore } from '../../gateway/src/io/store/index.js';
import { decodeFrame, frameHash, type SafeFrame } from '../../gateway/src/protocol/frame.js';
import { FrameChain } from '../helpers/gateway.js';

/** A queued frame as the ingest makes it (io/ingest/submission), its answers written to `log`. */
function item(bytes: Uint8Array, log: string[], name: string): Submission {
  const frame = decodeFrame(bytes) as SafeFrame;
  return new Submission(
    { frame, hash: frameHash(bytes), via: 'local', transportDev: frame.body.dev, readAt: 0 },
    {
      fulfil: (r) => log.push(`${name}:${r.status === 'duplicate' ? 'dup' : r.status}`),
      fail: () => log.push(`${name}:failed`),
      owner: { settled: () => {}, outcome: () => {} },
    },
  );
}
const accepted = (p: Submission): IngestResult => ({
  status: 'accepted',
  dev: p.frame.body.dev,
  seq: p.frame.body.seq,
  leafIndex: 0,
});
const dup = (p: Submission): IngestResult => ({
  status: 'duplicate',
  dev: p.frame.body.dev,
  seq: p.frame.body.seq,
});
const rejectedAs = (p: Submission, code: string): IngestResult => ({
  status: 'rejected',
  code: code as 'replay_conflict',
  reason: code,
  dev: p.frame.body.dev,
});

const none: Pick<GatewayStore, 'neighbours'> = { neighbours: () => ({}) };

describe('sortBatch', () => {
  test('behavior: a duplicate of a frame earlier in the batch is answered right after that frame, never before', () => {
    const chain = new FrameChain('br-1', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const log: string[] = [];
    const a = chain.next();
    const first = item(a, log, 'first');
    const again = item(a, log, 'again');
    const sorted = sortBatch([first, again], none, {
      duplicate: dup,
      rejected: () => log.push('rejected?'),
    });
    expect(sorted.fresh).toEqual([first]);
    expect(sorted.duplicates).toBe(1);
    expect(log).toEqual([]);
    first.resolve(accepted(first));
    first.resolve(accepted(first)); // answered once: its duplicate too
    expect(log).toEqual(['first:accepted', 'again:dup']);
    // A failed first copy fails its duplicate too.
    const log2: string[] = [];
    const b = chain.next();
    const f2 = item(b, log2, 'first');
    const d2 = item(b, log2, 'again');
    sortBatch([f2, d2], none, { duplicate: dup, rejected: () => {} });
    f2.reject(new Error('store_failed'));
    expect(log2).toEqual(['first:failed', 'again:failed']);
  });

  test('behavior: a duplicate of a stored frame is answered duplicate at once; other bytes for a stored seq are replay_conflict', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const chain = new FrameChain('br-2', key);
    const stored = chain.next();
    const storedHash = frameHash(stored);
    const store: Pick<GatewayStore, 'neighbours'> = {
      neighbours: (_dev, seq) =>
        seq === 1 ? { same: { hash: storedHash } } : seq === 2 ? { before: { hash: storedHash } } : {},
    };
    const other = new FrameChain('br-2', key).next({ ts: 1 }); // seq 1, other bytes
    const next = chain.next(); // seq 2, chained to the stored one
    const log: string[] = [];
    const seen: string[] = [];
    const sorted = sortBatch(
      [item(stored, log, 'same'), item(other, log, 'other'), item(next, log, 'next')],
      store,
      {
        duplicate: (p) => {
          seen.push(`dup ${p.frame.body.seq}`);
          return dup(p);
        },
        rejected: (p, r) => {
          seen.push(`${r.code} ${p.frame.body.seq}`);
          p.resolve(rejectedAs(p, r.code));
        },
      },
    );
    expect(seen).toEqual(['dup 1', 'replay_conflict 1']);
    expect(log).toEqual(['same:dup', 'other:rejected']);
    expect(sorted.fresh.map((p) => p.frame.body.seq)).toEqual([2]);
    expect(sorted.duplicates).toBe(1);
  });

  test('error: a frame whose prev does not match the frame before it in the same batch is rejected (chain_mismatch)', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const chain = new FrameChain('br-3', key);
    const one = chain.next();
    const forged = new FrameChain('br-3', key);
    forged.next({ ts: 5 }); // a different seq 1: its hash is not what `one` hashes to
    const two = forged.next(); // seq 2, chained to the other seq 1
    const seen: string[] = [];
    const sorted = sortBatch([item(one, [], 'one'), item(two, [], 'two')], none, {
      duplicate: (p) => {
        seen.push('dup');
        return dup(p);
      },
      rejected: (_p, r) => seen.push(r.code),
    });
    expect(sorted.fresh.map((p) => p.frame.body.seq)).toEqual([1]);
    expect(seen).toEqual(['chain_mismatch']);
  });
});
