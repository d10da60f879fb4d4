/**
 * @module test/e2e/issue-13-cli
 * Issue 13 through the built CLI, with real files, real symlinks and real pipes: user-named
 * outputs refused when they are symlinks, directories or in a missing directory (exit 2, a
 * coded line, no stack trace, nothing written through them), PKCS#12 files mode 0600 past a
 * planted `<out>.partial` symlink, device ids `.`/`..`/`-x`, bad time ranges, the verify
 * input cap, `kgc list | head -1`, a mistyped `--data`, and a short password.
 * Needs the build first (`npx tsc -p tsconfig.build.json`).
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliResult, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
let data: string;
let pass: string;

beforeAll(async () => {
  tmp = makeTempDir('vt-issue13-cli-');
  data = join(tmp.dir, 'data');
  expect((await runCli(['kgc', 'init', '--data', data])).code).toBe(0);
  for (const dev of ['wr-0001', 'wr-0002', 'wr-0003']) {
    const r = await runCli(['kgc', 'enroll', '--device', dev, '--data', data]);
    expect(r.code, r.stderr).toBe(0);
  }
  pass = join(tmp.dir, 'pass');
  writeFileSync(pass, 'long enough passphrase\n', { mode: 0o600 });
}, 60_000);
afterAll(() => tmp.cleanup());

/** Exit 2, one coded error line, no stack trace. */
function codedExit2(r: CliResult, code: string): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`^error: ${code}: [^\\n]+\\n$`));
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** The built CLI with `stdin` piped in (as a script or a password manager would). */
const runWithStdin = (args: string[], stdin: string): Promise<CliResult> => runCli(args, { stdin });

describe('user-named outputs (issue 13, item 4)', () => {
  it('error: export, export-fhir and export-p12 refuse a symlinked, dangling, directory or missing-dir --out; nothing written through them', async () => {
    const dir = join(tmp.dir, 'outs');
    mkdirSync(dir);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'victim', { mode: 0o644 });
    symlinkSync(victim, join(dir, 'link.json'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling.json'));
    mkdirSync(join(dir, 'sub'));
    const commands = (out: string): string[][] => [
      ['export', '--device', 'wr-0001', '--out', out, '--data', data],
      ['export-fhir', '--device', 'wr-0001', '--out', out, '--data', data],
      ['kgc', 'export-p12', '--device', 'wr-0001', '--out', out, '--passphrase-file', pass, '--data', data],
    ];
    for (const out of ['link.json', 'dangling.json', 'sub', join('missing', 'x.json')]) {
      for (const args of commands(join(dir, out))) codedExit2(await runCli(args), 'output_path_invalid');
    }
    expect(readFileSync(victim, 'utf8')).toBe('victim');
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['dangling.json', 'link.json', 'sub', 'victim.txt']);
    expect(readdirSync(join(dir, 'sub'))).toEqual([]);
    expect(readdirSync(tmp.dir)).not.toContain('sub.partial');
  }, 120_000);

  it('behavior: export-p12 writes mode 0600 past a planted <out>.partial symlink, which stays untouched', async () => {
    const dir = join(tmp.dir, 'p12');
    mkdirSync(dir);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'victim', { mode: 0o644 });
    const out = join(dir, 'wr-0002.p12');
    symlinkSync(victim, `${out}.partial`);
    writeFileSync(out, 'stale', { mode: 0o644 }); // an older export, readable by others
    const r = await runCli([
      'kgc',
      'export-p12',
      '--device',
      'wr-0002',
      '--out',
      out,
      '--passphrase-file',
      pass,
      '--data',
      data,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out).length).toBeGreaterThan(500);
    expect(readFileSync(victim, 'utf8')).toBe('victim');
    expect(lstatSync(`${out}.partial`).isSymbolicLink()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['victim.txt', 'wr-0002.p12', 'wr-0002.p12.partial']);
  }, 60_000);
});

describe('inputs that are refused (issue 13, item 6)', () => {
  it("error: kgc enroll --device '..', '.', '-x' exit 2 and write nothing", async () => {
    const before = readdirSync(data).sort();
    const devicesBefore = readdirSync(join(data, 'devices')).sort();
    for (const bad of ['..', '.', '-x']) {
      const r = await runCli(['kgc', 'enroll', `--device=${bad}`, '--data', data]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("not '.' or '..', not starting with '-'");
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readdirSync(data).sort()).toEqual(before);
    expect(readdirSync(join(data, 'devices')).sort()).toEqual(devicesBefore);
    expect(existsSync(join(data, 'device.key.pem'))).toBe(false);
  }, 60_000);

  it('error: export --from -5, --from 99999999999999999999, from after to: time_range_invalid, exit 2', async () => {
    const out = join(tmp.dir, 'range.json');
    for (const range of [
      ['--from=-5'],
      ['--from', '99999999999999999999'],
      ['--from', '2000', '--to', '1000'],
      ['--to', 'tomorrow'],
    ]) {
      codedExit2(await runCli(['export', ...range, '--out', out, '--data', data]), 'time_range_invalid');
      codedExit2(
        await runCli(['export-fhir', '--device', 'wr-0001', ...range, '--out', out, '--data', data]),
        'time_range_invalid',
      );
    }
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it('error: verify refuses a bundle over --max-input-mib before reading it (input_too_large, exit 2)', async () => {
    const big = join(tmp.dir, 'big.bundle.json');
    // 2 MiB of not-JSON: read whole, it would be a JSON error, not the cap's code.
    writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 0x78));
    const anchors = join(tmp.dir, 'anchors.json');
    writeFileSync(anchors, '{}');
    codedExit2(
      await runCli(['verify', big, '--anchors', anchors, '--max-input-mib', '1']),
      'input_too_large',
    );
    const r = await runCli(['verify', big, '--anchors', anchors, '--max-input-mib', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('input_too_large');
  }, 60_000);
});

describe('CLI edges (issue 13, item 12)', () => {
  it('behavior: `kgc list` whose stdout reader went away (a real pipe, closed) exits 0 with no stack trace', async () => {
    // The read end closes before the command writes (as `| head -1` does once it has its
    // line, here made certain rather than left to a race): every write meets EPIPE.
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'kgc', 'list', '--data', data], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it('error: devices --data /nonexistent exits 2 with data_dir_missing and creates nothing', async () => {
    const missing = join(tmp.dir, 'typo', 'data');
    codedExit2(await runCli(['devices', '--data', missing]), 'data_dir_missing');
    codedExit2(await runCli(['users', 'list', '--data', missing]), 'data_dir_missing');
    expect(existsSync(join(tmp.dir, 'typo'))).toBe(false);
  }, 60_000);

  it('error: users add with a short or one-class password is password_weak; nothing is stored', async () => {
    for (const pw of ['short\n', 'abcdefghijklmnop\n']) {
      codedExit2(
        await runWithStdin(['users', 'add', '--username', 'kim', '--role', 'nurse', '--data', data], pw),
        'password_weak',
      );
    }
    expect(existsSync(join(data, 'gateway', 'users.json'))).toBe(false);
    const ok = await runWithStdin(
      ['users', 'add', '--username', 'kim', '--role', 'nurse', '--data', data],
      'kim-secret-12\n',
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).not.toContain('kim-secret-12');
  }, 60_000);
});
