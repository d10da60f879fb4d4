/**
 * @module test/e2e/display
 * A wall display (issue 15; dashboards/ward/display.js, gateway/src/io/http/displays.ts) in
 * real headless Chromium against the real HTTP/WebSocket server with a short nurse idle
 * timeout and a real SQLite display table: `/#display=<token>` is taken out of the address
 * bar and kept; the ward shows read-only under "Wall display · <name>"; a nurse beside it
 * is signed out by the idle timeout while the display keeps showing live values; across a
 * gateway restart (same port, in-memory sessions lost) "Connection lost" shows at once, the
 * page signs in again with its token by itself and shows new values, the banner goes; a
 * revocation shows "This display was unenrolled", never the sign-in form. While the
 * connection is lost the banner covers no tile and the header's green dot is red and
 * labelled "Connection lost"; both recover. Saves test-results/display.png and display-lost.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub } from '../../gateway/src/core/live.js';
import { CONNECTION_LOST_MS } from '../../gateway/src/core/live-contract.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { DisplayRegistry } from '../../gateway/src/io/identity/displays.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import type { GatewayStore } from '../../gateway/src/io/store/store.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { launchBrowser } from '../helpers/browser.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const NURSE = { username: 'nurse.kim', password: 'night-shift-ward-7b' };
const ADMIN = { username: 'admin.lee', password: 'ward-7b-admin-pass' };
const IDLE_MS = 1500;

const hrOf = (page: Page, dev: string) =>
  page.locator(`.tile[data-dev="${dev}"] [data-field="hr"]`).textContent();

/** The header's logo dot: its connection mark, accessible label, fill and gradient. */
const logoOf = (page: Page) =>
  page.locator('.bar .logo').evaluate((e) => ({
    conn: e.getAttribute('data-conn'),
    label: e.getAttribute('aria-label'),
    hidden: e.getAttribute('aria-hidden'),
    color: getComputedStyle(e).backgroundColor,
    image: getComputedStyle(e).backgroundImage.startsWith('radial-gradient') ? 'radial-gradient' : 'none',
  }));
/** style.css `--bad`. */
const BAD_RED = 'rgb(255, 77, 94)';
/** The green logo of a live page: decorative, no label. */
const LOGO_LIVE = {
  conn: null,
  label: null,
  hidden: 'true',
  color: 'rgba(0, 0, 0, 0)',
  image: 'radial-gradient',
};

type Box = { x: number; y: number; width: number; height: number } | null;
/** Whether two boxes share any area (touching edges do not count). */
const overlaps = (a: Box, b: Box) =>
  a !== null &&
  b !== null &&
  a.x < b.x + b.width &&
  b.x < a.x + a.width &&
  a.y < b.y + b.height &&
  b.y < a.y + a.height;

