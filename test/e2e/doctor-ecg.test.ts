/**
 * @module test/e2e/doctor-ecg
 * The doctor's page's ECG and downloads (dashboards/doctor/ecg, common/downloads; README "The
 * patient portal and the doctor's page") in real headless Chromium against a real gateway on a
 * real anvil chain with the real consent contract, its checkpoints anchored, a device sending
 * vitals with a second of ECG (250 Hz) in each frame:
 * - Dr E, under a consent holding vital signs and ECG, opens the patient: the ECG section
 *   draws the latest seconds (8 s of the 8 chunks, one device, 250 Hz) on ECG paper, the
 *   trace's pixels on the canvas; the FHIR export downloads as an R4 Bundle with every heart
 *   rate; the disclosure bundle downloads and `verifyBundle` passes it against the chain;
 * - Dr A, under a vitals-only consent, sees the readings, is told the consent does not hold
 *   ECG (nothing asked of the gateway), and the bundle is not asked for either, with why.
 * Before, the doctor's page had neither the ECG nor the downloads. Saves doctor-ecg.png in
 * test-results/, and into dashboards/docs/ when run with VT_UPDATE_DOCS=1.
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinicianIdOf, SCOPE_ECG, SCOPE_VITALS } from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { launchBrowser, signInOnPage } from '../helpers/browser.js';
import { CARE_PW, type CareRig, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DOCS = join(ROOT, process.env.VT_UPDATE_DOCS === '1' ? 'dashboards/docs' : 'test-results');
mkdirSync(DOCS, { recursive: true });
const DEV = 'wr-0001';
const PATIENT_ID = 'P-0031';
const FS = 250;
const CHUNKS = 8;

/** A second of ECG (int16 LE µV): a beat a second, a narrow 1.2 mV spike on a flat line. */
const beat = () => {
  const s = new Uint8Array(FS * 2);
  const v = new DataView(s.buffer);
  for (let i = 0; i < FS; i++)
    v.setInt16(i * 2, Math.abs(i - 60) < 5 ? 1200 - Math.abs(i - 60) * 200 : 0, true);
  return { kind: 'ecg' as const, fs: FS, s };
};

describe("doctor's page: the patient's ECG and the downloads under a consent", () => {
  const tmp = makeTempDir('vt-doctor-ecg-');
  let rig: CareRig;
  let browser: Browser;
  let pseudonym: Hex;
  const patientKey = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drE = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);

  /** A doctor's page, signed in, with the patient opened. */
  async function openAs(username: string): Promise<Page> {
    const page = await (
      await browser.newContext({ viewport: { width: 1280, height: 1400 }, acceptDownloads: true })
    ).newPage();
    await signInOnPage(page, rig.gw.http.url, username, CARE_PW, '/doctor/');
    await page.locator(`#patient-table tr[data-patient="${pseudonym}"] button.open`).click();
    await page.waitForSelector('#view[data-state="shown"]');
    return page;
  }

  beforeAll(async () => {
    const o = { devices: [DEV], users: [], checkpointIntervalMs: 300 };
    rig = await startCareRig(tmp.dir, o, (paths) => {
      pseudonym = pseudonymIn(paths, PATIENT_ID);
      return {
        users: [
          { username: 'dr-a', role: 'doctor', subject: drA },
          { username: 'dr-e', role: 'doctor', subject: drE },
        ],
        doctors: [drA, drE],
        patientKeys: [[pseudonym, patientKey.address]],
      };
    });
    await rig.login('dr-a');
    const first = Date.now() - CHUNKS * 1000;
    await rig.gw.bindings.admit(DEV, PATIENT_ID, 'Bed 3', first - 60_000, 'test');
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < CHUNKS; i++)
      await rig.gw.ingest.submit(
        frames.next({ ts: first + i * 1000, wf: beat() }, { hr: 70 + i, spo2: 97 }),
        DEV,
      );
    await rig.anchored(CHUNKS);
    await rig.grant(patientKey, { patient: pseudonym, doctor: drE, scope: SCOPE_VITALS | SCOPE_ECG });
    await rig.grant(patientKey, { patient: pseudonym, doctor: drA, scope: SCOPE_VITALS });
    await rig.settle();
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: under a vitals and ECG consent: the latest ECG drawn, the FHIR export and a verified bundle downloaded', async () => {
    const page = await openAs('dr-e');
    await page.waitForSelector('#ecg[data-state="shown"]');
    expect(await page.getAttribute('#ecg', 'data-samples')).toBe(String(CHUNKS * FS));
    const note = (await page.textContent('#ecg-note')) ?? '';
    expect(note).toContain(`ECG of ${DEV}: ${CHUNKS}.0 s`);
    expect(note).toContain(`${FS} Hz`);
    // The trace is on the paper: bright green pixels (the paper and its grid are dark).
    const trace = await page.$eval('#ecg-strip', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; d && i < d.length; i += 4)
        if ((d[i + 1] as number) > 150 && (d[i] as number) < 120) n++;
      return n;
    });
    expect(trace).toBeGreaterThan(1000);
    await page.locator('#ecg').screenshot({ path: join(DOCS, 'doctor-ecg.png') });

    const [fhirDl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-fhir')]);
    const fhir = JSON.parse(await readFile((await fhirDl.path()) as string, 'utf8')) as {
      resourceType: string;
      entry: {
        resource: {
          resourceType: string;
          code?: { coding: { code: string }[] };
          valueQuantity?: { value: number };
        };
      }[];
    };
    expect(fhir.resourceType).toBe('Bundle');
    const hr = fhir.entry
      .map((e) => e.resource)
      .filter((r) => r.resourceType === 'Observation' && r.code?.coding[0]?.code === '8867-4')
      .map((r) => r.valueQuantity?.value)
      .sort();
    expect(hr).toEqual(Array.from({ length: CHUNKS }, (_, i) => 70 + i));

    const [bundleDl] = await Promise.all([page.waitForEvent('download'), page.click('#dl-bundle')]);
    const report = await rig.verify(JSON.parse(await readFile((await bundleDl.path()) as string, 'utf8')));
    expect(report.integrity).toBe(true);
    expect(report.entries.filter((e) => e.code === 'valid' && e.boundary === undefined)).toHaveLength(CHUNKS);
    expect(await page.textContent('#dl-error')).toBe('');
  }, 90_000);

  it('behavior: under a vitals-only consent: readings shown, the ECG and the bundle refused on the page with why', async () => {
    const page = await openAs('dr-a');
    expect(await page.locator('#readings tbody tr').count()).toBe(CHUNKS);
    await page.waitForSelector('#ecg[data-state="not-in-consent"]');
    expect(await page.textContent('#ecg-note')).toContain('does not include ECG');
    await page.click('#dl-bundle');
    expect(await page.textContent('#dl-error')).toContain('needs a consent that holds vital signs and ECG');
    // What the page did not ask, the gateway refuses all the same.
    const ecg = await rig.get(
      'dr-a',
      `/api/care/patients/${pseudonym}/ecg?from=${Date.now() - 60_000}&to=${Date.now()}`,
    );
    expect(ecg.status).toBe(403);
  }, 60_000);
});
