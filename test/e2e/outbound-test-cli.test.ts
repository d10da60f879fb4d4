/**
 * @module test/e2e/outbound-test-cli
 * Issue 19: `vitaltrail outbound test --config FILE` makes one harmless round trip to each
 * outbound receiver of a gateway config file, against real receivers started here on free
 * ports: an MLLP listener (@medplum/hl7's server, test/helpers/hl7-server) that ACKs, NAKs or
 * stays silent; a FHIR server (@medplum/fhir-router, test/helpers/fhir-server) that can demand
 * a bearer token; and a node:http webhook that checks the HMAC itself with node:crypto (not
 * with the gateway's code). Runs the built CLI: needs `npm run build`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type FhirTestServer, startFhirServer } from '../helpers/fhir-server.js';
import { type ServerAction, startHl7Server, type TestHl7Server } from '../helpers/hl7-server.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';

const TOKEN = 'fhir-token-of-the-ward-7f3a';
const SECRET = 'webhook-secret-of-the-ward-91c2';
/** Webhook URLs often carry a key in the path: it must not be printed either. */
const HOOK_PATH = '/hooks/path-key-5d0e';

interface Hook {
  delivery: string;
  verified: boolean;
  raw: string;
}

describe('vitaltrail outbound test', () => {
  const tmp = makeTempDir('vt-outbound-test-');
  let mllp: TestHl7Server;
  let mllpAction: ServerAction = 'CA';
  let fhir: FhirTestServer;
  let webhook: Server;
  let hookUrl: string;
  const hooks: Hook[] = [];
  const file = (name: string, text: string) => {
    const p = join(tmp.dir, name);
    writeFileSync(p, `${text}\n`, { mode: 0o600 });
    return p;
  };
  /** A gateway config file with these outbound receivers (none: `{}`). */
  const config = (name: string, outbound: Record<string, unknown>): string =>
    file(name, JSON.stringify({ dataDir: 'data', gatewayId: 'gw-test', outbound }));
  const all = () => ({
    mllp: {
      host: '127.0.0.1',
      port: mllp.port,
      receivingApplication: 'ADT_IE',
      receivingFacility: 'GENERAL',
    },
    fhir: { url: fhir.baseUrl, tokenFile: file('fhir.token', TOKEN) },
    webhook: { url: hookUrl, secretFile: file('webhook.secret', SECRET) },
  });

  beforeAll(async () => {
    mllp = await startHl7Server(() => mllpAction);
    fhir = await startFhirServer();
    webhook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const ts = String(req.headers['x-vitaltrail-timestamp']);
        const want = Buffer.from(
          `sha256=${createHmac('sha256', SECRET).update(`${ts}.${raw}`).digest('hex')}`,
        );
        const got = Buffer.from(String(req.headers['x-vitaltrail-signature']));
        const fresh = Math.abs(Date.now() - Number(ts)) < 5 * 60_000;
        const verified = fresh && got.length === want.length && timingSafeEqual(got, want);
        hooks.push({ delivery: String(req.headers['x-vitaltrail-delivery']), verified, raw });
        res.writeHead(verified ? 204 : 401).end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}${HOOK_PATH}`;
  });
  afterAll(async () => {
    await mllp?.stop();
    await fhir?.stop();
    await new Promise((r) => webhook?.close(r));
    tmp.cleanup();
  });

  test('behavior: all three answer: exit 0, one ok line each; a training ORU^R01 of no patient, a signed test event', async () => {
    mllpAction = 'CA';
    fhir.requireBearer = TOKEN;
    const [messages, requests, posted] = [mllp.received.length, fhir.requests, hooks.length];
    const r = await runCli(['outbound', 'test', '--config', config('all.json', all())]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^mllp: ok \(ACK CA, \d+ ms\)$/);
    expect(lines[1]).toMatch(/^fhir: ok \(FHIR 4\.0\.1, VitalTrail test FHIR server .*5\.0\.10, \d+ ms\)$/);
    expect(lines[2]).toMatch(/^webhook: ok \(HTTP 204, \d+ ms\)$/);

    // The MLLP receiver got one PCD-01 message it cannot file to a patient, marked training.
    expect(mllp.received).toHaveLength(messages + 1);
    const msg = mllp.received.at(-1)!;
    const msh = (n: number) => msg.getSegment('MSH')?.getField(n)?.toString();
    expect(msh(9)).toBe('ORU^R01^ORU_R01');
    expect(msh(11)).toBe('T');
    expect(msh(10)).toMatch(/^vitaltrail-test:\d+$/);
    expect([msh(3), msh(4), msh(5), msh(6)]).toEqual(['VITALTRAIL', 'gw-test', 'ADT_IE', 'GENERAL']);
    expect(msg.getSegment('PID')?.getField(3)?.toString() ?? '').toBe('');
    expect(msg.getSegment('PV1')?.getField(2)?.toString()).toBe('U');
    const raw = mllp.raw.at(-1)!;
    expect(raw).toMatch(
      /^MSH\|\^~\\&\|VITALTRAIL\|gw-test\|ADT_IE\|GENERAL\|\d{14}\.\d{3}\+0000\|\|ORU\^R01\^ORU_R01\|/,
    );
    expect(raw.split('\r').filter((s) => s.startsWith('OBX|') && s.split('|')[2] === 'NM')).toEqual([]);

    // The FHIR server was asked, with the token (it answers 401 without).
    expect(fhir.requests).toBe(requests + 1);

    // The webhook got one event whose signature it verified itself.
    expect(hooks).toHaveLength(posted + 1);
    const hook = hooks.at(-1)!;
    expect(hook.verified).toBe(true);
    const body = JSON.parse(hook.raw) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['type', 'id', 'at']);
    expect(body.type).toBe('vitaltrail.test/1');
    expect(body.id).toMatch(/^test:\d+$/);
    expect(hook.delivery).toBe(body.id);

    for (const leak of [TOKEN, SECRET, HOOK_PATH]) expect(r.stdout + r.stderr).not.toContain(leak);
  });

  test('error: the MLLP receiver answers AE: exit 1, mllp receiver_rejected, the others ok (--json)', async () => {
    mllpAction = 'AE';
    fhir.requireBearer = TOKEN;
    const r = await runCli(['outbound', 'test', '--json', '--config', config('nak.json', all())]);
    expect(r.code, r.stderr).toBe(1);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows.map((x) => [x.receiver, x.ok, x.code])).toEqual([
      ['mllp', false, 'receiver_rejected'],
      ['fhir', true, undefined],
      ['webhook', true, undefined],
    ]);
    expect(rows[0]!.detail).toMatch(/^ACK AE\b/);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        row.ok ? ['detail', 'ms', 'ok', 'receiver'] : ['code', 'detail', 'ms', 'ok', 'receiver'],
      );
      expect(row.ms).toEqual(expect.any(Number));
    }
  });

  test('error: nothing listens on the MLLP or the webhook port: receiver_unavailable, exit 1', async () => {
    const [mllpPort, hookPort] = [await freePort(), await freePort()];
    const cfg = config('dead.json', {
      mllp: { host: '127.0.0.1', port: mllpPort },
      webhook: { url: `http://127.0.0.1:${hookPort}${HOOK_PATH}`, secretFile: file('dead.secret', SECRET) },
    });
    const r = await runCli(['outbound', 'test', '--config', cfg]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^mllp: FAIL receiver_unavailable \\(cannot connect to 127\\.0\\.0\\.1:${mllpPort}: ECONNREFUSED, \\d+ ms\\)$`,
      ),
    );
    expect(lines[1]).toMatch(/^webhook: FAIL receiver_unavailable \(POST: ECONNREFUSED, \d+ ms\)$/);
    expect(r.stdout).not.toContain(HOOK_PATH);
  });

  test('error: an MLLP receiver that never ACKs: receiver_unavailable after --timeout-ms', async () => {
    mllpAction = 'silent';
    const messages = mllp.received.length;
    const r = await runCli([
      'outbound',
      'test',
      '--timeout-ms',
      '300',
      '--config',
      config('silent.json', { mllp: { host: '127.0.0.1', port: mllp.port } }),
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(mllp.received).toHaveLength(messages + 1);
    const m = /^mllp: FAIL receiver_unavailable \(no ACK within 300 ms, (\d+) ms\)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(290);
    expect(Number(m![1])).toBeLessThan(2000);
  });

  test('error: a wrong FHIR token and a wrong webhook secret: both receiver_rejected, nothing secret printed', async () => {
    fhir.requireBearer = TOKEN;
    const wrongToken = 'not-the-token-0000';
    const wrongSecret = 'not-the-secret-0000';
    const posted = hooks.length;
    const cfg = config('wrong.json', {
      fhir: { url: fhir.baseUrl, tokenFile: file('wrong.token', wrongToken) },
      webhook: { url: hookUrl, secretFile: file('wrong.secret', wrongSecret) },
    });
    const r = await runCli(['outbound', 'test', '--config', cfg]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^fhir: FAIL receiver_rejected \(HTTP 401: the server refuses the token .*, \d+ ms\)$/,
    );
    expect(lines[1]).toMatch(
      /^webhook: FAIL receiver_rejected \(HTTP 401: check the shared secret .*, \d+ ms\)$/,
    );
    expect(hooks).toHaveLength(posted + 1);
    expect(hooks.at(-1)!.verified).toBe(false);
    for (const leak of [wrongToken, wrongSecret, TOKEN, SECRET, HOOK_PATH])
      expect(r.stdout + r.stderr).not.toContain(leak);
  });

  test('behavior: --receiver webhook probes only the webhook', async () => {
    mllpAction = 'CA';
    const [messages, requests, posted] = [mllp.received.length, fhir.requests, hooks.length];
    const r = await runCli([
      'outbound',
      'test',
      '--receiver',
      'webhook',
      '--config',
      config('one.json', all()),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^webhook: ok \(HTTP 204, \d+ ms\)\n$/);
    expect([mllp.received.length, fhir.requests, hooks.length]).toEqual([messages, requests, posted + 1]);
  });

  test('behavior: the alarm manager (acm) gets a training PCD-04 of a cleared test alarm; a listen-only acm is no receiver', async () => {
    mllpAction = 'AA';
    const before = mllp.received.length;
    const r = await runCli([
      'outbound',
      'test',
      '--config',
      config('acm.json', { acm: { host: '127.0.0.1', port: mllp.port, receivingApplication: 'AM_WARD' } }),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^acm: ok \(ACK AA, \d+ ms\)\n$/);
    expect(mllp.received).toHaveLength(before + 1);
    const msg = mllp.received.at(-1)!;
    expect(msg.getSegment('MSH')?.getField(9)?.toString()).toBe('ORU^R40^ORU_R40');
    expect(msg.getSegment('MSH')?.getField(11)?.toString()).toBe('T');
    expect(msg.getSegment('MSH')?.getField(5)?.toString()).toBe('AM_WARD');
    expect(msg.getSegment('PID')?.getField(3)?.toString() ?? '').toBe('');
    const facet = (code: string) =>
      msg
        .getAllSegments('OBX')
        .find((o) => o.getComponent(3, 1) === code)
        ?.getField(5)
        ?.toString();
    // Nothing to page: the end of an alarm, inactive.
    expect([facet('68481'), facet('68482')]).toEqual(['end', 'inactive']);
    const listenOnly = await runCli([
      'outbound',
      'test',
      '--config',
      config('acm-listen.json', { acm: { listenPort: await freePort(), allowFrom: '127.0.0.1' } }),
    ]);
    expect(listenOnly.code).toBe(2);
    expect(listenOnly.stderr).toMatch(/no outbound receiver is configured/);
  });

  test('error: no outbound receiver, or --receiver naming one the config lacks: exit 2 config_invalid', async () => {
    const webhookOnly = config('webhook-only.json', { webhook: all().webhook });
    const [none, missing, unknown] = await Promise.all([
      runCli(['outbound', 'test', '--config', config('none.json', {})]),
      runCli(['outbound', 'test', '--receiver', 'mllp', '--config', webhookOnly]),
      runCli(['outbound', 'test', '--receiver', 'pager', '--config', webhookOnly]),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error: config_invalid: .*no outbound receiver is configured/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /config_invalid: --receiver mllp is not configured in .* \(configured: webhook\)/,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/config_invalid: --receiver pager is no outbound receiver of/);
    expect(none.stdout + missing.stdout + unknown.stdout).toBe('');
  });
});
