/**
 * External-broker mode with many frames in flight per session (PROTOCOL.md §2,
 * ARCHITECTURE.md guarantee 1; gateway/src/io/transport/mqtt-client-ingest.ts): each lane
 * announces an MQTT 5 Receive Maximum, holds that many frames un-PUBACKed while they are
 * verified and committed, and writes their PUBACKs itself once they are durable.
 * Real parts: Debian Mosquitto on a free loopback port (generated config), mqtt.js devices
 * publishing each frame once (no resends: only the broker sessions can deliver a frame
 * twice), SQLite.
 * - in process: one lane's frames share group commits (far fewer commits than frames), and
 *   the lane never holds more than its Receive Maximum un-PUBACKed;
 * - a gateway process SIGKILLed with a full window of un-PUBACKed frames loses none of them
 *   (the broker redelivers them to the restarted gateway), and had sent no application ack
 *   for a frame it had not stored.
 *
 * The second test needs the built runner: `npm run build` (npm test builds first).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, test } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { acksTopic, framesTopic } from '../../gateway/src/core/topics.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const RUNNER = fileURLToPath(new URL('../../dist/test/helpers/gateway-runner.js', import.meta.url));

/** One device publishing at QoS 1 and collecting its application acks. */
interface Device {
  dev: string;
  client: MqttClient;
  chain: FrameChain;
  acked: Set<number>;
}

async function connectDevice(url: string, paths: DataPaths, dev: string): Promise<Device> {
  const client = await mqtt.connectAsync(url, { clientId: dev, protocolVersion: 4, reconnectPeriod: 0 });
  const acked = new Set<number>();
  client.on('message', (_topic, payload) =>
    acked.add((JSON.parse(payload.toString()) as { seq: number }).seq),
  );
  await client.subscribeAsync(acksTopic(dev), { qos: 1 });
  return { dev, client, chain: new FrameChain(dev, deviceKey(paths, dev)), acked };
}

/** Publishes `n` frames once each; resolves when the broker has PUBACKed them all. */
async function publishOnce(d: Device, n: number): Promise<void> {
  const frames = Array.from({ length: n }, () => Buffer.from(d.chain.next()));
  await Promise.all(frames.map((f) => d.client.publishAsync(framesTopic(d.dev), f, { qos: 1 })));
}

/** (dev, seq) of every stored frame, read from the store file (WAL; a writer may be running or dead). */
function storedKeys(db: string): Set<string> {
  const h = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const rows = h.prepare('SELECT dev, seq FROM frames').all() as { dev: string; seq: number }[];
    return new Set(rows.map((r) => `${r.dev}:${r.seq}`));
  } finally {
    h.close();
  }
}

