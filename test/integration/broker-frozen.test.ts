/**
 * A frozen external broker (the black-hole probe's `mqtt-stall`, reproduced with a real
 * Mosquitto stopped by SIGSTOP: its kernel still accepts connections and data, acks our FIN,
 * and never answers). Through real parts: Debian Mosquitto, the gateway in external-broker
 * mode in this process, mqtt.js devices with application acks, SQLite.
 * - The stop: every connection to the broker (the lanes and the live stream link) is ended
 *   within the close timeout, its socket destroyed; before, `end(false)` waited for a `close`
 *   only the broker could cause, and the stop never ended (147 s in the probe).
 * - Readiness: `/readyz` answers 503 `not_ready` within 1.5 × the keepalive of the freeze
 *   (no lane heard from the broker), 200 again after SIGCONT; every frame is then stored and
 *   app-acked.
 * - A peer that answers CONNECT and SUBSCRIBE and then nothing (the probe's `mqtt-stall`
 *   itself, which accepted every reconnect): `/readyz` is never 200, the stop is bounded.
 * - A link that gets no CONNACK fails with `broker_unreachable`, the live stream link as the lanes.
 * Mosquitto is always sent SIGCONT in a `finally`.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { type RunningExternalGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { createLogger } from '../../gateway/src/io/ops/log.js';
import { mqttLink } from '../../gateway/src/io/transport/index.js';
import { endWithin } from '../../gateway/src/io/transport/mqtt-end.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { packet } from '../helpers/mqtt-packets.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

/** Each test its own devices: their seqs start at 1 in every fleet. */
const STOP_DEVICES = ['wr-0001', 'wr-0002', 'wr-0003'];
const READY_DEVICES = ['wr-0004', 'wr-0005', 'wr-0006'];
const CLOSE_TIMEOUT_MS = 1000;
const KEEPALIVE_S = 2;

/** TCP sockets of this process connected to `port` on loopback (Linux /proc). */
function socketsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed while listed
    }
  }
  let n = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remotePort = Number.parseInt(f[2]?.split(':')[1] ?? '', 16);
      if (remotePort === port && inodes.has(f[9] as string)) n += 1;
    }
  }
  return n;
}

/**
 * The black-hole probe's `mqtt-stall` peer: an MQTT 5 CONNACK to every CONNECT and a SUBACK
 * (QoS 1 granted) to every SUBSCRIBE, then the socket is no longer read: no PINGRESP, no
 * PUBACK, never an end of the connection.
 */
