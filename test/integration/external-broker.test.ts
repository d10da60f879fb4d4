/**
 * External-broker mode (PROTOCOL.md §2, ARCHITECTURE.md guarantee 1) through real parts:
 * Debian Mosquitto on a free loopback port (generated config), the gateway as an MQTT 5
 * client with persistent sessions and the shared subscription, mqtt.js devices, SQLite.
 * Also scrapes `/metrics` and checks the documented series move.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { type RunningExternalGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { acksTopic, framesTopic, rejectsTopic } from '../../gateway/src/core/topics.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareDataDir, strangerKey } from '../helpers/gateway.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';

async function waitFor<T>(fn: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The value of one sample line of a Prometheus exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const DEVICES = ['wr-0001', 'wr-0002', 'wr-0003', 'wr-0004'];

describe('external-broker mode (Mosquitto + MQTT 5 shared subscription)', () => {
  const tmp = makeTempDir();
  let paths: DataPaths;
  let broker: RunningMosquitto;
  let gw: RunningExternalGateway;
  const start = () =>
    startGateway({
      dataDir: paths.root,
      logger: silentLogger,
      externalBroker: { url: broker.url, clientId: 'gw-ext', lanes: 4 },
      // No ledger: checkpoints are kept pending (issue 16); none within this test, so the
      // outbox depth it reads stays 0 however slow the runner is.
      checkpointIntervalMs: 3_600_000,
    });

  beforeAll(async () => {
    paths = await prepareDataDir(`${tmp.dir}/data`, DEVICES);
    broker = await startMosquitto(tmp.dir);
    gw = await start();
  });

  afterAll(async () => {
    await gw?.stop();
    await broker?.stop();
    tmp.cleanup();
  });

  test('behavior: every frame of an app-acked fleet is stored once; /metrics moves', async () => {
    const before = await (await fetch(`${gw.http.url}/metrics`)).text();
    expect(sample(before, 'vitaltrail_frames_accepted_total')).toBe(0);
    const fleet = await Fleet.start({
      url: broker.url,
      devices: DEVICES.slice(0, 3).map((d) => ({ devId: d, privateKey: deviceKey(paths, d) })),
      rateHz: 50,
      maxFrames: 40,
      appAcks: true,
      clientOptions: { protocolVersion: 5 },
    });
    await fleet.finished;
    await waitFor(() => fleet.stats().inOutbox === 0);
    const stats = await fleet.stop();
    expect(stats).toMatchObject({ made: 120, acked: 120, inOutbox: 0, rejected: {} });
    for (const d of DEVICES.slice(0, 3)) {
      expect(gw.store.getFrame(d, 40)).toBeDefined();
      expect(gw.store.getFrame(d, 41)).toBeUndefined();
    }
    expect(gw.store.size).toBe(120);

    // Behind an external broker "connected" counts the devices the ward heard in the last
    // minute: the live stream brings readings to the hub a moment after the acks (a device's
    // first reading waits up to 400 ms for one before it), so wait for the ward to hear them.
    let res = await fetch(`${gw.http.url}/metrics`);
    for (const end = Date.now() + 5000; Date.now() < end; res = await fetch(`${gw.http.url}/metrics`)) {
      if (sample(await res.clone().text(), 'vitaltrail_connected_devices') === 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    expect(sample(text, 'vitaltrail_frames_accepted_total')).toBe(120);
    expect(sample(text, 'vitaltrail_ack_latency_seconds_count')).toBeGreaterThanOrEqual(120);
    expect(sample(text, 'vitaltrail_ack_latency_seconds_bucket{le="+Inf"}')).toBe(
      sample(text, 'vitaltrail_ack_latency_seconds_count'),
    );
    expect(sample(text, 'vitaltrail_connected_devices')).toBe(3);
    expect(sample(text, 'vitaltrail_store_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'vitaltrail_log_size')).toBe(120);
    expect(sample(text, 'vitaltrail_outbox_depth')).toBe(0);
    expect(sample(text, 'vitaltrail_ready')).toBe(1);
    expect(await (await fetch(`${gw.http.url}/readyz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${gw.http.url}/livez`)).status).toBe(200);
  });

  test('error: a forged frame is reported on /rejects with its code, never app-acked nor stored', async () => {
    const dev = 'wr-0004';
    const client = await mqtt.connectAsync(broker.url, {
      clientId: dev,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    const got: { topic: string; body: unknown }[] = [];
    client.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
    await client.subscribeAsync([rejectsTopic(dev), acksTopic(dev)], { qos: 1 });
    const forged = new FrameChain(dev, strangerKey()).next();
    await client.publishAsync(framesTopic(dev), Buffer.from(forged), { qos: 1 });
    const msg = await waitFor(() => got[0]);
    expect(msg.topic).toBe(rejectsTopic(dev));
    expect(msg.body).toMatchObject({ seq: 1, code: 'bad_signature' });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toHaveLength(1);
    expect(gw.store.getFrame(dev, 1)).toBeUndefined();
    const text = await (await fetch(`${gw.http.url}/metrics`)).text();
    expect(sample(text, 'vitaltrail_frames_rejected_total{code="bad_signature"}')).toBe(1);
    await client.endAsync();
  });

  test('behavior: frames published while the gateway is stopped wait in its sessions and are stored after restart', async () => {
    await gw.stop();
    const dev = 'wr-0004';
    // Published once each, never resent: only the broker sessions can deliver them.
    const chain = new FrameChain(dev, deviceKey(paths, dev));
    const client = await mqtt.connectAsync(broker.url, {
      clientId: dev,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    for (let i = 0; i < 50; i++)
      await client.publishAsync(framesTopic(dev), Buffer.from(chain.next()), { qos: 1 });
    await client.endAsync();
    gw = await start();
    await waitFor(() => gw.store.getFrame(dev, 50) !== undefined && gw.store.getFrame(dev, 1) !== undefined);
    for (let s = 1; s <= 50; s++) expect(gw.store.getFrame(dev, s), `seq ${s}`).toBeDefined();
  });
});
