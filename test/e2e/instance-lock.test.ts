/**
 * @module test/e2e/instance-lock
 * Issue 13 item 11: "a kill during start-up leaves an orphan anvil that later starts never
 * stop, and two anvils then rewrite one state file; a second `npm start` on the same data
 * dir is not refused and kills the running demo's chain."
 *
 * - One data directory, one running instance: a second demo on it exits 2 with
 *   `data_dir_in_use` and the first keeps running (io/ops/instance-lock); a lock left by a
 *   killed process is taken over.
 * - The embedded chain's pid is recorded as soon as anvil is spawned: a demo killed (-9, its
 *   whole process group) right after anvil appears leaves a pid the next start stops, so
 *   exactly one anvil runs on the state file afterwards.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTANCE_LOCK_FILE, lockDataDir } from '../../gateway/src/io/ops/instance-lock.js';
import { VitalTrailError } from '../../gateway/src/protocol/errors.js';
import { BIN, runCli } from '../helpers/cli.js';
import { startDemo } from '../helpers/demo.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Pids of anvil processes whose command line names `stateFile`. */
function anvilsOn(stateFile: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('anvil') && argv.includes(stateFile)) out.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** A pid that certainly does not run any more (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid as number;
}

describe('one instance per data directory', () => {
  let cleanup: (() => void) | undefined;
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null || !c.pid) continue;
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    children.length = 0;
    cleanup?.();
  });

  it('error: the lock refuses a second owner, also in one process; release lets the next one in', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const lock = lockDataDir(tmp.dir);
    let caught: unknown;
    try {
      lockDataDir(tmp.dir);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VitalTrailError);
    expect((caught as VitalTrailError).code).toBe('data_dir_in_use');
    expect((caught as Error).message).toContain(String(process.pid));
    lock.release();
    lockDataDir(tmp.dir).release();
  });

  it('behavior: a lock left by a process that no longer runs is taken over', () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const path = join(tmp.dir, INSTANCE_LOCK_FILE);
    writeFileSync(path, JSON.stringify({ pid: deadPid(), startTicks: 1 }));
    const lock = lockDataDir(tmp.dir);
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('error: a second demo on a running demo’s data directory exits 2 with data_dir_in_use; the first runs on', async () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const data = join(tmp.dir, 'demo');
    const first = await startDemo(data, ['--devices', '0']);
    children.push(first.child);
    try {
      const anvils = anvilsOn(join(data, 'chain', 'anvil-state.json'));
      expect(anvils).toHaveLength(1);
      const second = await runCli(
        [
          'demo',
          '--data',
          data,
          '--devices',
          '0',
          '--http-port',
          '0',
          '--mqtt-port',
          '0',
          '--chain-port',
          '0',
        ],
        { timeoutMs: 60_000 },
      );
      expect(second.code).toBe(2);
      expect(second.stderr).toContain('data_dir_in_use');
      expect(second.stderr).not.toMatch(/\n\s+at /); // no stack trace
      // The first demo's chain was not touched, and it still answers.
      expect(anvilsOn(join(data, 'chain', 'anvil-state.json'))).toEqual(anvils);
      const res = await fetch(`${first.field('Dashboard')}healthz`);
      expect(res.status).toBe(200);
    } finally {
      await first.stop();
    }
  }, 120_000);

  it('behavior: a demo killed (-9, whole group) right after anvil spawns leaves no orphan: the next start runs exactly one anvil', async () => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    const data = join(tmp.dir, 'demo');
    const state = join(data, 'chain', 'anvil-state.json');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'demo',
        '--data',
        data,
        '--devices',
        '0',
        '--http-port',
        '0',
        '--mqtt-port',
        '0',
        '--chain-port',
        '0',
      ],
      { stdio: 'ignore', detached: true },
    );
    children.push(child);
    const t0 = Date.now();
    while (anvilsOn(state).length === 0) {
      if (Date.now() - t0 > 60_000) throw new Error('anvil never started');
      await new Promise((r) => setTimeout(r, 5));
    }
    process.kill(-(child.pid as number), 'SIGKILL'); // the demo's group; anvil has its own
    await new Promise((r) => child.once('exit', r));

    const again = await startDemo(data, ['--devices', '0']);
    children.push(again.child);
    try {
      expect(anvilsOn(state)).toHaveLength(1);
    } finally {
      await again.stop();
    }
    // The second demo stopped its anvil: none is left running on the state file.
    const t1 = Date.now();
    while (anvilsOn(state).length > 0 && Date.now() - t1 < 15_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(anvilsOn(state)).toEqual([]);
  }, 180_000);
});
