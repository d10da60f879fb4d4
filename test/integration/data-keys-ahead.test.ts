/**
 * @module test/integration/data-keys-ahead
 * Data keys made off the commit's path (issue 14; io/data-keys): a real Ingest on a real
 * SQLite store, real data keys wrapped for a real recipient, and the embedded broker with
 * real mqtt.js devices.
 * - A commit takes only the frames whose devices have their key; a device whose key is being
 *   made has its frames set aside, in order, and answered once it is recorded. On the old
 *   pipeline the commit waited for every new key, so a frame of a device with its key was
 *   answered after the new devices' frames submitted before it.
 * - Near a window's end the next window's keys are made ahead, so at the top of the hour no
 *   commit makes one; the frames sealed under them read back.
 * - A key the store cannot record: the frames waiting for it are answered `store_failed`
 *   (not acknowledged), the other devices' frames are committed meanwhile, and the next try
 *   succeeds.
 * - A device's key is made when it connects (an enrolled device only; not for an unknown id),
 *   and `/metrics` counts it.
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { IngestResult } from '../../gateway/src/io/ingest/ingest.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { StoreError } from '../../gateway/src/io/store/store.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { readFrames, recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;

let tmp: ReturnType<typeof makeTempDir> | undefined;
let rig: SealedRig | undefined;
let gw: RunningGateway | undefined;
afterEach(async () => {
  await rig?.ingest.close();
  rig?.store.close();
  rig = undefined;
  await gw?.stop();
  gw = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

const keyRows = (r: SealedRig) =>
  r.store.db.prepare('SELECT id, dev, window_start FROM data_keys ORDER BY id').all() as {
    id: number;
    dev: string;
    window_start: number;
  }[];

describe('data keys off the commit path', () => {
  it('behavior: a commit does not wait for the keys of other devices; their frames follow, in order', async () => {
    tmp = makeTempDir('vt-keys-');
    const r = recipientPair('records', 'ec');
    rig = sealedRig(tmp.dir, [r.recipient], { keysAhead: false });
    const known = rig.device('wr-known');
    expect((await rig.ingest.submit(known.next(), 'wr-known')).status).toBe('accepted');

    // 300 devices' first frames (each needs a key made), then a frame of the known device.
    const fresh = Array.from(
      { length: 300 },
      (_, i) => rig?.device(`wr-new-${i}`) as ReturnType<SealedRig['device']>,
    );
    const order: string[] = [];
    const answers: Promise<IngestResult>[] = [];
    const submit = (bytes: Uint8Array, dev: string) =>
      answers.push(
        (rig as SealedRig).ingest.submit(bytes, dev).then((a) => {
          order.push(dev);
          return a;
        }),
      );
    for (const c of fresh) submit(c.next(), c.dev);
    // A new device's later frames, submitted while its key is being made, queue behind its first.
    const late = fresh[0] as (typeof fresh)[number];
    submit(known.next(), 'wr-known');
    // Until a commit has set the new devices' frames aside (300 keys take ~0.2 s to make).
    for (let turn = 0; turn < 100 && rig.ingest.dataKeys.parked === 0; turn += 1)
      await new Promise((resolve) => setImmediate(resolve));
    expect(rig.ingest.dataKeys.parked).toBeGreaterThan(0);
    submit(late.next(), late.dev);
    submit(late.next(), late.dev);
    const results = await Promise.all(answers);

    expect(results.every((a) => a.status === 'accepted')).toBe(true);
    // The known device's frame was answered first, though submitted after 300 others.
    expect(order[0]).toBe('wr-known');
    const leaf = (a: IngestResult) => (a.status === 'accepted' ? a.leafIndex : -1);
    const lateLeaves = results.filter((a) => a.status === 'accepted' && a.dev === late.dev).map(leaf);
    expect(lateLeaves).toHaveLength(3);
    expect(lateLeaves).toEqual([...lateLeaves].sort((a, b) => a - b));
    expect(rig.ingest.dataKeys.parked).toBe(0);
    expect(rig.ingest.pipeline.uncommitted).toBe(0);
    // One key per device, the known device's made before the others'.
    const rows = keyRows(rig);
    expect(rows).toHaveLength(301);
    expect(rows[0]?.dev).toBe('wr-known');
  });

  it('behavior: the next window’s keys are made ahead, and at the top of the hour no commit makes one', async () => {
    tmp = makeTempDir('vt-keys-');
    const r = recipientPair('records', 'ec');
    let now = 10 * HOUR - 4 * 60_000; // four minutes before a window ends
    rig = sealedRig(tmp.dir, [r.recipient], { now: () => now, keysAhead: { leadMs: 5 * 60_000 } });
    const devs = ['wr-a', 'wr-b', 'wr-c'].map((d) => (rig as SealedRig).device(d));
    for (const c of devs) await rig.ingest.submit(c.next({ ts: now }), c.dev);
    expect(rig.ingest.dataKeys).toMatchObject({ made: 3, madeAhead: 0, usedAhead: 0 });

    await rig.ingest.prepareKeys();
    expect(rig.ingest.dataKeys).toMatchObject({ made: 3, madeAhead: 3 });
    expect(
      keyRows(rig)
        .filter((k) => k.window_start === 10 * HOUR)
        .map((k) => k.dev),
    ).toEqual(['wr-a', 'wr-b', 'wr-c']);
    await rig.ingest.prepareKeys(); // nothing left to make
    expect(rig.ingest.dataKeys.madeAhead).toBe(3);

    now = 10 * HOUR + 1000; // the top of the hour
    const answers = await Promise.all(
      devs.map((c) => (rig as SealedRig).ingest.submit(c.next({ ts: now }), c.dev)),
    );
    expect(answers.map((a) => a.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(rig.ingest.dataKeys).toMatchObject({ made: 3, madeAhead: 3, usedAhead: 3 });
    expect(keyRows(rig)).toHaveLength(6);

    // Sealed under the keys made ahead, and they read back.
    const rows = rig.store.framesToRead('wr-b', 0, Number.MAX_SAFE_INTEGER);
    const frames = await readFrames(rig.store, [{ kid: 'records', privateKey: r.privateKey }], rows);
    expect(frames).toHaveLength(2);
    expect(frames.every((f) => f instanceof Uint8Array)).toBe(true);
  });

  it('behavior: a key the store cannot record fails only the frames waiting for it; the next try succeeds', async () => {
    tmp = makeTempDir('vt-keys-');
    const r = recipientPair('records', 'ec');
    rig = sealedRig(tmp.dir, [r.recipient], { keysAhead: false });
    const known = rig.device('wr-known');
    await rig.ingest.submit(known.next(), 'wr-known');
    const fresh = rig.device('wr-fresh');

    // A real SQLite refusal, as a full disk would give: inserts into data_keys abort.
    rig.store.db.exec(
      "CREATE TEMP TRIGGER vt_fail BEFORE INSERT ON data_keys BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END",
    );
    const first = fresh.next();
    const [failed, meanwhile] = await Promise.allSettled([
      rig.ingest.submit(first, 'wr-fresh'),
      rig.ingest.submit(known.next(), 'wr-known'),
    ]);
    expect(failed.status).toBe('rejected');
    expect((failed as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    expect(((failed as PromiseRejectedResult).reason as StoreError).code).toBe('store_failed');
    expect(meanwhile.status === 'fulfilled' && meanwhile.value.status).toBe('accepted');
    expect(rig.ingest.counters.storeFailures).toBeGreaterThan(0);

    rig.store.db.exec('DROP TRIGGER vt_fail');
    // The device resends the frame it was not acknowledged for.
    expect((await rig.ingest.submit(first, 'wr-fresh')).status).toBe('accepted');
    expect(rig.ingest.healthy).toBe(true);
    expect(keyRows(rig).map((k) => k.dev)).toEqual(['wr-known', 'wr-fresh']);
  });

  it('behavior: an enrolled device’s key is made when it connects; an unknown client id gets none', async () => {
    tmp = makeTempDir('vt-keys-');
    const paths = await prepareDataDir(tmp.dir, ['wr-0001']);
    gw = (await startGateway({
      dataDir: paths.root,
      mqtt: { port: 0 },
      http: { port: 0 },
      logger: silentLogger,
    })) as RunningGateway;
    const url = gw.broker?.url as string;
    const keysOf = (dev: string) =>
      (gw as RunningGateway).store.db
        .prepare('SELECT count(*) FROM data_keys WHERE dev = ?')
        .pluck()
        .get(dev);

    const stranger = await mqtt.connectAsync(url, { clientId: 'wr-9999', reconnectPeriod: 0 });
    const device = await mqtt.connectAsync(url, { clientId: 'wr-0001', reconnectPeriod: 0 });
    // Made on its connection (and, in the last five minutes of an hour, the next hour's too).
    await expect.poll(() => (gw as RunningGateway).ingest.dataKeys.made, { timeout: 5000 }).toBe(1);
    expect(keysOf('wr-0001')).toBe(1 + gw.ingest.dataKeys.madeAhead);
    expect(keysOf('wr-9999')).toBe(0);
    // And so /metrics says.
    const metrics = await (await fetch(`${gw.http.url}/metrics`)).text();
    expect(metrics).toMatch(/^vitaltrail_data_keys_made_total\{made="on_demand"\} 1$/m);
    expect(metrics).toMatch(/^vitaltrail_data_keys_made_total\{made="ahead"\} \d+$/m);
    expect(metrics).toMatch(/^vitaltrail_ingest_waiting_for_key 0$/m);
    await stranger.endAsync();
    await device.endAsync();
  });
});
