/**
 * @module test/integration/mtls-burst
 * Issue 13 item 9: "The mutual-TLS listener drops valid devices. A paho client with its KGC
 * certificate that subscribes right after connecting gets no CONNACK in 4 of 9 tries; the
 * audit says `connect_refused no_client_certificate` although the handshake required one."
 *
 * Fifty devices connect at once over real TLS with their KGC certificates, each writing
 * CONNECT and SUBSCRIBE in one go as paho does (it does not wait for CONNACK before
 * subscribing), then a frame. Every one gets CONNACK 0 and SUBACK, and nothing is refused
 * in the audit log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { prepareDataDir, startMtlsGateway } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEVICES = Array.from({ length: 50 }, (_, i) => `wr-burst-${String(i).padStart(2, '0')}`);

/** An MQTT 3.1.1 string: 2-byte length and UTF-8 bytes. */
const str = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};
/** A packet with a one-byte remaining length (all packets here are < 128 bytes). */
const packet = (first: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([first, body.length]), body]);
/** CONNECT, clean session, keepalive 60 s [MQTT-3.1]. */
const connectPacket = (clientId: string): Buffer =>
  packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([0x04, 0x02, 0x00, 0x3c]), str(clientId)]));
/** SUBSCRIBE packet id 1, one filter at QoS 1 [MQTT-3.8]. */
const subscribePacket = (topic: string): Buffer =>
  packet(0x82, Buffer.concat([Buffer.from([0x00, 0x01]), str(topic), Buffer.from([0x01])]));

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;
let rootPem: string;

/** Connects as paho does; resolves with the first bytes' packet types (CONNACK code, SUBACK seen). */
function pahoStyle(dev: string, port: number): Promise<{ connack: number | null; suback: boolean }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: rootPem,
      key: readFileSync(join(paths.deviceDir(dev), 'device.key.pem')),
      cert: readFileSync(join(paths.deviceDir(dev), 'device.cert.pem')),
      servername: 'gw-test.local',
      checkServerIdentity: () => undefined,
    });
    let buf = Buffer.alloc(0);
    const result = { connack: null as number | null, suback: false };
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(finish, 10_000);
    socket.once('secureConnect', () => {
      socket.write(Buffer.concat([connectPacket(dev), subscribePacket(`vt/v1/dev/${dev}/rejects`)]));
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + (buf[1] as number)) {
        const type = (buf[0] as number) >> 4;
        if (type === 2) result.connack = buf[3] as number;
        if (type === 9) result.suback = true;
        buf = buf.subarray(2 + (buf[1] as number));
      }
      if (result.connack !== null && result.suback) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

beforeAll(async () => {
  tmp = makeTempDir('vt-mtls-burst-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), DEVICES);
  rootPem = readFileSync(paths.kgcRootCert, 'utf8');
  gw = await startMtlsGateway(paths);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  tmp?.cleanup();
});

describe('mutual-TLS listener under a burst', () => {
  it('behavior: 50 devices that subscribe before their CONNACK all get CONNACK 0 and SUBACK; none refused', async () => {
    const port = gw.broker.tlsPort as number;
    const results = await Promise.all(DEVICES.map((d) => pahoStyle(d, port)));
    expect(results.filter((r) => r.connack !== 0)).toEqual([]);
    expect(results.filter((r) => !r.suback)).toEqual([]);
    const audit = readFileSync(join(paths.gatewayDir, 'audit.log'), 'utf8');
    expect(audit).not.toContain('connect_refused');
    expect(audit).not.toContain('tls_refused');
  });
});
