/**
 * @module test/unit/consent-typed-data
 * The EIP-712 typed data of consent on chain (README "Consent on chain (issue 18)"), pure:
 * known-answer consent and revocation ids (computed again here by hand from EIP-712's
 * definition, independently of viem's hashTypedData), signatures that recover to the patient,
 * clinician ids (SHA-256, checked against node:crypto and a shell line), the domain, the
 * mirrored contract rules, argument checks, and the module's browser safety (viem only).
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { concat, encodeAbiParameters, type Hex, keccak256, recoverTypedDataAddress, toBytes } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import {
  CONSENT_TYPES,
  type ConsentMessage,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  consentRuleBroken,
  REVOCATION_TYPES,
  revocationDigestOf,
  SCOPE_ALL,
  SCOPE_ECG,
  SCOPE_VITALS,
} from '../../anchor/src/consent/typed-data.js';

const CONTRACT: Hex = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0';
const DOMAIN = consentDomain(31337, CONTRACT);
const MESSAGE: ConsentMessage = {
  patient: `0x${'11'.repeat(32)}`,
  doctor: `0x${'22'.repeat(32)}`,
  scope: 3,
  dataFrom: 1_798_675_200_000n,
  dataUntil: 0n,
  validFrom: 1_798_761_600_000n,
  validUntil: 1_801_353_600_000n,
  purpose: 'cardiology follow-up',
  nonce: 7n,
};

/** EIP-712 by hand: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)). */
function digestByHand(chainId: number, contract: Hex, typeString: string, fields: Hex): Hex {
  const domainSeparator = keccak256(
    encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint256' },
        { type: 'address' },
      ],
      [
        keccak256(
          toBytes('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
        ),
        keccak256(toBytes('VitalTrailConsent')),
        keccak256(toBytes('1')),
        BigInt(chainId),
        contract,
      ],
    ),
  );
  const structHash = keccak256(concat([keccak256(toBytes(typeString)), fields]));
  return keccak256(concat(['0x1901', domainSeparator, structHash]));
}

