/**
 * @module test/integration/care-downloads
 * The care downloads under load (io/http/routes/care/care-export-routes, since 2026-12-06), on a
 * gateway started in this process (no ledger: a patient's own downloads need none), real
 * HTTP and real sockets, a real `curl` in another process:
 * - a long FHIR export is made in slices of the event loop's time. Before, the route built the
 *   whole Bundle and stringified it in one go (a 6-hour export of one 1 Hz device, 178 MB,
 *   held the loop 2.0 s; no frame was acknowledged meanwhile). A stream's backpressure does
 *   not help against a client that reads as fast as it is sent, so the test's client is a
 *   `curl` in its own process, and the test measures, in the gateway's process, the longest
 *   wait of a 1 ms timer against the download's whole time;
 * - downloads made at once are bounded (`http.downloads`, here 1; one per user): another is
 *   refused with 503 `export_busy` and `Retry-After`, and the slot of a client that went
 *   away, or whose answer was sent, is given back. Before, nothing bounded them (ten 6-hour
 *   exports held the demo's event loop 9.6 s and took its RSS from 282 to 591 MB).
 */
import { execFile } from 'node:child_process';
import { get, type IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { CARE_PW, H, pseudonymIn } from '../helpers/care-rig.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { call, errorCode } from '../helpers/http-client.js';
import { loopStalls } from '../helpers/loop-stalls.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const BIG = 'wr-0001';
const SMALL = 'wr-0002';
/** Readings of the big export: with six vitals, ~8 KB of FHIR JSON each (~30 MB in all). */
const READINGS = 3600;
const VITALS = { hr: 72, spo2: 97, rr: 16, temp: 3690, sbp: 120, dbp: 80 };

describe('care downloads: made in slices, and bounded', () => {
  const tmp = makeTempDir('vt-care-downloads-');
  let gw: RunningGateway;
  const cookies: Record<string, string> = {};
  const pseudonyms: Record<string, string> = {};
  let from = 0;
  let to = 0;

  const fhirUrl = (who: string) => `/api/care/patients/${pseudonyms[who]}/fhir?from=${from}&to=${to}`;
  /** A download that stops reading once its answer's head arrived (a laptop gone to sleep). */
  const stalled = (who: string, path: string) =>
    new Promise<{ res: IncomingMessage; stop: () => void }>((resolve, reject) => {
      const req = get(`${gw.http.url}${path}`, { headers: { cookie: cookies[who] as string } }, (res) => {
        res.pause();
        resolve({ res, stop: () => req.destroy() });
      });
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
    });

  beforeAll(async () => {
    const paths = await prepareDataDir(tmp.dir, [BIG, SMALL]);
    const users = new UserFile(paths.users);
    await users.add('cn', 'charge_nurse', CARE_PW);
    for (const [who, patientId] of [
      ['pat-1', 'P-0001'],
      ['pat-2', 'P-0002'],
    ] as const) {
      pseudonyms[who] = pseudonymIn(paths, patientId);
      await users.add(who, 'patient', CARE_PW, { subject: pseudonyms[who] });
    }
    gw = (await startGateway({
      dataDir: paths.root,
      logger: silentLogger,
      mqtt: { port: 0 },
      http: { port: 0, downloads: 1 },
    })) as RunningGateway;
    for (const username of ['cn', 'pat-1', 'pat-2']) {
      const r = await call(gw.http.url, 'POST', '/api/login', undefined, { username, password: CARE_PW });
      expect(r.status).toBe(200);
      cookies[username] = r.cookie as string;
    }
    for (const [dev, patientId, bed] of [
      [BIG, 'P-0001', 'Bed 1'],
      [SMALL, 'P-0002', 'Bed 2'],
    ] as const) {
      const r = await call(gw.http.url, 'POST', '/api/admissions', cookies.cn, { dev, patientId, bed });
      expect(r.status).toBe(201);
      from = Math.max(from, r.body.since as number);
    }
    // Frames 40 ms apart from the admissions on: within the gateway's 5-minute clock skew.
    from += 1;
    const chains = [BIG, SMALL].map((dev) => new FrameChain(dev, deviceKey(paths, dev)));
    for (let i = 0; i < READINGS; i += 200) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < i + 200; j++) {
        const big = chains[0] as FrameChain;
        batch.push(gw.ingest.submit(big.next({ ts: from + j * 40 }, VITALS), BIG));
      }
      const small = chains[1] as FrameChain;
      batch.push(gw.ingest.submit(small.next({ ts: from + i * 40 }, { hr: 60, spo2: 99 }), SMALL));
      for (const r of await Promise.all(batch)) expect(r).toMatchObject({ status: 'accepted' });
    }
    to = from + READINGS * 40;
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
    tmp.cleanup();
  });

  it('behavior: a long FHIR export is made in slices of the event loop, not in one turn', async () => {
    const {
      out,
      longestMs: longest,
      ms: took,
    } = await loopStalls(
      () =>
        run(
          'curl',
          [
            '-s',
            '-o',
            '-',
            '-w',
            '\n%{http_code}',
            '-H',
            `cookie: ${cookies['pat-1']}`,
            `${gw.http.url}${fhirUrl('pat-1')}`,
          ],
          { maxBuffer: 256 * 1024 * 1024 },
        ),
      0,
    );
    const cut = out.stdout.lastIndexOf('\n');
    expect(out.stdout.slice(cut + 1)).toBe('200');
    const body = out.stdout.slice(0, cut);
    expect(body.length).toBeGreaterThan(20 * 1024 * 1024);
    // The whole Bundle, as it was made: every reading's five Observations.
    const bundle = JSON.parse(body) as { entry: { resource: { resourceType: string } }[] };
    const count = (t: string) => bundle.entry.filter((e) => e.resource.resourceType === t).length;
    expect(count('Observation')).toBe(READINGS * 5);
    expect(count('Provenance')).toBe(READINGS * 5);
    // Made in one go, the export's one turn was most of the download's time (~80 % here);
    // in slices of 10 ms, every wait of the timer is a small part of it.
    expect(longest, `longest wait ${longest.toFixed(0)} ms of ${took.toFixed(0)} ms`).toBeLessThan(took / 4);
  }, 60_000);

  it('behavior: downloads beyond the bound are refused 503 export_busy, and a slot comes back when its client goes', async () => {
    const first = await stalled('pat-1', fhirUrl('pat-1'));
    expect(first.res.statusCode).toBe(200);
    // The same user again (the per-user bound), and another user (the gateway's bound of 1).
    for (const [who, what] of [
      ['pat-1', 'ecg'],
      ['pat-2', 'fhir'],
    ] as const) {
      const res = await fetch(
        `${gw.http.url}/api/care/patients/${pseudonyms[who]}/${what}?from=${from}&to=${to}`,
        { headers: { cookie: cookies[who] as string } },
      );
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(errorCode({ status: res.status, body: (await res.json()) as never, cookie: undefined })).toBe(
        'export_busy',
      );
    }
    // The stalled client goes away: its slot is given back.
    first.stop();
    let second = await call(gw.http.url, 'GET', fhirUrl('pat-2'), cookies['pat-2']);
    const deadline = Date.now() + 10_000;
    while (second.status === 503 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      second = await call(gw.http.url, 'GET', fhirUrl('pat-2'), cookies['pat-2']);
    }
    expect(second.status).toBe(200);
    expect(second.body.resourceType).toBe('Bundle');
    // …and the slot of a download sent whole is given back too: pat-1's next one is made.
    const third = await call(
      gw.http.url,
      'GET',
      `/api/care/patients/${pseudonyms['pat-1']}/ecg?from=${from}&to=${from + H / 2}`,
      cookies['pat-1'],
    );
    expect(third.status).toBe(200);
  }, 60_000);
});
