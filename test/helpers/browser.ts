/**
 * @module test/helpers/browser
 * Headless Chromium for the dashboard end-to-end tests (ARCHITECTURE.md test table:
 * "headless Chromium driven by playwright-core"). Uses Debian's chromium, installed by
 * `test/setup/system-deps.sh`; flags as measured in STACK-NOTES.md ("Browser tests").
 */
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Launches headless Chromium with no network side channels (no sync, updates, QUIC);
 * `extraArgs` are added to those flags (e.g. a certificate to trust).
 */
export function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

/**
 * Signs `username` in on the dashboard's form at `baseUrl`/ and waits for the page it sends
 * them to (`lands`, e.g. `/doctor/`) to be ready (`body[data-state="ready"]`).
 */
export async function signInOnPage(
  page: Page,
  baseUrl: string,
  username: string,
  password: string,
  lands: string,
): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-submit');
  await page.waitForURL(`${baseUrl}${lands}`);
  await page.waitForSelector('body[data-state="ready"]');
}
