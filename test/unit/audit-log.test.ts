/**
 * @module test/unit/audit-log
 * The hash-chained audit log (gateway/src/io/ops/audit.ts, issue 3): written in fsync'd
 * batches with mode 0600, continued across reopen and torn tails; `verifyAuditLog`
 * detects an edited, inserted, reordered or deleted line and a truncated tail.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_HEAD_FILE, AUDIT_LOG_FILE, AuditLog, verifyAuditLog } from '../../gateway/src/io/ops/audit.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
let logPath: string;

beforeEach(() => {
  tmp = makeTempDir('vt-audit-');
  logPath = join(tmp.dir, AUDIT_LOG_FILE);
  const audit = new AuditLog(tmp.dir, { now: () => 1_000 });
  for (let i = 1; i <= 6; i++)
    audit.append('frame_rejected', { dev: 'wr-0001', seq: i, code: 'bad_signature' });
  audit.close();
});
afterEach(() => tmp.cleanup());

const lines = () => readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
const writeLines = (ls: string[]) => writeFileSync(logPath, `${ls.join('\n')}\n`);

describe('AuditLog', () => {
  it('behavior: lines are numbered, chained by SHA-256 of the previous line, 0600, and carry only whitelisted fields', () => {
    const ls = lines();
    expect(ls).toHaveLength(6);
    expect(JSON.parse(ls[0] as string)).toEqual({
      n: 1,
      t: 1000,
      event: 'frame_rejected',
      dev: 'wr-0001',
      seq: 1,
      code: 'bad_signature',
      prev: '0'.repeat(64),
    });
    expect(statSync(logPath).mode & 0o777).toBe(0o600);
    const audit = new AuditLog(tmp.dir);
    audit.append('login', { user: 'nurse', payload: 'secret' } as never);
    audit.close();
    const last = JSON.parse(lines().at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({ n: 7, event: 'login', user: 'nurse' });
    expect(last).not.toHaveProperty('payload');
    expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: true, lines: 7, problems: [] });
  });

  it('behavior: a torn last line (crash mid-write) is cut and recorded when the log is next written', () => {
    writeFileSync(logPath, `${readFileSync(logPath, 'utf8')}{"n":7,"t":1,"ev`);
    expect(verifyAuditLog(tmp.dir).problems[0]).toMatchObject({ code: 'torn_tail' });
    const audit = new AuditLog(tmp.dir);
    audit.append('gateway_started', {});
    audit.close();
    expect(
      lines()
        .slice(-2)
        .map((l) => JSON.parse(l).event),
    ).toEqual(['audit_tail_repaired', 'gateway_started']);
    expect(verifyAuditLog(tmp.dir).ok).toBe(true);
  });
});

describe('verifyAuditLog', () => {
  it('error: an edited line breaks the chain at the next line', () => {
    const ls = lines();
    ls[2] = (ls[2] as string).replace('bad_signature', 'replay_conflict');
    writeLines(ls);
    expect(verifyAuditLog(tmp.dir)).toMatchObject({
      ok: false,
      problems: [{ file: 'audit.log', line: 4, code: 'chain_broken' }],
    });
  });

  it('error: an edited last line no longer matches the head', () => {
    const ls = lines();
    ls[5] = (ls[5] as string).replace('"seq":6', '"seq":60');
    writeLines(ls);
    expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: false, problems: [{ code: 'head_mismatch' }] });
  });

  it('error: a deleted line is out of sequence and breaks the chain', () => {
    const ls = lines();
    ls.splice(3, 1);
    writeLines(ls);
    const r = verifyAuditLog(tmp.dir);
    expect(r.ok).toBe(false);
    expect(r.problems.slice(0, 2)).toEqual([
      { file: 'audit.log', line: 4, code: 'out_of_sequence' },
      { file: 'audit.log', line: 4, code: 'chain_broken' },
    ]);
  });

  it('error: an inserted line and a reordered pair are detected', () => {
    const ls = lines();
    writeLines([...ls.slice(0, 2), ls[1] as string, ...ls.slice(2)]);
    expect(verifyAuditLog(tmp.dir).ok).toBe(false);
    writeLines([ls[0] as string, ls[2] as string, ls[1] as string, ...ls.slice(3)]);
    const r = verifyAuditLog(tmp.dir);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toEqual({ file: 'audit.log', line: 2, code: 'out_of_sequence' });
  });

  it('error: a truncated tail (whole lines removed) is detected through the head', () => {
    writeLines(lines().slice(0, 4));
    expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: false, problems: [{ code: 'truncated' }] });
  });

  it('error: a missing head is reported; a head behind the log (crash before its rename) is accepted', () => {
    const head = readFileSync(join(tmp.dir, AUDIT_HEAD_FILE), 'utf8');
    const audit = new AuditLog(tmp.dir);
    audit.append('logout', { user: 'nurse' });
    audit.close();
    writeFileSync(join(tmp.dir, AUDIT_HEAD_FILE), head); // the previous head: names line 6
    expect(verifyAuditLog(tmp.dir).ok).toBe(true);
    writeFileSync(join(tmp.dir, AUDIT_HEAD_FILE), 'garbage');
    expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: false, problems: [{ code: 'head_missing' }] });
  });
});
