/**
 * @module test/unit/access-consent
 * Issue 18: consent coverage of an access entry (anchor/src/verify-access/consent.ts,
 * `consentCoverage`), on hand-made grants of the consent contract's record shape: each code,
 * the boundaries (at = validFrom passes, at = validUntil fails, revoked at `at` fails unless
 * mined after the anchoring block, granted in a block after the anchoring one fails), the bases that need no consent, and a property:
 * an entry the check passes has a grant that satisfies every rule, and the reverse.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { ConsentRecord } from '../../anchor/src/consent/index.js';
import {
  ACCESS_ACTIONS,
  ACTION_SCOPE,
  type AccessEntry,
  type ConsentCoverageRecord,
  consentCoverage,
} from '../../anchor/src/verify-access/index.js';
import { accessEntry, PATIENT_A, PATIENT_B } from '../helpers/access-fixtures.js';
import { fcRuns } from '../helpers/fc-runs.js';

const T = 1_800_000_000_000;
const H = 3_600_000;
const ID = `0x${'c3'.repeat(32)}`;
const DR = `0x${'d4'.repeat(32)}`;
const CHAIN = 31337;

/** A grant of patient A to DR: vitals, history from T-24h (open end), valid [T, T+1h), block 5. */
function grant(over: Partial<ConsentRecord> = {}): ConsentRecord {
  return {
    id: ID,
    patient: PATIENT_A,
    doctor: DR,
    scope: 1,
    dataFrom: BigInt(T - 24 * H),
    dataUntil: 0n,
    validFrom: BigInt(T),
    validUntil: BigInt(T + H),
    purpose: 'cardiology follow-up',
    nonce: 1n,
    grantedAt: T - 60_000,
    grantedBlock: 5,
    revokedAt: null,
    revokedBlock: null,
    ...over,
  } as ConsentRecord;
}

/** DR reading patient A's last hour at T+10 min under grant ID. */
function entry(over: Partial<AccessEntry> = {}): AccessEntry {
  return accessEntry({
    at: T + 600_000,
    actor: DR,
    role: 'doctor',
    patient: PATIENT_A,
    action: 'readings',
    dataFrom: T - H,
    dataUntil: T,
    basis: { type: 'consent', consentId: ID, chainId: CHAIN },
    ...over,
  });
}

/** The check, the entry anchored in block 7 unless a block (or undefined) is given. */
const check = (grants: ConsentRecord[], e: AccessEntry, ...block: [number | undefined] | []) =>
  consentCoverage(grants, CHAIN)(e, block.length === 0 ? 7 : block[0]);

