/**
 * @module test/e2e/care-portal
 * The patient portal and the doctor's page (issue 18; README "The patient portal and the
 * doctor's page") in real headless Chromium against a real gateway on a real anvil chain with
 * the real consent contract (the data dir's embedded chain: its KGC is this gateway's
 * registration authority), real frames from an admitted device:
 * - the patient signs in on the dashboard (`/`) and is sent to `/patient/`; makes their key in
 *   the portal under a passphrase (PBKDF2 + AES-GCM in the browser): the key is registered on
 *   the chain (`PatientKeyRegistered` for the pseudonym and that address);
 * - a wrong passphrase is refused with its code; the patient grants Dr A 24 h of vitals for
 *   24 h, signed in the browser: `ConsentGranted` on the chain with that consent id, doctor and
 *   scope, and the consent in force in the portal's table;
 * - Dr A, signed in (another browser context, sent to `/doctor/`), opens the patient and sees
 *   every reading under that consent; Dr B is refused 403 `consent_required`;
 * - the patient's "who saw my data" names Dr A's accesses with the consent, and their own;
 * - the patient revokes in the portal: `ConsentRevoked` on the chain, and Dr A's page shows
 *   `consent_required` within 60 s;
 * - the pages are served only to their roles, with the signing bundle; the download links name
 *   the patient's bundle and FHIR export: the FHIR export is fetched, the bundle refused
 *   `not_anchored` with its code (no checkpoint is anchored here);
 * - break-glass: Dr A opens the record by the patient id with a mandatory reason and reads; the
 *   patient's portal shows the opening and the accesses under it, the charge nurse's alarm
 *   list the bed's `break_glass_access` naming who and why.
 * Saves patient-portal.png and doctor-view.png in test-results/, and into dashboards/docs/ when
 * run with VT_UPDATE_DOCS=1. Needs `npm run build` (which builds dist/care/consent.js).
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createPublicClient, http, parseAbiItem } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinicianIdOf } from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { launchBrowser, signInOnPage } from '../helpers/browser.js';
import { CARE_PW, type CareRig, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { errorCode } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const DOCS = join(ROOT, process.env.VT_UPDATE_DOCS === '1' ? 'dashboards/docs' : 'test-results');
mkdirSync(DOCS, { recursive: true });
const DEV = 'wr-0001';
const PATIENT_ID = 'P-0007';
const PASSPHRASE = 'my own long passphrase 7';
const READINGS = 12;

const KEY_EVENT = parseAbiItem('event PatientKeyRegistered(bytes32 indexed patient, address indexed key)');
const GRANT_EVENT = parseAbiItem(
  'event ConsentGranted(bytes32 indexed consentId, bytes32 indexed patient, bytes32 indexed doctor, uint8 scope, uint64 dataFrom, uint64 dataUntil, uint64 validFrom, uint64 validUntil, string purpose)',
);
const REVOKE_EVENT = parseAbiItem(
  'event ConsentRevoked(bytes32 indexed consentId, bytes32 indexed patient, bytes32 indexed doctor)',
);

describe('patient portal and doctor page: key, grant, read, revoke, in the browser on a real chain', () => {
  const tmp = makeTempDir('vt-care-portal-');
  let rig: CareRig;
  let browser: Browser;
  let patientPage: Page;
  let doctorPage: Page;
  let pseudonym: Hex;
  let consentId = '';
  let admittedAt = 0;
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drB = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  /** Every request the patient's page made, with its body: the passphrase must be in none. */
  const sent: string[] = [];
  const chainLogs = () => createPublicClient({ transport: http(rig.chain.rpcUrl) });
  const consentAddress = () => rig.chain.deployment.consent as Hex;

  /** Signs in on the dashboard's form (`/`), which sends a patient or a doctor to their page. */
  const signIn = (page: Page, username: string, lands: string): Promise<void> =>
    signInOnPage(page, rig.gw.http.url, username, CARE_PW, lands);

  beforeAll(async () => {
    rig = await startCareRig(tmp.dir, { devices: [DEV], users: [], refreshMs: 500 }, (paths) => {
      pseudonym = pseudonymIn(paths, PATIENT_ID);
      return {
        users: [
          { username: 'dr-a', role: 'doctor', subject: drA },
          { username: 'dr-b', role: 'doctor', subject: drB },
          { username: 'pat', role: 'patient', subject: pseudonym },
          { username: 'cn', role: 'charge_nurse' },
        ],
        doctors: [drA, drB],
      };
    });
    await rig.login('dr-a', 'dr-b', 'pat', 'cn');
    // Admitted six hours ago (through the book: the admission route dates it now), so the
    // readings, one every half hour, draw a trend.
    admittedAt = Date.now() - 6 * 3_600_000;
    await rig.gw.bindings.admit(DEV, PATIENT_ID, 'Bed 7', admittedAt, 'cn');
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < READINGS; i++) {
      const ts = admittedAt + (i + 1) * 1_800_000 - 60_000;
      await rig.gw.ingest.submit(
        frames.next({ ts }, { hr: 64 + i, spo2: 95 + (i % 4), rr: 14 + (i % 3) }),
        DEV,
      );
    }
    browser = await launchBrowser();
    patientPage = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    doctorPage = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
    tmp.cleanup();
  });

  it('access: each page only for its role; the signing bundle for both', async () => {
    const status = async (url: string, who?: string) =>
      (
        await fetch(`${rig.gw.http.url}${url}`, {
          headers: who ? { cookie: rig.cookies[who] as string } : {},
        })
      ).status;
    expect(await status('/patient/')).toBe(401);
    expect(await status('/patient/', 'pat')).toBe(200);
    expect(await status('/patient/', 'dr-a')).toBe(403);
    expect(await status('/patient/app.js', 'cn')).toBe(403);
    expect(await status('/doctor/', 'dr-a')).toBe(200);
    expect(await status('/doctor/', 'pat')).toBe(403);
    expect(await status('/patient/../doctor/app.js', 'pat')).not.toBe(200);
    expect(await status('/patient/nope.js', 'pat')).toBe(404);
    const bundle = await fetch(`${rig.gw.http.url}/care/consent.js`, {
      headers: { cookie: rig.cookies.pat as string },
    });
    expect([bundle.status, bundle.headers.get('content-type')]).toEqual([
      200,
      'text/javascript; charset=utf-8',
    ]);
    expect(await bundle.text()).toContain('VitalTrailConsent');
    expect(await status('/care/consent.js', 'cn')).toBe(403);
  });

  it('behavior: the patient makes their key in the portal; it is registered on the chain', async () => {
    patientPage.on('request', (r) => sent.push(`${r.url()} ${r.postData() ?? ''}`));
    await signIn(patientPage, 'pat', '/patient/');
    // From here on the portal: no script error, no failed load (the sign-in page's 401 is behind).
    const errors: string[] = [];
    patientPage.on('pageerror', (e) => errors.push(e.message));
    patientPage.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${m.text()} ${m.location().url}`);
    });
    await patientPage.reload();
    await patientPage.waitForSelector('body[data-state="ready"]');
    expect(await patientPage.getAttribute('body', 'data-key')).toBe('none');
    // The patient's own readings, before anyone else.
    await patientPage.waitForSelector(`#readings tbody tr[data-seq="${READINGS}"]`);
    expect(await patientPage.locator('#readings tbody tr').count()).toBe(READINGS);
    expect(await patientPage.locator('#trend figure[data-vital="hr"] svg polyline').count()).toBe(1);

    await patientPage.fill('#kc-pass', PASSPHRASE);
    await patientPage.fill('#kc-pass2', `${PASSPHRASE}x`);
    await patientPage.click('#kc-submit');
    expect(await patientPage.textContent('#key-error')).toBe('The two passphrases differ.');
    await patientPage.fill('#kc-pass2', PASSPHRASE);
    await patientPage.click('#kc-submit');
    await patientPage.waitForSelector('body[data-key="registered"]', { timeout: 30_000 });

    const me = await rig.get('pat', '/api/care/me');
    const { address, keystore } = me.body.patientKey as { address: Hex; keystore: Record<string, unknown> };
    expect(keystore).toMatchObject({ v: 1, kdf: 'PBKDF2-SHA256', iterations: 600000 });
    expect((keystore.address as string).toLowerCase()).toBe(address.toLowerCase());
    expect((await patientPage.textContent('#key-state'))?.toLowerCase()).toContain(address.toLowerCase());
    const logs = await chainLogs().getLogs({
      address: consentAddress(),
      event: KEY_EVENT,
      args: { patient: pseudonym },
      fromBlock: 0n,
    });
    expect(logs.map((l) => l.args.key?.toLowerCase())).toEqual([address.toLowerCase()]);
    expect(errors).toEqual([]);
  }, 60_000);

  it('behavior: the patient grants Dr A 24 h of vitals, signed in the browser: ConsentGranted on the chain', async () => {
    await patientPage.selectOption('#g-doctor', { label: 'dr-a' });
    await patientPage.selectOption('#g-history', '86400000');
    await patientPage.selectOption('#g-valid', '86400000');
    await patientPage.fill('#g-purpose', 'cardiology follow-up');
    expect(await patientPage.textContent('#g-bytes')).toBe('20');
    // A wrong passphrase: refused in the browser with its code, nothing sent.
    await patientPage.reload();
    await patientPage.waitForSelector('body[data-state="ready"]');
    await patientPage.selectOption('#g-doctor', { label: 'dr-a' });
    await patientPage.fill('#g-purpose', 'cardiology follow-up');
    await patientPage.fill('#sign-pass', 'not my passphrase at all');
    await patientPage.click('#g-submit');
    await patientPage.waitForFunction(() => document.querySelector('#consent-error')?.textContent !== '');
    expect(await patientPage.textContent('#consent-error')).toContain('wrong_passphrase');
    expect((await rig.get('pat', '/api/care/consents')).body.consents).toEqual([]);

    const started = Date.now();
    await patientPage.fill('#sign-pass', PASSPHRASE);
    await patientPage.click('#g-submit');
    await patientPage.waitForFunction(() =>
      document.querySelector('#consent-ok')?.textContent?.startsWith('Granted'),
    );
    const row = patientPage.locator('#consent-table tbody tr[data-status="in_force"]');
    expect(await row.count()).toBe(1);
    consentId = (await row.getAttribute('data-consent')) as string;
    expect(await row.locator('td').first().textContent()).toBe('dr-a');
    const logs = await chainLogs().getLogs({
      address: consentAddress(),
      event: GRANT_EVENT,
      args: { patient: pseudonym },
      fromBlock: 0n,
    });
    expect(logs).toHaveLength(1);
    const ev = logs[0]?.args;
    expect([ev?.consentId?.toLowerCase(), ev?.doctor, ev?.scope, ev?.purpose, ev?.dataUntil]).toEqual([
      consentId,
      drA,
      1,
      'cardiology follow-up',
      0n,
    ]);
    // 24 h of history back from the grant, valid for 24 h from then (a minute of skew allowed).
    expect(Number(ev?.validUntil) - Number(ev?.validFrom)).toBe(24 * 3_600_000 + 60_000);
    expect(Math.abs(Number(ev?.dataFrom) - (started - 24 * 3_600_000))).toBeLessThan(30_000);
  }, 60_000);

  it('behavior: Dr A sees the readings under the consent; Dr B is refused consent_required', async () => {
    await signIn(doctorPage, 'dr-a', '/doctor/');
    const open = doctorPage.locator(`#patient-table tr[data-patient="${pseudonym}"] button.open`);
    await open.waitFor();
    expect(await doctorPage.locator('#patient-table tbody tr').first().textContent()).toContain(PATIENT_ID);
    await open.click();
    await doctorPage.waitForSelector('#view[data-state="shown"]');
    expect(await doctorPage.locator('#readings tbody tr').count()).toBe(READINGS);
    expect(await doctorPage.textContent('#readings tbody tr:first-child td:nth-child(3)')).toBe(
      String(64 + READINGS - 1),
    );
    expect(await doctorPage.textContent('#view-basis')).toContain('Under consent');
    await doctorPage.screenshot({ path: join(DOCS, 'doctor-view.png'), fullPage: true });

    const url = `/api/care/patients/${pseudonym}/readings?from=${admittedAt}&to=${Date.now()}`;
    const drBAnswer = await rig.get('dr-b', url);
    expect([drBAnswer.status, errorCode(drBAnswer)]).toEqual([403, 'consent_required']);
  }, 60_000);

  it("behavior: the patient's access list names Dr A's accesses under the consent, and their own", async () => {
    await patientPage.reload();
    await patientPage.waitForSelector('body[data-state="ready"]');
    await patientPage.waitForSelector(`#access-table tr[data-consent="${consentId}"]`);
    const consentRows = patientPage.locator(`#access-table tr[data-consent="${consentId}"]`);
    expect(await consentRows.count()).toBeGreaterThanOrEqual(2); // readings and trend
    expect(await consentRows.first().locator('td').nth(1).textContent()).toBe('dr-a');
    expect(await consentRows.first().locator('td').nth(5).textContent()).toBe(
      `consent ${consentId.slice(0, 6)}…${consentId.slice(-4)}`,
    );
    expect(await patientPage.locator('#access-table tr[data-basis="self"]').count()).toBeGreaterThanOrEqual(
      2,
    );
    await patientPage.screenshot({ path: join(DOCS, 'patient-portal.png'), fullPage: true });
  }, 60_000);

  it('behavior: the patient revokes in the portal: ConsentRevoked on the chain, Dr A refused within 60 s', async () => {
    await patientPage.fill('#sign-pass', PASSPHRASE);
    await patientPage.click(`#consent-table tr[data-consent="${consentId}"] button.revoke`);
    await patientPage.waitForFunction(() =>
      document.querySelector('#consent-ok')?.textContent?.startsWith('Revoked'),
    );
    expect(
      await patientPage.getAttribute(`#consent-table tr[data-consent="${consentId}"]`, 'data-status'),
    ).toBe('revoked');
    const logs = await chainLogs().getLogs({
      address: consentAddress(),
      event: REVOKE_EVENT,
      args: { patient: pseudonym },
      fromBlock: 0n,
    });
    expect(logs.map((l) => [l.args.consentId?.toLowerCase(), l.args.doctor])).toEqual([[consentId, drA]]);

    const revokedAt = Date.now();
    await doctorPage.click('#view-refresh');
    await doctorPage.waitForSelector('#view[data-code="consent_required"]', { timeout: 60_000 });
    expect(Date.now() - revokedAt).toBeLessThan(60_000);
    expect(await doctorPage.textContent('#view-error')).toContain('consent_required');
    expect(await doctorPage.locator('#readings tbody tr').count()).toBe(0);
    // The passphrase never left the patient's browser; the grant and the revocation did, signed.
    expect(sent.filter((r) => r.includes('/api/care/consents')).length).toBeGreaterThanOrEqual(2);
    expect(sent.filter((r) => r.includes(PASSPHRASE) || r.includes('not my passphrase'))).toEqual([]);
  }, 90_000);

  it('behavior: the downloads fetch the patient’s FHIR export and bundle, or show the coded refusal', async () => {
    const bundleHref = (await patientPage.getAttribute('#dl-bundle', 'href')) as string;
    const fhirHref = (await patientPage.getAttribute('#dl-fhir', 'href')) as string;
    expect(bundleHref).toMatch(new RegExp(`^/api/care/patients/${pseudonym}/bundle\\?from=\\d+&to=\\d+$`));
    expect(fhirHref).toMatch(new RegExp(`^/api/care/patients/${pseudonym}/fhir\\?from=\\d+&to=\\d+$`));
    const [from, to] = (fhirHref.match(/\d+/g) ?? []).slice(-2).map(Number) as [number, number];
    expect(to - from).toBeLessThanOrEqual(6 * 3_600_000); // the gateway builds at most 6 h of FHIR
    const [dl] = await Promise.all([patientPage.waitForEvent('download'), patientPage.click('#dl-fhir')]);
    const fhir = JSON.parse(await readFile((await dl.path()) as string, 'utf8')) as {
      resourceType: string;
      entry?: { resource: { resourceType: string } }[];
    };
    expect(fhir.resourceType).toBe('Bundle');
    expect(
      fhir.entry?.filter((e) => e.resource.resourceType === 'Observation').length,
    ).toBeGreaterThanOrEqual(READINGS);
    // No checkpoint is anchored in this test (one an hour): the bundle is refused with its code,
    // shown on the page.
    await patientPage.click('#dl-bundle');
    await patientPage.waitForFunction(() => document.querySelector('#dl-error')?.textContent !== '');
    expect(await patientPage.textContent('#dl-error')).toContain('not_anchored');
  }, 60_000);

  it('behavior: break-glass: Dr A opens the record by the patient id with a reason; the charge nurse and the patient see it', async () => {
    const me = await rig.get('dr-a', '/api/care/me');
    expect(me.body.breakGlass).toBe(true); // care.breakGlassRoles: doctors by default
    expect(await doctorPage.isHidden('#break-glass')).toBe(false);
    await doctorPage.fill('#bg-patient', PATIENT_ID); // what a doctor in an emergency knows
    await doctorPage.click('#bg-submit');
    // No reason: the form is not sent (the field is required), nothing is opened.
    expect(await doctorPage.$eval('#bg-reason', (el) => (el as HTMLInputElement).validity.valueMissing)).toBe(
      true,
    );
    expect(await doctorPage.getAttribute('#view', 'data-code')).toBe('consent_required');
    await doctorPage.fill('#bg-reason', 'unconscious in the emergency department');
    await doctorPage.click('#bg-submit');
    await doctorPage.waitForSelector('#view[data-state="shown"]', { timeout: 30_000 });
    expect(await doctorPage.locator('#readings tbody tr').count()).toBe(READINGS);
    await patientPage.reload();
    await patientPage.waitForSelector('body[data-state="ready"]');
    await patientPage.waitForSelector('#access-table tr.break-glass');
    expect(await patientPage.textContent('#access-table tr.break-glass')).toContain(
      'unconscious in the emergency department',
    );
    expect(await patientPage.isHidden('#break-glass')).toBe(false);
    // The charge nurse's central station: the bed's break_glass_access alarm names who and why.
    // (raised at the alarm service's next tick)
    const detail = async () =>
      (
        (await rig.get('cn', '/api/alarms')).body.alarms as {
          code: string;
          detail?: string;
        }[]
      ).find((a) => a.code === 'break_glass_access')?.detail ?? '';
    await expect.poll(detail, { timeout: 10_000 }).toContain('unconscious in the emergency department');
  }, 60_000);
});