async function startStallPeer(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let pend = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      pend = Buffer.concat([pend, d]);
      for (;;) {
        let len = 0;
        let at = 1;
        for (let mult = 1; at < pend.length; at++, mult *= 128) {
          len += ((pend[at] as number) & 127) * mult;
          if (((pend[at] as number) & 128) === 0) break;
        }
        if (at >= pend.length || pend.length < at + 1 + len) return;
        const type = (pend[0] as number) >> 4;
        const body = pend.subarray(at + 1, at + 1 + len);
        pend = pend.subarray(at + 1 + len);
        if (type === 1) sock.write(packet(0x20, Buffer.from([0, 0, 0]))); // CONNACK: accepted, no properties
        if (type === 8) {
          sock.write(packet(0x90, Buffer.from([body[0] as number, body[1] as number, 0, 1]))); // SUBACK: QoS 1
          sock.pause();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Settles with the promise's outcome, or 'late' after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function readyz(base: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe('a frozen external broker (Mosquitto under SIGSTOP)', () => {
  const tmp = makeTempDir('vt-frozen-');
  let paths: DataPaths;
  let broker: RunningMosquitto;
  let gw: RunningExternalGateway | undefined;
  let stopping: Promise<void> | undefined;
  const logLines: string[] = [];
  const freeze = () => broker.process.kill('SIGSTOP');
  const thaw = () => broker.process.kill('SIGCONT');

  const start = (url = broker.url) =>
    startGateway({
      dataDir: paths.root,
      logger: createLogger({ level: 'warn', write: (l) => logLines.push(l) }),
      externalBroker: {
        url,
        clientId: 'gw-frozen',
        lanes: 2,
        keepaliveSeconds: KEEPALIVE_S,
        closeTimeoutMs: CLOSE_TIMEOUT_MS,
      },
      checkpointIntervalMs: 3_600_000,
    });

  beforeAll(async () => {
    paths = await prepareDataDir(`${tmp.dir}/data`, [...STOP_DEVICES, ...READY_DEVICES]);
    broker = await startMosquitto(tmp.dir);
  });
  beforeEach(() => {
    logLines.length = 0;
  });
  afterEach(async () => {
    thaw();
    await (stopping ?? gw?.stop());
    gw = undefined;
    stopping = undefined;
  });
  afterAll(async () => {
    thaw();
    await broker?.stop();
    tmp.cleanup();
  });

  const fleetOf = (devices: readonly string[], maxFrames: number, rateHz: number) =>
    Fleet.start({
      url: broker.url,
      devices: devices.map((d) => ({ devId: d, privateKey: deviceKey(paths, d) })),
      rateHz,
      maxFrames,
      appAcks: true,
      ackTimeoutMs: 2000,
      clientOptions: { protocolVersion: 5 },
    });

  test('behavior: with the broker frozen, the gateway stops within the close timeout and holds no socket to it', async () => {
    gw = await start();
    const fleet = await fleetOf(STOP_DEVICES, 20, 50);
    await fleet.finished;
    await until(() => fleet.stats().inOutbox === 0, 10_000, 'every frame app-acked');
    expect(await fleet.stop()).toMatchObject({ made: 60, acked: 60, rejected: {} });
    for (const dev of STOP_DEVICES) expect(gw.store.getFrame(dev, 20)).toBeDefined();
    expect(socketsTo(broker.port)).toBe(3); // 2 lanes and the live stream link

    freeze();
    try {
      const t0 = performance.now();
      stopping = gw.stop();
      // Lanes, then the live link: each waits at most the close timeout.
      const outcome = await within(stopping, 2 * CLOSE_TIMEOUT_MS + 3000);
      const tookMs = performance.now() - t0;
      console.log('frozen-broker stop figures:', JSON.stringify({ tookMs: Math.round(tookMs) }));
      expect(outcome, 'gw.stop() with the broker frozen').not.toBe('late');
      expect(socketsTo(broker.port)).toBe(0);
      // Each connection says it was closed by force.
      expect(logLines.filter((l) => l.includes('"code":"broker_unreachable"')).length).toBeGreaterThanOrEqual(
        3,
      );
    } finally {
      thaw();
    }
  });

  test('behavior: with the broker frozen past the keepalive (the links reconnecting, waiting for a CONNACK), the stop is bounded too', async () => {
    gw = await start();
    freeze();
    try {
      // mqtt.js dropped the links (keepalive) and reconnects every second: each new socket
      // waits for a CONNACK the frozen broker never sends (a 10 s CONNACK timer).
      const dropped = (what: string) =>
        logLines.some((l) => l.includes(what) && l.includes('broker_unreachable'));
      await until(
        () => dropped('"lane":0') && dropped('"lane":1') && dropped('live stream link'),
        10_000,
        'every link dropped for its keepalive',
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(socketsTo(broker.port)).toBeGreaterThanOrEqual(1);
      const t1 = performance.now();
      stopping = gw.stop();
      const outcome = await within(stopping, 2 * CLOSE_TIMEOUT_MS + 3000);
      console.log(
        'frozen-broker stop while reconnecting figures:',
        JSON.stringify({ tookMs: Math.round(performance.now() - t1) }),
      );
      expect(outcome, 'gw.stop() while the links wait for a CONNACK').not.toBe('late');
      // No session is up: nothing to wait for, the sockets are destroyed at once.
      expect(performance.now() - t1).toBeLessThan(CLOSE_TIMEOUT_MS);
      expect(socketsTo(broker.port)).toBe(0);
    } finally {
      thaw();
    }
  });

  test('behavior: endWithin ends a client with a QoS 1 publish the frozen broker never acknowledges', async () => {
    const client = await mqtt.connectAsync(broker.url, { clientId: 'frozen-probe', reconnectPeriod: 0 });
    freeze();
    try {
      client.publish('vt/v1/probe', Buffer.from('x'), { qos: 1 }, () => {});
      const t0 = performance.now();
      expect(await within(endWithin(client, 300), 3000)).toBe('forced');
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(socketsTo(broker.port)).toBe(0);
    } finally {
      thaw();
    }
  });

  test('behavior: /readyz is 503 not_ready within 1.5 × the keepalive of the freeze and 200 after SIGCONT; every frame is stored and app-acked', async () => {
    gw = await start();
    const base = gw.http.url;
    const fleet = await fleetOf(READY_DEVICES, 150, 10); // 15 s of frames
    await until(() => fleet.stats().acked >= 30, 10_000, 'the first frames app-acked');
    expect(await readyz(base)).toEqual({ status: 200, body: { status: 'ok' } });

    freeze();
    let notReadyAfterMs: number;
    try {
      const t0 = performance.now();
      let last = await readyz(base);
      while (last.status === 200 && performance.now() - t0 < 15_000) {
        await new Promise((r) => setTimeout(r, 100));
        last = await readyz(base);
      }
      notReadyAfterMs = performance.now() - t0;
      expect(last).toEqual({
        status: 503,
        body: { error: { code: 'not_ready', reason: expect.any(String) } },
      });
      // Every lane's last answer came before the freeze: 1.5 × the keepalive after it at the
      // latest, plus the polling and a loaded runner's slack.
      expect(notReadyAfterMs).toBeLessThan(KEEPALIVE_S * 1500 + 2000);
      expect(await gw.metrics.render()).toMatch(/^vitaltrail_ready 0$/m);
      // Kept frozen until the lanes are dropped (nothing heard for 1.5 × the keepalive when
      // mqtt.js's timer next fires), so the thaw also resumes the sessions on new connections.
      await until(
        () =>
          logLines.some(
            (l) => l.includes('external broker link') && l.includes('"code":"broker_unreachable"'),
          ),
        KEEPALIVE_S * 3000 + 3000,
        'a lane dropped for its keepalive',
      );
    } finally {
      thaw();
    }

    const t1 = performance.now();
    let back = await readyz(base);
    while (back.status !== 200 && performance.now() - t1 < 20_000) {
      await new Promise((r) => setTimeout(r, 100));
      back = await readyz(base);
    }
    const readyAgainAfterMs = performance.now() - t1;
    expect(back).toEqual({ status: 200, body: { status: 'ok' } });

    await fleet.finished;
    await until(() => fleet.stats().inOutbox === 0, 30_000, 'every frame app-acked after the thaw');
    const stats = await fleet.stop();
    console.log(
      'frozen-broker readiness figures:',
      JSON.stringify({
        notReadyAfterMs: Math.round(notReadyAfterMs),
        readyAgainAfterMs: Math.round(readyAgainAfterMs),
        made: stats.made,
        acked: stats.acked,
        resent: stats.resent,
      }),
    );
    expect(stats).toMatchObject({ made: 450, acked: 450, inOutbox: 0, dropped: 0 });
    expect(stats.rejected).toEqual({});
    for (const dev of READY_DEVICES)
      for (let s = 1; s <= 150; s++) expect(gw.store.getFrame(dev, s), `${dev} ${s}`).toBeDefined();
  });

  test('behavior: a peer that answers CONNECT and SUBSCRIBE and then nothing never makes /readyz 200; the stop is bounded', async () => {
    const peer = await startStallPeer();
    try {
      gw = await start(peer.url);
      const base = gw.http.url;
      // Past a keepalive drop (1.5 × 2 s) and the reconnect a second later, which the peer accepts too.
      const seen = new Set<number>();
      for (const end = performance.now() + 5000; performance.now() < end; ) {
        const r = await readyz(base);
        seen.add(r.status);
        if (r.status === 503) expect(r.body).toMatchObject({ error: { code: 'not_ready' } });
        await new Promise((r) => setTimeout(r, 100));
      }
      expect([...seen]).toEqual([503]);
      const t0 = performance.now();
      stopping = gw.stop();
      expect(await within(stopping, 2 * CLOSE_TIMEOUT_MS + 3000), 'gw.stop() on the stall peer').not.toBe(
        'late',
      );
      console.log('stall-peer stop figures:', JSON.stringify({ tookMs: Math.round(performance.now() - t0) }));
      expect(socketsTo(peer.port)).toBe(0);
    } finally {
      await stopping;
      await peer.close();
    }
  });

  test('error: the live stream link that gets no CONNACK fails with broker_unreachable, as the lanes', async () => {
    freeze();
    try {
      const failed = await mqttLink({
        url: broker.url,
        clientId: 'gw-frozen-live',
        connectTimeoutMs: 500,
      }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(failed).toMatchObject({ name: 'ExternalBrokerError', code: 'broker_unreachable' });
    } finally {
      thaw();
    }
  });
});
