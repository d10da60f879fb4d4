/**
 * @module test/e2e/consent-cli
 * `vitaltrail consent …` (issue 18, cli/consent), the built CLI against a data directory whose
 * embedded chain (real anvil, real consent contract) is running: the clinician id of an
 * address, a patient's pseudonym under the data dir's key, a doctor registered, refused a
 * second time with the contract's rule, suspended and reinstated (read back from the chain
 * each time), a patient's key registered and replaced by patient id; bad arguments exit 2, and
 * a data dir without a running chain exits with `ledger_unavailable`. Needs the build.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsentClient, clinicianIdOf, createConsentClient } from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../../gateway/src/core/pseudonym.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import { type DataPaths, keyFile } from '../../gateway/src/io/ops/datadir.js';
import { runCli } from '../helpers/cli.js';
import { prepareAnchoredDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('vitaltrail consent: the registration authority on the consent contract', () => {
  const tmp = makeTempDir('vt-consent-cli-');
  let chain: EmbeddedChain;
  let paths: DataPaths;
  let reader: ConsentClient;
  const doctor = privateKeyToAccount(generatePrivateKey()).address;
  const key1 = privateKeyToAccount(generatePrivateKey()).address;
  const key2 = privateKeyToAccount(generatePrivateKey()).address;

  beforeAll(async () => {
    const prepared = await prepareAnchoredDataDir(join(tmp.dir, 'd'), []);
    chain = prepared.chain;
    paths = prepared.paths;
    reader = createConsentClient({ rpcUrl: chain.rpcUrl, deployment: chain.deployment });
  }, 120_000);

  afterAll(async () => {
    await chain?.anvil.stop();
    tmp.cleanup();
  });

  const cli = (...args: string[]) => runCli(['consent', ...args, '--data', paths.root]);

  it('behavior: ids, a doctor registered, refused twice, suspended and reinstated, read back from the chain', async () => {
    const id = clinicianIdOf(doctor);
    const printed = await runCli(['consent', 'clinician-id', '--address', doctor]);
    expect([printed.code, printed.stdout.trim()]).toEqual([0, id]);

    const reg = await cli('register-clinician', '--address', doctor, '--role', 'doctor');
    expect(reg.code).toBe(0);
    expect(reg.stdout).toMatch(new RegExp(`^registered doctor ${id} in tx 0x[0-9a-f]{64} \\(block \\d+\\)`));
    expect(await reader.clinician(id)).toMatchObject({ role: 'doctor', suspended: false });
    const twice = await cli('register-clinician', '--id', id, '--role', 'nurse');
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain('registry_rejected');
    expect(twice.stderr).toContain('ClinicianAlreadyRegistered');

    expect((await cli('suspend-clinician', '--id', id)).code).toBe(0);
    expect((await reader.clinician(id))?.suspended).toBe(true);
    const shown = await cli('clinician', '--id', id);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, role: 'doctor', suspended: true });
    expect((await cli('reinstate-clinician', '--id', id)).code).toBe(0);
    expect((await reader.clinician(id))?.suspended).toBe(false);
  }, 60_000);

  it("behavior: a patient's key registered by patient id, then replaced; the pseudonym never the id", async () => {
    const noKey = await cli('pseudonym', '--patient', 'P-0042');
    expect(noKey.code).toBe(2); // no pseudonym key yet: a gateway makes it at its first start
    const pseudonym = pseudonymOf(keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES), 'P-0042') as Hex;
    expect((await cli('pseudonym', '--patient', 'P-0042')).stdout.trim()).toBe(pseudonym);

    const first = await cli('register-patient-key', '--patient', 'P-0042', '--address', key1);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(pseudonym);
    expect(first.stdout).not.toContain('P-0042');
    expect((await reader.patientKey(pseudonym))?.toLowerCase()).toBe(key1.toLowerCase());
    expect((await cli('register-patient-key', '--pseudonym', pseudonym, '--address', key2)).code).toBe(0);
    expect((await reader.patientKey(pseudonym))?.toLowerCase()).toBe(key2.toLowerCase());
  }, 60_000);

  it('behavior: bad arguments exit 2; no running chain exits with ledger_unavailable', async () => {
    expect((await cli('register-clinician', '--address', doctor, '--role', 'surgeon')).code).toBe(2);
    expect((await cli('register-clinician', '--role', 'doctor')).code).toBe(2);
    expect((await cli('suspend-clinician', '--id', '0x1234')).code).toBe(2);
    expect((await cli('register-patient-key', '--address', key1)).code).toBe(2);
    mkdirSync(join(tmp.dir, 'none'));
    const none = await runCli([
      'consent',
      'clinician',
      '--id',
      clinicianIdOf(doctor),
      '--data',
      join(tmp.dir, 'none'),
    ]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('ledger_unavailable');
  }, 60_000);
});
