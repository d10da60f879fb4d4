/**
 * Scale-out (ARCHITECTURE.md "Scale-out", PROTOCOL.md §2-5): three gateway processes share
 * one real Mosquitto through the MQTT 5 shared subscription, each with its own data dir
 * (own store and log, same KGC) and its own ledger account, anchoring its log on one real
 * anvil where the deploy job (`vitaltrail chain deploy`, as docker-compose runs it)
 * registered all three; a ward of simulated devices in external-broker mode (frames kept
 * until the application ack). One gateway is SIGKILLed mid-stream. Afterwards every frame
 * any device made is stored at least once across the gateways; the cross-gateway count
 * (union on (dev, seq)) counts each once, and so does the auditor: each log exported with
 * `vitaltrail export`, all bundles verified together by `vitaltrail verify --rpc`.
 * A second test SIGTERMs a gateway mid-stream and checks that the graceful stop loses
 * nothing and acks nothing it has not stored.
 *
 * Needs the built runner and CLI: `npm run build` (npm test builds first).
 */
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AnvilHandle, fundAccount, startAnvil } from '../../anchor/src/ledger/anvil.js';
import type { BundleReport, SequenceReport } from '../../anchor/src/verify/verify.js';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { framesTopic } from '../../gateway/src/core/topics.js';
import { accountOf, ensureAccountKey } from '../../gateway/src/io/anchoring/chain.js';
import { type DataPaths, dataPaths, ensureDir } from '../../gateway/src/io/ops/datadir.js';
import { countAcrossGateways } from '../../gateway/src/io/store/scale-out.js';
import { runCli } from '../helpers/cli.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { type GatewayProcess, type RunnerArgs, spawnGatewayRunner } from '../helpers/gateway-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEVICES = Array.from({ length: 12 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);

/** Starts one runner process (4 lanes) and waits for its ready line (test/helpers/gateway-process). */
const spawnGateway = (id: string, dir: string, how: RunnerArgs): Promise<GatewayProcess> =>
  spawnGatewayRunner(id, dir, 'config' in how ? how : { lanes: 4, ...how });

/** An admin session cookie per gateway URL (the initial admin password of its data dir). */
const adminCookies = new Map<string, string>();

/** The gateway's `/anchoring` (admin session; `/healthz` publishes no log size). */
async function anchoringOf(g: GatewayProcess): Promise<{
  ledger: boolean;
  logSize: number;
  pending: number;
  lastAnchoredSize: number;
}> {
  let cookie = adminCookies.get(g.http);
  if (cookie === undefined) {
    const password = readFileSync(dataPaths(g.dir).initialAdminPassword, 'utf8').trim();
    const login = await fetch(`${g.http}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    cookie = String(login.headers.get('set-cookie')).split(';', 1)[0] as string;
    adminCookies.set(g.http, cookie);
  }
  const res = await fetch(`${g.http}/anchoring`, { headers: { cookie } });
  if (res.status === 401) {
    adminCookies.delete(g.http); // a restarted gateway on the same port: sign in again
    return anchoringOf(g);
  }
  return (await res.json()) as Awaited<ReturnType<typeof anchoringOf>>;
}

/** Fully anchored: no checkpoint pending and the latest anchored tree covers the whole log. */
async function fullyAnchored(g: GatewayProcess): Promise<boolean> {
  const a = await anchoringOf(g);
  return a.ledger && a.pending === 0 && a.lastAnchoredSize === a.logSize;
}

async function waitFor(fn: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dbOf = (g: { dir: string }) => dataPaths(g.dir).db;

/** Leaves of a stopped gateway's log beyond its latest anchored checkpoint (store read-only). */
function unanchoredTail(g: { dir: string }): number {
  const db = new Database(dbOf(g), { readonly: true, fileMustExist: true });
  try {
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM frames').get() as { n: number };
    const { size } = db
      .prepare("SELECT COALESCE(MAX(tree_size), 0) AS size FROM checkpoints WHERE state = 'anchored'")
      .get() as { size: number };
    return n - size;
  } finally {
    db.close();
  }
}

describe('several gateways behind one Mosquitto', () => {
  const tmp = makeTempDir();
  let seed: DataPaths;
  let broker: RunningMosquitto;
  let anvil: AnvilHandle;
  const gateways: GatewayProcess[] = [];
  const toStop: RunningMosquitto[] = [];

  /** A data dir per gateway, all trusting the same KGC, with the same enrolments. */
  const dataDirFor = (id: string): string => {
    const dir = join(tmp.dir, id);
    cpSync(seed.root, dir, { recursive: true });
    return dir;
  };

  beforeAll(async () => {
    [seed, broker, anvil] = await Promise.all([
      prepareDataDir(join(tmp.dir, 'seed'), DEVICES),
      startMosquitto(tmp.dir),
      startAnvil(),
    ]);
  });

  afterAll(async () => {
    for (const g of gateways)
      if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    await Promise.all(gateways.map((g) => g.exited));
    await broker?.stop();
    for (const b of toStop) await b.stop();
    await anvil?.stop();
    tmp.cleanup();
  });

  /**
   * The chain side of the production shape (gateway/deploy/bootstrap.sh and
   * deploy-contracts.sh) on the test's anvil: a KGC account key and one ledger account key
   * per gateway (0600 files), the deploy job run as a user would (`vitaltrail chain deploy`,
   * which registers each gateway account with its logId), the deployment file copied into
   * each gateway's data dir, and a gateway config file per gateway naming the ledger.
   * Dev chain only: the accounts are funded with anvil_setBalance (a QBFT network runs at
   * zero gas price). The ward's devices are registered on chain by the KGC account with
   * `vitaltrail kgc sync-registry` (docker-compose's registry-sync job), so the verifier can
   * check the registry at the anchoring block.
   */
  async function anchoredGateways(ids: string[]): Promise<Map<string, { dir: string; config: string }>> {
    const kgcDir = ensureDir(join(tmp.dir, 'kgc-chain'));
    const kgcKeyFile = join(kgcDir, 'kgc.key');
    const deploymentFile = join(kgcDir, 'deployment.json');
    const kgcKey = ensureAccountKey(kgcKeyFile);
    const dirs = new Map(ids.map((id) => [id, dataDirFor(id)]));
    const accounts = [accountOf(kgcKey)];
    for (const dir of dirs.values()) {
      const paths = dataPaths(dir);
      ensureDir(paths.chainDir);
      accounts.push(accountOf(ensureAccountKey(paths.gatewayAccountKey)));
    }
    await Promise.all(accounts.map((a) => fundAccount(anvil.rpcUrl, a)));
    const deploy = await runCli([
      'chain',
      'deploy',
      '--rpc',
      anvil.rpcUrl,
      '--key-file',
      kgcKeyFile,
      '--out',
      deploymentFile,
      ...[...dirs].flatMap(([id, dir]) => ['--gateway', `${id}=${dataPaths(dir).gatewayAccountKey}`]),
    ]);
    expect(deploy.stderr).toBe('');
    expect(deploy.code).toBe(0);
    expect(deploy.stdout).toContain(`registered gateways: ${ids.join(', ')}`);
    const sync = await runCli([
      'kgc',
      'sync-registry',
      '--data',
      seed.root,
      '--rpc',
      anvil.rpcUrl,
      '--deployment',
      deploymentFile,
      '--key-file',
      kgcKeyFile,
      '--json',
    ]);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    expect(
      (JSON.parse(sync.stdout) as { registered: { dev: string }[] }).registered.map((w) => w.dev),
    ).toEqual(DEVICES);
    const gateways = new Map<string, { dir: string; config: string }>();
    for (const [id, dir] of dirs) {
      const paths = dataPaths(dir);
      copyFileSync(deploymentFile, paths.deployment);
      const config = join(tmp.dir, `${id}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          dataDir: dir,
          gatewayId: id,
          // Short: the tail of each log is anchored within about a second.
          checkpointIntervalSeconds: 1,
          log: { level: 'warn' },
          http: { port: 0 },
          mqtt: {
            mode: 'external',
            url: broker.url,
            lanes: 4,
            // Short: the broker forgets a killed gateway's sessions (and stops handing them
            // frames) within seconds; the devices resend what those sessions held.
            sessionExpirySeconds: 2,
          },
          ledger: {
            rpcUrl: anvil.rpcUrl,
            deploymentFile: paths.deployment,
            privateKeyFile: paths.gatewayAccountKey,
          },
        }),
      );
      gateways.set(id, { dir, config });
    }
    return gateways;
  }

  test('behavior: load spreads over three gateways; one is SIGKILLed mid-stream; no frame is lost, and the verifier counts each once', async () => {
    const ids = ['gw-a', 'gw-b', 'gw-c'];
    const setup = await anchoredGateways(ids);
    const configOf = (id: string) => ({ config: setup.get(id)?.config as string });
    const running = await Promise.all(
      ids.map((id) => spawnGateway(id, setup.get(id)?.dir as string, configOf(id))),
    );
    gateways.push(...running);
    const fleet = await Fleet.start({
      url: broker.url,
      devices: DEVICES.map((d) => ({ devId: d, privateKey: deviceKey(seed, d) })),
      rateHz: 20,
      durationMs: 4000,
      appAcks: true,
      ackTimeoutMs: 1000,
      clientOptions: { protocolVersion: 5 },
    });
    await new Promise((r) => setTimeout(r, 1500));
    const victim = running[1] as GatewayProcess;
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe(null);
    await fleet.finished;
    await waitFor(() => fleet.stats().inOutbox === 0, 30_000);
    const stats = await fleet.stop();
    const victimTailUnanchoredAtKill = unanchoredTail(victim);

    // Production behaviour: a killed gateway is restarted on its own data dir (the
    // orchestrator's restart policy, `restart: unless-stopped` in docker-compose.yml). It
    // reconciles its checkpoints with the chain, then cuts a checkpoint of the tail it
    // stored after its last anchored one and anchors it: until then those frames are
    // stored (and counted by queries) but not provable to an auditor. Its broker sessions
    // expired meanwhile; the devices had resent what they held to the other gateways.
    const restarted = await spawnGateway(victim.id, victim.dir, configOf(victim.id));
    gateways.push(restarted);
    running[1] = restarted;
    // Every log fully anchored: the latest anchored checkpoint covers the whole log.
    await waitFor(async () => (await Promise.all(running.map(fullyAnchored))).every(Boolean), 20_000);
    for (const g of running) g.child.kill('SIGTERM');
    for (const g of running) expect(await g.exited).toBe(0);

    // Queries: the union of the stores on (dev, seq).
    const count = countAcrossGateways(running.map(dbOf));
    const lost = stats.made - count.distinct;

    // The auditor: each gateway's log exported with the CLI, all verified together
    // against the chain; the verifier counts an identical (dev, seq) once across logs.
    const bundleDir = ensureDir(join(tmp.dir, 'bundles'));
    const bundles = running.map((g) => join(bundleDir, `${g.id}.json`));
    const exports = await Promise.all(
      running.map((g, i) =>
        runCli([
          'export',
          '--data',
          g.dir,
          '--gateway-id',
          g.id,
          '--from',
          '0',
          '--out',
          bundles[i] as string,
        ]),
      ),
    );
    for (const [i, e] of exports.entries()) {
      expect(e.stderr, running[i]?.id).not.toContain('error');
      expect(e.code, running[i]?.id).toBe(0);
      expect(e.stdout, running[i]?.id).not.toContain('not anchored yet');
    }
    // Whole-device exports: every device's range ends at its latest anchored frame, an
    // end no bundle can prove (README "Completeness"), so --allow-gaps; no gap is allowed.
    const verify = await runCli(['verify', '--rpc', anvil.rpcUrl, '--json', '--allow-gaps', ...bundles]);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const report = JSON.parse(verify.stdout) as {
      ok: boolean;
      verdict: string;
      integrity: boolean;
      bundles: (BundleReport & { file: string })[];
      sequence: SequenceReport;
    };
    const byVerifier = new Map<string, Set<number>>();
    for (const b of report.bundles)
      for (const e of b.entries)
        if (e.code === 'valid' && e.dev !== undefined && e.seq !== undefined)
          byVerifier.set(e.dev, (byVerifier.get(e.dev) ?? new Set()).add(e.seq));
    const verifiedDistinct = [...byVerifier.values()].reduce((n, s) => n + s.size, 0);
    const verifiedEntries = report.bundles.reduce((n, b) => n + b.summary.valid, 0);

    const figures = {
      made: stats.made,
      appAcked: stats.acked,
      resent: stats.resent,
      framesPerGateway: Object.fromEntries(count.perGateway.map((g, i) => [running[i]?.id, g.frames])),
      distinct: count.distinct,
      duplicatesAcrossGateways: count.duplicates,
      lost,
      victimTailUnanchoredAtKill,
      verifiedEntries,
      duplicatesByVerifier: report.sequence.duplicates,
      distinctByVerifier: report.sequence.distinct,
    };
    process.stdout.write(`scale-out figures: ${JSON.stringify(figures)}\n`);

    expect(stats.made).toBe(DEVICES.length * 80);
    expect(stats).toMatchObject({ acked: stats.made, inOutbox: 0, rejected: {}, dropped: 0 });
    expect(lost).toBe(0);
    expect(count.conflicts).toBe(0);
    for (const d of DEVICES) expect(count.perDevice.get(d)?.size, d).toBe(80);
    // Load spread: every gateway took a share before the kill.
    for (const g of count.perGateway) expect(g.frames).toBeGreaterThan(0);

    // The verifier: every entry of every bundle valid, every frame a gateway stored is in
    // its bundle, each (dev, seq) counted once, no gap (seq 1-80 of every device), no conflict.
    expect(report).toMatchObject({ verdict: 'INCOMPLETE', integrity: true });
    expect(report.sequence.openEnds).toBe(DEVICES.length);
    for (const [i, b] of report.bundles.entries()) {
      expect(b.registryChecked, b.file).toBe(true);
      expect(b.summary, b.file).toMatchObject({ invalid: 0, shredded: 0 });
      expect(
        b.checkpoints.every((c) => c.code === 'valid'),
        b.file,
      ).toBe(true);
      expect(b.summary.valid, b.file).toBe(count.perGateway[i]?.frames);
    }
    expect(report.sequence.gaps).toEqual([]);
    expect(report.sequence.conflicts).toEqual([]);
    expect(report.sequence.duplicates).toBe(count.duplicates);
    expect(figures.distinctByVerifier).toBe(stats.made);
    expect(verifiedEntries - report.sequence.duplicates).toBe(report.sequence.distinct);
    expect(verifiedDistinct).toBe(stats.made);
    for (const d of DEVICES) {
      const seqs = [...(byVerifier.get(d) ?? [])].sort((a, b) => a - b);
      expect(seqs, d).toEqual(Array.from({ length: 80 }, (_, k) => k + 1));
    }
  }, 180_000); // three gateways, Mosquitto and a chain: about 20 s idle, over 60 s on a loaded 2-core runner

  test('behavior: SIGTERM drains in-flight frames; nothing acknowledged is lost, nothing unstored is acknowledged', async () => {
    // Frames published exactly once (no device resends): only the broker sessions and the
    // gateway's PUBACK-after-commit can get them stored.
    // A broker of its own: the SIGKILLed gateway's sessions above still take their share.
    mkdirSync(join(tmp.dir, 'broker2'));
    const broker2 = await startMosquitto(join(tmp.dir, 'broker2'));
    toStop.push(broker2);
    const dir = dataDirFor('gw-t');
    let gw = await spawnGateway('gw-t', dir, { url: broker2.url });
    gateways.push(gw);
    const dev = 'wr-0001';
    const chain = new FrameChain(dev, deviceKey(seed, dev));
    chain.seq = 10_000; // a fresh seq range: these frames are only in gw-t's store
    const client = await mqtt.connectAsync(broker2.url, {
      clientId: dev,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const N = 600;
    const publishing = (async () => {
      for (let i = 0; i < N; i++) {
        await client.publishAsync(framesTopic(dev), Buffer.from(chain.next()), { qos: 1 });
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.lines.some((l) => l.includes('"stopped":true'))).toBe(true);
    const storedAtStop = countAcrossGateways([dbOf(gw)]).perDevice.get(dev)?.size ?? 0;
    await publishing;
    await client.endAsync();
    // Restart: the persistent sessions hand over everything not PUBACKed before the stop.
    gw = await spawnGateway('gw-t', dir, { url: broker2.url });
    gateways.push(gw);
    const stored = () => {
      const s = countAcrossGateways([dbOf(gw)]).perDevice.get(dev);
      return [...(s ?? [])].filter((q) => q > 10_000).length;
    };
    await waitFor(() => stored() === N, 20_000);
    process.stdout.write(
      `sigterm figures: ${JSON.stringify({ published: N, storedBeforeStop: storedAtStop, storedAfterRestart: stored() })}\n`,
    );
    expect(stored()).toBe(N);
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
  });
});
