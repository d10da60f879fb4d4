/**
 * @module test/unit/consent-book-refresh
 * The consent book's copy after `refresh()` holds everything written on the chain before the
 * call, even while a read begun earlier (the periodic one) is still under way: the grant route
 * refreshes after its transaction so that the patient's list shows the new consent at once.
 * The chain read is a stand-in whose answers the test releases (named as such): a read that
 * is slow exactly while a grant lands cannot be timed on a real chain.
 */
import { describe, expect, it } from 'vitest';
import type { ConsentRecord } from '../../anchor/src/consent/index.js';
import { ConsentBook, type ConsentSource } from '../../gateway/src/io/care/index.js';

const record = (n: number): ConsentRecord =>
  ({
    id: `0x${String(n).padStart(64, '0')}`,
    patient: '0x00000000000000000000000000000000000000aa',
    doctor: '0x00000000000000000000000000000000000000bb',
    scope: 1,
    dataFrom: 0n,
    dataUntil: 0n,
    validFrom: 0n,
    validUntil: 10n ** 15n,
    purpose: 'follow-up',
    nonce: BigInt(n),
    grantedAt: 0,
    grantedBlock: n,
    revokedAt: null,
    revokedBlock: null,
  }) as ConsentRecord;

/** Stand-in for the chain (see the module): each read answers what the chain holds when it began, once released. */
function slowChain() {
  let onChain: ConsentRecord[] = [];
  const pending: (() => void)[] = [];
  let reads = 0;
  const source: ConsentSource = {
    consentsOf: () => {
      reads++;
      const snapshot = [...onChain];
      return new Promise((resolve) => pending.push(() => resolve(snapshot)));
    },
    consent: async () => null,
    clinician: async () => null,
  };
  return {
    source,
    write: (r: ConsentRecord) => {
      onChain = [...onChain, r];
    },
    /** Answers the oldest read under way. */
    release: async () => {
      pending.shift()?.();
      await new Promise((r) => setImmediate(r));
    },
    reads: () => reads,
    waiting: () => pending.length,
  };
}

describe('ConsentBook.refresh', () => {
  it('behavior: a refresh during a read begun before a grant reads again after it, and its copy holds the grant', async () => {
    const chain = slowChain();
    const opening = ConsentBook.open({ source: chain.source, refreshMs: 3_600_000 });
    await chain.release();
    const book = await opening;
    expect(book.records()).toEqual([]);

    // The periodic read begins; the grant lands on the chain; the route refreshes.
    const periodic = book.refresh();
    chain.write(record(1));
    let refreshed = false;
    const afterGrant = book.refresh().then(() => {
      refreshed = true;
    });
    const another = book.refresh(); // a second caller meanwhile shares the read that follows
    await chain.release(); // the periodic read answers: it began before the grant
    await periodic;
    expect(book.records()).toEqual([]);
    expect(refreshed).toBe(false);
    expect(chain.reads()).toBe(3); // the first, the periodic one, and one more: not one per caller
    await chain.release();
    await afterGrant;
    await another;
    expect(book.records().map((r) => r.nonce)).toEqual([1n]);
    expect(chain.waiting()).toBe(0);
    book.close();
  });

  it('behavior: with no read under way a refresh reads at once, and calls in the same moment share it', async () => {
    const chain = slowChain();
    const opening = ConsentBook.open({ source: chain.source, refreshMs: 3_600_000 });
    await chain.release();
    const book = await opening;
    chain.write(record(2));
    const a = book.refresh();
    expect(chain.reads()).toBe(2);
    await chain.release();
    await a;
    expect(book.records().map((r) => r.nonce)).toEqual([2n]);
    book.close();
  });
});
