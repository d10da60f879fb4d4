/**
 * @module test/unit/data-key-ring
 * `DataKeyRing.takeAll` (issue 14): the new data keys of one commit are made together and
 * recorded in one transaction before any is used; a failure to record them leaves no key
 * in use that the store does not hold (the next call makes fresh ones); keys asked for twice
 * at once are made once, and a key made ahead (`prepareAhead`) is used in its own window
 * only (io/data-keys/ring). The fault is a
 * real SQLite one: a temporary trigger that aborts inserts into `data_keys`, as a full
 * disk or a read-only file would.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataKeyRing } from '../../gateway/src/io/data-keys/ring.js';
import { SealedError } from '../../gateway/src/io/store/sealed.js';
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

  it('behavior: keys being made are shared, not made twice; a key made ahead is used only in its own window', async () => {
    tmp = makeTempDir('vt-ring-');
    const store = openStore(join(tmp.dir, 'gw.db'));
    const { recipient } = recipientPair('care', 'ec');
    const ring = new DataKeyRing(store, [recipient]);
    const keyRows = () =>
      store.db.prepare('SELECT id, dev, window_start FROM data_keys ORDER BY id').all() as {
        id: number;
        dev: string;
        window_start: number;
      }[];
    const now = 10 * HOUR + 5;

    // Two callers ask for the same device's key at once (a commit and a connection): one key.
    await Promise.all([
      ring.prepare(['wr-a', 'wr-b'], now),
      ring.prepare(['wr-a'], now),
      ring.takeAll(['wr-a'], now),
    ]);
    expect(keyRows().map((k) => k.dev)).toEqual(['wr-a', 'wr-b']);
    expect(ring.missing(['wr-a', 'wr-b', 'wr-c', 'wr-a'], now)).toEqual(['wr-c']);

    // Too early for the next window's keys; then, within the lead, one chunk at a time.
    expect(await ring.prepareAhead(now, 60_000, 10)).toBe(0);
    const late = 11 * HOUR - 30_000;
    expect(await ring.prepareAhead(late, 60_000, 1)).toBe(1);
    expect(await ring.prepareAhead(late, 60_000, 10)).toBe(1);
    expect(await ring.prepareAhead(late, 60_000, 10)).toBe(0);
    const ahead = keyRows().filter((k) => k.window_start === 11 * HOUR);
    expect(ahead.map((k) => k.dev).sort()).toEqual(['wr-a', 'wr-b']);
    // Not used before its window.
    expect((await ring.takeAll(['wr-a'], late)).map((k) => k.id)).toEqual([1]);

    // wr-a uses its key made ahead; wr-b falls silent for that hour, and its key made ahead
    // is not used in the hour after (a fresh one is made).
    const [a] = await ring.takeAll(['wr-a'], 11 * HOUR + 1);
    expect(a?.id).toBe(ahead.find((k) => k.dev === 'wr-a')?.id);
    expect(ring.stats).toEqual({ made: 2, madeAhead: 2, usedAhead: 1 });
    const [b] = await ring.takeAll(['wr-b'], 12 * HOUR + 1);
    expect(b?.id).not.toBe(ahead.find((k) => k.dev === 'wr-b')?.id);
    expect(keyRows().at(-1)).toMatchObject({ dev: 'wr-b', window_start: 12 * HOUR });
    store.close();
  });
});
