/**
 * kill -9 of the gateway while anchors are in flight (issue "anchoring that never loses a
 * checkpoint", ARCHITECTURE.md guarantee 5), through the built CLI (`npm run build` first):
 * the demo runs in a child process with a 0.3 s checkpoint interval and 3 devices at 20 Hz,
 * is SIGKILLed, and started again on the same data directory. anvil runs in its own process
 * group and survives the SIGKILL; the second start must find it (chain/endpoint.json) and stop
 * it before starting its own. After a graceful stop, every tree size is on chain once, strictly
 * increasing, each checkpoint of the store is anchored with the chain's transaction, and the
 * last anchor covers the whole log.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, test } from 'vitest';
import { type Deployment, fetchAnchors, startAnvil } from '../../anchor/src/ledger/index.js';
import { checkpointOrigin, logIdOf, toHex } from '../../gateway/src/core/log-names.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { runCli } from '../helpers/cli.js';
import { startDemo } from '../helpers/demo.js';
import { makeTempDir } from '../helpers/tmp.js';

const tmp = makeTempDir('vt-crash-');
const paths = dataPaths(tmp.dir);
const logId = logIdOf(checkpointOrigin('gw-1'));
const children: ChildProcess[] = [];
const stray: number[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of stray) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  tmp.cleanup();
});

/** Starts the demo with anchors every 0.3 s from 3 fast devices. */
async function startCrashDemo(): Promise<{ child: ChildProcess; out: () => string }> {
  const demo = await startDemo(tmp.dir, ['--checkpoint-interval', '0.3', '--devices', '3', '--rate', '20']);
  children.push(demo.child);
  return demo;
}

const endpoint = () => JSON.parse(readFileSync(paths.endpoint, 'utf8')) as { rpcUrl: string; pid: number };
const deployment = () => JSON.parse(readFileSync(paths.deployment, 'utf8')) as Deployment;
const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '';

test('behavior: SIGKILL with anchors in flight, restart: no checkpoint lost or doubled; the stale anvil is stopped', async () => {
  const first = await startCrashDemo();
  const anvil1 = endpoint().pid;
  stray.push(anvil1);
  // Let anchors flow, then kill while the next ones are in flight (one every 0.3 s).
  for (const deadline = Date.now() + 30_000; ; ) {
    const n = (await fetchAnchors({ rpcUrl: endpoint().rpcUrl, deployment: deployment(), logId })).length;
    if (n >= 4) break;
    if (Date.now() > deadline) throw new Error('no anchors');
    await sleep(100);
  }
  await sleep(170);
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  expect(alive(anvil1), 'anvil outlives a SIGKILL of the demo (own process group)').toBe(true);

  const second = await startCrashDemo();
  const anvil2 = endpoint().pid;
  stray.push(anvil2);
  expect(anvil2).not.toBe(anvil1);
  expect(alive(anvil1), 'the stale anvil was stopped by the second start').toBe(false);
  await sleep(2500);
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));
  expect(second.child.exitCode, second.out()).toBe(0);

  // The state the graceful stop saved, read back on a fresh node.
  const node = await startAnvil({ stateFile: paths.anvilState });
  const store = openStore(paths.db);
  try {
    const onChain = await fetchAnchors({ rpcUrl: node.rpcUrl, deployment: deployment(), logId });
    const sizes = onChain.map((a) => a.treeSize);
    expect(sizes.length).toBeGreaterThan(8);
    expect(new Set(sizes).size, 'each tree size once').toBe(sizes.length);
    expect(
      sizes.every((s, i) => i === 0 || s > sizes[i - 1]!),
      'strictly increasing',
    ).toBe(true);
    expect(sizes.at(-1), 'the last anchor is the whole log').toBe(store.size);
    expect(store.pendingCheckpoints()).toEqual([]);
    const anchored = store.anchoredCheckpoints();
    expect(anchored.map((c) => c.treeSize)).toEqual(sizes);
    expect(anchored.map((c) => toHex(c.root))).toEqual(onChain.map((a) => a.rootHash));
    expect(anchored.map((c) => c.txHash)).toEqual(onChain.map((a) => a.txHash));

    // The CLI agrees: nothing pending, and the chain's anchors check out against the local log.
    const status = await runCli(['anchors', 'status', '--data', tmp.dir, '--rpc', node.rpcUrl, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      pending: 0,
      lastAnchoredSize: store.size,
      onChainLatestSize: store.size,
      onChainAnchors: sizes.length,
    });
    expect(JSON.parse(status.stdout).vkey).toMatch(/^vitaltrail\/gw-1\+[0-9a-f]{8}\+A/);
    const check = await runCli(['anchors', 'verify-chain', '--data', tmp.dir, '--rpc', node.rpcUrl]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain(`${sizes.length} anchors of vitaltrail/gw-1`);
  } finally {
    store.close();
    await node.stop();
  }
}, 120_000);
