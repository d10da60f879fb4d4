/**
 * @module test/helpers/users-command
 * `vitaltrail users …` run in the test's own process (a program holding only the users
 * commands), as an operator runs it beside a gateway; its stdout is returned, stderr dropped.
 */
import { Command } from 'commander';
import { vi } from 'vitest';
import { registerUsersCommands } from '../../gateway/src/cli/users.js';

/**
 * Runs `vitaltrail <args>`; returns what it wrote to stdout.
 * @throws whatever the command throws (commander's `exitOverride`, or the command's own error)
 */
export async function runUsersCommand(...args: string[]): Promise<string> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerUsersCommands(program);
  let out = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'vitaltrail', ...args]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}
