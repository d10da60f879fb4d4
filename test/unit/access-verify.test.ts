/**
 * @module test/unit/access-verify
 * Issue 18: the access log's leaf format (canonical JSON, RFC 9162 leaf hash) and the
 * verifier of access-log bundles (anchor/src/verify-access), on the golden bundles of
 * test/fixtures/access-bundles: the honest ones verify, and each mutation is reported with its
 * own code (a deleted entry, an altered entry, a reordered pair, …), the rest still checked;
 * with the saved grant its consent entries cite (`accessFixtureConsent`), patient A's bundle
 * passes the consent check (`consentCoverage`) and each mutation of the grants has its code.
 * The README table of the access verifier's codes matches the registry's `access_entry` group.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { hashLeaf } from '../../anchor/src/log/index.js';
import {
  ACCESS_ENTRY_CODES,
  type AccessBundle,
  type AccessFullItem,
  accessEntryText,
  accessLeafHash,
  consentCoverage,
  decodeAccessEntry,
  encodeAccessEntry,
  parseAccessBundle,
  verifyAccessBundle,
} from '../../anchor/src/verify-access/index.js';
import {
  ACCESS_FIXTURE_T0,
  accessEntry,
  accessFixtureConsent,
  PATIENT_A,
  readAccessFixture,
} from '../helpers/access-fixtures.js';

const fixture = readAccessFixture();
const clone = (b: AccessBundle): AccessBundle => JSON.parse(JSON.stringify(b)) as AccessBundle;
const verify = (b: unknown, vkey = fixture.vkey) =>
  verifyAccessBundle(parseAccessBundle(b), fixture.anchors, { vkey });

describe('access entry: canonical JSON and leaf hash', () => {
  test('behavior: keys sorted, no whitespace, integers in decimal (known answer)', () => {
    const text = accessEntryText(
      accessEntry({
        at: 5,
        dataFrom: 1,
        dataUntil: 2,
        patient: PATIENT_A,
        basis: { type: 'consent', consentId: `0x${'0'.repeat(64)}`, chainId: 7 },
      }),
    );
    expect(text).toBe(
      `{"action":"readings","actor":"alice","at":5,"basis":{"chainId":7,"consentId":"0x${'0'.repeat(64)}","type":"consent"},` +
        `"dataFrom":1,"dataUntil":2,"dev":"wr-0001","gateway":"gw-fixture","patient":"${PATIENT_A}","role":"nurse","v":1}`,
    );
    // printf '\0%s' "$text" | sha256sum
    const bytes = encodeAccessEntry(JSON.parse(text));
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.of(0), Buffer.from(text)]))
      .digest();
    expect(Buffer.from(accessLeafHash(bytes))).toEqual(expected);
    expect(accessLeafHash(bytes)).toEqual(hashLeaf(bytes));
  });

  test('behavior: non-ASCII text is UTF-8 as JSON.stringify writes it, and decodes back', () => {
    const e = accessEntry({ basis: { type: 'break_glass', reason: 'Herzstillstand — Zimmer 4 ✓' } });
    const bytes = encodeAccessEntry(e);
    expect(Buffer.from(bytes).toString('utf8')).toContain('Herzstillstand — Zimmer 4 ✓');
    expect(decodeAccessEntry(bytes)).toEqual({ entry: e });
  });

  test('error: decoding refuses whatever is not the canonical encoding of a valid entry', () => {
    const text = accessEntryText(accessEntry());
    const cases: Record<string, string> = {
      whitespace: text.replace(':', ': '),
      order: JSON.stringify({ v: 1, ...JSON.parse(text) }),
      extra: text.replace('{', '{"x":1,'),
      duplicate: text.replace('{', '{"v":1,'),
      float: text.replace('"v":1', '"v":1.0'),
      patientId: text.replace(PATIENT_A, 'PAT-0001'),
      role: text.replace('"nurse"', '"janitor"'),
      range: text.replace(/"dataFrom":\d+/, '"dataFrom":99999999999999'),
      notJson: text.slice(1),
      escape: text.replace('"alice"', '"\\u0061lice"'),
    };
    for (const [name, bad] of Object.entries(cases)) {
      expect('problem' in decodeAccessEntry(bad), name).toBe(true);
    }
    expect('problem' in decodeAccessEntry(new Uint8Array([0xff, 0xfe]))).toBe(true);
  });

  test('error: encoding refuses an invalid entry (misuse), naming the rule', () => {
    expect(() =>
      encodeAccessEntry(accessEntry({ basis: { type: 'break_glass', reason: 'x'.repeat(501) } })),
    ).toThrow(/over 500/);
    expect(() =>
      encodeAccessEntry(accessEntry({ basis: { type: 'break_glass', reason: '\ud800' } })),
    ).toThrow(TypeError);
    expect(() => encodeAccessEntry(accessEntry({ at: 1.5 }))).toThrow(/at/);
    expect(() => encodeAccessEntry(accessEntry({ dataFrom: 3, dataUntil: 2 }))).toThrow(/dataFrom/);
    expect(() => encodeAccessEntry({ ...accessEntry(), patient: '0xAB' })).toThrow(/patient/);
    // 500 code points is the limit, astral characters counting once.
    expect(() =>
      encodeAccessEntry(accessEntry({ basis: { type: 'break_glass', reason: '😀'.repeat(500) } })),
    ).not.toThrow();
  });
});

describe('access bundle verifier on the golden bundles', () => {
  test('behavior: the honest bundle of every patient verifies, covering the whole anchored log', () => {
    const r = verify(fixture.all);
    expect(r.verdict).toBe('VALID');
    expect(r.coversWholeLog).toBe(true);
    expect(r.vkeyPinned).toBe(true);
    expect(r.entries.map((e) => e.code)).toEqual(Array(9).fill('valid'));
    expect(r.checkpoints.map((c) => [c.treeSize, c.code])).toEqual([
      [5, 'valid'],
      [9, 'valid'],
    ]);
    expect(r.links.map((l) => l.code)).toEqual(['valid']);
    // Each entry carries the block of the first anchored checkpoint covering it (the consent hook's input).
    expect(r.entries.map((e) => e.anchoredBlock)).toEqual([10, 10, 10, 10, 10, 11, 11, 11, 11]);
  });

  test("behavior: a patient's bundle shows their entries and withholds the others', every index accounted for", () => {
    const r = verify(fixture.patient);
    expect(r.verdict).toBe('VALID');
    const codes = r.entries.map((e) => e.code);
    expect(codes.filter((c) => c === 'valid')).toHaveLength(6);
    expect(codes.filter((c) => c === 'withheld')).toHaveLength(3);
    expect(r.entries.filter((e) => e.code === 'valid').every((e) => e.entry?.patient === PATIENT_A)).toBe(
      true,
    );
    expect(JSON.stringify(fixture.patient)).not.toContain(`"patient":"0x${'b2'.repeat(32)}"`);
  });

  test('error: a deleted entry is entry_missing (a gap), the others still valid', () => {
    const b = clone(fixture.all);
    b.entries.splice(3, 1);
    const r = verify(b);
    expect(r.verdict).toBe('INVALID');
    expect(r.gaps).toEqual([{ from: 3, to: 3, code: 'entry_missing' }]);
    expect(r.entries.every((e) => e.code === 'valid')).toBe(true);
  });

  test('error: an altered entry is leaf_hash_mismatch; with its leaf hash altered too, bad_inclusion_proof', () => {
    const b = clone(fixture.all);
    const item = b.entries[2] as AccessFullItem;
    const altered = item.entry.replace(/"dataFrom":\d+/, '"dataFrom":0');
    expect(altered).not.toBe(item.entry);
    item.entry = altered;
    expect(verify(b).entries.map((e) => e.code)[2]).toBe('leaf_hash_mismatch');
    item.leafHash = `0x${Buffer.from(hashLeaf(Buffer.from(item.entry))).toString('hex')}`;
    const r = verify(b);
    expect(r.entries[2]?.code).toBe('bad_inclusion_proof');
    expect(r.entries.filter((e) => e.code === 'valid')).toHaveLength(8);
  });

  test('error: a reordered pair is entry_out_of_order, and no index is reported missing', () => {
    const b = clone(fixture.all);
    [b.entries[4], b.entries[5]] = [b.entries[5]!, b.entries[4]!];
    const r = verify(b);
    expect(r.entries[5]?.code).toBe('entry_out_of_order');
    expect(r.entries.filter((e) => e.code === 'valid')).toHaveLength(8);
    expect(r.gaps).toEqual([]);
    expect(r.verdict).toBe('INVALID');
  });

  test('error: swapping two entries under their indices breaks both inclusion proofs', () => {
    const b = clone(fixture.all);
    const [x, y] = [b.entries[0] as AccessFullItem, b.entries[1] as AccessFullItem];
    [x.entry, y.entry, x.leafHash, y.leafHash] = [y.entry, x.entry, y.leafHash, x.leafHash];
    const r = verify(b);
    expect(r.entries.slice(0, 2).map((e) => e.code)).toEqual(['bad_inclusion_proof', 'bad_inclusion_proof']);
  });

  test('error: checkpoint codes — not anchored, forged note, another vkey, a broken consistency link', () => {
    const unanchored = clone(fixture.all);
    unanchored.checkpoints[0]!.blockNumber = 99;
    expect(
      verify(unanchored)
        .entries.slice(0, 5)
        .map((e) => e.code),
    ).toEqual(Array(5).fill('checkpoint_not_anchored'));

    const forged = clone(fixture.all);
    forged.checkpoints[1]!.note = fixture.all.checkpoints[0]!.note;
    const r = verify(forged);
    expect(r.checkpoints[1]?.code).toBe('bad_note');
    expect(r.entries.slice(5).map((e) => e.code)).toEqual(Array(4).fill('bad_note'));

    const otherKey = verify(fixture.all, fixture.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+'));
    expect(otherKey.checkpoints.map((c) => c.code)).toEqual(['bad_note', 'bad_note']);

    const broken = clone(fixture.all);
    broken.consistency[0]!.proof[0] = `0x${'00'.repeat(32)}`;
    const rb = verify(broken);
    expect(rb.links[0]?.code).toBe('inconsistent_checkpoints');
    expect(rb.entries[0]?.code).toBe('inconsistent_checkpoints');
  });

  test('error: scope — a withheld entry in a bundle of every patient, another patient in a patient bundle', () => {
    const withheld = clone(fixture.all);
    const item = withheld.entries[4] as AccessFullItem;
    withheld.entries[4] = {
      leafIndex: item.leafIndex,
      treeSize: item.treeSize,
      leafHash: item.leafHash,
      withheld: true,
      proof: item.proof,
    };
    expect(verify(withheld).entries[4]?.code).toBe('out_of_scope');

    const foreign = clone(fixture.patient);
    const i = foreign.entries.findIndex((e) => 'withheld' in e);
    foreign.entries[i] = fixture.all.entries[i]!;
    expect(verify(foreign).entries[i]?.code).toBe('out_of_scope');
  });

  test('error: a malformed item is malformed and the rest are checked; an empty bundle is not valid', () => {
    const b = clone(fixture.all) as unknown as { entries: unknown[] };
    b.entries[0] = { leafIndex: 0, treeSize: 5, entry: 42 };
    (b.entries[1] as AccessFullItem).entry = (b.entries[1] as AccessFullItem).entry.replace(':', ': ');
    const r = verify(b);
    expect(r.entries.slice(0, 2).map((e) => e.code)).toEqual(['malformed', 'malformed']);
    expect(r.entries.slice(2).every((e) => e.code === 'valid')).toBe(true);

    const empty = clone(fixture.all);
    empty.entries = [];
    empty.scope.toIndex = 0;
    expect(verify(empty).problems).toContain('the bundle has no entries');
  });

  test('behavior: the consent hook sees each full entry with its anchoring block, and its code stands', () => {
    const seen: [string, number | undefined][] = [];
    const r = verifyAccessBundle(parseAccessBundle(fixture.all), fixture.anchors, {
      vkey: fixture.vkey,
      consentCheck: (entry, block) => {
        seen.push([entry.basis.type, block]);
        return entry.basis.type === 'consent' ? { code: 'out_of_scope', reason: 'hook says no' } : undefined;
      },
    });
    expect(seen).toHaveLength(9);
    expect(r.entries.filter((e) => e.code === 'out_of_scope')).toHaveLength(2);
  });

  test('error: parseAccessBundle refuses a wrong shape with a coded error, never a SyntaxError', () => {
    for (const bad of [
      null,
      [],
      { format: 'vitaltrail-disclosure/1' },
      { ...fixture.all, scope: { ...fixture.all.scope, fromIndex: -1 } },
    ]) {
      expect(() => parseAccessBundle(bad)).toThrow(expect.objectContaining({ code: 'malformed' }));
    }
  });
});

describe('consent coverage on the golden bundles (saved grants, no chain)', () => {
  const T0 = ACCESS_FIXTURE_T0;
  /** Codes of patient A's bundle with `grants` as the consent contract's, on chain 31337. */
  const codes = (grants = [accessFixtureConsent()], chainId = 31337, bundle: unknown = fixture.patient) =>
    verifyAccessBundle(parseAccessBundle(bundle), fixture.anchors, {
      vkey: fixture.vkey,
      consentCheck: consentCoverage(grants, chainId),
    });

  test("behavior: patient A's bundle with the grant its consent entry cites is VALID", () => {
    const r = codes();
    expect(r.verdict).toBe('VALID');
    expect(r.entries[1]).toMatchObject({
      code: 'valid',
      anchoredBlock: 10,
      entry: { basis: { type: 'consent' } },
    });
  });

  test("error: the bundle of every patient: an access to patient B under patient A's grant is consent_wrong_patient", () => {
    const r = codes(undefined, undefined, fixture.all);
    expect(r.verdict).toBe('INVALID');
    expect(r.entries.map((e) => e.code)).toEqual([
      ...Array(5).fill('valid'),
      'consent_wrong_patient',
      ...Array(3).fill('valid'),
    ]);
  });

  test('error: each mutation of the grants is its own code on the consent entry, the rest valid', () => {
    const cases: [string, ReturnType<typeof codes>, string][] = [
      ['not on chain (forged)', codes([]), 'consent_not_found'],
      ['another chain', codes(undefined, 1), 'consent_not_found'],
      [
        'another doctor',
        codes([accessFixtureConsent({ doctor: `0x${'d5'.repeat(20)}` })]),
        'consent_wrong_doctor',
      ],
      [
        'granted after the anchor',
        codes([accessFixtureConsent({ grantedBlock: 11 })]),
        'consent_not_in_force',
      ],
      [
        'window later',
        codes([accessFixtureConsent({ validFrom: BigInt(T0 + 60_001) })]),
        'consent_not_in_force',
      ],
      [
        'window over',
        codes([accessFixtureConsent({ validUntil: BigInt(T0 + 60_000) })]),
        'consent_not_in_force',
      ],
      [
        'revoked before',
        codes([accessFixtureConsent({ revokedAt: T0 + 60_000, revokedBlock: 10 })]),
        'consent_not_in_force',
      ],
      ['ECG only', codes([accessFixtureConsent({ scope: 2 })]), 'consent_out_of_scope'],
      ['range later', codes([accessFixtureConsent({ dataFrom: BigInt(T0) })]), 'consent_out_of_scope'],
    ];
    for (const [name, r, code] of cases) {
      expect(r.verdict, name).toBe('INVALID');
      expect(
        r.entries.map((e) => e.code),
        name,
      ).toEqual(['valid', code, 'withheld', 'valid', 'valid', 'withheld', 'valid', 'valid', 'withheld']);
    }
    // A revocation mined after the entry's anchoring block came after the access: still valid.
    expect(codes([accessFixtureConsent({ revokedAt: T0, revokedBlock: 11 })]).verdict).toBe('VALID');
  });
});

describe('README', () => {
  test('behavior: the access verifier codes table is the registry group access_entry', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const at = readme.indexOf('### Codes the access verifier reports');
    expect(at).toBeGreaterThan(-1);
    const rows: Record<string, string> = {};
    for (const line of readme.slice(at).split('\n').slice(1)) {
      const m = /^\| `([a-z_]+)` \| (.*) \|$/.exec(line);
      if (m) rows[m[1]!] = m[2]!;
      else if (Object.keys(rows).length > 0 && !line.startsWith('|')) break;
    }
    expect(rows).toEqual({ ...ACCESS_ENTRY_CODES });
  });
});
