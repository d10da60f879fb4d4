/**
 * @module test/integration/verify-access
 * Issue 18, the auditor's check end to end on a real dev chain (anvil, the real consent
 * contract, real EIP-712 signatures): a gateway started in this process with a ledger whose
 * access-log account is registered; the patient grants Dr A, Dr A reads through
 * `GET /api/care/patients/:p/readings` and the patient reads their own (the gateway appends
 * both accesses), the access log is anchored, `export-access` writes the bundle and
 * `verify-access --rpc` says VALID (exit 0), also with the anchors from a saved
 * `verify-anchors-fetch` file. Then the mutations, each with its own code and exit 1:
 * - a deleted access entry: `entry_missing`;
 * - an access after the patient revoked: `consent_not_in_force`;
 * - an access citing a consent signed by a key that is not the patient's (the contract
 *   refuses that grant, so it is not on chain): `consent_not_found`;
 * - an access to patient B under patient A's consent: `consent_wrong_patient`.
 * The last three are appended directly through the gateway's `AccessLog` and anchored by its
 * access account: they stand for a dishonest gateway (the care routes never write them). The
 * log still verifies structurally (no gap, every checkpoint valid): only the consent check
 * flags them. Offline (`verify-access-fetch`, then `verify-access --evidence FILE`, no
 * network): every bundle above gets exactly the live report and exit code; tampered evidence
 * (a revocation removed: the revoked access passes, as documented; a cited grant dropped:
 * `evidence_mismatch`), evidence of another chain, a malformed or oversized file each exit 2
 * with its code. The CLI runs in this process through `main` (no build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsentMessage,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  consentRefusalOf,
  REVOCATION_TYPES,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import type { AccessEntry, AccessReport } from '../../anchor/src/verify-access/index.js';
import { accessLogOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { createAccessAnchoring } from '../../gateway/src/io/access/index.js';
import { loadCheckpointSigner } from '../../gateway/src/io/anchoring/index.js';
import { openStore } from '../../gateway/src/io/store/index.js';
import { type CareRig, H, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { runMain as run } from '../helpers/cli-main.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const GW = 'gw-1';
const DEV = 'wr-0001';

describe('vitaltrail verify-access on anvil', () => {
  const tmp = makeTempDir('vt-verify-access-');
  let rig: CareRig;
  let patientA: Hex;
  let patientB: Hex;
  const patientAccount = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  let firstGrant: Hex;

  const domain = () => consentDomain(rig.chain.deployment.chainId, rig.chain.deployment.consent as Hex);
  const sign = (o: Partial<ConsentMessage> = {}, signer = patientAccount) =>
    rig.sign(signer, { patient: patientA, doctor: drA, ...o });
  const exportAccess = async (name: string, ...range: string[]) => {
    const out = join(tmp.dir, name);
    const r = await run([
      'export-access',
      '--data',
      rig.paths.root,
      '--gateway-id',
      GW,
      ...range,
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('not anchored yet');
    return out;
  };
  const verifyAccess = (file: string, ...more: string[]) =>
    run([
      'verify-access',
      file,
      '--consent',
      rig.chain.deployment.consent as string,
      ...(more.includes('--anchors') ? [] : ['--rpc', rig.chain.rpcUrl]),
      ...more,
    ]);
  const report = (stdout: string) => JSON.parse(stdout) as AccessReport;
  /** `verify-access-fetch` of `file`, then `--evidence`: the same report (but its source) and exit code as live. */
  const sameOffline = async (file: string) => {
    const evidence = `${file}.evidence.json`;
    const consent = rig.chain.deployment.consent as string;
    const fetch = await run([
      'verify-access-fetch',
      file,
      '--rpc',
      rig.chain.rpcUrl,
      '--consent',
      consent,
      '--out',
      evidence,
    ]);
    expect([fetch.code, fetch.stderr]).toEqual([0, '']);
    const live = await verifyAccess(file, '--json');
    const offline = await run([
      'verify-access',
      file,
      '--evidence',
      evidence,
      '--consent',
      consent,
      '--json',
    ]);
    expect(offline.code).toBe(live.code);
    const { evidence: liveSource, ...liveReport } = JSON.parse(live.stdout);
    const { evidence: fileSource, ...fileReport } = JSON.parse(offline.stdout);
    expect(fileReport).toEqual(liveReport);
    expect([liveSource.source, fileSource.source]).toEqual(['rpc', 'file']);
    const human = await run(['verify-access', file, '--evidence', evidence]);
    expect(human.stdout).toBe((await verifyAccess(file)).stdout);
    return { evidence, code: offline.code };
  };

  beforeAll(async () => {
    rig = await startCareRig(
      tmp.dir,
      { devices: [DEV], users: [], checkpointIntervalMs: 500, anchorAccessLog: true },
      (paths) => {
        patientA = pseudonymIn(paths, 'P-0007');
        patientB = pseudonymIn(paths, 'P-0008');
        return {
          users: [
            { username: 'dr-a', role: 'doctor', subject: drA },
            { username: 'pat', role: 'patient', subject: patientA },
            { username: 'cn', role: 'charge_nurse' },
          ],
          doctors: [drA],
          patientKeys: [[patientA, patientAccount.address]],
        };
      },
    );
  }, 120_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: an honest access bundle of real care-route accesses is VALID (exit 0), live or with saved anchors', async () => {
    await rig.login('dr-a', 'pat', 'cn');
    const admitted = await call(rig.gw.http.url, 'POST', '/api/admissions', rig.cookies.cn, {
      dev: DEV,
      patientId: 'P-0007',
      bed: 'Bed 7',
    });
    expect(admitted.status).toBe(201);
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < 2; i++) await rig.gw.ingest.submit(frames.next({}, { hr: 70 + i, spo2: 97 }), DEV);
    const { message, signature } = await sign();
    firstGrant = (await rig.relay.submitGrant(message, signature)).consentId.toLowerCase() as Hex;
    await rig.settle();
    const url = `/api/care/patients/${patientA}/readings?from=${Date.now() - H}&to=${Date.now() + 60_000}`;
    const read = await rig.get('dr-a', url);
    expect([read.status, read.body.basis]).toEqual([200, { type: 'consent', consentId: firstGrant }]);
    expect((await rig.get('pat', url)).status).toBe(200);
    await rig.stopGateway(); // flushes the access anchorer: every access answered is anchored

    const all = await exportAccess('all.json');
    const r = await verifyAccess(all);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^verified: access log vitaltrail\/gw-1\/access \(0x[0-9a-f]{64}\) on chain 31337/,
    );
    expect(r.stdout).toContain('(1 of 1 cited consent(s) on chain)');
    expect(r.stdout).toContain('2 entries (valid 2); verdict: VALID');
    const json = report((await verifyAccess(all, '--json')).stdout);
    expect(json.verdict).toBe('VALID');
    expect(json.coversWholeLog).toBe(true);
    expect(json.entries.map((e) => [e.code, e.entry?.basis.type])).toEqual([
      ['valid', 'consent'],
      ['valid', 'self'],
    ]);

    // The access log's vkey pinned by the auditor (from the gateway's checkpoint key).
    const vkey = loadCheckpointSigner(rig.paths, accessLogOrigin(GW)).vkey;
    const pinned = await verifyAccess(all, '--vkey', vkey);
    expect([pinned.code, pinned.stdout.includes('; vkey pinned\n')]).toEqual([0, true]);

    // The anchors from a saved file; the consents still live (the file holds none).
    const anchors = join(tmp.dir, 'anchors.json');
    const fetched = await run([
      'verify-anchors-fetch',
      '--rpc',
      rig.chain.rpcUrl,
      '--contract',
      rig.chain.deployment.anchors,
      '--log-id',
      logIdOf(accessLogOrigin(GW)),
      '--out',
      anchors,
    ]);
    expect(fetched.code).toBe(0);
    expect((await verifyAccess(all, '--anchors', anchors, '--rpc', rig.chain.rpcUrl)).code).toBe(0);
    const noRpc = await verifyAccess(all, '--anchors', anchors);
    expect(noRpc.code).toBe(2);
    expect(noRpc.stderr).toMatch(/^error: .*--rpc/);
    // Another contract (the anchors contract, with a registry() of its own) is not a consent contract.
    const other = await run([
      'verify-access',
      all,
      '--rpc',
      rig.chain.rpcUrl,
      '--consent',
      rig.chain.deployment.anchors,
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(
      /^error: evidence_mismatch: the --consent address holds no VitalTrailConsent/,
    );
    expect((await sameOffline(all)).code).toBe(0);
  }, 120_000);

  it('error: a deleted access entry is entry_missing (exit 1), the others still valid', async () => {
    const bundle = JSON.parse((await import('node:fs')).readFileSync(join(tmp.dir, 'all.json'), 'utf8')) as {
      entries: unknown[];
    };
    bundle.entries.splice(0, 1);
    const file = join(tmp.dir, 'deleted.json');
    writeFileSync(file, JSON.stringify(bundle));
    const r = await verifyAccess(file, '--json');
    expect(r.code).toBe(1);
    const rep = report(r.stdout);
    expect(rep.gaps).toEqual([{ from: 0, to: 0, code: 'entry_missing' }]);
    expect(rep.entries.map((e) => e.code)).toEqual(['valid']);
    const human = await verifyAccess(file);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('FAIL leaves 0-0: entry_missing');
    expect(human.stdout).toMatch(/verdict: INVALID\n$/);
    expect((await sameOffline(file)).code).toBe(1);
  });

  it('error: a dishonest gateway — after the revocation, a forged consent, the wrong patient — each its own code (exit 1)', async () => {
    // A second grant, in force; the first one revoked by the patient.
    const second = await sign();
    const secondId = (await rig.relay.submitGrant(second.message, second.signature)).consentId.toLowerCase();
    const revocation = await patientAccount.signTypedData({
      domain: domain(),
      types: REVOCATION_TYPES,
      primaryType: 'Revocation',
      message: { consentId: firstGrant },
    });
    await rig.relay.submitRevocation(firstGrant, revocation);
    const revokedAt = (await rig.relay.consentsOf({ patient: patientA })).find((c) => c.id === firstGrant)!
      .revokedAt!;
    // A consent signed by another key than the patient's: the contract refuses it.
    const forged = await sign({}, privateKeyToAccount(generatePrivateKey()));
    const refused = await rig.relay.submitGrant(forged.message, forged.signature).catch((e: unknown) => e);
    expect(consentRefusalOf(refused)).toBe('BadSignature');
    const forgedId = consentIdOf(domain(), forged.message).toLowerCase();

    const base = Math.max(Date.now(), revokedAt) + 1000;
    const dishonest = (at: number, patient: Hex, consentId: string): AccessEntry => ({
      v: 1,
      at,
      gateway: GW,
      actor: drA,
      role: 'doctor',
      patient,
      dev: null,
      action: 'readings',
      dataFrom: base - H,
      dataUntil: base,
      basis: { type: 'consent', consentId, chainId: rig.chain.deployment.chainId },
    });
    const store = openStore(rig.paths.db);
    try {
      const access = createAccessAnchoring({
        store,
        paths: rig.paths,
        gatewayId: GW,
        intervalMs: 1e6,
        ledger: { rpcUrl: rig.chain.rpcUrl, deployment: rig.chain.deployment },
      });
      await access.anchorer!.reconcile();
      access.log.append(dishonest(base, patientA, firstGrant)); // after the revocation
      access.log.append(dishonest(base + 1000, patientA, forgedId)); // not on chain
      access.log.append(dishonest(base + 2000, patientB, secondId)); // patient A's consent
      await access.anchorer!.tick();
      expect(access.log.anchoredCheckpoints().at(-1)?.treeSize).toBe(5);
    } finally {
      store.close();
    }

    const all = await exportAccess('dishonest.json');
    const r = await verifyAccess(all, '--json');
    expect(r.code).toBe(1);
    const rep = report(r.stdout);
    // Structurally sound: no gap, every checkpoint and link valid; only the consent check flags.
    expect(rep.gaps).toEqual([]);
    expect(rep.problems).toEqual([]);
    expect(rep.checkpoints.every((c) => c.code === 'valid')).toBe(true);
    // The honest read under the first grant stays valid: anchored before the revocation was mined.
    expect(rep.entries.map((e) => e.code)).toEqual([
      'valid',
      'valid',
      'consent_not_in_force',
      'consent_not_found',
      'consent_wrong_patient',
    ]);
    expect(rep.entries[2]?.reason).toBe('the consent was revoked at or before the access');

    // Each mutation alone (a bundle of its access time), each its own code.
    const alone: [number, string][] = [
      [base, 'consent_not_in_force'],
      [base + 1000, 'consent_not_found'],
      [base + 2000, 'consent_wrong_patient'],
    ];
    for (const [at, code] of alone) {
      const file = await exportAccess(`at-${at}.json`, '--from', String(at), '--to', String(at));
      const one = await verifyAccess(file);
      expect(one.code, code).toBe(1);
      expect(one.stdout).toMatch(
        new RegExp(`FAIL entry 0 \\(leaf \\d, .* readings by doctor under consent\\): ${code} - `),
      );
      expect(one.stdout).toContain(`1 entries (${code} 1); verdict: INVALID`);
      expect((await sameOffline(file)).code, code).toBe(1);
    }

    // Offline, the whole dishonest log: the live report; then what tampered evidence does.
    const { evidence } = await sameOffline(all);
    const saved = JSON.parse(readFileSync(evidence, 'utf8'));
    const offline = async (ev: unknown, ...more: string[]) => {
      const f = join(tmp.dir, 'tampered.json');
      writeFileSync(f, typeof ev === 'string' ? ev : JSON.stringify(ev));
      return run(['verify-access', all, '--evidence', f, ...more]);
    };
    // A revocation removed from the file: the revoked access passes. The file is the
    // auditor's own fetch (README): nothing offline can tell a missing revocation.
    const unrevoked = structuredClone(saved);
    const first = unrevoked.consents.find((c: { id: string }) => c.id === firstGrant);
    [first.revokedAt, first.revokedBlock] = [null, null];
    const u = await offline(unrevoked, '--json');
    expect(u.code).toBe(1); // the other two dishonest accesses still fail
    expect(report(u.stdout).entries.map((e) => e.code)).toEqual([
      'valid',
      'valid',
      'valid',
      'consent_not_found',
      'consent_wrong_patient',
    ]);
    // A cited grant dropped without listing it absent: evidence of another bundle.
    const dropped = { ...saved, consents: saved.consents.filter((c: { id: string }) => c.id !== firstGrant) };
    expect((await offline(dropped)).stderr).toMatch(
      /^error: evidence_mismatch: the evidence does not account/,
    );
    const hostile: [unknown, RegExp, string[]][] = [
      [{ ...saved, chainId: 1 }, /^error: evidence_mismatch: the evidence is of chain 1/, []],
      [
        saved,
        /^error: evidence_mismatch: the evidence is of another consent contract/,
        ['--consent', rig.chain.deployment.anchors],
      ],
      [{ ...saved, consents: 'all' }, /^error: malformed: access evidence: consents is not/, []],
      ['{"format": "vitaltrail-access-evidence/1", ', /^error: cannot read .* as JSON/, []],
      [{ ...saved, pad: 'x'.repeat(1024 * 1024) }, /^error: input_too_large: /, ['--max-input-mib', '1']],
      [
        saved,
        /^error: give --evidence FILE \(offline\) or --rpc URL \(live\), not both/,
        ['--rpc', rig.chain.rpcUrl],
      ],
    ];
    for (const [ev, message, more] of hostile) {
      const h = await offline(ev, ...more);
      expect([h.code, h.stdout], String(message)).toEqual([2, '']);
      expect(h.stderr).toMatch(message);
    }
  }, 120_000);
});
