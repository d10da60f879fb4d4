/**
 * A chain that accepts connections and never answers (a black hole, not a refusing port),
 * through a real gateway: its JSON-RPC endpoint is a real TCP server (in front of a real anvil
 * that stops answering mid-run, or answering nothing from the first connection).
 * - The stop must not wait out viem's timeouts and retries (30 s per call, several calls in
 *   turn: 76 s measured before): every chain call in flight is aborted past
 *   `ledger.stopTimeoutMs`, the registry poll in flight ends without touching the store, and
 *   nothing is logged after "gateway stopped".
 * - The start must not either (97 s measured before, no frame accepted meanwhile): each first
 *   read of the chain is waited for `ledger.firstContactMs` at most, then goes on in the
 *   background; frames are accepted and `/readyz` says `ledger_unavailable` meanwhile.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { createLogger } from '../../gateway/src/io/ops/log.js';
import { type BlackHole, startBlackHole } from '../helpers/black-hole.js';
import { deviceKey, FrameChain, prepareAnchoredDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DEV = 'wr-0001';
const DEV2 = 'wr-0002'; // a fresh chain of frames for the second gateway run
const POLL_MS = 300;
const tmp = makeTempDir('vt-chain-hole-');
let paths: DataPaths;
let chain: EmbeddedChain;
let hole: BlackHole | undefined;
let stopping: Promise<void> | undefined;
let starting: Promise<RunningGateway> | undefined;

beforeAll(async () => {
  ({ paths, chain } = await prepareAnchoredDataDir(tmp.dir, [DEV, DEV2]));
}, 60_000);
afterAll(async () => {
  await stopping?.catch(() => undefined);
  await starting?.then((g) => g.stop()).catch(() => undefined);
  await hole?.close();
  await chain?.anvil.stop();
  tmp.cleanup();
}, 120_000);

/** Resolves with the stop's duration, or with null when it took longer than `ms`. */
async function timedStop(gw: RunningGateway, ms: number): Promise<number | null> {
  const t0 = Date.now();
  stopping = gw.stop();
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    stopping.then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return done ? Date.now() - t0 : null;
}

test('behavior: the chain turns into a black hole → the stop ends within its bound, and nothing is logged after "gateway stopped"', async () => {
  hole = await startBlackHole(chain.anvil.port);
  const lines: { at: number; msg: string }[] = [];
  const gw = (await startGateway({
    dataDir: paths.root,
    logger: createLogger({
      write: (l) => lines.push({ at: Date.now(), msg: (JSON.parse(l) as { msg: string }).msg }),
    }),
    mqtt: { port: 0 },
    http: { port: 0 },
    checkpointIntervalMs: 200,
    revocationPollMs: POLL_MS,
    ledger: {
      rpcUrl: hole.url,
      deployment: chain.deployment,
      privateKey: chain.gatewayKey,
      stopTimeoutMs: 1000,
    },
  })) as RunningGateway;
  const client = await mqtt.connectAsync(gw.broker.url, { clientId: DEV, reconnectPeriod: 0 });
  const frames = new FrameChain(DEV, deviceKey(paths, DEV));
  const publish = () =>
    client.publishAsync(`vt/v1/dev/${DEV}/frames`, Buffer.from(frames.next()), { qos: 1 });
  for (let i = 0; i < 3; i++) await publish();
  const running = gw;
  await until(() => (running.anchorer?.status().lastAnchoredSize ?? 0) >= 3, 15_000, 'frames anchored');

  // The chain stops answering; the registry poll and the anchorer (a new frame's checkpoint)
  // call it and wait.
  hole.swallow();
  await publish();
  await client.endAsync();
  const before = hole.unanswered;
  await until(() => (hole?.unanswered ?? 0) > before, 5000, 'a chain call left unanswered');
  await new Promise((r) => setTimeout(r, POLL_MS * 2)); // a poll in flight, surely

  const took = await timedStop(gw, 10_000);
  expect(took, 'the stop took longer than 10 s').not.toBeNull();
  expect(took).toBeLessThan(10_000);
  // Past three poll intervals (and the aborted calls' retries), the log has not moved on.
  await new Promise((r) => setTimeout(r, POLL_MS * 3 + 1500));
  const stoppedAt = lines.findIndex((l) => l.msg === 'gateway stopped');
  expect(stoppedAt).toBeGreaterThan(-1);
  expect(lines.slice(stoppedAt + 1).map((l) => l.msg)).toEqual([]);
}, 60_000);

test('behavior: a chain that never answers from the start → the gateway starts within its bound, accepts frames, and /readyz is 503 ledger_unavailable', async () => {
  hole = await startBlackHole(); // nothing behind it
  const t0 = Date.now();
  starting = startGateway({
    dataDir: paths.root,
    logger: createLogger({ write: () => {} }),
    mqtt: { port: 0 },
    http: { port: 0 },
    ledger: {
      rpcUrl: hole.url,
      deployment: chain.deployment,
      privateKey: chain.gatewayKey,
      firstContactMs: 500,
      stopTimeoutMs: 500,
    },
  }) as Promise<RunningGateway>;
  let timer: NodeJS.Timeout | undefined;
  const gw = await Promise.race([
    starting,
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), 10_000);
    }),
  ]);
  clearTimeout(timer);
  expect(gw, 'the start took longer than 10 s').not.toBeNull();
  if (!gw) return;
  starting = undefined;
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(hole.swallowed).toBeGreaterThan(0); // the chain was called, and never answered

  const res = await fetch(`${gw.http.url}/readyz`);
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({
    error: { code: 'ledger_unavailable', reason: 'the ledger does not answer' },
  });
  // Ingest is local: a frame is acknowledged and stored; its checkpoint waits in the outbox.
  const client = await mqtt.connectAsync(gw.broker.url, { clientId: DEV2, reconnectPeriod: 0 });
  const frames = new FrameChain(DEV2, deviceKey(paths, DEV2));
  await client.publishAsync(`vt/v1/dev/${DEV2}/frames`, Buffer.from(frames.next()), { qos: 1 });
  await client.endAsync();
  expect(gw.store.getFrame(DEV2, 1)).toBeDefined();

  const took = await timedStop(gw, 10_000);
  expect(took, 'the stop took longer than 10 s').not.toBeNull();
}, 60_000);
