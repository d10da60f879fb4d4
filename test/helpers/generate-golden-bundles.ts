/**
 * @module test/helpers/generate-golden-bundles
 * Writes the golden disclosure bundles of test/fixtures/bundles (PROTOCOL.md §5): one
 * valid bundle and one per failure kind of the verifier (`GOLDEN_KINDS`), and one per
 * completeness case (`COMPLETENESS_KINDS`: entries deleted in the middle, first, last, a
 * run at the end of the range, a bundle without boundary frames, an empty bundle), each
 * with its chain evidence (`vitaltrail-anchors/1`) and the report the verifier gave when
 * it was generated (`<kind>.expected.json`: verdict, per-entry and per-checkpoint codes,
 * failed links, bundle problems, device ends and gaps). Each is a range of a 16-frame log
 * (checkpoints 4, 8, 12, 16; wr-0001 even leaves, wr-0002 odd): seq 2-7 of each device,
 * with seq 1 (leaves 0, 1) as before-boundaries and seq 8 (leaves 14, 15) as
 * after-boundaries, as `vitaltrail export --from --to` writes it. Leaves 16 and 17 are
 * shredding records (README "Shredding records"), anchored by checkpoint 18: leaf 16 of
 * wr-0002's seq 2 (leaf 3), disclosed by the `shredded` kind; leaf 17 of wr-0001's seq 2
 * (leaf 2) with its key destroyed a day before its retention had passed (`FORGERY_KINDS`:
 * that one, a shredded entry without a record, a forged checkpoint note). Keys are the fixed test
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
import { encodeShredRecord, type ShredRecord } from '../../gateway/src/protocol/shred-record.js';
import {
  type BundleJson,
  buildFixture,
  clone,
  FIXTURE_ORIGIN,
  FIXTURE_T0,
  type Fixture,
  fixtureDir,
  flipFrameByte,
  flipHex,
  hex,
} from './bundle-fixtures.js';

type Mutation = (f: Fixture, b: BundleJson, e: ChainEvidence) => void;

/** Frames in the golden log, and the leaves that are boundary frames of the range. */
const GOLDEN_FRAMES = 16;
const BEFORE = [0, 1];
const AFTER = [14, 15];

const DAY = 86_400_000;
/** The golden shredding record: wr-0002's key of the hour of seq 2 (leaf 3), destroyed under a 30-day retention. */
export const GOLDEN_SHRED: ShredRecord = {
  dev: 'wr-0002',
  window: { start: FIXTURE_T0, end: FIXTURE_T0 + 3_600_000 },
  retentionMs: 30 * DAY,
  at: FIXTURE_T0 + 3_600_000 + 30 * DAY + 60_000,
  leaves: [3],
  seqs: [2],
};
/** A record logged by a gateway that shredded a day early (leaf 17). */
const EARLY_SHRED: ShredRecord = {
  ...GOLDEN_SHRED,
  dev: 'wr-0001',
  at: GOLDEN_SHRED.window.end + GOLDEN_SHRED.retentionMs - DAY,
  leaves: [2],
  seqs: [2],
};
const SHRED_LEAF = GOLDEN_FRAMES;
/** The checkpoint that anchors both records. */
const SHRED_TREE_SIZE = GOLDEN_FRAMES + 2;

/** The golden range: the 16-frame fixture with its boundary frames marked. */
export async function goldenFixture(): Promise<Fixture> {
  const f = await buildFixture({
    entries: GOLDEN_FRAMES,
    checkpointEvery: 4,
    extraLeaves: [encodeShredRecord(GOLDEN_SHRED), encodeShredRecord(EARLY_SHRED)],
  });
  for (const e of f.bundle.entries) {
    if (BEFORE.includes(e.leafIndex)) e.boundary = 'before';
    if (AFTER.includes(e.leafIndex)) e.boundary = 'after';
  }
  return f;
}

/** Deletes the entries of these leaves. */
const deleteLeaves =
  (...leaves: number[]): Mutation =>
  (_f, b) => {
    b.entries = b.entries.filter((e) => !leaves.includes(e.leafIndex));
  };

