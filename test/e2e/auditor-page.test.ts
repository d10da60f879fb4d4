/**
 * @module test/e2e/auditor-page
 * The auditor page (issue 6 "an auditor page"; PROTOCOL.md §5) in headless Chromium:
 * for every golden bundle of test/fixtures/bundles, the page's per-entry codes, summary
 * and whole JSON report equal `vitaltrail verify BUNDLE --anchors FILE --json`; the page
 * is served only to auditors and admins. Needs `npm run build` and
 * `node dist/anchor/src/verify/build-browser.js` (the verifier bundle).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub } from '../../gateway/src/core/live.js';
import { auditorRoutes } from '../../gateway/src/io/auditor-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http.js';
import { UserFile } from '../../gateway/src/io/users.js';
import { launchBrowser } from '../helpers/browser.js';
import { fixtureDir } from '../helpers/bundle-fixtures.js';
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

async function login(base: string, who: { username: string; password: string }): Promise<string> {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(who),
  });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
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

  async function verifyInPage(bundleFile: string, anchorsFile: string): Promise<void> {
    await page.evaluate(() => {
      document.body.dataset.state = 'pending';
    });
    await page.setInputFiles('#bundle-file', bundleFile);
    await page.setInputFiles('#anchors-file', anchorsFile);
    await page.click('#verify');
    await page.locator('body[data-state="done"], body[data-state="error"]').waitFor();
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
      const expected = JSON.parse(cli[i]!.stdout);
      expect(cli[i]!.code, kind).toBe(expected.ok ? 0 : 1);
      await verifyInPage(join(DIR, `${kind}.bundle.json`), join(DIR, `${kind}.anchors.json`));
      expect(await page.getAttribute('body', 'data-state'), kind).toBe('done');

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
      expect(await page.textContent('#verdict'), kind).toBe(expected.ok ? 'VALID' : 'INVALID');
      // The whole report, reasons, checkpoints and sequence analysis included.
      expect(JSON.parse((await page.textContent('#report-json')) ?? ''), kind).toEqual(expected);
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
    expect(html).toContain('/auditor/verifier.js');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline scripts
    const js = await fetch(`${srv.url}/auditor/verifier.js`, { headers: { cookie } });
    expect(js.status).toBe(200);
    expect(await js.text()).toContain('VitalTrailVerifier');
  });
});
