/**
 * @module test/e2e/auditor-page
 * The auditor page (issue 6 "an auditor page"; PROTOCOL.md §5) in headless Chromium:
 * for every golden bundle of test/fixtures/bundles, the page's per-entry codes, summary
 * and whole JSON report equal `vitaltrail verify BUNDLE --anchors FILE --json`; the ES256
 * frame signatures are checked with WebCrypto (in a Web Worker) and the page says so;
 * broken and high-S signatures get the CLI's verdicts; the page stays responsive and
 * shows progress while a few thousand entries are verified; the page is served only to
 * auditors and admins. Issue 17: the page shows the CLI's scope line (`#scope`), lists the
 * CLI's gaps (`#gaps`) and device ranges (`#devices`), words the verdict as `--allow-gaps`
 * does when asked, and draws one chart per device (`#charts > figure[data-dev]`, at most 24,
 * one large for a picked device) with each gap as a band. Needs `npm run build` (which
 * builds the verifier bundle).
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub } from '../../gateway/src/core/live.js';
import { auditorRoutes } from '../../gateway/src/io/http/routes/auditor-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { launchBrowser } from '../helpers/browser.js';
import { buildFixture, type Fixture, fixtureDir } from '../helpers/bundle-fixtures.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DIR = fixtureDir();
const KINDS = readdirSync(DIR)
  .filter((f) => f.endsWith('.bundle.json'))
  .map((f) => f.slice(0, -'.bundle.json'.length))
  .sort();
// The built bundle (dist/auditor/verifier.js), wherever this test file is compiled from.
const VERIFIER = join(ROOT, 'dist', 'auditor', 'verifier.js');
const AUDITOR = { username: 'audrey', password: 'correct horse auditor 42' };
const NURSE = { username: 'nina', password: 'correct horse nurse 42' };

/** The order of the P-256 group (FIPS 186-5 / SEC 2): s and n - s both verify. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const to32 = (x: bigint) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex');

/** An r||s signature with s replaced by n - s when needed so that s > n/2 (`high`) or s <= n/2. */
function withS(signature: Uint8Array, high: boolean): Uint8Array {
  const s = toBig(signature.subarray(32, 64));
  const isHigh = s > P256_N / 2n;
  return isHigh === high ? signature : Buffer.concat([signature.subarray(0, 32), to32(P256_N - s)]);
}

/** A signed frame (canonical layout: the 64-byte signature last) with its signature replaced. */
function withSignature(frame: Uint8Array, map: (sig: Uint8Array) => Uint8Array): Uint8Array {
  const out = Uint8Array.from(frame);
  out.set(map(frame.subarray(frame.length - 64)), frame.length - 64);
  return out;
}

/** Flips bit 0 of byte 5 of r: a signature that verifies with no key. */
function brokenR(signature: Uint8Array): Uint8Array {
  const out = Uint8Array.from(signature);
  out[5]! ^= 0x01;
  return out;
}

async function login(base: string, who: { username: string; password: string }): Promise<string> {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(who),
  });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

type Side = { seq: number; ts?: number; shredded?: true };

/** A frame's device-clock time as the page writes it ("shredded" for a shredded frame: no time). */
const iso = (s: Side) => (s.ts === undefined ? (s.shredded ? 'shredded' : '') : new Date(s.ts).toISOString());

type Gap = { dev: string; kind: string; fromSeq: number; toSeq: number; before: Side; after: Side };
type Range = { dev: string; frames: number; start: string; end: string; first?: Side; last?: Side };

/** The `#gaps` rows the page must show for the CLI's gaps: data attributes and cell texts. */
function expectedGapRows(gaps: readonly Gap[]) {
  return gaps.map((g) => ({
    dev: g.dev,
    kind: g.kind,
    fromSeq: String(g.fromSeq),
    toSeq: String(g.toSeq),
    cells: [
      g.dev,
      g.kind === 'missing' ? 'missing' : 'prev mismatch',
      g.kind === 'missing'
        ? `${g.fromSeq}${g.toSeq > g.fromSeq ? `-${g.toSeq}` : ''}`
        : `none; seq ${g.fromSeq} does not chain to the frame before`,
      String(g.before.seq),
      iso(g.before),
      String(g.after.seq),
      iso(g.after),
    ],
  }));
}