describe('wall display (headless chromium)', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  let users: UserFile;
  let store: GatewayStore;
  let displays: DisplayRegistry;
  let srv: HttpServer;
  let browser: Browser;
  let seq = 0;
  const pageErrors: string[] = [];

  const publish = (dev: string, hr: number) =>
    hub.publish({ dev, seq: ++seq, ts: Date.now(), obs: { hr, spo2: 97 }, bat: 80, receivedAt: Date.now() });

  /** The gateway's HTTP side, on `port` (0: any): a restart keeps the port and the display table only. */
  const start = (port = 0) =>
    startHttpServer({
      hub,
      users,
      displays,
      port,
      staticDir: join(ROOT, 'dashboards/ward'),
      wardName: 'Ward 7B',
      sessionIdleMs: IDLE_MS,
    });

  beforeAll(async () => {
    users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(NURSE.username, 'nurse', NURSE.password);
    await users.add(ADMIN.username, 'admin', ADMIN.password);
    store = openStore(join(tmp.dir, 'gateway.db'));
    displays = new DisplayRegistry(store);
    hub.addDevice('bed-01');
    hub.addDevice('bed-02');
    publish('bed-01', 70);
    publish('bed-02', 80);
    [srv, browser] = await Promise.all([start(), launchBrowser()]);
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    store?.close();
    tmp.cleanup();
  });

  async function newPage(): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1600, height: 900 } })).newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    // Refused requests while the gateway is down or the session is gone are expected; a CSP
    // violation or any script error is not.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy|Uncaught/.test(msg.text()))
        pageErrors.push(msg.text());
    });
    return page;
  }

  it('behavior: read-only, never idles out, rides out a gateway restart, and shows its unenrolment', async () => {
    const { display, token } = displays.enrol('Station 7B', 'admin');
    const page = await newPage();
    await page.goto(`${srv.url}/#display=${token}`);
    await page.locator('#conn[data-state="live"]').waitFor();
    expect(await page.textContent('#display-label')).toBe('Wall display · Station 7B');
    // The token left the address bar and lives in the browser's storage.
    expect(await page.evaluate(() => location.href)).toBe(`${srv.url}/`);
    expect(await page.evaluate(() => Object.values(localStorage))).toEqual([token]);
    await expect.poll(() => hrOf(page, 'bed-01')).toBe('70');
    // Read only: no sign-out, no user name, no sign-in form; a tile opens no patient.
    expect(await page.isVisible('#logout')).toBe(false);
    expect(await page.isVisible('#user')).toBe(false);
    expect(await page.isVisible('#login')).toBe(false);
    await page.click('.tile[data-dev="bed-01"]');
    await page.waitForTimeout(200);
    expect(await page.isVisible('#patient')).toBe(false);
    expect(await page.evaluate(() => location.hash)).toBe('');

    // A nurse signed in beside it is signed out by the idle timeout; the display is not.
    const nursePage = await newPage();
    await nursePage.goto(srv.url);
    await nursePage.fill('#username', NURSE.username);
    await nursePage.fill('#password', NURSE.password);
    await nursePage.click('#login-submit');
    await nursePage.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    await nursePage.locator('#login').waitFor({ state: 'visible', timeout: 4 * IDLE_MS });
    await page.waitForTimeout(IDLE_MS); // the display has now been idle for well over the timeout
    publish('bed-01', 91);
    await expect.poll(() => hrOf(page, 'bed-01')).toBe('91');
    expect(await page.isVisible('#conn-lost')).toBe(false);
    expect(await logoOf(page)).toEqual(LOGO_LIVE);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/display.png') });

    // Restart on the same port: the banner shows at once, the page signs in again by itself.
    const port = srv.port;
    const stoppedAt = Date.now();
    await srv.close();
    await page.locator('#conn-lost').waitFor({ state: 'visible', timeout: CONNECTION_LOST_MS });
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(CONNECTION_LOST_MS);
    expect(await page.textContent('#conn-lost')).toBe('Connection lost — values are not live');
    expect(await page.evaluate(() => document.body.classList.contains('vt-conn-lost'))).toBe(true);
    expect(await hrOf(page, 'bed-01')).toBe('91'); // the last values stay, greyed
    // The banner has its own row: it covers no tile (the first one's header included).
    const bannerBox = await page.locator('#conn-lost').boundingBox();
    expect(bannerBox).not.toBeNull();
    for (const sel of [
      '.tile[data-dev="bed-01"] .tile-head',
      '.tile[data-dev="bed-01"]',
      '.tile[data-dev="bed-02"]',
    ]) {
      await expect
        .poll(async () => overlaps(bannerBox, await page.locator(sel).boundingBox()), { message: sel })
        .toBe(false);
    }
    // The header's dot is no longer green, and says why.
    expect(await logoOf(page)).toEqual({
      conn: 'lost',
      label: 'Connection lost',
      hidden: null,
      color: BAD_RED,
      image: 'none',
    });
    await page.screenshot({ path: join(ROOT, 'test-results/display-lost.png') });
    srv = await start(port);
    await page.locator('#conn-lost').waitFor({ state: 'hidden', timeout: 20_000 });
    await page.locator('#conn[data-state="live"]').waitFor();
    publish('bed-01', 104);
    publish('bed-02', 66);
    await expect.poll(() => hrOf(page, 'bed-01')).toBe('104');
    await expect.poll(() => hrOf(page, 'bed-02')).toBe('66');
    expect(await page.evaluate(() => document.body.classList.contains('vt-conn-lost'))).toBe(false);
    expect(await logoOf(page)).toEqual(LOGO_LIVE);
    expect(await page.isVisible('#login')).toBe(false);

    // An admin revokes it: its socket closes and the screen says so, without a sign-in form.
    const login = await fetch(`${srv.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
    const cookie = String(login.headers.get('set-cookie')).split(';', 1)[0] as string;
    const revoked = await fetch(`${srv.url}/api/displays/${display.id}/revoke`, {
      method: 'POST',
      headers: { cookie },
    });
    expect(revoked.status).toBe(200);
    await page.locator('#display-unenrolled').waitFor({ timeout: 10_000 });
    expect(await page.textContent('#display-unenrolled h1')).toBe('This display was unenrolled');
    expect(await page.isVisible('#login')).toBe(false);
    expect(await page.isVisible('#ward')).toBe(false);
    // A reload says so again: the revoked token is kept, never exchanged for the form.
    await page.reload();
    await page.locator('#display-unenrolled').waitFor();
    expect(await page.isVisible('#login')).toBe(false);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
