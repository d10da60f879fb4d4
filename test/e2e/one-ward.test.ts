/**
 * @module test/e2e/one-ward
 * One ward across many gateways (issue 16, the internal live stream): three gateway
 * processes in external-broker mode behind one real Mosquitto (MQTT 5 shared subscription:
 * each frame goes to one gateway), each with its own data dir (own store and log, same KGC,
 * the nurse's account added on each with `vitaltrail users add`), a simulated ward (firmware-sim
 * Fleet, frames kept until the application ack, four of the seven wearables carrying ECG
 * chunks), and a nurse signed in to gateway A's ward in headless Chromium. Every gateway
 * publishes what it accepted on `vt/v1/internal/live/<gatewayId>` and feeds its live hub from
 * the whole stream, so A's page must see every reading of every patient, once, whatever
 * gateway stored it. The page is counted from its own live socket (test/helpers/ward-page:
 * every reading and ECG chunk with the page's clock at arrival):
 * - for every device the `(dev, seq)` the page's live socket received equal the frames stored
 *   across the gateways (countAcrossGateways, the union on `(dev, seq)`), each once, and each
 *   gateway stored a share of them (the test really crosses gateways);
 * - ECG chunks reach the page for every frame that carried one, once, in seq order without
 *   holes up to the kill (after it, the frames B's sessions held come when the devices resend them);
 * - with the ward paused, A's and B's wards show the same patients with the same latest
 *   values (the tiles' text); screenshots of both, and both side by side, are saved in
 *   test-results/ (one-ward-A.png, one-ward-B.png, one-ward-side-by-side.png);
 * - gateway B is SIGKILLed mid-stream: no patient is silent on A's page longer than the
 *   devices' resend delay plus 5 s, and the stores' union still holds every frame the
 *   devices made. A reading B stored and acknowledged in its last moment may die with B
 *   before B published it on the stream (acks go out first: io/ingest): it is in B's store,
 *   not on any page; readings B stored in the last `KILL_TAIL_MS` before the kill are
 *   therefore not required on the page, and counted in the printed figures.
 *
 * Needs the built runner and CLI: `npm run build` (npm test builds first).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Fleet, type FleetDeviceSpec } from '../../firmware-sim/src/fleet.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { type CrossGatewayCount, countAcrossGateways } from '../../gateway/src/io/store/scale-out.js';
import type { Observations } from '../../gateway/src/protocol/frame.js';
import { launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import {
  copyDataDir,
  type GatewayProcess,
  killGateways,
  spawnGatewayRunner,
  storeOf,
} from '../helpers/gateway-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { makeTempDir } from '../helpers/tmp.js';
import {
  installLiveLog,
  type LiveLogEntry,
  readLiveLog,
  signInWard,
  wardTiles,
} from '../helpers/ward-page.js';

const ROOT = join(import.meta.dirname, '../..');
const RESULTS = join(ROOT, 'test-results');
const NURSE = { username: 'nurse.kim', password: 'night-shift-ward-7b' };
/** Seven wearables: not a multiple of the six shared subscribers (3 gateways × 2 lanes), so
 * each device's frames visit every gateway rather than one subscriber each. */
