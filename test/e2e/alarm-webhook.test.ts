/**
 * @module test/e2e/alarm-webhook
 * Issue 19, alarms to a nurse who is not looking at the screen: the demo (gateway, chain,
 * simulated ward) POSTs every alarm transition, signed, to a webhook receiver started here
 * (a plain node:http server that checks the HMAC itself with node:crypto, not with the
 * gateway's code). The alarms are real: the demo ward's deteriorating patient (Bed 3, wr-0003,
 * scenario 'deteriorating'), its physiology run at `--speed 150` so that its SpO2 and its
 * respiratory rate cross the default limits within a minute (spo2_low after the 10 s mean and
 * the 10 s delay, rr_high after the 20 s delay), with the default limits and policies. Each
 * raised alarm arrives within 2 s of the time the gateway recorded it, at the webhook and as
 * IHE PCD-04 `ORU^R40` at an alarm manager over MLLP (a real @medplum/hl7 server started
 * here). The webhook receiver's signed acknowledgement callback acknowledges spo2_low in the
 * name of the nurse who sent it: the next transition the webhook gets is `acknowledged` by
 * her, and the gateway's audit log names her. A callback with a bad signature, or in the name
 * of someone who is not a ward user, is refused. The manager's PCD-05 `ORU^R41` ("accepted by
 * endpoint operator", OBX-16 = the nurse) sent to the gateway's MLLP listener acknowledges
 * rr_high, and the ward dashboard (headless Chromium) shows both alarms acknowledged by her.
 * Needs `npm run build`.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hl7Message as Hl7, type Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { type DemoProcess, startDemo } from '../helpers/demo.js';
import { startHl7Server, type TestHl7Server } from '../helpers/hl7-server.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';

/** HL7 DTM `YYYYMMDDHHMMSS.SSS+0000` → ms. */
const dtm = (t: string) =>
  Date.UTC(
    +t.slice(0, 4),
    +t.slice(4, 6) - 1,
    +t.slice(6, 8),
    +t.slice(8, 10),
    +t.slice(10, 12),
    +t.slice(12, 14),
    +t.slice(15, 18),
  );

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
/** The demo ward's deteriorating patient (`DEMO_WARD`: Bed 3). */
const SICK = 'wr-0003';
/**
 * Its physiology time per wall time: onset after 0.8 s, the sepsis-like picture 4-8 s later;
 * its first limit alarms about 20-30 s after the ward starts (60 s at most is waited for).
 */
