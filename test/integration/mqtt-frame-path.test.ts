/**
 * Issue 14: a device's frame takes the embedded broker's own path (io/transport/frame-path): the edge hands the checked QoS 1 PUBLISH over without aedes parsing it again,
 * and the gateway writes its PUBACK. Real sockets throughout: a real gateway for what a device
 * sees, and a bare `MqttEdge` on a real TCP connection for the edge's own bounds.
 * - PUBACKs go out in the order the PUBLISHes were read [MQTT-4.6.0-2], even when a later
 *   frame is answered first (a rejection decided at once behind a frame in its commit);
 * - a device that only publishes frames keeps its connection past its keep-alive;
 * - the edge lets at most `maxTaken` taken PUBLISHes wait for their answers and does not
 *   read the socket meanwhile; a PUBLISH behind a packet aedes has not read yet goes to aedes.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { MqttEdge } from '../../gateway/src/io/transport/mqtt-edge.js';
import { DEFAULT_PACKET_LIMITS } from '../../gateway/src/protocol/mqtt-framing.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { connectPacket, publishPacket } from '../helpers/mqtt-packets.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const PINGREQ = Buffer.from([0xc0, 0x00]);

/** A raw MQTT connection that collects the packet ids of the PUBACKs it receives. */
class RawDevice {
  readonly pubacks: number[] = [];
  readonly other: number[] = [];
  #buf = Buffer.alloc(0);
  closed = false;
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      // Only short packets come back here (CONNACK, PUBACK, PINGRESP): 1-byte lengths.
      while (this.#buf.length >= 2 && this.#buf.length >= 2 + (this.#buf[1] as number)) {
        const p = this.#buf.subarray(0, 2 + (this.#buf[1] as number));
        this.#buf = this.#buf.subarray(p.length);
        if (p[0] === 0x40) this.pubacks.push(p.readUInt16BE(2));
        else this.other.push(p[0] as number);
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }
  static async open(port: number, clientId: string, keepAliveS: number): Promise<RawDevice> {
    const s = await new Promise<Socket>((resolve, reject) => {
      const c = netConnect({ host: '127.0.0.1', port }, () => resolve(c));
      c.once('error', reject);
    });
    const d = new RawDevice(s);
    s.write(connectPacket(clientId, keepAliveS));
    await until(() => d.other.includes(0x20), 5000, 'CONNACK');
    // A ping answered: the broker has finished the CONNECT (its session is connected).
    s.write(PINGREQ);
    await until(() => d.other.includes(0xd0), 5000, 'PINGRESP');
    return d;
  }
}

describe('the broker’s own path for frames (a real gateway)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let gw: RunningGateway;
  let paths: Awaited<ReturnType<typeof prepareDataDir>>;

  beforeAll(async () => {
    tmp = makeTempDir('vt-frame-path-');
    paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001', 'wr-0002']);
    gw = (await startGateway({ dataDir: paths.root, logger: silentLogger })) as RunningGateway;
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
    tmp?.cleanup();
  });

  it('behavior: PUBACKs go out in the order the PUBLISHes were read, a rejection decided at once waiting behind a frame in its commit [MQTT-4.6.0-2]', async () => {
    const chain = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
    const d = await RawDevice.open(gw.broker.port, 'wr-0001', 60);
    const topic = 'vt/v1/dev/wr-0001/frames';
    // One write: a good frame (verified on a thread, then committed), garbage (rejected as
    // `malformed` before any check), another good frame, more garbage.
    d.socket.write(
      Buffer.concat([
        publishPacket(topic, 11, chain.next()),
        publishPacket(topic, 12, Buffer.from('not a frame')),
        publishPacket(topic, 13, chain.next()),
        publishPacket(topic, 14, Buffer.from('not one either')),
      ]),
    );
    await until(() => d.pubacks.length === 4, 10_000, 'four PUBACKs');
    expect(d.pubacks).toEqual([11, 12, 13, 14]);
    expect(gw.store.getFrame('wr-0001', 1)).toBeDefined();
    expect(gw.store.getFrame('wr-0001', 2)).toBeDefined();
    d.socket.destroy();
  });

  it('behavior: a device that only publishes frames keeps its connection past its keep-alive', async () => {
    const chain = new FrameChain('wr-0002', deviceKey(paths, 'wr-0002'));
    // Keep-alive 1 s: the broker closes a connection silent for 1.5 s [MQTT-3.1.2-24].
    const d = await RawDevice.open(gw.broker.port, 'wr-0002', 1);
    for (let i = 1; i <= 8; i++) {
      d.socket.write(publishPacket('vt/v1/dev/wr-0002/frames', i, chain.next()));
      await new Promise((r) => setTimeout(r, 400)); // 3.2 s in all, no PINGREQ
    }
    expect(d.pubacks).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(d.closed).toBe(false);
    expect(gw.store.getFrame('wr-0002', 8)).toBeDefined();
    // Then silent: closed at the keep-alive, as before.
    await until(() => d.closed, 5000, 'closed after 1.5 s of silence');
  });
});

