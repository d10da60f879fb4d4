/**
 * @module test/integration/audit-rotation
 * Rotation of the audit log across processes (gateway/src/io/ops/audit-rotation.ts, issue
 * 16 "production gaps"), on real files with real processes: test/helpers/audit-child.ts,
 * bundled with esbuild and run by node.
 * - A rotation killed (SIGKILL) right after each of its steps leaves files that
 *   `verifyAuditLog` accepts, and a lock of the dead process that the next writer takes
 *   over; that writer finishes or undoes the rotation and the chain runs on unbroken.
 * - A gateway started from a config with `audit.rotateBytes` rotates its log by size (and
 *   the default is 64 MiB).
 * - The gateway's appender (this process: an `AuditLog` with a small `rotateBytes`, flushed
 *   from the event loop as the gateway's is) and CLI-like child processes appending and
 *   rotating at the same time still write one chain: every event once, `n` 1, 2, 3… across
 *   every archive, verify intact.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { gatewayOptionsFromConfig, validateConfig } from '../../gateway/src/app/config.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { AUDIT_LOG_FILE, AuditLog, verifyAuditLog } from '../../gateway/src/io/ops/audit.js';
import { AUDIT_NEXT_FILE, type RotationStep } from '../../gateway/src/io/ops/audit-rotation.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const CHILD_SRC = fileURLToPath(new URL('../helpers/audit-child.ts', import.meta.url));
let build: ReturnType<typeof makeTempDir>;
let child: string;
let tmp: ReturnType<typeof makeTempDir>;

beforeAll(() => {
  build = makeTempDir('vt-audit-child-');
  child = join(build.dir, 'audit-child.mjs');
  buildSync({ entryPoints: [CHILD_SRC], bundle: true, platform: 'node', format: 'esm', outfile: child });
});
afterAll(() => build.cleanup());
beforeEach(() => {
  tmp = makeTempDir('vt-audit-proc-');
});
afterEach(() => tmp.cleanup());

/** Runs the child to its end: exit code, the signal that killed it, what it printed. */
function runChild(args: string[]): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, out }));
  });
}

const archives = (dir = tmp.dir) =>
  readdirSync(dir)
    .filter((f) => /^audit\.log\.\d+-\d+$/.test(f))
    .sort();
const chain = (dir = tmp.dir) =>
  [...archives(dir), AUDIT_LOG_FILE].flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { n: number; event: string; user?: string; dev?: string; seq?: number }),
  );

describe('a rotation killed in the middle', () => {
  const steps: RotationStep[] = ['next-written', 'archived', 'activated'];
  for (const step of steps) {
    it(`behavior: SIGKILL after "${step}": verify accepts the files; the next writer takes the lock over and the chain runs on`, async () => {
      const audit = new AuditLog(tmp.dir);
      for (let i = 1; i <= 30; i++) audit.append('frame_rejected', { dev: 'wr-0001', seq: i });
      audit.flush();
      const r = await runChild(['crash', tmp.dir, step]);
      expect(r).toMatchObject({ signal: 'SIGKILL', out: '' });
      expect(existsSync(join(tmp.dir, 'audit.lock'))).toBe(true); // the dead process's lock
      expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: true, problems: [] });

      audit.append('gateway_started', {});
      audit.close();
      expect(existsSync(join(tmp.dir, 'audit.lock'))).toBe(false);
      expect(existsSync(join(tmp.dir, AUDIT_NEXT_FILE))).toBe(false);
      expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: true, problems: [] });
      const all = chain();
      expect(all.map((l) => l.n)).toEqual(all.map((_, i) => i + 1));
      expect(all.slice(30).map((l) => l.event)).toEqual(
        step === 'next-written' ? ['gateway_started'] : ['audit_rotated', 'gateway_started'],
      );
      expect(archives()).toHaveLength(step === 'next-written' ? 0 : 1);
    });
  }
});

describe('several processes on one audit log', () => {
  it('behavior: the gateway appending with rotation, two CLI appenders and a rotating CLI write one chain', async () => {
    const gateway = new AuditLog(tmp.dir, { rotateBytes: 4096 });
    const children = Promise.all([
      runChild(['append', tmp.dir, 'kgc', '150', '0']),
      runChild(['append', tmp.dir, 'displays', '150', '4096']),
      runChild(['rotate', tmp.dir, '20']),
    ]);
    let done = false;
    void children.then(() => {
      done = true;
    });
    let seq = 0;
    // Batches from the event loop, as the gateway's appender writes them, until the children end.
    while (!done || seq < 300) {
      seq += 1;
      gateway.append('frame_rejected', { dev: 'wr-0001', seq, code: 'bad_signature' });
      if (seq % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    gateway.close();
    for (const r of await children) expect(r).toMatchObject({ code: 0, out: 'done\n' });

    expect(verifyAuditLog(tmp.dir)).toMatchObject({ ok: true, problems: [] });
    const all = chain();
    expect(all.map((l) => l.n)).toEqual(all.map((_, i) => i + 1));
    const seqsOf = (pick: (l: (typeof all)[number]) => boolean) => all.filter(pick).map((l) => l.seq);
    const upTo = (k: number) => Array.from({ length: k }, (_, i) => i + 1);
    expect(seqsOf((l) => l.event === 'frame_rejected')).toEqual(upTo(seq));
    expect(seqsOf((l) => l.user === 'kgc')).toEqual(upTo(150));
    expect(seqsOf((l) => l.user === 'displays')).toEqual(upTo(150));
    const names = archives();
    expect(names.length).toBeGreaterThanOrEqual(20);
    expect(all.filter((l) => l.event === 'audit_rotated')).toHaveLength(names.length);
    for (const f of [...names, AUDIT_LOG_FILE]) expect(statSync(join(tmp.dir, f)).mode & 0o777).toBe(0o600);
  });
});

describe('the gateway', () => {
  it('behavior: config audit.rotateBytes reaches the running gateway, which rotates its audit log by size', async () => {
    await prepareDataDir(tmp.dir, []);
    const base = { dataDir: tmp.dir, http: { port: 0 }, mqtt: { port: 0 } };
    expect(gatewayOptionsFromConfig(validateConfig(base, {}, tmp.dir)).auditRotateBytes).toBe(
      64 * 1024 * 1024,
    );
    const opts = gatewayOptionsFromConfig(
      validateConfig({ ...base, audit: { rotateBytes: 1 } }, {}, tmp.dir),
    );
    const { logLevel: _, ...gwOpts } = opts;
    const gw = await startGateway({ ...gwOpts, logger: silentLogger });
    await gw.stop();
    const dir = dataPaths(tmp.dir).gatewayDir;
    // every batch fills the file: gateway_started and gateway_stopped each end up in an archive
    expect(archives(dir).length).toBeGreaterThanOrEqual(2);
    const events = chain(dir).map((l) => l.event);
    expect(events).toContain('gateway_started');
    expect(events).toContain('gateway_stopped');
    expect(verifyAuditLog(dir)).toMatchObject({ ok: true, problems: [] });
  });
});
