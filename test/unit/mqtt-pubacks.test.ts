/**
 * The external-broker client's own PUBACKs (gateway/src/io/transport/mqtt-pubacks.ts):
 * written in the order the PUBLISHes arrived [MQTT-4.6.0-2], the ones released in one tick
 * in one write, MQTT 5 PUBACK with Remaining Length 2 [MQTT 5 §3.4.2.1], never after the
 * connection is gone.
 */
import { describe, expect, test } from 'vitest';
import { OrderedPubacks, type PubackSink, qos0Publish } from '../../gateway/src/io/transport/mqtt-pubacks.js';

function sink(): PubackSink & { writes: Buffer[]; destroyed: boolean } {
  const writes: Buffer[] = [];
  return {
    writes,
    destroyed: false,
    write(chunk: Uint8Array) {
      writes.push(Buffer.from(chunk));
      return true;
    },
  };
}

/** The packet ids of a run of 4-byte PUBACKs, checking each header. */
function idsOf(bytes: Buffer): number[] {
  expect(bytes.length % 4).toBe(0);
  const ids: number[] = [];
  let badHeaders = 0;
  for (let at = 0; at < bytes.length; at += 4) {
    if (bytes[at] !== 0x40 || bytes[at + 1] !== 2) badHeaders += 1;
    ids.push(bytes.readUInt16BE(at + 2));
  }
  expect(badHeaders).toBe(0);
  return ids;
}

const tick = () => new Promise<void>((r) => process.nextTick(r));

describe('OrderedPubacks', () => {
  test('behavior: slots released out of order are answered in arrival order, in one write per tick', async () => {
    const s = sink();
    const q = new OrderedPubacks(s);
    const slots = [7, 8, 9, 10].map((id) => q.take(id));
    q.release(slots[2]!);
    q.release(slots[1]!);
    await tick();
    expect(s.writes).toHaveLength(0); // 7 is not answered yet: nothing may overtake it
    expect(q.pending).toBe(4);
    q.release(slots[0]!);
    await tick();
    expect(s.writes.map(idsOf)).toEqual([[7, 8, 9]]);
    q.release(slots[3]!);
    q.release(slots[3]!); // a second release is ignored
    await tick();
    expect(s.writes.map(idsOf)).toEqual([[7, 8, 9], [10]]);
    expect(q.pending).toBe(0);
    expect(q.written).toBe(4);
  });

  test('behavior: a thousand frames of one commit leave in one write', async () => {
    const s = sink();
    const q = new OrderedPubacks(s);
    const slots = Array.from({ length: 1000 }, (_, i) => q.take((i % 65535) + 1));
    for (const slot of slots) q.release(slot);
    await tick();
    expect(s.writes).toHaveLength(1);
    expect(idsOf(s.writes[0]!)).toEqual(slots.map((x) => x.packetId));
  });

  test('behavior: long runs keep order across the compaction of answered slots', async () => {
    const s = sink();
    const q = new OrderedPubacks(s);
    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      const slots = Array.from({ length: 2500 }, (_, i) => q.take(((round * 2500 + i) % 65535) + 1));
      for (const slot of [...slots].reverse()) q.release(slot);
      await tick();
    }
    for (const w of s.writes) seen.push(...idsOf(w));
    expect(seen).toEqual(Array.from({ length: 7500 }, (_, i) => (i % 65535) + 1));
  });

  test('behavior: a quiet connection keeps no answered slot (a wearable at 1 Hz over a shift)', async () => {
    const s = sink();
    const q = new OrderedPubacks(s);
    for (let i = 0; i < 5_000; i++) {
      q.release(q.take((i % 65535) + 1));
      await tick();
      expect(q.held).toBe(0);
    }
    // Behind a frame still waiting for its commit: held until it is answered.
    q.release(q.take(1));
    const waiting = q.take(2);
    q.release(q.take(3));
    await tick();
    expect(q.pending).toBe(2);
    q.release(waiting);
    await tick();
    expect([q.held, q.pending]).toEqual([0, 0]);
    expect(s.writes.slice(-2).map(idsOf)).toEqual([[1], [2, 3]]);
    expect(q.written).toBe(5_003);
  });

  test('behavior: nothing is written once the connection is destroyed or discarded', async () => {
    const s = sink();
    const q = new OrderedPubacks(s);
    const a = q.take(1);
    s.destroyed = true;
    q.release(a);
    await tick();
    expect(s.writes).toHaveLength(0);

    const s2 = sink();
    const q2 = new OrderedPubacks(s2);
    const b = q2.take(2);
    q2.discard();
    q2.release(b);
    q2.flush();
    await tick();
    expect(s2.writes).toHaveLength(0);
    expect(q2.pending).toBe(0);
  });

  test('behavior: application acks go out after the PUBACKs of their tick, in the same write', async () => {
    const s = sink();
    const q = new OrderedPubacks(s);
    const a = q.take(5);
    const ack = qos0Publish('vt/v1/dev/wr-0001/acks', Buffer.from('{"seq":5}'));
    q.send(ack);
    q.release(a);
    await tick();
    expect(s.writes).toHaveLength(1);
    expect(idsOf(s.writes[0]!.subarray(0, 4))).toEqual([5]);
    expect(s.writes[0]!.subarray(4)).toEqual(ack);
    q.send(ack); // alone, when no PUBACK is due
    await tick();
    expect(s.writes[1]).toEqual(ack);
    expect(q.open).toBe(true);
    q.discard();
    expect(q.open).toBe(false);
  });

  test('behavior: qos0Publish writes an MQTT 5 PUBLISH at QoS 0 without properties, for short and long topics', () => {
    // Real brokers read these too: test/integration/external-*.test.ts wait for every app ack.
    for (const [topic, size] of [
      ['vt/v1/dev/wr-0001/acks', 9],
      [`vt/v1/dev/${'x'.repeat(64)}/acks`, 200],
    ] as const) {
      const payload = Buffer.from('{"seq":1}'.padEnd(size, ' '));
      const bytes = qos0Publish(topic, payload);
      expect(bytes[0]).toBe(0x30); // PUBLISH, QoS 0, no DUP, no RETAIN [MQTT 5 §3.3.1]
      let rl = 0;
      let at = 1;
      for (let mul = 1; ; mul *= 128) {
        const b = bytes[at++] as number;
        rl += (b & 0x7f) * mul;
        if ((b & 0x80) === 0) break;
      }
      expect(bytes.length - at).toBe(rl); // Remaining Length [MQTT 5 §1.5.5]
      const tl = bytes.readUInt16BE(at);
      expect(bytes.toString('utf8', at + 2, at + 2 + tl)).toBe(topic);
      expect(bytes[at + 2 + tl]).toBe(0); // Property Length 0; no Packet Identifier at QoS 0
      expect(bytes.subarray(at + 3 + tl)).toEqual(payload);
    }
  });

  test('error: a packet identifier outside 1-65535 is refused', () => {
    const q = new OrderedPubacks(sink());
    expect(() => q.take(0)).toThrow(RangeError);
    expect(() => q.take(65536)).toThrow(RangeError);
    expect(() => q.take(1.5)).toThrow(RangeError);
  });
});
