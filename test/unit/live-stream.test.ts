/**
 * The internal live stream's pure core (core/live-stream): the message codec and its strict
 * decoding, the size cut of a batch, the dedupe window, and the per-device reordering.
 */
import { describe, expect, test } from 'vitest';
import type { LiveReading } from '../../gateway/src/core/live.js';
import {
  DeviceOrder,
  decodeLiveBatch,
  encodeLiveBatch,
  liveStreamTopic,
  SeenReadings,
} from '../../gateway/src/core/live-stream.js';

const reading = (dev: string, seq: number, extra: Partial<LiveReading> = {}): LiveReading => ({
  dev,
  seq,
  ts: 1_700_000_000_000 + seq * 1000,
  obs: { hr: 72, spo2: 97, temp: 3690 },
  receivedAt: 1_700_000_000_500 + seq * 1000,
  ...extra,
});

describe('stream messages', () => {
  test('behavior: a batch round-trips with its origin, battery and ECG samples', () => {
    const samples = Int16Array.from([0, 1, -1, 32767, -32768, 1234, -4321]);
    const rs = [reading('wr-0001', 1, { bat: 88 }), reading('wr-0002', 9, { wf: { fs: 250, samples } })];
    const [msg, ...rest] = encodeLiveBatch('gw-a', rs);
    expect(rest).toEqual([]);
    const batch = decodeLiveBatch(msg as Buffer);
    if ('error' in batch) throw new Error(batch.error);
    expect(batch.origin).toBe('gw-a');
    expect(batch.readings).toEqual(rs.map((r) => ({ ...r, origin: 'gw-a' })));
    expect([...(batch.readings[1]?.wf?.samples ?? [])]).toEqual([...samples]);
  });

  test('behavior: a large batch is cut into messages under the size bound, nothing lost', () => {
    const samples = new Int16Array(2500);
    const rs = Array.from({ length: 100 }, (_, i) => reading('wr-0001', i + 1, { wf: { fs: 250, samples } }));
    const msgs = encodeLiveBatch('gw-a', rs, 64 * 1024);
    expect(msgs.length).toBeGreaterThan(1);
    for (const m of msgs) expect(m.byteLength).toBeLessThanOrEqual(64 * 1024);
    const seqs = msgs.flatMap((m) => {
      const b = decodeLiveBatch(m);
      return 'error' in b ? [] : b.readings.map((r) => r.seq);
    });
    expect(seqs).toEqual(rs.map((r) => r.seq));
  });

  const encode = (v: unknown) => Buffer.from(JSON.stringify(v));
  test.each([
    ['not JSON', Buffer.from([0xff, 0x00])],
    ['a version 2 message', encode({ v: 2, gw: 'gw-a', r: [] })],
    ['a bad gateway id', encode({ v: 1, gw: '../x', r: [] })],
    [
      'a reading with a prototype key',
      Buffer.from('{"v":1,"gw":"gw-a","r":[{"__proto__":{"dev":"d"},"seq":1,"ts":1,"rx":1,"obs":{}}]}'),
    ],
    ['readings that are not an array', encode({ v: 1, gw: 'gw-a', r: {} })],
    ['a bad device id', encode({ v: 1, gw: 'gw-a', r: [{ dev: 'a/b', seq: 1, ts: 1, rx: 1, obs: {} }] })],
    ['a fractional seq', encode({ v: 1, gw: 'gw-a', r: [{ dev: 'd', seq: 1.5, ts: 1, rx: 1, obs: {} }] })],
    [
      'an unknown observation',
      encode({ v: 1, gw: 'gw-a', r: [{ dev: 'd', seq: 1, ts: 1, rx: 1, obs: { x: 1 } }] }),
    ],
    [
      'a string value',
      encode({ v: 1, gw: 'gw-a', r: [{ dev: 'd', seq: 1, ts: 1, rx: 1, obs: { hr: '1' } }] }),
    ],
    [
      'an odd number of sample bytes',
      encode({
        v: 1,
        gw: 'gw-a',
        r: [{ dev: 'd', seq: 1, ts: 1, rx: 1, obs: {}, wf: { fs: 250, s: new Uint8Array(3) } }],
      }),
    ],
  ])('error: %s is dropped whole', (_what, bytes) => {
    expect(decodeLiveBatch(bytes)).toHaveProperty('error');
  });

  test('error: a gateway id that is not one topic level has no topic', () => {
    expect(liveStreamTopic('gw-1')).toBe('vt/v1/internal/live/gw-1');
    expect(() => liveStreamTopic('gw/+')).toThrow(RangeError);
  });
});

