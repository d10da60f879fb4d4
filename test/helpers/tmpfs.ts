/**
 * @module test/helpers/tmpfs
 * A real small file system to fill: a tmpfs mounted for a test (root, or `sudo -n` as
 * test/setup/system-deps.sh uses for apt-get), filled to its last byte with a file.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { makeTempDir } from './tmp.js';

function sys(cmd: string, args: string[]): void {
  if (userInfo().uid === 0) execFileSync(cmd, args, { stdio: 'pipe' });
  else execFileSync('sudo', ['-n', cmd, ...args], { stdio: 'pipe' });
}

/** Mounts a tmpfs of `size` (e.g. `1m`) on the empty directory `dir`; false when refused. */
export function tryMountTmpfs(dir: string, size: string, mode = '0700'): boolean {
  try {
    sys('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=${mode}`, 'tmpfs', dir]);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts `dir` lazily: a file still open there (a failed test's) must not leave it mounted. */
export function unmountTmpfs(dir: string): void {
  sys('umount', ['-l', dir]);
}

/** Fills the file system of `dir` to its last byte with one file; returns its path. */
export function fillFileSystem(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return filler;
}

/**
 * A tmpfs of `size` for the test file that calls this: mounted before its tests, let go
 * after them (with the temp directory under it). Fails the file when mounting is refused.
 * @returns the mount point
 */
export function tmpfsForTests(prefix: string, size: string, mode = '0700'): string {
  const tmp = makeTempDir(prefix);
  const mnt = join(tmp.dir, 'mnt');
  beforeAll(() => {
    mkdirSync(mnt);
    if (!tryMountTmpfs(mnt, size, mode))
      throw new Error(`this test mounts a ${size} tmpfs: it needs root or passwordless sudo`);
  });
  afterAll(() => {
    try {
      unmountTmpfs(mnt);
    } finally {
      tmp.cleanup();
    }
  });
  return mnt;
}
