/**
 * @module io/ops/audit-verify
 * `verifyAuditLog` (`vitaltrail audit verify`): checks the audit log's one hash chain
 * (io/ops/audit) across its archives `audit.log.<first>-<last>` (io/ops/audit-rotation),
 * oldest first, then the active `audit.log`, then the head `audit.head`.
 *
 * Within a file: numbering 1, 2, 3… and every `prev` the SHA-256 of the line before. At a
 * file boundary the first line must continue the previous file's last line; when its `n`
 * jumps ahead (or the oldest file does not begin at 1), the lines between are in a file
 * that is gone (`file_missing`), and the check goes on from there. An archive whose name
 * does not match its first or last line was renamed or reordered (`out_of_sequence`); the
 * file after an archive must continue the numbering its name gives.
 * With `fromFile` the check starts at that file's first line, trusted as given: the chain
 * before it is not checked, and the report says so (`from`).
 *
 * Files are read in 1 MiB chunks, so archives of any size fit in memory; they must be
 * plain (uncompressed). A stray `audit.log.next` (a rotation interrupted before its
 * rename) is not part of the chain and is ignored.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorGroupCode } from '../../protocol/error-codes.js';
import {
  AUDIT_HEAD_FILE,
  AUDIT_LOG_FILE,
  type AuditArchive,
  listArchives,
  sha256Hex,
  ZERO_HASH_HEX,
} from './audit-rotation.js';

export type AuditProblemCode = ErrorGroupCode<'audit_check'>;

const MAX_PROBLEMS = 20;
const CHUNK_BYTES = 1024 * 1024;

export interface AuditProblem {
  /** The file (an archive name or `audit.log`). */
  file: string;
  /** 1-based line number in that file. */
  line: number;
  code: AuditProblemCode;
}

export interface AuditFileReport {
  name: string;
  lines: number;
  /** `n` of its first and last line (null when empty or not JSON). */
  first: number | null;
  last: number | null;
}

export interface AuditReport {
  ok: boolean;
  /** Lines checked, over every file. */
  lines: number;
  /** The first problems found (at most 20). */
  problems: AuditProblem[];
  /** The files checked, in chain order (the active `audit.log` last). */
  files: AuditFileReport[];
  /** With `fromFile`: the file the check started at; the chain before its first line is not checked. */
  from?: string;
}

export interface VerifyAuditOptions {
  /** Start at this archive (or `audit.log`): for when older archives were moved away. */
  fromFile?: string;
}

/** One line of an audit file. */
export interface FileLine {
  /** The line's bytes, without its newline. */
  bytes: Buffer;
  /** The file's last line, without a newline (a torn write, or one being written). */
  torn: boolean;
  /** The byte offset just after the line (and its newline): where the next line starts. */
  end: number;
}

/**
 * The lines of a file from byte `from` on (the start of a line), read in 1 MiB chunks.
 * A missing file has none.
 */
export function* fileLines(path: string, from = 0): Generator<FileLine> {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK_BYTES);
    let carry = Buffer.alloc(0);
    let pos = from;
    let end = from;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got === 0) break;
      pos += got;
      let chunk = Buffer.concat([carry, buf.subarray(0, got)]);
      let nl = chunk.indexOf(0x0a);
      while (nl >= 0) {
        end += nl + 1;
        yield { bytes: chunk.subarray(0, nl), torn: false, end };
        chunk = chunk.subarray(nl + 1);
        nl = chunk.indexOf(0x0a);
      }
      carry = Buffer.from(chunk);
    }
    if (carry.length > 0) yield { bytes: carry, torn: true, end: end + carry.length };
  } finally {
    closeSync(fd);
  }
}

function readHead(dir: string): { n?: unknown; hash?: unknown } | undefined {
  const path = join(dir, AUDIT_HEAD_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { n?: unknown; hash?: unknown };
  } catch {
    return undefined;
  }
}