const DEVICES = Array.from({ length: 7 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
const ECG_DEVICES = new Set(DEVICES.filter((_, i) => i % 2 === 0));
const IDS = ['gw-a', 'gw-b', 'gw-c'] as const;
const RATE_HZ = 2;
/** Phase 1: the ward runs, then pauses for the side-by-side comparison. */
const PHASE1_MS = 8000;
/** Phase 2: the ward runs again; gateway B is SIGKILLed `KILL_AFTER_MS` into it. */
const PHASE2_MS = 12_000;
const KILL_AFTER_MS = 4000;
/** The devices' resend delay: a frame with a PUBACK but no application ack is resent after this. */
const ACK_TIMEOUT_MS = 1000;
/** What a patient may be silent on A's page beyond the resend delay (issue 16). */
const SILENCE_MARGIN_MS = 5000;
/** Readings B stored this close before its kill may die with it before reaching the stream. */
const KILL_TAIL_MS = 500;
const VIEWPORT = { width: 1280, height: 800 };
/** The tile values compared with the last frame a device made (whole numbers, shown as sent). */
const VITALS = ['hr', 'spo2', 'rr', 'sbp', 'dbp'] as const;

const keyOf = (dev: string, seq: number) => `${dev}#${seq}`;

/** The union as `dev#seq` keys. */
function unionKeys(count: CrossGatewayCount): Set<string> {
  const out = new Set<string>();
  for (const [dev, seqs] of count.perDevice) for (const s of seqs) out.add(keyOf(dev, s));
  return out;
}

/** `dev#seq` of the frames a store holds (read-only; safe while its gateway runs or after a kill). */
function storedKeys(db: string, acceptedFrom = 0): Set<string> {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const rows = d.prepare('SELECT dev, seq FROM frames WHERE accepted_at >= ?').all(acceptedFrom) as {
      dev: string;
      seq: number;
    }[];
    return new Set(rows.map((r) => keyOf(r.dev, r.seq)));
  } finally {
    d.close();
  }
}

/** Readings in a page's log, in arrival order. */
const readingsOf = (log: readonly LiveLogEntry[]) =>
  log.filter((e): e is LiveLogEntry & { dev: string; seq: number } => e.type === 'reading' && !!e.dev);
const ecgOf = (log: readonly LiveLogEntry[]) =>
  log.filter((e): e is LiveLogEntry & { dev: string; seq: number } => e.type === 'ecg' && !!e.dev);

/**
 * The longest time a device went without a reading on the page within [from, to]: the
 * gaps between its arrivals, from `from` to the first and from the last to `to`.
 */
function longestSilence(log: readonly LiveLogEntry[], dev: string, from: number, to: number): number {
  const times = readingsOf(log)
    .filter((e) => e.dev === dev && e.t >= from && e.t <= to)
    .map((e) => e.t)
    .sort((a, b) => a - b);
  const points = [from, ...times, to];
  let longest = 0;
  for (let i = 1; i < points.length; i++)
    longest = Math.max(longest, (points[i] as number) - (points[i - 1] as number));
  return longest;
}

/** Seqs as short runs for failure messages: [1, 4, 5, 6, 9] → '1 4-6 9'. */
function runs(seqs: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && (seqs[j + 1] as number) === (seqs[j] as number) + 1) j++;
    out.push(j > i ? `${seqs[i]}-${seqs[j]}` : String(seqs[i]));
    i = j + 1;
  }
  return out.join(' ');
}

/** Polls `fn` until true or `ms` passed; false on time-out (the assertions then tell what is missing). */
async function settle(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** True once the page received every one of `want`. */
async function pageHas(page: Page, want: ReadonlySet<string>): Promise<boolean> {
  const got = new Set(readingsOf(await readLiveLog(page)).map((e) => keyOf(e.dev, e.seq)));
  for (const k of want) if (!got.has(k)) return false;
  return true;
}

/** Which gateways stored each of `keys` (by gateway id). */
function storedBy(keys: Iterable<string>, stores: ReadonlyMap<string, Set<string>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) for (const [id, s] of stores) if (s.has(k)) out[id] = (out[id] ?? 0) + 1;
  return out;
}