/** The golden kinds, one per verifier code: each mutates the valid range bundle. */
export const GOLDEN_KINDS: Record<string, Mutation> = {
  valid: () => {},
  malformed: (_f, b) => {
    const e = b.entries[2]!;
    if ('frame' in e) e.frame = Buffer.from('not a COSE_Sign1 frame').toString('base64');
  },
  bad_signature: (_f, b) => {
    const e = b.entries[5]!;
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
  shredded: (f, b) => shred(f, b, 3, GOLDEN_SHRED, SHRED_LEAF),
};

/** Entry `i` shredded; `record` (when given) disclosed as leaf `leaf`, proven by checkpoint 18. */
function shred(f: Fixture, b: BundleJson, i: number, record?: ShredRecord, leaf = SHRED_LEAF): void {
  const e = b.entries[i]!;
  b.entries[i] = {
    leafIndex: e.leafIndex,
    treeSize: e.treeSize,
    leafHash: hex(hashLeaf(f.frames[i]!)),
    shredded: true,
    proof: e.proof,
  };
  if (!record) return;
  b.shreddings = [
    {
      leafIndex: leaf,
      treeSize: SHRED_TREE_SIZE,
      record: Buffer.from(encodeShredRecord(record)).toString('base64'),
      proof: f.tree.inclusionProof(leaf, SHRED_TREE_SIZE).map(hex),
    },
  ];
}

/**
 * Forgeries an operator could try (issue 17), each INVALID: a lone `shredded: true` (no
 * record), a record whose key was destroyed before the retention (its leaf is in the log
 * and anchored: a gateway that shreds early cannot hide it), and a checkpoint note the
 * verifier cannot check.
 */
export const FORGERY_KINDS: Record<string, Mutation> = {
  /** Entry 3 marked shredded with no shredding record: `malformed`. */
  shredded_forged: (f, b) => shred(f, b, 3),
  /** Entry 2 shredded by the record of leaf 17, destroyed a day early: `retention_not_met`. */
  shredded_early: (f, b) => shred(f, b, 2, EARLY_SHRED, SHRED_LEAF + 1),
  /** A note with a random root on checkpoint 16: never ignored, the bundle is INVALID. */
  note_forged: (_f, b) => {
    const cp = b.checkpoints.find((c) => c.treeSize === GOLDEN_FRAMES)!;
    cp.note = `${FIXTURE_ORIGIN}\n${GOLDEN_FRAMES}\n${Buffer.alloc(32, 7).toString('base64')}\n\n— forged AAAA\n`;
  },
};

/**
 * The completeness kinds (issue 17): every entry that is present verifies, and the verdict
 * is INCOMPLETE (a gap or an open end) or, for an empty bundle, INVALID.
 */
export const COMPLETENESS_KINDS: Record<string, Mutation> = {
  /** wr-0001 seq 4 (leaf 6) deleted: a gap between seq 3 and seq 5. */
  incomplete_middle: deleteLeaves(6),
  /** wr-0001 seq 2 (leaf 2), the first frame of its range: a gap after the before-boundary. */
  incomplete_first: deleteLeaves(2),
  /** wr-0002 seq 7 (leaf 13), the last frame of its range: a gap before the after-boundary. */
  incomplete_last: deleteLeaves(13),
  /** wr-0002 seq 5-7 (leaves 9, 11, 13), a run at the end of the range. */
  incomplete_tail: deleteLeaves(9, 11, 13),
  /** wr-0002's last frame and its after-boundary (leaves 13, 15): its end is open. */
  incomplete_open_end: deleteLeaves(13, 15),
  /** An older export: every frame of both devices, no boundary marks: ends not proven. */
  edges_unproven: (_f, b) => {
    for (const e of b.entries) delete e.boundary;
  },
  /** `entries: []`: never VALID (PROTOCOL.md §6). */
  empty: (_f, b) => {
    b.entries = [];
  },
};

/** The part of a report that golden files pin. */
export function reportDigest(r: BundleReport): unknown {
  return {
    ok: r.ok,
    verdict: r.verdict,
    entries: r.entries.map((e) => ({
      index: e.index,
      leafIndex: e.leafIndex,
      code: e.code,
      ...(e.boundary ? { boundary: e.boundary } : {}),
    })),
    checkpoints: r.checkpoints.map((c) => ({ treeSize: c.treeSize, code: c.code })),
    failedLinks: r.links.filter((l) => l.code !== 'valid').map((l) => ({ from: l.from, to: l.to })),
    problems: r.problems.map((p) => p.kind),
    summary: r.summary,
    shreddings: r.shreddings.map((x) => ({ leafIndex: x.leafIndex, code: x.code })),
    ranges: r.sequence.devices.map((d) => ({
      dev: d.dev,
      frames: d.frames,
      start: d.start,
      end: d.end,
      ...(d.first && d.last ? { seqs: [d.first.seq, d.last.seq] } : {}),
    })),
    gaps: r.sequence.gaps.map((g) => ({
      dev: g.dev,
      kind: g.kind,
      fromSeq: g.fromSeq,
      toSeq: g.toSeq,
      between: [
        { seq: g.before.seq, ts: g.before.ts },
        { seq: g.after.seq, ts: g.after.ts },
      ],
    })),
  };
}

async function main(): Promise<void> {
  const dir = fixtureDir();
  // One log for every kind (ECDSA signatures are randomised): bundles of it can be
  // verified together against any kind's unmutated evidence.
  const f = await goldenFixture();
  for (const [kind, mutate] of [
    ...Object.entries(GOLDEN_KINDS),
    ...Object.entries(COMPLETENESS_KINDS),
    ...Object.entries(FORGERY_KINDS),
  ]) {
    const bundle = clone(f.bundle);
    const evidence = clone(f.evidence);
    mutate(f, bundle, evidence);
    const report = verifyBundle(parseBundle(clone(bundle)), evidence.anchors, {
      registry: evidence.registryEvents,
    });
    writeFileSync(join(dir, `${kind}.bundle.json`), `${JSON.stringify(bundle, null, 1)}\n`);
    writeFileSync(join(dir, `${kind}.anchors.json`), `${JSON.stringify(evidence, null, 1)}\n`);
    writeFileSync(join(dir, `${kind}.expected.json`), `${JSON.stringify(reportDigest(report), null, 1)}\n`);
    process.stdout.write(`${kind}: ${report.verdict} ${JSON.stringify(report.summary.byCode)}\n`);
  }
}

if (process.argv[1]?.endsWith('generate-golden-bundles.js')) {
  main().catch((err) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 2;
  });
}
