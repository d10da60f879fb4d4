/**
 * @module test/integration/outbound-replay
 * Issue 19, dead letters sent again: a gateway started in-process sends a wearable's readings
 * to a real MLLP listener (@medplum/hl7's server) and a real FHIR R4 server
 * (@medplum/fhir-router, validating), and its alarm transitions to a webhook that checks the
 * HMAC itself (node:crypto). Each receiver refuses one message (ACK AE; HTTP 400 on one
 * Observation identifier; HTTP 422 on the raised alarm): each becomes a dead letter and the
 * cursors go on. The built CLI, in its own process beside the running gateway, lists them
 * (`outbound dead-letters`) and replays them (`outbound replay`): a replay the receiver
 * still refuses stays a dead letter with the new error; once the receiver is fixed the
 * replay reaches it exactly once, with its original identifier (MSH-10, the Observation
 * identifier, the webhook delivery id); a replay asked for while the gateway is stopped goes
 * out when it starts again. `outbound status` then counts no dead letter, and the replayed
 * rows are kept, marked. Needs `npm run build`.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, test } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { OutboundOptions } from '../../gateway/src/app/options.js';
import { outboundStatus } from '../../gateway/src/cli/outbound.js';
import type { DeadLetterLine } from '../../gateway/src/cli/outbound-dead-letters.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { runCli } from '../helpers/cli.js';
import { type FhirTestServer, startFhirServer } from '../helpers/fhir-server.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { startHl7Server, type TestHl7Server } from '../helpers/hl7-server.js';
import { makeTempDir } from '../helpers/tmp.js';

const SECRET = 'replay-test-webhook-secret-7b';
const DEV = 'wr-0001';

interface Hook {
  delivery: string;
  id: string;
  event: string;
  code: string;
  status: number;
}

async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

describe('outbound dead letters: listed and replayed beside a running gateway', () => {
  const tmp = makeTempDir('vt-replay-');
  let gw: RunningGateway | undefined;
  let mllp: TestHl7Server | undefined;
  let fhir: FhirTestServer | undefined;
  let hook: Server | undefined;
  afterAll(async () => {
    await gw?.stop();
    await mllp?.stop();
    await fhir?.stop();
    await new Promise((r) => hook?.close(r));
    tmp.cleanup();
  });

  test('behavior: refused messages become dead letters; replayed once fixed, once each, same identifiers; status back to 0', async () => {
    const paths = await prepareDataDir(tmp.dir, [DEV]);
    // The receivers, each refusing one message until it is "fixed".
    const refuseMsh10 = new Set([`${DEV}:2`]);
    mllp = await startHl7Server((_i, m) =>
      refuseMsh10.has(m.getSegment('MSH')?.getField(10)?.toString() ?? '') ? 'AE' : 'CA',
    );
    fhir = await startFhirServer();
    fhir.rejectIdentifiers.add(`${DEV}:3:hr`);
    let refuseRaised = true;
    const hooks: Hook[] = [];
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const ts = String(req.headers['x-vitaltrail-timestamp']);
        const mac = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${raw}`).digest('hex')}`;
        if (req.headers['x-vitaltrail-signature'] !== mac) {
          res.writeHead(401).end();
          return;
        }
        const body = JSON.parse(raw) as { id: string; event: string; code: string };
        const status = refuseRaised && body.event === 'raised' ? 422 : 204;
        hooks.push({ delivery: String(req.headers['x-vitaltrail-delivery']), ...body, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', r));
    const outbound: OutboundOptions = {
      mllp: { host: '127.0.0.1', port: mllp.port },
      fhir: { url: fhir.baseUrl },
      webhook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alarms`, secret: SECRET },
      pollMs: 50,
    };
    const start = async () =>
      (await startGateway({
        dataDir: tmp.dir,
        logger: silentLogger,
        mqtt: { port: 0 },
        http: { port: 0 },
        outbound,
      })) as RunningGateway;
    gw = await start();

    // Five readings; the fourth's SpO2 (85 %) raises spo2_low at once (no averaging, no delay).
    gw.alarms.updateSettings(
      DEV,
      { policies: { spo2: { averageSeconds: 0, delaySeconds: 0 } } },
      'charge.lee',
    );
    const chain = new FrameChain(DEV, deviceKey(paths, DEV));
    for (let i = 1; i <= 5; i++)
      await gw.ingest.submit(chain.next({}, { hr: 70 + i, spo2: i === 4 ? 85 : 98 }), DEV);

    // Each receiver refused one message: a dead letter each, and nothing pending behind it.
    const byReceiver = async () => new Map((await outboundStatus(tmp.dir)).map((s) => [s.receiver, s]));
    await until('every cursor past its refusal', async () => {
      const s = await byReceiver();
      return ['mllp', 'fhir', 'webhook'].every((r) => s.get(r)?.pending === 0 && s.get(r)?.deadLetters === 1);
    });
    const refusedHook = hooks.find((h) => h.status === 422)!;
    expect(refusedHook).toMatchObject({ event: 'raised', code: 'spo2_low' });
    expect(refusedHook.delivery).toBe(refusedHook.id);

    const cli = (...args: string[]) => runCli(['outbound', ...args, '--data', tmp.dir]);
    const listed = await cli('dead-letters', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const dead = JSON.parse(listed.stdout) as DeadLetterLine[];
    expect(dead.map((d) => [d.receiver, d.item, d.state, d.code, d.attempts])).toEqual(
      expect.arrayContaining([
        ['mllp', `${DEV}:2`, 'dead', 'receiver_rejected', 1],
        ['fhir', `${DEV}:3`, 'dead', 'receiver_rejected', 1],
        ['webhook', refusedHook.id, 'dead', 'receiver_rejected', 1],
      ]),
    );
    expect(dead).toHaveLength(3);
    const idOf = (r: string) => dead.find((d) => d.receiver === r)!.id;
    expect(dead.find((d) => d.receiver === 'mllp')).toMatchObject({
      position: 1,
      lastError: expect.any(String),
    });
    const text = await cli('dead-letters', '--receiver', 'fhir');
    expect(text.stdout).toMatch(new RegExp(`^${idOf('fhir')}\\s+fhir\\s+${DEV}:3\\s+2\\s+dead\\s`, 'm'));
    expect(text.stdout).toMatch(/^1 dead letter\(s\)$/m);

    // Replayed while the listener still refuses it: a dead letter again, with the new error.
    const msh10 = (id: string) =>
      mllp!.received.filter((m) => m.getSegment('MSH')?.getField(10)?.toString() === id).length;
    expect(msh10(`${DEV}:2`)).toBe(1);
    const again = await cli('replay', '--receiver', 'mllp', '--all', '--wait', '20');
    expect(again.code, again.stdout + again.stderr).toBe(1);
    expect(again.stdout).toContain(`replay requested for 1 dead letter(s) of mllp: ${idOf('mllp')}`);
    expect(again.stdout).toMatch(
      new RegExp(`dead letter ${idOf('mllp')} \\(${DEV}:2\\): refused again: receiver_rejected: `),
    );
    expect(msh10(`${DEV}:2`)).toBe(2);
    const still = JSON.parse(
      (await cli('dead-letters', '--receiver', 'mllp', '--json')).stdout,
    ) as DeadLetterLine[];
    expect(still).toEqual([
      expect.objectContaining({ id: idOf('mllp'), state: 'dead', attempts: 2, replayRequestedAt: null }),
    ]);
    expect((await byReceiver()).get('mllp')).toMatchObject({ deadLetters: 1, delivered: 4 });

    // The receivers are fixed: each dead letter goes once, with its original identifier.
    refuseMsh10.clear();
    fhir.rejectIdentifiers.clear();
    refuseRaised = false;
    const mllpOk = await cli('replay', '--receiver', 'mllp', '--id', String(idOf('mllp')), '--wait', '20');
    expect(mllpOk.code, mllpOk.stdout + mllpOk.stderr).toBe(0);
    expect(mllpOk.stdout).toMatch(new RegExp(`dead letter ${idOf('mllp')} \\(${DEV}:2\\): replayed `));
    const fhirOk = await cli('replay', '--receiver', 'fhir', '--all', '--wait', '20', '--json');
    expect(fhirOk.code, fhirOk.stderr).toBe(0);
    expect(JSON.parse(fhirOk.stdout)).toMatchObject({
      receiver: 'fhir',
      requested: [idOf('fhir')],
      gatewayPid: process.pid,
      outcome: [{ id: idOf('fhir'), state: 'replayed', item: `${DEV}:3` }],
    });

    // The webhook's is asked for while the gateway is stopped: it goes out at the next start.
    await gw.stop();
    gw = undefined;
    const queued = await cli('replay', '--receiver', 'webhook', '--all');
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stdout).toContain(
      'no gateway runs on this data directory: they are sent when it starts next',
    );
    expect(hooks.filter((h) => h.id === refusedHook.id)).toHaveLength(1);
    gw = await start();
    await until('the webhook replayed', () => hooks.some((h) => h.id === refusedHook.id && h.status === 204));

    await sleep(500); // a few more polls: nothing is sent twice
    expect(msh10(`${DEV}:2`)).toBe(3); // refused, refused again, replayed
    expect(mllp.received.at(-1)?.getSegment('MSH')?.getField(10)?.toString()).toBe(`${DEV}:2`);
    expect(mllp.received).toHaveLength(7);
    const observations = async (id: string) => {
      const bundle = (await (
        await fetch(`${fhir!.baseUrl}/Observation?identifier=urn:vitaltrail:reading|${id}`)
      ).json()) as {
        entry?: unknown[];
      };
      return bundle.entry?.length ?? 0;
    };
    expect(await observations(`${DEV}:3:hr`)).toBe(1);
    expect(await observations(`${DEV}:3:spo2`)).toBe(1);
    expect(await fhir.count('Observation')).toBe(10); // 5 readings × (hr, spo2), none twice
    const replayedHook = hooks.filter((h) => h.id === refusedHook.id);
    expect(replayedHook.map((h) => [h.delivery, h.status])).toEqual([
      [refusedHook.id, 422],
      [refusedHook.id, 204],
    ]);

    // No dead letter counted; the replayed rows are kept, marked; every cursor at the end.
    for (const r of ['mllp', 'fhir', 'webhook'])
      expect((await byReceiver()).get(r)).toMatchObject({ pending: 0, deadLetters: 0, failures: 0 });
    expect((await byReceiver()).get('mllp')!.delivered).toBe(5);
    expect((await byReceiver()).get('fhir')!.delivered).toBe(5);
    expect((await cli('dead-letters')).stdout).toBe('no dead letter waits for a replay\n');
    const kept = JSON.parse((await cli('dead-letters', '--replayed', '--json')).stdout) as DeadLetterLine[];
    expect(kept.map((d) => [d.receiver, d.state]).sort()).toEqual([
      ['fhir', 'replayed'],
      ['mllp', 'replayed'],
      ['webhook', 'replayed'],
    ]);
    expect(kept.every((d) => d.replayRequestedBy?.startsWith('cli'))).toBe(true);
    const audit = readFileSync(join(tmp.dir, 'gateway', 'audit.log'), 'utf8');
    expect(audit.match(/"event":"outbound_replay_requested"[^\n]*"user":"cli[^"]*"/g)).toHaveLength(4);

    // Replaying a replayed one again changes nothing and sends nothing.
    const twice = await cli('replay', '--receiver', 'mllp', '--id', String(idOf('mllp')));
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain(`dead letter ${idOf('mllp')} was replayed already: left as it is`);
    await sleep(300);
    expect(mllp.received).toHaveLength(7);
  }, 180_000);

  test('error: a replay names a receiver and its own dead letters, or nothing is marked (coded, exit 2)', async () => {
    const cli = (...args: string[]) => runCli(['outbound', ...args]);
    const rows = JSON.parse(
      (await cli('dead-letters', '--replayed', '--json', '--data', tmp.dir)).stdout,
    ) as DeadLetterLine[];
    const mllpId = String(rows.find((d) => d.receiver === 'mllp')!.id);
    const cases: [string[], RegExp][] = [
      [['replay', '--receiver', 'mllp', '--data', tmp.dir], /^error: bad_usage: name the dead letters/],
      [
        ['replay', '--receiver', 'pager', '--all', '--data', tmp.dir],
        /^error: bad_usage: no outbound receiver of this name .*\(it knows fhir, mllp, webhook\)/,
      ],
      [
        ['replay', '--receiver', 'mllp', '--id', 'x1', '--data', tmp.dir],
        /^error: bad_usage: --id takes a whole number/,
      ],
      [
        ['replay', '--receiver', 'mllp', '--id', '999', '--data', tmp.dir],
        /^error: bad_usage: not a dead letter of this receiver: 999 .*nothing was marked/,
      ],
      [
        ['replay', '--receiver', 'fhir', '--id', mllpId, '--data', tmp.dir],
        new RegExp(`^error: bad_usage: not a dead letter of this receiver: ${mllpId} `),
      ],
      [['dead-letters', '--data', join(tmp.dir, 'nope')], /^error: data_dir_missing: /],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(...args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([2, '']);
      expect(r.stderr, args.join(' ')).toMatch(stderr);
    }
  });
});
