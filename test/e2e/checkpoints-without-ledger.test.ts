/**
 * @module test/e2e/checkpoints-without-ledger
 * Issue 16 ("production gaps"): a gateway started without a ledger still cuts signed
 * checkpoints at its interval and keeps them in the anchoring outbox (io/anchoring/checkpointer),
 * so the history of a ward run before the consortium chain was configured has checkpoints
 * signed at their own time. Through real parts: the real gateway (`startGateway`, embedded
 * broker), mqtt.js devices publishing signed frames, the dashboard server's `/anchoring`,
 * `/checkpoint`, `/readyz` and `/healthz`, `anchors status` as the CLI computes it; then the
 * same data directory restarted with a real anvil chain (the embedded chain: contracts
 * deployed, gateway and devices registered): the kept checkpoints are anchored, oldest first,
 * each with the time it was cut, and a device's bundle verifies VALID against the chain.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { afterAll, describe, expect, test } from 'vitest';
import { fetchAnchors } from '../../anchor/src/ledger/index.js';
import { openCheckpoint } from '../../anchor/src/log/note.js';
import { fetchChainEvidence, parseBundle, verifyBundle } from '../../anchor/src/verify/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { anchorsStatus, formatAnchorsStatus } from '../../gateway/src/cli/anchors.js';
import { checkpointOrigin, logIdOf, toHex } from '../../gateway/src/core/log-names.js';
import { type EmbeddedChain, startEmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import { CheckpointNotes } from '../../gateway/src/io/anchoring/checkpoints.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { exportBundleToFile } from '../../gateway/src/io/outbound/export.js';
import { loadRecipientSecrets } from '../../gateway/src/io/store/recipients.js';
import { type CheckpointRow, openStore } from '../../gateway/src/io/store/store.js';
import { deviceKey, FrameChain, prepareDataDir, registerDevicesOnChain } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEVICES = ['wr-0001', 'wr-0002'];
const INTERVAL_MS = 300;
const ORIGIN = checkpointOrigin('gw-1');

async function until<T>(
  read: () => T | Promise<T>,
  ok: (v: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what} (last: ${JSON.stringify(v)})`);
    await sleep(50);
  }
}

/** Publishes `n` signed frames of each device over MQTT (QoS 1: PUBACK once stored). */
async function publishFrames(gw: RunningGateway, chains: Map<string, FrameChain>, n: number, hr: number) {
  for (const [dev, frames] of chains) {
    const client = await mqtt.connectAsync(gw.broker.url, {
      clientId: dev,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    try {
      for (let k = 0; k < n; k += 1) {
        await client.publishAsync(`vt/v1/dev/${dev}/frames`, Buffer.from(frames.next({}, { hr, spo2: 97 })), {
          qos: 1,
        });
      }
    } finally {
      await client.endAsync();
    }
  }
}

/** An admin session on the gateway's dashboard server (the initial admin of the data directory). */
async function adminGet(gw: RunningGateway, password: string) {
  const login = await fetch(`${gw.http.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  expect(login.status).toBe(200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
  return (path: string) => fetch(`${gw.http.url}${path}`, { headers: { cookie } });
}

describe('checkpoints made and kept in the outbox while no ledger is configured', () => {
  const tmp = makeTempDir('vt-no-ledger-');
  let gw: RunningGateway | undefined;
  let chain: EmbeddedChain | undefined;

  afterAll(async () => {
    await gw?.stop();
    await chain?.anvil.stop();
    tmp.cleanup();
  });

  test('behavior: signed checkpoints pile up pending without a ledger, health stays ok; restarted with a chain they are anchored oldest first and a bundle verifies VALID', async () => {
    const paths = await prepareDataDir(tmp.dir, DEVICES);
    const chains = new Map(DEVICES.map((d) => [d, new FrameChain(d, deviceKey(paths, d))]));

    // --- 1. No ledger: frames over MQTT for several checkpoint intervals.
    gw = (await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      checkpointIntervalMs: INTERVAL_MS,
    })) as RunningGateway;
    const first = gw;
    expect(first.anchorer).toBeNull();
    for (let round = 1; round <= 3; round += 1) {
      await publishFrames(first, chains, 3, 70 + round);
      const size = first.store.size;
      expect(size).toBe(round * DEVICES.length * 3);
      // The next interval cuts a checkpoint of exactly this log.
      await until(
        () => first.store.lastCheckpoint()?.treeSize,
        (s) => s === size,
        10_000,
        `checkpoint ${size}`,
      );
    }
    const periodEnd = Date.now(); // device time of the ledger-less period's last frame, or later
    const pendingBefore: CheckpointRow[] = first.store.pendingCheckpoints();
    // One per interval in which the log grew (an interval may also fall between two devices' frames).
    const sizes = pendingBefore.map((c) => c.treeSize);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(sizes).toEqual(expect.arrayContaining([6, 12, 18]));
    expect(sizes.at(-1)).toBe(18);
    expect(first.store.anchoredCheckpoints()).toEqual([]);
    // Each is a signed note, opened with the gateway's verifier key, naming the row's root.
    const notes = new CheckpointNotes(first.store);
    for (const c of pendingBefore) {
      const opened = openCheckpoint(notes.note(c.treeSize)!, first.checkpointVkey);
      expect(opened.treeSize).toBe(c.treeSize);
      expect(toHex(opened.rootHash)).toBe(toHex(c.root));
    }

    // The dashboard server: the outbox figures, the latest signed checkpoint, healthy.
    const password = readFileSync(paths.initialAdminPassword, 'utf8').trim();
    const get = await adminGet(first, password);
    const anchoring = await (await get('/anchoring')).json();
    expect(anchoring).toMatchObject({
      ledger: false,
      logSize: 18,
      pending: sizes.length,
      lastAnchoredSize: 0,
      lastError: null,
    });
    expect(anchoring.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    const latest = await get('/checkpoint');
    expect(latest.status).toBe(200);
    expect(openCheckpoint(await latest.text(), first.checkpointVkey).treeSize).toBe(18);
    const ready = await fetch(`${first.http.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ok' }]);
    const health = (await (await fetch(`${first.http.url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', store: 'ok', anchoring: 'off' });

    await first.stop();
    gw = undefined;

    // `anchors status`, offline on the stopped gateway's store: no ledger configured, all pending.
    const offline = openStore(paths.db);
    try {
      const s = anchorsStatus(paths, offline, ORIGIN, new CheckpointNotes(offline), Date.now());
      expect(s).toMatchObject({
        ledger: 'none',
        state: 'no ledger configured',
        logSize: 18,
        pending: sizes.length,
        lastAnchoredSize: 0,
        latestSignedSize: 18,
      });
      expect(formatAnchorsStatus(s).join('\n')).toContain('ledger: none configured');
    } finally {
      offline.close();
    }

    // --- 2. The consortium chain arrives: contracts deployed, gateway and ward keys registered.
    chain = await startEmbeddedChain(paths, logIdOf(ORIGIN));
    await registerDevicesOnChain(paths, chain);
    const restartedAt = Date.now();
    gw = (await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      checkpointIntervalMs: INTERVAL_MS,
      ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
    })) as RunningGateway;
    const second = gw;
    await until(
      () => second.anchorer!.status(),
      (s) => s.pending === 0,
      60_000,
      'the kept checkpoints anchored',
    );
    // The ward goes on: frames after the restart, anchored too (the range's closing boundary).
    await publishFrames(second, chains, 2, 80);
    await until(
      () => second.anchorer!.status(),
      (s) => s.pending === 0 && s.lastAnchoredSize === 22,
      60_000,
      'the new frames anchored',
    );

    // Oldest first, one anchor each, none superseded, each with the time it was cut.
    const onChain = await fetchAnchors({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      logId: logIdOf(ORIGIN),
    });
    const kept = onChain.slice(0, sizes.length);
    expect(kept.map((a) => a.treeSize)).toEqual(sizes);
    expect(onChain.at(-1)?.treeSize).toBe(22);
    expect(kept.map((a) => a.rootHash.toLowerCase())).toEqual(pendingBefore.map((c) => toHex(c.root)));
    expect(kept.map((a) => a.checkpointTime)).toEqual(pendingBefore.map((c) => c.createdAt));
    for (const a of kept) expect(a.checkpointTime).toBeLessThan(restartedAt);
    expect(second.store.anchoredCheckpoints().map((c) => [c.treeSize, c.txHash])).toEqual(
      onChain.map((a) => [a.treeSize, a.txHash]),
    );
    const s2 = anchorsStatus(paths, second.store, ORIGIN, new CheckpointNotes(second.store), Date.now());
    expect(s2).toMatchObject({
      ledger: chain.deployment.anchors.toLowerCase(),
      state: 'anchoring',
      pending: 0,
    });

    // A device's bundle of the ledger-less period, proven against the checkpoints cut then,
    // closed by its first frame after (a boundary frame): both ends proven, VALID.
    const out = join(tmp.dir, 'wr-0001.bundle.json');
    const exp = await exportBundleToFile({
      store: second.store,
      paths,
      deployment: chain.deployment,
      origin: ORIGIN,
      logId: logIdOf(ORIGIN),
      devices: ['wr-0001'],
      from: 0,
      to: periodEnd,
      secrets: loadRecipientSecrets(paths.recipientsDir),
      out,
    });
    expect(exp).toMatchObject({ entries: 10, boundaries: 1, pendingAnchor: 0 });
    expect(exp.checkpoints[0]).toBe(sizes[0]); // wr-0001's seq 1 is proven by the first checkpoint cut
    const bundle = parseBundle(JSON.parse(readFileSync(out, 'utf8')));
    const evidence = await fetchChainEvidence({
      rpcUrl: chain.rpcUrl,
      contract: chain.deployment.anchors,
      logIds: [logIdOf(ORIGIN)],
    });
    const report = verifyBundle(bundle, evidence.anchors, { registry: evidence.registryEvents });
    expect(report.registryChecked).toBe(true);
    expect(report.summary).toMatchObject({ total: 10, valid: 10, invalid: 0 });
    expect(report.verdict).toBe('VALID');
  }, 180_000);
});
