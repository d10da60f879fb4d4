/**
 * @module test/e2e/alarm-webhook
 * Issue 19, alarms to a nurse who is not looking at the screen: the demo (gateway, chain,
 * simulated ward) POSTs every alarm transition, signed, to a webhook receiver started here
 * (a plain node:http server that checks the HMAC itself with node:crypto, not with the
 * gateway's code). The alarm is made deterministic by tightening a patient's temperature
 * limit on the dashboard API (the demo's deteriorating patient takes minutes to cross the
 * default limits; the path from the alarm service on is the same). A raised alarm arrives within 2 s of the time
 * the gateway recorded it. The receiver's signed acknowledgement callback acknowledges the
 * alarm in the name of the nurse who sent it: the next transition the webhook gets is
 * `acknowledged` by her, and the gateway's audit log names her. A callback with a bad
 * signature, or in the name of someone who is not a ward user, is refused. Needs
 * `npm run build`.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, test } from 'vitest';
import { DEFAULT_LIMITS } from '../../gateway/src/core/alarms.js';
import { runCli } from '../helpers/cli.js';
import { type DemoProcess, startDemo } from '../helpers/demo.js';
import { makeTempDir } from '../helpers/tmp.js';

interface Received {
  at: number;
  delivery: string;
  body: {
    id: string;
    alarmId: string;
    dev: string;
    event: string;
    code: string;
    at: number;
    by: string | null;
  };
}

const SECRET = 'a-webhook-secret-of-the-ward';
const sign = (ts: number, body: string) =>
  `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;

describe('alarm webhook', () => {
  const tmp = makeTempDir('vt-webhook-');
  let demo: DemoProcess | undefined;
  let server: Server | undefined;
  afterAll(async () => {
    await demo?.stop();
    await new Promise((r) => server?.close(r));
    tmp.cleanup();
  });

  test('behavior: alarms reach the webhook within 2 s; a signed callback acknowledges one in the nurse’s name', async () => {
    const received: Received[] = [];
    let badSignatures = 0;
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const ts = Number(req.headers['x-vitaltrail-timestamp']);
        if (req.headers['x-vitaltrail-signature'] !== sign(ts, raw)) {
          badSignatures++;
          res.writeHead(401).end();
          return;
        }
        received.push({
          at: Date.now(),
          delivery: String(req.headers['x-vitaltrail-delivery']),
          body: JSON.parse(raw) as Received['body'],
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alarms`;
    const secretFile = join(tmp.dir, 'webhook.secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });

    demo = await startDemo(tmp.dir, [
      '--devices',
      '3',
      '--rate',
      '2',
      '--webhook',
      url,
      '--webhook-secret-file',
      secretFile,
    ]);
    const pw = join(tmp.dir, 'pw');
    writeFileSync(pw, 'kim-has-a-long-password-1\n', { mode: 0o600 });
    const add = await runCli([
      'users',
      'add',
      '--username',
      'nurse.kim',
      '--role',
      'nurse',
      '--password-file',
      pw,
      '--data',
      tmp.dir,
    ]);
    expect(add.code, add.stderr).toBe(0);

    // A charge of the ward tightens wr-0003's temperature limit on the dashboard (the demo's
    // deteriorating patient needs minutes to cross the defaults): the next reading raises
    // temp_high, as a deterioration would.
    const dashboard = demo.field('Dashboard').replace(/\/$/, '');
    const adminPw = readFileSync(join(tmp.dir, 'gateway', 'initial-admin-password'), 'utf8').trim();
    const login = await fetch(`${dashboard}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: adminPw }),
    });
    expect(login.status).toBe(200);
    const cookie = String(login.headers.get('set-cookie')).split(';', 1)[0] as string;
    const put = await fetch(`${dashboard}/api/patients/wr-0003/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ limits: { temp: { low: DEFAULT_LIMITS.temp.low, high: 1 } } }),
    });
    expect(put.status).toBe(200);
    const end = Date.now() + 60_000;
    let raised: Received | undefined;
    while (!raised && Date.now() < end) {
      raised = received.find((r) => r.body.event === 'raised' && r.body.dev === 'wr-0003');
      await sleep(200);
    }
    expect(raised, 'an alarm raised and delivered').toBeDefined();
    expect(badSignatures).toBe(0);
    for (const r of received) expect(r.at - r.body.at, `${r.body.id} latency`).toBeLessThanOrEqual(2000);
    expect(raised!.delivery).toBe(raised!.body.id);

    // The nurse acknowledges it from her phone: the receiver calls back, signed.
    const callback = async (body: object, signature?: string) => {
      const raw = JSON.stringify(body);
      const ts = Date.now();
      return fetch(`${dashboard}/api/outbound/webhook/ack`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-vitaltrail-timestamp': String(ts),
          'x-vitaltrail-signature': signature ?? sign(ts, raw),
        },
        body: raw,
      });
    };
    const forged = await callback(
      { alarmId: raised!.body.alarmId, by: 'nurse.kim' },
      `sha256=${'0'.repeat(64)}`,
    );
    expect(forged.status).toBe(401);
    const stranger = await callback({ alarmId: raised!.body.alarmId, by: 'mallory' });
    expect(stranger.status).toBe(403);
    const ok = await callback({ alarmId: raised!.body.alarmId, by: 'nurse.kim', comment: 'on my way' });
    const okBody = (await ok.json()) as { alarm: { state: string; ackBy: string } };
    // The alarm may have been acknowledged or cleared meanwhile only by someone else: nobody else acts here.
    expect(ok.status).toBe(200);
    expect(okBody.alarm).toMatchObject({ state: 'acknowledged', ackBy: 'nurse.kim' });

    const ackEnd = Date.now() + 10_000;
    let ack: Received | undefined;
    while (!ack && Date.now() < ackEnd) {
      ack = received.find((r) => r.body.alarmId === raised!.body.alarmId && r.body.event === 'acknowledged');
      await sleep(100);
    }
    expect(ack?.body).toMatchObject({ by: 'nurse.kim' });
    await demo.stop();
    // The webhook's cursor walks the alarm events, not the log: nothing is pending for it.
    const status = JSON.parse((await runCli(['outbound', 'status', '--data', tmp.dir, '--json'])).stdout) as {
      receiver: string;
      pending: number;
      delivered: number;
      deadLetters: number;
    }[];
    expect(status).toEqual([expect.objectContaining({ receiver: 'webhook', pending: 0, deadLetters: 0 })]);
    expect(status[0]!.delivered).toBe(received.length);
    const audit = readFileSync(join(tmp.dir, 'gateway', 'audit.log'), 'utf8');
    expect(audit).toMatch(/"event":"alarm_acknowledged".*"user":"nurse\.kim"/);
  }, 180_000);
});
