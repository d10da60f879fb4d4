/**
 * @module test/e2e/dashboard
 * The ward dashboard (dashboards/ward/) in real headless Chromium against the real
 * HTTP/WebSocket server (gateway/src/io/http/server.ts): sign-in through the form, live tiles
 * updated over the socket without reload, offline greying, the strict CSP holding
 * (no violations), return to the form on logout and when the server ends the session.
 * Saves test-results/ward.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub, type LiveReading } from '../../gateway/src/core/live.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { launchBrowser } from '../helpers/browser.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const NURSE = { username: 'nurse.kim', password: 'night-shift-ward-7b' };

function reading(dev: string, seq: number, obs: LiveReading['obs'], bat: number, ageMs = 0): LiveReading {
  const now = Date.now() - ageMs;
  return { dev, seq, ts: now - 40, obs, bat, receivedAt: now };
}

const field = (page: Page, dev: string, name: string) =>
  page.locator(`.tile[data-dev="${dev}"] [data-field="${name}"]`);

describe('ward dashboard (headless chromium)', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  let srv: HttpServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(NURSE.username, 'nurse', NURSE.password);
    for (const dev of ['bed-01', 'bed-02', 'bed-03']) hub.addDevice(dev);
    hub.publish(reading('bed-01', 1, { hr: 72, spo2: 98, rr: 14, temp: 3684, sbp: 118, dbp: 76 }, 86));
    hub.publish(reading('bed-02', 1, { hr: 118, spo2: 91, rr: 24, temp: 3852, sbp: 98, dbp: 61 }, 14));
    // Last heard 2 minutes ago: shown greyed as offline.
    hub.publish(
      reading('bed-03', 1, { hr: 64, spo2: 96, rr: 12, temp: 3651, sbp: 132, dbp: 84 }, 71, 120_000),
    );
    [srv, browser] = await Promise.all([
      startHttpServer({
        hub,
        users,
        staticDir: join(ROOT, 'dashboards/ward'),
        wardName: 'Ward 7B · Cardiology',
      }),
      launchBrowser(),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    tmp.cleanup();
  });

  async function newPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      // 401 from /api/me before sign-in is expected, and 404 from /api/beds (this bare server
      // has no admission routes); anything else (CSP violations included) is not.
      const optional404 = /404/.test(msg.text()) && msg.location().url.endsWith('/api/beds');
      if (msg.type() === 'error' && !/401/.test(msg.text()) && !optional404) pageErrors.push(msg.text());
    });
    return page;
  }

  async function signIn(page: Page): Promise<void> {
    await page.goto(srv.url);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#username', NURSE.username);
    await page.fill('#password', NURSE.password);
    await page.click('#login-submit');
    await page.locator('#conn[data-state="live"]').waitFor();
  }

  it('behavior: sign in, see 3 live tiles, watch HR change without reload, log out', async () => {
    const page = await newPage();
    await page.goto(srv.url);
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('.tile').count()).toBe(0);

    // A wrong password keeps the form up with a message.
    await page.fill('#username', NURSE.username);
    await page.fill('#password', 'wrong');
    await page.click('#login-submit');
    // Sign-ins are hashed with production scrypt on one thread: under a loaded 2-core CI
    // machine the answer can take more than expect.poll's default second.
    await expect
      .poll(() => page.textContent('#login-error'), { timeout: 15_000 })
      .toContain('Wrong username or password');
    expect(await page.isVisible('#ward')).toBe(false);

    await page.fill('#password', NURSE.password);
    await page.click('#login-submit');
    await page.locator('#conn[data-state="live"]').waitFor();
    await expect.poll(() => page.locator('.tile').count(), { timeout: 15_000 }).toBe(3);
    expect(await page.isVisible('#login')).toBe(false);
    expect(
      await page.locator('.tile').evaluateAll((els) => els.map((e) => e.getAttribute('data-dev'))),
    ).toEqual(['bed-01', 'bed-02', 'bed-03']);
    expect(await page.textContent('#patient-count')).toBe('3 patients');
    expect(await page.textContent('#ward-name')).toBe('Ward 7B · Cardiology');
    expect(await page.textContent('#user')).toBe(NURSE.username);

    // Values and formats: temperature from 0.01 °C to one decimal, BP, battery.
    expect(await field(page, 'bed-01', 'hr').textContent()).toBe('72');
    expect(await field(page, 'bed-02', 'spo2').textContent()).toBe('91');
    expect(await field(page, 'bed-02', 'temp').textContent()).toBe('38.5');
    expect(await field(page, 'bed-01', 'temp').textContent()).toBe('36.8');
    expect(await field(page, 'bed-02', 'sbp').textContent()).toBe('98');
    expect(await field(page, 'bed-02', 'dbp').textContent()).toBe('61');
    expect(await field(page, 'bed-02', 'bat').textContent()).toBe('14%');
    expect(await field(page, 'bed-01', 'age').textContent()).toMatch(/^\d+ s ago$/);
    // The stale device is greyed out; the fresh ones are not.
    expect(await page.getAttribute('.tile[data-dev="bed-03"]', 'class')).toContain('offline');
    expect(await field(page, 'bed-03', 'age').textContent()).toBe('offline · 2 min ago');
    expect(await page.getAttribute('.tile[data-dev="bed-01"]', 'class')).not.toContain('offline');

    // Live updates over the socket, no reload (a marker on window survives).
    await page.evaluate(() => {
      (window as unknown as { __marker: number }).__marker = 42;
    });
    hub.publish(reading('bed-01', 2, { hr: 88, spo2: 97, rr: 16, temp: 3701, sbp: 124, dbp: 80 }, 85));
    await expect.poll(() => field(page, 'bed-01', 'hr').textContent()).toBe('88');
    expect(await field(page, 'bed-01', 'temp').textContent()).toBe('37.0');
    // A late gap-filler (lower seq) is forwarded by the hub but must not move the tile back.
    hub.publish(reading('bed-01', 1, { hr: 50 }, 85));
    hub.publish(reading('bed-02', 2, { hr: 121, spo2: 90, rr: 26, temp: 3858, sbp: 96, dbp: 60 }, 14));
    await expect.poll(() => field(page, 'bed-02', 'hr').textContent()).toBe('121');
    expect(await field(page, 'bed-01', 'hr').textContent()).toBe('88');
    // The device that was offline comes back: its tile is no longer grey.
    hub.publish(reading('bed-03', 2, { hr: 66, spo2: 96, rr: 13, temp: 3660, sbp: 130, dbp: 82 }, 70));
    await expect.poll(() => page.getAttribute('.tile[data-dev="bed-03"]', 'class')).not.toContain('offline');
    hub.publish(
      reading('bed-03', 3, { hr: 67, spo2: 95, rr: 13, temp: 3662, sbp: 131, dbp: 83 }, 70, 45_000),
    );
    await expect.poll(() => page.getAttribute('.tile[data-dev="bed-03"]', 'class')).toContain('offline');
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(42);

    await page.waitForTimeout(1000); // let the update flash settle for the screenshot
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/ward.png'), fullPage: true });

    await page.click('#logout');
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.isVisible('#ward')).toBe(false);
    expect(await page.locator('.tile').count()).toBe(0);
    // The server session is gone too: a reload shows the form again.
    await page.reload();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('behavior: when the server ends the session (4401) the page returns to the form', async () => {
    const page = await newPage();
    await signIn(page);
    await expect.poll(() => page.locator('.tile').count(), { timeout: 15_000 }).toBe(3);
    const cookies = await page.context().cookies(srv.url);
    const session = cookies.find((c) => c.name === 'vt_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');
    // Script cannot read the session cookie.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/logout',
      headers: { cookie: `vt_session=${session!.value}` },
    });
    expect(res.statusCode).toBe(204);
    await page.locator('#login').waitFor({ state: 'visible' });
    await expect.poll(() => page.textContent('#login-error')).toContain('session ended');
    expect(await page.locator('.tile').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
