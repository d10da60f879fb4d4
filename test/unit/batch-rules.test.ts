/**
 * @module test/unit/batch-rules
 * One group commit's dedupe and chain rules (io/ingest/batch-rules, PROTOCOL.md §1): real
 * signed frames (FrameChain); the store's `neighbours` is given as what it would answer
 * (the function takes only that of the store).
 */

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { sortBatch } from '../../gateway/src/io/ingest/batch-rules.js';
import type { GatewayStore } from '../../gateway/src/io/store/index.js';
import { decodeFrame, frameHash, type SafeFrame } from '../../gateway/src/protocol/frame.js';
import { FrameChain } from '../helpers/gateway.js';

type Answer = string;
interface Item {
  frame: SafeFrame;
  hash: Uint8Array;
  resolve: (r: Answer) => void;
  reject: (e: unknown) => void;
}

function item(bytes: Uint8Array, log: string[], name: string): Item {
  return {
    frame: decodeFrame(bytes) as SafeFrame,
    hash: frameHash(bytes),
    resolve: (r) => log.push(`${name}:${r}`),
    reject: () => log.push(`${name}:failed`),
  };
}

const none: Pick<GatewayStore, 'neighbours'> = { neighbours: () => ({}) };

describe('sortBatch', () => {
  test('behavior: a duplicate of a frame earlier in the batch is answered right after that frame, never before', () => {
    const chain = new FrameChain('br-1', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const log: string[] = [];
    const a = chain.next();
    const first = item(a, log, 'first');
    const again = item(a, log, 'again');
    const sorted = sortBatch([first, again], none, {
      duplicate: () => 'dup',
      rejected: () => log.push('rejected?'),
    });
    expect(sorted.fresh).toEqual([first]);
    expect(sorted.duplicates).toBe(1);
    expect(log).toEqual([]);
    first.resolve('accepted');
    expect(log).toEqual(['first:accepted', 'again:dup']);
    // A failed first copy fails its duplicate too.
    const log2: string[] = [];
    const b = chain.next();
    const f2 = item(b, log2, 'first');
    const d2 = item(b, log2, 'again');
    sortBatch([f2, d2], none, { duplicate: () => 'dup', rejected: () => {} });
    f2.reject(new Error('store_failed'));
    expect(log2).toEqual(['first:failed', 'again:failed']);
  });

  test('behavior: a first copy that answers by its own methods (io/ingest/submission) still answers, and its duplicate after it', () => {
    class Queued {
      readonly hash: Uint8Array;
      readonly frame: SafeFrame;
      readonly #log: string[];
      readonly #name: string;
      constructor(bytes: Uint8Array, log: string[], name: string) {
        this.frame = decodeFrame(bytes) as SafeFrame;
        this.hash = frameHash(bytes);
        this.#log = log;
        this.#name = name;
      }
      resolve(r: Answer): void {
        this.#log.push(`${this.#name}:${r}`);
      }
      reject(): void {
        this.#log.push(`${this.#name}:failed`);
      }
    }
    const chain = new FrameChain('br-m', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const a = chain.next();
    const log: string[] = [];
    const first = new Queued(a, log, 'first');
    sortBatch([first, new Queued(a, log, 'again')], none, { duplicate: () => 'dup', rejected: () => {} });
    first.resolve('accepted');
    expect(log).toEqual(['first:accepted', 'again:dup']);
    const b = chain.next();
    const log2: string[] = [];
    const f2 = new Queued(b, log2, 'first');
    sortBatch([f2, new Queued(b, log2, 'again')], none, { duplicate: () => 'dup', rejected: () => {} });
    f2.reject();
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
          return 'dup';
        },
        rejected: (p, r) => seen.push(`${r.code} ${p.frame.body.seq}`),
      },
    );
    expect(seen).toEqual(['dup 1', 'replay_conflict 1']);
    expect(log).toEqual(['same:dup']);
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
      duplicate: () => {
        seen.push('dup');
        return 'dup';
      },
      rejected: (_p, r) => seen.push(r.code),
    });
    expect(sorted.fresh.map((p) => p.frame.body.seq)).toEqual([1]);
    expect(seen).toEqual(['chain_mismatch']);
  });
});
