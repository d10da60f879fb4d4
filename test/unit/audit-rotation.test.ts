/**
 * @module test/unit/audit-rotation
 * Rotation of the hash-chained audit log (gateway/src/io/ops/audit-rotation.ts, issue 16
 * "production gaps"), on real files: a small `rotateBytes` gives several archives
 * `audit.log.<first>-<last>` (0600) whose chain runs on across files; `verifyAuditLog`
 * checks every file in order and names a missing, altered or reordered file; an
 * interrupted rotation (the test-only step hook throwing after each step) leaves a chain
 * verify accepts, before and after the next write. Real crashes (SIGKILL of a child) and
 * two appending processes: test/integration/audit-rotation.test.ts.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUDIT_HEAD_FILE,
  AUDIT_LOG_FILE,
  AuditLog,
  rotateAuditLog,
  verifyAuditLog,
} from '../../gateway/src/io/ops/audit.js';
import { AUDIT_NEXT_FILE, type RotationStep } from '../../gateway/src/io/ops/audit-rotation.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir('vt-audit-rot-');
});
afterEach(() => tmp.cleanup());

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const linesOf = (name: string) => readFileSync(join(tmp.dir, name), 'utf8').split('\n').filter(Boolean);
const archives = () =>
  readdirSync(tmp.dir)
    .filter((f) => /^audit\.log\.\d+-\d+$/.test(f))
    .sort();
/** Every line of the chain, oldest archive first, the active file last. */
const chain = () => [...archives(), AUDIT_LOG_FILE].flatMap(linesOf).map((l) => JSON.parse(l));

/** Appends `count` events in batches of 5 with a small rotation size: several archives. */
function fill(count: number, rotateBytes = 2000): void {
  const audit = new AuditLog(tmp.dir, { rotateBytes, now: () => 1_000 });
  for (let i = 1; i <= count; i++) {
    audit.append('frame_rejected', { dev: 'wr-0001', seq: i, code: 'bad_signature' });
    if (i % 5 === 0) audit.flush();
  }
  audit.close();
}

describe('rotation', () => {
  it('behavior: a small rotateBytes gives several 0600 archives; the chain runs on across them and verifies', () => {
    fill(100);
    const names = archives();
    expect(names.length).toBeGreaterThanOrEqual(3);
    for (const name of [...names, AUDIT_LOG_FILE])
      expect(statSync(join(tmp.dir, name)).mode & 0o777).toBe(0o600);
    const all = chain();
    expect(all.map((l) => l.n)).toEqual(all.map((_, i) => i + 1));
    expect(all.filter((l) => l.event === 'frame_rejected').map((l) => l.seq)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    // Each new file begins with `audit_rotated` naming the archive, chained to its last line.
    for (const [i, name] of names.entries()) {
      const [, first, last] = /^audit\.log\.(\d{16})-(\d{16})$/.exec(name) ?? [];
      const lines = linesOf(name);
      expect(JSON.parse(lines[0] as string).n).toBe(Number(first));
      expect(JSON.parse(lines.at(-1) as string).n).toBe(Number(last));
      const next = JSON.parse(linesOf(names[i + 1] ?? AUDIT_LOG_FILE)[0] as string);
      expect(next).toMatchObject({ n: Number(last) + 1, event: 'audit_rotated', detail: name });
      expect(next.prev).toBe(sha(lines.at(-1) as string));
    }
    const r = verifyAuditLog(tmp.dir);
    expect(r).toMatchObject({ ok: true, lines: all.length, problems: [] });
    expect(r.files.map((f) => f.name)).toEqual([...names, AUDIT_LOG_FILE]);
  });

  it('behavior: rotateBytes 0 never rotates; rotateAuditLog rotates on demand, and not an empty file', () => {
    fill(60, 0);
    expect(archives()).toEqual([]);
    expect(rotateAuditLog(tmp.dir)).toEqual({
      name: 'audit.log.0000000000000001-0000000000000060',
      first: 1,
      last: 60,
      next: 61,
    });
    expect(linesOf(AUDIT_LOG_FILE)).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(tmp.dir, AUDIT_HEAD_FILE), 'utf8'))).toEqual({
      n: 61,
      hash: sha(linesOf(AUDIT_LOG_FILE)[0] as string),
    });
    writeFileSync(join(tmp.dir, AUDIT_LOG_FILE), '');
    expect(rotateAuditLog(tmp.dir)).toBeNull();
    expect(rotateAuditLog(join(tmp.dir, 'nowhere'))).toBeNull();
  });

  it('behavior: a torn tail is cut and recorded in the archive before it is closed', () => {
    fill(10, 0);
    writeFileSync(
      join(tmp.dir, AUDIT_LOG_FILE),
      `${readFileSync(join(tmp.dir, AUDIT_LOG_FILE), 'utf8')}{"n":11,"t`,
    );
    const r = rotateAuditLog(tmp.dir);
    expect(r).toMatchObject({ first: 1, last: 11 });
    expect(JSON.parse(linesOf(r?.name as string).at(-1) as string).event).toBe('audit_tail_repaired');
    expect(verifyAuditLog(tmp.dir).ok).toBe(true);
  });

  it('behavior: an empty or missing active file is continued from the newest archive, not from zero', () => {
    fill(20, 0);
    rotateAuditLog(tmp.dir);
    unlinkSync(join(tmp.dir, AUDIT_LOG_FILE)); // as if the crash came between the renames, with no .next
    const audit = new AuditLog(tmp.dir);
    audit.append('login', { user: 'nurse' });
    audit.close();
    expect(JSON.parse(linesOf(AUDIT_LOG_FILE)[0] as string)).toMatchObject({ n: 21, event: 'login' });
    expect(verifyAuditLog(tmp.dir).ok).toBe(true);
  });
});

