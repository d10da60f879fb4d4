/**
 * Scale-out (ARCHITECTURE.md "Scale-out", PROTOCOL.md §2): three gateway processes share
 * one real Mosquitto through the MQTT 5 shared subscription, each with its own data dir
 * (own store and log, same KGC); a ward of simulated devices in external-broker mode
 * (frames kept until the application ack). One gateway is SIGKILLed mid-stream. Afterwards
 * every frame any device made is stored at least once across the gateways, and the
 * cross-gateway count (union on (dev, seq)) counts each once. A second test SIGTERMs a
 * gateway mid-stream and checks that the graceful stop loses nothing and acks nothing
 * it has not stored.
 *
 * Needs the built runner: `npm run build` (npm test builds first).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { framesTopic } from '../../gateway/src/core/topics.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/datadir.js';
import { countAcrossGateways } from '../../gateway/src/io/scale-out.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';

const RUNNER = fileURLToPath(new URL('../../dist/test/helpers/gateway-runner.js', import.meta.url));
const DEVICES = Array.from({ length: 12 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);

interface GatewayProcess {
  id: string;
  dir: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  lines: string[];
}

/** Starts one runner process and waits for its ready line. */
async function spawnGateway(
  id: string,
  dir: string,
  url: string,
  sessionExpiryS = 86_400,
): Promise<GatewayProcess> {
  const args = [RUNNER, dir, id, url, '4', String(sessionExpiryS)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (lines.at(-1)?.includes('"ready":true')) resolve();
      }
    });
    void exited.then((code) => reject(new Error(`gateway ${id} exited ${code}: ${stderr.slice(0, 400)}`)));
  });
  return { id, dir, child, exited, lines };
}

async function waitFor(fn: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dbOf = (g: { dir: string }) => dataPaths(g.dir).db;

describe('several gateways behind one Mosquitto', () => {
  const tmp = makeTempDir();
  let seed: DataPaths;
  let broker: RunningMosquitto;
  const gateways: GatewayProcess[] = [];
  const toStop: RunningMosquitto[] = [];

  /** A data dir per gateway, all trusting the same KGC, with the same enrolments. */
  const dataDirFor = (id: string): string => {
    const dir = join(tmp.dir, id);
    cpSync(seed.root, dir, { recursive: true });
    return dir;
  };

  beforeAll(async () => {
    seed = await prepareDataDir(join(tmp.dir, 'seed'), DEVICES);
    broker = await startMosquitto(tmp.dir);
  });

  afterAll(async () => {
    for (const g of gateways)
      if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    await Promise.all(gateways.map((g) => g.exited));
    await broker?.stop();
    for (const b of toStop) await b.stop();
    tmp.cleanup();
  });

  test('behavior: load spreads over three gateways; one is SIGKILLed mid-stream; no frame is lost', async () => {
    // A short session expiry: the broker forgets the killed gateway's sessions (and stops
    // handing them frames) within seconds; the devices resend what those sessions held.
    const ids = ['gw-a', 'gw-b', 'gw-c'];
    gateways.push(...(await Promise.all(ids.map((id) => spawnGateway(id, dataDirFor(id), broker.url, 2)))));
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
    const victim = gateways[1] as GatewayProcess;
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe(null);
    await fleet.finished;
    await waitFor(() => fleet.stats().inOutbox === 0, 30_000);
    const stats = await fleet.stop();

    const count = countAcrossGateways(gateways.map(dbOf));
    const lost = stats.made - count.distinct;
    const figures = {
      made: stats.made,
      appAcked: stats.acked,
      resent: stats.resent,
      framesPerGateway: Object.fromEntries(count.perGateway.map((g, i) => [gateways[i]?.id, g.frames])),
      distinct: count.distinct,
      duplicatesAcrossGateways: count.duplicates,
      lost,
    };
    process.stdout.write(`scale-out figures: ${JSON.stringify(figures)}\n`);

    expect(stats.made).toBe(DEVICES.length * 80);
    expect(stats).toMatchObject({ acked: stats.made, inOutbox: 0, rejected: {}, dropped: 0 });
    expect(lost).toBe(0);
    expect(count.conflicts).toBe(0);
    for (const d of DEVICES) expect(count.perDevice.get(d)?.size, d).toBe(80);
    // Load spread: every gateway took a share before the kill.
    for (const g of count.perGateway) expect(g.frames).toBeGreaterThan(0);
    for (const g of gateways) if (g !== victim) g.child.kill('SIGTERM');
    for (const g of gateways) if (g !== victim) expect(await g.exited).toBe(0);
  });

  test('behavior: SIGTERM drains in-flight frames; nothing acknowledged is lost, nothing unstored is acknowledged', async () => {
    // Frames published exactly once (no device resends): only the broker sessions and the
    // gateway's PUBACK-after-commit can get them stored.
    // A broker of its own: the SIGKILLed gateway's sessions above still take their share.
    mkdirSync(join(tmp.dir, 'broker2'));
    const broker2 = await startMosquitto(join(tmp.dir, 'broker2'));
    toStop.push(broker2);
    const dir = dataDirFor('gw-t');
    let gw = await spawnGateway('gw-t', dir, broker2.url);
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
    gw = await spawnGateway('gw-t', dir, broker2.url);
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
