/**
 * @module test/e2e/startup-crash-campaign
 * Issue 13 item 11, "crashes and faults" at start-up, through the built CLI (`npm run build`
 * first): `vitaltrail demo` is started 20 times on one data directory (fresh at the first
 * start), each time detached in its own process group, and the whole group is killed with
 * SIGKILL after a random delay within the start-up window (seeded PRNG; the seed is printed,
 * `VT_CRASH_SEED=<seed>` replays a campaign). Meanwhile a simulated wearable of the test's own
 * publishes signed frames, one at a time and each until its PUBACK, to the plain MQTT listener
 * whenever a demo serves it (the same frame again after a lost connection, as a device keeps
 * what was not acknowledged). Then one final clean start:
 * - exactly one anvil runs on the data directory's state file (a /proc scan), the one
 *   `chain/endpoint.json` names;
 * - after a graceful stop, none runs, and the chain's state file is whole (it parses);
 * - every frame the wearable got a PUBACK for is in the store, and none was rejected.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, expect, test } from 'vitest';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { BIN } from '../helpers/cli.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { restartablePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';

const STARTS = 20;
/** Kill delays are drawn from [0, WINDOW_MS): a start here takes about 4.5 s to its banner. */
const WINDOW_MS = 5500;
const DEV = 'wr-ward-1';
const TOPIC = `vt/v1/dev/${DEV}/frames`;

const tmp = makeTempDir('vt-campaign-');
const children: ChildProcess[] = [];
let paths: DataPaths;

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

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

afterAll(() => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null || !c.pid) continue;
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  // Only anvils of this test's own data directory.
  if (paths) for (const pid of anvilsOn(paths.anvilState)) process.kill(pid, 'SIGKILL');
  tmp.cleanup();
});

/** Resolves on the PUBACK; rejects when the connection closes first or after `ms`. */
function publishAcked(client: MqttClient, bytes: Uint8Array, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = () => done(new Error('connection closed before the PUBACK'));
    const timer = setTimeout(() => done(new Error('no PUBACK in time')), ms);
    client.once('close', onClose);
    client.publish(TOPIC, Buffer.from(bytes), { qos: 1 }, (err) => done(err ?? undefined));
  });
}

/**
 * A wearable that sends its hash chain of frames to whatever demo listens on `url`, one frame
 * at a time; a frame without a PUBACK is sent again (same bytes) on the next connection.
 */
class Wearable {
  readonly acked: number[] = [];
  readonly rejected: { seq: number; code: string }[] = [];
  #stopped = false;
  #pending: { seq: number; bytes: Uint8Array } | null = null;
  readonly #done: Promise<void>;

