/**
 * @module cli/errors
 * A usage problem the CLI reports in one line and exit code 2 (not a crash), and the coded
 * errors of the CLI's own input checks (registry group `cli`).
 */
import { errorClass, isVitalTrailError, systemCode } from '../protocol/errors.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `bad_usage`, `time_range_invalid`, `input_too_large`, `data_dir_missing`, `config_invalid`. */
export class CliError extends errorClass<'cli'>('CliError') {}

/**
 * An error in one line, as the CLI tells it: `code: reason` when coded, else its message,
 * led by the system's or SQLite's code when the message does not already say it
 * (`SQLITE_FULL: database or disk is full`; node:fs messages start with theirs).
 */
export function errorText(err: unknown): string {
  if (isVitalTrailError(err)) return `${err.code}: ${err.reason}`;
  const message = (err as Error)?.message ?? String(err);
  const c = err instanceof Error ? systemCode(err) : null;
  return c && !message.startsWith(c) ? `${c}: ${message}` : message;
}
