/**
 * `/readyz` and `/healthz` on a stuck outbox (issue 13 item 11), through a real gateway on a
 * real anvil: a ledger that refuses the gateway (not registered for its log) lets checkpoints
 * age in the outbox, and past `ledger.stallMs` `/readyz` answers 503 `anchoring_stalled` and
 * `/healthz` says `anchoring: anchoring_stalled` (words only, as before: no log size); once the
 * gateway is registered, anchoring catches up and both are back to ok without a restart. A
 * ledger that does not answer at all is 503 `ledger_unavailable`. Frames are accepted all along.
 */
import mqtt from 'mqtt';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createViemRegistry, freePort, fundAccount } from '../../anchor/src/ledger/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareAnchoredDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
const GATEWAY_ID = 'gw-2'; // not registered in the registry: the chain refuses its anchors
const tmp = makeTempDir('vt-ready-');
let paths: DataPaths;
let chain: EmbeddedChain;
let gw: RunningGateway | undefined;

beforeAll(async () => {
  ({ paths, chain } = await prepareAnchoredDataDir(tmp.dir, [DEV]));
});
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});
afterAll(async () => {
  await chain?.anvil.stop();
  tmp.cleanup();
});

async function probe(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('readiness on a stuck outbox', () => {
  test('behavior: refused anchors age past stallMs → 503 anchoring_stalled and /healthz degraded; registering the gateway brings both back to ok', async () => {
    const key = generatePrivateKey();
    const account = privateKeyToAccount(key).address;
    await fundAccount(chain.rpcUrl, account);
    gw = (await startGateway({
      dataDir: paths.root,
      gatewayId: GATEWAY_ID,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0 },
      checkpointIntervalMs: 200,
      ledger: {
        rpcUrl: chain.rpcUrl,
        deployment: chain.deployment,
        privateKey: key,
        stallMs: 1500,
        maxBackoffMs: 500,
      },
    })) as RunningGateway;
    const base = gw.http.url;
    expect(await probe(`${base}/readyz`)).toEqual({ status: 200, body: { status: 'ok' } });

    // Frames come in and are acknowledged; their checkpoints cannot be anchored.
    const client = await mqtt.connectAsync(gw.broker.url, { clientId: DEV, reconnectPeriod: 0 });
    const frames = new FrameChain(DEV, deviceKey(paths, DEV));
    for (let i = 0; i < 5; i++)
      await client.publishAsync(`vt/v1/dev/${DEV}/frames`, Buffer.from(frames.next()), { qos: 1 });

    const stalled = await eventually(
      () => probe(`${base}/readyz`),
      (r) => r.status === 503,
      15_000,
      '/readyz 503',
    );
    expect(stalled.body).toEqual({
      error: { code: 'anchoring_stalled', reason: 'anchoring makes no progress' },
    });
    const health = await probe(`${base}/healthz`);
    expect(health).toEqual({
      status: 200,
      body: { status: 'degraded', gateway: GATEWAY_ID, store: 'ok', anchoring: 'anchoring_stalled' },
    });
    const { gateway: _id, ...components } = health.body;
    expect(JSON.stringify(components)).not.toMatch(/\d/); // no figure of the ward's activity
    expect(await gw.metrics.render()).toMatch(/^vitaltrail_ready 0$/m);
    // Ingest does not wait for the ledger: more frames are still acknowledged.
    await client.publishAsync(`vt/v1/dev/${DEV}/frames`, Buffer.from(frames.next()), { qos: 1 });
    expect(gw.store.getFrame(DEV, 6)).toBeDefined();

    // The KGC registers the gateway: the outbox drains by itself, no restart.
    const registry = createViemRegistry({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    await registry.registerGateway(account, logIdOf(checkpointOrigin(GATEWAY_ID)));
    await eventually(
      () => probe(`${base}/readyz`),
      (r) => r.status === 200,
      15_000,
      '/readyz 200 again',
    );
    expect((await probe(`${base}/healthz`)).body).toEqual({
      status: 'ok',
      gateway: GATEWAY_ID,
      store: 'ok',
      anchoring: 'ok',
    });
    const running = gw;
    await eventually(
      async () => running.anchorer?.status(),
      (a) => a?.pending === 0 && a.lastAnchoredSize === 6 && a.lastError === null,
      15_000,
      'every checkpoint anchored',
    );
    await client.endAsync();
  }, 60_000);

  test('behavior: a ledger that does not answer → 503 ledger_unavailable; /healthz names it', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    gw = (await startGateway({
      dataDir: paths.root,
      gatewayId: GATEWAY_ID,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0 },
      ledger: { rpcUrl: dead, deployment: chain.deployment, privateKey: chain.gatewayKey },
    })) as RunningGateway;
    const base = gw.http.url;
    const r = await eventually(
      () => probe(`${base}/readyz`),
      (v) => v.status === 503,
      15_000,
      '/readyz 503',
    );
    expect(r.body).toEqual({ error: { code: 'ledger_unavailable', reason: 'the ledger does not answer' } });
    expect((await probe(`${base}/healthz`)).body).toEqual({
      status: 'degraded',
      gateway: GATEWAY_ID,
      store: 'ok',
      anchoring: 'ledger_unavailable',
    });
  }, 60_000);
});
