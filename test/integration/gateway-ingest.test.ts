/**
 * The gateway's ingest path through real parts: the embedded aedes broker on a TCP port,
 * real mqtt.js clients, the SQLite store on disk. Each documented outcome of
 * PROTOCOL.md §1-2 is checked from the device's side (PUBACK, rejects topic) and the
 * store's side (stored once, or not at all).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { rejectsTopic } from '../../gateway/src/core/topics.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { createLogger, silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { frameHash } from '../../gateway/src/protocol/frame.js';
import { deviceKey, FrameChain, prepareDataDir, strangerKey } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

interface RejectMsg {
  seq: number | null;
  code: string;
  reason: string;
}

async function connect(url: string, clientId: string): Promise<{ client: MqttClient; rejects: RejectMsg[] }> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, protocolVersion: 4 });
  const rejects: RejectMsg[] = [];
  client.on('message', (topic, payload) => {
    if (topic === rejectsTopic(clientId)) rejects.push(JSON.parse(payload.toString()) as RejectMsg);
  });
  await client.subscribeAsync(rejectsTopic(clientId), { qos: 1 });
  return { client, rejects };
}

async function waitFor<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('gateway ingest over MQTT (aedes + mqtt.js + SQLite)', () => {
  const tmp = makeTempDir();
  let paths: DataPaths;
  let gw: RunningGateway;
  let dev1: FrameChain;
  let firstFrame: Uint8Array;

  beforeAll(async () => {
    paths = await prepareDataDir(tmp.dir, ['wr-0001', 'wr-0002', 'wr-0004']);
    gw = await startGateway({ dataDir: tmp.dir, logger: silentLogger, deviceRefreshMs: 200 });
    dev1 = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
  });

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  test('behavior: a valid frame is PUBACKed only once it is in the store', async () => {
    const { client } = await connect(gw.broker.url, 'wr-0001');
    firstFrame = dev1.next();
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(firstFrame), { qos: 1 });
    // The PUBACK has arrived: the frame must already be durable, read through a second connection.
    const other = openStore(paths.db);
    try {
      expect(other.getFrame('wr-0001', 1)?.leafIndex).toBe(0);
    } finally {
      other.close();
    }
    expect(gw.store.size).toBe(1);
    await client.endAsync();
  });

  test('behavior: a byte-identical resend is acknowledged and not stored twice', async () => {
    const { client, rejects } = await connect(gw.broker.url, 'wr-0001');
    const before = gw.ingest.counters.duplicates;
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(firstFrame), { qos: 1 });
    expect(gw.store.size).toBe(1);
    expect(gw.ingest.counters.duplicates).toBe(before + 1);
    expect(rejects).toEqual([]);
    await client.endAsync();
  });

  test('error: a frame signed with the wrong key is rejected with bad_signature on the rejects topic', async () => {
    const { client, rejects } = await connect(gw.broker.url, 'wr-0001');
    const forged = new FrameChain('wr-0001', strangerKey());
    forged.seq = dev1.seq;
    forged.prev = dev1.prev;
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(forged.next()), { qos: 1 });
    const r = await waitFor(() => rejects[0]);
    expect(r).toMatchObject({ seq: 2, code: 'bad_signature' });
    expect(typeof r.reason).toBe('string');
    expect(gw.store.getFrame('wr-0001', 2)).toBeUndefined();
    expect(gw.store.size).toBe(1);
    await client.endAsync();
  });

  test('error: a frame from a device the KGC never enrolled is rejected with unknown_device', async () => {
    const { client, rejects } = await connect(gw.broker.url, 'wr-9999');
    const stranger = new FrameChain('wr-9999', strangerKey());
    await client.publishAsync('vt/v1/dev/wr-9999/frames', Buffer.from(stranger.next()), { qos: 1 });
    expect(await waitFor(() => rejects[0])).toMatchObject({ seq: 1, code: 'unknown_device' });
    expect(gw.store.getFrame('wr-9999', 1)).toBeUndefined();
    await client.endAsync();
  });

  test('error: other bytes for an accepted (dev, seq) are replay_conflict; the original stays', async () => {
    const { client, rejects } = await connect(gw.broker.url, 'wr-0001');
    const replay = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
    await client.publishAsync(
      'vt/v1/dev/wr-0001/frames',
      Buffer.from(replay.next({ ts: Date.now() - 1000 })),
      {
        qos: 1,
      },
    );
    expect(await waitFor(() => rejects[0])).toMatchObject({ seq: 1, code: 'replay_conflict' });
    expect(Buffer.compare(gw.store.getFrame('wr-0001', 1)!.hash, frameHash(firstFrame))).toBe(0);
    expect(gw.store.size).toBe(1);
    await client.endAsync();
  });

  test('error: garbage is malformed, a frame for another device is identity_mismatch, a broken chain is chain_mismatch', async () => {
    const { client, rejects } = await connect(gw.broker.url, 'wr-0001');
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from('not a frame'), { qos: 1 });
    const other = new FrameChain('wr-0002', deviceKey(paths, 'wr-0002'));
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(other.next()), { qos: 1 });
    const broken = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
    broken.seq = 1;
    broken.prev = new Uint8Array(32).fill(7);
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(broken.next()), { qos: 1 });
    await waitFor(() => (rejects.length >= 3 ? true : undefined));
    expect(rejects.map((r) => r.code)).toEqual(['malformed', 'identity_mismatch', 'chain_mismatch']);
    expect(gw.store.size).toBe(1);
    expect(gw.store.rejectionCounts()).toMatchObject({
      malformed: 1,
      identity_mismatch: 1,
      chain_mismatch: 1,
    });
    await client.endAsync();
  });

  test('error: a device may not publish to another device topic (the broker closes the connection)', async () => {
    const client = await mqtt.connectAsync(gw.broker.url, { clientId: 'wr-0002', reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('vt/v1/dev/wr-0001/frames', Buffer.from(dev1.next()), { qos: 1 });
    dev1.seq -= 1; // that frame never reached the log
    await closed;
    expect(gw.store.getFrame('wr-0001', 2)).toBeUndefined();
    client.end(true);
  });

  test('behavior: a device enrolled while the gateway runs is accepted within seconds', async () => {
    const { enrolDevice } = await import('../../gateway/src/io/identity/enrol.js');
    const store = openStore(paths.db);
    await enrolDevice(paths, store, 'wr-0003');
    store.close();
    const d3 = new FrameChain('wr-0003', deviceKey(paths, 'wr-0003'));
    const { client, rejects } = await connect(gw.broker.url, 'wr-0003');
    await new Promise((r) => setTimeout(r, 1200)); // past the 1 s negative cache
    await client.publishAsync('vt/v1/dev/wr-0003/frames', Buffer.from(d3.next()), { qos: 1 });
    expect(rejects).toEqual([]);
    expect(gw.store.getFrame('wr-0003', 1)).toBeDefined();
    await client.endAsync();
  });

  test('behavior: frames and dropped publishes end at the broker (none retained, none delivered); the gateway’s rejects still reach the device', async () => {
    const delivered: string[] = [];
    const onPublish = (packet: { topic: string }, client: unknown) => {
      if (client) delivered.push(packet.topic);
    };
    gw.broker.aedes.on('publish', onPublish);
    try {
      const dev2 = new FrameChain('wr-0002', deviceKey(paths, 'wr-0002'));
      const { client, rejects } = await connect(gw.broker.url, 'wr-0002');
      await client.publishAsync('vt/v1/dev/wr-0002/frames', Buffer.from(dev2.next()), {
        qos: 1,
        retain: true,
      });
      await client.publishAsync('wards/3/notes', Buffer.from('not a frame'), { qos: 1, retain: true });
      const forged = new FrameChain('wr-0002', strangerKey());
      forged.seq = dev2.seq;
      forged.prev = dev2.prev;
      await client.publishAsync('vt/v1/dev/wr-0002/frames', Buffer.from(forged.next()), { qos: 1 });
      expect((await waitFor(() => rejects[0])).code).toBe('bad_signature');
      expect(gw.store.getFrame('wr-0002', 1)).toBeDefined();
      const retained: string[] = [];
      const { persistence } = gw.broker.aedes as unknown as {
        persistence: { createRetainedStream(pattern: string): AsyncIterable<{ topic: string }> };
      };
      for await (const p of persistence.createRetainedStream('#')) retained.push(p.topic);
      expect(retained).toEqual([]);
      expect(delivered).toEqual([]);
      await client.endAsync();
    } finally {
      gw.broker.aedes.off('publish', onPublish);
    }
  });

  test('behavior: a backlog is committed in group commits of at most 256 frames, each answered before the next is written', async () => {
    const chain = new FrameChain('wr-0004', deviceKey(paths, 'wr-0004'));
    const frames = Array.from({ length: 700 }, () => chain.next());
    const firstBatch = gw.store.nextBatchId();
    // Each frame, once answered: its group commit, and the last commit written by then.
    const seen: { batch: number; last: number }[] = [];
    const results = await Promise.all(
      frames.map((bytes) =>
        gw.ingest.submit(bytes, 'wr-0004').then((r) => {
          if (r.status === 'accepted')
            seen.push({
              batch: gw.store.getFrame('wr-0004', r.seq)?.batchId ?? -1,
              last: gw.store.nextBatchId() - 1,
            });
          return r;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(frames.map(() => 'accepted'));
    const sizes = gw.store.db
      .prepare('SELECT frame_count FROM batches WHERE id >= ? ORDER BY id')
      .pluck()
      .all(firstBatch) as number[];
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(700);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256); // was one commit of 700 (at most 2,000)
    // No frame waited for a later commit than its own: its answer came before the next one.
    expect(seen.filter((x) => x.batch !== x.last)).toEqual([]);
  });
});

describe('gateway restart', () => {
  test('behavior: (dev, seq) dedupe and the log survive a restart; files a killed writer left are removed at the start', async () => {
    const tmp = makeTempDir();
    try {
      const paths = await prepareDataDir(tmp.dir, ['wr-0001']);
      const chain = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
      const frames = [chain.next(), chain.next(), chain.next()];
      let gw = await startGateway({ dataDir: tmp.dir, logger: silentLogger });
      let c = await connect(gw.broker.url, 'wr-0001');
      for (const f of frames)
        await c.client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(f), { qos: 1 });
      await c.client.endAsync();
      const root = gw.store.root();
      await gw.stop();

      // Files a killed writer left beside the secret and state files go at the start; a
      // writer still running (here, this process) keeps its own.
      const { pid: gone } = spawnSync(process.execPath, ['-e', '']);
      const dirs = { gateway: paths.gatewayDir, recipients: paths.recipientsDir, chain: paths.chainDir };
      const stale = Object.values(dirs).map((d) => join(d, `x.json.${gone}.0123abcd.tmp`));
      const alive = join(paths.gatewayDir, `users.json.${process.pid}.89abcdef.tmp`);
      for (const f of [...stale, alive]) writeFileSync(f, 'secret copy', { mode: 0o600 });
      const logged: string[] = [];
      gw = await startGateway({
        dataDir: tmp.dir,
        logger: createLogger({ level: 'warn', write: (l) => logged.push(l) }),
      });
      expect(stale.filter((f) => existsSync(f))).toEqual([]);
      expect(existsSync(alive)).toBe(true);
      const removed = logged.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith('removed files left'));
      expect(removed.map((l) => l.dir).sort()).toEqual(Object.values(dirs).sort());
      expect(gw.store.size).toBe(3);
      expect(Buffer.compare(gw.store.root(), root)).toBe(0);
      c = await connect(gw.broker.url, 'wr-0001');
      for (const f of frames)
        await c.client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(f), { qos: 1 });
      await c.client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(chain.next()), { qos: 1 });
      expect(gw.ingest.counters.duplicates).toBe(3);
      expect(gw.store.size).toBe(4);
      expect(c.rejects).toEqual([]);
      await c.client.endAsync();
      await gw.stop();
    } finally {
      tmp.cleanup();
    }
  });
});
