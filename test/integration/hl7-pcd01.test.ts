/**
 * IHE PCD-01 over MLLP (issue 19): MllpReceiver against a real MLLP server (@medplum/hl7's
 * Hl7Server, test/helpers/hl7-server.ts) on a free port. Each message is read back twice:
 * parsed by @medplum/core's Hl7Message.parse on the server side, and as the raw ER7 bytes
 * between VT and FS CR, split here by hand. Covers ordering, codes and units, scaled values,
 * times, device identity, the proof reference, the stable MSH-10 of a resend, ACK AE/AR/CE
 * (receiver_rejected at the right index), close without ACK, silence (ACK timeout), stray
 * ACKs, a port where nothing listens, and reconnecting once the server is back.
 */
import { type Hl7Message, parseHl7DateTime } from '@medplum/core';
import { afterEach, describe, expect, test } from 'vitest';
import { MllpReceiver } from '../../gateway/src/io/interfaces/mllp-receiver.js';
import type { OutboundReading } from '../../gateway/src/io/interfaces/receiver.js';
import { type ServerAction, startHl7Server, type TestHl7Server } from '../helpers/hl7-server.js';

const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);
const ORIGIN = 'vitaltrail/gw-test';
const MESSAGE = {
  sendingApp: 'VITALTRAIL',
  sendingFacility: 'WARD3',
  receivingApp: 'EHR',
  receivingFacility: 'HOSP',
};
const PROFILE = 'IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO';

/** MDC metric, LOINC, MDC unit, UCUM and scale per key (the README table, restated). */
const TABLE = {
  hr: {
    mdc: '147842^MDC_ECG_HEART_RATE',
    loinc: '8867-4',
    unit: '264864^MDC_DIM_BEAT_PER_MIN',
    ucum: '/min',
    div: 1,
  },
  spo2: {
    mdc: '150456^MDC_PULS_OXIM_SAT_O2',
    loinc: '59408-5',
    unit: '262688^MDC_DIM_PERCENT',
    ucum: '%',
    div: 1,
  },
  rr: {
    mdc: '151562^MDC_RESP_RATE',
    loinc: '9279-1',
    unit: '264928^MDC_DIM_RESP_PER_MIN',
    ucum: '/min',
    div: 1,
  },
  temp: { mdc: '150344^MDC_TEMP', loinc: '8310-5', unit: '268192^MDC_DIM_DEGC', ucum: 'Cel', div: 100 },
  sbp: {
    mdc: '150021^MDC_PRESS_BLD_NONINV_SYS',
    loinc: '8480-6',
    unit: '266016^MDC_DIM_MMHG',
    ucum: 'mm[Hg]',
    div: 1,
  },
  dbp: {
    mdc: '150022^MDC_PRESS_BLD_NONINV_DIA',
    loinc: '8462-4',
    unit: '266016^MDC_DIM_MMHG',
    ucum: 'mm[Hg]',
    div: 1,
  },
} as const;
type Key = keyof typeof TABLE;
const KEYS = Object.keys(TABLE) as Key[];

/** ~20 readings of two devices, every observation kind, bound and unbound, anchored and not. */
function batchOf(n = 20): OutboundReading[] {
  return Array.from({ length: n }, (_, i) => {
    const dev = i % 2 === 0 ? 'wr-0001' : 'wr-0002';
    const seq = Math.floor(i / 2) + 1;
    const keys = KEYS.filter((_k, j) => (i + j) % 3 !== 0 || i % 5 === 0);
    const base: Record<Key, number> = {
      hr: 60 + i,
      spo2: 90 + (i % 10),
      rr: 12 + i,
      temp: 3650 + i * 7,
      sbp: 110 + i,
      dbp: 70 + i,
    };
    const r: OutboundReading = {
      id: `${dev}:${seq}`,
      dev,
      seq,
      ts: T0 + i * 1000 + (i % 7),
      acceptedAt: T0 + i * 1000 + 300,
      obs: Object.fromEntries(keys.map((k) => [k, base[k]])),
      leafIndex: 100 + i,
      origin: ORIGIN,
    };
    if (i % 3 !== 2) r.binding = { bed: `W3-${10 + (i % 2)}`, patientId: `MRN-${1000 + (i % 2)}` };
    if (i < 12) {
      r.anchored = {
        treeSize: 128,
        rootHash: 'a1'.repeat(32),
        txHash: `0x${'b2'.repeat(32)}`,
        blockNumber: 4242,
      };
    }
    return r;
  });
}

let servers: TestHl7Server[] = [];
let receivers: MllpReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await Promise.all(servers.map((s) => s.stop().catch(() => {})));
  servers = [];
  receivers = [];
});

async function server(policy: (i: number, m: Hl7Message) => ServerAction, port = 0): Promise<TestHl7Server> {
  const s = await startHl7Server(policy, port);
  servers.push(s);
  return s;
}

function receiver(port: number, ackTimeoutMs = 5_000): MllpReceiver {
  const r = new MllpReceiver({ name: 'ehr-mllp', host: '127.0.0.1', port, ackTimeoutMs, message: MESSAGE });
  receivers.push(r);
  return r;
}

