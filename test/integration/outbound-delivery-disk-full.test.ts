/**
 * @module test/integration/outbound-delivery-disk-full
 * The outbound delivery engine (io/interfaces/delivery) when its own state cannot be
 * written: the store on a real 3 MiB tmpfs filled with a file, the receiver a real MLLP
 * listener that acknowledges. The receiver acknowledges a batch, the cursor's write fails
 * (SQLITE_FULL), and the worker waits out the backoff of a receiver that is down before it
 * tries again, told once; it used to send the same batch again at every poll (250 ms) and
 * log each time. Nothing is lost: once the space is freed the batch is sent again (the
 * receiver de-duplicates by MSH-10) and recorded, and the cursor goes on.
 * Needs root or passwordless sudo to mount (test/helpers/tmpfs).
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryWorker } from '../../gateway/src/io/interfaces/delivery.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { ReadingSource } from '../../gateway/src/io/interfaces/reading-source.js';
import { mllpReceiverTo, startHl7Server } from '../helpers/hl7-server.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';

const mnt = tmpfsForTests('vt-outbound-full-', '3m');
const T0 = Date.UTC(2026, 11, 6, 8, 0, 0);

describe('outbound delivery when its state cannot be written', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('behavior: waits out the backoff, told once, instead of sending the batch again at every round; resumes once space is freed', async () => {
    const keys = recipientPair('care', 'ec');
    let now = T0;
    const r = sealedRig(mnt, [keys.recipient], { now: () => now });
    cleanups.push(() => r.store.close());
    const dev = r.device('wr-a');
    for (let i = 0; i < 10; i++) {
      now += 500;
      await r.ingest.submit(dev.next({ ts: now }, { hr: 60 + i, spo2: 97 }), 'wr-a');
    }
    const server = await startHl7Server(() => 'CA');
    cleanups.push(() => server.stop());
    const logs: { level: string; msg: string; fields: unknown }[] = [];
    let clock = T0 + 3_600_000;
    const w = new DeliveryWorker({
      receiver: mllpReceiverTo(server.port),
      state: new DeliveryState(r.store),
      source: new ReadingSource({
        store: r.store,
        secrets: [{ kid: 'care', privateKey: keys.privateKey }],
        bindings: null,
        origin: 'vitaltrail/gw-1',
      }),
      startLeaf: 0,
      batch: 4,
      backoff: { minMs: 1000, maxMs: 8000 },
      now: () => clock,
      log: {
        warn: (msg, fields) => logs.push({ level: 'warn', msg, fields }),
        info: (msg, fields) => logs.push({ level: 'info', msg, fields }),
      },
    });
    cleanups.push(() => w.stop());
    const ids = () => server.received.map((m) => m.getSegment('MSH')?.getField(10)?.toString());

    expect(await w.tick()).toBe(4);
    const filler = fillFileSystem(mnt);
    // Acknowledged by the receiver, not recorded: the round fails.
    await expect(w.tick()).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    expect(server.received).toHaveLength(8);
    // The next rounds within the backoff send nothing.
    expect(await w.tick()).toBe(0);
    clock += 999;
    expect(await w.tick()).toBe(0);
    expect(server.received).toHaveLength(8);
    // After it, the batch again (the receiver de-duplicates it); failing again, told no more.
    clock += 1;
    await expect(w.tick()).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    expect(server.received).toHaveLength(12);
    expect(logs).toEqual([
      {
        level: 'warn',
        msg: 'outbound state could not be written; retrying with backoff',
        fields: { receiver: 'mllp', code: 'SQLITE_FULL' },
      },
    ]);

    rmSync(filler);
    clock += 2000; // the second wait: doubled
    expect(await w.tick()).toBe(4);
    expect(await w.tick()).toBe(2);
    expect(w.cursor()).toMatchObject({ nextLeaf: 10, delivered: 10, failures: 0 });
    expect(logs.at(-1)).toEqual({
      level: 'info',
      msg: 'outbound state writable again',
      fields: { receiver: 'mllp', after: 2 },
    });
    // Every reading reached the receiver, in order; the unrecorded batch twice more.
    expect([...new Set(ids())]).toEqual(Array.from({ length: 10 }, (_, i) => `wr-a:${i + 1}`));
    const second = ['wr-a:5', 'wr-a:6', 'wr-a:7', 'wr-a:8'];
    expect(ids().slice(4, 16)).toEqual([...second, ...second, ...second]);
  });
});
