/**
 * @module cli/demo-care
 * The demo's patient and doctor (issue 18), so the patient portal and the doctor's page can be
 * tried at once: a doctor `dr-demo` registered in the consent contract by the demo's KGC, a
 * patient `DEMO-0001` admitted to the first wearable's bed, and the patient's account
 * `patient-demo` (its subject the pseudonym, never the id). Each password is made once and
 * kept in `DATA/gateway/demo-accounts/<user>.password` (0600); a second start reuses all of it.
 * Nothing here runs outside `vitaltrail demo`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { clinicianIdOf, createConsentClient } from '../../../anchor/src/consent/index.js';
import { generatePassword } from '../core/passwords.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../core/pseudonym.js';
import type { EmbeddedChain } from '../io/anchoring/index.js';
import { UserFile } from '../io/identity/index.js';
import { type DataPaths, ensureDir, keyFile, writeSecret } from '../io/ops/index.js';
import type { BindingBook } from '../io/store/index.js';

/** The demo's patient id: made up, never a real one. */
export const DEMO_PATIENT_ID = 'DEMO-0001';

/** An account of the demo and where its password is. */
export interface DemoAccount {
  username: string;
  passwordFile: string;
}

/** The password of a demo account: the kept one, or a new one written first (0600). */
function passwordOf(paths: DataPaths, username: string): { password: string; file: string } {
  const dir = ensureDir(join(paths.root, 'gateway', 'demo-accounts'));
  const file = join(dir, `${username}.password`);
  if (existsSync(file)) return { password: readFileSync(file, 'utf8').trim(), file };
  const password = generatePassword();
  writeSecret(file, `${password}\n`);
  return { password, file };
}

/**
 * Makes (or finds again) the demo's doctor and patient. `dev` is the wearable the patient
 * wears; without one, no patient is admitted.
 */
export async function seedCareDemo(
  paths: DataPaths,
  chain: EmbeddedChain,
  bindings: BindingBook,
  dev: string | undefined,
): Promise<{ doctor: DemoAccount; patient: DemoAccount | null }> {
  const users = new UserFile(paths.users);
  const kgc = createConsentClient({
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    privateKey: chain.kgcKey,
  });
  // The doctor: an id on the chain (the SHA-256 of an account's address), then the account.
  let doctorId = users.find('dr-demo')?.subject as `0x${string}` | undefined;
  const pw = passwordOf(paths, 'dr-demo');
  if (doctorId === undefined) {
    doctorId = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
    await users.add('dr-demo', 'doctor', pw.password, { subject: doctorId });
  }
  if ((await kgc.clinician(doctorId)) === null) await kgc.registerClinician(doctorId, 'doctor');
  const doctor = { username: 'dr-demo', passwordFile: pw.file };
  if (dev === undefined) return { doctor, patient: null };

  // The patient: admitted to the first wearable's bed unless admitted already, then the account.
  const bedTaken = bindings.beds().some((b) => b.dev === dev || b.bed === 'Bed 1');
  if (!bedTaken && (await bindings.devicesOf(DEMO_PATIENT_ID)).every((b) => b.to !== null))
    await bindings.admit(dev, DEMO_PATIENT_ID, 'Bed 1', undefined, 'demo');
  const ppw = passwordOf(paths, 'patient-demo');
  if (users.find('patient-demo') === undefined) {
    const pseudonym = pseudonymOf(keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES), DEMO_PATIENT_ID);
    await users.add('patient-demo', 'patient', ppw.password, { subject: pseudonym });
  }
  return { doctor, patient: { username: 'patient-demo', passwordFile: ppw.file } };
}
