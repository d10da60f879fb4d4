/**
 * @module test/integration/consent-contract
 * Consent on chain (README "Consent on chain (issue 18)") against a real anvil, real solc and
 * real secp256k1 signatures: a patient's key signs EIP-712 grants and revocations that the
 * gateway's account submits and pays for; the contract checks the signer, the doctor and the
 * grant's rules, each refusal a custom error that the client maps to a coded `LedgerError`;
 * only the registration authority (the registry's KGC) writes clinicians and patient keys;
 * `consentsOf` reads the grants back from the events; an existing deployment gets the contract
 * lazily. No mocks.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  type Abi,
  createPublicClient,
  decodeEventLog,
  encodeAbiParameters,
  http,
  keccak256,
  type PublicClient,
  toBytes,
  toEventSelector,
  toHex,
} from 'viem';
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSENT_TYPES,
  type ConsentClient,
  type ConsentContractError,
  type ConsentDomain,
  type ConsentMessage,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  consentRefusalOf,
  consentRuleBroken,
  createConsentClient,
  REVOCATION_TYPES,
  SCOPE_ALL,
  SCOPE_ECG,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import { CONSENT_ABI, type ContractArtifacts, loadArtifacts } from '../../anchor/src/contracts/index.js';
import {
  ANVIL_DEV_KEY,
  type AnvilHandle,
  type Deployment,
  deployContracts,
  ensureConsentContract,
  fundAccount,
  type Hex,
  isDeployed,
  LedgerError,
  startAnvil,
} from '../../anchor/src/ledger/index.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { startEmbeddedChain } from '../../gateway/src/io/anchoring/index.js';
import { dataPaths } from '../../gateway/src/io/ops/index.js';
import { makeTempDir } from '../helpers/tmp.js';

let node: AnvilHandle;
let pub: PublicClient;
let artifacts: ContractArtifacts;
let deployment: Deployment;
let domain: ConsentDomain;
let kgc: ConsentClient; // the registration authority
let gateway: ConsentClient; // submits patients' signed messages and pays their gas
let auditor: ConsentClient; // no key: reads only
const gatewayKey = generatePrivateKey();

const pseudonym = (): Hex => toHex(randomBytes(32));
const HOUR = 3_600_000n;
const T0 = 1_798_761_600_000n; // 2027-01-01T00:00:00Z, ms

/** A patient: a pseudonym and a fresh key (never funded: patients need no ether), registered by the KGC. */
async function newPatient(): Promise<{ id: Hex; account: PrivateKeyAccount }> {
  const p = { id: pseudonym(), account: privateKeyToAccount(generatePrivateKey()) };
  await kgc.registerPatientKey(p.id, p.account.address);
  return p;
}

/** A clinician id from a fresh KGC-style P-256 key's SPKI, registered with `role`. */
async function newClinician(role: 'doctor' | 'nurse' = 'doctor'): Promise<Hex> {
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    type: 'spki',
    format: 'der',
  });
  const id = clinicianIdOf(new Uint8Array(spki));
  await kgc.registerClinician(id, role);
  return id;
}

function grantOf(patient: Hex, doctor: Hex, over: Partial<ConsentMessage> = {}): ConsentMessage {
  return {
    patient,
    doctor,
    scope: SCOPE_ALL,
    dataFrom: T0 - 24n * HOUR,
    dataUntil: 0n,
    validFrom: T0,
    validUntil: T0 + 30n * 24n * HOUR,
    purpose: 'cardiology follow-up',
    nonce: BigInt(toHex(randomBytes(8))),
    ...over,
  };
}

const signGrant = (by: PrivateKeyAccount, message: ConsentMessage, d = domain): Promise<Hex> =>
  by.signTypedData({ domain: d, types: CONSENT_TYPES, primaryType: 'Consent', message });
const signRevocation = (by: PrivateKeyAccount, consentId: Hex): Promise<Hex> =>
  by.signTypedData({ domain, types: REVOCATION_TYPES, primaryType: 'Revocation', message: { consentId } });

