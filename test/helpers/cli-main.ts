/**
 * @module test/helpers/cli-main
 * Runs the CLI's `main` in this process (the source, not dist/: no build needed), capturing
 * what it writes and its exit code.
 */
import { main } from '../../gateway/src/cli/main.js';

/** Runs `vitaltrail …args` in this process; returns its exit code and output. */
export async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((s: string) => {
    out.stdout += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    out.stderr += s;
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await main(['node', 'vitaltrail', ...args]);
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, ...out };
}