/** The `#devices` rows the page must show for the CLI's device ranges (without the end cells' texts). */
function expectedDeviceRows(devices: readonly Range[]) {
  return devices.map((d) => ({
    dev: d.dev,
    start: d.start,
    end: d.end,
    cells: [
      d.dev,
      String(d.frames),
      d.first ? String(d.first.seq) : '',
      d.first ? iso(d.first) : '',
      d.last ? String(d.last.seq) : '',
      d.last ? iso(d.last) : '',
    ],
  }));
}

/** The CLI's JSON report without `allowGaps` (the CLI's flag, echoed; the page has no such option). */
function cliReport(stdout: string) {
  const { allowGaps: _flag, ...report } = JSON.parse(stdout);
  return report;
}

describe('auditor page (headless chromium)', () => {
  const tmp = makeTempDir();
  let srv: HttpServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    expect(existsSync(VERIFIER), 'run: npm run build && node dist/anchor/src/verify/build-browser.js').toBe(
      true,
    );
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(AUDITOR.username, 'auditor', AUDITOR.password);
    await users.add(NURSE.username, 'nurse', NURSE.password);
    [srv, browser] = await Promise.all([
      startHttpServer({
        hub: new LiveHub(),
        users,
        staticDir: join(ROOT, 'dashboards/ward'),
        routes: [auditorRoutes({ verifierFile: VERIFIER })],
      }),
      launchBrowser(),
    ]);
    context = await browser.newContext();
    const res = await context.request.post(`${srv.url}/api/login`, { data: AUDITOR });
    expect(res.status()).toBe(200);
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    await page.goto(`${srv.url}/auditor/`);
    await page.locator('body[data-state="ready"]').waitFor();
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await srv?.close();
    tmp.cleanup();
  });

  async function verifyInPage(bundleFile: string, anchorsFile: string, timeout?: number): Promise<void> {
    await page.evaluate(() => {
      document.body.dataset.state = 'pending';
    });
    await page.setInputFiles('#bundle-file', bundleFile);
    await page.setInputFiles('#anchors-file', anchorsFile);
    await page.click('#verify');
    await page.locator('body[data-state="done"], body[data-state="error"]').waitFor({ timeout });
  }

  /** How the page says the signatures were checked (`#sig-stats`'s data attributes). */
  function signatureStats(): Promise<Record<string, string | undefined>> {
    return page.$eval('#sig-stats', (el) => ({ ...(el as HTMLElement).dataset }));
  }

  /** The page's `#gaps` rows (those of a gap: with data-dev). */
  function pageGapRows() {
    return page.$$eval('#gaps tbody tr[data-dev]', (trs) =>
      trs.map((tr) => {
        const d = (tr as HTMLElement).dataset;
        const cells = Array.from((tr as HTMLTableRowElement).cells).map((c) => c.textContent);
        return { dev: d.dev, kind: d.kind, fromSeq: d.fromSeq, toSeq: d.toSeq, cells };
      }),
    );
  }

  /** The page's `#devices` rows: data attributes, the first six cells, and the open ends' cells. */
  function pageDeviceRows() {
    return page.$$eval('#devices tbody tr[data-dev]', (trs) =>
      trs.map((tr) => {
        const d = (tr as HTMLElement).dataset;
        const cells = Array.from((tr as HTMLTableRowElement).cells).map((c) => c.textContent);
        return { dev: d.dev, start: d.start, end: d.end, cells: cells.slice(0, 6) };
      }),
    );
  }

  /** The chart panels' devices, in page order. */
  function panelDevices() {
    return page.$$eval('#charts figure[data-dev]', (figs) => figs.map((f) => (f as HTMLElement).dataset.dev));
  }

  /** Writes a fixture's bundle and evidence under the test's temp dir. */
  function writeFixture(name: string, f: Fixture): { bundle: string; anchors: string } {
    const paths = {
      bundle: join(tmp.dir, `${name}.bundle.json`),
      anchors: join(tmp.dir, `${name}.anchors.json`),
    };
    writeFileSync(paths.bundle, JSON.stringify(f.bundle));
    writeFileSync(paths.anchors, JSON.stringify(f.evidence));
    return paths;
  }

  /** `vitaltrail verify --anchors --json`'s report, and the page's for the same files. */
  async function cliAndPage(files: { bundle: string; anchors: string }, timeout?: number) {
    const cli = await runCli(['verify', files.bundle, '--anchors', files.anchors, '--json']);
    await verifyInPage(files.bundle, files.anchors, timeout);
    expect(await page.getAttribute('body', 'data-state')).toBe('done');
    return {
      cli: cliReport(cli.stdout),
      cliCode: cli.code,
      page: JSON.parse((await page.textContent('#report-json')) ?? ''),
    };
  }

  it('behavior: every golden bundle gets the same codes, summary and report in the page as from the CLI', async () => {
    expect(KINDS.length).toBeGreaterThanOrEqual(10);
    const args = (kind: string) => [
      'verify',
      join(DIR, `${kind}.bundle.json`),
      '--anchors',
      join(DIR, `${kind}.anchors.json`),
    ];
    const cli = await Promise.all(KINDS.map((kind) => runCli([...args(kind), '--json'])));
    // The human report's first line: what was verified (the page's #scope).
    const human = await Promise.all(KINDS.map((kind) => runCli(args(kind))));
    for (const [i, kind] of KINDS.entries()) {
      const expected = cliReport(cli[i]!.stdout);
      expect(cli[i]!.code, kind).toBe({ VALID: 0, INVALID: 1, INCOMPLETE: 3 }[expected.verdict as string]);
      await verifyInPage(join(DIR, `${kind}.bundle.json`), join(DIR, `${kind}.anchors.json`));
      expect(await page.getAttribute('body', 'data-state'), kind).toBe('done');
      // One of each verdict, for people to look at (test-results/auditor-<kind>.png).
      if (kind === 'valid' || kind === 'incomplete_middle' || kind === 'bad_signature')
        await page.screenshot({ path: join(ROOT, `test-results/auditor-${kind}.png`), fullPage: true });

      const rows = await page.$$eval('#entries tbody tr', (trs) =>
        trs.map((tr) => [Number((tr as HTMLElement).dataset.index), (tr as HTMLElement).dataset.code]),
      );
      expect(rows, kind).toEqual(
        expected.entries.map((e: { index: number; code: string }) => [e.index, e.code]),
      );
      const summary = await page.$$eval('#summary [data-field]', (els) =>
        Object.fromEntries(els.map((el) => [(el as HTMLElement).dataset.field, el.textContent])),
      );
      expect(summary, kind).toEqual({
        total: String(expected.summary.total),
        valid: String(expected.summary.valid),
        shredded: String(expected.summary.shredded),
        invalid: String(expected.summary.invalid),
        registryChecked: expected.registryChecked ? 'yes' : 'no',
        gaps: String(expected.sequence.gaps.length),
      });
      expect(await page.textContent('#verdict'), kind).toBe(expected.verdict);
      // The whole report, reasons, checkpoints and sequence analysis included.
      expect(JSON.parse((await page.textContent('#report-json')) ?? ''), kind).toEqual(expected);
      // Every ES256 frame check was answered by WebCrypto (the fixtures are all ES256).
      const sig = await signatureStats();
      expect(sig.webcryptoUsed, kind).toBe('true');
      expect(sig.nobleEs256, kind).toBe('0');
      // Issue 17: what was verified, the gaps and the device ranges, as the CLI says them.
      expect(await page.textContent('#scope'), kind).toBe(human[i]!.stdout.split('\n')[0]);
      expect(human[i]!.stdout.split('\n')[0], kind).toMatch(/^verified: log /);
      expect(await pageGapRows(), kind).toEqual(expectedGapRows(expected.sequence.gaps));
      expect(await pageDeviceRows(), kind).toEqual(expectedDeviceRows(expected.sequence.devices));
      // One chart panel per device (the golden bundles have fewer than 24), one gap band per gap.
      const devs = [
        ...new Set([
          ...expected.sequence.devices.map((d: Range) => d.dev),
          ...expected.entries.flatMap((e: { dev?: string }) => (e.dev === undefined ? [] : [e.dev])),
        ]),
      ].sort();
      expect(await panelDevices(), kind).toEqual(devs);
      expect(await page.locator('#charts .gap-band').count(), kind).toBe(expected.sequence.gaps.length);
    }
    // The panels drew the last bundle's readings: one point per decodable frame with an hr.
    expect(await page.locator('#charts circle.pt').count()).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it("behavior: a middle deletion (INCOMPLETE) lists its gap with the frames on both sides, bands it in its device's chart, and allow-gaps words the verdict as the CLI", async () => {
    const files = {
      bundle: join(DIR, 'incomplete_middle.bundle.json'),
      anchors: join(DIR, 'incomplete_middle.anchors.json'),
    };
    const [json, human, allowed] = await Promise.all([
      runCli(['verify', files.bundle, '--anchors', files.anchors, '--json']),
      runCli(['verify', files.bundle, '--anchors', files.anchors]),
      runCli(['verify', files.bundle, '--anchors', files.anchors, '--allow-gaps']),
    ]);
    expect(json.code).toBe(3);
    const cli = cliReport(json.stdout);
    await page.uncheck('#allow-gaps');
    await verifyInPage(files.bundle, files.anchors);
    expect(await page.textContent('#verdict')).toBe('INCOMPLETE');
    expect(await page.isHidden('#allow-gaps-note')).toBe(true);

    // The gap the CLI reports, and (independently of the CLI) the one the fixture deleted:
    // wr-0001's seq 4, between seq 3 and seq 5.
    expect(cli.sequence.gaps).toHaveLength(1);
    const rows = await pageGapRows();
    expect(rows).toEqual(expectedGapRows(cli.sequence.gaps));
    expect(rows).toEqual([
      {
        dev: 'wr-0001',
        kind: 'missing',
        fromSeq: '4',
        toSeq: '4',
        cells: ['wr-0001', 'missing', '4', '3', '2025-01-15T08:00:04.000Z', '5', '2025-01-15T08:00:08.000Z'],
      },
    ]);
    // The frames on both sides, named as the CLI names them (the seq and time cells' titles).
    const where = /^gap {2}wr-0001: seq 4 missing between (entry .*\)) and (entry .*\))$/m.exec(human.stdout);
    expect(where?.slice(1)).toEqual([
      'entry 4 (seq 3, leaf 4, ts 2025-01-15T08:00:04.000Z)',
      'entry 7 (seq 5, leaf 8, ts 2025-01-15T08:00:08.000Z)',
    ]);
    const titles = await page.$$eval('#gaps tbody tr[data-dev] td', (tds) =>
      tds.map((td) => (td as HTMLElement).title),
    );
    expect([titles[3], titles[5]]).toEqual(where?.slice(1));
    // Every device, with its ends (both proven by boundary frames here).
    expect(await pageDeviceRows()).toEqual(expectedDeviceRows(cli.sequence.devices));
    expect((await pageDeviceRows()).map((d) => [d.dev, d.start, d.end])).toEqual([
      ['wr-0001', 'proven', 'proven'],
      ['wr-0002', 'proven', 'proven'],
    ]);
    expect(await page.textContent('#scope')).toBe(human.stdout.split('\n')[0]);
    expect(await page.textContent('#scope')).toContain('2 device(s) (wr-0001, wr-0002)');

    // One panel per device; the gap is a band in wr-0001's panel only, between its frames
    // seq 3 and 5, and the line breaks there; the 4 boundary frames are ringed.
    expect(await panelDevices()).toEqual(['wr-0001', 'wr-0002']);
    const panels = await page.$$eval('#charts figure[data-dev]', (figs) =>
      figs.map((f) => ({
        dev: (f as HTMLElement).dataset.dev,
        bands: Array.from(f.querySelectorAll('.gap-band')).map((b) => [
          b.getAttribute('data-from-seq'),
          b.getAttribute('data-to-seq'),
          Number(b.getAttribute('x')),
          Number(b.getAttribute('width')),
        ]),
        moves: (f.querySelector('path.line')?.getAttribute('d')?.match(/M/g) ?? []).length,
        points: f.querySelectorAll('circle.pt').length,
        boundaries: f.querySelectorAll('circle.boundary').length,
        label: f.querySelector('svg')?.getAttribute('aria-label'),
      })),
    );
    expect(panels.map((p) => [p.dev, p.bands.map((b) => b.slice(0, 2)), p.moves, p.boundaries])).toEqual([
      ['wr-0001', [['4', '4']], 2, 2],
      ['wr-0002', [], 1, 2],
    ]);
    // wr-0001: 5 in range + 2 boundaries; wr-0002: 6 + 2 (README fixture: 15 entries).
    expect(panels.map((p) => p.points)).toEqual([7, 8]);
    expect(panels[0]!.bands[0]![3]).toBeGreaterThan(10); // a visible band, not a hairline
    expect(panels[0]!.label).toContain('1 gap(s)');

    // Allow gaps: only the verdict's wording changes, to the CLI's.
    expect(allowed.code).toBe(0);
    const cliVerdict = /verdict: (.*)$/m.exec(allowed.stdout)?.[1];
    expect(cliVerdict).toBe('INCOMPLETE (accepted with --allow-gaps)');
    const reportBefore = await page.textContent('#report-json');
    await page.check('#allow-gaps');
    expect(await page.textContent('#verdict')).toBe(cliVerdict);
    expect(await page.isVisible('#allow-gaps-note')).toBe(true);
    expect(await page.textContent('#report-json')).toBe(reportBefore);
    expect(await pageGapRows()).toEqual(expectedGapRows(cli.sequence.gaps));
    await page.screenshot({
      path: join(ROOT, 'test-results/auditor-incomplete_middle-gaps.png'),
      fullPage: true,
    });
    await page.uncheck('#allow-gaps');
    expect(await page.textContent('#verdict')).toBe('INCOMPLETE');
    // A VALID bundle is not reworded by allow-gaps.
    await page.check('#allow-gaps');
    await verifyInPage(join(DIR, 'valid.bundle.json'), join(DIR, 'valid.anchors.json'));
    expect(await page.textContent('#verdict')).toBe('VALID');
    expect(await pageGapRows()).toEqual([]);
    await page.uncheck('#allow-gaps');
    expect(pageErrors).toEqual([]);
  });

  it('behavior: with 30 devices the page charts 24 and says how many more, lists every device and gap, and shows one picked device large', async () => {
    const devices = Array.from({ length: 30 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
    const f = await buildFixture({ entries: 150, devices, checkpointEvery: 50 });
    // Delete seq 3 of the 2nd, 7th and 30th device (leaf = (seq - 1) * 30 + device index).
    const deleted = new Set([61, 66, 89]);
    f.bundle.entries = f.bundle.entries.filter((e) => !deleted.has((e as { leafIndex: number }).leafIndex));
    const files = writeFixture('thirty-devices', f);
    const human = await runCli(['verify', files.bundle, '--anchors', files.anchors]);
    expect(human.code).toBe(3);
    const { cli, cliCode, page: report } = await cliAndPage(files);
    expect(cliCode).toBe(3);
    expect(report).toEqual(cli);
    expect(await page.textContent('#scope')).toBe(human.stdout.split('\n')[0]);

    expect(cli.sequence.gaps.map((g: Gap) => [g.dev, g.fromSeq, g.toSeq])).toEqual([
      ['wr-0002', 3, 3],
      ['wr-0007', 3, 3],
      ['wr-0030', 3, 3],
    ]);
    expect(await pageGapRows()).toEqual(expectedGapRows(cli.sequence.gaps));
    const rows = await pageDeviceRows();
    expect(rows.map((r) => r.dev)).toEqual(devices);
    expect(rows).toEqual(expectedDeviceRows(cli.sequence.devices));
    // No after-boundary: every end is open, marked and explained.
    expect(await page.locator('#devices td.end-open').count()).toBe(30);
    expect(await page.locator('#devices tbody tr').first().textContent()).toContain(
      'no proof that no later frame exists',
    );

    expect(await panelDevices()).toEqual(devices.slice(0, 24));
    expect(await page.textContent('#charts-more')).toBe('6 more devices — pick one');
    expect(await page.locator('#charts .gap-band').count()).toBe(2); // wr-0030's is not shown
    await page.locator('#charts').screenshot({ path: join(ROOT, 'test-results/auditor-panels.png') });
    const options = await page.$$eval('#chart-dev option', (os) =>
      os.map((o) => (o as HTMLOptionElement).value),
    );
    expect(options).toEqual(['', ...devices]);

    await page.selectOption('#chart-dev', 'wr-0030');
    expect(await panelDevices()).toEqual(['wr-0030']);
    expect(await page.getAttribute('#charts figure', 'class')).toContain('large');
    expect(await page.isHidden('#charts-more')).toBe(true);
    expect(
      await page.$$eval('#charts .gap-band', (bs) => bs.map((b) => b.getAttribute('data-from-seq'))),
    ).toEqual(['3']);
    expect(await page.locator('#charts circle.pt').count()).toBe(4); // seq 1, 2, 4, 5
    expect(await page.locator('#charts .open-end[data-end="end"]').count()).toBe(1);
    await page.locator('#charts').screenshot({ path: join(ROOT, 'test-results/auditor-one-device.png') });
    await page.selectOption('#chart-dev', '');
    expect(await panelDevices()).toHaveLength(24);
    expect(pageErrors).toEqual([]);
  });

  it('behavior: the ES256 frame signatures are checked with WebCrypto, and the page says so beside the report', async () => {
    await verifyInPage(join(DIR, 'valid.bundle.json'), join(DIR, 'valid.anchors.json'));
    const sig = await signatureStats();
    // 16 frames (two devices' seq 1-8, boundary frames included): 16 WebCrypto verdicts;
    // @noble only for the certificates.
    expect(sig).toMatchObject({ webcryptoUsed: 'true', webcrypto: '16', nobleEs256: '0', nobleEd25519: '0' });
    expect(Number(sig.nobleCertificates)).toBeGreaterThan(0);
    expect(await page.textContent('#sig-stats')).toContain('signatures: 16 with WebCrypto');
    // Not in the report (which the parity test compares with the CLI's whole).
    expect(await page.textContent('#report-json')).not.toMatch(/webcrypto|noble/i);
  });

  it('behavior: a broken signature is bad_signature in the page, from WebCrypto, as in the CLI', async () => {
    const f = await buildFixture({
      entries: 6,
      mapFrame: (frame, i) => (i === 2 ? withSignature(frame, brokenR) : frame),
    });
    const { cli, cliCode, page: report } = await cliAndPage(writeFixture('broken-signature', f));
    expect(cliCode).toBe(1);
    expect(cli.entries.map((e: { code: string }) => e.code)).toEqual([
      'valid',
      'valid',
      'bad_signature',
      'valid',
      'valid',
      'valid',
    ]);
    expect(report).toEqual(cli);
    expect(await signatureStats()).toMatchObject({ webcrypto: '6', nobleEs256: '0' });
  });

  it("behavior: high-S signatures get the CLI's verdicts (Chromium's WebCrypto accepts them, as OpenSSL and @noble with lowS: false do)", async () => {
    // Chromium itself: a valid signature and its high-S twin both verify; OpenSSL agrees.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const message = Buffer.from('vitaltrail high-S probe');
    const signed = sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const [low, high] = [withS(signed, false), withS(signed, true)];
    for (const s of [low, high]) {
      expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, s)).toBe(true);
    }
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const inChromium = await page.evaluate(
      async ([spkiBytes, msg, sigs]) => {
        const key = await crypto.subtle.importKey(
          'spki',
          new Uint8Array(spkiBytes),
          { name: 'ECDSA', namedCurve: 'P-256' },
          false,
          ['verify'],
        );
        const out: boolean[] = [];
        for (const sg of sigs) {
          out.push(
            await crypto.subtle.verify(
              { name: 'ECDSA', hash: 'SHA-256' },
              key,
              new Uint8Array(sg),
              new Uint8Array(msg),
            ),
          );
        }
        return out;
      },
      [[...spki], [...message], [[...low], [...high]]] as [number[], number[], number[][]],
    );
    expect(inChromium).toEqual([true, true]);

    // A bundle of high-S frames (one of them broken) and low-S frames.
    const f = await buildFixture({
      entries: 8,
      mapFrame: (frame, i) =>
        withSignature(frame, (sig) =>
          i === 3 ? withS(brokenR(sig), true) : withS(sig, i % 2 === 0 || i === 7),
        ),
    });
    const { cli, page: report } = await cliAndPage(writeFixture('high-s', f));
    expect(cli.entries.map((e: { code: string }) => e.code)).toEqual([
      'valid',
      'valid',
      'valid',
      'bad_signature',
      'valid',
      'valid',
      'valid',
      'valid',
    ]);
    expect(report).toEqual(cli);
    // Chromium accepts high-S, so the page leaves none of them to @noble.
    expect(await signatureStats()).toMatchObject({ highS: 'webcrypto', webcrypto: '8', nobleEs256: '0' });

    // A browser whose WebCrypto refused high-S (simulated: a subtle that says false for
    // s > n/2), or one without WebCrypto: @noble checks those, and the report is the same.
    // The verifier bundle, loaded here as a plain script, exposes verifyDocumentsAsync.
    await page.addScriptTag({ url: '/auditor/verifier.js' });
    type Run = {
      report: unknown;
      signatures: { counts: Record<string, number>; webcrypto: Record<string, unknown> };
    };
    const runs = await page.evaluate(
      async ([bundle, evidence, n]) => {
        const api = (
          globalThis as unknown as {
            VitalTrailVerifier: {
              verifyDocumentsAsync(b: unknown, e: unknown, o: { subtle: unknown }): Promise<Run>;
            };
          }
        ).VitalTrailVerifier;
        const order = BigInt(n);
        const real = crypto.subtle;
        const lowSOnly = {
          importKey: real.importKey.bind(real),
          verify: (alg: EcdsaParams, key: CryptoKey, sig: BufferSource, data: BufferSource) => {
            const bytes = ArrayBuffer.isView(sig)
              ? new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength)
              : new Uint8Array(sig);
            let s = 0n;
            for (const b of bytes.subarray(32, 64)) s = (s << 8n) | BigInt(b);
            return s > order / 2n ? Promise.resolve(false) : real.verify(alg, key, sig, data);
          },
        };
        const pick = ({ report, signatures }: Run) => ({ report, signatures });
        return {
          lowSOnly: pick(await api.verifyDocumentsAsync(bundle, evidence, { subtle: lowSOnly })),
          none: pick(await api.verifyDocumentsAsync(bundle, evidence, { subtle: undefined })),
        };
      },
      [f.bundle, f.evidence, P256_N.toString()] as const,
    );
    expect(runs.lowSOnly.report).toEqual(cli);
    expect(runs.lowSOnly.signatures.webcrypto).toMatchObject({ webcrypto: true, highS: false, highSLeft: 6 });
    expect(runs.lowSOnly.signatures.counts).toMatchObject({ es256Prechecked: 2, es256Noble: 6 });
    expect(runs.none.report).toEqual(cli);
    expect(runs.none.signatures.webcrypto).toMatchObject({ webcrypto: false });
    expect(runs.none.signatures.counts).toMatchObject({ es256Prechecked: 0, es256Noble: 8 });
  });

  it('behavior: the page stays responsive and shows progress while a 3000-entry bundle is verified', async () => {
    const N = 3000;
    const f = await buildFixture({
      entries: N,
      devices: Array.from({ length: 10 }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`),
      checkpointEvery: 500,
    });
    const files = writeFixture('large', f);
    // Timer ticks (the main thread's event loop turning) and every progress text shown.
    type Watch = { ticks: [number, string, string][]; shown: string[]; stop: () => void };
    await page.evaluate(() => {
      const w = { ticks: [], shown: [] } as unknown as Watch;
      const text = document.getElementById('progress-text')!;
      const timer = setInterval(
        () => w.ticks.push([performance.now(), document.body.dataset.state ?? '', text.textContent ?? '']),
        5,
      );
      const observer = new MutationObserver(() => w.shown.push(text.textContent ?? ''));
      observer.observe(text, { childList: true, characterData: true, subtree: true });
      w.stop = () => {
        clearInterval(timer);
        observer.disconnect();
      };
      (window as unknown as { watch: Watch }).watch = w;
    });
    const { cli, page: report } = await cliAndPage(files, 60_000);
    expect(report).toEqual(cli);
    expect(cli.summary.valid).toBe(N);
    expect(await signatureStats()).toMatchObject({ webcrypto: String(N), nobleEs256: '0' });

    const { ticks, shown } = await page.evaluate(() => {
      const { ticks, shown, stop } = (window as unknown as { watch: Watch }).watch;
      stop();
      return { ticks, shown };
    });
    // Progress of both phases, entries done / total, with values in between.
    const midway = (phase: string) => (t: string) => {
      const m = new RegExp(`^${phase} (\\d+)/${N}$`).exec(t);
      return m !== null && Number(m[1]) > 0 && Number(m[1]) < N;
    };
    const signing = midway('checking signatures \\(WebCrypto\\)');
    expect(shown.filter(signing).length).toBeGreaterThan(0);
    expect(shown.filter(midway('verifying entries')).length).toBeGreaterThan(0);
    // While verifying, the page's timers kept firing, also halfway through the signatures:
    // no long task on the main thread (verifying there gave no tick from the end of the
    // file reads until the result was drawn).
    expect(ticks.filter(([, state, text]) => state === 'verifying' && signing(text)).length).toBeGreaterThan(
      5,
    );
    const verifying = ticks.filter(([, state]) => state === 'verifying').map(([t]) => t);
    expect(verifying.length).toBeGreaterThan(20);
    const gaps = verifying.slice(1).map((t, i) => t - verifying[i]!);
    // No task near a second long. The ticks above are what tell a page that yields from one
    // that does not; the longest gap also counts the time Chromium waited for a core, 734 ms
    // once in a clean-clone CI run with three test files beside it (2026-12-06, ci68).
    expect(Math.max(...gaps)).toBeLessThan(1000);
    expect(await page.isHidden('#progress')).toBe(true);
  });

  it('error: a file that is not chain evidence cannot be verified, as the CLI exits 2', async () => {
    const bundle = join(DIR, 'valid.bundle.json');
    await verifyInPage(bundle, bundle);
    expect(await page.getAttribute('body', 'data-state')).toBe('error');
    expect(await page.textContent('#error')).toContain('malformed');
    expect(await page.isHidden('#result')).toBe(true);
    const cli = await runCli(['verify', bundle, '--anchors', bundle]);
    expect(cli.code).toBe(2);
  });

  it('error: without a session the page is 401, for a nurse 403; an auditor gets it under a strict CSP', async () => {
    for (const path of ['/auditor/', '/auditor/app.js', '/auditor/verifier.js']) {
      const anon = await fetch(`${srv.url}${path}`);
      expect(anon.status, path).toBe(401);
      expect((await anon.json()).error.code).toBe('unauthenticated');
    }
    const nurse = await fetch(`${srv.url}/auditor/`, { headers: { cookie: await login(srv.url, NURSE) } });
    expect(nurse.status).toBe(403);
    expect((await nurse.json()).error.code).toBe('forbidden');

    const cookie = await login(srv.url, AUDITOR);
    const ok = await fetch(`${srv.url}/auditor/`, { headers: { cookie } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await ok.text();
    expect(html).toContain('/auditor/app.js');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline scripts
    // The page runs the verifier bundle as a Web Worker (same origin: allowed by 'self').
    const app = await fetch(`${srv.url}/auditor/app.js`, { headers: { cookie } });
    expect(await app.text()).toContain("'/auditor/verifier.js'");
    const js = await fetch(`${srv.url}/auditor/verifier.js`, { headers: { cookie } });
    expect(js.status).toBe(200);
    expect(await js.text()).toContain('VitalTrailVerifier');
  });
});