/** Asserts that `run` fails with a LedgerError of `code` whose cause is the contract error `name`. */
async function expectRefused(code: string, name: ConsentContractError, run: () => Promise<unknown>) {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught, `should be refused with ${name}`).toBeInstanceOf(LedgerError);
  expect((caught as LedgerError).code).toBe(code);
  expect(consentRefusalOf(caught)).toBe(name);
  expect((caught as LedgerError).reason).toContain(name);
}
const rejected = (name: ConsentContractError, run: () => Promise<unknown>) =>
  expectRefused('consent_rejected', name, run);
const registryRejected = (name: ConsentContractError, run: () => Promise<unknown>) =>
  expectRefused('registry_rejected', name, run);

/** `by` signs the grant `m`; the gateway submits it. */
const give = async (by: PrivateKeyAccount, m: ConsentMessage) =>
  gateway.submitGrant(m, await signGrant(by, m));
/** `by` signs the revocation of `id`; the gateway submits it. */
const take = async (by: PrivateKeyAccount, id: Hex) =>
  gateway.submitRevocation(id, await signRevocation(by, id));
const kgcParams = () => ({ rpcUrl: node.rpcUrl, privateKey: ANVIL_DEV_KEY });
const ensure = (d: Deployment) =>
  ensureConsentContract({ rpcUrl: node.rpcUrl, deployment: d, deployerKey: ANVIL_DEV_KEY, artifacts });

beforeAll(async () => {
  node = await startAnvil();
  pub = createPublicClient({ transport: http(node.rpcUrl), pollingInterval: 100 }) as PublicClient;
  artifacts = loadArtifacts();
  deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY, artifacts });
  domain = consentDomain(deployment.chainId, deployment.consent as Hex);
  await fundAccount(node.rpcUrl, privateKeyToAccount(gatewayKey).address);
  kgc = createConsentClient({ rpcUrl: node.rpcUrl, deployment, privateKey: ANVIL_DEV_KEY });
  gateway = createConsentClient({ rpcUrl: node.rpcUrl, deployment, privateKey: gatewayKey });
  auditor = createConsentClient({ rpcUrl: node.rpcUrl, deployment });
});

afterAll(async () => {
  await node?.stop();
});

