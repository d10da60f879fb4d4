/**
 * @module test/integration/mosquitto-crl
 * Issue 13 item 13, the TLS terminator of the compose shape: a real Mosquitto (Debian
 * `/usr/sbin/mosquitto`) with the generated mutual-TLS config (core/mosquitto-config) and, as
 * `gateway/deploy/bootstrap.sh` sets it up, `crlfile` = the KGC's public CRL
 * (`kgc/crl/crl.pem`, signed by `kgc crl` / `kgc revoke`) and a `cafile` holding the broker
 * CA, the broker CA's CRL (made by the bootstrap job's own `openssl ca -gencrl` lines) and
 * the KGC's certificates.
 *
 * - a device whose certificate is on the KGC's CRL is refused at the handshake; another
 *   device and a gateway (client certificate of the broker CA) get CONNACK 0;
 * - a revocation signed later counts once Mosquitto restarts (it reads crlfile at start);
 * - without the broker CA's CRL in the cafile the gateways are refused: OpenSSL's CRL check,
 *   once crlfile is set, wants a CRL for every client certificate's issuer.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollDevice, initKgc, kgcPaths, refreshCrls, revokeDevice } from '../../anchor/src/kgc/index.js';
import { mosquittoConfig } from '../../gateway/src/core/mosquitto-config.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = new URL('../../', import.meta.url).pathname;

let tmp: ReturnType<typeof makeTempDir>;
let kgcData: string;
/** The bootstrap job's $BROKER/tls. */
let tls: string;
let running: RunningMosquitto | undefined;

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** The lines of bootstrap.sh from `first` through the line that ends with `last`. */
function bootstrapLines(first: string, last: string): string {
  const text = readFileSync(join(ROOT, 'gateway/deploy/bootstrap.sh'), 'utf8');
  const from = text.indexOf(first);
  const to = text.indexOf(last, from);
  expect(from, `bootstrap.sh has ${first}`).toBeGreaterThan(-1);
  expect(to, `bootstrap.sh has ${last}`).toBeGreaterThan(-1);
  return text.slice(from, to + last.length);
}

/** A certificate signed by the broker CA, as the bootstrap job makes them. */
function brokerCert(name: string, cn: string, extra: string[] = []): void {
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    ...extra,
    '-keyout',
    join(tls, `${name}.key`),
    '-out',
    join(tls, `${name}.csr`),
  );
  openssl(
    'x509',
    '-req',
    '-in',
    join(tls, `${name}.csr`),
    '-CA',
    join(tls, 'broker-ca.pem'),
    '-CAkey',
    join(tls, 'broker-ca.key'),
    '-CAcreateserial',
    '-days',
    '30',
    ...(extra.length > 0 ? ['-copy_extensions', 'copy'] : []),
    '-out',
    join(tls, `${name}.pem`),
  );
}

/** Starts Mosquitto on the generated TLS config; `cafile` is a file in `tls`. */
async function start(cafile: string): Promise<RunningMosquitto> {
  await stop(); // one at a time, even after a failed test
  const dir = join(tmp.dir, `mq-${Date.now()}`);
  mkdirSync(dir);
  // Mosquitto started as root becomes the `mosquitto` user before it reads the TLS files: it
  // may pass through the KGC's directories (never list them or read its keys) and read
  // kgc/crl, public as the KGC makes it (0755), like the broker's files.
  for (const d of [tmp.dir, kgcData, dataPaths(kgcData).kgcDir]) chmodSync(d, 0o711);
  for (const d of [dir, join(tmp.dir, 'broker'), tls]) chmodSync(d, 0o755);
  for (const f of readdirSync(tls))
    if (!f.endsWith('.key') || f === 'server.key') chmodSync(join(tls, f), 0o644);
  running = await startMosquitto(dir, (port) =>
    mosquittoConfig({
      port,
      bindAddress: '127.0.0.1',
      tls: {
        caFile: join(tls, cafile),
        certFile: join(tls, 'server.pem'),
        keyFile: join(tls, 'server.key'),
        aclFile: join(tls, 'acl'),
        crlFile: kgcPaths(dataPaths(kgcData).kgcDir).crl,
      },
    }),
  );
  return running;
}

async function stop(): Promise<void> {
  await running?.stop();
  running = undefined;
}

/**
 * Connects with a client certificate and sends CONNECT: the CONNACK return code, or
 * `refused` when the handshake fails (the broker's verify of the certificate).
 */
