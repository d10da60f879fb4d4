/**
 * The broker edge's pure parts: the framer's size limits at the fixed header, its
 * chunk-independence, the MQTT 3.1.1 MUST rules, and the per-connection limits.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  Cooldowns,
  countsTowardsLimit,
  RejectionWindow,
  TokenBucket,
} from '../../gateway/src/core/ingress-limits.js';
import {
  DEFAULT_PACKET_LIMITS,
  MqttFramer,
  qos1PublishTo,
  readFixedHeader,
} from '../../gateway/src/protocol/mqtt-framing.js';
import { checkPacket, validUtf8 } from '../../gateway/src/protocol/mqtt-rules.js';
import { fcRuns } from '../helpers/fc-runs.js';
import { connectPacket, mqttString, packet, publishPacket } from '../helpers/mqtt-packets.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replaceAll(' ', ''), 'hex'));
const str = mqttString;
const connect = (clientId = 'wr-0001', flags = 0x02) => connectPacket(clientId, 60, 4, flags);
const publish = (topic: string, payload: Uint8Array, qos: 0 | 1 | 2 = 1, id = 1) =>
  publishPacket(topic, id, payload, qos);
const framer = () => new MqttFramer(DEFAULT_PACKET_LIMITS);
const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));

describe('qos1PublishTo: the broker’s own path reads a frame PUBLISH', () => {
  const topic = Buffer.from('vt/v1/dev/wr-0001/frames');

  test('property: a QoS 1 PUBLISH on the topic gives its packet id and exact payload, as a view', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 20_000 }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.boolean(),
        fc.boolean(),
        (payload, id, dup, retain) => {
          const p = publish('vt/v1/dev/wr-0001/frames', payload, 1, id);
          p[0] = (p[0] as number) | (dup ? 0x08 : 0) | (retain ? 0x01 : 0);
          const r = qos1PublishTo(p, topic);
          expect(r?.packetId).toBe(id);
          expect(Buffer.from(r?.payload ?? []).equals(Buffer.from(payload))).toBe(true);
          expect(r?.payload.buffer).toBe(p.buffer); // no copy
        },
      ),
      { numRuns: fcRuns(1000), seed: 29 },
    );
  });

  test('behavior: anything else is left to aedes (null)', () => {
    const body = new Uint8Array(40).fill(5);
    expect(qos1PublishTo(publish('vt/v1/dev/wr-0001/frames', body, 0), topic)).toBeNull(); // QoS 0
    expect(qos1PublishTo(publish('vt/v1/dev/wr-0001/frames', body, 2), topic)).toBeNull(); // QoS 2
    expect(qos1PublishTo(publish('vt/v1/dev/wr-0002/frames', body), topic)).toBeNull(); // another device
    expect(qos1PublishTo(publish('vt/v1/dev/wr-0001/frame', body), topic)).toBeNull(); // a shorter topic
    expect(qos1PublishTo(publish('vt/v1/dev/wr-0001/framesx', body), topic)).toBeNull(); // a longer one
    expect(qos1PublishTo(publish('vt/v1/dev/wr-0001/frames', body, 1, 0), topic)).toBeNull(); // id 0
    expect(qos1PublishTo(hex('c0 00'), topic)).toBeNull(); // PINGREQ
    const p = publish('vt/v1/dev/wr-0001/frames', body);
    expect(qos1PublishTo(p.subarray(0, p.length - 1), topic)).toBeNull(); // shorter than it says
    expect(qos1PublishTo(Uint8Array.from([...p, 0]), topic)).toBeNull(); // longer than it says
    expect(qos1PublishTo(new Uint8Array(0), topic)).toBeNull();
  });
});

describe('MqttFramer', () => {
  test('behavior: a CONNECT then PUBLISHes in one chunk pass through as one view, counted', () => {
    const f = framer();
    const bytes = concat([
      connect(),
      publish('vt/v1/dev/wr-0001/frames', new Uint8Array(300)),
      publish('t', Uint8Array.of(1)),
    ]);
    const r = f.feed(bytes);
    expect(r.refusal).toBeUndefined();
    expect(r.connect).toBe(true);
    expect(r.publishes).toBe(2);
    expect(concat(r.forward)).toEqual(Buffer.from(bytes));
  });

  test('property: any split of a packet stream into chunks forwards the same bytes', () => {
    const stream = concat([
      connect(),
      publish('vt/v1/dev/wr-0001/frames', new Uint8Array(1000).fill(7)),
      hex('40 02 00 05'),
      hex('c0 00'),
      publish('vt/v1/dev/wr-0001/frames', new Uint8Array(20_000).fill(9), 1, 2),
      hex('82 08 0001 0003 612f62 01'),
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const f = framer();
        const out: Uint8Array[] = [];
        let publishes = 0;
        let from = 0;
        for (const to of [...points, stream.length]) {
          const r = f.feed(stream.subarray(from, to));
          expect(r.refusal).toBeUndefined();
          out.push(...r.forward);
          publishes += r.publishes;
          from = to;
        }
        expect(concat(out).equals(stream)).toBe(true);
        expect(publishes).toBe(2);
        expect(f.midPacket).toBe(false);
      }),
      { numRuns: fcRuns(500), seed: 13 },
    );
  });

  test('error: a packet over its limit is refused at its fixed header, before its body', () => {
    // A CONNECT announcing 64 MB: refused from its first 5 bytes.
    const r = framer().feed(hex('10 80 80 80 20'));
    expect(r.refusal).toMatchObject({ code: 'packet_too_large' });
    expect(r.forward).toEqual([]);
    // After CONNECT a PUBLISH of 100 MB, announced then trickled: refused at its header.
    const f = framer();
    f.feed(connect());
    const big = f.feed(hex('32 80 80 80 30 00'));
    expect(big.refusal).toMatchObject({ code: 'packet_too_large' });
    // Nothing after a refusal is passed on.
    expect(f.feed(publish('a', Uint8Array.of(1))).forward).toEqual([]);
  });

  test('error: a non-CONNECT first packet and a 5-byte remaining length are refused', () => {
    expect(framer().feed(hex('c0 00')).refusal).toMatchObject({ code: 'protocol_violation' });
    expect(framer().feed(hex('10 ff ff ff ff 01')).refusal).toMatchObject({ code: 'malformed_packet' });
    expect(readFixedHeader(hex('30 ff ff ff 7f'))).toEqual({ headerLength: 5, remainingLength: 268_435_455 });
    expect(readFixedHeader(hex('30 ff'))).toBe('short');
  });

  test('behavior: a packet split mid-header is midPacket until complete', () => {
    const f = framer();
    f.feed(connect());
    const p = publish('vt/v1/dev/wr-0001/frames', new Uint8Array(500));
    expect(f.feed(p.subarray(0, 2)).forward).toEqual([]);
    expect(f.midPacket).toBe(true);
    const r = f.feed(p.subarray(2));
    expect(concat(r.forward)).toEqual(Buffer.from(p));
    expect(f.midPacket).toBe(false);
  });
});

describe('checkPacket (MQTT 3.1.1 MUSTs)', () => {
  const after = { connected: true };
  const before = { connected: false };
  const body = (p: Uint8Array) =>
    p.subarray(
      readFixedHeader(p) === 'short' ? 0 : (readFixedHeader(p) as { headerLength: number }).headerLength,
    );
  const check = (p: Uint8Array, s = after) => checkPacket(p[0] as number, body(p), s);

  test('behavior: valid packets pass', () => {
    expect(check(connect(), before)).toBeNull();
    expect(check(publish('vt/v1/dev/a/frames', Uint8Array.of(1, 2)))).toBeNull();
    expect(check(publish('a', Uint8Array.of(), 0))).toBeNull();
    expect(check(hex('82 08 0001 0003 612f23 01'))).toBeNull();
    expect(check(hex('a2 07 0001 0003 2b2f62'))).toBeNull();
    expect(check(hex('62 02 00 01'))).toBeNull();
  });

  test.each([
    ['empty client id with CleanSession 0 (CONNACK 2)', () => connect('', 0x00), 'MQTT-3.1.3-8', 2],
    [
      'protocol level 5 (CONNACK 1)',
      () => packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([5, 2, 0, 60]), str('a')])),
      'MQTT-3.1.2-2',
      1,
    ],
    ['Will QoS 3', () => connect('a', 0x02 | 0x04 | 0x18), 'MQTT-3.1.2-14', undefined],
    ['password without user name', () => connect('a', 0x02 | 0x40), 'MQTT-3.1.2-22', undefined],
    ['reserved connect flag', () => connect('a', 0x03), 'MQTT-3.1.2-3', undefined],
    ['U+0000 in the client id', () => connect('a\u0000b'), 'MQTT-3.1.3-4', undefined],
  ])('error: CONNECT %s', (_name, make, rule, connack) => {
    const r = check(make(), before);
    expect(r?.rule).toContain(rule);
    expect(r?.connack).toBe(connack);
  });

  test.each([
    ['second CONNECT', () => connect(), 'MQTT-3.1.0-2'],
    ['PUBLISH QoS 3', () => packet(0x36, Buffer.concat([str('a'), Buffer.from([0, 1])])), 'MQTT-3.3.1-4'],
    ['PUBLISH QoS 0 with DUP', () => packet(0x38, Buffer.concat([str('a')])), 'MQTT-3.3.1-2'],
    ['PUBLISH packet id 0', () => publish('a', Uint8Array.of(1), 1, 0), 'MQTT-2.3.1-1'],
    ['PUBLISH wildcard topic', () => publish('a/+', Uint8Array.of(1)), 'MQTT-3.3.2-2'],
    [
      'PUBLISH encoded surrogate U+D800 in topic',
      () => packet(0x30, Buffer.concat([str(hex('61 ed a0 80'))])),
      'MQTT-1.5.3',
    ],
    ['PUBLISH U+0000 in topic', () => packet(0x30, Buffer.concat([str(hex('61 00'))])), 'MQTT-1.5.3'],
    ['truncated PUBACK', () => hex('40 01 00'), 'MQTT-3.4.2'],
    ['PUBREL with flags 0', () => hex('60 02 00 01'), 'MQTT-3.6.1-1'],
    ['SUBSCRIBE flags 0', () => hex('80 06 0001 0001 61 00'), 'MQTT-3.8.1-1'],
    ['SUBSCRIBE without a filter', () => hex('82 02 0001'), 'MQTT-3.8.3-3'],
    ['SUBSCRIBE QoS 3', () => hex('82 06 0001 0001 61 03'), 'MQTT-3.8.3-4'],
    ['SUBSCRIBE a/#/b', () => hex('82 0a 0001 0005 612f232f62 00'), 'MQTT-4.7.1-2'],
    ['SUBSCRIBE a+', () => hex('82 07 0001 0002 612b 00'), 'MQTT-4.7.1-3'],
    ['UNSUBSCRIBE without a filter', () => hex('a2 02 0001'), 'MQTT-3.10.3-2'],
    ['PINGREQ with a body', () => hex('c0 01 00'), 'MQTT-2.2'],
    ['a CONNACK from a client', () => hex('20 02 00 00'), 'MQTT-2.2.1'],
    ['reserved type 15', () => hex('f0 00'), 'MQTT-2.2.1'],
  ])('error: %s', (_name, make, rule) => {
    expect(check(make())?.rule).toContain(rule);
  });

  test('behavior: UTF-8 rule: ASCII fast path, multi-byte accepted, overlong and NUL refused', () => {
    const b = (s: string) => hex(s);
    expect(validUtf8(b('616263'), 0, 3)).toBe(true);
    expect(validUtf8(Buffer.from('Größe ♥'), 0, Buffer.byteLength('Größe ♥'))).toBe(true);
    expect(validUtf8(b('c0 af'), 0, 2)).toBe(false);
    expect(validUtf8(b('c3 a4 00'), 0, 3)).toBe(false);
    expect(validUtf8(b('ed bf bf'), 0, 3)).toBe(false);
    // Control characters (§1.5.3 SHOULD NOT; refused here): U+0001, U+001F, U+007F, U+009F.
    for (const c of ['01', '1f', '7f', 'c2 9f'])
      expect(validUtf8(b(`61 ${c}`), 0, b(`61 ${c}`).length)).toBe(false);
    expect(validUtf8(b('f0 aa 9a 94'), 0, 4)).toBe(true); // U+2A6D4, a 4-byte character
  });
});

describe('ingress limits', () => {
  test('behavior: the token bucket allows the burst, then the sustained rate', () => {
    const t = new TokenBucket({ perSecond: 10, burst: 5 }, 0);
    t.take(5, 0);
    expect(t.waitMs(0)).toBe(100);
    expect(t.waitMs(100)).toBe(0);
    t.take(20, 100);
    expect(t.waitMs(100)).toBe(2000);
    const off = new TokenBucket({ perSecond: 0, burst: 1 }, 0);
    off.take(1e6, 0);
    expect(off.waitMs(0)).toBe(0);
  });

  test('behavior: the rejection window counts within its window and names the commonest code', () => {
    const w = new RejectionWindow({ max: 3, windowMs: 1000, cooldownMs: 5000 });
    expect(w.add('bad_signature', 0)).toBe(false);
    expect(w.add('malformed', 10)).toBe(false);
    expect(w.add('bad_signature', 2000)).toBe(false); // the first two left the window
    expect(w.add('bad_signature', 2100)).toBe(false);
    expect(w.add('bad_signature', 2200)).toBe(true);
    expect(w.cause).toBe('bad_signature');
  });

  test('behavior: only frames the device key does not stand behind count towards the limit', () => {
    for (const c of [
      'malformed',
      'bad_signature',
      'unknown_device',
      'unregistered_device',
      'identity_mismatch',
      'topic_not_allowed',
    ])
      expect(countsTowardsLimit(c)).toBe(true);
    for (const c of ['clock_skew', 'too_old', 'replay_conflict', 'chain_mismatch'])
      expect(countsTowardsLimit(c)).toBe(false);
  });

  test('behavior: cool-downs expire and stay bounded', () => {
    const c = new Cooldowns(2);
    c.add('a', 100);
    c.add('b', 100);
    c.add('c', 100);
    expect(c.has('a', 0)).toBe(false); // evicted, oldest first
    expect(c.has('c', 50)).toBe(true);
    expect(c.active(50)).toBe(2);
    expect(c.has('c', 100)).toBe(false);
  });
});
