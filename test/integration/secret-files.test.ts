/**
 * @module test/integration/secret-files
 * Secret files are written whole or not at all (io/ops/datadir `writeSecret`, `createSecret`;
 * io/anchoring/chain `ensureAccountKey`). The start-up crash campaign met a demo killed between
 * creating a ledger account key file and writing it: the next start read the empty file as a
 * key and exited ("invalid private key"); what a killed writer leaves beside a file is swept at
 * the next start (`sweepStaleTemps`). Real files and real kills (SIGKILL of a writing
 * process; it needs the build, `npm run build`). That a new name is made durable (its
 * directory fsync'd after the link or rename) is read from the system calls themselves, traced
 * with strace: a power cut, which would show it otherwise, cannot be made here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureAccountKey } from '../../gateway/src/io/anchoring/chain.js';
import { createSecret, sweepStaleTemps, writeSecret } from '../../gateway/src/io/ops/datadir.js';
import { makeTempDir } from '../helpers/tmp.js';

const DATADIR_JS = fileURLToPath(new URL('../../dist/gateway/src/io/ops/datadir.js', import.meta.url));

let tmp: ReturnType<typeof makeTempDir> | undefined;
afterEach(() => {
  tmp?.cleanup();
  tmp = undefined;
});
const dir = () => {
  tmp = makeTempDir('vt-secret-');
  return tmp.dir;
};
const mode = (p: string) => statSync(p).mode & 0o777;

describe('secret files', () => {
  it('behavior: writeSecret replaces a file whole, mode 0600, and leaves no file beside it', () => {
    const d = dir();
    const p = join(d, 'a.key');
    writeSecret(p, 'one\n');
    writeSecret(p, 'two\n');
    expect(readFileSync(p, 'utf8')).toBe('two\n');
    expect(mode(p)).toBe(0o600);
    expect(readdirSync(d)).toEqual(['a.key']);
  });

  it('behavior: createSecret writes once; a second call (another process, a second start) leaves it', () => {
    const d = dir();
    const p = join(d, 'b.key');
    expect(createSecret(p, 'first\n')).toBe(true);
    expect(createSecret(p, 'second\n')).toBe(false);
    expect(readFileSync(p, 'utf8')).toBe('first\n');
    expect(mode(p)).toBe(0o600);
    expect(readdirSync(d)).toEqual(['b.key']);
  });

  it('behavior: an empty account key file (a start killed mid-write) gets a new key, kept from then on', () => {
    const d = dir();
    const p = join(d, 'gateway.key');
    writeFileSync(p, '', { mode: 0o600 });
    const key = ensureAccountKey(p);
    expect(key).toMatch(/^0x[0-9a-f]{64}$/);
    expect(ensureAccountKey(p)).toBe(key);
    expect(mode(p)).toBe(0o600);
    const fresh = join(d, 'other.key');
    expect(ensureAccountKey(fresh)).toBe(ensureAccountKey(fresh));
  });

  it('error: an account key file holding something else is config_invalid, and is left as it is', () => {
    const p = join(dir(), 'gateway.key');
    writeFileSync(p, '0x1234\n', { mode: 0o600 });
    expect(() => ensureAccountKey(p)).toThrow(expect.objectContaining({ code: 'config_invalid' }));
    expect(readFileSync(p, 'utf8')).toBe('0x1234\n');
  });

  it("behavior: a secret file's new name is made durable: its directory is fsync'd after the link (createSecret) or the rename (writeSecret)", () => {
    const d = dir();
    const calls = 'trace=openat,link,linkat,rename,renameat,renameat2,fsync,fdatasync';
    for (const fn of ['createSecret', 'writeSecret']) {
      const p = join(d, `${fn}.key`);
      const traces = join(d, `${fn}-traces`);
      mkdirSync(traces);
      const script = `import(${JSON.stringify(DATADIR_JS)}).then((m) => m.${fn}(${JSON.stringify(p)}, 'k\\n'))`;
      // -ff: a file per thread, so the main thread's calls are whole lines in their order.
      const args = ['-ff', '-qq', '-o', join(traces, 't'), '-e', calls, process.execPath, '-e', script];
      const r = spawnSync('strace', args, { encoding: 'utf8' });
      expect(r.status, `${fn}: ${r.stderr}`).toBe(0);
      expect(readFileSync(p, 'utf8')).toBe('k\n');
      const lines = readdirSync(traces)
        .map((t) => readFileSync(join(traces, t), 'utf8'))
        .filter((t) => t.includes(`"${p}"`))
        .join('\n')
        .split('\n');
      const named = lines.findIndex(
        (l) => /\b(link|linkat|rename|renameat2?)\(/.test(l) && l.includes(`"${p}"`) && / = 0$/.test(l),
      );
      expect(named, `${fn}: the link or rename onto the file`).toBeGreaterThanOrEqual(0);
      let dirFd: string | undefined;
      let synced = false;
      for (const l of lines.slice(named + 1)) {
        const opened = l.includes(`openat(AT_FDCWD, "${d}", `) ? / = (\d+)$/.exec(l) : null;
        if (opened) dirFd = opened[1];
        if (dirFd !== undefined && new RegExp(`\\bfsync\\(${dirFd}\\)\\s+= 0$`).test(l)) synced = true;
      }
      expect(synced, `${fn}: the directory fsync'd after the new name`).toBe(true);
    }
  });

  it('behavior: a process killed (SIGKILL) at 12 points while it writes a secret leaves it whole or absent, never torn', async () => {
    const d = dir();
    const p = join(d, 'big.key');
    const size = 4 << 20; // 4 MiB a write: most kills land inside one
    // The writer says when it starts writing (`s`) and when each write is done (`w`), so the
    // kills land in its writes however slow the machine is to start a process.
    const script = `import { writeSecret } from ${JSON.stringify(DATADIR_JS)};
      process.stdout.write('s');
      for (let i = 0; ; i++) {
        writeSecret(${JSON.stringify(p)}, String.fromCharCode(97 + (i % 26)).repeat(${size}));
        process.stdout.write('w');
      }`;
    for (let k = 0; k < 12; k++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      // The first kill comes after a whole write (the file then exists for every kill after
      // it: each replaces a whole secret); the others anywhere from the writer's start on.
      const token = k === 0 ? 'w' : 's';
      await new Promise<void>((started, failed) => {
        let seen = '';
        child.stdout.on('data', (b: Buffer) => {
          seen += b.toString('latin1');
          if (seen.includes(token)) started();
        });
        child.once('exit', () => failed(new Error(`kill ${k}: the writer exited by itself`)));
      });
      await new Promise((r) => setTimeout(r, (k * 37) % 100));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // What the killed writer left beside it goes at the next sweep (a gateway's start).
      sweepStaleTemps(d);
      expect(
        readdirSync(d).filter((n) => n !== 'big.key'),
        `kill ${k}`,
      ).toEqual([]);
      if (!existsSync(p)) continue;
      const body = readFileSync(p, 'latin1');
      expect(body.length, `kill ${k}`).toBe(size);
      expect(body, `kill ${k}`).toBe(body.charAt(0).repeat(size));
    }
    expect(existsSync(p)).toBe(true); // the first writer finished one
  });

  it('behavior: sweepStaleTemps removes the files of writers that are gone, and only those', async () => {
    const d = dir();
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((r) => gone.once('exit', r));
    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      const files = {
        stale: `users.json.${gone.pid}.0a1b2c3d.tmp`,
        ownWrite: `gateway.key.${process.pid}.deadbeef.tmp`,
        otherWrite: `kgc.key.${alive.pid}.01234567.tmp`,
        notOurs: 'notes.tmp',
        target: 'users.json',
      };
      for (const name of Object.values(files)) writeFileSync(join(d, name), 'x', { mode: 0o600 });
      expect(sweepStaleTemps(d)).toEqual([files.stale]);
      expect(readdirSync(d).sort()).toEqual(
        [files.ownWrite, files.otherWrite, files.notOurs, files.target].sort(),
      );
      expect(sweepStaleTemps(join(d, 'missing'))).toEqual([]);
    } finally {
      alive.kill('SIGKILL');
    }
  });
});