function connack(port: number, clientId: string, cert: string, key: string): Promise<number | 'refused'> {
  return new Promise((resolve) => {
    const id = Buffer.from(clientId);
    const body = Buffer.concat([
      Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, id.length]),
      id,
    ]);
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      cert: readFileSync(cert),
      key: readFileSync(key),
      rejectUnauthorized: false, // the server's certificate is not what is under test
    });
    let settled = false;
    const done = (v: number | 'refused') => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(v);
    };
    socket.once('secureConnect', () => socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
    socket.on('data', (d: Buffer) => {
      if (d[0] === 0x20 && d.length >= 4) done(d[3] as number);
    });
    socket.once('error', () => done('refused'));
    socket.once('close', () => done('refused'));
    setTimeout(() => done('refused'), 10_000);
  });
}

const device = (dev: string) => {
  const d = dataPaths(kgcData).deviceDir(dev);
  return [join(d, 'device.cert.pem'), join(d, 'device.key.pem')] as const;
};

beforeAll(async () => {
  tmp = makeTempDir('vt-mosquitto-crl-');
  kgcData = join(tmp.dir, 'kgc');
  const kgcDir = dataPaths(kgcData).kgcDir;
  await initKgc(kgcDir);
  for (const d of ['wr-ok', 'wr-lost', 'wr-later'])
    await enrollDevice(kgcDir, d, dataPaths(kgcData).deviceDir(d));
  await refreshCrls(kgcDir); // the bootstrap job's `kgc crl`
  await revokeDevice(kgcDir, 'wr-lost');

  tls = join(tmp.dir, 'broker', 'tls');
  mkdirSync(tls, { recursive: true });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '30',
    '-subj',
    '/CN=VitalTrail broker CA',
    '-keyout',
    join(tls, 'broker-ca.key'),
    '-out',
    join(tls, 'broker-ca.pem'),
  );
  brokerCert('server', 'localhost', ['-addext', 'subjectAltName=DNS:localhost']);
  brokerCert('gw-1', 'gateway:gw-1');
  // The broker CA's CRL and the cafile, by the bootstrap job's own lines.
  const script = [
    bootstrapLines('mkdir -p "$BROKER/tls/ca"', '-out "$BROKER/tls/broker-ca.crl.pem"'),
    bootstrapLines('cat "$BROKER/tls/broker-ca.pem"', '> "$BROKER/tls/client-ca.pem"'),
  ].join('\n');
  execFileSync('sh', ['-eu', '-c', script], {
    env: { ...process.env, BROKER: join(tmp.dir, 'broker'), KGC: kgcData },
    stdio: 'pipe',
  });
  // The same trust without the broker CA's CRL, for the error case.
  const kgcCerts = ['root.cert.pem', 'issuing.cert.pem'].map((f) => readFileSync(join(kgcDir, f), 'utf8'));
  writeFileSync(
    join(tls, 'no-crl-ca.pem'),
    [readFileSync(join(tls, 'broker-ca.pem'), 'utf8'), ...kgcCerts].join(''),
  );
  writeFileSync(join(tls, 'acl'), 'pattern write vt/v1/dev/%u/frames\n');
}, 60_000);

afterAll(async () => {
  await stop();
  tmp?.cleanup();
});

describe("Mosquitto with the KGC's CRL (the compose shape's TLS terminator)", () => {
  it('behavior: a revoked device is refused at the handshake; other devices and the gateways get CONNACK 0; a later revocation counts after a restart', async () => {
    let mq = await start('client-ca.pem');
    expect(await connack(mq.port, 'wr-ok', ...device('wr-ok'))).toBe(0);
    expect(await connack(mq.port, 'wr-later', ...device('wr-later'))).toBe(0);
    expect(await connack(mq.port, 'wr-lost', ...device('wr-lost'))).toBe('refused');
    expect(await connack(mq.port, 'gateway:gw-1', join(tls, 'gw-1.pem'), join(tls, 'gw-1.key'))).toBe(0);

    await revokeDevice(dataPaths(kgcData).kgcDir, 'wr-later');
    await stop();
    mq = await start('client-ca.pem');
    expect(await connack(mq.port, 'wr-later', ...device('wr-later'))).toBe('refused');
    expect(await connack(mq.port, 'wr-ok', ...device('wr-ok'))).toBe(0);
    expect(await connack(mq.port, 'gateway:gw-1', join(tls, 'gw-1.pem'), join(tls, 'gw-1.key'))).toBe(0);
    await stop();
  }, 60_000);

  it("error: without the broker CA's CRL in the cafile, the gateways are refused (why bootstrap.sh puts it there)", async () => {
    const mq = await start('no-crl-ca.pem');
    expect(await connack(mq.port, 'wr-ok', ...device('wr-ok'))).toBe(0);
    expect(await connack(mq.port, 'gateway:gw-1', join(tls, 'gw-1.pem'), join(tls, 'gw-1.key'))).toBe(
      'refused',
    );
    await stop();
  }, 60_000);
});
