/**
 * Crypto-shredding in a running gateway on a full disk (io/ingest/retention): the store lives
 * on a real 3 MiB tmpfs that the test fills with a file. A shredding turn then fails whole:
 * no record in the log, no key destroyed, nothing the frames' readers see changed; the
 * failure is counted and told, the ingest goes on as the disk allows, and once space returns
 * the next turn shreds with no restart.
 *
 * Mounting needs root (CAP_SYS_ADMIN) or passwordless sudo (test/helpers/tmpfs). Where it is
 * refused, the same test runs with a write failure INJECTED AT THE STORAGE BOUNDARY
 * (`appendLeaves` throws SQLITE_FULL), named as such in the test title.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StoreError } from '../../gateway/src/io/store/store.js';
import {
  readFrames,
  recipientPair,
  type SealedRig,
  sealedRig,
  shredderOf,
  type TestClock,
} from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fillFileSystem, tryMountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';

const tmp = makeTempDir('vt-shred-diskfull-');
const mnt = join(tmp.dir, 'mnt');
mkdirSync(mnt);
const mounted = tryMountTmpfs(mnt, '3m');
const filler = join(mnt, 'filler');
const WINDOW = 1000;
const T0 = Date.UTC(2026, 11, 7, 8, 0, 0);

let injected = false;
function fillDisk(rig: SealedRig): void {
  if (!mounted) {
    injected = true;
    const real = rig.store.appendLeaves.bind(rig.store);
    rig.store.appendLeaves = (hashes, also) => {
      if (injected) throw new StoreError('store_failed', 'injected SQLITE_FULL at the storage boundary');
      return real(hashes, also);
    };
    return;
  }
  fillFileSystem(mnt);
}
function freeDisk(): void {
  if (mounted) rmSync(filler);
  else injected = false;
}

describe(`shredding on a full disk (${mounted ? 'real tmpfs' : 'write failure INJECTED at the storage boundary'})`, () => {
  const r = recipientPair('care', 'ec');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  let rig: SealedRig;
  const clock: TestClock = { now: T0 };

  beforeAll(() => {
    rig = sealedRig(mnt, [r.recipient], { now: () => clock.now, dataKeys: { windowMs: WINDOW } });
  });

  afterAll(async () => {
    await rig?.ingest.close();
    rig?.store.close();
    if (mounted) unmountTmpfs(mnt);
    tmp.cleanup();
  });

  test('behavior: a turn on a full disk changes nothing and is told; once space returns the next one shreds, with no restart', async () => {
    const dev = rig.device('wr-sd');
    // Three windows of 20 frames: the first two expire (retention one window).
    for (let w = 0; w < 3; w++) {
      for (let i = 0; i < 20; i++) await rig.ingest.submit(dev.next({ ts: clock.now }), 'wr-sd');
      clock.now += WINDOW;
    }
    const errors: unknown[] = [];
    const shredder = shredderOf(rig, clock, WINDOW, { onError: (err) => errors.push(err) });
    const db = rig.store.db;
    const state = () => ({
      size: rig.store.size,
      records: db.prepare('SELECT count(*) FROM shred_records').pluck().get(),
      destroyed: db.prepare('SELECT count(*) FROM data_keys WHERE shredded_at IS NOT NULL').pluck().get(),
    });
    const before = state();
    expect(before).toEqual({ size: 60, records: 0, destroyed: 0 });

    fillDisk(rig);
    try {
      await expect(shredder.runOnce()).rejects.toMatchObject({ code: 'store_failed' });
      // The timer's turns fail alike: counted and told, never thrown.
      shredder.start();
      const end = Date.now() + 10_000;
      while (shredder.stats.failures < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
      await shredder.stop();
      expect(shredder.stats.failures).toBeGreaterThanOrEqual(2);
      expect(errors.length).toBe(shredder.stats.failures);
      expect(errors.every((e) => (e as { code?: string }).code === 'store_failed')).toBe(true);
      expect(state()).toEqual(before);
      // Every frame still opens: no key went without its record.
      const rows = rig.store.framesToRead('wr-sd', 0, Number.MAX_SAFE_INTEGER);
      expect((await readFrames(rig.store, secrets, rows)).every((f) => f instanceof Uint8Array)).toBe(true);
    } finally {
      freeDisk();
    }

    // Space again: the next turn shreds the two expired windows, and the ingest goes on.
    const done = await shredder.runOnce();
    expect(done).toMatchObject({ keys: 2, records: 2, frames: 40, more: false });
    expect(state()).toEqual({ size: 62, records: 2, destroyed: 2 });
    const rows = rig.store.framesToRead('wr-sd', 0, Number.MAX_SAFE_INTEGER);
    const read = await readFrames(rig.store, secrets, rows);
    expect(read.filter((f) => f === 'shredded')).toHaveLength(40);
    expect(read.slice(40).every((f) => f instanceof Uint8Array)).toBe(true);
    expect(await rig.ingest.submit(dev.next({ ts: clock.now }), 'wr-sd')).toMatchObject({
      status: 'accepted',
      leafIndex: 62,
    });
  });
});
