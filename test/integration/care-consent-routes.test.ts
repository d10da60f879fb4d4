/**
 * @module test/integration/care-consent-routes
 * The patient's key, grants and revocations relayed by the gateway, and "who saw my data"
 * (issue 18, io/http/routes/care/care-consent-routes), on a real anvil with the real consent
 * contract (the embedded chain of a prepared data dir: its KGC account is this gateway's
 * registration authority), a gateway in this process and real HTTP:
 * - `GET /api/care/me` names each caller's subject and the chain; a patient without a key;
 * - `PUT /api/care/me/key`: a proof by another key, a keystore too large: 400; the right proof:
 *   the key registered on the chain (its event), the keystore kept; again: no transaction;
 *   another key: 409 `patient_key_exists`;
 * - `POST /api/care/consents`: another patient's pseudonym 403, a signature by another key 422
 *   `consent_rejected` naming `BadSignature`; a good one 201 with the contract's consent id,
 *   and Dr A reads at once; Dr B is refused;
 * - `GET /api/care/access`: the patient sees Dr A's access with its consent; Dr A sees only
 *   their own; a nurse has neither route;
 * - `POST .../revoke`: another patient 404, a bad signature 422, the patient's 200, and Dr A is
 *   refused `consent_required` at once;
 * - every write audited.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSENT_TYPES,
  type ConsentClient,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  createConsentClient,
  patientKeyProofMessage,
  REVOCATION_TYPES,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { type CareRig, H, KEYSTORE, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';

describe('care consent routes: the patient key, grants and revocations relayed, who saw my data', () => {
  const tmp = makeTempDir('vt-care-consent-');
  let rig: CareRig;
  let reader: ConsentClient;
  let pseudonym: Hex;
  let other: Hex;
  let auditFile = '';
  const patient = privateKeyToAccount(generatePrivateKey());
  const stranger = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drB = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  let t0 = 0;
  let consentId: Hex;

  const api = (who: string, method: string, url: string, body?: unknown) =>
    call(rig.gw.http.url, method, url, rig.cookies[who], body);
  const codeOf = (r: { status: number; body: Record<string, unknown> }) => [
    r.status,
    (r.body.error as { code: string } | undefined)?.code,
  ];
  const domain = () => consentDomain(rig.chain.deployment.chainId, rig.chain.deployment.consent as Hex);
  const grantMessage = () => {
    const now = Date.now();
    return {
      patient: pseudonym,
      doctor: drA,
      scope: SCOPE_VITALS,
      dataFrom: BigInt(t0 - 24 * H),
      dataUntil: 0n,
      validFrom: BigInt(now - 60_000),
      validUntil: BigInt(now + 24 * H),
      purpose: 'cardiology follow-up',
      nonce: 42n,
    };
  };
  const asJson = (m: ReturnType<typeof grantMessage>) => ({
    ...m,
    dataFrom: String(m.dataFrom),
    dataUntil: String(m.dataUntil),
    validFrom: String(m.validFrom),
    validUntil: String(m.validUntil),
    nonce: String(m.nonce),
  });
  const readings = (who: string) =>
    api(who, 'GET', `/api/care/patients/${pseudonym}/readings?from=${t0 - H}&to=${Date.now() + 60_000}`);

  beforeAll(async () => {
    t0 = Date.now();
    rig = await startCareRig(tmp.dir, { devices: [DEV], users: [], refreshMs: 60_000 }, (paths) => {
      pseudonym = pseudonymIn(paths, 'P-0101');
      other = pseudonymIn(paths, 'P-0202');
      return {
        users: [
          { username: 'dr-a', role: 'doctor', subject: drA },
          { username: 'dr-b', role: 'doctor', subject: drB },
          { username: 'pat', role: 'patient', subject: pseudonym },
          { username: 'pat2', role: 'patient', subject: other },
          { username: 'nia', role: 'nurse' },
          { username: 'cn', role: 'charge_nurse' },
        ],
        doctors: [drA, drB],
      };
    });
    auditFile = join(rig.paths.root, 'gateway', 'audit.log');
    reader = createConsentClient({ rpcUrl: rig.chain.rpcUrl, deployment: rig.chain.deployment });
    await rig.login('dr-a', 'dr-b', 'pat', 'pat2', 'nia', 'cn');
    const admitted = await api('cn', 'POST', '/api/admissions', {
      dev: DEV,
      patientId: 'P-0101',
      bed: 'Bed 3',
    });
    expect(admitted.status).toBe(201);
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < 3; i++) await rig.gw.ingest.submit(frames.next({}, { hr: 80 + i, spo2: 96 }), DEV);
  }, 120_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: me names the subject and the chain; the key is proven, registered once, kept; another key is refused', async () => {
    const me = await api('pat', 'GET', '/api/care/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      username: 'pat',
      role: 'patient',
      subject: pseudonym,
      chain: { chainId: rig.chain.deployment.chainId, consent: rig.chain.deployment.consent },
      patientKey: { address: null, keystore: null },
    });
    const doc = await api('dr-a', 'GET', '/api/care/me');
    expect(doc.body).toMatchObject({ role: 'doctor', subject: drA, breakGlass: true }); // care.breakGlassRoles default
    expect((await api('nia', 'GET', '/api/care/me')).status).toBe(403);

    const address = patient.address.toLowerCase();
    const proof = await patient.signMessage({ message: patientKeyProofMessage(pseudonym, patient.address) });
    const forged = await stranger.signMessage({
      message: patientKeyProofMessage(pseudonym, patient.address),
    });
    expect(
      codeOf(await api('pat', 'PUT', '/api/care/me/key', { address, keystore: KEYSTORE, proof: forged })),
    ).toEqual([400, 'bad_request']);
    const big = { ...KEYSTORE, ciphertext: 'A'.repeat(3000) };
    expect(codeOf(await api('pat', 'PUT', '/api/care/me/key', { address, keystore: big, proof }))).toEqual([
      400,
      'bad_request',
    ]);
    // Another patient's proof names another pseudonym: it does not prove this one.
    const proof2 = await patient.signMessage({ message: patientKeyProofMessage(other, patient.address) });
    expect(
      (await api('pat', 'PUT', '/api/care/me/key', { address, keystore: KEYSTORE, proof: proof2 })).status,
    ).toBe(400);
    expect(await reader.patientKey(pseudonym)).toBeNull();

    const put = await api('pat', 'PUT', '/api/care/me/key', { address, keystore: KEYSTORE, proof });
    expect(put.status).toBe(200);
    expect(put.body.address).toBe(address);
    expect(put.body.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await reader.patientKey(pseudonym))?.toLowerCase()).toBe(address);
    const again = await api('pat', 'PUT', '/api/care/me/key', {
      address,
      keystore: { ...KEYSTORE, v: 1 },
      proof,
    });
    expect([again.status, again.body.txHash]).toEqual([200, null]);
    expect((await api('pat', 'GET', '/api/care/me')).body.patientKey).toEqual({
      address,
      keystore: KEYSTORE,
    });

    const proofS = await stranger.signMessage({
      message: patientKeyProofMessage(pseudonym, stranger.address),
    });
    const swap = await api('pat', 'PUT', '/api/care/me/key', {
      address: stranger.address,
      keystore: KEYSTORE,
      proof: proofS,
    });
    expect(codeOf(swap)).toEqual([409, 'patient_key_exists']);
    expect((await reader.patientKey(pseudonym))?.toLowerCase()).toBe(address);
    // The doctors a patient may pick.
    const doctors = await api('pat', 'GET', '/api/care/doctors');
    expect(doctors.body.doctors).toEqual([
      { username: 'dr-a', clinicianId: drA, suspended: false },
      { username: 'dr-b', clinicianId: drB, suspended: false },
    ]);
    expect((await api('dr-a', 'GET', '/api/care/doctors')).status).toBe(403);
  });

  it('behavior: a grant is relayed only for the signer’s own pseudonym and signature; Dr A then reads, Dr B does not', async () => {
    const m = grantMessage();
    const signature = await patient.signTypedData({
      domain: domain(),
      types: CONSENT_TYPES,
      primaryType: 'Consent',
      message: m,
    });
    const notMine = await api('pat2', 'POST', '/api/care/consents', { message: asJson(m), signature });
    expect(codeOf(notMine)).toEqual([403, 'forbidden']);
    const badSig = await stranger.signTypedData({
      domain: domain(),
      types: CONSENT_TYPES,
      primaryType: 'Consent',
      message: m,
    });
    const refused = await api('pat', 'POST', '/api/care/consents', { message: asJson(m), signature: badSig });
    expect(codeOf(refused)).toEqual([422, 'consent_rejected']);
    expect((refused.body.error as { reason: string }).reason).toContain('BadSignature');
    expect(codeOf(await readings('dr-a'))).toEqual([403, 'consent_required']);

    const granted = await api('pat', 'POST', '/api/care/consents', { message: asJson(m), signature });
    expect(granted.status).toBe(201);
    consentId = consentIdOf(domain(), m).toLowerCase() as Hex;
    expect(granted.body.consent).toMatchObject({
      id: consentId,
      doctor: drA,
      status: 'in_force',
      purpose: m.purpose,
    });
    expect(granted.body.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await reader.consent(consentId))?.patient.toLowerCase()).toBe(pseudonym);
    // A replay of the same signed grant is the contract's ConsentExists.
    const replay = await api('pat', 'POST', '/api/care/consents', { message: asJson(m), signature });
    expect((replay.body.error as { reason: string }).reason).toContain('ConsentExists');

    const a = await readings('dr-a');
    expect([a.status, a.body.basis]).toEqual([200, { type: 'consent', consentId }]);
    expect(codeOf(await readings('dr-b'))).toEqual([403, 'consent_required']);
    const listed = await api('pat', 'GET', '/api/care/consents');
    expect((listed.body.consents as { id: string; status: string }[]).map((c) => [c.id, c.status])).toEqual([
      [consentId, 'in_force'],
    ]);
  });

  it('behavior: who saw my data: the patient sees every access to them, a doctor only their own', async () => {
    await readings('pat'); // the patient's own look
    const mine = await api('pat', 'GET', '/api/care/access?limit=50');
    expect(mine.status).toBe(200);
    const entries = mine.body.entries as {
      index: number;
      actor: string;
      role: string;
      basis: { type: string; consentId?: string };
    }[];
    expect(entries.map((e) => [e.role, e.basis.type])).toEqual([
      ['patient', 'self'],
      ['doctor', 'consent'],
    ]);
    expect(entries[1]).toMatchObject({ actor: drA, basis: { consentId } });
    expect(entries[0]?.index).toBeGreaterThan(entries[1]?.index as number); // newest first
    const drAs = await api('dr-a', 'GET', '/api/care/access');
    expect((drAs.body.entries as { actor: string }[]).every((e) => e.actor === drA)).toBe(true);
    expect((drAs.body.entries as unknown[]).length).toBe(1);
    expect((await api('dr-b', 'GET', '/api/care/access')).body.entries).toEqual([]);
    expect((await api('pat2', 'GET', '/api/care/access')).body.entries).toEqual([]);
    expect((await api('nia', 'GET', '/api/care/access')).status).toBe(403);
    expect(codeOf(await api('pat', 'GET', '/api/care/access?limit=5000'))).toEqual([400, 'bad_request']);
  });

  it('behavior: a revocation is relayed only for the patient’s own consent and signature; Dr A is refused at once', async () => {
    const signature = await patient.signTypedData({
      domain: domain(),
      types: REVOCATION_TYPES,
      primaryType: 'Revocation',
      message: { consentId },
    });
    expect(
      codeOf(await api('pat2', 'POST', `/api/care/consents/${consentId}/revoke`, { signature })),
    ).toEqual([404, 'not_found']);
    const bad = await stranger.signTypedData({
      domain: domain(),
      types: REVOCATION_TYPES,
      primaryType: 'Revocation',
      message: { consentId },
    });
    expect(
      codeOf(await api('pat', 'POST', `/api/care/consents/${consentId}/revoke`, { signature: bad })),
    ).toEqual([422, 'consent_rejected']);
    expect((await readings('dr-a')).status).toBe(200);
    const revoked = await api('pat', 'POST', `/api/care/consents/${consentId}/revoke`, { signature });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ consentId });
    expect((await reader.consent(consentId))?.revokedAt).not.toBeNull();
    expect(codeOf(await readings('dr-a'))).toEqual([403, 'consent_required']);
    expect(
      ((await api('pat', 'GET', '/api/care/consents')).body.consents as { status: string }[]).map(
        (c) => c.status,
      ),
    ).toEqual(['revoked']);
    // Malformed bodies are coded, never a crash.
    expect(
      codeOf(await api('pat', 'POST', '/api/care/consents', { message: { patient: 'x' }, signature: '0x' })),
    ).toEqual([400, 'bad_request']);
    expect(codeOf(await api('pat', 'POST', '/api/care/consents/0x12/revoke', { signature }))).toEqual([
      400,
      'bad_request',
    ]);
  });

  it('behavior: every write for a patient is audited with its transaction', () => {
    const lines = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; user?: string; detail?: string });
    const writes = lines.filter((l) =>
      ['patient_key_registered', 'consent_granted', 'consent_revoked'].includes(l.event),
    );
    expect(writes.map((w) => [w.event, w.user])).toEqual([
      ['patient_key_registered', 'pat'],
      ['consent_granted', 'pat'],
      ['consent_revoked', 'pat'],
    ]);
    expect(writes[1]?.detail).toContain(consentId);
    expect(writes.every((w) => !/P-0101/.test(w.detail ?? ''))).toBe(true);
  });
});