async function failure(p: Promise<unknown>): Promise<{ code: string; delivered: number; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; delivered: number; message: string };
  }
  throw new Error('deliver resolved, a DeliveryError was expected');
}

describe('PCD-01 over MLLP', () => {
  test('behavior: a batch of 20 readings arrives once, in order, as PCD-01 ORU^R01 with codes, units, values, times, device and proof', async () => {
    const s = await server(() => 'AA');
    const batch = batchOf(20);
    await receiver(s.port).deliver(batch);
    expect(s.received).toHaveLength(20);
    expect(s.raw).toHaveLength(20);
    expect(s.connections).toBe(1);
    for (const [i, r] of batch.entries()) {
      const msg = s.received[i] as Hl7Message;
      const msh = msg.getSegment('MSH');
      expect(msh?.getField(9).toString()).toBe('ORU^R01^ORU_R01');
      expect(msh?.getField(10).toString()).toBe(r.id);
      expect(msh?.getField(12).toString()).toBe('2.6');
      expect(msh?.getField(21).toString()).toBe(PROFILE);
      // Patient and bed, or the unbound convention.
      expect(msg.getSegment('PID')?.getComponent(3, 1)).toBe(r.binding?.patientId ?? '');
      expect(msg.getSegment('PV1')?.getComponent(3, 3)).toBe(r.binding?.bed ?? '');
      expect(msg.getSegment('PV1')?.getField(2).toString()).toBe(r.binding ? 'I' : 'U');
      // One OBR, its time the device clock.
      expect(msg.getAllSegments('OBR')).toHaveLength(1);
      expect(parseHl7DateTime(msg.getSegment('OBR')?.getField(7).toString())).toBe(
        new Date(r.ts).toISOString(),
      );
      // Metrics: one NM OBX per observation, in the table's order.
      const metrics = msg.getAllSegments('OBX').filter((o) => o.getField(2).toString() === 'NM');
      const keys = KEYS.filter((k) => r.obs[k] !== undefined);
      expect(metrics.map((o) => `${o.getComponent(3, 1)}^${o.getComponent(3, 2)}`)).toEqual(
        keys.map((k) => TABLE[k].mdc),
      );
      for (const [j, k] of keys.entries()) {
        const obx = metrics[j] as NonNullable<(typeof metrics)[number]>;
        expect(obx.getComponent(3, 3)).toBe('MDC');
        expect(obx.getComponent(3, 4)).toBe(TABLE[k].loinc);
        expect(obx.getComponent(3, 6)).toBe('LN');
        expect(`${obx.getComponent(6, 1)}^${obx.getComponent(6, 2)}`).toBe(TABLE[k].unit);
        expect(obx.getComponent(6, 4)).toBe(TABLE[k].ucum);
        expect(obx.getComponent(6, 6)).toBe('UCUM');
        expect(Number(obx.getField(5).toString())).toBeCloseTo((r.obs[k] as number) / TABLE[k].div, 6);
        expect(obx.getField(4).toString()).toMatch(/^1\.[1-9]\.1\.[1-9]$/);
        expect(obx.getField(11).toString()).toBe('R');
        expect(parseHl7DateTime(obx.getField(14).toString())).toBe(new Date(r.ts).toISOString());
        expect(obx.getField(18).toString()).toBe(`${r.dev}^^${ORIGIN}^L`);
      }
      // Proof reference.
      const note = msg.getSegment('NTE')?.getField(3).toString();
      expect(note).toBe(
        r.anchored
          ? `vitaltrail-log origin=${ORIGIN} leaf=${r.leafIndex} tree_size=128 root=${'a1'.repeat(32)} tx=0x${'b2'.repeat(32)} block=4242`
          : `vitaltrail-log origin=${ORIGIN} leaf=${r.leafIndex}`,
      );
      // The raw bytes, segment by segment, independently of the parser.
      const raw = (s.raw[i] as string).split('\r');
      expect(raw[0]).toMatch(
        new RegExp(
          `^MSH\\|\\^~\\\\&\\|VITALTRAIL\\|WARD3\\|EHR\\|HOSP\\|\\d{14}\\.\\d{3}\\+0000\\|\\|ORU\\^R01\\^ORU_R01\\|${r.id}\\|P\\|2\\.6\\|\\|\\|AL\\|NE\\|\\|UNICODE UTF-8\\|\\|\\|IHE_PCD_001\\^IHE PCD\\^1\\.3\\.6\\.1\\.4\\.1\\.19376\\.1\\.6\\.1\\.1\\.1\\^ISO$`,
        ),
      );
      expect(raw[1]).toBe(r.binding ? `PID|1||${r.binding.patientId}^^^^PI||^^^^^^U` : 'PID|1');
      expect(raw[2]).toBe(r.binding ? `PV1|1|I|^^${r.binding.bed}` : 'PV1|1|U');
      expect(raw[3]).toBe(
        `OBR|1||${r.id}^^${ORIGIN}^L|182777000^monitoring of patient^SCT|||${msg.getSegment('OBR')?.getField(7).toString()}`,
      );
      expect(raw[4]?.startsWith(`NTE|1|O|${note}|`)).toBe(true);
      expect(raw[5]).toBe(
        `OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||${r.dev}^^${ORIGIN}^L`,
      );
      const rawMetrics = raw.filter((l) => l.startsWith('OBX|') && l.split('|')[2] === 'NM');
      expect(rawMetrics.map((l) => l.split('|')[3])).toEqual(
        keys.map(
          (k) => `${TABLE[k].mdc}^MDC^${TABLE[k].loinc}^${metrics[keys.indexOf(k)]?.getComponent(3, 5)}^LN`,
        ),
      );
      expect(raw.join('\r')).toBe(msg.toString());
    }
    // Temperature scaled from 0.01 °C, exactly, with two decimals.
    const temps = s.raw.flatMap((m) => m.split('\r').filter((l) => l.includes('|150344^MDC_TEMP^')));
    expect(temps.length).toBeGreaterThan(3);
    for (const l of temps) expect(l.split('|')[5]).toMatch(/^3\d\.\d{2}$/);
  });

  test('behavior: a resend of the same reading carries the same MSH-10', async () => {
    const s = await server(() => 'AA');
    const r = receiver(s.port);
    const [one] = batchOf(1);
    await r.deliver([one as OutboundReading]);
    await new Promise((res) => setTimeout(res, 5));
    await r.deliver([one as OutboundReading]);
    const ids = s.received.map((m) => m.getSegment('MSH')?.getField(10).toString());
    expect(ids).toEqual(['wr-0001:1', 'wr-0001:1']);
  });

  test('behavior: CA (commit accept) counts as delivered', async () => {
    const s = await server(() => 'CA');
    await receiver(s.port).deliver(batchOf(3));
    expect(s.received).toHaveLength(3);
  });

  test.each(['AE', 'AR', 'CE', 'CR'] as const)(
    'error: an ACK %s for message 7 → receiver_rejected, delivered 7, nothing after it sent',
    async (code) => {
      const s = await server((i) => (i === 7 ? code : 'AA'));
      const err = await failure(receiver(s.port).deliver(batchOf(12)));
      expect(err.code).toBe('receiver_rejected');
      expect(err.delivered).toBe(7);
      expect(err.message).not.toMatch(/MRN|W3-/);
      expect(s.received).toHaveLength(8);
    },
  );

  test('error: the server closes without ACK at message 4 → receiver_unavailable, delivered 4; the next deliver reconnects', async () => {
    let closeAt = 4;
    const s = await server((i) => (i === closeAt ? 'close' : 'AA'));
    const r = receiver(s.port);
    const batch = batchOf(10);
    const err = await failure(r.deliver(batch));
    expect(err.code).toBe('receiver_unavailable');
    expect(err.delivered).toBe(4);
    closeAt = -1;
    await r.deliver(batch.slice(4));
    expect(s.connections).toBe(2);
    expect(s.received.map((m) => m.getSegment('MSH')?.getField(10).toString())).toEqual([
      ...batch.slice(0, 5).map((x) => x.id),
      ...batch.slice(4).map((x) => x.id),
    ]);
  });

  test('error: nothing listens → receiver_unavailable, delivered 0; once the server is back, deliver works', async () => {
    const gone = await startHl7Server(() => 'AA');
    const port = gone.port;
    await gone.stop();
    const r = receiver(port);
    const err = await failure(r.deliver(batchOf(3)));
    expect(err.code).toBe('receiver_unavailable');
    expect(err.delivered).toBe(0);
    const back = await server(() => 'AA', port);
    await r.deliver(batchOf(3));
    expect(back.received).toHaveLength(3);
  });

  test('error: no ACK within the timeout → receiver_unavailable at that message', async () => {
    const s = await server((i) => (i === 2 ? 'silent' : 'AA'));
    const started = Date.now();
    const err = await failure(receiver(s.port, 300).deliver(batchOf(5)));
    expect(err.code).toBe('receiver_unavailable');
    expect(err.delivered).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('error: a stray ACK (MSA-2 of another message) → receiver_unavailable at that message', async () => {
    const s = await server((i) => (i === 1 ? 'stray' : 'AA'));
    const err = await failure(receiver(s.port).deliver(batchOf(4)));
    expect(err.code).toBe('receiver_unavailable');
    expect(err.delivered).toBe(1);
  });

  test('error: a message over maxMessageBytes is receiver_rejected before it is sent', async () => {
    const s = await server(() => 'AA');
    const r = new MllpReceiver({
      name: 'tiny',
      host: '127.0.0.1',
      port: s.port,
      message: MESSAGE,
      maxMessageBytes: 400,
    });
    receivers.push(r);
    const err = await failure(r.deliver(batchOf(2)));
    expect(err.code).toBe('receiver_rejected');
    expect(err.delivered).toBe(0);
    expect(s.received).toHaveLength(0);
  });
});
