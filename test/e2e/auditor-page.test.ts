/**
 * @module test/e2e/auditor-page
 * The auditor page (issue 6 "an auditor page"; PROTOCOL.md §5) in headless Chromium:
 * for every golden bundle of test/fixtures/bundles, the page's per-entry codes, summary
 * and whole JSON report equal `vitaltrail verify BUNDLE --anchors FILE --json`; the ES256
 * frame signatures are checked with WebCrypto (in a Web Worker) and the page says so;
 * broken and high-S signatures get the CLI's verdicts; the page stays responsive and
 * shows progress while a few thousand entries are verified; the page is served only to
 * auditors and admins. Needs `npm run build` (which builds the verifier bundle).
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
    const cli = await Promise.all(
      KINDS.map((kind) =>
        runCli([
          'verify',
          join(DIR, `${kind}.bundle.json`),
          '--anchors',
          join(DIR, `${kind}.anchors.json`),
          '--json',
        ]),
      ),
    );
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
    }
    // The chart drew points of each status the last bundle has.
    const painted = await page.$eval('#chart', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 960, 260).data;
      let n = 0;
      for (let k = 3; k < d.length; k += 4) if (d[k]! > 0) n++;
      return n;
    });
    expect(painted).toBeGreaterThan(100);
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
    expect(Math.max(...gaps)).toBeLessThan(500);
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
