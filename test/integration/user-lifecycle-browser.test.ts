/**
 * @module test/integration/user-lifecycle-browser
 * The ward page's "Choose a new password" form (dashboards/ward/password.js, issue 16) in
 * real headless Chromium against the real HTTP/WebSocket server: a user whose account says
 * `mustChangePassword` signs in and sees the form, not the ward; a wrong current password,
 * two different new ones and a weak one are refused with their messages; a good one opens
 * the live ward. No CSP violation or script error on the way.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub } from '../../gateway/src/core/live.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { launchBrowser } from '../helpers/browser.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const KIM = { username: 'nurse.kim', password: 'set-by-the-admin-1' };
const CHOSEN = 'kims-own-password-22';

describe('forced password change on the ward page (headless chromium)', () => {
  const tmp = makeTempDir();
  const hub = new LiveHub();
  let users: UserFile;
  let srv: HttpServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(KIM.username, 'nurse', KIM.password, { mustChange: true });
    hub.addDevice('bed-01');
    [srv, browser] = await Promise.all([
      startHttpServer({ hub, users, staticDir: join(ROOT, 'dashboards/ward') }),
      launchBrowser(),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    tmp.cleanup();
  });

  async function submit(page: Page, current: string, next: string, confirm = next): Promise<string> {
    await page.fill('#pw-current', current);
    await page.fill('#pw-next', next);
    await page.fill('#pw-confirm', confirm);
    await page.evaluate(() => {
      (document.getElementById('pw-error') as HTMLElement).textContent = '';
    });
    await page.click('#pw-submit');
    await expect.poll(() => page.textContent('#pw-error')).not.toBe('');
    return (await page.textContent('#pw-error')) ?? '';
  }

  it('behavior: the form replaces the ward until a good new password is chosen', async () => {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy|Uncaught/.test(msg.text()))
        pageErrors.push(msg.text());
    });
    await page.goto(srv.url);
    await page.fill('#username', KIM.username);
    await page.fill('#password', KIM.password);
    await page.click('#login-submit');
    await page.locator('#pw-change').waitFor({ state: 'visible' });
    expect(await page.textContent('#pw-user')).toBe(KIM.username);
    expect(await page.isVisible('#ward')).toBe(false);
    expect(await page.isVisible('#login')).toBe(false);

    // minlength on the inputs would stop the browser from sending; the server's rule is what is tested.
    await page.evaluate(() => {
      for (const id of ['pw-next', 'pw-confirm']) document.getElementById(id)?.removeAttribute('minlength');
    });
    expect(await submit(page, 'not-the-current-1', CHOSEN)).toBe('The current password is wrong.');
    expect(await submit(page, KIM.password, CHOSEN, `${CHOSEN}x`)).toBe('The two new passwords differ.');
    expect(await submit(page, KIM.password, 'onlyletterslong')).toMatch(/^Use at least 12 characters/);
    expect(users.get(KIM.username)?.mustChangePassword).toBe(true);

    await page.fill('#pw-current', KIM.password);
    await page.fill('#pw-next', CHOSEN);
    await page.fill('#pw-confirm', CHOSEN);
    await page.click('#pw-submit');
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    expect(await page.isVisible('#pw-change')).toBe(false);
    expect(await page.isVisible('#ward')).toBe(true);
    expect(users.get(KIM.username)?.mustChangePassword).toBeUndefined();
    expect(await users.authenticate(KIM.username, CHOSEN)).not.toBeNull();
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
