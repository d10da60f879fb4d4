/**
 * @module test/unit/access-evidence
 * Issue 18, offline `verify-access`: the saved access evidence (`vitaltrail-access-evidence/1`,
 * anchor/src/verify-access/evidence-format) on the golden access bundles of
 * test/fixtures/access-bundles. Checked against evidence holding the fixture's anchors and the
 * grant its consent entries cite, the one path of the CLI and the page (`verifyAccessEvidence`)
 * gives the same report as the verifier core with `consentCoverage` over the same grant, for
 * the honest bundles and for every mutation of the bundle and of the grant; the document
 * round-trips through its JSON text; a malformed document is `malformed`, evidence of another
 * chain, contract, log, consent contract or bundle `evidence_mismatch`; and what tampered
 * evidence does (a removed revocation makes a revoked access pass: the file is the auditor's
 * own fetch, README "Offline: the access evidence file").
 */
import { describe, expect, test } from 'vitest';
import type { Hex } from '../../anchor/src/ledger/index.js';
import {
  ACCESS_EVIDENCE_FORMAT,
  type AccessBundle,
  type AccessEvidence,
  type AccessFullItem,
  accessEvidenceJson,
  accessScopeLine,
  citedConsentIds,
  consentCoverage,
  parseAccessBundle,
  parseAccessEvidence,
  verifyAccessBundle,
  verifyAccessEvidence,
} from '../../anchor/src/verify-access/index.js';
import {
  ACCESS_FIXTURE_CONTRACT,
  ACCESS_FIXTURE_T0,
  accessFixtureConsent,
  readAccessFixture,
} from '../helpers/access-fixtures.js';

const fixture = readAccessFixture();
const CONSENT = `0x${'cc'.repeat(20)}` as Hex;
const GRANT_ID = `0x${'c3'.repeat(32)}` as Hex;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Evidence as `verify-access-fetch` writes it for the fixture (the grant `0xc3…`, or `over`). */
function evidence(over: Partial<AccessEvidence> = {}, grant = accessFixtureConsent()): AccessEvidence {
  const { grantTx: _g, revokeTx: _r, ...record } = grant;
  return {
    format: ACCESS_EVIDENCE_FORMAT,
    chainId: 31337,
    contract: ACCESS_FIXTURE_CONTRACT,
    registry: `0x${'ee'.repeat(20)}`,
    consent: CONSENT,
    logId: fixture.all.log.logId,
    head: 12,
    fetchedAt: '2026-11-02T09:00:00.000Z',
    anchors: fixture.anchors,
    consents: [{ ...record, id: record.id.toLowerCase() as Hex }],
    absent: [],
    ...over,
  };
}

/** The report through the saved evidence (its JSON text parsed back) and through the core. */
function bothWays(bundle: AccessBundle, ev = evidence()) {
  const parsed = parseAccessBundle(clone(bundle));
  const saved = parseAccessEvidence(JSON.parse(accessEvidenceJson(ev)));
  const {
    consentContract,
    grants,
    absent,
    evidence: source,
    ...offline
  } = verifyAccessEvidence(parsed, saved, {
    vkey: fixture.vkey,
    source: 'file',
  });
  const core = verifyAccessBundle(parsed, ev.anchors, {
    vkey: fixture.vkey,
    consentCheck: consentCoverage(ev.consents, ev.chainId),
  });
  expect([consentContract, grants, absent, source.source]).toEqual([
    CONSENT,
    ev.consents.length,
    ev.absent.length,
    'file',
  ]);
  return { offline, core };
}