const SPEED = '150';
const sign = (ts: number, body: string) =>
  `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;

describe('alarm webhook', () => {
  const tmp = makeTempDir('vt-webhook-');
  let demo: DemoProcess | undefined;
  let server: Server | undefined;
  let manager: TestHl7Server | undefined;
  afterAll(async () => {
    await demo?.stop();
    await new Promise((r) => server?.close(r));
    await manager?.stop();
    tmp.cleanup();
  });

  test('behavior: a deteriorating patient’s alarms reach the webhook and the alarm manager within 2 s; the callback and PCD-05 acknowledge them in the nurse’s name', async () => {
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

    // The alarm manager: every PCD-04 received, with the time it arrived.
    const arrivals = new Map<Hl7Message, number>();
    manager = await startHl7Server((_i, m) => {
      arrivals.set(m, Date.now());
      return 'AA';
    });
    const acmListen = await freePort();

    // Three beds of the demo ward's mix: Bed 3 (wr-0003) deteriorates; Beds 1 and 2 are steady.
    demo = await startDemo(tmp.dir, [
      '--devices',
      '3',
      '--rate',
      '2',
      '--speed',
      SPEED,
      '--webhook',
      url,
      '--webhook-secret-file',
      secretFile,
      '--acm',
      `127.0.0.1:${manager.port}`,
      '--acm-listen',
      String(acmListen),
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
      // The nurse chose this password herself (no forced change at first sign-in: issue 16).
      '--no-must-change',
      '--data',
      tmp.dir,
    ]);
    expect(add.code, add.stderr).toBe(0);

    // The deteriorating patient desaturates: spo2_low, raised by the alarm service with the
    // default limit (92 %) and policies, nothing tightened.
    const dashboard = demo.field('Dashboard').replace(/\/$/, '');
    const raisedOf = async (code: string) => {
      const end = Date.now() + 60_000;
      let found: Received | undefined;
      while (!found && Date.now() < end) {
        found = received.find(
          (r) => r.body.event === 'raised' && r.body.dev === SICK && r.body.code === code,
        );
        await sleep(200);
      }
      expect(found, `${code} raised and delivered`).toBeDefined();
      return found as Received;
    };
    const raised = await raisedOf('spo2_low');
    expect(badSignatures).toBe(0);
    for (const r of received) expect(r.at - r.body.at, `${r.body.id} latency`).toBeLessThanOrEqual(2000);
    expect(raised.delivery).toBe(raised.body.id);

    // The same transition reached the alarm manager as PCD-04, within 2 s of being raised.
    const pcd04Of = (alarmId: string, phase: string) =>
      manager!.received.find(
        (m) =>
          m.getSegment('OBR')?.getComponent(3, 1) === alarmId &&
          m
            .getAllSegments('OBX')
            .some((o) => o.getComponent(3, 1) === '68481' && o.getField(5)?.toString() === phase),
      );
    const pcd04Raised = async (r: Received) => {
      const pcdEnd = Date.now() + 5_000;
      while (!pcd04Of(r.body.alarmId, 'start') && Date.now() < pcdEnd) await sleep(50);
      const pcd04 = pcd04Of(r.body.alarmId, 'start');
      expect(pcd04, `PCD-04 of the raised ${r.body.code}`).toBeDefined();
      expect(pcd04!.getSegment('MSH')?.getField(9)?.toString()).toBe('ORU^R40^ORU_R40');
      expect(pcd04!.getSegment('MSH')?.getField(10)?.toString()).toBe(r.body.id);
      // OBR-7 is the time the gateway recorded the alarm raised, the webhook's `at`.
      const recorded = dtm(pcd04!.getSegment('OBR')?.getField(7)?.toString() ?? '');
      expect(recorded).toBe(r.body.at);
      expect(arrivals.get(pcd04!)! - recorded, `${r.body.code} at the alarm manager`).toBeLessThanOrEqual(
        2000,
      );
    };
    await pcd04Raised(raised);

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
      { alarmId: raised.body.alarmId, by: 'nurse.kim' },
      `sha256=${'0'.repeat(64)}`,
    );
    expect(forged.status).toBe(401);
    const stranger = await callback({ alarmId: raised.body.alarmId, by: 'mallory' });
    expect(stranger.status).toBe(403);
    const ok = await callback({ alarmId: raised.body.alarmId, by: 'nurse.kim', comment: 'on my way' });
    const okBody = (await ok.json()) as { alarm: { state: string; ackBy: string } };
    // The alarm may have been acknowledged or cleared meanwhile only by someone else: nobody else acts here.
    expect(ok.status).toBe(200);
    expect(okBody.alarm).toMatchObject({ state: 'acknowledged', ackBy: 'nurse.kim' });

    const ackEnd = Date.now() + 10_000;
    let ack: Received | undefined;
    while (!ack && Date.now() < ackEnd) {
      ack = received.find((r) => r.body.alarmId === raised.body.alarmId && r.body.event === 'acknowledged');
      await sleep(100);
    }
    expect(ack?.body).toMatchObject({ by: 'nurse.kim' });

    // The same patient's breathing quickens: rr_high (default limit 24/min, 20 s delay), at
    // both receivers within 2 s. The nurse accepts the page on the alarm manager, which
    // answers with PCD-05: the gateway acknowledges the alarm in her name.
    const second = await raisedOf('rr_high');
    expect(second.at - second.body.at, 'rr_high at the webhook').toBeLessThanOrEqual(2000);
    await pcd04Raised(second);
    const client = new Hl7Client({ host: '127.0.0.1', port: acmListen, connectTimeout: 5000 });
    const pcd05 = Hl7.parse(
      [
        'MSH|^~\\&|AM|HOSPITAL|VITALTRAIL|demo|20261202093010||ORU^R41^ORU_R41|am-1|P|2.6|||AL|NE||UNICODE UTF-8',
        'PID|1',
        `OBR|1||${second.body.alarmId}^^vitaltrail/demo^L|196616^MDC_EVT_ALARM^MDC`,
        'OBX|1|ST|68487^MDC_ATTR_ALERT_STATUS^MDC|1.0.0.0.1|Accepted by Endpoint Operator||||||F|||||nurse.kim',
      ].join('\r'),
    );
    const reply = await client.sendAndWait(pcd05, { timeoutMs: 5000 });
    await client.close();
    expect(reply.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    // It goes back out to the manager as PCD-04 ("alert-acknowledged", OBX-16 the nurse).
    const ackEnd2 = Date.now() + 5_000;
    while (!pcd04Of(second.body.alarmId, 'update') && Date.now() < ackEnd2) await sleep(50);
    const back = pcd04Of(second.body.alarmId, 'update');
    expect(
      back
        ?.getAllSegments('OBX')
        .find((o) => o.getComponent(3, 1) === '68483')
        ?.getComponent(16, 1),
    ).toBe('nurse.kim');

    // The ward dashboard shows it acknowledged by her (headless Chromium, signed in as the nurse).
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(dashboard);
      await page.locator('#login').waitFor({ state: 'visible' });
      await page.fill('#username', 'nurse.kim');
      await page.fill('#password', 'kim-has-a-long-password-1');
      await page.click('#login-submit');
      await page.locator('#conn[data-state="live"]').waitFor();
      await page.locator(`.tile[data-dev="${SICK}"]`).click();
      await page.locator('#patient').waitFor({ state: 'visible' });
      // rr_high by PCD-05 from the alarm manager, spo2_low by the webhook's callback.
      for (const code of ['rr_high', 'spo2_low']) {
        const item = page.locator(`#p-alarms .alarm-item[data-code="${code}"]`);
        await item.waitFor({ timeout: 15_000 });
        await expect.poll(() => item.getAttribute('data-state')).toBe('acknowledged');
        expect(await item.locator('[data-afield="meta"]').textContent()).toContain(
          'acknowledged by nurse.kim',
        );
      }
      mkdirSync(join(import.meta.dirname, '../../test-results'), { recursive: true });
      await page.screenshot({ path: join(import.meta.dirname, '../../test-results/alarm-manager-ack.png') });
    } finally {
      await browser.close();
    }
    await demo.stop();
    // The webhook's cursor walks the alarm events, not the log: nothing is pending for it.
    const status = JSON.parse((await runCli(['outbound', 'status', '--data', tmp.dir, '--json'])).stdout) as {
      receiver: string;
      pending: number;
      delivered: number;
      deadLetters: number;
    }[];
    expect(status).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ receiver: 'webhook', pending: 0, deadLetters: 0 }),
        expect.objectContaining({ receiver: 'acm', pending: 0, deadLetters: 0 }),
      ]),
    );
    expect(status.find((s) => s.receiver === 'webhook')!.delivered).toBe(received.length);
    expect(status.find((s) => s.receiver === 'acm')!.delivered).toBe(
      new Set(manager!.received.map((m) => m.getSegment('MSH')?.getField(10)?.toString())).size,
    );
    const audit = readFileSync(join(tmp.dir, 'gateway', 'audit.log'), 'utf8');
    expect(audit).toMatch(/"event":"alarm_acknowledged".*"user":"nurse\.kim"/);
    expect(audit.match(/"event":"alarm_acknowledged"[^\n]*"user":"nurse\.kim"/g)).toHaveLength(2);
  }, 180_000);
});
