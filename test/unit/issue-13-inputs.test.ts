/**
 * @module test/unit/issue-13-inputs
 * Issue 13 ("Hostile input never stalls, bloats or fools the gateway"), the pure and
 * file-level parts: the safe writer of user-named outputs (real files and real symlinks),
 * device ids `.`/`..`/`-x`, time bounds, and the password policy.
 */
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTimeRange, timeOption } from '../../gateway/src/cli/inputs.js';
import { checkPasswordPolicy } from '../../gateway/src/cli/users.js';
import { OutputPathError, writeOutputFile } from '../../gateway/src/io/ops/index.js';
import { DEVICE_ID_PATTERN } from '../../gateway/src/protocol/frame.js';
import { makeTempDir } from '../helpers/tmp.js';

const tmp = makeTempDir('vt-issue13-');
afterAll(() => tmp.cleanup());

function refused(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Error);
  expect(err).toMatchObject({ code });
}

describe('writeOutputFile (issue 13, item 4)', () => {
  it('behavior: writes mode 0600 through a fresh temp file, also over an existing 0644 file; no temp left', () => {
    const dir = join(tmp.dir, 'ok');
    mkdirSync(dir);
    const out = join(dir, 'bundle.json');
    writeFileSync(out, 'old', { mode: 0o644 });
    writeOutputFile(out, 'new content\n');
    expect(readFileSync(out, 'utf8')).toBe('new content\n');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['bundle.json']);
  });

  it('error: a planted <out>.partial symlink is never followed: its target stays untouched', () => {
    const dir = join(tmp.dir, 'planted');
    mkdirSync(dir);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'victim', { mode: 0o644 });
    const out = join(dir, 'bundle.json');
    symlinkSync(victim, `${out}.partial`);
    writeOutputFile(out, 'patient data');
    expect(readFileSync(victim, 'utf8')).toBe('victim');
    expect(lstatSync(`${out}.partial`).isSymbolicLink()).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('patient data');
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('error: a symlinked, dangling-symlink, directory or missing-directory out is output_path_invalid; nothing written', () => {
    const dir = join(tmp.dir, 'bad');
    mkdirSync(dir);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'victim');
    symlinkSync(victim, join(dir, 'link.json'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling.json'));
    mkdirSync(join(dir, 'sub'));
    for (const out of ['link.json', 'dangling.json', 'sub', 'missing/bundle.json']) {
      refused(() => writeOutputFile(join(dir, out), 'x'), 'output_path_invalid');
    }
    expect(() => writeOutputFile(join(dir, 'sub'), 'x')).toThrow(OutputPathError);
    expect(readFileSync(victim, 'utf8')).toBe('victim');
    expect(readdirSync(dir).sort()).toEqual(['dangling.json', 'link.json', 'sub', 'victim.txt']);
    expect(readdirSync(join(dir, 'sub'))).toEqual([]);
  });
});

describe('device ids (issue 13, item 6)', () => {
  it("error: '.', '..' and a leading '-' are not device ids; the rest of PROTOCOL.md §1's alphabet is", () => {
    for (const bad of ['.', '..', '-x', '-', '--help']) expect(DEVICE_ID_PATTERN.test(bad)).toBe(false);
    for (const ok of ['wr-0001', '...', '.x', 'x.', 'a-', '_a', '0'])
      expect(DEVICE_ID_PATTERN.test(ok)).toBe(true);
  });
});

describe('time bounds (issue 13, item 6)', () => {
  it('behavior: ms since the epoch and ISO 8601 from 1970', () => {
    expect(timeOption('0')).toBe(0);
    expect(timeOption('2026-11-21T08:00:00Z')).toBe(Date.UTC(2026, 10, 21, 8));
    expect(timeOption(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('error: negative, beyond the safe range, not a time, and from after to are time_range_invalid', () => {
    for (const bad of [
      '-5',
      '99999999999999999999',
      '9007199254740992',
      '1.5',
      'soon',
      '',
      '1969-12-31T00:00:00Z',
    ])
      refused(() => timeOption(bad), 'time_range_invalid');
    refused(() => checkTimeRange(10, 9), 'time_range_invalid');
    expect(() => checkTimeRange(9, 9)).not.toThrow();
  });
});

describe('password policy (issue 13, item 12)', () => {
  it('error: shorter than 12 characters or of one class is password_weak; a mixed 12 passes', () => {
    for (const bad of ['short', 'kim-secret1', 'abcdefghijklmnop', '123456789012345'])
      refused(() => checkPasswordPolicy(bad), 'password_weak');
    expect(checkPasswordPolicy('kim-secret-1')).toBe('kim-secret-1');
  });
});