describe('VitalTrailConsent on anvil', () => {
  it('behavior: the compiled ABI is exactly CONSENT_ABI, and the contract reports the documented EIP-712 domain', async () => {
    const norm = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(norm);
      if (typeof v !== 'object' || v === null) return v;
      const entries = Object.entries(v)
        .filter(
          ([k, x]) =>
            k !== 'internalType' &&
            !(k === 'name' && x === '') &&
            !((k === 'anonymous' || k === 'indexed') && x === false),
        )
        .sort(([a], [b]) => a.localeCompare(b));
      return Object.fromEntries(entries.map(([k, x]) => [k, norm(x)]));
    };
    const sigs = (abi: Abi) =>
      abi
        .filter((i) => i.type !== 'constructor')
        .map((i) => JSON.stringify(norm(i)))
        .sort();
    expect(sigs(artifacts.VitalTrailConsent.abi)).toEqual(sigs(CONSENT_ABI));

    const address = deployment.consent as Hex;
    const read = (functionName: string) =>
      pub.readContract({ address, abi: CONSENT_ABI, functionName } as never);
    const [, name, version, chainId, verifyingContract] = (await read('eip712Domain')) as readonly [
      Hex,
      string,
      string,
      bigint,
      Hex,
    ];
    expect({ name, version, chainId, verifyingContract: verifyingContract.toLowerCase() }).toEqual({
      ...domain,
      chainId: BigInt(node.chainId),
      verifyingContract: domain.verifyingContract.toLowerCase(),
    });
    expect(await read('CONSENT_TYPEHASH')).toBe(
      keccak256(
        toBytes(
          'Consent(bytes32 patient,bytes32 doctor,uint8 scope,uint64 dataFrom,uint64 dataUntil,uint64 validFrom,uint64 validUntil,string purpose,uint256 nonce)',
        ),
      ),
    );
    expect(await read('REVOCATION_TYPEHASH')).toBe(keccak256(toBytes('Revocation(bytes32 consentId)')));
    expect(((await read('registry')) as Hex).toLowerCase()).toBe(deployment.registry.toLowerCase());
    expect(await read('authority')).toBe(privateKeyToAccount(ANVIL_DEV_KEY).address); // the registry's kgc()
  });

  it('behavior: a grant signed by the patient and submitted by the gateway, which pays the gas, is stored and emitted', async () => {
    const patient = await newPatient();
    const doctor = await newClinician();
    const message = grantOf(patient.id, doctor, { scope: SCOPE_VITALS, dataUntil: T0 });
    const signature = await signGrant(patient.account, message);
    const gasBefore = await pub.getBalance({ address: gateway.account as Hex });

    const { consentId, txHash, block } = await gateway.submitGrant(message, signature);

    expect(consentId).toBe(consentIdOf(domain, message)); // the id computed off chain is the contract's
    const receipt = await pub.getTransactionReceipt({ hash: txHash });
    expect(receipt.from).toBe((gateway.account as Hex).toLowerCase());
    expect(await pub.getBalance({ address: gateway.account as Hex })).toBeLessThan(gasBefore);
    expect(await pub.getBalance({ address: patient.account.address })).toBe(0n);
    expect(await pub.getTransactionCount({ address: patient.account.address })).toBe(0);
    console.log(`[gas] VitalTrailConsent.grant(): ${receipt.gasUsed}`);
    expect(receipt.gasUsed).toBeLessThan(350_000n);

    expect(receipt.logs).toHaveLength(1);
    const log = receipt.logs[0]!;
    expect(log.topics).toEqual([
      toEventSelector('ConsentGranted(bytes32,bytes32,bytes32,uint8,uint64,uint64,uint64,uint64,string)'),
      consentId,
      patient.id,
      doctor,
    ]);
    const ev = decodeEventLog({ abi: CONSENT_ABI, data: log.data, topics: log.topics });
    const { nonce: _n, ...signed } = message;
    expect(ev).toEqual({ eventName: 'ConsentGranted', args: { consentId, ...signed } });

    const { timestamp } = await pub.getBlock({ blockNumber: BigInt(block) });
    expect(await auditor.consent(consentId)).toEqual({
      id: consentId,
      ...message,
      grantedAt: Number(timestamp) * 1000,
      grantedBlock: block,
      revokedAt: null,
      revokedBlock: null,
    });
    expect(await auditor.consent(pseudonym())).toBeNull();
  });

  it('behavior: the patient revokes with their key; any other signer, a second revocation and an unknown id are refused', async () => {
    const patient = await newPatient();
    const doctor = await newClinician();
    const empty = grantOf(patient.id, doctor);
    await rejected('BadSignature', () => gateway.submitGrant(empty, '0x'));

    const message = grantOf(patient.id, doctor);
    const granted = await give(patient.account, message);
    const id = granted.consentId;
    const stranger = privateKeyToAccount(generatePrivateKey());
    const authority = privateKeyToAccount(ANVIL_DEV_KEY);
    await rejected('BadSignature', () => take(stranger, id));
    await rejected('BadSignature', () => take(authority, id));

    const { txHash, block } = await take(patient.account, id);
    const receipt = await pub.getTransactionReceipt({ hash: txHash });
    expect(receipt.logs[0]?.topics).toEqual([
      toEventSelector('ConsentRevoked(bytes32,bytes32,bytes32)'),
      id,
      patient.id,
      doctor,
    ]);
    const { timestamp } = await pub.getBlock({ blockNumber: BigInt(block) });
    const revokedAt = Number(timestamp) * 1000;
    const record = await auditor.consent(id);
    expect(record).toMatchObject({ revokedBlock: block, revokedAt, grantedBlock: granted.block });

    await rejected('AlreadyRevoked', () => take(patient.account, id));
    await rejected('UnknownConsent', () => take(patient.account, pseudonym()));
  });

  it('error: every refused grant reverts with its custom error, coded consent_rejected', async () => {
    const patient = await newPatient();
    const doctor = await newClinician();
    const nurse = await newClinician('nurse');
    const suspended = await newClinician();
    await kgc.suspendClinician(suspended);
    const refused = (m: ConsentMessage, name: ConsentContractError, by = patient.account) =>
      rejected(name, () => give(by, m));

    await refused(grantOf(patient.id, doctor), 'BadSignature', privateKeyToAccount(generatePrivateKey()));
    await refused(grantOf(patient.id, doctor), 'BadSignature', privateKeyToAccount(ANVIL_DEV_KEY)); // not even the KGC
    // signed for another chain (domain-bound), or for other fields than submitted
    const other = grantOf(patient.id, doctor);
    const foreign = await signGrant(patient.account, other, consentDomain(1, domain.verifyingContract));
    await rejected('BadSignature', () => gateway.submitGrant(other, foreign));
    const tampered = await signGrant(patient.account, other);
    await rejected('BadSignature', () => gateway.submitGrant({ ...other, scope: SCOPE_ECG }, tampered));
    await rejected('BadSignature', () => gateway.submitGrant(other, `0x${'11'.repeat(64)}`)); // 64 bytes

    await refused(grantOf(patient.id, pseudonym()), 'ClinicianNotRegistered');
    await refused(grantOf(patient.id, nurse), 'NotADoctor');
    await refused(grantOf(patient.id, suspended), 'DoctorSuspended');
    await refused(grantOf(pseudonym(), doctor), 'UnknownPatient');

    const rules: [Partial<ConsentMessage>, ConsentContractError][] = [
      [{ scope: 0 }, 'InvalidScope'],
      [{ scope: 4 }, 'InvalidScope'],
      [{ validUntil: T0 }, 'InvalidWindow'],
      [{ validFrom: T0 + 1n, validUntil: T0 }, 'InvalidWindow'],
      [{ dataFrom: T0, dataUntil: T0 - 1n }, 'InvalidDataRange'],
      [{ purpose: `${'é'.repeat(100)}x` }, 'PurposeTooLong'], // 201 UTF-8 bytes
    ];
    for (const [over, name] of rules) {
      const m = grantOf(patient.id, doctor, over);
      expect(consentRuleBroken(m)).toBe(name); // the pure mirror agrees with the contract
      await refused(m, name);
    }
    const longest = grantOf(patient.id, doctor, { purpose: 'é'.repeat(100) }); // exactly 200 bytes
    expect(consentRuleBroken(longest)).toBeNull();
    const ok = await give(patient.account, longest);

    // replayed: the same signed grant again, by anyone
    const m = grantOf(patient.id, doctor);
    const sig = await signGrant(patient.account, m);
    await gateway.submitGrant(m, sig);
    await rejected('ConsentExists', () => gateway.submitGrant(m, sig));
    await rejected('ConsentExists', () => kgc.submitGrant(m, sig));
    expect((await auditor.consent(ok.consentId))?.purpose).toBe('é'.repeat(100));
  });

  it('error: only the authority registers and suspends clinicians and registers patient keys (not_kgc)', async () => {
    const doctor = await newClinician();
    await expectRefused('not_kgc', 'NotAuthority', () => gateway.registerClinician(pseudonym(), 'doctor'));
    await expectRefused('not_kgc', 'NotAuthority', () => gateway.suspendClinician(doctor));
    await expectRefused('not_kgc', 'NotAuthority', () => gateway.reinstateClinician(doctor));
    const key = gateway.account as Hex;
    await expectRefused('not_kgc', 'NotAuthority', () => gateway.registerPatientKey(pseudonym(), key));
    await expect(auditor.registerClinician(pseudonym(), 'nurse')).rejects.toThrow(TypeError); // no key, no writes
    expect(auditor.account).toBeNull();
    expect(await auditor.clinician(doctor)).toMatchObject({ role: 'doctor', suspended: false });
  });

  it('behavior: a clinician is suspended, refused, then reinstated; registry rules are registry_rejected', async () => {
    const patient = await newPatient();
    const id = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address); // a doctor known by account
    const reg = await kgc.registerClinician(id, 1);
    expect(await auditor.clinician(id)).toEqual({ role: 'doctor', suspended: false, sinceBlock: reg.block });
    const before = grantOf(patient.id, id);
    const kept = await give(patient.account, before);

    const sus = await kgc.suspendClinician(id);
    expect(await auditor.clinician(id)).toEqual({ role: 'doctor', suspended: true, sinceBlock: sus.block });
    const logs = (await pub.getTransactionReceipt({ hash: sus.txHash })).logs;
    expect(decodeEventLog({ abi: CONSENT_ABI, data: logs[0]!.data, topics: logs[0]!.topics })).toEqual({
      eventName: 'ClinicianSuspended',
      args: { id },
    });
    const during = grantOf(patient.id, id);
    await rejected('DoctorSuspended', () => give(patient.account, during));
    // a grant made before stays on chain: enforcement (the gateway) reads the suspension
    expect((await auditor.consent(kept.consentId))?.revokedAt).toBeNull();
    await registryRejected('ClinicianAlreadySuspended', () => kgc.suspendClinician(id));

    const back = await kgc.reinstateClinician(id);
    expect(await auditor.clinician(id)).toEqual({ role: 'doctor', suspended: false, sinceBlock: back.block });
    await give(patient.account, during);
    await registryRejected('ClinicianNotSuspended', () => kgc.reinstateClinician(id));
    await registryRejected('ClinicianAlreadyRegistered', () => kgc.registerClinician(id, 'nurse'));
    await registryRejected('ClinicianNotRegistered', () => kgc.suspendClinician(pseudonym()));
    await registryRejected('ZeroValue', () => kgc.registerClinician(`0x${'0'.repeat(64)}`, 'doctor'));
    expect(await auditor.clinician(pseudonym())).toBeNull();
    await expect(kgc.registerClinician(pseudonym(), 3 as never)).rejects.toThrow(TypeError);
  });

  it('behavior: a replaced patient key signs from then on; the old one can neither grant nor revoke', async () => {
    const patient = await newPatient();
    const doctor = await newClinician();
    expect(await auditor.patientKey(patient.id)).toBe(patient.account.address);
    expect(await auditor.patientKey(pseudonym())).toBeNull();
    const m = grantOf(patient.id, doctor);
    const { consentId } = await give(patient.account, m);

    const next = privateKeyToAccount(generatePrivateKey());
    const r = await kgc.registerPatientKey(patient.id, next.address);
    const [log] = (await pub.getTransactionReceipt({ hash: r.txHash })).logs;
    expect(log?.topics).toEqual([
      toEventSelector('PatientKeyRegistered(bytes32,address)'),
      patient.id,
      encodeAbiParameters([{ type: 'address' }], [next.address]),
    ]);
    expect(await auditor.patientKey(patient.id)).toBe(next.address);
    await registryRejected('PatientKeyUnchanged', () => kgc.registerPatientKey(patient.id, next.address));
    await registryRejected('ZeroValue', () => kgc.registerPatientKey(`0x${'0'.repeat(64)}`, next.address));

    const m2 = grantOf(patient.id, doctor);
    await rejected('BadSignature', () => give(patient.account, m2));
    await rejected('BadSignature', () => take(patient.account, consentId));
    await take(next, consentId); // the old key's grant, revoked by the new key
    await give(next, m2);
  });

  it('behavior: consentsOf lists grants by patient, by doctor and by both, with their transactions, for anyone', async () => {
    const [p1, p2] = [await newPatient(), await newPatient()];
    const [d1, d2] = [await newClinician(), await newClinician()];
    const a = await give(p1.account, grantOf(p1.id, d1));
    const b = await give(p1.account, grantOf(p1.id, d2));
    const c = await give(p2.account, grantOf(p2.id, d1));
    const rev = await take(p1.account, b.consentId);

    const ids = (rs: { id: Hex }[]) => rs.map((r) => r.id);
    const byP1 = await auditor.consentsOf({ patient: p1.id });
    expect(ids(byP1)).toEqual([a.consentId, b.consentId]);
    expect(byP1.map((r) => r.grantTx)).toEqual([a.txHash, b.txHash]);
    expect(byP1[0]).toMatchObject({ patient: p1.id, doctor: d1, grantedBlock: a.block, revokedAt: null });
    expect(byP1[0]?.revokeTx).toBeUndefined();
    expect(byP1[1]).toMatchObject({ revokeTx: rev.txHash, revokedBlock: rev.block });
    expect(ids(await auditor.consentsOf({ doctor: d1 }))).toEqual([a.consentId, c.consentId]);
    expect(ids(await gateway.consentsOf({ patient: p2.id, doctor: d1 }))).toEqual([c.consentId]);
    expect(await auditor.consentsOf({ patient: p2.id, doctor: d2 })).toEqual([]);
    expect(ids(await auditor.consentsOf({}))).toEqual(
      expect.arrayContaining([a.consentId, b.consentId, c.consentId]),
    );
    expect(await auditor.consentsOf({ patient: p1.id })).toEqual(byP1); // stable
  });

  it('behavior: no PHI on chain: the only free text of the contract is the purpose the patient signs', () => {
    // Patients are bytes32 pseudonyms, clinicians bytes32 hashes; every string input or event field is `purpose`.
    const strings: string[] = [];
    for (const item of CONSENT_ABI) {
      if (item.type !== 'function' && item.type !== 'event') continue;
      const walk = (params: readonly { name?: string; type: string; components?: readonly unknown[] }[]) => {
        for (const q of params) {
          if (q.type === 'string') strings.push(`${item.name}.${q.name}`);
          if (q.components) walk(q.components as typeof params);
        }
      };
      walk(item.inputs);
    }
    expect(strings.sort()).toEqual(['ConsentGranted.purpose', 'grant.purpose']);
  });

  it('behavior: a deployment made before the consent contract stays valid and gets it lazily', async () => {
    const full = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY, artifacts });
    const { consent: _c, consentDeployBlock: _b, ...old } = full; // a deployment.json of before issue 18
    expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment: old })).toBe(true);
    expect(() => createConsentClient({ rpcUrl: node.rpcUrl, deployment: old })).toThrow(
      expect.objectContaining({ code: 'contract_missing' }),
    );

    const added = await ensure(old);
    expect(added.deployed).toBe(true);
    expect(added.deployment).toMatchObject(old);
    expect(added.deployment.consent).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(added.deployment.consentDeployBlock).toBeGreaterThan(full.deployBlock);
    expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment: added.deployment })).toBe(true);
    expect(await ensure(added.deployment)).toEqual({ deployment: added.deployment, deployed: false });
    // the new contract works, with the same authority
    const client = createConsentClient({ ...kgcParams(), deployment: added.deployment });
    const id = pseudonym();
    await client.registerClinician(id, 'nurse');
    expect(await client.clinician(id)).toMatchObject({ role: 'nurse' });

    // a consent address that holds no consent contract of this registry: isDeployed false, ensure replaces it
    for (const consent of [deployment.consent as Hex, full.anchors]) {
      const wrong = { ...added.deployment, consent };
      expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment: wrong })).toBe(false);
      const fixed = await ensure(wrong);
      expect(fixed.deployed).toBe(true);
      expect(fixed.deployment.consent).not.toBe(consent);
      expect(await isDeployed({ rpcUrl: node.rpcUrl, deployment: fixed.deployment })).toBe(true);
    }
  });

  it('behavior: the embedded chain of a data dir from before issue 18 gets the contract at its next start', async () => {
    const tmp = makeTempDir('vt-consent-lazy-');
    const paths = dataPaths(tmp.dir);
    const logId = logIdOf(checkpointOrigin('gw-lazy'));
    try {
      let chain = await startEmbeddedChain(paths, logId);
      const { consent: first, consentDeployBlock: _b, ...old } = chain.deployment;
      expect(first).toMatch(/^0x[0-9a-fA-F]{40}$/); // a new data dir gets it with the others
      writeFileSync(paths.deployment, JSON.stringify(old)); // as an earlier release wrote it
      await chain.anvil.stop();
      chain = await startEmbeddedChain(paths, logId);
      await chain.anvil.stop();
      expect(chain.deployed).toBe(false); // registry and anchors kept
      expect(chain.deployment).toMatchObject(old);
      expect(chain.deployment.consent).not.toBe(first);
      expect(JSON.parse(readFileSync(paths.deployment, 'utf8')).consent).toBe(chain.deployment.consent);
    } finally {
      tmp.cleanup();
    }
  });
});
