/**
 * @module test/unit/consent-browser-signing
 * What the patient portal signs (anchor/src/consent/browser.ts; README "The patient portal and
 * the doctor's page"): the key proof verifies with viem's `verifyMessage` over
 * `patientKeyProofMessage` (and over nothing else); a grant's signature recovers to the
 * patient's address from the contract's digest (`consentIdOf`, the id the contract returns),
 * its JSON message carries the uints as decimal strings that give back the same digest; a
 * revocation recovers from `revocationDigestOf`; broken terms are refused with the contract
 * rule's name; the bundle entry defines `globalThis.VitalTrailConsent`.
 */
import { type Hex, recoverAddress, verifyMessage } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import {
  type GrantTerms,
  grantMessage,
  signGrant,
  signKeyProof,
  signRevocation,
  unlock,
  VitalTrailConsent,
} from '../../anchor/src/consent/browser.js';
import { ConsentKeyError, sealKey } from '../../anchor/src/consent/keystore.js';
import {
  type ConsentMessage,
  consentDomain,
  consentIdOf,
  patientKeyProofMessage,
  revocationDigestOf,
} from '../../anchor/src/consent/typed-data.js';

const CHAIN = { chainId: 31337, consent: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0' as Hex };
const PATIENT = `0x${'Ab'.repeat(32)}` as Hex;
const DOCTOR = `0x${'22'.repeat(32)}` as Hex;
const H = 3_600_000;
const T = 1_798_675_200_000;
const TERMS: GrantTerms = {
  patient: PATIENT,
  doctor: DOCTOR,
  scope: 1,
  dataFrom: T - 24 * H,
  dataUntil: 0,
  validFrom: T,
  validUntil: T + 24 * H,
  purpose: 'cardiology follow-up',
};

function code(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConsentKeyError);
    return (err as ConsentKeyError).code + (err as ConsentKeyError).reason;
  }
  throw new Error('expected a ConsentKeyError');
}

describe('the portal signs in the browser: key proof, grant, revocation', () => {
  const account = privateKeyToAccount(generatePrivateKey());

  it('behavior: patientKeyProofMessage is the contract text, lower-case', () => {
    expect(patientKeyProofMessage(PATIENT, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8')).toBe(
      `VitalTrail patient key\npatient: 0x${'ab'.repeat(32)}\naddress: 0x70997970c51812dc3a010c7d01b50e0d17dc79c8`,
    );
  });

  it('behavior: the key proof verifies with verifyMessage for this patient and address only', async () => {
    const { address, proof } = await signKeyProof(account, PATIENT);
    expect(address).toBe(account.address);
    expect(
      await verifyMessage({ address, message: patientKeyProofMessage(PATIENT, address), signature: proof }),
    ).toBe(true);
    const other = `0x${'cd'.repeat(32)}` as Hex;
    expect(
      await verifyMessage({ address, message: patientKeyProofMessage(other, address), signature: proof }),
    ).toBe(false);
  });

  it("behavior: a grant's signature recovers to the patient from the contract's digest; the JSON gives the same id", async () => {
    const signed = await signGrant(account, CHAIN, TERMS, 77n);
    const domain = consentDomain(CHAIN.chainId, CHAIN.consent);
    const back: ConsentMessage = {
      ...signed.message,
      dataFrom: BigInt(signed.message.dataFrom),
      dataUntil: BigInt(signed.message.dataUntil),
      validFrom: BigInt(signed.message.validFrom),
      validUntil: BigInt(signed.message.validUntil),
      nonce: BigInt(signed.message.nonce),
    };
    expect(signed.message).toEqual({
      patient: PATIENT.toLowerCase(),
      doctor: DOCTOR,
      scope: 1,
      dataFrom: String(T - 24 * H),
      dataUntil: '0',
      validFrom: String(T),
      validUntil: String(T + 24 * H),
      purpose: 'cardiology follow-up',
      nonce: '77',
    });
    expect(signed.consentId).toBe(consentIdOf(domain, back));
    expect(await recoverAddress({ hash: signed.consentId, signature: signed.signature })).toBe(
      account.address,
    );
    // Another chain is another digest: the signature does not recover there.
    const elsewhere = consentIdOf(consentDomain(1, CHAIN.consent), back);
    expect(await recoverAddress({ hash: elsewhere, signature: signed.signature })).not.toBe(account.address);
  });

  it('behavior: fresh grants get fresh random nonces (two equal grants are two consents)', async () => {
    const a = await signGrant(account, CHAIN, TERMS);
    const b = await signGrant(account, CHAIN, TERMS);
    expect(a.message.nonce).not.toBe(b.message.nonce);
    expect(a.consentId).not.toBe(b.consentId);
  });

  it('behavior: a revocation recovers to the patient from revocationDigestOf', async () => {
    const { consentId } = await signGrant(account, CHAIN, TERMS, 1n);
    const signature = await signRevocation(account, CHAIN, consentId);
    const digest = revocationDigestOf(consentDomain(CHAIN.chainId, CHAIN.consent), consentId);
    expect(await recoverAddress({ hash: digest, signature })).toBe(account.address);
    await expect(signRevocation(account, CHAIN, '0x1234')).rejects.toMatchObject({ code: 'grant_invalid' });
  });

  it("hostile: terms breaking the contract's rules are refused before signing, by the rule's name", () => {
    expect(code(() => grantMessage({ ...TERMS, scope: 4 }))).toBe('grant_invalidInvalidScope');
    expect(code(() => grantMessage({ ...TERMS, validUntil: T }))).toBe('grant_invalidInvalidWindow');
    expect(code(() => grantMessage({ ...TERMS, dataUntil: T - 48 * H }))).toBe(
      'grant_invalidInvalidDataRange',
    );
    expect(code(() => grantMessage({ ...TERMS, purpose: 'é'.repeat(101) }))).toBe(
      'grant_invalidPurposeTooLong',
    );
    expect(grantMessage({ ...TERMS, purpose: 'é'.repeat(100) }).purpose).toHaveLength(100);
    expect(code(() => grantMessage({ ...TERMS, doctor: '0x12' as Hex }))).toMatch(/^grant_invaliddoctor/);
    expect(code(() => grantMessage({ ...TERMS, dataFrom: -1 }))).toMatch(/^grant_invaliddataFrom/);
    expect(code(() => grantMessage({ ...TERMS, validFrom: 1.5 }))).toMatch(/^grant_invalidvalidFrom/);
    expect(code(() => grantMessage({ ...TERMS, purpose: 7 as unknown as string }))).toMatch(
      /^grant_invalidpurpose/,
    );
  });

  it('behavior: unlock opens the registered key and refuses another with keystore_mismatch', async () => {
    const pk = generatePrivateKey();
    const keystore = await sealKey(pk, 'a passphrase of length');
    const mine = privateKeyToAccount(pk).address;
    expect((await unlock(keystore, 'a passphrase of length', mine.toLowerCase() as Hex)).address).toBe(mine);
    await expect(unlock(keystore, 'a passphrase of length', account.address)).rejects.toMatchObject({
      code: 'keystore_mismatch',
    });
  }, 30_000);

  it('behavior: the bundle entry defines globalThis.VitalTrailConsent', () => {
    const g = (globalThis as { VitalTrailConsent?: unknown }).VitalTrailConsent;
    expect(g).toBe(VitalTrailConsent);
    expect(typeof VitalTrailConsent.signGrant).toBe('function');
  });
});
