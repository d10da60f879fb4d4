/**
 * @module test/integration/instance-lock-disk-full
 * The data directory's instance lock (io/ops/instance-lock) on a full disk, a real 1 MiB
 * tmpfs filled with a file: a start that cannot write its lock leaves none behind (it was
 * created empty, then written its owner, so a full disk left an empty lock: read as stale by
 * the next start, and so also by a second starter while a live owner was still writing it).
 * Needs root or passwordless sudo to mount (test/helpers/tmpfs).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTANCE_LOCK_FILE, lockDataDir } from '../../gateway/src/io/ops/instance-lock.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';

const mnt = tmpfsForTests('vt-lock-full-', '1m');

describe('the instance lock on a full disk', () => {
  it('behavior: a lock that cannot be written is not left behind; once space is freed it is taken, whole', () => {
    const dir = join(mnt, 'gateway');
    lockDataDir(dir).release(); // the directory exists before the disk fills
    const filler = fillFileSystem(mnt);
    expect(() => lockDataDir(dir)).toThrow(/ENOSPC/);
    expect(readdirSync(dir)).toEqual([]); // no lock, and no file of the lock's

    rmSync(filler);
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(join(dir, INSTANCE_LOCK_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
    });
    expect(() => lockDataDir(dir)).toThrow(expect.objectContaining({ code: 'data_dir_in_use' }));
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