/**
 * Checks the audit log's chain across its archives and the active file, and the head
 * naming a line of it (a head behind the chain — a crash before its rename — is fine).
 * Pure reading; never throws for bad content.
 * @param dir the gateway directory (DATA/gateway)
 * @throws {RangeError} when `opts.fromFile` names no archive of `dir` nor `audit.log`
 * @example
 * const r = verifyAuditLog('DATA/gateway'); if (!r.ok) console.log(r.problems);
 */
export function verifyAuditLog(dir: string, opts: VerifyAuditOptions = {}): AuditReport {
  const archives: (AuditArchive | { name: string; first?: undefined; last?: undefined })[] = [
    ...listArchives(dir),
    { name: AUDIT_LOG_FILE },
  ];
  let start = 0;
  if (opts.fromFile !== undefined) {
    start = archives.findIndex((a) => a.name === opts.fromFile);
    if (start < 0)
      throw new RangeError(`fromFile: no audit file of that name (${AUDIT_LOG_FILE}.<first>-<last>)`);
  }
  const problems: AuditProblem[] = [];
  const add = (file: string, line: number, code: AuditProblemCode) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ file, line, code });
  };
  const head = readHead(dir);
  const headN = head && typeof head.n === 'number' ? head.n : undefined;
  let headHash: string | undefined;
  let prevHash = ZERO_HASH_HEX;
  let expectN = 1;
  let total = 0;
  const files: AuditFileReport[] = [];
  for (const [k, file] of archives.slice(start).entries()) {
    const report: AuditFileReport = { name: file.name, lines: 0, first: null, last: null };
    files.push(report);
    let i = 0;
    for (const { bytes, torn } of fileLines(join(dir, file.name))) {
      i += 1;
      const hash = sha256Hex(bytes);
      if (torn) add(file.name, i, 'torn_tail');
      let rec: { n?: unknown; prev?: unknown };
      try {
        rec = JSON.parse(bytes.toString('utf8')) as { n?: unknown; prev?: unknown };
      } catch {
        add(file.name, i, 'malformed_line');
        prevHash = hash;
        expectN += 1;
        report.last = null;
        continue;
      }
      const n = Number.isSafeInteger(rec.n) ? (rec.n as number) : undefined;
      if (i === 1) report.first = n ?? null;
      report.last = n ?? null;
      const misnamed = i === 1 && file.first !== undefined && n !== file.first;
      if (misnamed) add(file.name, i, 'out_of_sequence');
      if (i === 1 && k === 0 && opts.fromFile !== undefined) {
        // trusted start: the chain before this line is not checked
      } else if (i === 1 && !misnamed && n !== undefined && n > expectN) {
        add(file.name, i, 'file_missing');
      } else {
        if (n !== expectN && !misnamed) add(file.name, i, 'out_of_sequence');
        if (rec.prev !== prevHash) add(file.name, i, 'chain_broken');
      }
      if (n !== undefined && n === headN) headHash = hash;
      prevHash = hash;
      expectN = (n ?? expectN) + 1;
    }
    report.lines = i;
    total += i;
    if (file.last !== undefined && i > 0 && report.last !== file.last) add(file.name, i, 'out_of_sequence');
    // An archive's name is its place in the chain: the next file follows the name, so one
    // misplaced file is reported where it is, not as a gap further on.
    if (file.last !== undefined) expectN = file.last + 1;
  }
  const active = files.at(-1) as AuditFileReport;
  const lastN = expectN - 1;
  if (!head) {
    if (total > 0) add(active.name, active.lines, 'head_missing');
  } else if (headN !== undefined && headN > lastN) {
    add(active.name, active.lines, 'truncated');
  } else if (headN === undefined || (headN > 0 && headHash !== head.hash)) {
    add(active.name, active.lines, 'head_mismatch');
  }
  return {
    ok: problems.length === 0,
    lines: total,
    problems,
    files,
    ...(opts.fromFile !== undefined ? { from: opts.fromFile } : {}),
  };
}
