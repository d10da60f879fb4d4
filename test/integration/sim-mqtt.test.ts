/**
 * @module test/integration/sim-mqtt
 * The simulator's MQTT transport and fleet against a real in-process aedes broker on a
 * loopback port (PROTOCOL.md §2): QoS 1 frames on vt/v1/dev/{dev}/frames, PUBACK = done,
 * JSON rejects on /rejects, application acks on /acks, and a broker restart mid-stream
 * that must lose nothing (at least once on the wire); a ward's devices send spread over the
 * period, as wearables switched on at different moments do, not all at one instant.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Aedes, type AedesOptions } from 'aedes';
import { afterEach, describe, expect, test } from 'vitest';
import { freePort } from '../../anchor/src/ledger/ports.js';
import { SimDevice } from '../../firmware-sim/src/device.js';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { deviceTopics, MqttDeviceLink, MqttLinkError } from '../../firmware-sim/src/mqtt-transport.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';
import { loadDeviceState } from '../../firmware-sim/src/state.js';
import { decodeFrame, frameHash, verifyFrameSignature, ZERO_HASH } from '../../gateway/src/protocol/frame.js';
import { restartablePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';

const FRAMES_TOPIC = /^vt\/v1\/dev\/([^/]+)\/frames$/;
const FAST_RECONNECT = { reconnectPeriod: 100 };

/** What the test broker does with one frame: call `done()` to PUBACK it (now or later, or never). */
type FrameHook = (f: { dev: string; seq: number; broker: Aedes }, done: () => void) => void;

interface TestBroker {
  broker: Aedes;
  close(): Promise<void>;
}

/** Every copy of every frame any broker instance of a test received, by dev then seq. */
type Received = Map<string, Map<number, Uint8Array[]>>;

/** Starts aedes on 127.0.0.1:port; authorizePublish records frames then runs the hook. */
async function startBroker(port: number, received: Received, hook: FrameHook = (_f, done) => done()) {
  const sockets = new Set<Socket>();
  let broker: Aedes;
  const options: AedesOptions = {
    authorizePublish: (_client, packet, callback) => {
      const m = FRAMES_TOPIC.exec(packet.topic);
      if (!m) return callback(null);
      const dev = m[1]!;
      const bytes = new Uint8Array(packet.payload as Buffer);
      const seq = Number(decodeFrame(bytes).body.seq);
      const perDev = received.get(dev) ?? new Map<number, Uint8Array[]>();
      received.set(dev, perDev);
      perDev.set(seq, [...(perDev.get(seq) ?? []), bytes]);
      hook({ dev, seq, broker }, () => callback(null));
    },
  };
  broker = await Aedes.createBroker(options);
  const server: Server = createServer(broker.handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const tb: TestBroker = {
    broker,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closed;
    },
  };
  return tb;
}

function publishJson(broker: Aedes, topic: string, doc: unknown): void {
  broker.publish(
    { cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(doc)), qos: 1, retain: false, dup: false },
    () => {},
  );
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every seq in 1..n arrived, every copy of a seq is byte-identical, and the chain and signatures hold. */
function expectCompleteChain(perDev: Map<number, Uint8Array[]> | undefined, n: number, publicKey: KeyObject) {
  expect(perDev).toBeDefined();
  const missing = Array.from({ length: n }, (_, i) => i + 1).filter((s) => !perDev!.has(s));
  expect(missing).toEqual([]);
  let prev = ZERO_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const copies = perDev!.get(seq)!;
    for (const c of copies) expect(Buffer.from(c).equals(Buffer.from(copies[0]!))).toBe(true);
    const d = decodeFrame(copies[0]!);
    expect(verifyFrameSignature(d, publicKey)).toBe(true);
    expect(Buffer.from(d.body.prev).equals(Buffer.from(prev))).toBe(true);
    prev = frameHash(copies[0]!);
  }
}

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const toClose: { close(): Promise<unknown> }[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of toClose.splice(0).reverse()) await c.close().catch(() => {});
  for (const c of cleanups.splice(0)) c();
});

function device(devId = 'wr-0001'): SimDevice {
  return new SimDevice({ devId, privateKey: key.privateKey, model: createPatientModel({ seed: 3 }) });
}

