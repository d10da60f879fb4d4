/**
 * @module test/e2e/portal-bundle-parts
 * The patient portal's bundle download when the range holds more frames than one bundle
 * carries (dashboards/patient/notices; README "The patient portal and the doctor's page"), in
 * real headless Chromium against a real gateway on a real anvil chain, its checkpoints
 * anchored: a patient's device sends 250 frames over the last ~3 minutes (its certificate's
 * validity begins 5 minutes before the test) and the gateway's `http.maxReadings` is 100 (a
 * day of a device sending vitals and ECG chunks, ~2 frames a second, against the default
 * 100,000, scaled down). The portal's "last hour" is refused whole (422 `too_many_readings`),
 * so the page asks the gateway where to cut it (`…/bundle/parts`, counts from its index: parts
 * of at most 100 frames, at least 76 but the last) and fetches the parts: each file a complete
 * bundle that `verifyBundle` passes against the chain, in time order, together holding every
 * frame; the page says it came in parts. Before, the page showed the refusal and nothing was
 * downloaded. The parts route keeps the bundle's rules: another patient is refused, 8 days at
 * most.
 */
import { readFile } from 'node:fs/promises';
import type { Browser, Download, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { decodeFrame } from '../../gateway/src/protocol/frame.js';
import { launchBrowser, signInOnPage } from '../helpers/browser.js';
import { CARE_PW, type CareRig, H, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
const PATIENT_ID = 'P-0042';
/** Frames, one every 0.8 s, ending now. */
const FRAMES = 250;
const MAX_READINGS = 100;

describe('patient portal: a bundle too large for one file comes in parts that each verify', () => {
  const tmp = makeTempDir('vt-portal-parts-');
  let rig: CareRig;
  let browser: Browser;
  let page: Page;
  let pseudonym: Hex;

  beforeAll(async () => {
    const o = {
      devices: [DEV],
      users: [],
      checkpointIntervalMs: 300,
      http: { maxReadings: MAX_READINGS },
    };
    rig = await startCareRig(tmp.dir, o, (paths) => {
      pseudonym = pseudonymIn(paths, PATIENT_ID);
      return { users: [{ username: 'pat', role: 'patient', subject: pseudonym }] };
    });
    const first = Date.now() - FRAMES * 800;
    await rig.gw.bindings.admit(DEV, PATIENT_ID, 'Bed 4', first - 1000, 'test');
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < FRAMES; i++) {
      const ts = first + i * 800;
      await rig.gw.ingest.submit(frames.next({ ts }, { hr: 60 + (i % 30), spo2: 97 }), DEV);
    }
    await rig.anchored(FRAMES);
    browser = await launchBrowser();
    const context = await browser.newContext({ acceptDownloads: true });
    page = await context.newPage();
    await signInOnPage(page, rig.gw.http.url, 'pat', CARE_PW, '/patient/');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
    tmp.cleanup();
  });

  it("behavior: the last hour: refused whole, downloaded in the gateway's parts, each verified, every frame held", async () => {
    await page.selectOption('#dl-range', '3600000');
    // The gateway refuses the range whole: more frames than one bundle carries.
    const bundleHref = (await page.getAttribute('#dl-bundle', 'href')) as string;
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const get = (path: string) => fetch(`${rig.gw.http.url}${path}`, { headers: { cookie } });
    const whole = await get(bundleHref);
    expect(whole.status).toBe(422);
    expect(((await whole.json()) as { error: { code: string } }).error.code).toBe('too_many_readings');
    // Where the gateway cuts it: parts of at most 100 frames, each but the last over 75.
    const cut = (await (await get(bundleHref.replace('/bundle?', '/bundle/parts?'))).json()) as {
      maxReadings: number;
      parts: { from: number; to: number; frames: number }[];
    };
    expect(cut.maxReadings).toBe(MAX_READINGS);
    expect(cut.parts.reduce((n, p) => n + p.frames, 0)).toBe(FRAMES);
    expect(cut.parts.every((p) => p.frames <= MAX_READINGS)).toBe(true);
    expect(cut.parts.slice(0, -1).every((p) => p.frames > MAX_READINGS * 0.75)).toBe(true);
    expect(cut.parts.length).toBeGreaterThanOrEqual(3);

    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await page.click('#dl-bundle');
    await page.waitForFunction(
      () => /Downloaded in \d+ parts/.test(document.querySelector('#dl-status')?.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );
    expect(await page.textContent('#dl-error')).toBe('');
    const n = cut.parts.length; // frames sent since would only add to the last part
    expect(await page.textContent('#dl-status')).toContain(`Downloaded in ${n} parts`);
    await expect.poll(() => downloads.length).toBe(n);
    const names = downloads.map((d) => d.suggestedFilename());
    expect(names.map((f) => f.replace(/^vitaltrail-bundle-\d{4}-\d\d-\d\d-/, ''))).toEqual(
      cut.parts.map((_, i) => `part-${i + 1}.json`),
    );

    const held = new Set<number>();
    let lastTs = 0;
    for (const d of downloads) {
      const json = JSON.parse(await readFile((await d.path()) as string, 'utf8')) as {
        entries: { frame?: string; boundary?: string }[];
      };
      expect(json.entries.length).toBeLessThanOrEqual(MAX_READINGS + 2); // its frames and two boundaries
      const report = await rig.verify(json);
      expect(report.integrity).toBe(true);
      // In time order: each part's own frames after the last part's.
      const own = json.entries.filter((e) => e.boundary === undefined);
      const body = (e: { frame?: string }) => decodeFrame(Buffer.from(e.frame as string, 'base64')).body;
      const times = own.map((e) => Number(body(e).ts));
      expect(Math.min(...times)).toBeGreaterThan(lastTs);
      lastTs = Math.max(...times);
      for (const e of own) held.add(Number(body(e).seq));
    }
    expect(held.size).toBe(FRAMES);
  }, 120_000);

  it("access: the parts keep the bundle's rules: no session 401, another patient refused, 8 days at most", async () => {
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const to = Date.now();
    const url = (p: string, from: number) =>
      `${rig.gw.http.url}/api/care/patients/${p}/bundle/parts?from=${from}&to=${to}`;
    expect((await fetch(url(pseudonym, to - H))).status).toBe(401);
    const other = `0x${'ab'.repeat(32)}`;
    const refused = await fetch(url(other, to - H), { headers: { cookie } });
    expect(refused.status).toBe(403);
    const long = await fetch(url(pseudonym, to - 9 * 24 * H), { headers: { cookie } });
    expect([long.status, ((await long.json()) as { error: { code: string } }).error.code]).toEqual([
      400,
      'bad_request',
    ]);
  });
});