describe('consentCoverage', () => {
  test('behavior: a grant of the patient to the actor, in force at `at`, holding scope and range covers the entry', () => {
    expect(check([grant()], entry())).toBeUndefined();
    // Ids compare without case; an open data range holds any later data.
    expect(
      check([grant({ id: ID.toUpperCase().replace('0X', '0x') as `0x${string}` })], entry()),
    ).toBeUndefined();
    expect(check([grant()], entry({ dataUntil: T + 100 * H }))).toBeUndefined();
  });

  test('behavior: ward, self and break-glass entries need no consent (a break-glass reason is required by the decoder)', () => {
    for (const basis of [
      { type: 'ward' } as const,
      { type: 'self' } as const,
      { type: 'break_glass', reason: 'arrest in bed 4' } as const,
    ]) {
      expect(check([], entry({ basis }))).toBeUndefined();
    }
  });

  test('error: consent_not_found — no grant with the id, or the consent of another chain', () => {
    expect(check([], entry())).toEqual({
      code: 'consent_not_found',
      reason: 'the consent contract holds no grant with this id',
    });
    expect(check([grant({ id: `0x${'c4'.repeat(32)}` })], entry())?.code).toBe('consent_not_found');
    expect(check([grant()], entry({ basis: { type: 'consent', consentId: ID, chainId: 1 } }))).toEqual({
      code: 'consent_not_found',
      reason: 'the consent names another chain than the evidence',
    });
  });

  test('error: consent_wrong_patient and consent_wrong_doctor', () => {
    expect(check([grant()], entry({ patient: PATIENT_B }))?.code).toBe('consent_wrong_patient');
    expect(check([grant()], entry({ actor: `0x${'d5'.repeat(32)}` }))?.code).toBe('consent_wrong_doctor');
    // The patient is checked first.
    expect(check([grant()], entry({ patient: PATIENT_B, actor: 'alice' }))?.code).toBe(
      'consent_wrong_patient',
    );
  });

  test('error: consent_not_in_force at its boundaries, the reason saying which rule', () => {
    const reason = (g: ConsentRecord, e: AccessEntry, ...block: [number | undefined] | []) =>
      check([g], e, ...block)?.reason;
    // validFrom ≤ at < validUntil
    expect(check([grant()], entry({ at: T }))).toBeUndefined();
    expect(reason(grant(), entry({ at: T - 1 }))).toBe('the access is before the consent window');
    expect(check([grant()], entry({ at: T + H - 1 }))).toBeUndefined();
    expect(reason(grant(), entry({ at: T + H }))).toBe('the access is after the consent window');
    // not revoked at or before at
    const at = T + 600_000;
    expect(check([grant({ revokedAt: at + 1, revokedBlock: 9 })], entry({ at }))).toBeUndefined();
    expect(reason(grant({ revokedAt: at, revokedBlock: 6 }), entry({ at }))).toBe(
      'the consent was revoked at or before the access',
    );
    expect(reason(grant({ revokedAt: at - 1, revokedBlock: 6 }), entry({ at }))).toBe(
      'the consent was revoked at or before the access',
    );
    // ... unless mined in a later block than the one that anchored the entry (7): the access came first.
    expect(check([grant({ revokedAt: at - 1, revokedBlock: 7 })], entry({ at }))?.code).toBe(
      'consent_not_in_force',
    );
    expect(check([grant({ revokedAt: at - 1, revokedBlock: 8 })], entry({ at }))).toBeUndefined();
    // granted at or before the anchoring block
    expect(check([grant({ grantedBlock: 7 })], entry(), 7)).toBeUndefined();
    expect(reason(grant({ grantedBlock: 8 }), entry(), 7)).toBe(
      'the consent was not yet granted when the entry was anchored',
    );
    expect(reason(grant(), entry(), undefined)).toBe(
      'the entry has no anchoring block to compare the grant with',
    );
    for (const e of [entry({ at: T - 1 }), entry({ at: T + H })])
      expect(check([grant()], e)?.code).toBe('consent_not_in_force');
  });

  test('error: consent_out_of_scope — the action outside the scope, the data beyond the range', () => {
    // Vitals for readings, trend, patient_view and the FHIR export; ECG for ecg; both for bundles.
    const code = (scope: number, action: AccessEntry['action']) =>
      check([grant({ scope })], entry({ action }))?.code;
    expect(code(1, 'trend')).toBeUndefined();
    expect(code(1, 'patient_view')).toBeUndefined();
    expect(code(2, 'readings')).toBe('consent_out_of_scope');
    expect(code(1, 'ecg')).toBe('consent_out_of_scope');
    expect(code(2, 'ecg')).toBeUndefined();
    expect(code(1, 'fhir_export')).toBeUndefined();
    expect(code(2, 'fhir_export')).toBe('consent_out_of_scope');
    expect(code(1, 'bundle_export')).toBe('consent_out_of_scope');
    expect(code(2, 'bundle_export')).toBe('consent_out_of_scope');
    expect(code(3, 'bundle_export')).toBeUndefined();
    // The whole [dataFrom, dataUntil]: dataFrom ≤ entry.dataFrom, entry.dataUntil ≤ dataUntil.
    const ranged = grant({ dataFrom: BigInt(T - H), dataUntil: BigInt(T) });
    expect(check([ranged], entry())).toBeUndefined();
    expect(check([ranged], entry({ dataFrom: T - H - 1 }))).toEqual({
      code: 'consent_out_of_scope',
      reason: 'the consent data range does not hold the data served',
    });
    expect(check([ranged], entry({ dataUntil: T + 1 }))?.code).toBe('consent_out_of_scope');
  });

  test('error: misuse throws TypeError naming the parameter', () => {
    expect(() => consentCoverage(null as unknown as ConsentRecord[], CHAIN)).toThrow(/consents/);
    expect(() => consentCoverage([], 0)).toThrow(/chainId/);
    expect(() => consentCoverage([], 1.5)).toThrow(TypeError);
  });

  test('property: a covered entry has a grant that satisfies every rule, and an entry so granted is covered', () => {
    const small = (max: number) => fc.integer({ min: 0, max });
    /** `yes` seven times in eight, else `no`: every rule holds often enough for covered cases. */
    const mostly = <T>(yes: T, no: T) => fc.integer({ min: 0, max: 7 }).map((n) => (n > 0 ? yes : no));
    const grantArb = fc.record({
      patient: mostly(PATIENT_A, PATIENT_B),
      doctor: mostly(DR, `0x${'d5'.repeat(32)}`),
      scope: fc.constantFrom(3, 3, 1, 2),
      dataFrom: small(100),
      dataUntil: fc.oneof(fc.constant(0), small(200)),
      validFrom: fc.integer({ min: 5, max: 100 }),
      span: fc.integer({ min: 1, max: 100 }),
      grantedBlock: small(5),
      revokedAt: fc.option(small(200), { nil: null, freq: 2 }),
      revokedBlock: small(10),
    });
    const entryArb = fc.record({
      chainId: mostly(CHAIN, 1),
      known: mostly(true, false),
      patient: mostly(PATIENT_A, PATIENT_B),
      action: fc.constantFrom(...ACCESS_ACTIONS),
      // Near the grant's bounds, so that every outcome is drawn.
      atOff: fc.integer({ min: -3, max: 60 }),
      dataOff: fc.integer({ min: -2, max: 30 }),
      len: small(30),
      block: fc.option(small(10), { nil: undefined, freq: 8 }),
    });
    const seen = { covered: 0, refused: 0 };
    fc.assert(
      fc.property(grantArb, entryArb, (g, q) => {
        const record: ConsentCoverageRecord = {
          id: ID,
          patient: g.patient,
          doctor: g.doctor,
          scope: g.scope,
          dataFrom: BigInt(g.dataFrom),
          dataUntil: BigInt(g.dataUntil),
          validFrom: BigInt(g.validFrom),
          validUntil: BigInt(g.validFrom + g.span),
          grantedAt: 0,
          grantedBlock: g.grantedBlock,
          revokedAt: g.revokedAt,
          revokedBlock: g.revokedAt === null ? null : g.revokedBlock,
        };
        const e = entry({
          patient: q.patient,
          action: q.action,
          at: g.validFrom + q.atOff,
          dataFrom: g.dataFrom + q.dataOff + 2,
          dataUntil: g.dataFrom + q.dataOff + 2 + q.len,
          basis: { type: 'consent', consentId: q.known ? ID : `0x${'0'.repeat(64)}`, chainId: q.chainId },
        });
        const every =
          q.chainId === CHAIN &&
          q.known &&
          g.patient === e.patient &&
          g.doctor === e.actor &&
          q.block !== undefined &&
          g.grantedBlock <= q.block &&
          g.validFrom <= e.at &&
          e.at < g.validFrom + g.span &&
          (g.revokedAt === null || g.revokedAt > e.at || g.revokedBlock > q.block) &&
          (g.scope & ACTION_SCOPE[e.action]) === ACTION_SCOPE[e.action] &&
          g.dataFrom <= e.dataFrom &&
          (g.dataUntil === 0 || e.dataUntil <= g.dataUntil);
        const verdict = consentCoverage([record], CHAIN)(e, q.block);
        expect(verdict === undefined).toBe(every);
        seen[every ? 'covered' : 'refused'] += 1;
      }),
      { numRuns: fcRuns(2000) },
    );
    expect(seen.covered).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });
});
