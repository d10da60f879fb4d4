/**
 * @module test/integration/outbound-delivery
 * The delivery engine of the outbound interfaces (io/interfaces/delivery, issue 19) on a real
 * sealed store and a real MLLP listener (@medplum/hl7's server): the cursor moves only past
 * what the receiver acknowledged; a receiver that is down is retried with backoff and
 * nothing is lost; a refused reading becomes a dead letter and the rest go on; a new
 * receiver starts at the end of the log unless told otherwise; `outbound status` reports
 * it all.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { outboundStatus } from '../../gateway/src/cli/outbound.js';
import { DeliveryWorker } from '../../gateway/src/io/interfaces/delivery.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { ReadingSource } from '../../gateway/src/io/interfaces/reading-source.js';
import { mllpReceiverTo, startHl7Server, type TestHl7Server } from '../helpers/hl7-server.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);

describe('outbound delivery engine', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function rig(readings: number): Promise<{ r: SealedRig; dir: string; source: ReadingSource }> {
    const tmp = makeTempDir('vt-outbound-');
    cleanups.push(() => tmp.cleanup());
    const keys = recipientPair('care', 'ec');
    let now = T0;
    const r = sealedRig(tmp.dir, [keys.recipient], { now: () => now });
    cleanups.push(() => r.store.close());
    const a = r.device('wr-a');
    const b = r.device('wr-b');
    for (let i = 0; i < readings; i++) {
      now += 500;
      await r.ingest.submit(
        (i % 2 === 0 ? a : b).next({ ts: now }, { hr: 60 + i, spo2: 97 }),
        i % 2 ? 'wr-b' : 'wr-a',
      );
    }
    const source = new ReadingSource({
      store: r.store,
      secrets: [{ kid: 'care', privateKey: keys.privateKey }],
      bindings: null,
      origin: 'vitaltrail/gw-1',
    });
    return { r, dir: tmp.dir, source };
  }

  /** A worker on the test clock; `advance` jumps over a backoff. */
  function worker(
    r: SealedRig,
    source: ReadingSource,
    port: number,
    startLeaf = 0,
    batch = 4,
  ): { w: DeliveryWorker; advance: (ms: number) => void } {
    let clock = T0 + 3_600_000;
    const w = new DeliveryWorker({
      receiver: mllpReceiverTo(port),
      state: new DeliveryState(r.store),
      source,
      startLeaf,
      batch,
      backoff: { minMs: 1000, maxMs: 8000 },
      now: () => clock,
    });
    cleanups.push(() => w.stop());
    return {
      w,
      advance: (ms) => {
        clock += ms;
      },
    };
  }
  const ids = (s: TestHl7Server) => s.received.map((m) => m.getSegment('MSH')?.getField(10)?.toString());

  test('behavior: readings go in log order; the cursor moves past what was acknowledged; a new receiver may start at the end', async () => {
    const { r, dir, source } = await rig(10);
    const server = await startHl7Server(() => 'CA');
    cleanups.push(() => server.stop());
    const { w } = worker(r, source, server.port);
    let sent = 0;
    for (let i = 0; i < 5; i++) sent += await w.tick();
    expect(sent).toBe(10);
    expect(ids(server)).toEqual([
      'wr-a:1',
      'wr-b:1',
      'wr-a:2',
      'wr-b:2',
      'wr-a:3',
      'wr-b:3',
      'wr-a:4',
      'wr-b:4',
      'wr-a:5',
      'wr-b:5',
    ]);
    expect(w.cursor()).toMatchObject({ nextLeaf: 10, delivered: 10, failures: 0 });
    expect(await w.tick()).toBe(0); // nothing new
    const status = await outboundStatus(dir);
    expect(status).toEqual([
      expect.objectContaining({ receiver: 'mllp', pending: 0, delivered: 10, deadLetters: 0 }),
    ]);

    // Another receiver, first seen now, starting at the end of the log: only new readings.
    const late = new DeliveryState(r.store).cursor('late', r.store.size);
    expect(late).toMatchObject({ nextLeaf: 10, delivered: 0 });
  });

  test('error: a receiver that is down is retried after the backoff; nothing is lost or reordered', async () => {
    const { r, dir, source } = await rig(6);
    const probe = await startHl7Server(() => 'CA');
    const port = probe.port;
    await probe.stop(); // nothing listens on `port` now
    const { w, advance } = worker(r, source, port);
    expect(await w.tick()).toBe(0);
    expect(w.cursor()).toMatchObject({ nextLeaf: 0, failures: 1 });
    expect(w.cursor().lastError).toMatch(/^receiver_unavailable: /);
    expect(await w.tick()).toBe(0); // inside the backoff: not even tried
    expect(w.cursor().failures).toBe(1);
    expect((await outboundStatus(dir))[0]).toMatchObject({ pending: 6, delivered: 0 });

    const server = await startHl7Server(() => 'CA', port);
    cleanups.push(() => server.stop());
    advance(1000);
    expect((await w.tick()) + (await w.tick())).toBe(6);
    expect(ids(server)).toEqual(['wr-a:1', 'wr-b:1', 'wr-a:2', 'wr-b:2', 'wr-a:3', 'wr-b:3']);
    expect(w.cursor()).toMatchObject({ nextLeaf: 6, delivered: 6, failures: 0 });
  });

  test('error: a refused reading becomes a dead letter; the readings before and after it are delivered', async () => {
    const { r, dir, source } = await rig(6);
    // The listener refuses wr-b:2 (the 4th message) with AR, once.
    const server = await startHl7Server((_i, msg) =>
      msg.getSegment('MSH')?.getField(10)?.toString() === 'wr-b:2' ? 'AR' : 'CA',
    );
    cleanups.push(() => server.stop());
    const { w } = worker(r, source, server.port, 0, 6);
    expect(await w.tick()).toBe(3);
    expect(new DeliveryState(r.store).deadLetters('mllp')).toEqual([
      expect.objectContaining({ reading: 'wr-b:2', leafIndex: 3 }),
    ]);
    expect(await w.tick()).toBe(2);
    expect(ids(server)).toEqual(['wr-a:1', 'wr-b:1', 'wr-a:2', 'wr-b:2', 'wr-a:3', 'wr-b:3']);
    expect((await outboundStatus(dir))[0]).toMatchObject({ pending: 0, delivered: 5, deadLetters: 1 });
    expect((await outboundStatus(dir))[0]!.lastError).toMatch(/^receiver_rejected: /);
  });
});
