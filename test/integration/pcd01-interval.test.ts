/**
 * @module test/integration/pcd01-interval
 * IHE PCD-01 "per interval" (`outbound.mllp.intervalSeconds`, issue 19) on a real sealed store
 * and a real MLLP listener (@medplum/hl7's server): one ORU^R01 per device and closed interval
 * (one OBR group per reading), nothing while the interval is open; a connection dropped in
 * the middle of an interval and a gateway restart (a new worker and source on the same store)
 * send no reading twice under two MSH-10s and lose none; every message also read by python-hl7.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { buildPcd01GroupMessage } from '../../gateway/src/core/hl7/pcd01.js';
import { DeliveryWorker } from '../../gateway/src/io/interfaces/delivery.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { MllpReceiver } from '../../gateway/src/io/interfaces/mllp-receiver.js';
import {
  IntervalReadingSource,
  type OutboundReadingGroup,
} from '../../gateway/src/io/interfaces/reading-source.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { parseWithPythonHl7 } from '../helpers/hl7-py.js';
import { type ServerAction, startHl7Server } from '../helpers/hl7-server.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0); // on a minute: intervals [T0, T0+60 s), …
const INTERVAL = 60_000;

describe('PCD-01 per interval', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test('behavior: one message per device and closed interval; a drop and a restart send every reading once', async () => {
    const tmp = makeTempDir('vt-interval-');
    cleanups.push(() => tmp.cleanup());
    const keys = recipientPair('care', 'ec');
    let accepted = T0;
    const r = sealedRig(tmp.dir, [keys.recipient], { now: () => accepted });
    cleanups.push(() => r.store.close());
    const a = r.device('wr-a');
    const b = r.device('wr-b');
    // 30 readings, one every 5 s, alternating devices: T0+0 … T0+145 s (three intervals).
    for (let i = 0; i < 30; i++) {
      accepted = T0 + i * 5000;
      await r.ingest.submit(
        (i % 2 ? b : a).next({ ts: accepted }, { hr: 60 + i, spo2: 97 }),
        i % 2 ? 'wr-b' : 'wr-a',
      );
    }
    let clock = T0 + 30_000;
    let action: (i: number) => ServerAction = () => 'CA';
    const server = await startHl7Server((i) => action(i));
    cleanups.push(() => server.stop());
    const worker = () => {
      const w = new DeliveryWorker<OutboundReadingGroup>({
        receiver: new MllpReceiver<OutboundReadingGroup>({
          name: 'mllp',
          host: '127.0.0.1',
          port: server.port,
          ackTimeoutMs: 2000,
          message: { sendingApp: 'VT', sendingFacility: 'gw-1', receivingApp: 'EHR', receivingFacility: 'H' },
          build: (g, h) => buildPcd01GroupMessage(g.readings, g.id, h),
        }),
        state: new DeliveryState(r.store),
        source: new IntervalReadingSource({
          store: r.store,
          secrets: [{ kid: 'care', privateKey: keys.privateKey }],
          bindings: null,
          origin: 'vitaltrail/gw-1',
          intervalMs: INTERVAL,
          now: () => clock,
        }),
        startLeaf: 0,
        batch: 1,
        backoff: { minMs: 1000, maxMs: 1000 },
        now: () => clock,
      });
      cleanups.push(() => w.stop());
      return w;
    };
    let w = worker();
    // The first interval is open: nothing goes.
    expect(await w.tick()).toBe(0);
    expect(server.received).toHaveLength(0);

    // The first interval closed: its two messages. The second one's connection drops.
    clock = T0 + INTERVAL;
    action = (i) => (i === 1 ? 'close' : 'CA');
    expect(await w.tick()).toBe(1);
    expect(await w.tick()).toBe(0); // dropped: retried after the backoff
    clock += 1000;
    expect(await w.tick()).toBe(1);
    expect(await w.tick()).toBe(0); // the second interval is still open

    // All closed; after one more group, the gateway "restarts": a new worker and source.
    clock = T0 + 4 * INTERVAL;
    expect(await w.tick()).toBe(1);
    await w.stop();
    w = worker();
    for (let i = 0; i < 10; i++) await w.tick();

    const ids = server.received.map((m) => m.getSegment('MSH')?.getField(10)?.toString());
    expect(ids).toEqual([
      'wr-a:1-6',
      'wr-b:1-6',
      'wr-b:1-6',
      'wr-a:7-12',
      'wr-b:7-12',
      'wr-a:13-15',
      'wr-b:13-15',
    ]);
    // Each distinct message carries its readings once, OBR-1 1…n, OBR-3 the reading ids in seq order.
    const unique = new Map(server.received.map((m) => [m.getSegment('MSH')?.getField(10)?.toString(), m]));
    const readings: string[] = [];
    for (const [id, m] of unique) {
      const obr = m.getAllSegments('OBR');
      expect(obr.map((o) => o.getField(1)?.toString())).toEqual(obr.map((_o, i) => String(i + 1)));
      const rids = obr.map((o) => o.getComponent(3, 1));
      const [dev, range] = (id as string).split(':') as [string, string];
      const [from, to] = range.split('-').map(Number) as [number, number];
      expect(rids).toEqual(Array.from({ length: to - from + 1 }, (_, i) => `${dev}:${from + i}`));
      readings.push(...rids);
    }
    expect(readings.sort()).toEqual([...new Set(readings)].sort());
    expect(readings).toHaveLength(30);
    // The resent message is the same readings (a receiver de-duplicating on MSH-10 keeps one).
    expect(server.raw[1]!.split('\r').slice(1)).toEqual(server.raw[2]!.split('\r').slice(1));
    expect(w.cursor()).toMatchObject({ nextLeaf: 30 });

    // python-hl7 reads every message: one PID, one OBR per reading, the hr values in order.
    const py = parseWithPythonHl7(server.raw, ['MSH.F10', 'OBR1.F3.R1.C1', 'OBR6.F3.R1.C1', 'OBR7.F3.R1.C1']);
    expect(py.map((p) => ('error' in p ? p.error : p.values['MSH.F10']))).toEqual(ids);
    for (const p of py) {
      if ('error' in p) continue;
      expect(p.segments.filter((s) => s === 'PID')).toHaveLength(1);
      expect(p.values['OBR1.F3.R1.C1']).toMatch(/^wr-[ab]:\d+$/);
    }
  });

  test('behavior: a gateway configured with intervalSeconds sends one message per device when the interval closes', async () => {
    const tmp = makeTempDir('vt-interval-gw-');
    cleanups.push(() => tmp.cleanup());
    const paths = await prepareDataDir(tmp.dir, ['wr-0001', 'wr-0002']);
    const server = await startHl7Server(() => 'CA');
    cleanups.push(() => server.stop());
    const gw = (await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0 },
      outbound: { mllp: { host: '127.0.0.1', port: server.port, intervalSeconds: 5 }, pollMs: 50 },
    })) as RunningGateway;
    cleanups.push(() => gw.stop());
    // Start just after an interval boundary, so the readings share one interval.
    await new Promise((r) => setTimeout(r, 5000 - (Date.now() % 5000) + 20));
    const chains = ['wr-0001', 'wr-0002'].map((d) => new FrameChain(d, deviceKey(paths, d)));
    for (let i = 0; i < 3; i++)
      for (const [k, c] of chains.entries()) await gw.ingest.submit(c.next(), `wr-000${k + 1}`);
    expect(server.received).toHaveLength(0); // the interval is open
    const end = Date.now() + 12_000;
    while (server.received.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(server.received.map((m) => m.getSegment('MSH')?.getField(10)?.toString())).toEqual([
      'wr-0001:1-3',
      'wr-0002:1-3',
    ]);
    expect(server.received.map((m) => m.getAllSegments('OBR').length)).toEqual([3, 3]);
  }, 30_000);
});
