/**
 * @module test/helpers/tmp
 * Temporary directories for tests that need real files (stores, keys, chain state).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes a fresh directory under the OS temp dir; `cleanup()` removes it and everything in it. */
export function makeTempDir(prefix = 'vt-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Puts a directory where the file `path` is, so every write of it fails (EISDIR, for root
 * too), even while a writer keeps putting the file back (a device saving its state).
 */
export function blockFile(path: string): void {
  for (;;) {
    rmSync(path, { force: true });
    try {
      mkdirSync(path);
      return;
    } catch {
      // a write put the file back in between: again
    }
  }
}
