/**
 * @module io/ops/safe-write
 * The one way the CLI writes a file a user named (`export --out`, `export-fhir --out`,
 * `kgc export-p12 --out`, `verify-anchors-fetch --out`): issue 13, item 4.
 *
 * Trust: the output path is operator input, and its directory may be shared with other
 * users (a planted `<out>.partial` symlink was followed before). So the path is refused
 * (`output_path_invalid`) when it is a directory, any symlink (dangling or not), or sits
 * in a directory that does not exist; the content goes to a fresh temporary file created
 * in the target's directory with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 (pinned by
 * fchmod whatever the umask), is fsync'd, renamed over the target (atomic: a reader sees
 * the old file or the whole new one) and the directory is fsync'd (the rename survives a
 * crash). A failure removes the temporary file and leaves the target as it was.
 *
 * Beside it, the steps the data directory's own files share: `fsyncPath`, `renameDurably`,
 * and `createWhole`, which the lock files (io/ops/instance-lock, the audit log's) are made by.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ErrorGroupCode } from '../../protocol/error-codes.js';
import { errorClass } from '../../protocol/errors.js';

export type OutputPathErrorCode = ErrorGroupCode<'output'>;

export class OutputPathError extends errorClass<'output'>('OutputPathError') {}

/** Mode of every file written here: user-named outputs hold patient data or keys. */
export const OUTPUT_FILE_MODE = 0o600;

/**
 * Fsyncs the file or directory at `path`. For a directory: the names created, renamed or
 * removed in it so far survive a power cut (a file's own fsync covers its content, not its
 * name: fsync(2)).
 */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Renames `tmp` over `path`, then fsyncs their directory so the rename itself survives a
 * power cut (both must be in one directory).
 */
export function renameDurably(tmp: string, path: string): void {
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

/**
 * Creates `path` with `content`, whole or not at all, unless it exists (exclusive): written
 * beside it (`NAME.PID.HEX.tmp`, mode 0600), then linked into place. For lock files, which
 * must never be seen empty (a write that failed, a full disk, left them so when they were
 * created first and written after) and need not outlive a power cut: no fsync (its durable
 * twin, for secrets: io/ops/datadir `createSecret`).
 * @returns false when `path` exists (nothing written)
 * @throws the file system's error (e.g. ENOSPC); nothing is then left behind
 */
export function createWhole(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, content, { flag: 'wx', mode: OUTPUT_FILE_MODE });
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function invalid(reason: string, cause?: unknown): OutputPathError {
  return new OutputPathError('output_path_invalid', reason, cause === undefined ? undefined : { cause });
}

/**
 * Checks an output path before anything is written; returns it resolved.
 * @throws {OutputPathError} `output_path_invalid` when `path` is empty, a directory, a
 *   symlink (dangling or not) or anything but a regular file, or its directory is missing.
 * @example const out = checkOutputPath('bundle.json');
 */
export function checkOutputPath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) throw invalid('the output path is empty');
  const full = resolve(path);
  let dirOk = false;
  try {
    dirOk = statSync(dirname(full)).isDirectory();
  } catch {
    dirOk = false;
  }
  if (!dirOk) throw invalid('the directory of the output path does not exist');
  let st: ReturnType<typeof lstatSync> | undefined;
  try {
    st = lstatSync(full);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw invalid('the output path cannot be checked', err);
  }
  if (st?.isSymbolicLink()) throw invalid('the output path is a symbolic link');
  if (st?.isDirectory()) throw invalid('the output path is a directory');
  if (st && !st.isFile()) throw invalid('the output path is not a regular file');
  return full;
}

/** An output file being written: a 0600 temporary file beside the target until `commit`. */
export interface SafeOutput {
  /** The open descriptor of the temporary file (write to it; do not close it). */
  readonly fd: number;
  /** The resolved target path. */
  readonly path: string;
  /** fsync, rename over the target, fsync the directory. */
  commit(): void;
  /** Close and remove the temporary file; the target is left as it was. Never throws. */
  abort(): void;
}

/**
 * Opens a fresh temporary file for `path` (checked with `checkOutputPath`).
 * @throws {OutputPathError} `output_path_invalid` as `checkOutputPath`, or when the
 *   temporary file cannot be created.
 * @example
 * const out = openSafeOutput('bundle.json');
 * try { writeSync(out.fd, text); out.commit(); } catch (e) { out.abort(); throw e; }
 */
export function openSafeOutput(path: string): SafeOutput {
  const full = checkOutputPath(path);
  const dir = dirname(full);
  const tmp = join(dir, `.${basename(full)}.${randomBytes(8).toString('hex')}.partial`);
  let fd: number;
  try {
    fd = openSync(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      OUTPUT_FILE_MODE,
    );
  } catch (err) {
    throw invalid('the output file cannot be created in its directory', err);
  }
  let open = true;
  const close = (): void => {
    if (open) {
      open = false;
      closeSync(fd);
    }
  };
  return {
    fd,
    path: full,
    commit() {
      fchmodSync(fd, OUTPUT_FILE_MODE);
      fsyncSync(fd);
      close();
      checkOutputPath(full); // still not a symlink or a directory (planted while writing)
      renameDurably(tmp, full);
    },
    abort() {
      try {
        close();
      } catch {
        // already closed by the OS; nothing to keep
      }
      rmSync(tmp, { force: true });
    },
  };
}

/**
 * Writes `data` to the user-named `path` the safe way (see the module header): bytes or a
 * text (a text in pieces: `writeOutputFileFrom`).
 * @throws {OutputPathError} `output_path_invalid` for a refused path.
 * @example writeOutputFile('bundle.fhir.json', JSON.stringify(bundle));
 */
export function writeOutputFile(path: string, data: string | Uint8Array): void {
  const out = openSafeOutput(path);
  try {
    writeAll(out.fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
}

/**
 * As `writeOutputFile`, for a text whose pieces come as they are made (a long export read
 * from the store a day at a time): each written as it is taken, the file in place only once
 * the last is written.
 * @throws {OutputPathError} `output_path_invalid` for a refused path; whatever `pieces` throws
 *   (nothing is left at `path` then).
 * @example await writeOutputFileFrom('obs.json', r.text(2));
 */
export async function writeOutputFileFrom(path: string, pieces: AsyncIterable<string>): Promise<void> {
  const out = openSafeOutput(path);
  try {
    for await (const piece of pieces) writeAll(out.fd, Buffer.from(piece, 'utf8'));
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
}

/** All of `bytes` written to `fd` (a write may take part of them). */
function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}
