/**
 * A chain that accepts connections and never answers (a black hole, not a refusing port),
 * through a real gateway: its JSON-RPC endpoint is a real TCP server in front of a real anvil
 * that stops answering mid-run. The stop must not wait out viem's timeouts and retries (30 s
 * per call, several calls in turn: 76 s measured before): every chain call in flight is
 * aborted past `ledger.stopTimeoutMs`, the registry poll in flight ends without touching the
 * store, and nothing is logged after "gateway stopped".
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
const POLL_MS = 300;
const tmp = makeTempDir('vt-chain-hole-');
let paths: DataPaths;
let chain: EmbeddedChain;
let hole: BlackHole | undefined;
let stopping: Promise<void> | undefined;

beforeAll(async () => {
  ({ paths, chain } = await prepareAnchoredDataDir(tmp.dir, [DEV]));
}, 60_000);
afterAll(async () => {
  await stopping?.catch(() => undefined);
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
