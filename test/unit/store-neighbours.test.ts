/**
 * @module test/unit/store-neighbours
 * `GatewayStore.neighbours` (issue 14): the chain rules' view of a frame's stored neighbours
 * answers from each device's tail in memory for frames past it, and from SQL otherwise; it
 * must say exactly what three `getFrame` lookups say, before and after commits, a failed
 * commit and a reopen.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir> | undefined;
afterEach(() => {
  tmp?.cleanup();
  tmp = undefined;
});

const h = (dev: string, seq: number) => {
  const b = new Uint8Array(32);
  b[0] = seq & 0xff;
  b[1] = dev.length;
  b[2] = 0xa5;
  return b;
};

function commit(store: GatewayStore, dev: string, seqs: number[]): void {
  store.commitBatch({
    id: store.nextBatchId(),
    envelope: 'test',
    createdAt: 1,
    frames: seqs.map((seq) => ({
      dev,
      seq,
      hash: h(dev, seq),
      prev: h(dev, seq - 1),
      ts: seq,
      leafHash: h('leaf', seq),
    })),
  });
}

/** What three SQL lookups say. */
function bySql(store: GatewayStore, dev: string, seq: number) {
  const same = store.getFrame(dev, seq);
  const before = store.getFrame(dev, seq - 1);
  const after = store.getFrame(dev, seq + 1);
  return {
    same: same ? Buffer.from(same.hash).toString('hex') : null,
    before: before ? Buffer.from(before.hash).toString('hex') : null,
    after: after ? Buffer.from(after.prev).toString('hex') : null,
  };
}

function byCache(store: GatewayStore, dev: string, seq: number) {
  const n = store.neighbours(dev, seq);
  return {
    same: n.same ? Buffer.from(n.same.hash).toString('hex') : null,
    before: n.before ? Buffer.from(n.before.hash).toString('hex') : null,
    after: n.after ? Buffer.from(n.after.prev).toString('hex') : null,
  };
}

function expectAgree(store: GatewayStore, dev: string, upTo: number): void {
  for (let seq = 1; seq <= upTo; seq += 1)
    expect(byCache(store, dev, seq), `${dev} seq ${seq}`).toEqual(bySql(store, dev, seq));
}

describe('GatewayStore.neighbours', () => {
  it('behavior: agrees with the SQL lookups through commits with gaps, a failed commit and a reopen', () => {
    tmp = makeTempDir('vt-neigh-');
    const path = join(tmp.dir, 'gw.db');
    let store = openStore(path);
    expectAgree(store, 'wr-a', 4); // nothing stored: the tail is "none"
    commit(store, 'wr-a', [1, 2]);
    expectAgree(store, 'wr-a', 5);
    commit(store, 'wr-a', [5]); // a gap: 3 and 4 missing
    expectAgree(store, 'wr-a', 8);
    commit(store, 'wr-a', [3]); // filled in below the tail
    expectAgree(store, 'wr-a', 8);
    // A failed commit (the same seq again violates the primary key) moves no tail.
    expect(() => commit(store, 'wr-a', [6, 6])).toThrow();
    expectAgree(store, 'wr-a', 8);
    expect(store.neighbours('wr-a', 6)).toEqual({ before: { hash: h('wr-a', 5) } });
    // Another device's frames do not move this one's tail.
    commit(store, 'wr-bb', [1]);
    expectAgree(store, 'wr-a', 8);
    expectAgree(store, 'wr-bb', 3);
    store.close();
    store = openStore(path);
    expectAgree(store, 'wr-a', 8);
    expectAgree(store, 'wr-bb', 3);
    store.close();
  });
});
