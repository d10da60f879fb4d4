/**
 * @module test/helpers/tmp
 * Temporary directories for tests that need real files (stores, keys, chain state).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes a fresh directory under the OS temp dir; `cleanup()` removes it and everything in it. */
export function makeTempDir(prefix = 'vt-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
