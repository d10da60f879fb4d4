/**
 * @module test/integration/identity-tls
 * The mutual-TLS MQTT listener with real KGC certificates made in a temp dir and a real
 * TLS connection (mqtt.js `mqtts://`) to the embedded broker (issue 3; PROTOCOL.md §2
 * "TLS port"): a valid device is accepted; an expired, a revoked, a self-signed, a
 * look-alike-CA certificate and a missing one are refused at the handshake or the
 * CONNACK, each with its audited reason; revocation closes an open session and later
 * frames are `revoked_device`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  enrollDevice,
  initKgc,
  issueCertificate,
  issueGatewayCertificate,
  kgcPaths,
  readPrivateKey,
  revokeDevice,
} from '../../anchor/src/kgc/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { verifyAuditLog } from '../../gateway/src/io/ops/audit.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;
let tlsUrl: string;
let rootPem: string;

interface Creds {
  key?: string;
  cert?: string;
}

function devCreds(dev: string): Creds {
  return {
    key: readFileSync(join(paths.deviceDir(dev), 'device.key.pem'), 'utf8'),
    cert: readFileSync(join(paths.deviceDir(dev), 'device.cert.pem'), 'utf8'),
  };
}

/** Connects over mTLS; rejects on an error or on a close before CONNACK (a TLS 1.3 refusal comes after the client's handshake). */
function connect(clientId: string, creds: Creds): Promise<MqttClient> {
  const client = mqtt.connect(tlsUrl, {
    clientId,
    ...creds,
    ca: rootPem,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    protocolVersion: 4,
  });
  return new Promise<MqttClient>((resolve, reject) => {
    const fail = (err?: Error) => {
      client.end(true);
      reject(err ?? new Error('closed before CONNACK'));
    };
    client.once('connect', () => {
      client.off('close', fail);
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', fail);
  });
}

type AuditLine = Record<string, unknown>;
function auditLines(): AuditLine[] {
  return readFileSync(join(paths.gatewayDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

async function waitFor<T>(what: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(25);
  }
}

/** Connects, expects a refusal, then the audit line naming `reason`. */
async function expectRefused(clientId: string, creds: Creds, event: string, reason: string): Promise<void> {
  const before = auditLines().length;
  await expect(connect(clientId, creds)).rejects.toThrow();
  const line = await waitFor(() =>
    auditLines()
      .slice(before)
      .find((l) => l.event === event),
  );
  expect(line).toMatchObject({ event, reason });
}

beforeAll(async () => {
  tmp = makeTempDir('vt-tls-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001', 'wr-0002', 'wr-rev', 'wr-live']);
  rootPem = readFileSync(paths.kgcRootCert, 'utf8');
  const tlsDir = join(paths.gatewayDir, 'tls');
  const g = await issueGatewayCertificate(paths.kgcDir, tlsDir, { names: ['gw-test.local'] });
  gw = (await startGateway({
    dataDir: paths.root,
    mqtts: { port: 0, certPath: g.certPath, keyPath: g.keyPath },
    mqttPlain: false,
    deviceRefreshMs: 100,
    revocationPollMs: 100,
    logger: silentLogger,
  })) as RunningGateway;
  tlsUrl = gw.broker.tlsUrl as string;
});

afterAll(async () => {
  await gw?.stop();
  tmp.cleanup();
});

describe('mutual TLS listener', () => {
  it('behavior: a device with its KGC certificate connects and its frame is accepted durably', async () => {
    const client = await connect('wr-0001', devCreds('wr-0001'));
    const chain = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
    await client.publishAsync('vt/v1/dev/wr-0001/frames', Buffer.from(chain.next()), { qos: 1 });
    expect(gw.store.getFrame('wr-0001', 1)).toBeDefined();
    await client.endAsync();
    expect(gw.broker.url).toBe('mqtt://127.0.0.1:0'); // no plain listener
  });

  it('error: an expired certificate is refused at the handshake (expired_certificate)', async () => {
    const e = await enrollDevice(paths.kgcDir, 'wr-expired', join(tmp.dir, 'expired'), {
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const creds = { key: readFileSync(e.keyPath, 'utf8'), cert: e.certPem };
    await expectRefused('wr-expired', creds, 'tls_refused', 'expired_certificate');
  });

  it('error: a revoked certificate is refused at CONNACK (revoked_device)', async () => {
    await revokeDevice(paths.kgcDir, 'wr-rev');
    await waitFor(() => gw.devices.lookup('wr-rev')?.status === 'revoked');
    await expectRefused('wr-rev', devCreds('wr-rev'), 'connect_refused', 'revoked_device');
  });

  it('error: a self-signed certificate with a device CN is refused at the handshake', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { certPem } = await issueCertificate({
      subject: { commonName: 'wr-0001' },
      subjectPublicKey: publicKey,
      issuer: { privateKey },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      extKeyUsage: ['clientAuth'],
    });
    const creds = { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: certPem };
    await expectRefused('wr-0001', creds, 'tls_refused', 'self_signed_certificate');
  });

  it("error: a certificate from a fake CA with the root's exact subject DN is refused at the handshake", async () => {
    const fakeKgc = join(tmp.dir, 'fake-kgc');
    await initKgc(fakeKgc); // same default DN "O=VitalTrail, CN=VitalTrail KGC Root", other key
    const fp = kgcPaths(fakeKgc);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { certPem } = await issueCertificate({
      subject: { commonName: 'wr-0001' },
      subjectPublicKey: publicKey,
      issuer: { privateKey: readPrivateKey(fp.rootKey), certPem: readFileSync(fp.rootCert, 'utf8') },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    const creds = { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: certPem };
    await expectRefused('wr-0001', creds, 'tls_refused', 'untrusted_certificate');
  });

  it('error: no client certificate is refused at the handshake (no_client_certificate)', async () => {
    await expectRefused('wr-0001', {}, 'tls_refused', 'no_client_certificate');
  });

  it("error: another device's client id with a valid certificate is refused at CONNACK (client_id_mismatch)", async () => {
    await expectRefused('wr-0002', devCreds('wr-0001'), 'connect_refused', 'client_id_mismatch');
  });

  it('behavior: dashboard logins and failed logins are audited (user name only, never the password)', async () => {
    const res = await fetch(`${gw.http.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'not-the-password' }),
    });
    expect(res.status).toBe(401);
    const line = await waitFor(() => auditLines().find((l) => l.event === 'login_failed'));
    expect(JSON.stringify(line)).not.toContain('not-the-password');
  });

  it('behavior: revoking a streaming device closes its session; frames signed after are revoked_device', async () => {
    const client = await connect('wr-live', devCreds('wr-live'));
    const chain = new FrameChain('wr-live', deviceKey(paths, 'wr-live'));
    await client.publishAsync('vt/v1/dev/wr-live/frames', Buffer.from(chain.next()), { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const t0 = Date.now();
    await revokeDevice(paths.kgcDir, 'wr-live'); // the CRL alone (the store still says active)
    await closed;
    const effectiveMs = Date.now() - t0;
    expect(effectiveMs).toBeLessThan(60_000);
    await client.endAsync(true);
    const r = await gw.ingest.submit(chain.next(), 'wr-live');
    expect(r).toMatchObject({ status: 'rejected', code: 'revoked_device' });
    const lines = await waitFor(() => {
      const l = auditLines();
      return l.some((x) => x.event === 'session_closed' && x.dev === 'wr-live') ? l : undefined;
    });
    expect(lines.find((x) => x.event === 'device_revoked' && x.dev === 'wr-live')).toMatchObject({
      source: 'crl',
    });
    await waitFor(() => auditLines().some((x) => x.event === 'frame_rejected' && x.dev === 'wr-live'));
    expect(verifyAuditLog(paths.gatewayDir)).toMatchObject({ ok: true });
  });
});
