/**
 * Fail safe when the disk is full (issue 4): the store lives on a real 3 MiB tmpfs that
 * the test fills with a file. While it is full no frame is acknowledged (the broker sends
 * no PUBACK and closes the connection; the device keeps the frame), the ingest reports
 * itself unhealthy with a reason (the technical alarm the dashboard shows), and once the
 * space is freed the device's resend is stored and acknowledged, with no restart.
 *
 * Mounting needs root (CAP_SYS_ADMIN) or passwordless sudo (test/helpers/tmpfs). Where it is refused, the same test runs with a
 * write failure INJECTED AT THE STORAGE BOUNDARY (commitBatch throws SQLITE_FULL), named
 * as such in the test title.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StoreError } from '../../gateway/src/io/store/store.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../gateway/src/io/transport/mqtt-broker.js';
import { readFrames, recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fillFileSystem, tryMountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';

const tmp = makeTempDir('vt-diskfull-');
const mnt = join(tmp.dir, 'mnt');
mkdirSync(mnt);
const mounted = tryMountTmpfs(mnt, '3m');
const filler = join(mnt, 'filler');

/** Fills the file system (real) or arms the injected failure. */
let injected = false;
function fillDisk(rig: SealedRig): void {
  if (!mounted) {
    injected = true;
    const real = rig.store.commitBatch.bind(rig.store);
    rig.store.commitBatch = (b) => {
      if (injected) throw new StoreError('store_failed', 'injected SQLITE_FULL at the storage boundary');
      return real(b);
    };
    return;
  }
  fillFileSystem(mnt);
}
function freeDisk(): void {
  if (mounted) rmSync(filler);
  else injected = false;
}

describe(`fail safe on a full disk (${mounted ? 'real tmpfs' : 'write failure INJECTED at the storage boundary'})`, () => {
  const r = recipientPair('care', 'ec');
  let rig: SealedRig;
  let broker: EmbeddedBroker;

  beforeAll(async () => {
    rig = sealedRig(mnt, [r.recipient]);
    broker = await startEmbeddedBroker({ ingest: rig.ingest, host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await broker?.close();
    rig?.store.close();
    if (mounted) unmountTmpfs(mnt);
    tmp.cleanup();
  });

  test('behavior: no PUBACK while the disk is full, an alarm is raised, and ingest resumes by itself when space returns', async () => {
    const dev = rig.device('wr-df');
    const health: unknown[] = [];
    rig.ingest.on('storage', (h) => health.push(h));
    const client = await mqtt.connectAsync(broker.url, {
      clientId: 'wr-df',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    const topic = 'vt/v1/dev/wr-df/frames';
    // Enough frames first that the database has real pages on the small file system.
    for (let i = 0; i < 20; i++) await client.publishAsync(topic, Buffer.from(dev.next()), { qos: 1 });
    expect(rig.store.size).toBe(20);
    expect(rig.ingest.healthy).toBe(true);
    await client.endAsync();

    fillDisk(rig);
    const held = dev.next(); // the device keeps this frame until it is acked
    const c2 = await mqtt.connectAsync(broker.url, {
      clientId: 'wr-df',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    const tryOnce = async (c: mqtt.MqttClient) => {
      const outcome = await Promise.race([
        c.publishAsync(topic, Buffer.from(held), { qos: 1 }).then(() => 'puback'),
        new Promise<string>((resolve) => c.once('close', () => resolve('closed'))),
      ]);
      c.end(true);
      return outcome;
    };
    expect(await tryOnce(c2)).toBe('closed');
    // The device's retry fails too; the operator's log is told once, not per failed commit.
    expect(
      await tryOnce(await mqtt.connectAsync(broker.url, { clientId: 'wr-df', reconnectPeriod: 0 })),
    ).toBe('closed');
    expect(health).toEqual([
      { ok: false, reason: expect.any(String), cause: expect.stringMatching(/full/i) },
    ]);
    expect(rig.store.getFrame('wr-df', 21)).toBeUndefined();
    expect(rig.store.size).toBe(20);
    expect(rig.ingest.healthy).toBe(false);
    expect(rig.ingest.lastError).toEqual(expect.any(String));
    expect(rig.ingest.counters.storeFailures).toBe(2);

    freeDisk();
    const c3 = await mqtt.connectAsync(broker.url, {
      clientId: 'wr-df',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    await c3.publishAsync(topic, Buffer.from(held), { qos: 1 }); // the resend is acked
    await c3.publishAsync(topic, Buffer.from(dev.next()), { qos: 1 });
    await c3.endAsync();
    expect(rig.ingest.healthy).toBe(true);
    expect(rig.ingest.lastError).toBeNull();
    expect(health.slice(1)).toEqual([{ ok: true }]);
    expect(rig.store.size).toBe(22);
    // Everything acked is stored and opens.
    const rows = rig.store.framesByDevice('wr-df', 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    const frames = await readFrames(rig.store, [{ kid: 'care', privateKey: r.privateKey }], rows);
    expect(Buffer.compare(frames[20] as Uint8Array, held)).toBe(0);
  });
});
