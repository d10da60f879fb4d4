/**
 * @module test/unit/data-key-ring
 * `DataKeyRing.takeAll` (issue 14): the new data keys of one commit are made together and
 * recorded in one transaction before any is used; a failure to record them leaves no key
 * in use that the store does not hold (the next call makes fresh ones). The fault is a
 * real SQLite one: a temporary trigger that aborts inserts into `data_keys`, as a full
 * disk or a read-only file would.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataKeyRing, SealedError } from '../../gateway/src/io/store/sealed.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { recipientPair } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir> | undefined;
afterEach(() => {
  tmp?.cleanup();
  tmp = undefined;
});

const HOUR = 3_600_000;

describe('DataKeyRing.takeAll', () => {
  it('behavior: one key per device and window, all recorded before use; a failed record leaves none in use', async () => {
    tmp = makeTempDir('vt-ring-');
    const store = openStore(join(tmp.dir, 'gw.db'));
    const { recipient } = recipientPair('care', 'ec');
    const ring = new DataKeyRing(store, [recipient]);
    const keyRows = () =>
      store.db.prepare('SELECT id, dev FROM data_keys ORDER BY id').all() as { id: number; dev: string }[];
    const now = 10 * HOUR + 5;

    const devs = ['wr-a', 'wr-b', 'wr-a', 'wr-c', 'wr-b'];
    const first = await ring.takeAll(devs, now);
    expect(first.map((k) => k.id)).toEqual([1, 2, 1, 3, 2]);
    expect(keyRows()).toEqual([
      { id: 1, dev: 'wr-a' },
      { id: 2, dev: 'wr-b' },
      { id: 3, dev: 'wr-c' },
    ]);
    // Same window: the open keys are reused, nothing new recorded.
    expect((await ring.takeAll(['wr-c', 'wr-a'], now + 1)).map((k) => k.id)).toEqual([3, 1]);
    expect(keyRows()).toHaveLength(3);

    // The next window, with inserts into data_keys failing: nothing is handed out.
    store.db.exec(
      "CREATE TEMP TRIGGER vt_fail BEFORE INSERT ON data_keys BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END",
    );
    const err = await ring.takeAll(['wr-a', 'wr-d'], now + HOUR).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SealedError);
    expect((err as SealedError).code).toBe('store_failed');
    expect(keyRows()).toHaveLength(3); // all or nothing: not even wr-a's
    // Healed: fresh keys, recorded, never the ones that failed to be recorded.
    store.db.exec('DROP TRIGGER vt_fail');
    const after = await ring.takeAll(['wr-a', 'wr-d'], now + HOUR);
    const rows = keyRows();
    expect(rows).toHaveLength(5);
    for (const k of after) expect(rows.some((r) => r.id === k.id)).toBe(true);
    expect(new Set(after.map((k) => k.id)).size).toBe(2);
    store.close();
  });
});
