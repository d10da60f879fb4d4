/**
 * @module test/helpers/bundle-fixtures
 * Builds disclosure bundles (PROTOCOL.md §5) and their chain evidence without a gateway:
 * a KGC root (fixed key), device keys (fixed, under test/fixtures/bundles/keys), frames
 * signed with the wire codec, an RFC 9162 log in memory, checkpoints anchored "at" blocks
 * 10, 11, … and the devices registered at block 1. Entries are proven against the first
 * checkpoint that covers them, with a consistency proof between consecutive checkpoints,
 * as `vitaltrail export` does. Used by the golden-bundle generator, the mutation test, the
 * browser parity test and the verify benchmark.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueCertificate, spkiSha256 } from '../../anchor/src/kgc/index.js';
import type { AnchorRecord, Hex } from '../../anchor/src/ledger/index.js';
import { MemoryMerkleTree } from '../../anchor/src/log/index.js';
import {
  type ChainEvidence,
  EVIDENCE_FORMAT,
  logIdOf,
  type RegistryEvent,
} from '../../anchor/src/verify/index.js';
import type { DisclosureBundleJson } from '../../gateway/src/io/outbound/export.js';
import { type FrameBody, frameHash, signFrame, ZERO_HASH } from '../../gateway/src/protocol/frame.js';

const DAY = 24 * 60 * 60 * 1000;
/** Device clock of the first frame; certificates are valid from T0 - 1 day to T0 + 365 days. */
export const FIXTURE_T0 = Date.UTC(2025, 0, 15, 8, 0, 0);
export const FIXTURE_ORIGIN = 'vitaltrail/gw-fixture';
export const FIXTURE_CONTRACT = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Hex;
export const FIXTURE_REGISTRY = '0xe7f1725e7734ce288f8367e1bb143e90bb3f0512' as Hex;
export const FIXTURE_CHAIN_ID = 31337;

/** test/fixtures/bundles in the source tree, whether run from src (vitest) or dist/. */
export function fixtureDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'test', 'fixtures', 'bundles');
}

