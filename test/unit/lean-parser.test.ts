/**
 * io/transport/lean-parser: each aedes client's MQTT parser gets bl's plain `BufferList`
 * instead of a `BufferListStream` (issue 14's memory bench), and parses exactly as before.
 * With real aedes, mqtt-packet and bl: if an upgrade changes what the swap relies on, the
 * first test fails, so the saving is not lost silently.
 */
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { leanParser, PARSER_LIST_METHODS } from '../../gateway/src/io/transport/lean-parser.js';
import { fcRuns } from '../helpers/fc-runs.js';

// mqtt-packet and bl as aedes loads them (neither is a direct dependency).
const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
const fromPacket = createRequire(fromAedes.resolve('mqtt-packet'));
const mqttPacket = fromPacket('mqtt-packet') as {
  parser(): { _list: unknown; parse(b: Buffer): number; on(e: string, f: (x: unknown) => void): void };
  generate(p: object): Buffer;
};
const bl = fromPacket('bl') as { BufferList: new () => object; BufferListStream: new () => object };

/** A connection that reads nothing and swallows what aedes writes. */
const quietConnection = () =>
  new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });

/** Every packet `chunks` parse into, as comparable values (or the parser's error). */
function parseAll(parser: ReturnType<typeof mqttPacket.parser>, chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  const hexed = (_k: string, v: unknown) =>
    (v as { type?: string })?.type === 'Buffer'
      ? Buffer.from((v as { data: number[] }).data).toString('hex')
      : v;
  parser.on('packet', (p) => out.push(JSON.parse(JSON.stringify(p), hexed)));
  parser.on('error', (e) => out.push({ error: (e as Error).message }));
  for (const c of chunks) parser.parse(c);
  return out;
}

const PACKETS = Buffer.concat(
  [
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'wr-0001',
      clean: true,
      keepalive: 30,
    },
    { cmd: 'publish', topic: 'vt/v1/wr-0001/vitals', qos: 1, messageId: 7, payload: Buffer.alloc(200, 0xa5) },
    {
      cmd: 'publish',
      topic: 'vt/v1/wr-0001/vitals',
      qos: 1,
      messageId: 65535,
      payload: Buffer.alloc(20_000, 1),
    },
    { cmd: 'puback', messageId: 7 },
    { cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 'vt/#', qos: 1 }] },
    { cmd: 'pingreq' },
    { cmd: 'disconnect' },
  ].map((p) => mqttPacket.generate(p)),
);

describe('lean-parser', () => {
  test('behavior: a client aedes makes gets a plain BufferList with every method its parser calls', async () => {
    const broker = await Aedes.createBroker();
    try {
      const client = broker.handle(quietConnection());
      expect(leanParser(client)).toBe(true);
      const list = (client as unknown as { _parser: { _list: object } })._parser._list;
      expect(list).toBeInstanceOf(bl.BufferList);
      expect(list).not.toBeInstanceOf(bl.BufferListStream);
      for (const m of PARSER_LIST_METHODS)
        expect(typeof (list as Record<string, unknown>)[m]).toBe('function');
    } finally {
      await new Promise<void>((res) => broker.close(() => res()));
    }
  });

  test('behavior: the parser reads the same packets from it, however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: PACKETS.length - 1 }), { maxLength: 12 }), (cuts) => {
        const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), PACKETS.length];
        const chunks = at.slice(1).map((end, i) => PACKETS.subarray(at[i], end));
        const stock = mqttPacket.parser();
        const lean = mqttPacket.parser();
        expect(leanParser({ _parser: lean })).toBe(true);
        const want = parseAll(stock, chunks);
        expect(want).toHaveLength(7);
        expect(parseAll(lean, chunks)).toEqual(want);
      }),
      { numRuns: fcRuns(50) },
    );
  });

  test('error: a malformed packet is refused alike', () => {
    const bad = Buffer.from([0x30, 0x02, 0x00, 0x05]); // PUBLISH whose topic runs past its end
    const stock = mqttPacket.parser();
    const lean = mqttPacket.parser();
    leanParser({ _parser: lean });
    expect(parseAll(lean, [bad])).toEqual(parseAll(stock, [bad]));
    expect(parseAll(mqttPacket.parser(), [bad])[0]).toHaveProperty('error');
  });

  test('behavior: a list already holding bytes, or anything not an aedes client, is left alone', () => {
    const parser = mqttPacket.parser();
    parser.parse(PACKETS.subarray(0, 3)); // a CONNECT begun
    const before = parser._list;
    expect(leanParser({ _parser: parser })).toBe(false);
    expect(parser._list).toBe(before);
    expect(leanParser({})).toBe(false);
    expect(leanParser(null)).toBe(false);
  });
});
