/**
 * @module test/integration/outbound-replay-worker
 * The delivery worker's side of `vitaltrail outbound replay` (issue 19; io/interfaces/delivery,
 * delivery-state), on a real sealed store and a real MLLP listener (@medplum/hl7's server), on
 * a test clock:
 * - PCD-01 per interval: a refused group is built again from the log for its replay, the
 *   same readings under the same MSH-10 (only MSH-7, the build time, may differ);
 * - per reading: a replay goes before the cursor's next readings; while the listener is
 *   down the replay waits with the backoff and so do the readings behind the cursor;
 * - a dead letter whose item is not in the log any more is closed as `not_found`, its request
 *   done, nothing sent.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { buildPcd01GroupMessage } from '../../gateway/src/core/hl7/pcd01.js';
import { DeliveryWorker } from '../../gateway/src/io/interfaces/delivery.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { MllpReceiver } from '../../gateway/src/io/interfaces/mllp-receiver.js';
import {
  IntervalReadingSource,
  type OutboundReadingGroup,
  ReadingSource,
} from '../../gateway/src/io/interfaces/reading-source.js';
import {
  mllpReceiverTo,
  type ServerAction,
  startHl7Server,
  type TestHl7Server,
} from '../helpers/hl7-server.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
const INTERVAL = 60_000;
const HEADER = { sendingApp: 'VT', sendingFacility: 'gw-1', receivingApp: 'EHR', receivingFacility: 'H' };

describe('dead letter replay in the delivery worker', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** `n` readings, one every 5 s, alternating wr-a and wr-b; `accepted` moves the store's clock. */
  async function rig(n: number) {
    const tmp = makeTempDir('vt-replay-worker-');
    cleanups.push(() => tmp.cleanup());
    const keys = recipientPair('care', 'ec');
    const clock = { accepted: T0 };
    const r: SealedRig = sealedRig(tmp.dir, [keys.recipient], { now: () => clock.accepted });
    cleanups.push(() => r.store.close());
    const devs = { 'wr-a': r.device('wr-a'), 'wr-b': r.device('wr-b') };
    const add = async (i: number) => {
      clock.accepted = T0 + i * 5000;
      const dev = i % 2 ? 'wr-b' : 'wr-a';
      await r.ingest.submit(devs[dev].next({ ts: clock.accepted }, { hr: 60 + i, spo2: 97 }), dev);
    };
    for (let i = 0; i < n; i++) await add(i);
    const parts = {
      store: r.store,
      secrets: [{ kid: 'care', privateKey: keys.privateKey }],
      bindings: null,
      origin: 'vitaltrail/gw-1',
    };
    return { r, parts, add, state: new DeliveryState(r.store) };
  }

  const msh10 = (s: TestHl7Server) => s.received.map((m) => m.getSegment('MSH')?.getField(10)?.toString());

  test('behavior: PCD-01 per interval: a refused group is replayed with the same readings and MSH-10', async () => {
    const { parts, state } = await rig(30); // three intervals of 60 s
    let action: (id: string) => ServerAction = (id) => (id === 'wr-b:7-12' ? 'AR' : 'CA');
    const server = await startHl7Server((_i, m) =>
      action(m.getSegment('MSH')?.getField(10)?.toString() ?? ''),
    );
    cleanups.push(() => server.stop());
    const clock = T0 + 4 * INTERVAL;
    const source = new IntervalReadingSource({ ...parts, intervalMs: INTERVAL, now: () => clock });
    const w = new DeliveryWorker<OutboundReadingGroup>({
      receiver: new MllpReceiver<OutboundReadingGroup>({
        name: 'mllp',
        host: '127.0.0.1',
        port: server.port,
        ackTimeoutMs: 2000,
        message: HEADER,
        build: (g, h) => buildPcd01GroupMessage(g.readings, g.id, h),
      }),
      state,
      source,
      startLeaf: 0,
      batch: 10,
      now: () => clock,
    });
    cleanups.push(() => w.stop());
    for (let i = 0; i < 4; i++) await w.tick();
    expect(msh10(server)).toEqual([
      'wr-a:1-6',
      'wr-b:1-6',
      'wr-a:7-12',
      'wr-b:7-12',
      'wr-a:13-15',
      'wr-b:13-15',
    ]);
    const [dead] = state.listDeadLetters({ receiver: 'mllp', limit: 10 });
    expect(dead).toMatchObject({ item: 'wr-b:7-12', code: 'receiver_rejected', attempts: 1 });

    // Built again from the log, it is the group `after` built.
    const original = (await source.after(0, 10)).items.find((g) => g.id === 'wr-b:7-12');
    expect(await source.item(dead!.item, dead!.position)).toEqual(original);
    expect(await source.item('wr-b:7-11', dead!.position)).toBeNull(); // not a group of the log
    expect(await source.item('wr-c:1-3', 0)).toBeNull();

    action = () => 'CA';
    expect(state.requestReplay('mllp', [dead!.id], 'cli:test', clock)).toEqual({
      requested: [dead!.id],
      alreadyReplayed: [],
      unknown: [],
    });
    expect(await w.tick()).toBe(1);
    expect(msh10(server).slice(6)).toEqual(['wr-b:7-12']);
    // The same message but its build time (MSH-7).
    const withoutTime = (raw: string) =>
      raw.split('\r').map((s) => (s.startsWith('MSH|') ? s.split('|').toSpliced(6, 1).join('|') : s));
    expect(withoutTime(server.raw[6]!)).toEqual(withoutTime(server.raw[3]!));
    expect(state.listDeadLetters({ receiver: 'mllp', limit: 10 })).toEqual([]);
    expect(state.listDeadLetters({ receiver: 'mllp', replayed: true, limit: 10 })).toEqual([
      expect.objectContaining({
        id: dead!.id,
        replayedAt: clock,
        attempts: 2,
        replayRequestedBy: 'cli:test',
      }),
    ]);
    expect(w.cursor()).toMatchObject({ nextLeaf: 30, deadLetters: 0, delivered: 6 });
    expect(await w.tick()).toBe(0); // nothing twice
    expect(server.received).toHaveLength(7);
  });

  test('behavior: a replay goes before the next readings, and waits with them while the receiver is down', async () => {
    const { parts, state, add } = await rig(4);
    let up = true;
    let refuse = new Set(['wr-b:1']);
    const server = await startHl7Server((_i, m) => {
      const id = m.getSegment('MSH')?.getField(10)?.toString() ?? '';
      return !up ? 'close' : refuse.has(id) ? 'AE' : 'CA';
    });
    cleanups.push(() => server.stop());
    let clock = T0 + 3_600_000;
    const w = new DeliveryWorker({
      receiver: mllpReceiverTo(server.port),
      state,
      source: new ReadingSource(parts),
      startLeaf: 0,
      batch: 10,
      backoff: { minMs: 1000, maxMs: 1000 },
      now: () => clock,
    });
    cleanups.push(() => w.stop());
    await w.tick();
    await w.tick();
    expect(msh10(server)).toEqual(['wr-a:1', 'wr-b:1', 'wr-a:2', 'wr-b:2']);
    const [dead] = state.listDeadLetters({ limit: 10 });
    expect(dead).toMatchObject({ receiver: 'mllp', item: 'wr-b:1', position: 1 });

    // A replay and two new readings while the listener closes every connection.
    refuse = new Set();
    up = false;
    await add(4);
    await add(5);
    state.requestReplay('mllp', 'all', 'cli:test', clock);
    expect(await w.tick()).toBe(0);
    expect(w.cursor()).toMatchObject({ nextLeaf: 4, failures: 1 });
    expect(w.cursor().lastError).toMatch(/^receiver_unavailable: /);
    expect(state.replayRequests('mllp', 10)).toEqual([expect.objectContaining({ id: dead!.id })]);
    expect(await w.tick()).toBe(0); // inside the backoff
    const tried = server.received.length;

    up = true;
    clock += 1000;
    expect(await w.tick()).toBe(3); // the replay, then the cursor's two readings
    expect(msh10(server).slice(tried)).toEqual(['wr-b:1', 'wr-a:3', 'wr-b:3']);
    expect(w.cursor()).toMatchObject({ nextLeaf: 6, failures: 0, deadLetters: 0, delivered: 6 });
    expect(state.replayRequests('mllp', 10)).toEqual([]);
  });

  test('error: a dead letter whose item is not in the log is closed as not_found, nothing sent', async () => {
    const { parts, state } = await rig(2);
    const server = await startHl7Server(() => 'CA');
    cleanups.push(() => server.stop());
    const clock = T0 + 3_600_000;
    const w = new DeliveryWorker({
      receiver: mllpReceiverTo(server.port),
      state,
      source: new ReadingSource(parts),
      startLeaf: 2,
      now: () => clock,
    });
    cleanups.push(() => w.stop());
    w.cursor();
    state.deadLetter('mllp', 'wr-a:9', 0, 'ACK AE', clock - 1000); // position 0 holds wr-a:1
    const [dead] = state.listDeadLetters({ limit: 10 });
    state.requestReplay('mllp', [dead!.id], 'cli:test', clock);
    expect(await w.tick()).toBe(0);
    expect(server.received).toHaveLength(0);
    expect(state.listDeadLetters({ limit: 10 })).toEqual([
      expect.objectContaining({
        id: dead!.id,
        code: 'not_found',
        reason: 'nothing to replay: the store holds no such item for this receiver',
        attempts: 2,
        lastAttemptAt: clock,
        replayRequestedAt: null,
        replayedAt: null,
      }),
    ]);
    expect(w.cursor()).toMatchObject({
      deadLetters: 1,
      lastError: 'not_found: nothing to replay: the store holds no such item for this receiver',
    });
    // An id of another receiver, or none at all: nothing is marked.
    expect(state.requestReplay('fhir', [dead!.id], 'cli:test', clock)).toEqual({
      requested: [],
      alreadyReplayed: [],
      unknown: [dead!.id],
    });
    expect(state.replayRequests('mllp', 10)).toEqual([]);
  });
});
