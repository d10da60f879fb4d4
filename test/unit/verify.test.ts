/**
 * @module test/unit/verify
 * The auditor's verifier (PROTOCOL.md §5) on a real bundle built here: a KGC root and an
 * intermediate CA made with anchor/src/kgc `issueCertificate`, device frames signed with
 * `signFrame` (the wire codec), proofs from `MemoryMerkleTree` (RFC 9162), and anchors
 * written by hand the way the ledger client returns `Anchored` events. Then each part is
 * broken in turn: the broken entry or checkpoint must carry the right code, the rest stay
 * valid, and nothing throws.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { spkiSha256, verifyCertificateChain } from '../../anchor/src/kgc/chain.js';
import { issueCertificate } from '../../anchor/src/kgc/index.js';
import { hashLeaf, MemoryMerkleTree } from '../../anchor/src/log/index.js';
import {
  type AnchorRecord,
  analyseSequences,
  BundleError,
  type CertificateChecker,
  DISCLOSURE_FORMAT,
  type DisclosureBundle,
  type EntryCode,
  type Hex,
  logIdOf,
  parseBundle,
  type RegistryEvent,
  type SequenceInput,
  type VerifyBundleOptions,
  verifyBundle,
} from '../../anchor/src/verify/index.js';
import { type FrameBody, frameHash, signFrame, ZERO_HASH } from '../../gateway/src/protocol/frame.js';

const DAY = 24 * 60 * 60 * 1000;
/** Device clock of the first frame; certificates are valid from T0 - 1 day to T0 + 30 days. */
const T0 = Date.UTC(2025, 0, 15, 8, 0, 0);
const ORIGIN = 'vitaltrail/gw-1';
const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`;

function p256(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

interface Fixture {
  rootPem: string;
  intermediatePem: string;
  otherRootPem: string;
  /** dev -> certificate PEM: wr-0001 via the intermediate, wr-0002 by the root, wr-0003 by another CA. */
  certs: Record<string, string>;
  /** wr-0001 re-certified by the other CA, same key. */
  foreignCert0001: string;
  /** wr-0001 certificate that expired before T0 + 40 days. */
  frames: { dev: string; seq: number; bytes: Uint8Array; leafIndex: number }[];
  tree: MemoryMerkleTree;
  lateFrame: Uint8Array;
  keys: Record<string, KeyObject>;
}

let fx: Fixture;

beforeAll(async () => {
  const notBefore = new Date(T0 - DAY);
  const notAfter = new Date(T0 + 30 * DAY);
  const root = p256();
  const { certPem: rootPem } = await issueCertificate({
    subject: { commonName: 'Test KGC Root' },
    subjectPublicKey: root.publicKey,
    issuer: { privateKey: root.privateKey },
    notBefore,
    notAfter: new Date(T0 + 365 * DAY),
    isCa: true,
  });
  const inter = p256();
  const { certPem: intermediatePem } = await issueCertificate({
    subject: { commonName: 'Test KGC Ward CA' },
    subjectPublicKey: inter.publicKey,
    issuer: { privateKey: root.privateKey, certPem: rootPem },
    notBefore,
    notAfter: new Date(T0 + 365 * DAY),
    isCa: true,
  });
  const other = p256();
  const { certPem: otherRootPem } = await issueCertificate({
    subject: { commonName: 'Test KGC Root' }, // same name, other key: names prove nothing
    subjectPublicKey: other.publicKey,
    issuer: { privateKey: other.privateKey },
    notBefore,
    notAfter: new Date(T0 + 365 * DAY),
    isCa: true,
  });

  const keys: Record<string, KeyObject> = {};
  const certs: Record<string, string> = {};
  const issuers: Record<string, { privateKey: KeyObject; certPem: string }> = {
    'wr-0001': { privateKey: inter.privateKey, certPem: intermediatePem },
    'wr-0002': { privateKey: root.privateKey, certPem: rootPem },
    'wr-0003': { privateKey: other.privateKey, certPem: otherRootPem },
  };
  for (const [dev, issuer] of Object.entries(issuers)) {
    const k = p256();
    keys[dev] = k.privateKey;
    ({ certPem: certs[dev] } = await issueCertificate({
      subject: { commonName: dev },
      subjectPublicKey: k.publicKey,
      issuer,
      notBefore,
      notAfter,
    }));
  }
  const { certPem: foreignCert0001 } = await issueCertificate({
    subject: { commonName: 'wr-0001' },
    subjectPublicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
    issuer: { privateKey: other.privateKey, certPem: otherRootPem },
    notBefore,
    notAfter,
  });

  // The log: 12 frames in acceptance order, interleaving three devices.
  const order = ['wr-0001', 'wr-0002', 'wr-0001', 'wr-0003', 'wr-0001', 'wr-0002'];
  const frames: Fixture['frames'] = [];
  const last: Record<string, { seq: number; hash: Uint8Array }> = {};
  const tree = new MemoryMerkleTree();
  for (let i = 0; i < 12; i++) {
    const dev = order[i % order.length]!;
    const seq = (last[dev]?.seq ?? 0) + 1;
    const body: FrameBody = {
      v: 1,
      dev,
      seq,
      ts: T0 + i * 1000,
      prev: last[dev]?.hash ?? ZERO_HASH,
      obs: { hr: 70 + i, spo2: 97 },
    };
    const bytes = signFrame(body, keys[dev]!);
    last[dev] = { seq, hash: frameHash(bytes) };
    frames.push({ dev, seq, bytes, leafIndex: tree.appendData(bytes) });
  }
  // Signed by wr-0001 after its certificate expired.
  const lateFrame = signFrame(
    { v: 1, dev: 'wr-0001', seq: 99, ts: T0 + 40 * DAY, prev: new Uint8Array(32).fill(1), obs: { hr: 60 } },
    keys['wr-0001']!,
  );
  fx = { rootPem, intermediatePem, otherRootPem, certs, foreignCert0001, frames, tree, lateFrame, keys };
});

const SIZES = [5, 12] as const;

function anchors(): AnchorRecord[] {
  return SIZES.map(
    (treeSize, i): AnchorRecord => ({
      logId: logIdOf(ORIGIN),
      treeSize,
      rootHash: hex(fx.tree.root(treeSize)),
      checkpointTime: T0 + treeSize * 1000,
      txHash: hex(new Uint8Array(32).fill(0xa0 + i)),
      blockNumber: 10 + i,
    }),
  );
}

/** Proves frame `i` against the smallest checkpoint that holds it. */
function entryOf(i: number) {
  const f = fx.frames[i]!;
  const treeSize: number = SIZES.find((s) => f.leafIndex < s)!;
  return {
    leafIndex: f.leafIndex,
    treeSize,
    frame: Buffer.from(f.bytes).toString('base64'),
    proof: fx.tree.inclusionProof(f.leafIndex, treeSize).map((h): string => hex(h)),
  };
}

/** The bundle a gateway would export, as JSON (the wr-0003 frames left out: its CA is foreign). */
function bundleJson() {
  const a = anchors();
  return {
    format: DISCLOSURE_FORMAT,
    chain: { chainId: 31337, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' },
    log: { origin: ORIGIN, logId: logIdOf(ORIGIN) },
    kgc: { root: fx.rootPem, intermediates: [fx.intermediatePem] },
    devices: [
      { dev: 'wr-0001', cert: fx.certs['wr-0001']! },
      { dev: 'wr-0002', cert: fx.certs['wr-0002']! },
    ],
    checkpoints: a.map((x) => ({
      treeSize: x.treeSize,
      rootHash: x.rootHash as string,
      txHash: x.txHash as string,
      blockNumber: x.blockNumber,
    })),
    consistency: [{ from: 5, to: 12, proof: fx.tree.consistencyProof(5, 12).map((h): string => hex(h)) }],
    entries: fx.frames.flatMap((f, i) => (f.dev === 'wr-0003' ? [] : [entryOf(i)])),
  };
}

type BundleJson = ReturnType<typeof bundleJson>;

/** Builds, mutates, round-trips through JSON and parseBundle, then verifies. */
function verifyMutated(mutate: (b: BundleJson) => void, anchorList = anchors(), opts?: VerifyBundleOptions) {
  const json = bundleJson();
  mutate(json);
  return verifyBundle(parseBundle(JSON.parse(JSON.stringify(json))), anchorList, opts);
}

/** verifyCertificateChain, remembered across calls (chain checks cost ~1 ms each). */
function memoChecker(): CertificateChecker {
  const memo = new Map<string, ReturnType<CertificateChecker>>();
  return (cert, root, intermediates, atMs) => {
    const key = `${cert}|${root}|${intermediates.join('|')}|${atMs}`;
    let r = memo.get(key);
    if (!r) {
      r = verifyCertificateChain(cert, root, intermediates, atMs);
      memo.set(key, r);
    }
    return r;
  };
}

function codes(report: ReturnType<typeof verifyBundle>): EntryCode[] {
  return report.entries.map((e) => e.code);
}

/** Flips one hex digit of a 0x hash, keeping it lowercase hex. */
function flipHex(h: string, at = 2): string {
  const c = h[at] === '0' ? '1' : '0';
  return h.slice(0, at) + c + h.slice(at + 1);
}

const VALID_COUNT = 10; // 12 frames minus the two of wr-0003

describe('verifyBundle on a real bundle', () => {
  it('behavior: every entry and checkpoint of an honest bundle is valid', () => {
    const report = verifyMutated(() => {});
    expect(report.integrity).toBe(true);
    expect(report.summary).toEqual({
      total: VALID_COUNT,
      valid: VALID_COUNT,
      shredded: 0,
      invalid: 0,
      byCode: { valid: 10 },
    });
    expect(report.registryChecked).toBe(false);
    expect(report.sequence).toMatchObject({ distinct: 10, gaps: [], duplicates: 0, conflicts: [] });
    // No boundary frames: each device starts at seq 1, but nothing proves its end.
    expect(report.sequence.devices.map((d) => [d.dev, d.start, d.end])).toEqual([
      ['wr-0001', 'genesis', 'open'],
      ['wr-0002', 'genesis', 'open'],
    ]);
    expect(report.verdict).toBe('INCOMPLETE');
    expect(report.ok).toBe(false);
    expect(report.checkpoints).toEqual([
      { treeSize: 5, code: 'valid' },
      { treeSize: 12, code: 'valid' },
    ]);
    const first = report.entries[0]!;
    expect(first).toMatchObject({ index: 0, leafIndex: 0, dev: 'wr-0001', seq: 1, ts: T0, code: 'valid' });
    expect(first.prev).toBe(hex(ZERO_HASH));
    expect(first.frameHash).toBe(hex(frameHash(fx.frames[0]!.bytes)));
    expect(report.entries.map((e) => e.dev)).toContain('wr-0002');
  });

  it('behavior: the default checker is verifyCertificateChain and an injected one is used instead', () => {
    let calls = 0;
    const counting: CertificateChecker = (...args) => {
      calls++;
      return verifyCertificateChain(...args);
    };
    const bundle = parseBundle(bundleJson());
    expect(verifyBundle(bundle, anchors(), { certificateCheck: counting }).integrity).toBe(true);
    // Few chain checks per certificate: once checked, its path window answers every frame inside it.
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(2 * 3);
    const refuseAll: CertificateChecker = () => ({
      ok: false,
      code: 'untrusted_certificate',
      reason: 'test',
    });
    const report = verifyBundle(bundle, anchors(), { certificateCheck: refuseAll });
    expect(new Set(codes(report))).toEqual(new Set(['untrusted_certificate']));
  });

  it('error: any single bit flipped in a frame makes that entry bad_signature or malformed, the rest valid', () => {
    const original = entryOf(1).frame;
    const bytes = Buffer.from(original, 'base64');
    const seen = new Set<EntryCode>();
    const opts = { certificateCheck: memoChecker() };
    for (let pos = 0; pos < bytes.length; pos++) {
      const flipped = Buffer.from(bytes);
      flipped[pos]! ^= 1 << (pos % 8);
      const report = verifyMutated(
        (b) => {
          b.entries[1]!.frame = flipped.toString('base64');
        },
        anchors(),
        opts,
      );
      const c = codes(report);
      expect(['bad_signature', 'malformed']).toContain(c[1]);
      seen.add(c[1]!);
      expect(c.filter((x) => x === 'valid')).toHaveLength(VALID_COUNT - 1);
      expect(report.integrity).toBe(false);
      expect(report.checkpoints.every((cp) => cp.code === 'valid')).toBe(true);
    }
    expect(seen).toEqual(new Set(['bad_signature', 'malformed']));
  });

  it('error: a flipped, dropped or added proof node gives bad_inclusion_proof for that entry only', () => {
    for (const mutate of [
      (p: string[]) => {
        p[0] = flipHex(p[0]!, 40);
      },
      (p: string[]) => p.pop(),
      (p: string[]) => p.push(p[0]!),
    ]) {
      const report = verifyMutated((b) => mutate(b.entries[6]!.proof));
      expect(report.entries[6]).toMatchObject({ code: 'bad_inclusion_proof', index: 6 });
      expect(report.entries[6]!.reason).toBeTypeOf('string');
      expect(report.summary.byCode).toEqual({ valid: VALID_COUNT - 1, bad_inclusion_proof: 1 });
    }
  });

  it('error: a wrong treeSize or leafIndex fails the entry', () => {
    // Leaf 1 moved to the checkpoint of size 12 without a new proof.
    let report = verifyMutated((b) => {
      b.entries[1]!.treeSize = 12;
    });
    expect(report.entries[1]!.code).toBe('bad_inclusion_proof');
    // A size the bundle has no checkpoint for.
    report = verifyMutated((b) => {
      b.entries[1]!.treeSize = 7;
    });
    expect(report.entries[1]!.code).toBe('checkpoint_not_anchored');
    // Another leaf's index; and an index beyond the tree.
    report = verifyMutated((b) => {
      b.entries[1]!.leafIndex = 3;
    });
    expect(report.entries[1]!.code).toBe('bad_inclusion_proof');
    report = verifyMutated((b) => {
      b.entries[1]!.leafIndex = 5;
    });
    expect(report.entries[1]!.code).toBe('bad_inclusion_proof');
    expect(report.summary.invalid).toBe(1);
  });

  it('error: a checkpoint missing from the anchors fails that checkpoint and its entries only', () => {
    const a = anchors().filter((x) => x.treeSize !== 12);
    const report = verifyMutated(() => {}, a);
    expect(report.checkpoints).toEqual([
      { treeSize: 5, code: 'valid' },
      { treeSize: 12, code: 'checkpoint_not_anchored', reason: expect.any(String) },
    ]);
    for (const e of report.entries)
      expect(e.code).toBe(e.leafIndex < 5 ? 'valid' : 'checkpoint_not_anchored');
    expect(report.summary.byCode).toEqual({ valid: 4, checkpoint_not_anchored: 6 });
  });

  it('error: an anchor with another root, another size or another logId does not anchor the checkpoint', () => {
    const variants: ((a: AnchorRecord) => void)[] = [
      (a) => {
        a.rootHash = flipHex(a.rootHash) as Hex;
      },
      (a) => {
        a.treeSize = 13;
      },
      (a) => {
        a.logId = logIdOf('vitaltrail/gw-2');
      },
    ];
    for (const change of variants) {
      const a = anchors();
      change(a[1]!);
      const report = verifyMutated(() => {}, a);
      expect(report.checkpoints[1]!.code).toBe('checkpoint_not_anchored');
      expect(report.summary.byCode.checkpoint_not_anchored).toBe(6);
    }
    // Hex case from a ledger client does not matter.
    const upper = anchors().map((a) => ({
      ...a,
      rootHash: a.rootHash.toUpperCase().replace('0X', '0x') as Hex,
    }));
    expect(verifyMutated(() => {}, upper).integrity).toBe(true);
  });

  it("error: a logId that is not SHA-256 of the origin anchors nothing, even with the chain's anchors", () => {
    const report = verifyMutated((b) => {
      b.log.origin = 'vitaltrail/gw-2';
    });
    expect(report.checkpoints.map((c) => c.code)).toEqual([
      'checkpoint_not_anchored',
      'checkpoint_not_anchored',
    ]);
    expect(report.summary.valid).toBe(0);
  });

  it('error: certificates from another CA, with another CN or without their intermediate are untrusted', () => {
    // wr-0003's own certificate is from a look-alike root.
    let report = verifyMutated((b) => {
      b.devices.push({ dev: 'wr-0003', cert: fx.certs['wr-0003']! });
      b.entries.push(entryOf(3));
    });
    expect(report.entries.at(-1)).toMatchObject({ dev: 'wr-0003', code: 'untrusted_certificate' });
    expect(report.summary.byCode).toEqual({ valid: VALID_COUNT, untrusted_certificate: 1 });
    // wr-0001 presented with a certificate from the other CA.
    report = verifyMutated((b) => {
      b.devices[0]!.cert = fx.foreignCert0001;
    });
    expect(report.summary.byCode).toEqual({ valid: 4, untrusted_certificate: 6 });
    // wr-0002's certificate listed for wr-0001: chains, but CN is another device.
    report = verifyMutated((b) => {
      b.devices[0]!.cert = fx.certs['wr-0002']!;
    });
    expect(report.summary.byCode).toEqual({ valid: 4, untrusted_certificate: 6 });
    expect(report.entries[0]!.reason).toMatch(/CN/);
    // The intermediate left out: wr-0001 no longer chains; wr-0002 (root-issued) still does.
    report = verifyMutated((b) => {
      b.kgc.intermediates = [];
    });
    expect(report.summary.byCode).toEqual({ valid: 4, untrusted_certificate: 6 });
    // The bundle's root swapped for the look-alike: nothing chains.
    report = verifyMutated((b) => {
      b.kgc.root = fx.otherRootPem;
    });
    expect(report.summary.byCode).toEqual({ untrusted_certificate: VALID_COUNT });
  });

  it('error: a frame signed after its certificate expired is untrusted', () => {
    const tree = new MemoryMerkleTree();
    for (const f of fx.frames) tree.appendData(f.bytes);
    const leafIndex = tree.appendData(fx.lateFrame);
    const report = verifyMutated(
      (b) => {
        b.checkpoints.push({
          treeSize: 13,
          rootHash: hex(tree.root()),
          txHash: hex(new Uint8Array(32)),
          blockNumber: 12,
        });
        b.consistency.push({ from: 12, to: 13, proof: tree.consistencyProof(12).map(hex) });
        b.entries.push({
          leafIndex,
          treeSize: 13,
          frame: Buffer.from(fx.lateFrame).toString('base64'),
          proof: tree.inclusionProof(leafIndex).map(hex),
        });
      },
      [
        ...anchors(),
        {
          logId: logIdOf(ORIGIN),
          treeSize: 13,
          rootHash: hex(tree.root()),
          checkpointTime: T0 + 40 * DAY,
          txHash: hex(new Uint8Array(32)),
          blockNumber: 12,
        },
      ],
    );
    expect(report.checkpoints.map((c) => c.code)).toEqual(['valid', 'valid', 'valid']);
    expect(report.entries.at(-1)).toMatchObject({ seq: 99, code: 'untrusted_certificate' });
    expect(report.entries.at(-1)!.reason).toMatch(/expired/);
    expect(report.summary.invalid).toBe(1);
  });

  it('error: a frame whose device is not in the bundle is unknown_device', () => {
    const report = verifyMutated((b) => {
      b.devices = b.devices.filter((d) => d.dev !== 'wr-0002');
    });
    for (const e of report.entries) expect(e.code).toBe(e.dev === 'wr-0002' ? 'unknown_device' : 'valid');
    expect(report.summary.byCode.unknown_device).toBe(4);
  });

  it('error: a mutated consistency proof is reported at its link and marks the checkpoint below it and its entries', () => {
    const report = verifyMutated((b) => {
      b.consistency[0]!.proof[0] = flipHex(b.consistency[0]!.proof[0]!, 10);
    });
    expect(report.links).toEqual([
      {
        index: 0,
        from: 5,
        to: 12,
        code: 'inconsistent_checkpoints',
        reason: 'the consistency proof does not verify',
      },
    ]);
    expect(report.checkpoints.map((c) => c.code)).toEqual(['inconsistent_checkpoints', 'valid']);
    expect(report.summary.byCode).toEqual({ inconsistent_checkpoints: 4, valid: 6 });
    expect(report.integrity).toBe(false);
    expect(report.verdict).toBe('INVALID');
  });

  it('error: checkpoints not chained by consistency proofs, or two roots for one size, are inconsistent', () => {
    let report = verifyMutated((b) => {
      b.consistency = [];
    });
    expect(report.checkpoints.map((c) => c.code)).toEqual(['inconsistent_checkpoints', 'valid']);
    expect(report.summary.byCode).toEqual({ valid: 6, inconsistent_checkpoints: 4 });
    // A consistency proof naming a size the bundle does not carry: a failed link.
    report = verifyMutated((b) => {
      b.consistency.push({ from: 12, to: 16, proof: [] });
    });
    expect(report.links[1]).toMatchObject({ from: 12, to: 16, code: 'inconsistent_checkpoints' });
    expect(report.integrity).toBe(false);
    // A second, different root for size 5 (a split view).
    report = verifyMutated((b) => {
      b.checkpoints.push({ ...b.checkpoints[0]!, rootHash: hex(fx.tree.root(4)) });
    });
    expect(report.checkpoints.map((c) => c.code)).toEqual([
      'inconsistent_checkpoints',
      'valid',
      'inconsistent_checkpoints',
    ]);
  });

  it('error: bad entry data is reported, never thrown', () => {
    const bundle = parseBundle(bundleJson());
    const broken = {
      ...bundle,
      entries: [
        ...bundle.entries,
        { leafIndex: 0, treeSize: 5, frame: 42, proof: null },
        { leafIndex: 0, treeSize: 5, frame: Buffer.from('not cbor').toString('base64'), proof: [] },
        null,
      ],
    } as unknown as DisclosureBundle;
    const report = verifyBundle(broken, anchors());
    expect(codes(report).slice(-3)).toEqual(['malformed', 'malformed', 'malformed']);
    expect(report.summary.valid).toBe(VALID_COUNT);
  });

  it('behavior: two certificates for one device (re-enrolment): either may have signed', () => {
    const report = verifyMutated((b) => {
      b.devices.unshift({ dev: 'wr-0001', cert: fx.foreignCert0001 });
    });
    expect(report.integrity).toBe(true);
  });
});

describe('verifyBundle: shredded entries, registry at time, sequences', () => {
  /** Entry position of leaf `leaf` in bundleJson().entries. */
  const at = (b: BundleJson, leaf: number) => b.entries.findIndex((e) => e.leafIndex === leaf);
  const shred = (b: BundleJson, leaf: number, leafHash?: string) => {
    const i = at(b, leaf);
    const e = b.entries[i]!;
    const bytes = fx.frames[leaf]!.bytes;
    (b.entries as unknown[])[i] = {
      leafIndex: e.leafIndex,
      treeSize: e.treeSize,
      shredded: true,
      leafHash: leafHash ?? hex(hashLeaf(bytes)),
      proof: e.proof,
    };
  };

  it('error: a shredded entry whose leaf hash is proven, with no shredding record, is malformed (PROTOCOL.md §6)', () => {
    const report = verifyMutated((b) => shred(b, 2));
    const e = report.entries.find((x) => x.leafIndex === 2)!;
    expect(e.code).toBe('malformed');
    expect(e.reason).toMatch(/no valid shredding record/);
    expect(report.summary).toMatchObject({ valid: VALID_COUNT - 1, shredded: 0, invalid: 1 });
    expect(report.integrity).toBe(false);
    expect(report.verdict).toBe('INVALID');
  });

  it('error: a shredded entry with another leaf hash is bad_inclusion_proof, not shredded', () => {
    const report = verifyMutated((b) => shred(b, 2, hex(new Uint8Array(32).fill(7))));
    expect(report.entries.find((e) => e.leafIndex === 2)?.code).toBe('bad_inclusion_proof');
    expect(report.integrity).toBe(false);
  });

  it('error: a shredded entry with a frame, or shredded: false, is a malformed entry (the others are checked)', () => {
    for (const shredded of [true, false]) {
      const json = bundleJson();
      (json.entries[0] as Record<string, unknown>).shredded = shredded;
      const parsed = parseBundle(json);
      expect(parsed.entries[0]!.malformed).toMatch(/^entries\[0\]/);
      const report = verifyBundle(parsed, anchors());
      expect(codes(report)).toEqual(['malformed', ...Array(VALID_COUNT - 1).fill('valid')]);
    }
  });

  const spki = (dev: string) => spkiSha256(fx.certs[dev]!);
  const reg = (dev: string, blockNumber: number, logIndex = 0, key = spki(dev)): RegistryEvent => ({
    kind: 'registered',
    dev,
    spkiHash: key,
    blockNumber,
    logIndex,
  });
  const revoke = (dev: string, blockNumber: number, logIndex = 0): RegistryEvent => ({
    kind: 'revoked',
    dev,
    blockNumber,
    logIndex,
  });
  const byLeaf = (report: ReturnType<typeof verifyBundle>) =>
    Object.fromEntries(report.entries.map((e) => [e.leafIndex, e.code]));

  // Anchors: size 5 in block 10, size 12 in block 11. Leaves 0-4 are first covered at
  // block 10, leaves 5-11 at block 11.
  it('behavior: keys registered before the anchoring block and never revoked are valid', () => {
    const report = verifyMutated(() => {}, anchors(), { registry: [reg('wr-0001', 3), reg('wr-0002', 4)] });
    expect(report.registryChecked).toBe(true);
    expect(report.integrity).toBe(true);
  });

  it('error: a revocation at or before the first covering anchor is revoked_at_time; frames anchored earlier stay valid', () => {
    const report = verifyMutated(() => {}, anchors(), {
      registry: [reg('wr-0001', 3), reg('wr-0002', 3), revoke('wr-0002', 11)],
    });
    const codesByLeaf = byLeaf(report);
    expect(codesByLeaf[1]).toBe('valid'); // wr-0002, anchored in block 10
    expect(codesByLeaf[5]).toBe('revoked_at_time'); // first covered by block 11 = the revocation block
    expect(codesByLeaf[7]).toBe('revoked_at_time');
    expect(codesByLeaf[11]).toBe('revoked_at_time');
    expect(codesByLeaf[0]).toBe('valid');
    expect(codesByLeaf[10]).toBe('valid');
  });

  it('error: a key registered only after the anchoring block, or rotated away, or never registered, is untrusted_certificate', () => {
    const late = byLeaf(
      verifyMutated(() => {}, anchors(), { registry: [reg('wr-0001', 11), reg('wr-0002', 1)] }),
    );
    expect([late[0], late[2], late[4]]).toEqual([
      'untrusted_certificate',
      'untrusted_certificate',
      'untrusted_certificate',
    ]);
    expect([late[6], late[8], late[10]]).toEqual(['valid', 'valid', 'valid']);

    const other = `0x${'ab'.repeat(32)}` as Hex;
    const rotated = byLeaf(
      verifyMutated(() => {}, anchors(), {
        registry: [reg('wr-0001', 1), reg('wr-0002', 1), reg('wr-0001', 11, 5, other)],
      }),
    );
    expect(rotated[0]).toBe('valid');
    expect(rotated[6]).toBe('untrusted_certificate');

    const none = verifyMutated(() => {}, anchors(), { registry: [reg('wr-0002', 1)] });
    expect(none.summary.byCode).toEqual({ valid: 4, untrusted_certificate: 6 });
  });

  it('behavior: re-registration after a revocation makes the key trusted again from that block on', () => {
    const report = byLeaf(
      verifyMutated(() => {}, anchors(), {
        registry: [reg('wr-0001', 1), reg('wr-0002', 1), revoke('wr-0002', 10, 0), reg('wr-0002', 10, 1)],
      }),
    );
    expect(report[1]).toBe('valid');
  });

  it('behavior: a dropped entry is reported as a gap with the frames on both sides; a repeated one counts once', () => {
    const report = verifyMutated((b) => {
      b.entries.splice(at(b, 5), 1); // wr-0002 seq 2
      b.entries.push({ ...b.entries[0]! });
    });
    // The repeated entry is out of log order: a bundle problem.
    expect(report.integrity).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'order', index: report.entries.length - 1 }),
    ]);
    expect(report.verdict).toBe('INVALID');
    expect(report.sequence.duplicates).toBe(1);
    expect(report.sequence.distinct).toBe(report.entries.length - 1);
    expect(report.sequence.gaps).toEqual([
      expect.objectContaining({
        dev: 'wr-0002',
        kind: 'missing',
        fromSeq: 2,
        toSeq: 2,
        before: expect.objectContaining({ leafIndex: 1, seq: 1 }),
        after: expect.objectContaining({ leafIndex: 7, seq: 3 }),
      }),
    ]);
  });

  it('error: a checkpoint note is never ignored: any note (valid-looking, edited or forged) makes the bundle INVALID', () => {
    const clean = verifyMutated(() => {});
    expect(clean.problems.filter((p) => p.kind === 'note')).toEqual([]);
    for (const note of ['vitaltrail/gw-1\n5\nAAAA\n\n— gw x\n', 'anything']) {
      const report = verifyMutated((b) => {
        (b.checkpoints[0] as { note?: string }).note = note;
      });
      expect(report.verdict, JSON.stringify(note)).toBe('INVALID');
      expect(report.integrity).toBe(false);
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'note' })]);
      // The entries themselves are still judged on their own.
      expect(report.entries.map((e) => e.code)).toEqual(clean.entries.map((e) => e.code));
    }
  });

  it('behavior: analyseSequences finds prev mismatches and conflicting bytes across bundles', () => {
    const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
    const e = (bundle: number, seq: number, hash: number, prev: number): SequenceInput => ({
      bundle,
      index: seq,
      leafIndex: seq,
      dev: 'd',
      seq,
      ts: seq,
      frameHash: h(hash),
      prev: h(prev),
    });
    const r = analyseSequences([
      e(0, 1, 11, 0),
      e(0, 2, 12, 11),
      e(1, 2, 12, 11),
      e(1, 3, 13, 99),
      e(1, 1, 77, 0),
    ]);
    expect(r.duplicates).toBe(1);
    expect(r.distinct).toBe(3); // seq 1 (conflicting bytes), 2 (twice), 3
    expect(r.conflicts).toEqual([{ dev: 'd', seq: 1, indexes: [1, 1] }]);
    expect(r.gaps).toEqual([
      {
        dev: 'd',
        kind: 'prev_mismatch',
        fromSeq: 3,
        toSeq: 3,
        before: { bundle: 0, index: 2, leafIndex: 2, seq: 2, ts: 2 },
        after: { bundle: 1, index: 3, leafIndex: 3, seq: 3, ts: 3 },
      },
    ]);
    expect(r.complete).toBe(false);
  });

  it('behavior: across logs, boundary frames and in-range frames of two bundles make one complete chain', () => {
    const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
    const e = (bundle: number, seq: number, boundary?: 'before' | 'after'): SequenceInput => ({
      bundle,
      index: seq,
      leafIndex: seq,
      dev: 'd',
      seq,
      ts: seq * 1000,
      frameHash: h(100 + seq),
      prev: h(100 + seq - 1),
      ...(boundary ? { boundary } : {}),
    });
    // Log 0 holds odd seqs, log 1 even ones; the range is seq 3-6.
    const both = [
      e(0, 1, 'before'),
      e(0, 3),
      e(0, 5),
      e(0, 7, 'after'),
      e(1, 2, 'before'),
      e(1, 4),
      e(1, 6),
      e(1, 8, 'after'),
    ];
    const r = analyseSequences(both, ['d']);
    expect(r.gaps).toEqual([]);
    expect(r.complete).toBe(true);
    expect(r.devices).toEqual([
      expect.objectContaining({ dev: 'd', frames: 4, start: 'proven', end: 'proven' }),
    ]);
    expect(r.devices[0]!.first).toMatchObject({ seq: 3 });
    expect(r.devices[0]!.last).toMatchObject({ seq: 6 });
    // One log alone has holes (and proven ends).
    const one = analyseSequences(
      both.filter((x) => x.bundle === 0),
      ['d'],
    );
    expect(one.gaps.map((g) => [g.fromSeq, g.toSeq])).toEqual([
      [2, 2],
      [4, 4],
      [6, 6],
    ]);
    expect(one.complete).toBe(false);
    // A listed device without a frame: both ends open.
    expect(analyseSequences(both, ['d', 'other']).devices[1]).toEqual({
      dev: 'other',
      frames: 0,
      start: 'open',
      end: 'open',
    });
    // seq 1 with a prev that is not the zero hash does not prove the start.
    const bad = analyseSequences([{ ...e(0, 1), prev: h(5) }, e(0, 2, 'after')], ['d']);
    expect(bad.devices[0]!.start).toBe('open');
    const good = analyseSequences([{ ...e(0, 1), prev: `0x${'0'.repeat(64)}` as Hex }, e(0, 2, 'after')]);
    expect(good.devices[0]).toMatchObject({ start: 'genesis', end: 'proven' });
    expect(good.complete).toBe(true);
  });
});

describe('parseBundle', () => {
  it('behavior: round-trips a bundle, keeping only the known fields', () => {
    const json = { ...bundleJson(), extra: { x: 1 } } as Record<string, unknown>;
    const parsed = parseBundle(JSON.parse(JSON.stringify(json)));
    expect(parsed).not.toHaveProperty('extra');
    const { extra: _extra, ...known } = json;
    // An absent `shreddings` reads as none.
    expect(parsed).toEqual({ ...known, shreddings: [] });
  });

  const cases: [string, (b: BundleJson) => void][] = [
    ['format', (b) => Object.assign(b, { format: 'vitaltrail-disclosure/2' })],
    ['chain.contract', (b) => Object.assign(b.chain, { contract: '0x1234' })],
    ['chain.chainId', (b) => Object.assign(b.chain, { chainId: -1 })],
    ['log.logId', (b) => Object.assign(b.log, { logId: b.log.logId.toUpperCase() })],
    ['log.origin', (b) => Object.assign(b.log, { origin: 'vitaltrail/gw-1\n5' })],
    ['kgc.root', (b) => Object.assign(b.kgc, { root: 'not a certificate' })],
    ['kgc.intermediates', (b) => Object.assign(b.kgc, { intermediates: 'none' })],
    ['devices[0].dev', (b) => Object.assign(b.devices[0]!, { dev: 'wr 0001' })],
    ['devices[1].cert', (b) => Object.assign(b.devices[1]!, { cert: 7 })],
    ['checkpoints[0].treeSize', (b) => Object.assign(b.checkpoints[0]!, { treeSize: '5' })],
    [
      'checkpoints[1].rootHash',
      (b) => Object.assign(b.checkpoints[1]!, { rootHash: b.checkpoints[1]!.rootHash.slice(0, 64) }),
    ],
    ['checkpoints[0].txHash', (b) => Reflect.deleteProperty(b.checkpoints[0]!, 'txHash')],
    ['checkpoints[0].note', (b) => Object.assign(b.checkpoints[0]!, { note: 5 })],
    ['consistency[0].proof[0]', (b) => Object.assign(b.consistency[0]!.proof, { 0: 'zz' })],
    ['consistency', (b) => Reflect.deleteProperty(b, 'consistency')],
    ['entries', (b) => Object.assign(b, { entries: {} })],
  ];
  const entryCases: [string, (b: BundleJson) => void][] = [
    ['entries[2].leafIndex', (b) => Object.assign(b.entries[2]!, { leafIndex: 1.5 })],
    ['entries[2].treeSize', (b) => Object.assign(b.entries[2]!, { treeSize: 0 })],
    ['entries[3].frame', (b) => Object.assign(b.entries[3]!, { frame: 'not base64!' })],
    [
      'entries[3].proof',
      (b) => Object.assign(b.entries[3]!, { proof: Array(65).fill(b.entries[3]!.proof[0]) }),
    ],
    ['entries[4]', (b) => Object.assign(b.entries, { 4: [] })],
    ['entries[3].boundary', (b) => Object.assign(b.entries[3]!, { boundary: 'inside' })],
  ];
  it.each(entryCases)('error: a bad %s is kept as a malformed entry, named by its path', (path, mutate) => {
    const json = bundleJson();
    mutate(json);
    const parsed = parseBundle(json);
    const at = Number(/\[(\d+)\]/.exec(path)![1]);
    expect(parsed.entries).toHaveLength(json.entries.length);
    expect(parsed.entries[at]!.malformed?.startsWith(path)).toBe(true);
    const report = verifyBundle(parsed, anchors());
    expect(report.entries[at]).toMatchObject({ index: at, code: 'malformed' });
    expect(codes(report).filter((c) => c !== 'valid')).toEqual(['malformed']);
  });
  it.each(cases)('error: a bad %s is malformed, named by its path', (path, mutate) => {
    const json = bundleJson();
    mutate(json);
    let caught: unknown;
    try {
      parseBundle(json);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BundleError);
    expect((caught as BundleError).code).toBe('malformed');
    expect((caught as BundleError).reason.startsWith(path)).toBe(true);
  });

  it('error: non-objects and inherited fields are refused', () => {
    for (const bad of [null, 42, 'bundle', [], undefined]) {
      expect(() => parseBundle(bad)).toThrow(BundleError);
    }
    // A format reachable only through the prototype does not count.
    const proto = Object.create({ format: DISCLOSURE_FORMAT });
    expect(() => parseBundle(proto)).toThrow(/format/);
    const polluted = JSON.parse(`{"__proto__": {"format": "${DISCLOSURE_FORMAT}"}}`);
    expect(() => parseBundle(polluted)).toThrow(BundleError);
    expect(({} as Record<string, unknown>).format).toBeUndefined();
  });
});
