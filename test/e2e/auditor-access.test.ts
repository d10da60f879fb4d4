/**
 * @module test/e2e/auditor-access
 * Issue 18, the auditor page with an access-log bundle, on a real dev chain (anvil, the real
 * consent contract, real EIP-712 signatures) and in real headless Chromium: a patient grants
 * Dr A; the gateway's access log (io/access, anchored by its own access account) records Dr A's
 * read under that consent, the patient's own read, a nurse's ward read and a break-glass read;
 * the built CLI exports the access bundle (`export-access`) and saves its chain evidence
 * (`verify-access-fetch`). The page, given the bundle and the evidence file (the worker tells
 * the access bundle by its format), shows VALID with, per access, its basis: the consent id,
 * the break-glass reason, whose and when, and a JSON report identical to `vitaltrail
 * verify-access BUNDLE --evidence FILE --json`; a bundle with an entry deleted shows
 * `entry_missing` for that leaf, INVALID, as the CLI (exit 1). Evidence of another chain
 * cannot be verified (the CLI exits 2). Screenshot: test-results/auditor-access.png
 * (dashboards/docs/ with VT_UPDATE_DOCS=1).
 * Needs `npm run build` (the CLI and the verifier bundle).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSENT_TYPES,
  clinicianIdOf,
  consentDomain,
  createConsentClient,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import type { AccessEntry } from '../../anchor/src/verify-access/index.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { createAccessAnchoring } from '../../gateway/src/io/access/index.js';
import {
  consentAccountKeyPath,
  type EmbeddedChain,
  ensureAccountKey,
  startEmbeddedChain,
} from '../../gateway/src/io/anchoring/index.js';
import { auditorRoutes } from '../../gateway/src/io/http/routes/auditor-routes.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import type { DataPaths } from '../../gateway/src/io/ops/index.js';
import { openStore } from '../../gateway/src/io/store/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const VERIFIER = join(ROOT, 'dist', 'auditor', 'verifier.js');
// Redrawn in the docs only on request (VT_UPDATE_DOCS=1, as the ward's screenshots): a test run
// must not change a tracked file.
const SCREENSHOT = join(
  ROOT,
  process.env.VT_UPDATE_DOCS === '1' ? 'dashboards/docs' : 'test-results',
  'auditor-access.png',
);
const GW = 'gw-1';
const H = 3_600_000;
const AUDITOR = { username: 'audrey', password: 'correct horse auditor 42' };
const REASON = 'cardiac arrest in bed 4, no consent reachable';

describe('auditor page: an access-log bundle on anvil (headless chromium)', () => {
  const tmp = makeTempDir('vt-auditor-access-');
  let paths: DataPaths;
  let chain: EmbeddedChain;
  let srv: HttpServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let grantId: Hex;
  const patient = `0x${'a7'.repeat(32)}` as Hex;
  const patientAccount = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const files = { bundle: '', evidence: '', deleted: '', deletedEvidence: '' };
  const at0 = Date.now();

  beforeAll(async () => {
    paths = await prepareDataDir(join(tmp.dir, 'd'), []);
    chain = await startEmbeddedChain(paths, logIdOf(checkpointOrigin(GW)), {
      accessLogId: logIdOf(accessLogOrigin(GW)),
    });
    const kgc = createConsentClient({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    const relay = createConsentClient({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      // The relay's own account (as the gateway's), never the anchorer's.
      privateKey: ensureAccountKey(consentAccountKeyPath(paths)),
    });
    await kgc.registerClinician(drA, 'doctor');
    await kgc.registerPatientKey(patient, patientAccount.address);
    const message = {
      patient,
      doctor: drA,
      scope: SCOPE_VITALS,
      dataFrom: BigInt(at0 - 24 * H),
      dataUntil: 0n,
      validFrom: BigInt(at0 - 60_000),
      validUntil: BigInt(at0 + H),
      purpose: 'cardiology follow-up',
      nonce: 1n,
    };
    const signature = await patientAccount.signTypedData({
      domain: consentDomain(chain.deployment.chainId, chain.deployment.consent as Hex),
      types: CONSENT_TYPES,
      primaryType: 'Consent',
      message,
    });
    grantId = (await relay.submitGrant(message, signature)).consentId.toLowerCase() as Hex;

    // The gateway's access log, anchored by its access account: four accesses, each basis.
    const store = openStore(paths.db);
    try {
      const access = createAccessAnchoring({
        store,
        paths,
        gatewayId: GW,
        intervalMs: 1e6,
        ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment },
      });
      await access.anchorer!.reconcile();
      const entry = (i: number, over: Partial<AccessEntry>): AccessEntry => ({
        v: 1,
        at: at0 + i * 1000,
        gateway: GW,
        actor: 'nina',
        role: 'nurse',
        patient,
        dev: 'wr-0001',
        action: 'readings',
        dataFrom: at0 - H,
        dataUntil: at0,
        basis: { type: 'ward' },
        ...over,
      });
      access.log.append(
        entry(1, {
          actor: drA,
          role: 'doctor',
          dev: null,
          basis: { type: 'consent', consentId: grantId, chainId: chain.deployment.chainId },
        }),
      );
      access.log.append(
        entry(2, { actor: 'pat-0007', role: 'patient', dev: null, action: 'trend', basis: { type: 'self' } }),
      );
      access.log.append(entry(3, {}));
      access.log.append(
        entry(4, { actor: 'ben', role: 'charge_nurse', basis: { type: 'break_glass', reason: REASON } }),
      );
      await access.anchorer!.tick();
      expect(access.log.anchoredCheckpoints().at(-1)?.treeSize).toBe(4);
    } finally {
      store.close();
    }
    files.bundle = join(tmp.dir, 'access.json');
    files.evidence = join(tmp.dir, 'access-evidence.json');
    const exported = await runCli([
      'export-access',
      '--data',
      paths.root,
      '--gateway-id',
      GW,
      '--out',
      files.bundle,
    ]);
    expect([exported.code, exported.stderr]).toEqual([0, '']);
    const consent = chain.deployment.consent as string;
    const fetched = await runCli([
      'verify-access-fetch',
      files.bundle,
      '--rpc',
      chain.rpcUrl,
      '--consent',
      consent,
      '--out',
      files.evidence,
    ]);
    expect([fetched.code, fetched.stderr]).toEqual([0, '']);
    expect(fetched.stdout).toContain('1 grant(s) and 0 cited consent(s) not on chain');
    // The bundle with leaf 2 deleted, and its own evidence.
    const b = JSON.parse(readFileSync(files.bundle, 'utf8'));
    b.entries.splice(2, 1);
    files.deleted = join(tmp.dir, 'deleted.json');
    writeFileSync(files.deleted, JSON.stringify(b));
    files.deletedEvidence = join(tmp.dir, 'deleted-evidence.json');
    const f2 = await runCli([
      'verify-access-fetch',
      files.deleted,
      '--rpc',
      chain.rpcUrl,
      '--consent',
      consent,
      '--out',
      files.deletedEvidence,
    ]);
    expect(f2.code).toBe(0);

    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(AUDITOR.username, 'auditor', AUDITOR.password);
    [srv, browser] = await Promise.all([
      startHttpServer({
        hub: new LiveHub(),
        users,
        staticDir: join(ROOT, 'dashboards/ward'),
        routes: [auditorRoutes({ verifierFile: VERIFIER })],
      }),
      launchBrowser(),
    ]);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    expect((await context.request.post(`${srv.url}/api/login`, { data: AUDITOR })).status()).toBe(200);
    page = await context.newPage();
    await page.goto(`${srv.url}/auditor/`);
    await page.locator('body[data-state="ready"]').waitFor();
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await srv?.close();
    await chain?.anvil.stop();
    tmp.cleanup();
  });

  async function verifyInPage(bundle: string, evidence: string): Promise<void> {
    await page.evaluate(() => {
      document.body.dataset.state = 'pending';
    });
    await page.setInputFiles('#bundle-file', bundle);
    await page.setInputFiles('#anchors-file', evidence);
    await page.click('#verify');
    await page.locator('body[data-state="done"], body[data-state="error"]').waitFor();
  }

  const rows = () =>
    page.$$eval('#access-entries tbody tr', (trs) =>
      trs.map((tr) => ({
        code: (tr as HTMLElement).dataset.code,
        basis: (tr as HTMLElement).dataset.basis,
        cells: Array.from((tr as HTMLTableRowElement).cells).map((c) => c.textContent),
      })),
    );

  it('behavior: an honest access bundle is VALID in the page, each access with its basis, whose and when, and the CLI report', async () => {
    const cli = await runCli(['verify-access', files.bundle, '--evidence', files.evidence, '--json']);
    expect(cli.code).toBe(0);
    const human = await runCli(['verify-access', files.bundle, '--evidence', files.evidence]);
    await verifyInPage(files.bundle, files.evidence);
    expect(await page.getAttribute('body', 'data-state')).toBe('done');
    expect(await page.isHidden('#result')).toBe(true);
    expect(await page.textContent('#access-verdict')).toBe('VALID');
    expect(await page.textContent('#access-scope')).toBe(human.stdout.split('\n')[0]);
    expect(JSON.parse((await page.textContent('#access-report-json')) ?? '')).toEqual(JSON.parse(cli.stdout));
    const r = await rows();
    expect(r.map((x) => [x.code, x.basis])).toEqual([
      ['valid', 'consent'],
      ['valid', 'self'],
      ['valid', 'ward'],
      ['valid', 'break_glass'],
    ]);
    // #, leaf, when, what, who, whose, basis, anchored block, code, reason
    expect(r[0]!.cells.slice(2, 7)).toEqual([
      new Date(at0 + 1000).toISOString(),
      'readings',
      `doctor ${drA}`,
      patient,
      `consent ${grantId} (chain ${chain.deployment.chainId})`,
    ]);
    expect(r[3]!.cells.slice(4, 7)).toEqual(['charge_nurse ben', patient, `break-glass: ${REASON}`]);
    expect(Number(r[0]!.cells[7])).toBeGreaterThan(0);
    expect(await page.textContent('#access-summary [data-field="grants"]')).toBe('1 of 1');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('error: a deleted access entry is entry_missing for its leaf in the page, INVALID, as the CLI (exit 1)', async () => {
    const cli = await runCli(['verify-access', files.deleted, '--evidence', files.deletedEvidence, '--json']);
    expect(cli.code).toBe(1);
    await verifyInPage(files.deleted, files.deletedEvidence);
    expect(await page.textContent('#access-verdict')).toBe('INVALID');
    expect(JSON.parse((await page.textContent('#access-report-json')) ?? '')).toEqual(JSON.parse(cli.stdout));
    const gaps = await page.$$eval('#access-gaps tbody tr', (trs) =>
      trs.map((tr) => ({
        ...(tr as HTMLElement).dataset,
        leaves: (tr as HTMLTableRowElement).cells[0]?.textContent,
      })),
    );
    expect(gaps).toEqual([{ code: 'entry_missing', from: '2', to: '2', leaves: '2' }]);
    expect(await page.isVisible('#access-gaps')).toBe(true);
    expect(await page.textContent('#access-by-code')).toContain('entry_missing: 1');
    expect((await rows()).map((x) => x.code)).toEqual(['valid', 'valid', 'valid']);
  });

  it('error: evidence of another chain cannot be verified, as the CLI exits 2', async () => {
    const other = join(tmp.dir, 'other-chain.json');
    writeFileSync(other, JSON.stringify({ ...JSON.parse(readFileSync(files.evidence, 'utf8')), chainId: 1 }));
    const cli = await runCli(['verify-access', files.bundle, '--evidence', other]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/^error: evidence_mismatch: /);
    await verifyInPage(files.bundle, other);
    expect(await page.getAttribute('body', 'data-state')).toBe('error');
    expect(await page.textContent('#error')).toMatch(/cannot verify: .*evidence/);
    expect(await page.isHidden('#access-result')).toBe(true);
  });
});
