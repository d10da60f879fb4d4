/**
 * @module test/integration/outbound-metrics
 * The delivery state of the outbound interfaces in `/metrics` (issue 19: "visible in /metrics
 * and in `vitaltrail outbound status` (pending, oldest age, last error)"), read from the
 * store at scrape time by io/interfaces `deliveryStatus`, the same function `outbound status`
 * prints:
 * - a real sealed store with a reading receiver's cursor (walking the log) and the alarm
 *   webhook's (walking the recorded alarm transitions) gives the right series, parsed back
 *   from the exposition text, and the same numbers as `outbound status`;
 * - a real gateway started in-process with an MLLP receiver (@medplum/hl7's server) serves
 *   them on `/metrics` and they follow the delivery: delivered, then pending with an oldest
 *   age and failures while the receiver is down, then drained; a cursor the store keeps of a
 *   receiver it no longer runs has no series.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { outboundStatus } from '../../gateway/src/cli/outbound.js';
import { AlarmStore } from '../../gateway/src/io/clinical/alarm-store.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { deliveryStatus } from '../../gateway/src/io/interfaces/delivery-status.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { GatewayMetrics } from '../../gateway/src/io/ops/metrics.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { startHl7Server } from '../helpers/hl7-server.js';
import { recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);

/** The exposition text parsed back: samples by `name{labels}` (as written), and each family's TYPE. */
function parseExposition(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    expect(samples.has(m[1]!), `${m[1]} once`).toBe(false);
    samples.set(m[1]!, Number(m[2]));
  }
  return { samples, types };
}

/** The `vitaltrail_outbound_*` samples of one receiver, by series name without the prefix. */
function outboundOf(samples: Map<string, number>, receiver: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of samples) {
    const m = /^vitaltrail_outbound_([a-z_]+)\{receiver="([^"]*)"\}$/.exec(k);
    if (m && m[2] === receiver) out[m[1]!] = v;
  }
  return out;
}

