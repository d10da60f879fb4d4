/**
 * @module test/helpers/ward-page
 * The ward page (dashboards/ward) as a nurse uses it, for browser tests against real gateway
 * processes: signing in through the form, a log of what the page's live socket received
 * (gateway/src/io/http/live-socket.ts messages: each reading's and ECG chunk's `(dev, seq)`
 * with the page's clock at arrival), and the tiles' visible text.
 *
 * The log comes from a wrapper around the page's `WebSocket`, installed before any of the
 * page's scripts run (`page.addInitScript`, Chromium's evaluateOnNewDocument, which the
 * page's CSP does not apply to); the page itself is unchanged.
 */
import type { Page } from 'playwright-core';

/** One live-socket message as the page received it. */
export interface LiveLogEntry {
  /** The page's `Date.now()` when the message arrived. */
  t: number;
  type: string;
  dev?: string;
  seq?: number;
  /** ECG chunks: the number of samples. */
  n?: number;
}

declare global {
  interface Window {
    __vtLiveLog?: LiveLogEntry[];
  }
}

/** Runs in the page before its own scripts: every socket's messages are logged in order. */
function logLiveSocket(): void {
  const Native = window.WebSocket;
  const log: LiveLogEntry[] = [];
  window.__vtLiveLog = log;
  class LoggedWebSocket extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      // Added before the page's own listener: it sees each message first.
      this.addEventListener('message', (ev: MessageEvent) => {
        const t = Date.now();
        try {
          const m = JSON.parse(String(ev.data)) as {
            type?: unknown;
            dev?: unknown;
            seq?: unknown;
            s?: unknown;
          };
          const e: LiveLogEntry = { t, type: String(m.type) };
          if (typeof m.dev === 'string') e.dev = m.dev;
          if (typeof m.seq === 'number') e.seq = m.seq;
          if (typeof m.s === 'string') e.n = atob(m.s).length / 2;
          log.push(e);
        } catch {
          log.push({ t, type: 'unparsable' });
        }
      });
    }
  }
  window.WebSocket = LoggedWebSocket;
}

/** Logs the page's live-socket messages from its next navigation on (see {@link readLiveLog}). */
export async function installLiveLog(page: Page): Promise<void> {
  await page.addInitScript(logLiveSocket);
}

/** Everything the page's live sockets received since it was loaded. */
export async function readLiveLog(page: Page): Promise<LiveLogEntry[]> {
  return await page.evaluate(() => window.__vtLiveLog ?? []);
}

/**
 * Opens the ward at `url`, signs in through the form and waits until the live socket is up
 * (sign-in hashes with production scrypt: slow on a loaded machine).
 */
export async function signInWard(
  page: Page,
  url: string,
  user: { username: string; password: string },
  timeoutMs = 30_000,
): Promise<void> {
  await page.goto(url);
  await page.locator('#login').waitFor({ state: 'visible', timeout: timeoutMs });
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  await page.click('#login-submit');
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: timeoutMs });
}

/**
 * Each tile's text by `data-field` (label, vitals, battery, NEWS2, alarm banner, …), keyed
 * by device; the fields named in `skip` (by default the age, which ticks with the clock) left out.
 */
export async function wardTiles(
  page: Page,
  skip: readonly string[] = ['age'],
): Promise<Record<string, Record<string, string>>> {
  return await page.evaluate((skipped) => {
    const out: Record<string, Record<string, string>> = {};
    for (const tile of Array.from(document.querySelectorAll<HTMLElement>('.tile[data-dev]'))) {
      const fields: Record<string, string> = {};
      for (const f of Array.from(tile.querySelectorAll<HTMLElement>('[data-field]'))) {
        const name = f.dataset.field as string;
        if (!skipped.includes(name)) fields[name] = (f.textContent ?? '').trim();
      }
      out[tile.dataset.dev as string] = fields;
    }
    return out;
  }, skip);
}