describe('consent typed data', () => {
  it('behavior: the consent id is a stable known answer, equal to EIP-712 computed by hand', () => {
    expect(consentIdOf(DOMAIN, MESSAGE)).toBe(
      '0x3f2488b8ea523e73dcc3540551c84d8e453115caf19b6e16f38090665125446a',
    );
    const fields = encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint8' },
        { type: 'uint64' },
        { type: 'uint64' },
        { type: 'uint64' },
        { type: 'uint64' },
        { type: 'bytes32' },
        { type: 'uint256' },
      ],
      [
        MESSAGE.patient,
        MESSAGE.doctor,
        MESSAGE.scope,
        MESSAGE.dataFrom,
        MESSAGE.dataUntil,
        MESSAGE.validFrom,
        MESSAGE.validUntil,
        keccak256(toBytes(MESSAGE.purpose)),
        MESSAGE.nonce,
      ],
    );
    const typeString =
      'Consent(bytes32 patient,bytes32 doctor,uint8 scope,uint64 dataFrom,uint64 dataUntil,uint64 validFrom,uint64 validUntil,string purpose,uint256 nonce)';
    expect(consentIdOf(DOMAIN, MESSAGE)).toBe(digestByHand(31337, CONTRACT, typeString, fields));
    // the type string is CONSENT_TYPES, field for field
    expect(`Consent(${CONSENT_TYPES.Consent.map((f) => `${f.type} ${f.name}`).join(',')})`).toBe(typeString);
  });

  it('behavior: every field, the chain and the contract change the id', () => {
    const id = consentIdOf(DOMAIN, MESSAGE);
    const changed: Partial<ConsentMessage>[] = [
      { patient: `0x${'12'.repeat(32)}` },
      { doctor: `0x${'23'.repeat(32)}` },
      { scope: SCOPE_VITALS },
      { dataFrom: MESSAGE.dataFrom + 1n },
      { dataUntil: 1n },
      { validFrom: MESSAGE.validFrom + 1n },
      { validUntil: MESSAGE.validUntil + 1n },
      { purpose: 'cardiology follow-up.' },
      { nonce: 8n },
    ];
    const ids = new Set([id, ...changed.map((c) => consentIdOf(DOMAIN, { ...MESSAGE, ...c }))]);
    expect(ids.size).toBe(changed.length + 1);
    expect(consentIdOf(consentDomain(1, CONTRACT), MESSAGE)).not.toBe(id);
    expect(consentIdOf(consentDomain(31337, `0x${'ab'.repeat(20)}`), MESSAGE)).not.toBe(id);
    expect(consentIdOf(DOMAIN, { ...MESSAGE })).toBe(id);
  });

  it('behavior: the revocation digest is a known answer, equal to EIP-712 computed by hand', () => {
    const consentId: Hex = `0x${'33'.repeat(32)}`;
    expect(revocationDigestOf(DOMAIN, consentId)).toBe(
      '0x44b53ea8c5fb37ac261748b3ae6ee49f46f42920b03a4fad76c1198b704d7970',
    );
    expect(revocationDigestOf(DOMAIN, consentId)).toBe(
      digestByHand(31337, CONTRACT, 'Revocation(bytes32 consentId)', consentId),
    );
    expect(() => revocationDigestOf(DOMAIN, '0x1234')).toThrow(TypeError);
  });

  it('behavior: a patient signature over the grant and the revocation recovers to the patient', async () => {
    const patient = privateKeyToAccount(generatePrivateKey());
    const signature = await patient.signTypedData({
      domain: DOMAIN,
      types: CONSENT_TYPES,
      primaryType: 'Consent',
      message: MESSAGE,
    });
    expect(
      await recoverTypedDataAddress({
        domain: DOMAIN,
        types: CONSENT_TYPES,
        primaryType: 'Consent',
        message: MESSAGE,
        signature,
      }),
    ).toBe(patient.address);
    const consentId = consentIdOf(DOMAIN, MESSAGE);
    const revocation = await patient.signTypedData({
      domain: DOMAIN,
      types: REVOCATION_TYPES,
      primaryType: 'Revocation',
      message: { consentId },
    });
    expect(
      await recoverTypedDataAddress({
        domain: DOMAIN,
        types: REVOCATION_TYPES,
        primaryType: 'Revocation',
        message: { consentId },
        signature: revocation,
      }),
    ).toBe(patient.address);
  });

  it('behavior: a clinician id is SHA-256 of an SPKI or of an address’s 20 bytes', () => {
    // printf '\x70\x99\x79\x70\xC5\x18\x12\xdc\x3A\x01\x0C\x7d\x01\xb5\x0e\x0d\x17\xdc\x79\xC8' | sha256sum
    const address: Hex = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
    const expected = '0xe1ad81f58bbfc212fd36413bb14aadbe5a47d411bd5a70940cfc6338bcf9b57e';
    expect(clinicianIdOf(address)).toBe(expected);
    expect(clinicianIdOf(address.toLowerCase() as Hex)).toBe(expected);
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    const byNode = `0x${createHash('sha256').update(spki).digest('hex')}`;
    expect(clinicianIdOf(new Uint8Array(spki))).toBe(byNode);
    expect(clinicianIdOf(`0x${spki.toString('hex')}`)).toBe(byNode);
  });

  it('error: clinicianIdOf refuses empty input and text that is not whole-byte hex', () => {
    for (const bad of ['', '0x', '0x123', 'zz', '0xzz', 'abcd', 42, null] as unknown[]) {
      expect(() => clinicianIdOf(bad as Hex), String(bad)).toThrow(TypeError);
    }
    expect(() => clinicianIdOf(new Uint8Array(0))).toThrow(TypeError);
  });

  it('behavior: the domain is the documented one; malformed chain ids and addresses are refused', () => {
    expect(DOMAIN).toEqual({
      name: 'VitalTrailConsent',
      version: '1',
      chainId: 31337,
      verifyingContract: CONTRACT,
    });
    expect(() => consentDomain(0, CONTRACT)).toThrow(RangeError);
    expect(() => consentDomain(1.5, CONTRACT)).toThrow(TypeError);
    expect(() => consentDomain('1' as never, CONTRACT)).toThrow(TypeError);
    expect(() => consentDomain(1, '0x1234')).toThrow(TypeError);
  });

  it('behavior: the scope bits and the rules the contract applies to a message alone', () => {
    expect([SCOPE_VITALS, SCOPE_ECG, SCOPE_ALL]).toEqual([1, 2, 3]);
    expect(consentRuleBroken(MESSAGE)).toBeNull();
    expect(consentRuleBroken({ ...MESSAGE, scope: 0 })).toBe('InvalidScope');
    expect(consentRuleBroken({ ...MESSAGE, scope: 4 })).toBe('InvalidScope');
    expect(consentRuleBroken({ ...MESSAGE, validUntil: MESSAGE.validFrom })).toBe('InvalidWindow');
    expect(consentRuleBroken({ ...MESSAGE, dataUntil: MESSAGE.dataFrom - 1n })).toBe('InvalidDataRange');
    expect(consentRuleBroken({ ...MESSAGE, dataUntil: MESSAGE.dataFrom })).toBeNull();
    expect(consentRuleBroken({ ...MESSAGE, purpose: '€'.repeat(66) })).toBeNull(); // 198 bytes
    expect(consentRuleBroken({ ...MESSAGE, purpose: '€'.repeat(67) })).toBe('PurposeTooLong'); // 201 bytes
  });

  it('error: a message that cannot be encoded is refused naming the field', () => {
    const bad: [Partial<Record<keyof ConsentMessage, unknown>>, RegExp][] = [
      [{ patient: '0x11' }, /patient/],
      [{ doctor: 1 }, /doctor/],
      [{ scope: 1.5 }, /scope/],
      [{ scope: 256 }, /scope/],
      [{ dataFrom: 1 }, /dataFrom/],
      [{ validUntil: 2n ** 64n }, /validUntil/],
      [{ dataUntil: -1n }, /dataUntil/],
      [{ purpose: undefined }, /purpose/],
      [{ nonce: 2n ** 256n }, /nonce/],
    ];
    for (const [over, field] of bad) {
      expect(() => consentIdOf(DOMAIN, { ...MESSAGE, ...over } as ConsentMessage)).toThrow(field);
    }
  });

  it('behavior: the module imports viem only (the patient portal runs it in the browser)', () => {
    const src = readFileSync(join(import.meta.dirname, '../../anchor/src/consent/typed-data.ts'), 'utf8');
    const specifiers = [...src.matchAll(/^import\s[^'"]*?from\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    expect(specifiers).toEqual(['viem']);
  });
});