describe('verifyAuditLog across files', () => {
  beforeEach(() => fill(100));

  it('error: a deleted middle archive is file_missing at the next file', () => {
    const names = archives();
    unlinkSync(join(tmp.dir, names[1] as string));
    const r = verifyAuditLog(tmp.dir);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ file: names[2], line: 1, code: 'file_missing' }]);
  });

  it('error: the newest archive deleted is file_missing at audit.log; the oldest, at the first file left', () => {
    const names = archives();
    unlinkSync(join(tmp.dir, names.at(-1) as string));
    expect(verifyAuditLog(tmp.dir).problems).toEqual([
      { file: AUDIT_LOG_FILE, line: 1, code: 'file_missing' },
    ]);
    unlinkSync(join(tmp.dir, names[0] as string));
    expect(verifyAuditLog(tmp.dir).problems[0]).toEqual({ file: names[1], line: 1, code: 'file_missing' });
  });

  it('behavior: --from-file starts at an archive when older ones were moved away, and says so', () => {
    const names = archives();
    unlinkSync(join(tmp.dir, names[0] as string));
    const r = verifyAuditLog(tmp.dir, { fromFile: names[1] as string });
    expect(r).toMatchObject({ ok: true, problems: [], from: names[1] });
    expect(r.files[0]?.name).toBe(names[1]);
    expect(() => verifyAuditLog(tmp.dir, { fromFile: 'audit.log.nope' })).toThrow(RangeError);
    // From the active file too; an edit after the start is still found.
    expect(verifyAuditLog(tmp.dir, { fromFile: AUDIT_LOG_FILE }).ok).toBe(true);
  });

  it('error: an altered line in an old archive breaks the chain at the next line', () => {
    const name = archives()[0] as string;
    const lines = linesOf(name);
    lines[2] = (lines[2] as string).replace('bad_signature', 'replay_conflict');
    writeFileSync(join(tmp.dir, name), `${lines.join('\n')}\n`);
    expect(verifyAuditLog(tmp.dir).problems).toEqual([{ file: name, line: 4, code: 'chain_broken' }]);
  });

  it("error: an altered last line of an archive breaks the chain at the next file's first line", () => {
    const [name, next] = archives() as [string, string];
    const lines = linesOf(name);
    lines[lines.length - 1] = (lines.at(-1) as string).replace('bad_signature', 'bad_frame');
    writeFileSync(join(tmp.dir, name), `${lines.join('\n')}\n`);
    expect(verifyAuditLog(tmp.dir).problems).toEqual([{ file: next, line: 1, code: 'chain_broken' }]);
  });

  it('error: reordered archives (names swapped) are out_of_sequence', () => {
    const [a, b] = archives() as [string, string];
    renameSync(join(tmp.dir, a), join(tmp.dir, 'swap'));
    renameSync(join(tmp.dir, b), join(tmp.dir, a));
    renameSync(join(tmp.dir, 'swap'), join(tmp.dir, b));
    const r = verifyAuditLog(tmp.dir);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toEqual({ file: a, line: 1, code: 'out_of_sequence' });
    expect(r.problems.map((p) => p.code)).not.toContain('file_missing');
  });

  it('error: the active file deleted is truncated (the head names more lines)', () => {
    unlinkSync(join(tmp.dir, AUDIT_LOG_FILE));
    expect(verifyAuditLog(tmp.dir).problems).toEqual([{ file: AUDIT_LOG_FILE, line: 0, code: 'truncated' }]);
  });
});

describe('an interrupted rotation', () => {
  const steps: RotationStep[] = ['next-written', 'archived', 'activated'];
  for (const step of steps) {
    it(`behavior: stopped after "${step}", verify accepts the files, and the next write finishes or undoes it`, () => {
      fill(30, 0);
      expect(() =>
        rotateAuditLog(tmp.dir, {
          testOnlyAfterStep: (s) => {
            if (s === step) throw new Error(`stopped after ${s}`);
          },
        }),
      ).toThrow(`stopped after ${step}`);
      expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: true, problems: [] });
      const audit = new AuditLog(tmp.dir);
      audit.append('gateway_started', {});
      audit.close();
      expect(existsSync(join(tmp.dir, AUDIT_NEXT_FILE))).toBe(false);
      expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: true, problems: [] });
      const all = chain();
      expect(all.map((l) => l.n)).toEqual(all.map((_, i) => i + 1));
      // Undone before the archive's rename; finished after it.
      expect(all.map((l) => l.event).slice(30)).toEqual(
        step === 'next-written' ? ['gateway_started'] : ['audit_rotated', 'gateway_started'],
      );
    });
  }
});
