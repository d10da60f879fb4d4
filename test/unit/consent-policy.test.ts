/**
 * @module test/unit/consent-policy
 * core/consent-policy (issue 18): a doctor's request is allowed only under a consent of this
 * doctor and patient in force now (window, not revoked) whose scope and data range hold the
 * whole request; otherwise coded (`clinician_suspended` first, then `consent_required`, then
 * `consent_out_of_scope`). Property test: an allowed request always names a consent that
 * covers it and is in force.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ConsentTerms,
  covers,
  type DataRequest,
  decideAccess,
  inForce,
  SCOPE_ECG,
  SCOPE_VITALS,
} from '../../gateway/src/core/consent-policy.js';
import { fcRuns } from '../helpers/fc-runs.js';

const H = 3_600_000;
const T = Date.UTC(2026, 11, 3, 8, 0, 0);
const DR_A = `0x${'a1'.repeat(32)}`;
const DR_B = `0x${'b2'.repeat(32)}`;
const PAT = `0x${'0c'.repeat(32)}`;

const consent = (o: Partial<ConsentTerms> = {}): ConsentTerms => ({
  id: `0x${'11'.repeat(32)}`,
  patient: PAT,
  doctor: DR_A,
  scope: SCOPE_VITALS,
  dataFrom: T - 24 * H,
  dataUntil: 0,
  validFrom: T - H,
  validUntil: T + 24 * H,
  grantedAt: T - H,
  revokedAt: null,
  ...o,
});
const req = (o: Partial<DataRequest> = {}): DataRequest => ({
  doctor: DR_A,
  patient: PAT,
  scope: SCOPE_VITALS,
  from: T - 2 * H,
  to: T,
  now: T,
  ...o,
});

describe('decideAccess', () => {
  it('behavior: a consent of this doctor and patient, in force, holding the scope and range allows it', () => {
    const c = consent();
    expect(decideAccess(req(), [c], false)).toEqual({ allowed: true, consent: c });
  });

  it('behavior: another doctor, another patient, before or after the window, or revoked: consent_required', () => {
    expect(decideAccess(req({ doctor: DR_B }), [consent()], false)).toEqual({
      allowed: false,
      code: 'consent_required',
    });
    expect(decideAccess(req({ patient: `0x${'0d'.repeat(32)}` }), [consent()], false)).toMatchObject({
      code: 'consent_required',
    });
    expect(decideAccess(req({ now: T - 2 * H }), [consent()], false)).toMatchObject({
      code: 'consent_required',
    });
    expect(decideAccess(req({ now: T + 24 * H }), [consent()], false)).toMatchObject({
      code: 'consent_required',
    });
    expect(decideAccess(req(), [consent({ revokedAt: T - 1 })], false)).toMatchObject({
      code: 'consent_required',
    });
    // Revoked later than now: it was in force at the time asked.
    expect(decideAccess(req(), [consent({ revokedAt: T + 1 })], false)).toMatchObject({ allowed: true });
    expect(decideAccess(req(), [], false)).toMatchObject({ code: 'consent_required' });
  });

  it('behavior: in force but not holding the scope or the whole range: consent_out_of_scope (never cut)', () => {
    expect(decideAccess(req({ scope: SCOPE_ECG }), [consent()], false)).toMatchObject({
      code: 'consent_out_of_scope',
    });
    expect(decideAccess(req({ scope: SCOPE_VITALS | SCOPE_ECG }), [consent()], false)).toMatchObject({
      code: 'consent_out_of_scope',
    });
    expect(decideAccess(req({ from: T - 25 * H }), [consent()], false)).toMatchObject({
      code: 'consent_out_of_scope',
    });
    expect(decideAccess(req({ to: T }), [consent({ dataUntil: T - H })], false)).toMatchObject({
      code: 'consent_out_of_scope',
    });
    expect(decideAccess(req({ scope: SCOPE_ECG }), [consent({ scope: 3 })], false)).toMatchObject({
      allowed: true,
    });
  });

  it('behavior: a suspended doctor is refused under any consent; of two covering consents the first granted is named', () => {
    expect(decideAccess(req(), [consent()], true)).toEqual({ allowed: false, code: 'clinician_suspended' });
    const early = consent({ id: `0x${'01'.repeat(32)}`, grantedAt: T - 2 * H, validFrom: T - 2 * H });
    const late = consent({ id: `0x${'02'.repeat(32)}` });
    expect(decideAccess(req(), [late, early], false)).toEqual({ allowed: true, consent: early });
  });

  it('property: an allowed request names a consent of its doctor and patient, in force and covering it', () => {
    const terms = fc.record({
      doctor: fc.constantFrom(DR_A, DR_B),
      scope: fc.integer({ min: 1, max: 3 }),
      dataFrom: fc.integer({ min: 0, max: 100 }),
      dataUntil: fc.integer({ min: 0, max: 200 }),
      validFrom: fc.integer({ min: 0, max: 100 }),
      span: fc.integer({ min: 1, max: 100 }),
      revokedAt: fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
    });
    fc.assert(
      fc.property(
        fc.array(terms, { maxLength: 4 }),
        fc.record({
          scope: fc.integer({ min: 1, max: 3 }),
          from: fc.integer({ min: 0, max: 200 }),
          len: fc.integer({ min: 0, max: 50 }),
          now: fc.integer({ min: 0, max: 200 }),
        }),
        (cs, q) => {
          const consents = cs.map((c, i) =>
            consent({ ...c, id: `c${i}`, validUntil: c.validFrom + c.span, grantedAt: i }),
          );
          const r = req({ scope: q.scope, from: q.from, to: q.from + q.len, now: q.now });
          const d = decideAccess(r, consents, false);
          const ok = consents.some((c) => c.doctor === DR_A && inForce(c, q.now) && covers(c, r));
          expect(d.allowed).toBe(ok);
          if (d.allowed) {
            expect(d.consent.doctor).toBe(DR_A);
            expect(inForce(d.consent, q.now) && covers(d.consent, r)).toBe(true);
          }
        },
      ),
      { numRuns: fcRuns(500) },
    );
  });
});
