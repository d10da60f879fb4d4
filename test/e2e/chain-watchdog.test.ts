/**
 * @module test/e2e/chain-watchdog
 * Issue 13 item 11, "chain watchdog and /readyz on a stuck outbox", through the built CLI
 * (`npm run build` first): the demo runs with 3 wearables sending frames and a checkpoint
 * every 0.5 s; its anvil is killed with SIGKILL (its pid from `chain/endpoint.json`). Without
 * restarting the demo:
 * - `/readyz` answers 503 `ledger_unavailable` while the node is down, and 200 again after;
 * - a new anvil runs on the same state file and RPC URL (one node, never two);
 * - anchoring resumes by itself: new checkpoints are anchored and the outbox drains to 0;
 * - the restart is logged and counted (`vitaltrail_chain_restarts_total{outcome="restarted"}`).
 * After a graceful stop, `anchors verify-chain` on the saved state proves that no checkpoint
 * the store calls anchored is missing on chain (the killed node may have lost its last second
 * of blocks; the restarted anchorer reconciled and anchored them again).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, test } from 'vitest';
import { startAnvil } from '../../anchor/src/ledger/index.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { runCli } from '../helpers/cli.js';
import { type DemoProcess, startDemo } from '../helpers/demo.js';
import { makeTempDir } from '../helpers/tmp.js';

const tmp = makeTempDir('vt-watchdog-');
const paths = dataPaths(tmp.dir);
let demo: DemoProcess | undefined;

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

afterAll(async () => {
  await demo?.stop();
  for (const pid of anvilsOn(paths.anvilState)) process.kill(pid, 'SIGKILL');
  tmp.cleanup();
});

const endpoint = () => JSON.parse(readFileSync(paths.endpoint, 'utf8')) as { rpcUrl?: string; pid: number };

async function until<T>(
  fn: () => Promise<T> | T,
  ok: (v: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what} (last: ${JSON.stringify(v)})`);
    await sleep(50);
  }
}

interface AnchoringDto {
  logSize: number;
  pending: number;
  lastAnchoredSize: number;
  lastError: string | null;
}

test('behavior: anvil killed -9 under a running demo: /readyz 503 while down, the node is restarted on the same state file, anchoring resumes to 0 pending, /readyz 200 — same demo process', async () => {
  demo = await startDemo(tmp.dir, ['--checkpoint-interval', '0.5', '--devices', '3', '--rate', '5']);
  const base = demo.field('Dashboard'); // ends with '/'
  const password = readFileSync(paths.initialAdminPassword, 'utf8').trim();
  const login = await fetch(`${base}api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  expect(login.status).toBe(200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const anchoring = async (): Promise<AnchoringDto> =>
    (await (await fetch(`${base}anchoring`, { headers: { cookie } })).json()) as AnchoringDto;

  // Anchors flow, and the gateway is ready.
  await until(anchoring, (a) => a.lastAnchoredSize > 0 && a.pending === 0, 30_000, 'first anchors');
  expect((await fetch(`${base}readyz`)).status).toBe(200);
  const before = endpoint();
  expect(anvilsOn(paths.anvilState)).toEqual([before.pid]);

  // /readyz from the kill on, every 20 ms.
  const seen: { at: number; status: number; code?: string }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const r = await fetch(`${base}readyz`);
        const body = (await r.json()) as { error?: { code: string } };
        seen.push({ at: Date.now(), status: r.status, ...(body.error ? { code: body.error.code } : {}) });
      } catch {
        seen.push({ at: Date.now(), status: 0 });
      }
      await sleep(20);
    }
  })();

  const killedAt = Date.now();
  process.kill(before.pid, 'SIGKILL');

  // A new node on the same state file and the same RPC URL; the old one is gone.
  const after = await until(
    endpoint,
    (e) =>
      e.pid !== before.pid && e.rpcUrl !== undefined && anvilsOn(paths.anvilState).join() === String(e.pid),
    20_000,
    'a restarted anvil',
  );
  expect(after.rpcUrl).toBe(before.rpcUrl);

  // /readyz went 503 while the node was down, and is 200 again.
  await until(
    () => seen,
    (s) => {
      const down = s.findIndex((x) => x.status === 503);
      return down >= 0 && s.slice(down).some((x) => x.status === 200);
    },
    30_000,
    '/readyz 503 then 200',
  );
  const firstDown = seen.find((x) => x.status === 503) as { at: number };
  const backUp = seen.find((x) => x.at > firstDown.at && x.status === 200) as { at: number };
  expect(seen.filter((x) => x.status === 503).map((x) => x.code)).toEqual(
    seen.filter((x) => x.status === 503).map(() => 'ledger_unavailable'),
  );
  expect(seen.every((x) => x.status === 200 || x.status === 503)).toBe(true); // HTTP never stopped answering

  // Anchoring resumed by itself: checkpoints cut after the recovery are anchored, the outbox drains.
  const sizeAtRecovery = (await anchoring()).logSize;
  const resumed = await until(
    anchoring,
    (a) => a.pending === 0 && a.lastAnchoredSize >= sizeAtRecovery && a.lastError === null,
    30_000,
    'anchoring resumed with an empty outbox',
  );
  polling = false;
  await poller;
  console.log(
    `[chain-watchdog] 503 after ${firstDown.at - killedAt} ms, 200 again after ${backUp.at - killedAt} ms; ` +
      `anchored ${resumed.lastAnchoredSize} of ${resumed.logSize}`,
  );
  expect(resumed.lastAnchoredSize).toBeGreaterThan(0);
  expect((await fetch(`${base}readyz`)).status).toBe(200);
  expect(await (await fetch(`${base}healthz`)).json()).toEqual({
    status: 'ok',
    gateway: 'gw-1',
    store: 'ok',
    anchoring: 'ok',
  });

  // The same demo process all along; the restart was logged and counted.
  expect(demo.child.exitCode).toBeNull();
  expect(demo.child.signalCode).toBeNull();
  const metrics = await (await fetch(`${base}metrics`)).text();
  expect(metrics).toMatch(/^vitaltrail_chain_restarts_total\{outcome="restarted"\} 1$/m);
  expect(demo.out()).toContain('embedded chain exited; restarting it');
  expect(demo.out()).toContain('embedded chain restarted; anchoring resumes');

  // A graceful stop stops the restarted node too; the chain it saved holds every anchor.
  await demo.stop();
  expect(demo.child.exitCode, demo.out()).toBe(0);
  await until(
    () => anvilsOn(paths.anvilState),
    (p) => p.length === 0,
    15_000,
    'no anvil left',
  );
  const node = await startAnvil({ stateFile: paths.anvilState });
  try {
    const check = await runCli(['anchors', 'verify-chain', '--data', tmp.dir, '--rpc', node.rpcUrl]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const status = await runCli(['anchors', 'status', '--data', tmp.dir, '--rpc', node.rpcUrl, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0 });
  } finally {
    await node.stop();
  }
}, 150_000);