describe('outbound delivery state in /metrics', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test('behavior: a log cursor and an alarm cursor become per-receiver series, the numbers of `outbound status`', async () => {
    const tmp = makeTempDir('vt-outmetrics-');
    cleanups.push(() => tmp.cleanup());
    let now = T0;
    const r = sealedRig(tmp.dir, [recipientPair('care', 'ec').recipient], { now: () => now });
    cleanups.push(() => r.store.close());
    const dev = r.device('wr-a');
    for (let i = 0; i < 6; i++) {
      now += 1000; // leaf i accepted at T0 + (i + 1) s
      await r.ingest.submit(dev.next({ ts: now }, { hr: 60 + i }), 'wr-a');
    }
    const alarms = new AlarmStore(r.store);
    for (let i = 0; i < 4; i++) {
      alarms.addEvent({
        alarmId: `a-${i}`,
        scope: 'wr-a',
        dev: 'wr-a',
        code: 'hr_high',
        kind: 'physiological',
        event: 'raised',
        priority: 'medium',
        at: T0 + 20_000 + i * 1000, // event i + 1 at T0 + 20 s + i s
        by: null,
        comment: null,
      });
    }
    const state = new DeliveryState(r.store);
    // The MLLP receiver: 2 readings delivered, the third refused, then down twice.
    state.cursor('mllp', 0, 'log');
    state.advance('mllp', 2, 2, T0 + 30_000);
    state.deadLetter('mllp', 'wr-a:3', 2, 'AR', T0 + 31_000);
    state.fail('mllp', 'receiver_unavailable: connection refused', T0 + 32_000);
    state.fail('mllp', 'receiver_unavailable: connection refused', T0 + 33_000);
    // The webhook: events 1 and 2 delivered; 3 and 4 wait.
    state.cursor('webhook', 1, 'alarms');
    state.advance('webhook', 3, 2, T0 + 40_000);
    // A FHIR receiver that started at the end of the log and has sent nothing yet.
    state.cursor('fhir', r.store.size, 'log');

    const scrapeAt = T0 + 60_500;
    const metrics = new GatewayMetrics({
      store: r.store,
      dbPath: join(tmp.dir, 'gateway', 'gateway.db'),
      connectedDevices: () => 0,
      ready: () => true,
      outbound: () => deliveryStatus(r.store, scrapeAt),
    });
    const { samples, types } = parseExposition(await metrics.render());

    expect(outboundOf(samples, 'mllp')).toEqual({
      pending: 3, // leaves 3, 4, 5
      oldest_pending_seconds: 57, // leaf 3, accepted at T0 + 4 s
      delivered_total: 2,
      consecutive_failures: 2,
      dead_letters: 1,
      last_success_timestamp_seconds: (T0 + 30_000) / 1000,
    });
    expect(outboundOf(samples, 'webhook')).toEqual({
      pending: 2, // alarm events 3 and 4
      oldest_pending_seconds: 39, // event 3, at T0 + 22 s (38.5 s, rounded)
      delivered_total: 2,
      consecutive_failures: 0,
      dead_letters: 0,
      last_success_timestamp_seconds: (T0 + 40_000) / 1000,
    });
    // Unknown values are left out, not written as 0: nothing waits, nothing was delivered yet.
    expect(outboundOf(samples, 'fhir')).toEqual({
      pending: 0,
      delivered_total: 0,
      consecutive_failures: 0,
      dead_letters: 0,
    });
    expect(Object.fromEntries([...types].filter(([k]) => k.startsWith('vitaltrail_outbound_')))).toEqual({
      vitaltrail_outbound_pending: 'gauge',
      vitaltrail_outbound_oldest_pending_seconds: 'gauge',
      vitaltrail_outbound_delivered_total: 'counter',
      vitaltrail_outbound_consecutive_failures: 'gauge',
      vitaltrail_outbound_dead_letters: 'gauge',
      vitaltrail_outbound_last_success_timestamp_seconds: 'gauge',
    });

    // `outbound status` prints the same state (times in ISO 8601), receivers in name order.
    const status = await outboundStatus(tmp.dir, scrapeAt);
    expect(status.map((s) => s.receiver)).toEqual(['fhir', 'mllp', 'webhook']);
    expect(status[1]).toEqual({
      receiver: 'mllp',
      pending: 3,
      oldestPendingSeconds: 57,
      delivered: 2,
      lastOkAt: new Date(T0 + 30_000).toISOString(),
      lastError: 'receiver_unavailable: connection refused',
      lastErrorAt: new Date(T0 + 33_000).toISOString(),
      failures: 2,
      deadLetters: 1,
    });
    expect(Object.keys(status[1]!)).toEqual([
      'receiver',
      'pending',
      'oldestPendingSeconds',
      'delivered',
      'lastOkAt',
      'lastError',
      'lastErrorAt',
      'failures',
      'deadLetters',
    ]);

    // Without an outbound source (a gateway without outbound interfaces): no series at all.
    const bare = await new GatewayMetrics({
      store: r.store,
      dbPath: '',
      connectedDevices: () => 0,
      ready: () => true,
    }).render();
    expect(bare).not.toMatch(/^vitaltrail_outbound_/m);
  });

  test("behavior: a running gateway serves its MLLP receiver's series on /metrics, following an outage", async () => {
    const tmp = makeTempDir('vt-outmetrics-gw-');
    cleanups.push(() => tmp.cleanup());
    const paths = await prepareDataDir(tmp.dir, ['wr-0001']);
    // A receiver an earlier configuration ran: its cursor stays in the store (and in
    // `outbound status`), but this gateway does not run it, so /metrics has no series of it.
    const before = openStore(paths.db);
    new DeliveryState(before).cursor('old-fhir', 0, 'log');
    before.close();
    let hl7 = await startHl7Server(() => 'CA');
    const port = hl7.port;
    cleanups.push(() => hl7.stop());
    const gw = (await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0 },
      outbound: { mllp: { host: '127.0.0.1', port }, pollMs: 50 },
    })) as RunningGateway;
    cleanups.push(() => gw.stop());
    const chain = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
    const scrape = async () => {
      const res = await fetch(`${gw.http.url}/metrics`);
      expect(res.status).toBe(200);
      const { samples } = parseExposition(await res.text());
      expect(outboundOf(samples, 'old-fhir')).toEqual({});
      return outboundOf(samples, 'mllp');
    };
    const until = async (ok: (m: Record<string, number>) => boolean, what: string) => {
      const end = Date.now() + 8000;
      for (;;) {
        const m = await scrape();
        if (ok(m)) return m;
        if (Date.now() > end) throw new Error(`timed out: ${what} (last: ${JSON.stringify(m)})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // Started, nothing accepted yet: the receiver is there, with nothing pending or delivered.
    expect(await scrape()).toEqual({
      pending: 0,
      delivered_total: 0,
      consecutive_failures: 0,
      dead_letters: 0,
    });

    for (let i = 0; i < 3; i++) await gw.ingest.submit(chain.next(), 'wr-0001');
    const t0 = Date.now();
    const delivered = await until((m) => m.delivered_total === 3, '3 delivered');
    expect(hl7.received).toHaveLength(3);
    expect(delivered).toMatchObject({ pending: 0, consecutive_failures: 0, dead_letters: 0 });
    expect(delivered.oldest_pending_seconds).toBeUndefined();
    expect(delivered.last_success_timestamp_seconds! * 1000).toBeGreaterThanOrEqual(t0 - 1000);
    expect(delivered.last_success_timestamp_seconds! * 1000).toBeLessThanOrEqual(Date.now());

    // The receiver goes down: two readings wait, the failures count, the oldest has an age.
    await hl7.stop();
    for (let i = 0; i < 2; i++) await gw.ingest.submit(chain.next(), 'wr-0001');
    const down = await until(
      (m) => (m.consecutive_failures ?? 0) >= 1 && m.pending === 2,
      'pending while down',
    );
    expect(down).toMatchObject({ delivered_total: 3, dead_letters: 0 });
    expect(down.oldest_pending_seconds).toBeGreaterThanOrEqual(0);
    expect(down.oldest_pending_seconds).toBeLessThan(10);

    // Back on the same port: drained after the backoff, the failures reset.
    hl7 = await startHl7Server(() => 'CA', port);
    const back = await until((m) => m.delivered_total === 5, 'drained after the outage');
    expect(back).toMatchObject({ pending: 0, consecutive_failures: 0 });
    expect(back.oldest_pending_seconds).toBeUndefined();
    expect(hl7.received).toHaveLength(2);
  });
});