  constructor(
    readonly url: string,
    readonly chain: FrameChain,
  ) {
    this.#done = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let client: MqttClient | undefined;
      try {
        // allowRetries false: a connection closed before its CONNACK (a start killed while
        // it accepted us) rejects. Without it mqtt.js's connectAsync waits for a 'connect',
        // 'end' or 'error' that never comes when the socket closes cleanly, and the wearable
        // hung there for good: the final start then got no frame from it (three CI runs).
        client = await mqtt.connectAsync(
          this.url,
          { clientId: DEV, reconnectPeriod: 0, connectTimeout: 1000, protocolVersion: 4 },
          false,
        );
        client.on('message', (_t, m) => this.rejected.push(JSON.parse(m.toString())));
        await client.subscribeAsync(`vt/v1/dev/${DEV}/rejects`, { qos: 1 });
        while (!this.#stopped) {
          if (!this.#pending) {
            const bytes = this.chain.next();
            this.#pending = { seq: this.chain.seq, bytes };
          }
          await publishAcked(client, this.#pending.bytes, 3000);
          this.acked.push(this.#pending.seq);
          this.#pending = null;
          await sleep(10);
        }
      } catch {
        // no demo listening, or it was killed: try again
      } finally {
        client?.end(true);
      }
      if (!this.#stopped) await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

/** A detached demo; its output is kept (for the message of a failure). */
function demo(data: string, mqttPort: number): { child: ChildProcess; out: () => string } {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'demo',
      '--data',
      data,
      '--devices',
      '0',
      '--checkpoint-interval',
      '0.5',
      '--http-port',
      '0',
      '--mqtt-port',
      String(mqttPort),
      '--chain-port',
      '0',
    ],
    // Its own process group, as a terminal gives it: the kill takes the group.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, NO_COLOR: '1' } },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  return { child, out: () => out };
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

test('behavior: 20 starts killed -9 (process group) at random points of the start-up, then a clean start: one anvil, a whole state file, nothing acknowledged lost', async () => {
  const seed = Number(process.env.VT_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`[startup-crash-campaign] seed ${seed} (replay: VT_CRASH_SEED=${seed})`);
  const random = mulberry32(seed);
  const t0 = Date.now();
  const data = join(tmp.dir, 'demo');
  paths = await prepareDataDir(data, [DEV]); // KGC, recipient and the wearable; no chain yet
  const mqttPort = await restartablePort(); // 21 starts on it: below the ephemeral range
  const wearable = new Wearable(`mqtt://127.0.0.1:${mqttPort}`, new FrameChain(DEV, deviceKey(paths, DEV)));

  const delays: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const delay = Math.floor(random() * WINDOW_MS);
    delays.push(delay);
    const { child, out } = demo(data, mqttPort);
    await sleep(delay);
    // A demo that ends by itself within the window failed: the campaign is about kills only.
    expect(child.exitCode, `start ${i} exited by itself:\n${out()}`).toBeNull();
    process.kill(-(child.pid as number), 'SIGKILL');
    await exited(child);
  }
  const ackedInCampaign = wearable.acked.length;
  console.log(
    `[startup-crash-campaign] kill delays (ms): ${delays.join(' ')}; ` +
      `${ackedInCampaign} frames acknowledged during the campaign, ${Date.now() - t0} ms`,
  );

  // The final clean start.
  const { child: final, out } = demo(data, mqttPort);
  for (const end = Date.now() + 60_000; !out().includes('Press Ctrl-C to stop'); await sleep(50)) {
    if (final.exitCode !== null || Date.now() > end) throw new Error(`the final start failed:\n${out()}`);
  }
  // Frames flow again; then exactly one anvil runs on the state file: the recorded one.
  // 60 s, as for the start itself: on a loaded 2-core runner the wearable's reconnect and first
  // commits after 20 kills took over 30 s once (CI of 42e3ad5; alone the same seed passes).
  for (const end = Date.now() + 60_000; wearable.acked.length < ackedInCampaign + 20; await sleep(50)) {
    if (Date.now() > end)
      throw new Error(
        `the wearable gets no PUBACKs from the final start (its last rejections: ${JSON.stringify(wearable.rejected.slice(-5))}):\n${out().slice(-3000)}`,
      );
  }
  const endpoint = JSON.parse(readFileSync(paths.endpoint, 'utf8')) as { pid: number; rpcUrl: string };
  expect(anvilsOn(paths.anvilState)).toEqual([endpoint.pid]);

  await wearable.stop();
  final.kill('SIGINT');
  await exited(final);
  expect(final.exitCode, out()).toBe(0);
  for (const end = Date.now() + 15_000; anvilsOn(paths.anvilState).length > 0; await sleep(50)) {
    if (Date.now() > end) break;
  }
  expect(anvilsOn(paths.anvilState), 'the graceful stop stopped its anvil').toEqual([]);
  expect(() => JSON.parse(readFileSync(paths.anvilState, 'utf8')), 'the state file parses').not.toThrow();

  // Nothing acknowledged is lost, nothing was rejected.
  expect(wearable.rejected).toEqual([]);
  const acked = wearable.acked;
  expect(acked).toEqual(acked.map((_, i) => i + 1)); // one at a time, in order
  const store = openStore(paths.db);
  try {
    const missing = acked.filter((seq) => store.getFrame(DEV, seq) === undefined);
    expect(missing, 'acknowledged frames missing from the store').toEqual([]);
  } finally {
    store.close();
  }
  console.log(
    `[startup-crash-campaign] ${acked.length} frames acknowledged and stored; ${Date.now() - t0} ms`,
  );
}, 240_000);
