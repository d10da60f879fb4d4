/**
 * @module io/ops/audit-trail
 * The one read-and-verify interface of an audit trail (issue 16: "one interface, one abstract
 * test suite run against both"), met by a gateway's own file log (io/ops/audit; here,
 * `FileAuditTrail`) and by a gateway group's chain in PostgreSQL (io/shared/pg-audit
 * `PgAuditTrail`, the shared copy of every gateway's file log). An auditor reads the entries
 * in the trail's order and asks for its verdict; problems carry the codes of
 * `AuditProblemCode` (protocol/error-groups `audit_check`), the same in both.
 *
 * Also `chainLines`, the lines of a file log across its archives and the active file in
 * chain order, each with its `n` (what the trail reads), and `ChainReader`, which reads them
 * from a given `n` on and remembers where it stopped (what a shipper copies).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_LOG_FILE, AuditError, listArchives } from './audit-rotation.js';
import { type AuditProblemCode, fileLines, verifyAuditLog } from './audit-verify.js';

/** One entry of a trail: a line of a gateway's file log. */
export interface AuditTrailEntry {
  /** Its place in this trail (ascending): `n` in a file log, `id` in the group's chain. */
  seq: number;
  /** The gateway whose file log holds the line. */
  gateway: string;
  /** The line's number in that gateway's file log. */
  n: number;
  /** The line as written: JSON with `n`, `t`, `event`, the whitelisted fields and `prev`. */
  line: string;
}

export interface AuditTrailProblem {
  /** Where, in words: `<file> line <i>` or `ward_audit id <id>`. */
  where: string;
  code: AuditProblemCode;
}

export interface AuditTrailReport {
  ok: boolean;
  /** Entries checked. */
  entries: number;
  /** The first problems found. */
  problems: AuditTrailProblem[];
}

/** What both trails answer (module doc). */
export interface AuditTrail {
  /** The entries whose `seq` is `from` (default 1) or more, in trail order. */
  entries(from?: number): AsyncIterable<AuditTrailEntry>;
  /** Checks the whole trail. Never throws for bad content (only when it cannot be read). */
  verify(): Promise<AuditTrailReport>;
}

/** A line of a file log in chain order. */
export interface ChainLine {
  /** The file (an archive name or `audit.log`) and the 1-based line in it. */
  file: string;
  line: number;
  bytes: Buffer;
  torn: boolean;
  /** The line's `n` (null when it is not JSON or carries none). */
  n: number | null;
}

/** The number a line carries, or null. */
export function lineN(bytes: Buffer): number | null {
  try {
    const n = (JSON.parse(bytes.toString('utf8')) as { n?: unknown }).n;
    return Number.isSafeInteger(n) && (n as number) > 0 ? (n as number) : null;
  } catch {
    return null;
  }
}

/**
 * Every line of the file log of `dir` (DATA/gateway): the archives oldest first, then the
 * active file (io/ops/audit-rotation). Reads as it goes (1 MiB chunks).
 */
export function* chainLines(dir: string): Generator<ChainLine> {
  for (const { name } of [...listArchives(dir), { name: AUDIT_LOG_FILE }]) {
    let i = 0;
    for (const { bytes, torn } of fileLines(join(dir, name))) {
      i += 1;
      yield { file: name, line: i, bytes, torn, n: lineN(bytes) };
    }
  }
}

/**
 * A gateway's file log as an `AuditTrail`: entries are its whole lines with a number (a
 * torn or unreadable line is not an entry; `verify` reports it), `verify` is `verifyAuditLog`.
 * @example
 * const trail = new FileAuditTrail('DATA/gateway', 'gw-1'); (await trail.verify()).ok;
 */
export class FileAuditTrail implements AuditTrail {
  constructor(
    readonly dir: string,
    readonly gateway: string,
  ) {}

  async *entries(from = 1): AsyncGenerator<AuditTrailEntry> {
    for (const l of chainLines(this.dir)) {
      if (l.torn || l.n === null || l.n < from) continue;
      yield { seq: l.n, gateway: this.gateway, n: l.n, line: l.bytes.toString('utf8') };
    }
  }

  async verify(): Promise<AuditTrailReport> {
    const r = verifyAuditLog(this.dir);
    return {
      ok: r.ok,
      entries: r.lines,
      problems: r.problems.map((p) => ({ where: `${p.file} line ${p.line}`, code: p.code })),
    };
  }
}

/** Where the next line is: a file (by inode: a rotation renames it), a byte offset, its `n`. */
interface ReadPosition {
  ino: number;
  offset: number;
  n: number;
}

/**
 * Reads the lines of the file log of `dir` numbered `from` or more, in chain order (the
 * archives that reach `from`, then the active file), remembering where it stopped: the next
 * read from there starts at that offset of that file (found by inode, also once archived)
 * instead of scanning; an offset that no longer holds that line is dropped. A torn last
 * line (being written, or torn: the appender repairs it) is not read.
 */
export class ChainReader {
  #pos: ReadPosition | null = null;

  constructor(readonly dir: string) {}

  /**
   * Up to `max` whole lines numbered `from` or more, each with its `n`.
   * @throws {AuditError} `audit_corrupt` at a line without a number, or not UTF-8
   */
  read(from: number, max: number): { n: number; bytes: Buffer }[] {
    const lines = this.#read(from, max);
    // A rotation between listing the archives and reading the active file: list again.
    return (lines[0]?.n ?? from) > from ? this.#read(from, max) : lines;
  }

  #read(from: number, max: number): { n: number; bytes: Buffer }[] {
    const out: { n: number; bytes: Buffer }[] = [];
    let want = from;
    for (const { name } of [
      ...listArchives(this.dir).filter((a) => a.last >= from),
      { name: AUDIT_LOG_FILE },
    ]) {
      const path = join(this.dir, name);
      const ino = statSync(path, { throwIfNoEntry: false })?.ino;
      if (ino === undefined) continue;
      const pos = this.#pos;
      const start = pos && pos.ino === ino && pos.n === want ? pos.offset : 0;
      let first = true;
      for (const l of fileLines(path, start)) {
        if (l.torn) break;
        const n = lineN(l.bytes);
        if (first && start > 0 && n !== want) {
          this.#pos = null; // the file is not the one the offset was taken in
          return this.#read(from, max);
        }
        first = false;
        if (n === null || !Buffer.from(l.bytes.toString('utf8'), 'utf8').equals(l.bytes))
          throw new AuditError('audit_corrupt', `${name}: an audit line without a number, or not UTF-8`);
        this.#pos = { ino, offset: l.end, n: n + 1 };
        if (n < want) continue;
        out.push({ n, bytes: l.bytes });
        want = n + 1;
        if (out.length >= max) return out;
      }
    }
    return out;
  }
}