export const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`;

/** The fixed test keys (P-256): generated once into test/fixtures/bundles/keys, then read. */
export function fixtureKey(name: string): KeyObject {
  const file = join(fixtureDir(), 'keys', `${name}.key.pem`);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return createPrivateKey(readFileSync(file, 'utf8'));
}

/** The bundle document of PROTOCOL.md §5, as `vitaltrail export` writes it. */
export type BundleJson = DisclosureBundleJson;

export interface Fixture {
  bundle: BundleJson;
  evidence: ChainEvidence;
  /** Frame bytes by leaf index. */
  frames: Uint8Array[];
  tree: MemoryMerkleTree;
  /** A certificate of `devices[0]`'s id, same key, issued by a foreign CA (same CA name). */
  foreignCert: string;
}

async function certificate(
  subject: string,
  key: KeyObject,
  issuer: { privateKey: KeyObject; certPem?: string },
  isCa: boolean,
  serial: string,
): Promise<string> {
  const { certPem } = await issueCertificate({
    subject: { commonName: subject },
    subjectPublicKey: createPublicKey(key),
    issuer,
    notBefore: new Date(FIXTURE_T0 - DAY),
    notAfter: new Date(FIXTURE_T0 + 365 * DAY),
    isCa,
    serial,
  });
  return certPem;
}

/**
 * A valid bundle of `entries` frames from `devices` (round robin), checkpoints every
 * `checkpointEvery` leaves (and at the end), anchored at blocks 10, 11, …
 * `extraLeaves` (default none) are logged after the frames, as shredding records are.
 * `mapFrame` (default none) replaces each signed frame before it is logged (e.g. a
 * high-S twin or a broken signature); the next frame's `prev` names the replacement.
 * @example
 * const { bundle, evidence } = await buildFixture({ entries: 1000 });
 */
export async function buildFixture(
  p: {
    entries?: number;
    devices?: readonly string[];
    checkpointEvery?: number;
    mapFrame?: (frame: Uint8Array, leafIndex: number) => Uint8Array;
    /** Leaves that are not frames (shredding records), appended after the frames. */
    extraLeaves?: readonly Uint8Array[];
  } = {},
): Promise<Fixture> {
  const n = p.entries ?? 8;
  const devices = p.devices ?? ['wr-0001', 'wr-0002'];
  const every = p.checkpointEvery ?? 4;
  const rootKey = fixtureKey('kgc-root');
  const rootPem = await certificate('Fixture KGC Root', rootKey, { privateKey: rootKey }, true, '01');
  const otherKey = fixtureKey('foreign-root');
  const otherPem = await certificate('Fixture KGC Root', otherKey, { privateKey: otherKey }, true, '02');
  const keys = devices.map((dev, i) => ({ dev, key: fixtureKey(`device-${i % 8}`) }));
  const certs: { dev: string; cert: string }[] = [];
  for (const [i, k] of keys.entries()) {
    certs.push({
      dev: k.dev,
      cert: await certificate(
        k.dev,
        k.key,
        { privateKey: rootKey, certPem: rootPem },
        false,
        (16 + i).toString(16),
      ),
    });
  }
  const foreignCert = await certificate(
    devices[0]!,
    keys[0]!.key,
    { privateKey: otherKey, certPem: otherPem },
    false,
    '99',
  );

  const tree = new MemoryMerkleTree();
  const frames: Uint8Array[] = [];
  const last = new Map<string, { seq: number; hash: Uint8Array }>();
  for (let i = 0; i < n; i++) {
    const { dev, key } = keys[i % keys.length]!;
    const prev = last.get(dev);
    const body: FrameBody = {
      v: 1,
      dev,
      seq: (prev?.seq ?? 0) + 1,
      ts: FIXTURE_T0 + i * 1000,
      prev: prev?.hash ?? ZERO_HASH,
      obs: { hr: 60 + (i % 40), spo2: 94 + (i % 6) },
    };
    const signed = signFrame(body, key);
    const bytes = p.mapFrame ? p.mapFrame(signed, i) : signed;
    last.set(dev, { seq: body.seq, hash: frameHash(bytes) });
    frames.push(bytes);
    tree.appendData(bytes);
  }
  for (const leaf of p.extraLeaves ?? []) tree.appendData(leaf);
  const size = n + (p.extraLeaves?.length ?? 0);
  const sizes: number[] = [];
  for (let s = every; s < size; s += every) sizes.push(s);
  sizes.push(size);
  const logId = logIdOf(FIXTURE_ORIGIN);
  const anchors: AnchorRecord[] = sizes.map((treeSize, i) => ({
    logId,
    treeSize,
    rootHash: hex(tree.root(treeSize)),
    checkpointTime: FIXTURE_T0 + treeSize * 1000,
    txHash: hex(new Uint8Array(32).fill((i % 250) + 1)),
    blockNumber: 10 + i,
  }));
  const registryEvents: RegistryEvent[] = certs.map((c, i) => ({
    kind: 'registered',
    dev: c.dev,
    spkiHash: spkiSha256(c.cert),
    blockNumber: 1,
    logIndex: i,
  }));
  let k = 0;
  const entries: BundleJson['entries'] = frames.map((bytes, leafIndex) => {
    while (sizes[k]! <= leafIndex) k++;
    const treeSize = sizes[k]!;
    return {
      leafIndex,
      treeSize,
      frame: Buffer.from(bytes).toString('base64'),
      proof: tree.inclusionProof(leafIndex, treeSize).map(hex),
    };
  });
  return {
    frames,
    tree,
    foreignCert,
    bundle: {
      format: 'vitaltrail-disclosure/1',
      chain: { chainId: FIXTURE_CHAIN_ID, contract: FIXTURE_CONTRACT },
      log: { origin: FIXTURE_ORIGIN, logId },
      kgc: { root: rootPem, intermediates: [] },
      devices: certs,
      checkpoints: anchors.map((a) => ({
        treeSize: a.treeSize,
        rootHash: a.rootHash,
        txHash: a.txHash,
        blockNumber: a.blockNumber,
      })),
      consistency: sizes.slice(1).map((to, i) => ({
        from: sizes[i]!,
        to,
        proof: tree.consistencyProof(sizes[i]!, to).map(hex),
      })),
      entries,
    },
    evidence: {
      format: EVIDENCE_FORMAT,
      chainId: FIXTURE_CHAIN_ID,
      contract: FIXTURE_CONTRACT,
      registry: FIXTURE_REGISTRY,
      head: 10 + sizes.length,
      fetchedAt: new Date(FIXTURE_T0 + 2 * DAY).toISOString(),
      anchors,
      registryEvents,
    },
  };
}

/** A deep copy (bundles and evidence are plain JSON). */
export function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** Flips one hex digit of a 0x hash, keeping it lowercase hex. */
export function flipHex(h: string, at = 2): string {
  return h.slice(0, at) + (h[at] === '0' ? '1' : '0') + h.slice(at + 1);
}

/** Flips bit 0 of byte `at` (negative: from the end) of a base64 frame. */
export function flipFrameByte(frame: string, at: number): string {
  const b = Buffer.from(frame, 'base64');
  const i = at < 0 ? b.length + at : at;
  b.writeUInt8(b.readUInt8(i) ^ 0x01, i);
  return b.toString('base64');
}
