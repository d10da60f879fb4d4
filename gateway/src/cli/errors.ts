/**
 * @module cli/errors
 * A usage problem the CLI reports in one line and exit code 2 (not a crash).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
