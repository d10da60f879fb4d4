/**
 * @module test/unit/fhir-export-text
 * The FHIR export made piece by piece (core/fhir/export `fhirBundleParts`, since 2026-12-06:
 * a 6-hour export of one 1 Hz device is ~180 MB of JSON, which the gateway built whole and
 * stringified in one go, holding its event loop 2.3 s). Joined, the pieces are exactly
 * `JSON.stringify(buildFhirBundle(p), null, indent)`, compact and indented, with no reading,
 * one, and several devices; each piece is one reading's entries; and `vitalSignCount` counts
 * the Observations `vitalSignObservations` makes, for every combination of vitals.
 */
import { describe, expect, test } from 'vitest';
import { buildFhirBundle, type FhirReading, fhirBundleParts } from '../../gateway/src/core/fhir/export.js';
import { vitalSignCount, vitalSignObservations } from '../../gateway/src/core/fhir/observations.js';
import type { Observations } from '../../gateway/src/protocol/frame.js';

const T = Date.UTC(2026, 11, 6, 9, 0, 0);
const LOG = { origin: 'vitaltrail/gw-test', logId: 'ab'.repeat(32) };
const CP = {
  treeSize: 3,
  rootHash: `0x${'cd'.repeat(32)}`,
  txHash: `0x${'ef'.repeat(32)}`,
  blockNumber: 9,
  chainId: 31337,
  contract: `0x${'aa'.repeat(20)}`,
};
const readings: FhirReading[] = [
  {
    dev: 'wr-1',
    seq: 1,
    ts: T,
    obs: { hr: 72, spo2: 97, sbp: 120, dbp: 80 },
    leafIndex: 0,
    patientId: 'P-1',
  },
  { dev: 'wr-2', seq: 1, ts: T + 500, obs: { temp: 3712 }, leafIndex: 1 },
  { dev: 'wr-1', seq: 2, ts: T + 1000, obs: { rr: 14, hr: 70 }, leafIndex: 2, patientId: 'P-1' },
  { dev: 'wr-1', seq: 3, ts: T + 2000, obs: {}, leafIndex: 3, patientId: 'P-1' },
  { dev: 'wr-2', seq: 2, ts: T + 3000, obs: { dbp: 70 }, leafIndex: 4 },
];
const params = (rs: readonly FhirReading[]) => ({
  readings: rs,
  log: LOG,
  checkpointFor: (leaf: number) => (leaf < CP.treeSize ? CP : null),
});

/** The Bundle's text as io/outbound/fhir-export hands it out: the head, each reading's piece (none empty), the tail. */
function* fhirBundleText(p: ReturnType<typeof params>, indent: 0 | 2 = 0): Generator<string> {
  const newest = p.readings.reduce((n, r) => Math.max(n, r.ts), 0);
  const b = fhirBundleParts({ ...p, readings: [], now: newest }, indent);
  yield b.head;
  for (const r of p.readings) {
    const piece = b.piece(r);
    if (piece !== '') yield piece;
  }
  yield b.tail();
}

describe('the FHIR export as text', () => {
  test('behavior: joined, the pieces are JSON.stringify of the Bundle, compact and indented', () => {
    for (const rs of [[], readings.slice(0, 1), readings]) {
      const bundle = buildFhirBundle(params(rs));
      expect([...fhirBundleText(params(rs))].join('')).toBe(JSON.stringify(bundle));
      expect([...fhirBundleText(params(rs), 2)].join('')).toBe(JSON.stringify(bundle, null, 2));
    }
  });

  test('behavior: one piece per reading with Observations, between the head and the tail', () => {
    const pieces = [...fhirBundleText(params(readings))];
    // head, 4 readings with vitals (the empty one makes no piece), tail
    expect(pieces).toHaveLength(6);
    expect(pieces[0]).toMatch(
      /^\{"resourceType":"Bundle","type":"collection","timestamp":"[^"]+","entry":\[$/,
    );
    expect(pieces.at(-1)).toBe(']}');
    // The first piece of a device holds its Device entry; a later reading of it does not.
    expect(pieces[1]).toContain('"resourceType":"Device"');
    expect(pieces[3]).not.toContain('"resourceType":"Device"');
  });

  test('behavior: vitalSignCount is the number of Observations vitalSignObservations makes', () => {
    const keys = ['hr', 'spo2', 'rr', 'temp', 'sbp', 'dbp'] as const;
    const refs = { subject: {}, device: {}, identifier: () => ({}) };
    for (let mask = 0; mask < 1 << keys.length; mask++) {
      const obs: Observations = {};
      keys.forEach((k, i) => {
        if (mask & (1 << i)) obs[k] = 100 + i;
      });
      expect(vitalSignCount(obs), JSON.stringify(obs)).toBe(
        vitalSignObservations({ ts: T, obs }, refs).length,
      );
    }
  });
});