/** A bare `MqttEdge` on a real TCP connection, past its CONNECT, taking PUBLISHes of at most 100 bytes. */
async function bareEdge(o: { maxTaken: number; packetTimeoutMs: number }) {
  const answers: (() => void)[] = [];
  let onSocket: (s: Socket) => void = () => {};
  const accepted = new Promise<Socket>((resolve) => {
    onSocket = resolve;
  });
  const server: Server = createServer((s) => onSocket(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const device = netConnect({ host: '127.0.0.1', port });
  device.on('error', () => {});
  const refused: string[] = [];
  const edge = new MqttEdge(await accepted, {
    limits: DEFAULT_PACKET_LIMITS,
    connectTimeoutMs: 5000,
    packetTimeoutMs: o.packetTimeoutMs,
    rate: { perSecond: 10_000, burst: 10_000 },
    onRefused: (r) => refused.push(r.code),
    maxTaken: o.maxTaken,
    takePublish: (p, _readAt, answered) => {
      if (p.length > 100) return false; // declines the large ones
      answers.push(answered);
      return true;
    },
  });
  edge.pause(); // read by hand below, as aedes reads it
  device.write(connectPacket('wr-0001', 60));
  await until(() => edge.readableLength > 0, 5000, 'the CONNECT passed on');
  edge.read();
  edge.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // the broker's CONNACK: reading goes on
  const close = async () => {
    device.destroy();
    edge.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { edge, device, answers, refused, close };
}

describe('MqttEdge: taken PUBLISHes (a bare edge on a real TCP connection)', () => {
  let edge: MqttEdge;
  let device: Socket;
  let answers: (() => void)[];
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ edge, device, answers, close } = await bareEdge({ maxTaken: 4, packetTimeoutMs: 5000 }));
  });

  afterAll(async () => {
    await close?.();
  });

  it('behavior: at most maxTaken wait for their answers, the socket unread meanwhile; the rest follow the answers', async () => {
    device.write(
      Buffer.concat(Array.from({ length: 10 }, (_, i) => publishPacket('t', i + 1, Buffer.from('x')))),
    );
    await until(() => answers.length === 4, 5000, 'four taken');
    await new Promise((r) => setTimeout(r, 200));
    expect(answers.length).toBe(4);
    expect(edge.socket.isPaused()).toBe(true);
    expect(edge.readableLength).toBe(0); // none went to the broker either
    for (const a of answers.splice(0, 2)) a();
    await until(() => answers.length === 4, 5000, 'two more taken');
    for (const a of answers.splice(0)) a();
    await until(() => answers.length === 4, 5000, 'the last four taken');
    for (const a of answers.splice(0)) a();
    expect(edge.socket.isPaused()).toBe(false);
  });

  it('behavior: a PUBLISH behind a packet the broker has not read yet goes to the broker, in order', async () => {
    const big = publishPacket('t', 21, Buffer.alloc(200, 7)); // declined: to the broker
    const small = publishPacket('t', 22, Buffer.from('y')); // would be taken, but is behind it
    device.write(Buffer.concat([big, small]));
    await until(() => edge.readableLength === big.length + small.length, 5000, 'both passed on');
    expect(answers.length).toBe(0);
    expect(Buffer.from(edge.read() as Buffer).equals(Buffer.concat([big, small]))).toBe(true);
    // With nothing unread before it, the next one is taken again.
    device.write(publishPacket('t', 23, Buffer.from('z')));
    await until(() => answers.length === 1, 5000, 'taken');
    for (const a of answers.splice(0)) a();
  });
});

describe('MqttEdge: the packet timeout runs only while the edge reads', () => {
  it('behavior: a packet left half-sent while the edge holds the socket for unanswered PUBLISHes is not cut off; once read again, its time runs', async () => {
    const e = await bareEdge({ maxTaken: 1, packetTimeoutMs: 200 });
    try {
      const second = publishPacket('t', 2, Buffer.from('b'));
      const third = publishPacket('t', 3, Buffer.from('c'));
      // One taken and unanswered, one held behind it, half of a third: the edge stops reading.
      e.device.write(Buffer.concat([publishPacket('t', 1, Buffer.from('a')), second, third.subarray(0, 4)]));
      await until(() => e.answers.length === 1, 5000, 'the first taken');
      await new Promise((r) => setTimeout(r, 600)); // three packet timeouts
      expect(e.refused).toEqual([]);
      expect(e.edge.destroyed).toBe(false);
      // Answered: the edge reads again, takes the second, and the half packet's time runs.
      for (const a of e.answers.splice(0)) a();
      await until(() => e.answers.length === 1, 5000, 'the second taken');
      for (const a of e.answers.splice(0)) a();
      await until(() => e.refused.length > 0, 5000, 'the half packet timed out');
      expect(e.refused).toEqual(['packet_timeout']);
    } finally {
      await e.close();
    }
  });
});