describe('external-broker mode: many frames in flight per lane', () => {
  const tmp = makeTempDir();
  // A broker per test: a stopped gateway's sessions stay in the share group and keep
  // taking their share of frames (README "External-broker mode").
  const brokers: RunningMosquitto[] = [];
  const newBroker = async (name: string) => {
    mkdirSync(`${tmp.dir}/${name}`);
    const b = await startMosquitto(`${tmp.dir}/${name}`);
    brokers.push(b);
    return b;
  };

  afterAll(async () => {
    for (const b of brokers) await b.stop();
    tmp.cleanup();
  });

  test('behavior: one lane holds up to its Receive Maximum un-PUBACKed, and its frames share commits', async () => {
    const DEVICES = ['wr-0001', 'wr-0002', 'wr-0003'];
    const PER_DEVICE = 200;
    const RECEIVE_MAXIMUM = 150;
    const broker = await newBroker('broker-window');
    const paths = await prepareDataDir(`${tmp.dir}/one-lane`, DEVICES);
    const start = () =>
      startGateway({
        dataDir: paths.root,
        logger: silentLogger,
        externalBroker: { url: broker.url, clientId: 'gw-window', lanes: 1, receiveMaximum: RECEIVE_MAXIMUM },
      });
    // The lane's session exists and is subscribed; then the frames queue in it while the
    // gateway is down, so on resume the broker has a full window to send at once.
    await (await start()).stop();
    const devices = await Promise.all(DEVICES.map((d) => connectDevice(broker.url, paths, d)));
    await Promise.all(devices.map((d) => publishOnce(d, PER_DEVICE)));

    const gw = await start();
    try {
      const total = DEVICES.length * PER_DEVICE;
      await until(() => devices.every((d) => d.acked.size === PER_DEVICE), 30_000, 'every frame app-acked');
      expect(gw.store.size).toBe(total);
      const commits = gw.ingest.counters.batches;
      const peak = gw.external.peakLaneInFlight();
      process.stdout.write(
        `window figures: ${JSON.stringify({ frames: total, commits, peakLaneInFlight: peak })}\n`,
      );
      // One frame per commit was the old lane; now a commit carries many of them.
      expect(commits).toBeLessThanOrEqual(total / 10);
      expect(peak).toBeGreaterThan(10);
      // Never more than the Receive Maximum un-PUBACKed on the lane, even from a broker that
      // sends more after a resume (Mosquitto 2.0.11 does): the lane stops reading instead.
      expect(peak).toBeLessThanOrEqual(RECEIVE_MAXIMUM);
      await until(() => gw.external.inFlight() === 0, 5000, 'nothing in flight');
    } finally {
      await gw.stop();
      await Promise.all(devices.map((d) => d.client.endAsync()));
    }
  });

  test('behavior: SIGKILL with a full in-flight window loses no frame and app-acks none it had not stored', async () => {
    const DEVICES = ['wr-0011', 'wr-0012', 'wr-0013', 'wr-0014'];
    const PER_DEVICE = 500;
    const LANES = 2;
    const RECEIVE_MAXIMUM = 250;
    const broker = await newBroker('broker-kill');
    const dir = `${tmp.dir}/kill`;
    const paths = await prepareDataDir(dir, DEVICES);
    const db = dataPaths(dir).db;
    const spawnRunner = async (): Promise<{ child: ChildProcess; exited: Promise<unknown> }> => {
      const args = [RUNNER, dir, 'gw-kill', broker.url, String(LANES), '86400', String(RECEIVE_MAXIMUM)];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('"ready":true')) resolve();
        });
        void exited.then(() => reject(new Error('gateway runner exited before it was ready')));
      });
      return { child, exited };
    };

    const devices = await Promise.all(DEVICES.map((d) => connectDevice(broker.url, paths, d)));
    let gw = await spawnRunner();
    try {
      // Frozen gateway: the broker fills each lane's window (RECEIVE_MAXIMUM un-PUBACKed
      // frames) and keeps the rest of the 2,000 in the sessions.
      gw.child.kill('SIGSTOP');
      await Promise.all(devices.map((d) => publishOnce(d, PER_DEVICE)));
      gw.child.kill('SIGCONT');
      // Killed as soon as its first commit is on disk: the rest of the window is being
      // parsed, verified or committed, and none of it is PUBACKed.
      await until(() => storedKeys(db).size > 0, 20_000, 'a first commit', 2);
      gw.child.kill('SIGKILL');
      await gw.exited;
      await new Promise((r) => setTimeout(r, 300)); // app acks already on their way arrive
      const storedAtKill = storedKeys(db);
      const ackedAtKill = devices.flatMap((d) => [...d.acked].map((s) => `${d.dev}:${s}`));
      // ARCHITECTURE.md guarantee 1: an application ack only for a frame that is durable.
      for (const k of ackedAtKill)
        expect(storedAtKill.has(k), `app ack of ${k} before it was stored`).toBe(true);
      const total = DEVICES.length * PER_DEVICE;
      expect(storedAtKill.size).toBeLessThan(total);

      gw = await spawnRunner();
      await until(() => devices.every((d) => d.acked.size === PER_DEVICE), 60_000, 'every frame app-acked');
      const stored = storedKeys(db);
      process.stdout.write(
        `sigkill figures: ${JSON.stringify({ published: total, windowPerLane: RECEIVE_MAXIMUM, lanes: LANES, storedAtKill: storedAtKill.size, appAckedAtKill: ackedAtKill.length, storedAfterRestart: stored.size })}\n`,
      );
      expect(stored.size).toBe(total);
      for (const d of devices)
        for (let s = 1; s <= PER_DEVICE; s++) expect(stored.has(`${d.dev}:${s}`), `${d.dev}:${s}`).toBe(true);
    } finally {
      if (gw.child.exitCode === null && gw.child.signalCode === null) {
        gw.child.kill('SIGTERM');
        await gw.exited;
      }
      await Promise.all(devices.map((d) => d.client.endAsync()));
    }
  }, 120_000);
});
