/**
 * @module test/helpers/generate-golden-bundles
 * Writes the golden disclosure bundles of test/fixtures/bundles (PROTOCOL.md §5): one
 * valid bundle and one per failure kind of the verifier, each with its chain evidence
 * (`vitaltrail-anchors/1`) and the report the verifier gave when it was generated
 * (`<kind>.expected.json`: per-entry and per-checkpoint codes). Keys are the fixed test
 * keys under test/fixtures/bundles/keys. Regenerate (only on purpose: the files are the
 * verifier's regression baseline) with
 *
 *   npm run build && node dist/test/helpers/generate-golden-bundles.js
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashLeaf } from '../../anchor/src/log/index.js';
import {
  type BundleReport,
  type ChainEvidence,
  parseBundle,
  verifyBundle,
} from '../../anchor/src/verify/index.js';
import {
  type BundleJson,
  buildFixture,
  clone,
  type Fixture,
  fixtureDir,
  flipFrameByte,
  flipHex,
  hex,
} from './bundle-fixtures.js';

/** The golden kinds: each mutates the valid 8-entry bundle (checkpoints 4 and 8; wr-0001 even leaves, wr-0002 odd). */
export const GOLDEN_KINDS: Record<string, (f: Fixture, b: BundleJson, e: ChainEvidence) => void> = {
  valid: () => {},
  malformed: (_f, b) => {
    const e = b.entries[2]!;
    if ('frame' in e) e.frame = Buffer.from('not a COSE_Sign1 frame').toString('base64');
  },
  bad_signature: (_f, b) => {
    const e = b.entries[1]!;
    if ('frame' in e) e.frame = flipFrameByte(e.frame, -10);
  },
  untrusted_certificate: (f, b) => {
    b.devices[0]!.cert = f.foreignCert;
  },
  unknown_device: (_f, b) => {
    b.devices.splice(1, 1);
  },
  bad_inclusion_proof: (_f, b) => {
    const e = b.entries[5]!;
    e.proof[0] = flipHex(e.proof[0]!);
  },
  checkpoint_not_anchored: (_f, _b, e) => {
    e.anchors.splice(0, 1);
  },
  inconsistent_checkpoints: (_f, b) => {
    const c = b.consistency[0]!;
    c.proof[0] = flipHex(c.proof[0]!);
  },
  revoked_at_time: (_f, _b, e) => {
    e.registryEvents.push({ kind: 'revoked', dev: 'wr-0002', blockNumber: 11, logIndex: 0 });
  },
  shredded: (f, b) => {
    const e = b.entries[3]!;
    b.entries[3] = {
      leafIndex: e.leafIndex,
      treeSize: e.treeSize,
      leafHash: hex(hashLeaf(f.frames[3]!)),
      shredded: true,
      proof: e.proof,
    };
  },
};

/** The part of a report that golden files pin. */
export function reportDigest(r: BundleReport): unknown {
  return {
    ok: r.ok,
    entries: r.entries.map((e) => ({ index: e.index, leafIndex: e.leafIndex, code: e.code })),
    checkpoints: r.checkpoints.map((c) => ({ treeSize: c.treeSize, code: c.code })),
    summary: r.summary,
    gaps: r.sequence.gaps.map((g) => ({ dev: g.dev, kind: g.kind, fromSeq: g.fromSeq, toSeq: g.toSeq })),
  };
}

async function main(): Promise<void> {
  const dir = fixtureDir();
  for (const [kind, mutate] of Object.entries(GOLDEN_KINDS)) {
    const f = await buildFixture();
    const bundle = clone(f.bundle);
    const evidence = clone(f.evidence);
    mutate(f, bundle, evidence);
    const report = verifyBundle(parseBundle(clone(bundle)), evidence.anchors, {
      registry: evidence.registryEvents,
    });
    writeFileSync(join(dir, `${kind}.bundle.json`), `${JSON.stringify(bundle, null, 1)}\n`);
    writeFileSync(join(dir, `${kind}.anchors.json`), `${JSON.stringify(evidence, null, 1)}\n`);
    writeFileSync(join(dir, `${kind}.expected.json`), `${JSON.stringify(reportDigest(report), null, 1)}\n`);
    process.stdout.write(`${kind}: ${JSON.stringify(report.summary.byCode)}\n`);
  }
}

if (process.argv[1]?.endsWith('generate-golden-bundles.js')) {
  main().catch((err) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 2;
  });
}