describe('access evidence: the same report as the verifier core', () => {
  test("behavior: patient A's bundle and the bundle of every patient, as the core says", () => {
    const a = bothWays(fixture.patient);
    expect(a.offline).toEqual(a.core);
    expect(a.offline.verdict).toBe('VALID');
    expect(a.offline.entries[1]).toMatchObject({ code: 'valid', entry: { basis: { type: 'consent' } } });
    const all = bothWays(fixture.all);
    expect(all.offline).toEqual(all.core);
    expect(all.offline.entries[5]?.code).toBe('consent_wrong_patient');
  });

  test('behavior: every mutation of the bundle gets the same codes offline as from the core', () => {
    const mutations: Record<string, (b: AccessBundle) => void> = {
      deleted: (b) => b.entries.splice(3, 1),
      altered: (b) => {
        const i = b.entries[1] as AccessFullItem;
        i.entry = i.entry.replace(/"dataFrom":\d+/, '"dataFrom":0');
      },
      reordered: (b) => {
        [b.entries[4], b.entries[5]] = [b.entries[5]!, b.entries[4]!];
      },
      unanchored: (b) => {
        b.checkpoints[0]!.blockNumber = 99;
      },
      forgedNote: (b) => {
        b.checkpoints[1]!.note = fixture.all.checkpoints[0]!.note;
      },
      brokenLink: (b) => {
        b.consistency[0]!.proof[0] = `0x${'00'.repeat(32)}`;
      },
    };
    for (const [name, mutate] of Object.entries(mutations)) {
      const b = clone(fixture.patient);
      mutate(b);
      const r = bothWays(b);
      expect(r.offline, name).toEqual(r.core);
      expect(r.offline.verdict, name).toBe('INVALID');
    }
  });

  test('behavior: every mutation of the grant gets the same code offline as from the core', () => {
    const T0 = ACCESS_FIXTURE_T0;
    const cases: [string, AccessEvidence, string][] = [
      ['not on chain', evidence({ consents: [], absent: [GRANT_ID] }), 'consent_not_found'],
      [
        'another doctor',
        evidence({}, accessFixtureConsent({ doctor: `0x${'d5'.repeat(20)}` })),
        'consent_wrong_doctor',
      ],
      [
        'granted after the anchor',
        evidence({}, accessFixtureConsent({ grantedBlock: 11 })),
        'consent_not_in_force',
      ],
      [
        'window over',
        evidence({}, accessFixtureConsent({ validUntil: BigInt(T0 + 60_000) })),
        'consent_not_in_force',
      ],
      [
        'revoked before',
        evidence({}, accessFixtureConsent({ revokedAt: T0 + 60_000, revokedBlock: 10 })),
        'consent_not_in_force',
      ],
      ['ECG only', evidence({}, accessFixtureConsent({ scope: 2 })), 'consent_out_of_scope'],
    ];
    for (const [name, ev, code] of cases) {
      const r = bothWays(fixture.patient, ev);
      expect(r.offline, name).toEqual(r.core);
      expect(r.offline.entries[1]?.code, name).toBe(code);
    }
  });

  test('error: tampered evidence — a revocation removed — makes the revoked access pass (the file is trusted as fetched)', () => {
    const revoked = accessFixtureConsent({ revokedAt: ACCESS_FIXTURE_T0 + 60_000, revokedBlock: 10 });
    expect(bothWays(fixture.patient, evidence({}, revoked)).offline.entries[1]?.code).toBe(
      'consent_not_in_force',
    );
    const tampered = evidence({}, { ...revoked, revokedAt: null, revokedBlock: null });
    expect(bothWays(fixture.patient, tampered).offline.verdict).toBe('VALID');
  });

  test('behavior: the scope line names the consent contract and how many cited consents are on chain', () => {
    const parsed = parseAccessBundle(clone(fixture.patient));
    const r = verifyAccessEvidence(parsed, evidence(), { vkey: fixture.vkey, source: 'file' });
    expect(accessScopeLine(parsed, r)).toBe(
      `verified: access log vitaltrail/gw-fixture/access (${fixture.all.log.logId}) on chain 31337, anchors contract ` +
        `${ACCESS_FIXTURE_CONTRACT}, consent contract ${CONSENT} (1 of 1 cited consent(s) on chain); checkpoints of ` +
        'tree size 5, 9 anchored in block(s) 10-11; leaves 0-8 (the whole anchored log); vkey pinned',
    );
    expect(citedConsentIds(parsed, 31337)).toEqual([GRANT_ID]);
    expect(citedConsentIds(parsed, 1)).toEqual([]);
  });
});

describe('access evidence: hostile documents and evidence of another chain', () => {
  const bundle = parseAccessBundle(clone(fixture.patient));
  const run = (ev: unknown, consent?: Hex) => () =>
    verifyAccessEvidence(bundle, parseAccessEvidence(ev), {
      source: 'file',
      ...(consent ? { consent } : {}),
    });
  const json = () =>
    JSON.parse(accessEvidenceJson(evidence())) as Record<string, unknown> & {
      consents: Record<string, unknown>[];
      anchors: Record<string, unknown>[];
    };

  test('error: a document not of the documented shape is malformed, naming the path, never a crash', () => {
    const cases: [string, (j: ReturnType<typeof json>) => unknown][] = [
      ['format', (j) => ({ ...j, format: 'vitaltrail-anchors/1' })],
      ['chainId', (j) => ({ ...j, chainId: 0 })],
      ['consent', (j) => ({ ...j, consent: 'nope' })],
      ['anchors[0].treeSize', (j) => ({ ...j, anchors: [{ ...j.anchors[0], treeSize: -1 }] })],
      ['consents[0].dataFrom', (j) => ({ ...j, consents: [{ ...j.consents[0], dataFrom: 5 }] })],
      [
        'consents[0].validUntil',
        (j) => ({ ...j, consents: [{ ...j.consents[0], validUntil: (2n ** 64n).toString() }] }),
      ],
      ['consents[0].purpose', (j) => ({ ...j, consents: [{ ...j.consents[0], purpose: 'x'.repeat(201) }] })],
      ['consents[0].revokedBlock', (j) => ({ ...j, consents: [{ ...j.consents[0], revokedAt: 5 }] })],
      ['listed twice', (j) => ({ ...j, absent: [GRANT_ID] })],
      ['absent', (j) => ({ ...j, absent: 'none' })],
    ];
    for (const [path, mutate] of cases) {
      expect(run(mutate(json())), path).toThrow(
        expect.objectContaining({ code: 'malformed', reason: expect.stringContaining(path) }),
      );
    }
    for (const bad of [null, [], 'x', 42])
      expect(run(bad)).toThrow(expect.objectContaining({ code: 'malformed' }));
  });

  test('error: evidence of another chain, anchors contract, log, consent contract or bundle is evidence_mismatch', () => {
    const cases: [string, unknown, Hex?][] = [
      ['another chain', { ...json(), chainId: 1 }],
      ['another anchors contract', { ...json(), contract: `0x${'ab'.repeat(20)}` }],
      ['another log', { ...json(), logId: `0x${'ab'.repeat(32)}` }],
      ['another consent contract than --consent', json(), `0x${'ab'.repeat(20)}` as Hex],
      // A grant the bundle cites removed from the file, without listing it absent.
      ['another bundle', { ...json(), consents: [] }],
    ];
    for (const [name, ev, consent] of cases)
      expect(run(ev, consent), name).toThrow(expect.objectContaining({ code: 'evidence_mismatch' }));
    expect(run(json(), CONSENT)().verdict).toBe('VALID');
  });
});