describe('MqttDeviceLink against aedes', () => {
  test('behavior: frames arrive as a valid chain; a frame stays in the outbox until its (delayed) PUBACK', async () => {
    const port = await freePort();
    const received: Received = new Map();
    const releases: (() => void)[] = [];
    const b = await startBroker(port, received, ({ seq }, done) => {
      if (seq === 5) releases.push(done);
      else done();
    });
    toClose.push(b);
    const dev = device();
    const latencies: number[] = [];
    const link = await MqttDeviceLink.connect({
      url: `mqtt://127.0.0.1:${port}`,
      device: dev,
      onLatency: (ms) => latencies.push(ms),
    });
    toClose.push(link);
    const sends = Array.from({ length: 20 }, () => link.send(dev.makeFrame()));
    await waitFor('seq 5 at the broker', () => releases.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(dev.isUnacked(5)).toBe(true); // no PUBACK yet: the frame must still be held
    expect(dev.stats.acked).toBeLessThan(20);
    releases[0]!();
    await Promise.all(sends);
    expect(dev.unackedCount).toBe(0);
    expect(dev.stats).toMatchObject({ made: 20, acked: 20 });
    expect(latencies.length).toBe(20);
    expect(Math.max(...latencies)).toBeGreaterThanOrEqual(90); // the delayed one
    expectCompleteChain(received.get('wr-0001'), 20, key.publicKey);
  });

  test('behavior: JSON rejects on /rejects are counted by code; PUBACKed rejected frames leave the outbox', async () => {
    const port = await freePort();
    const received: Received = new Map();
    const b = await startBroker(port, received, ({ dev, seq, broker }, done) => {
      if (seq === 3 || seq === 7) {
        publishJson(broker, deviceTopics(dev).rejects, { seq, code: 'bad_signature', reason: 'test' });
      }
      if (seq === 9)
        publishJson(broker, deviceTopics(dev).rejects, { seq, code: 'clock_skew', reason: 'test' });
      // Garbage on the rejects topic must be ignored, not crash the device.
      if (seq === 4) publishJson(broker, deviceTopics(dev).rejects, { seq: 'four', code: 1 });
      done();
    });
    toClose.push(b);
    const dev = device();
    const link = await MqttDeviceLink.connect({ url: `mqtt://127.0.0.1:${port}`, device: dev });
    toClose.push(link);
    await Promise.all(Array.from({ length: 12 }, () => link.send(dev.makeFrame())));
    await waitFor('three rejects', () => Object.values(dev.stats.rejected).reduce((a, c) => a + c, 0) === 3);
    expect({ ...dev.stats.rejected }).toEqual({ bad_signature: 2, clock_skew: 1 });
    expect(dev.stats.acked).toBe(9);
    expect(dev.unackedCount).toBe(0);
  });

  test('behavior: appAcks keeps frames after PUBACK until {"seq": n} on /acks; a lost ack means a resend', async () => {
    const port = await freePort();
    const received: Received = new Map();
    const b = await startBroker(port, received, ({ dev, seq, broker }, done) => {
      done();
      const copies = received.get(dev)?.get(seq)?.length ?? 0;
      // The gateway "loses" the first ack of seq 4; the device must resend it.
      if (seq === 4 && copies === 1) return;
      setTimeout(() => publishJson(broker, deviceTopics(dev).acks, { seq }), 150);
    });
    toClose.push(b);
    const dev = device();
    const link = await MqttDeviceLink.connect({
      url: `mqtt://127.0.0.1:${port}`,
      device: dev,
      appAcks: true,
      ackTimeoutMs: 400,
    });
    toClose.push(link);
    await Promise.all(Array.from({ length: 6 }, () => link.send(dev.makeFrame())));
    expect(dev.unackedCount).toBe(6); // all PUBACKed, none acknowledged by the gateway yet
    await waitFor('app acks', () => dev.unackedCount === 1);
    expect(dev.isUnacked(4)).toBe(true);
    await waitFor('the resend of seq 4 and its ack', () => dev.unackedCount === 0);
    expect(received.get('wr-0001')?.get(4)?.length).toBeGreaterThanOrEqual(2);
    expect(dev.stats.resent).toBeGreaterThanOrEqual(1);
    expect(dev.stats.acked).toBe(6);
  });

  test('behavior: a broker restart mid-stream loses nothing, including a frame whose PUBACK never came', async () => {
    const port = await restartablePort(); // started again on it: below the ephemeral range
    const received: Received = new Map();
    const restarted: { broker?: TestBroker } = {};
    let first: TestBroker | undefined;
    // The first broker never PUBACKs seq 60 (a crash before the durable write), then dies.
    first = await startBroker(port, received, ({ seq }, done) => {
      if (seq !== 60) return done();
      setTimeout(async () => {
        await first?.close();
        await new Promise((r) => setTimeout(r, 300)); // a real outage: the device keeps producing
        restarted.broker = await startBroker(port, received);
        toClose.push(restarted.broker);
      }, 100);
    });
    toClose.push(first);
    const dev = device();
    const link = await MqttDeviceLink.connect({
      url: `mqtt://127.0.0.1:${port}`,
      device: dev,
      clientOptions: FAST_RECONNECT,
    });
    toClose.push(link);
    const N = 300;
    for (let i = 0; i < N; i++) {
      link.send(dev.makeFrame()).catch(() => {});
      await new Promise((r) => setTimeout(r, 3));
    }
    await waitFor('the outbox to empty after the restart', () => dev.unackedCount === 0, 10_000);
    expect(restarted.broker).toBeDefined();
    expect(dev.stats).toMatchObject({ made: N, acked: N });
    expectCompleteChain(received.get('wr-0001'), N, key.publicKey);
    expect(received.get('wr-0001')?.get(60)?.length).toBeGreaterThanOrEqual(2); // sent again after the restart
  });

  test('error: connecting to a port with no broker fails with connect_failed', async () => {
    const port = await freePort();
    const err = await MqttDeviceLink.connect({
      url: `mqtt://127.0.0.1:${port}`,
      device: device(),
      connectTimeoutMs: 500,
      clientOptions: FAST_RECONNECT,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MqttLinkError);
    expect((err as MqttLinkError).code).toBe('connect_failed');
  });

  test('error: send after close fails with link_closed and keeps the frame', async () => {
    const port = await freePort();
    const b = await startBroker(port, new Map());
    toClose.push(b);
    const dev = device();
    const link = await MqttDeviceLink.connect({ url: `mqtt://127.0.0.1:${port}`, device: dev });
    await link.close();
    const f = dev.makeFrame();
    await expect(link.send(f)).rejects.toMatchObject({ code: 'link_closed' });
    expect(dev.isUnacked(f.seq)).toBe(true);
  });
});

describe('Fleet against aedes', () => {
  test('behavior: a fleet runs at its rate, survives a broker restart, saves states and continues the chains', async () => {
    const port = await freePort();
    const tmp = makeTempDir('vt-fleet-');
    cleanups.push(tmp.cleanup);
    const received: Received = new Map();
    const restarted: { broker?: TestBroker } = {};
    let first: TestBroker | undefined;
    let total = 0;
    first = await startBroker(port, received, (_f, done) => {
      done();
      if (++total === 120) {
        setTimeout(async () => {
          await first?.close();
          await new Promise((r) => setTimeout(r, 200));
          restarted.broker = await startBroker(port, received);
          toClose.push(restarted.broker);
        }, 0);
      }
    });
    toClose.push(first);
    const ids = ['wr-a', 'wr-b', 'wr-c'];
    const devices = ids.map((devId, i) => ({
      devId,
      privateKey: key.privateKey,
      statePath: join(tmp.dir, `${devId}.json`),
      scenario: (['steady', 'deteriorating', 'artefacts'] as const)[i],
    }));
    const readings: string[] = [];
    const opts = {
      url: `mqtt://127.0.0.1:${port}`,
      devices,
      rateHz: 100,
      maxFrames: 100,
      clientOptions: FAST_RECONNECT,
      onReading: (r: { devId: string; seq: number }) => readings.push(`${r.devId}:${r.seq}`),
    };
    const fleet = await Fleet.start(opts);
    toClose.push({ close: () => fleet.stop() });
    const t0 = Date.now();
    await fleet.finished;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // 100 frames at 100 Hz: about 1 s
    const stats = await fleet.stop(8000);
    expect(restarted.broker).toBeDefined();
    expect(stats).toMatchObject({ made: 300, acked: 300, inOutbox: 0, rejected: {} });
    expect(stats.latencyMs.count).toBeGreaterThanOrEqual(300);
    expect(stats.latencyMs.p50).toBeLessThanOrEqual(stats.latencyMs.p99);
    expect(readings.length).toBe(300);
    for (const id of ids) {
      expectCompleteChain(received.get(id), 100, key.publicKey);
      expect(loadDeviceState(join(tmp.dir, `${id}.json`)).seq).toBe(100); // a clean stop: no gap
    }

    // Second run: each device continues its chain at seq 101 from the saved state.
    const again = await Fleet.start({ ...opts, maxFrames: 5 });
    toClose.push({ close: () => again.stop() });
    await again.finished;
    expect((await again.stop()).acked).toBe(15);
    for (const id of ids) expectCompleteChain(received.get(id), 105, key.publicKey);
  });
  test("behavior: a ward's devices send spread evenly over the period, each at its own rate", async () => {
    const port = await freePort();
    const received: Received = new Map();
    /** When the broker got each device's frames, ms. */
    const at = new Map<string, number[]>();
    const broker = await startBroker(port, received, (f, done) => {
      at.set(f.dev, [...(at.get(f.dev) ?? []), performance.now()]);
      done();
    });
    toClose.push(broker);
    const ids = Array.from({ length: 10 }, (_, i) => `wr-s${i}`);
    const fleet = await Fleet.start({
      url: `mqtt://127.0.0.1:${port}`,
      devices: ids.map((devId) => ({ devId, privateKey: key.privateKey })),
      rateHz: 2,
      maxFrames: 3,
    });
    toClose.push({ close: () => fleet.stop() });
    await fleet.finished;
    expect((await fleet.stop(8000)).acked).toBe(30);
    // First frames: device i at i/10 of the 500 ms period, so they span ~450 ms (all within a
    // few ms when every device sent at one instant).
    const firsts = ids.map((id) => (at.get(id) as number[])[0] as number).sort((a, b) => a - b);
    expect(firsts.at(-1)! - firsts[0]!).toBeGreaterThan(300);
    const gaps = firsts.slice(1).map((t, i) => t - (firsts[i] as number));
    expect(Math.max(...gaps)).toBeLessThan(200);
    // Each device keeps its rate: its frames ~500 ms apart.
    for (const id of ids) {
      const t = at.get(id) as number[];
      expect(t).toHaveLength(3);
      for (let k = 1; k < 3; k++) expect((t[k] as number) - (t[k - 1] as number)).toBeGreaterThan(350);
    }
  });
});
