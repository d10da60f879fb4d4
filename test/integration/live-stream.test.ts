/**
 * The internal live stream (issue 16, core/live-stream, io/transport/live-stream) through
 * real parts: two gateways in external-broker mode on one real Mosquitto split the devices'
 * frames through the shared subscription, and each gateway's live hub (what its dashboard,
 * alarms and NEWS2 hear) gets every reading of every device once, whatever gateway stored
 * it; the broker does not send a gateway its own messages back (No Local), its own readings
 * reach its ward directly. A malformed stream message is dropped whole and counted. On the
 * embedded broker a device can neither publish on the stream nor read it.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import {
  type RunningExternalGateway,
  type RunningGateway,
  startGateway,
} from '../../gateway/src/app/gateway.js';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import {
  encodeLiveBatch,
  LIVE_STREAM_SUBSCRIPTION,
  liveStreamTopic,
} from '../../gateway/src/core/live-stream.js';
import { acksTopic, rejectsTopic } from '../../gateway/src/core/topics.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { LiveStream, type LiveStreamLink, mqttLink } from '../../gateway/src/io/transport/index.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DEVICES = Array.from({ length: 6 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
const FRAMES = 30;

/** The value of one sample line of a Prometheus exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('internal live stream across gateways (real Mosquitto, shared subscription)', () => {
  const tmp = makeTempDir();
  let broker: RunningMosquitto;
  const gws: RunningExternalGateway[] = [];
  const heard = new Map<string, LiveReading[]>();

  beforeAll(async () => {
    const seed = await prepareDataDir(join(tmp.dir, 'seed'), DEVICES);
    broker = await startMosquitto(tmp.dir);
    for (const id of ['gw-a', 'gw-b']) {
      const dir = join(tmp.dir, id);
      cpSync(seed.root, dir, { recursive: true });
      const gw = await startGateway({
        dataDir: dataPaths(dir).root,
        gatewayId: id,
        logger: silentLogger,
        externalBroker: { url: broker.url, clientId: id, lanes: 2 },
        checkpointIntervalMs: 3_600_000,
      });
      const got: LiveReading[] = [];
      heard.set(id, got);
      gw.hub.subscribe((r) => got.push(r));
      gws.push(gw);
    }
  }, 60_000);

  afterAll(async () => {
    for (const gw of gws) await gw.stop();
    await broker?.stop();
    tmp.cleanup();
  });

  test('behavior: every gateway hears every reading once, whatever gateway stored it', async () => {
    const fleet = await Fleet.start({
      url: broker.url,
      devices: DEVICES.map((d) => ({ devId: d, privateKey: deviceKey(dataPaths(join(tmp.dir, 'seed')), d) })),
      rateHz: 20,
      maxFrames: FRAMES,
      appAcks: true,
      clientOptions: { protocolVersion: 5 },
    });
    await fleet.finished;
    await until(() => fleet.stats().inOutbox === 0, 30_000, 'every frame acked');
    const stats = await fleet.stop();
    expect(stats).toMatchObject({ made: DEVICES.length * FRAMES, inOutbox: 0, rejected: {} });

    // Which gateway stored what: both hold a real share, so the stream really crosses.
    const storedBy = new Map<string, string>();
    for (const [i, gw] of gws.entries())
      for (const d of DEVICES)
        for (let s = 1; s <= FRAMES; s++)
          if (gw.store.getFrame(d, s)) storedBy.set(`${d}:${s}`, ['gw-a', 'gw-b'][i] as string);
    expect(storedBy.size).toBe(DEVICES.length * FRAMES);
    const shares = [...storedBy.values()].reduce(
      (m, g) => m.set(g, (m.get(g) ?? 0) + 1),
      new Map<string, number>(),
    );
    expect(shares.get('gw-a'), 'gw-a stored a share').toBeGreaterThan(0);
    expect(shares.get('gw-b'), 'gw-b stored a share').toBeGreaterThan(0);

    for (const id of ['gw-a', 'gw-b']) {
      const got = heard.get(id) as LiveReading[];
      await until(() => got.length >= storedBy.size, 10_000, `${id} heard every reading`);
      const keys = got.map((r) => `${r.dev}:${r.seq}`);
      expect(new Set(keys).size, `${id}: no reading twice`).toBe(keys.length);
      expect(new Set(keys), `${id}: every reading`).toEqual(new Set(storedBy.keys()));
      // Each reading names the gateway that stored it, and carries the decoded values.
      for (const r of got) {
        expect(r.origin).toBe(storedBy.get(`${r.dev}:${r.seq}`));
        expect(Object.keys(r.obs).length).toBeGreaterThan(0);
      }
      // Per device, in seq order (one device's frames are accepted by one gateway at a time).
      for (const d of DEVICES) {
        const seqs = got.filter((r) => r.dev === d).map((r) => r.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    }
    const gw0 = gws[0] as RunningExternalGateway;
    const metrics = await (await fetch(`${gw0.http.url}/metrics`)).text();
    expect(sample(metrics, 'vitaltrail_live_stream_readings_total{event="published"}')).toBe(
      shares.get('gw-a'),
    );
    expect(sample(metrics, 'vitaltrail_live_stream_readings_total{event="received"}')).toBe(storedBy.size);
  });

  test('error: a malformed stream message is dropped whole and counted; the stream goes on', async () => {
    const gw0 = gws[0] as RunningExternalGateway;
    const before = (heard.get('gw-a') as LiveReading[]).length;
    const client = await mqtt.connectAsync(broker.url, { clientId: 'stray', reconnectPeriod: 0 });
    await client.publishAsync(liveStreamTopic('gw-x'), Buffer.from([0xff, 0x00, 0x13]), { qos: 1 });
    // A good reading and a bad one in one message: nothing of it passes.
    const [mixed] = encodeLiveBatch('gw-x', [
      { dev: 'wr-0001', seq: 10_001, ts: Date.now(), obs: { hr: 70 }, receivedAt: Date.now() },
      { dev: '../etc', seq: 10_002, ts: Date.now(), obs: { hr: 70 }, receivedAt: Date.now() },
    ]);
    await client.publishAsync(liveStreamTopic('gw-x'), mixed as Buffer, { qos: 1 });
    const [good] = encodeLiveBatch('gw-x', [
      { dev: 'wr-0001', seq: 10_003, ts: Date.now(), obs: { hr: 71 }, receivedAt: Date.now() },
    ]);
    await client.publishAsync(liveStreamTopic('gw-x'), good as Buffer, { qos: 1 });
    await client.endAsync();
    const got = heard.get('gw-a') as LiveReading[];
    await until(() => got.length > before, 10_000, 'the good message heard');
    expect(got.slice(before).map((r) => r.seq)).toEqual([10_003]);
    const metrics = await (await fetch(`${gw0.http.url}/metrics`)).text();
    expect(sample(metrics, 'vitaltrail_live_stream_messages_lost_total{reason="malformed"}')).toBe(2);
  });

  test('behavior: the broker does not send a gateway its own stream back (No Local); its ward hears its own readings once, directly', async () => {
    // One LiveStream on its own link to the real Mosquitto, and every message the broker
    // delivers to that link counted on the way in.
    const real = await mqttLink({ url: broker.url, clientId: 'gw-solo-live' });
    const delivered: string[] = [];
    const link: LiveStreamLink = {
      publish: (topic, payload) => real.publish(topic, payload),
      subscribe: (filter, onMessage) =>
        real.subscribe(filter, (payload) => {
          delivered.push(JSON.parse(payload.toString()).gw);
          onMessage(payload);
        }),
      close: () => real.close(),
    };
    const hub = new LiveHub();
    const got: LiveReading[] = [];
    hub.subscribe((r) => got.push(r));
    const stream = await LiveStream.start({ link, hub, gatewayId: 'gw-solo', holdMs: 0 });
    // Another party on the stream sees what gw-solo publishes: it is on the broker for the others.
    const other = await mqtt.connectAsync(broker.url, { clientId: 'other-gw', reconnectPeriod: 0 });
    const seenByOther: string[] = [];
    other.on('message', (_t, payload) => seenByOther.push(JSON.parse(payload.toString()).gw));
    await other.subscribeAsync(liveStreamTopic('gw-solo'), { qos: 1 });
    const now = Date.now();
    stream.publishAll(
      [1, 2, 3].map((seq) => ({ dev: 'wr-0901', seq, ts: now, obs: { hr: 70 }, receivedAt: now })),
    );
    // Its own readings reach its ward, named as its own (a device's first reading waits
    // the jitter buffer's hold, here 0 ms, so they come on the next timer).
    await until(() => got.length === 3, 10_000, 'its own readings heard');
    expect(got.map((r) => [r.seq, r.origin])).toEqual([
      [1, 'gw-solo'],
      [2, 'gw-solo'],
      [3, 'gw-solo'],
    ]);
    await until(() => seenByOther.length === 1, 10_000, 'the other gateway heard the message');
    // A message of another gateway still comes through the link, after ours: so the broker has
    // delivered everything it would send by then, and none of it was our own.
    const [theirs] = encodeLiveBatch('gw-x2', [
      { dev: 'wr-0902', seq: 1, ts: now, obs: { hr: 71 }, receivedAt: now },
    ]);
    await other.publishAsync(liveStreamTopic('gw-x2'), theirs as Buffer, { qos: 1 });
    await until(() => got.length === 4, 10_000, "the other gateway's reading heard");
    expect(delivered).toEqual(['gw-x2']);
    expect(got[3]).toMatchObject({ dev: 'wr-0902', origin: 'gw-x2' });
    expect(stream.stats()).toMatchObject({ publishedReadings: 3, received: 4, duplicates: 0 });
    await other.endAsync();
    await stream.close();
  });
});

describe('internal live stream on the embedded broker', () => {
  const tmp = makeTempDir();
  let gw: RunningGateway;

  beforeAll(async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001', 'wr-0002']);
    gw = await startGateway({ dataDir: paths.root, logger: silentLogger, checkpointIntervalMs: 3_600_000 });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  test("error: a device may neither read the stream, publish on it, nor write another device's acks", async () => {
    const url = gw.broker?.url as string;
    const got: LiveReading[] = [];
    gw.hub.subscribe((r) => got.push(r));
    // wr-0002 listens to its own acks and rejects, as the protocol lets it.
    const victim = await mqtt.connectAsync(url, { clientId: 'wr-0002', reconnectPeriod: 0 });
    const victimGot: string[] = [];
    victim.on('message', (topic) => victimGot.push(topic));
    await victim.subscribeAsync([acksTopic('wr-0002'), rejectsTopic('wr-0002')], { qos: 1 });

    const device = await mqtt.connectAsync(url, { clientId: 'wr-0001', reconnectPeriod: 0 });
    // SUBACK 0x80 [MQTT-3.9.3]: mqtt.js turns it into an error.
    const refused = await device.subscribeAsync(LIVE_STREAM_SUBSCRIPTION, { qos: 1 }).then(
      () => null,
      (e: Error) => e,
    );
    expect(refused?.message).toMatch(/Subscribe error/);
    const [forged] = encodeLiveBatch('gw-1', [
      { dev: 'wr-0001', seq: 1, ts: Date.now(), obs: { hr: 30 }, receivedAt: Date.now() },
    ]);
    // Acknowledged and dropped [MQTT-3.3.5-2]: never forwarded to a subscriber.
    await device.publishAsync(liveStreamTopic('gw-1'), forged as Buffer, { qos: 1 });
    await device.publishAsync(acksTopic('wr-0002'), Buffer.from('{"seq":7}'), { qos: 1 });
    await device.publishAsync(rejectsTopic('wr-0002'), Buffer.from('{"seq":7,"code":"x"}'), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await device.endAsync(true);
    await victim.endAsync(true);
    expect(got).toEqual([]);
    expect(victimGot).toEqual([]);
  });
});