describe('one ward across three gateways (internal live stream)', () => {
  const tmp = makeTempDir('vt-one-ward-');
  let seed: DataPaths;
  let broker: RunningMosquitto;
  let browser: Browser;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    [seed, broker, browser] = await Promise.all([
      prepareDataDir(join(tmp.dir, 'seed'), DEVICES),
      startMosquitto(tmp.dir),
      launchBrowser(),
    ]);
    const pw = join(tmp.dir, 'nurse-password');
    writeFileSync(pw, `${NURSE.password}\n`, { mode: 0o600 });
    const dirs = IDS.map((id) => copyDataDir(seed.root, tmp.dir, id));
    // Users are per gateway until the shared clinical state exists: the nurse on each.
    const adds = await Promise.all(
      dirs.map((dir) =>
        runCli([
          ...['users', 'add', '--username', NURSE.username, '--role', 'nurse'],
          ...['--password-file', pw, '--no-must-change', '--data', dir],
        ]),
      ),
    );
    for (const a of adds) expect(a.code, a.stderr).toBe(0);
    gateways.push(
      ...(await Promise.all(
        IDS.map((id, i) =>
          // Sessions expire 2 s after a gateway is gone: the broker stops handing the dead
          // gateway's sessions frames; the devices resend what those sessions held.
          spawnGatewayRunner(id, dirs[i] as string, { url: broker.url, lanes: 2, sessionExpiryS: 2 }),
        ),
      )),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await killGateways(gateways);
    await broker?.stop();
    tmp.cleanup();
  });

  test('behavior: a nurse on gateway A sees every reading and ECG chunk of every patient whatever gateway stored it, also when gateway B is SIGKILLed mid-stream', async () => {
    const [gwA, gwB, gwC] = gateways as [GatewayProcess, GatewayProcess, GatewayProcess];
    const pageErrors: string[] = [];
    const openWard = async (g: GatewayProcess): Promise<Page> => {
      const page = await browser.newPage({ viewport: VIEWPORT });
      page.on('pageerror', (err) => pageErrors.push(`${g.id} pageerror: ${err.message}`));
      page.on('console', (msg) => {
        // 401 from /api/me before sign-in is expected; anything else (CSP included) is not.
        if (msg.type() === 'error' && !/401/.test(msg.text())) pageErrors.push(`${g.id}: ${msg.text()}`);
      });
      await installLiveLog(page);
      await signInWard(page, g.http, NURSE);
      await expect.poll(() => page.locator('.tile').count(), { timeout: 15_000 }).toBe(DEVICES.length);
      return page;
    };
    const [pageA, pageB] = await Promise.all([openWard(gwA), openWard(gwB)]);

    // The ward: state files carry each device's chain (seq, prev) from phase 1 into phase 2.
    /** The ECG samples each frame carried, by `dev#seq` (frames without a chunk are absent). */
    const chunkMade = new Map<string, number>();
    const lastObs = new Map<string, Observations>();
    const specs: FleetDeviceSpec[] = DEVICES.map((d) => ({
      devId: d,
      privateKey: deviceKey(seed, d),
      statePath: join(tmp.dir, 'sim', `${d}.json`),
      ecg: ECG_DEVICES.has(d),
    }));
    mkdirSync(join(tmp.dir, 'sim'), { recursive: true });
    const runWard = async (durationMs: number, during?: () => Promise<void>) => {
      const fleet = await Fleet.start({
        url: broker.url,
        devices: specs,
        rateHz: RATE_HZ,
        durationMs,
        appAcks: true,
        ackTimeoutMs: ACK_TIMEOUT_MS,
        clientOptions: { protocolVersion: 5 },
        // Which frames carry an ECG chunk is the device's to say: not a run's first (no time
        // since a previous frame), nor one made in the same millisecond as the one before
        // (the fleet catching up in a burst after its timer was late on a loaded machine).
        onReading: (r) => {
          lastObs.set(r.devId, r.obs);
          if (r.ecgSamples !== undefined) chunkMade.set(keyOf(r.devId, r.seq), r.ecgSamples);
        },
      });
      const start = Date.now();
      await Promise.all([fleet.finished, during?.()]);
      const end = Date.now();
      await settle(async () => fleet.stats().inOutbox === 0, 30_000);
      const stats = await fleet.stop();
      expect(stats).toMatchObject({ inOutbox: 0, rejected: {}, dropped: 0 });
      return { start, end, stats };
    };
    const storeDbs = () => gateways.map(storeOf);

    // Phase 1: the ward runs, then pauses; both nurses' wards must show the same.
    const phase1 = await runWard(PHASE1_MS);
    const lastObs1 = new Map(lastObs);
    const union1 = countAcrossGateways(storeDbs());
    expect(union1.distinct).toBe(phase1.stats.made);
    const settled1 = await settle(
      async () => (await pageHas(pageA, unionKeys(union1))) && (await pageHas(pageB, unionKeys(union1))),
      5000,
    );
    await pageA.waitForTimeout(500); // readings are drawn at the next animation frame
    const [tilesA, tilesB] = await Promise.all([wardTiles(pageA), wardTiles(pageB)]);
    mkdirSync(RESULTS, { recursive: true });
    const [pngA, pngB] = await Promise.all([
      pageA.screenshot({ path: join(RESULTS, 'one-ward-A.png') }),
      pageB.screenshot({ path: join(RESULTS, 'one-ward-B.png') }),
    ]);
    await sideBySide(browser, pngA, pngB, join(RESULTS, 'one-ward-side-by-side.png'));
    await pageB.close(); // B is killed next; its page would only reconnect in vain

    // Phase 2: the ward runs again; gateway B is SIGKILLed mid-stream.
    let killAt = 0;
    const phase2 = await runWard(PHASE2_MS, async () => {
      await new Promise((r) => setTimeout(r, KILL_AFTER_MS));
      killAt = Date.now();
      gwB.child.kill('SIGKILL');
      expect(await gwB.exited).toBe(null);
    });
    const made = phase1.stats.made + phase2.stats.made;
    const perDevice = made / DEVICES.length;
    const union = countAcrossGateways(storeDbs());
    const stores = new Map(gateways.map((g) => [g.id, storedKeys(storeOf(g))] as const));
    // Readings B stored just before its kill: maybe acknowledged but never on the stream.
    const killTail = storedKeys(storeOf(gwB), killAt - KILL_TAIL_MS);
    for (const [id, s] of stores) if (id !== gwB.id) for (const k of s) killTail.delete(k);
    const all = unionKeys(union);
    const required = new Set([...all].filter((k) => !killTail.has(k)));
    const settled2 = await settle(() => pageHas(pageA, required), 10_000);
    await pageA.waitForTimeout(300); // duplicates still on their way would show now
    const logA = await readLiveLog(pageA);

    // What A's page received against what the gateways stored, per device: the frames it
    // lacks (and which gateways stored them), the ones it got twice, the ones nobody stored.
    const readings = readingsOf(logA);
    const ecg = ecgOf(logA);
    const seqsOf = (keys: Iterable<string>, d: string) =>
      [...keys]
        .filter((k) => k.startsWith(`${d}#`))
        .map((k) => Number(k.slice(d.length + 1)))
        .sort((a, b) => a - b);
    const readingProblems: Record<string, object> = {};
    const ecgProblems: Record<string, object> = {};
    const silence: Record<string, { phase1: number; phase2: number }> = {};
    for (const d of DEVICES) {
      const mine = readings.filter((e) => e.dev === d);
      const have = new Set(mine.map((e) => keyOf(d, e.seq)));
      const missing = seqsOf(required, d).filter((s) => !have.has(keyOf(d, s)));
      const twice = mine.length - have.size;
      const unknown = seqsOf(have, d).filter((s) => !all.has(keyOf(d, s)));
      if (missing.length + twice + unknown.length > 0) {
        const by = storedBy(
          missing.map((s) => keyOf(d, s)),
          stores,
        );
        readingProblems[d] = { missing: runs(missing), missingStoredBy: by, twice, unknown: runs(unknown) };
      }
      silence[d] = {
        phase1: longestSilence(logA, d, phase1.start, phase1.end),
        phase2: longestSilence(logA, d, phase2.start, phase2.end),
      };
      // ECG: every chunk a stored frame carried, with its samples; each once, and the
      // strip's feed in seq order without holes until the kill (after it, the frames B's
      // sessions held come late, when the devices resend them).
      const chunks = ecg.filter((e) => e.dev === d);
      if (!ECG_DEVICES.has(d)) {
        if (chunks.length > 0) ecgProblems[d] = { unexpected: chunks.length };
        continue;
      }
      const expected = seqsOf(required, d).filter((s) => chunkMade.has(keyOf(d, s)));
      // Only the two runs' first frames, and any a late timer made in a burst, go without.
      expect(expected.length, `${d}: its frames carried ECG chunks`).toBeGreaterThan(perDevice / 2);
      const arrived = chunks.map((e) => e.seq).filter((s) => !killTail.has(keyOf(d, s)));
      const beforeKill = chunks
        .filter((e) => e.t < killAt && !killTail.has(keyOf(d, e.seq)))
        .map((e) => e.seq);
      const inOrder = beforeKill.length > 0 && beforeKill.every((s, i) => s === expected[i]);
      const sorted = [...arrived].sort((a, b) => a - b);
      if (!inOrder || sorted.join() !== expected.join()) {
        ecgProblems[d] = {
          missing: runs(expected.filter((s) => !arrived.includes(s))),
          twice: arrived.length - new Set(arrived).size,
          beforeKillInArrivalOrder: beforeKill.join(' '),
        };
      }
      const wrongSize = chunks.filter((e) => e.n !== chunkMade.get(keyOf(d, e.seq))).map((e) => e.seq);
      expect(wrongSize, `${d}: each ECG chunk on the page has the samples its frame carried`).toEqual([]);
    }
    const missingAll = [...required].filter((k) => !readings.some((e) => keyOf(e.dev, e.seq) === k));
    const figures = {
      made,
      framesPerGateway: Object.fromEntries(union.perGateway.map((g, i) => [gateways[i]?.id, g.frames])),
      framesPerGatewayBeforeKill: Object.fromEntries(
        union1.perGateway.map((g, i) => [gateways[i]?.id, g.frames]),
      ),
      distinct: union.distinct,
      duplicatesAcrossGateways: union.duplicates,
      pageA: { readings: readings.length, ecg: ecg.length, settled: settled1 && settled2 },
      ecgChunksMade: chunkMade.size,
      missingOnPageA: missingAll.length,
      missingOnPageAStoredBy: storedBy(missingAll, stores),
      killTail: {
        storedOnlyByB: killTail.size,
        notOnPage: [...killTail].filter((k) => !readings.some((e) => keyOf(e.dev, e.seq) === k)).length,
      },
      longestSilenceMs: silence,
    };
    process.stdout.write(`one-ward figures: ${JSON.stringify(figures)}\n`);

    // The rig: every frame made is stored at least once across the gateways (B's kill
    // included), once per (dev, seq), and every gateway stored a share before the kill.
    expect(perDevice).toBe(((PHASE1_MS + PHASE2_MS) * RATE_HZ) / 1000);
    expect(union.distinct).toBe(made);
    expect(union.conflicts).toBe(0);
    for (const d of DEVICES)
      expect(seqsOf(all, d), d).toEqual(Array.from({ length: perDevice }, (_, k) => k + 1));
    for (const [i, g] of union1.perGateway.entries())
      expect(g.frames, `${gateways[i]?.id} stored a share`).toBeGreaterThan(0);
    expect(union.perGateway[2]?.frames, 'gw-c stored more after the kill').toBeGreaterThan(
      union1.perGateway[2]?.frames ?? 0,
    );
    expect(pageErrors).toEqual([]);

    // What the internal live stream makes of it (soft: every difference is reported).
    expect.soft(readingProblems, "A's page: every reading stored across the gateways, each once").toEqual({});
    expect.soft(ecgProblems, "A's page: every ECG chunk, once, in seq order without holes").toEqual({});
    // The paused ward: A and B show the same patients with the same latest values, the
    // values of the last frame each device made.
    expect(Object.keys(tilesA).sort()).toEqual(DEVICES);
    const shown = (tiles: typeof tilesA) =>
      Object.fromEntries(DEVICES.map((d) => [d, VITALS.map((k) => tiles[d]?.[k])]));
    const latest = Object.fromEntries(
      DEVICES.map((d) => [d, VITALS.map((k) => String(lastObs1.get(d)?.[k]))]),
    );
    expect.soft({ A: shown(tilesA), B: shown(tilesB) }, 'the paused wards show the last frames').toEqual({
      A: latest,
      B: latest,
    });
    expect.soft(tilesB, "B's ward = A's ward (every tile's text) with the ward paused").toEqual(tilesA);
    // B's kill: no patient silent on A's page beyond the resend delay + 5 s.
    const bound = ACK_TIMEOUT_MS + SILENCE_MARGIN_MS;
    const silent = Object.fromEntries(
      Object.entries(silence).filter(([, s]) => Math.max(s.phase1, s.phase2) > bound),
    );
    expect.soft(silent, `patients silent on A's page for more than ${bound} ms`).toEqual({});

    for (const g of [gwA, gwC]) g.child.kill('SIGTERM');
    for (const g of [gwA, gwC]) expect(await g.exited).toBe(0);
    await pageA.close();
  }, 180_000);
});

/** Both screenshots in one picture, captioned, rendered by the browser (no image library). */
async function sideBySide(browser: Browser, a: Buffer, b: Buffer, path: string): Promise<void> {
  const page = await browser.newPage({
    viewport: { width: VIEWPORT.width * 2 + 24, height: VIEWPORT.height + 40 },
  });
  const img = (png: Buffer, caption: string) =>
    `<figure><figcaption>${caption}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`;
  await page.setContent(
    `<!doctype html><html><head><style>
      body { margin: 0; background: #111; color: #ddd; font: 14px sans-serif; display: flex; gap: 8px; padding: 0 8px; }
      figure { margin: 0; } figcaption { padding: 10px 0; } img { display: block; }
    </style></head><body>${img(a, 'Gateway A · nurse.kim')}${img(b, 'Gateway B · nurse.kim')}</body></html>`,
  );
  await page.waitForFunction(() =>
    Array.from(document.images).every((i) => i.complete && i.naturalWidth > 0),
  );
  await page.screenshot({ path, fullPage: true });
  await page.close();
}
