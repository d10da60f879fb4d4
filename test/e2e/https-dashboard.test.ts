/**
 * @module test/e2e/https-dashboard
 * The dashboard served over HTTPS with the gateway's own KGC certificate (issue 16
 * "production gaps"; config `http.tls: on`, gateway/src/io/http/server.ts `tls`): a gateway
 * started from a config file on a prepared data dir, with real TLS throughout.
 * - node:https with the KGC root as CA gets `/livez`, `/readyz` and `/metrics` on the one
 *   listener; without it the handshake fails verification (the KGC root is no public CA).
 * - sign-in over HTTPS sets `Secure; HttpOnly; SameSite=Strict` (`http.secureCookies: auto`
 *   on loopback: Secure because of TLS); the live socket answers over `wss://` (ws with the CA).
 * - headless Chromium signs in at `https://127.0.0.1:…/` and sees a tile turn live from a
 *   frame sent over MQTT. Trusting the KGC root in Chromium needs its NSS store and
 *   `certutil` (libnss3-tools), which test/setup does not install; the test therefore pins
 *   the KGC issuing CA's public key (`--ignore-certificate-errors-spki-list`), which accepts
 *   only chains through that CA, not any certificate (`ignoreHTTPSErrors` would). A browser
 *   without the pin is refused with ERR_CERT_AUTHORITY_INVALID.
 * - `http.certFile`/`http.keyFile` (a hospital certificate) replace the KGC one; a key file
 *   readable by others, a certificate without `http.tls: on`, a certificate and key that do
 *   not match, and `http.tls: on` on a data dir without a gateway certificate are
 *   `config_invalid`.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { issueGatewayCertificate, kgcPaths } from '../../anchor/src/kgc/index.js';
import { gatewayOptionsFromConfig, loadConfigFile } from '../../gateway/src/app/config.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { ensureGatewayCertificate } from '../../gateway/src/cli/kgc.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { launchBrowser } from '../helpers/browser.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DEV = 'wr-h001';
const NURSE = { username: 'nurse.tls', password: 'ward-7b-https-shift' };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request (real TLS, verification on); `ca` undefined = Node's public roots only. */
function get(
  url: string,
  ca: string | undefined,
  init: { method?: string; body?: unknown; cookie?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        ...(ca ? { ca } : {}),
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(init.cookie ? { cookie: init.cookie } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's SPKI list takes it. */
function spkiHash(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** The subject CN of the certificate a TLS server presents (verified against `ca`). */
function servedCommonName(url: string, ca: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: u.hostname, port: Number(u.port), ca, servername: 'localhost' }, () => {
      const subject = s.getPeerCertificate().subject as unknown as Record<string, string>;
      s.end();
      resolve(subject.CN ?? '');
    });
    s.on('error', reject);
  });
}