describe('SeenReadings', () => {
  test('behavior: a reading passes once; a late gap-filler passes; the window forgets the oldest', () => {
    const seen = new SeenReadings(4);
    expect(seen.first('d', 1)).toBe(true);
    expect(seen.first('d', 1)).toBe(false);
    expect(seen.first('e', 1)).toBe(true);
    expect(seen.first('d', 3)).toBe(true);
    expect(seen.first('d', 2)).toBe(true);
    for (const s of [4, 5]) seen.first('d', s);
    expect(seen.first('d', 1)).toBe(true); // beyond the window of 4
    expect(seen.first('d', 5)).toBe(false);
  });
});

describe('DeviceOrder', () => {
  const seqs = (rs: LiveReading[]) => rs.map((r) => r.seq);
  /** A device whose reading `seq` has passed (its first reading waits the hold time). */
  const started = (o: DeviceOrder, dev: string, seq: number): void => {
    expect(seqs(o.offer(reading(dev, seq), 0))).toEqual([]);
    expect(seqs(o.due(400))).toEqual([seq]);
  };

  test("behavior: a device's first reading waits the hold time; the one before it, if it comes, goes first", () => {
    const o = new DeviceOrder(400);
    expect(seqs(o.offer(reading('d', 2), 0))).toEqual([]);
    expect(o.nextDeadline()).toBe(400);
    expect(seqs(o.offer(reading('d', 1), 100))).toEqual([]);
    expect(seqs(o.due(399))).toEqual([]);
    expect(seqs(o.due(400))).toEqual([1, 2]);
    expect(seqs(o.offer(reading('d', 3), 401))).toEqual([3]);
  });

  test('behavior: readings in order pass at once', () => {
    const o = new DeviceOrder(400);
    started(o, 'd', 5);
    expect(seqs(o.offer(reading('d', 6), 401))).toEqual([6]);
    expect(seqs(o.offer(reading('d', 7), 402))).toEqual([7]);
    expect(o.nextDeadline()).toBeNull();
  });

  test('behavior: a reading that overtook the one before it waits for it', () => {
    const o = new DeviceOrder(400);
    started(o, 'd', 1);
    started(o, 'e', 1);
    expect(seqs(o.offer(reading('d', 3), 410))).toEqual([]);
    expect(seqs(o.offer(reading('d', 4), 420))).toEqual([]);
    expect(o.nextDeadline()).toBe(810);
    expect(seqs(o.offer(reading('e', 2), 430))).toEqual([2]); // other devices are not held
    expect(seqs(o.offer(reading('d', 2), 450))).toEqual([2, 3, 4]);
    expect(o.nextDeadline()).toBeNull();
  });

  test('behavior: the wait ends after the hold time; a late one then passes at once', () => {
    const o = new DeviceOrder(400);
    started(o, 'd', 1);
    o.offer(reading('d', 3), 410);
    o.offer(reading('d', 4), 410);
    o.offer(reading('d', 7), 420);
    expect(seqs(o.due(809))).toEqual([]);
    expect(seqs(o.due(810))).toEqual([3, 4]); // up to the next gap
    expect(o.nextDeadline()).toBe(1210); // 7 waits again, from the release on
    expect(seqs(o.offer(reading('d', 2), 900))).toEqual([2]); // late gap-filler
    expect(seqs(o.offer(reading('d', 5), 910))).toEqual([5]);
    expect(seqs(o.offer(reading('d', 6), 920))).toEqual([6, 7]);
  });
});
