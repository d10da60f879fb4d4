/**
 * @module test/integration/clinician-bar
 * Nurses on the chain (issue 18: "a suspended clinician loses access within 60 s everywhere"),
 * on a real anvil with the real consent contract, a gateway in this process and real HTTP:
 * - a nurse whose account names a clinician id registered as a nurse works; one whose id is
 *   not registered cannot sign in (`account_disabled`); a nurse without an id is untouched;
 * - the KGC suspends the nurse: within the refresh her session ends (401) and she cannot sign
 *   in, audited `clinician_barred`; reinstated, she signs in again (`clinician_cleared`);
 * - accounts: a nurse or charge nurse may name a clinician id, an auditor may not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinicianIdOf } from '../../anchor/src/consent/index.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { CARE_PW, type CareRig, startCareRig } from '../helpers/care-rig.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const PW = 'clinician-bar-password-1';
const idOf = () => clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);

describe('nurses suspended on the chain lose the ward', () => {
  const tmp = makeTempDir('vt-clinician-bar-');
  let rig: CareRig;
  let auditFile = '';
  const nia = idOf();
  const ned = idOf();

  const login = (username: string) =>
    call(rig.gw.http.url, 'POST', '/api/login', undefined, { username, password: CARE_PW });
  const codeOf = (r: { status: number; body: Record<string, unknown> }) => [
    r.status,
    (r.body.error as { code?: string } | undefined)?.code,
  ];
  const events = () =>
    readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string })
      .filter((l) => l.event.startsWith('clinician_'))
      .map((l) => [l.event, l.user]);

  beforeAll(async () => {
    rig = await startCareRig(tmp.dir, {
      devices: ['wr-0001'],
      users: [
        { username: 'nia', role: 'nurse', subject: nia },
        { username: 'ned', role: 'charge_nurse', subject: ned },
        { username: 'nora', role: 'nurse' },
      ],
      nurses: [nia],
    });
    auditFile = join(rig.paths.root, 'gateway', 'audit.log');
  }, 120_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: a registered nurse works, an unregistered id cannot sign in, no id: the gateway’s alone', async () => {
    const a = await login('nia');
    expect(a.status).toBe(200);
    expect((await call(rig.gw.http.url, 'GET', '/api/ward', a.cookie)).status).toBe(200);
    expect(codeOf(await login('ned'))).toEqual([403, 'account_disabled']);
    expect((await login('nora')).status).toBe(200);
  });

  it('behavior: suspended on the chain, her session ends within the refresh and she cannot sign in; reinstated, she can', async () => {
    const a = await login('nia');
    expect(a.status).toBe(200);
    await rig.kgc.suspendClinician(nia);
    const t0 = Date.now();
    await expect
      .poll(async () => (await call(rig.gw.http.url, 'GET', '/api/ward', a.cookie)).status, {
        timeout: 10_000,
        interval: 100,
      })
      .toBe(401);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(codeOf(await login('nia'))).toEqual([403, 'account_disabled']);
    expect((await login('nora')).status).toBe(200); // the others go on
    await rig.kgc.reinstateClinician(nia);
    await expect.poll(async () => (await login('nia')).status, { timeout: 10_000, interval: 100 }).toBe(200);
    expect(events()).toEqual([
      ['clinician_barred', 'ned'],
      ['clinician_barred', 'nia'],
      ['clinician_cleared', 'nia'],
    ]);
  });

  it('error: only the ward team’s clinicians may name a clinician id', async () => {
    const users = new UserFile(join(tmp.dir, 'other-users.json'));
    await users.add('cn', 'charge_nurse', PW, { subject: idOf() });
    await expect(users.add('aud', 'auditor', PW, { subject: idOf() })).rejects.toThrow(/has no subject/);
    await expect(users.add('bad', 'nurse', PW, { subject: '0x12' })).rejects.toThrow(/64 lower-case hex/);
  });
});