function writeConfig(dir: string, name: string, http: Record<string, unknown>, dataDir: string): string {
  const file = join(dir, name);
  const doc = { dataDir, http: { host: '127.0.0.1', port: 0, ...http }, mqtt: { port: 0 } };
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('dashboard over HTTPS with the gateway KGC certificate', () => {
  const tmp = makeTempDir();
  let paths: DataPaths;
  let gw: RunningGateway;
  let rootPem: string;
  let issuingPem: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    paths = await prepareDataDir(join(tmp.dir, 'data'), [DEV]);
    await ensureGatewayCertificate(paths); // DATA/gateway/tls, as `kgc gateway-cert` writes it
    rootPem = readFileSync(kgcPaths(paths.kgcDir).rootCert, 'utf8');
    issuingPem = readFileSync(kgcPaths(paths.kgcDir).issuingCert, 'utf8');
    const cfg = loadConfigFile(writeConfig(tmp.dir, 'gw.json', { tls: 'on' }, paths.root), {});
    const { logLevel: _level, ...opts } = gatewayOptionsFromConfig(cfg);
    gw = (await startGateway({ ...opts, logger: silentLogger })) as RunningGateway;
    await new UserFile(paths.users).add(NURSE.username, 'nurse', NURSE.password);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    tmp.cleanup();
  });

  it('behavior: the operations endpoints answer over HTTPS to a client trusting the KGC root, and only to it', async () => {
    expect(gw.http.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const livez = await get(`${gw.http.url}/livez`, rootPem);
    expect([livez.status, JSON.parse(livez.body)]).toEqual([200, { status: 'ok' }]);
    expect((await get(`${gw.http.url}/readyz`, rootPem)).status).toBe(200);
    const metrics = await get(`${gw.http.url}/metrics`, rootPem);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('vitaltrail_frames_accepted_total');

    // Without the KGC root the chain (leaf + issuing CA) ends at an unknown root.
    const refused = await get(`${gw.http.url}/livez`, undefined).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(refused).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    // Nor does the port speak plain HTTP.
    const plain = await fetch(gw.http.url.replace(/^https/, 'http')).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('behavior: sign-in over HTTPS sets a Secure, HttpOnly, SameSite=Strict cookie; the live socket answers over wss', async () => {
    const login = await get(`${gw.http.url}/api/login`, rootPem, { method: 'POST', body: NURSE });
    expect(login.status).toBe(200);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    const cookie = setCookie.split(';', 1)[0] as string;

    const me = await get(`${gw.http.url}/api/me`, rootPem, { cookie });
    expect([me.status, (JSON.parse(me.body) as { username: string }).username]).toEqual([
      200,
      NURSE.username,
    ]);

    const ws = new WebSocket(`${gw.http.url.replace(/^https/, 'wss')}/ws`, {
      headers: { cookie },
      ca: rootPem,
    });
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
    });
    ws.close();
    expect(first.type).toBe('snapshot');
    expect((first.patients as { dev: string }[]).map((p) => p.dev)).toContain(DEV);

    // A socket that does not trust the KGC root never opens.
    const untrusted = new WebSocket(`${gw.http.url.replace(/^https/, 'wss')}/ws`, { headers: { cookie } });
    const outcome = await new Promise<string>((resolve) => {
      untrusted.once('open', () => resolve('open'));
      untrusted.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(outcome).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  });

  it('behavior: headless Chromium signs in over https and sees a live tile; without the pin it is refused', async () => {
    const plainBrowser = await launchBrowser();
    try {
      const page = await plainBrowser.newPage();
      const err = await page.goto(`${gw.http.url}/`).then(
        () => 'loaded',
        (e: Error) => e.message,
      );
      expect(err).toContain('ERR_CERT_AUTHORITY_INVALID');
    } finally {
      await plainBrowser.close();
    }

    browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${spkiHash(issuingPem)}`]);
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${gw.http.url}/`);
    expect(page.url()).toMatch(/^https:/);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#username', NURSE.username);
    await page.fill('#password', NURSE.password);
    await page.click('#login-submit');
    // The page opens its socket as wss:// (dashboards/ward/live.js) and says live.
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.httpOnly)?.secure).toBe(true);

    // A frame from the device over MQTT reaches the tile through the wss socket.
    const client = await mqtt.connectAsync(gw.broker.url, {
      clientId: DEV,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    try {
      const chain = new FrameChain(DEV, deviceKey(paths, DEV));
      await client.publishAsync(
        `vt/v1/dev/${DEV}/frames`,
        Buffer.from(chain.next({}, { hr: 77, spo2: 97 })),
        {
          qos: 1,
        },
      );
    } finally {
      await client.endAsync();
    }
    const hr = page.locator(`.tile[data-dev="${DEV}"] [data-field="hr"]`);
    await expect.poll(() => hr.textContent(), { timeout: 15_000 }).toBe('77');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('behavior: http.certFile/http.keyFile serve the hospital certificate instead of the KGC one', async () => {
    const hospital = await issueGatewayCertificate(paths.kgcDir, join(tmp.dir, 'hospital'), {
      names: ['dash.ward7b.example'],
    });
    const cfg = loadConfigFile(
      writeConfig(
        tmp.dir,
        'hospital.json',
        { tls: 'on', certFile: hospital.certPath, keyFile: hospital.keyPath },
        paths.root,
      ),
      {},
    );
    const tls = gatewayOptionsFromConfig(cfg).http?.tls;
    expect(tls).toBeDefined();
    const srv = await startHttpServer({
      hub: new LiveHub(),
      users: new UserFile(paths.users),
      staticDir: join(ROOT, 'dashboards/ward'),
      ...(tls ? { tls } : {}),
    });
    try {
      expect(await servedCommonName(srv.url, rootPem)).toBe('dash.ward7b.example');
      expect(await servedCommonName(gw.http.url, rootPem)).toBe('localhost');
    } finally {
      await srv.close();
    }
  });

  it('error: a key file readable by others, a certificate without http.tls on, a mismatched pair or no gateway certificate is config_invalid', async () => {
    const other = await issueGatewayCertificate(paths.kgcDir, join(tmp.dir, 'other'), {
      names: ['other.example'],
    });
    const problems = (
      http: Record<string, unknown>,
      name: string,
      dataDir = paths.root,
    ): readonly string[] => {
      try {
        gatewayOptionsFromConfig(loadConfigFile(writeConfig(tmp.dir, name, http, dataDir), {}));
        return [];
      } catch (err) {
        expect((err as { code?: string }).code).toBe('config_invalid');
        return (err as { problems: readonly string[] }).problems;
      }
    };
    const gatewayCert = join(paths.gatewayDir, 'tls', 'server.cert.pem');
    expect(problems({ certFile: other.certPath, keyFile: other.keyPath }, 'off.json')).toEqual([
      'http.certFile: is used only with http.tls on',
    ]);
    expect(problems({ tls: 'on', certFile: gatewayCert, keyFile: other.keyPath }, 'mismatch.json')).toEqual([
      'http.certFile: is not a PEM certificate matching its key',
    ]);
    // A data dir without `kgc gateway-cert` run on it.
    expect(problems({ tls: 'on' }, 'nocert.json', join(tmp.dir, 'bare'))).toEqual([
      'http.certFile (default DATA/gateway/tls/server.cert.pem: `vitaltrail kgc gateway-cert`): file not found',
    ]);
    chmodSync(other.keyPath, 0o644);
    expect(problems({ tls: 'on', certFile: other.certPath, keyFile: other.keyPath }, 'open.json')).toEqual([
      'http.keyFile: file must not be readable by group or others (chmod 600)',
    ]);
    // startHttpServer itself refuses a pair that does not match, naming `tls`, never the PEM.
    await expect(
      startHttpServer({
        hub: new LiveHub(),
        users: new UserFile(paths.users),
        staticDir: join(ROOT, 'dashboards/ward'),
        tls: { cert: readFileSync(gatewayCert), key: readFileSync(other.keyPath) },
      }),
    ).rejects.toThrow(
      /^startHttpServer: tls\.cert and tls\.key must be a PEM certificate and its private key$/,
    );
  });
});
