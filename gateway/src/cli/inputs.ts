/**
 * @module cli/inputs
 * Checks of hostile or mistaken CLI input shared by the commands (issue 13, items 6 and 12):
 * time bounds, the data directory, and stdout whose reader went away.
 *
 * Attacker-controlled or mistyped: every value here comes from argv. Each failure is a
 * coded `CliError` (exit 2, `error: <code>: <reason>`), never a stack trace.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, Option } from 'commander';
import { DEVICE_ID_PATTERN, DEVICE_ID_RULE } from '../protocol/frame.js';
import { CliError } from './errors.js';

/** Where the commands keep state unless `--data` says otherwise: the demo's data directory. */
export const DEFAULT_DATA_DIR = '.vitaltrail/demo';

/** An option's parser: an integer from `min` to `max`. */
export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** An option's parser: a finite number from `min` to `max`. */
export function numberOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be from ${min} to ${max}`);
    return n;
  };
}

/** A `--…-port <port>` option: an integer from 0 to 65535, 0 = any free port. */
export function portOption(flag: string, what: string, port: number): Option {
  return new Option(`${flag} <port>`, `${what} (0 = any free port)`)
    .default(port)
    .argParser(intOption(flag, 0, 65535));
}

/** An option's parser: a device id (PROTOCOL.md §1 `dev`). */
export function deviceIdOption(value: string): string {
  if (!DEVICE_ID_PATTERN.test(value)) throw new InvalidArgumentError(DEVICE_ID_RULE);
  return value;
}

/**
 * Parses a time bound: ms since the epoch (digits only) or an ISO 8601 date-time, from 0
 * to `Number.MAX_SAFE_INTEGER` ms.
 * @throws {CliError} `time_range_invalid` for anything else (negative, too large, not a time).
 * @example timeOption('2026-11-21T08:00:00Z') // 1795248000000
 */
export function timeOption(value: string): number {
  const n = /^\d+$/.test(value)
    ? Number(value)
    : /^\d{4}-\d{2}-\d{2}/.test(value)
      ? Date.parse(value)
      : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CliError(
      'time_range_invalid',
      `a time bound must be ms since the epoch (0 to ${Number.MAX_SAFE_INTEGER}) or an ISO 8601 time from 1970`,
    );
  }
  return n;
}

/**
 * @throws {CliError} `time_range_invalid` when both bounds are given and from is after to.
 */
export function checkTimeRange(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && from > to)
    throw new CliError('time_range_invalid', '--from is after --to');
}

/**
 * Refuses a data directory that does not exist (a typo must not create an empty store).
 * @throws {CliError} `data_dir_missing`.
 */
/** `--data <dir>` with its default: every command that reads a data directory names it the same way. */
export function dataDirOption(defaultDir: string): Option {
  return new Option('--data <dir>', 'data directory').default(defaultDir);
}

export function requireDataDir(dir: string): void {
  let ok = false;
  try {
    ok = statSync(resolve(dir)).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok)
    throw new CliError(
      'data_dir_missing',
      'the data directory does not exist (kgc init or demo create one; check --data)',
    );
}

let epipeHandled = false;
let epipeMode: 'exit' | 'ignore' = 'exit';

/** The end of a long-running command's run: its first SIGINT (Ctrl-C) or SIGTERM, or `end()`. */
export interface StopSignal {
  /** Resolves once, at the first of them. */
  readonly done: Promise<void>;
  /** Ends the run from the command itself (its duration is over, a device failed). */
  end(): void;
}

/**
 * Waits for a long-running command's stop. Once it came, both listeners are gone: a second
 * Ctrl-C (during the wait for acks, a drain) is Node's again and ends the process.
 * @example
 * const signal = stopSignal();
 * await signal.done;
 * await gw.stop();
 */
export function stopSignal(): StopSignal {
  let end!: () => void;
  const done = new Promise<void>((resolve) => {
    end = () => {
      process.off('SIGINT', end);
      process.off('SIGTERM', end);
      resolve();
    };
  });
  process.on('SIGINT', end);
  process.on('SIGTERM', end);
  return { done, end };
}

/**
 * Quiet exit when stdout's reader went away (`vitaltrail kgc list | head -1`): EPIPE ends
 * the process with the exit code set so far (0 unless a command set one), no stack trace.
 * A long-running command (`gateway`, `demo`) calls `keepRunningOnEpipe` instead: a closed
 * stdout then only stops its banner and status lines, never the gateway itself.
 */
export function exitQuietlyOnEpipe(): void {
  if (epipeHandled) return;
  epipeHandled = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (epipeMode === 'exit') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

/** For a long-running command: EPIPE on stdout is ignored (see `exitQuietlyOnEpipe`). */
export function keepRunningOnEpipe(): void {
  epipeMode = 'ignore';
}

/**
 * Reads one line of stdin; on a terminal, after `prompt` on stderr with the echo of typed
 * characters off (a secret must not show on screen or in a terminal's scrollback).
 */
export async function readSecretLine(prompt: string): Promise<string> {
  const tty = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: tty });
  if (tty) {
    process.stderr.write(prompt);
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  }
  try {
    for await (const line of rl) return line;
    return '';
  } finally {
    rl.close();
    if (tty) process.stderr.write('\n');
  }
}
