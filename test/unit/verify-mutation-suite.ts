/**
 * @module test/unit/verify-mutation-suite
 * Mutation test of the auditor's verifier (PROTOCOL.md §5) for one bundle size: from one
 * valid bundle (4 devices, 11 checkpoints), every single-field mutation kind — a frame
 * byte, a proof node, a leaf index, a tree size, a checkpoint root, a device certificate,
 * the anchoring transaction — is detected with the right code on the entries it touches,
 * and every other entry still verifies. Positions are sampled (fixed seeds), but every
 * field kind is covered. `test/unit/verify-mutation.test.ts` runs it on 128 entries,
 * `test/slow/verify-mutation.test.ts` on 1,024.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseBundle } from '../../anchor/src/verify/bundle.js';
import type { ChainEvidence } from '../../anchor/src/verify/evidence.js';
import { type EntryCode, verifyBundle } from '../../anchor/src/verify/verify.js';
import { decodeFrame } from '../../gateway/src/protocol/frame.js';
import { type BundleJson, buildFixture, clone, type Fixture, flipHex } from '../helpers/bundle-fixtures.js';
import { coseSign1, encodeRawBody, type IntField, type RawBody } from '../helpers/frame-ints.js';

/** Deterministic sample of `k` distinct integers in [0, n). */
function sample(n: number, k: number, seed: number): number[] {
  const out = new Set<number>();
  let x = seed;
  while (out.size < k) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.add(x % n);
  }
  return [...out];
}

export interface MutationBundleSize {
  /** Entries in the bundle (1,024 at full size). */
  entries: number;
  /** A checkpoint every `every` leaves and one at the end (100 at full size: 100, …, 1000, 1024). */
  every: number;
}

/**
 * Defines the mutation test on a bundle of `size.entries` entries.
 * @throws {RangeError} when the bundle would have fewer than 9 checkpoints (the tests
 * mutate checkpoints 4, 5 and 7).
 */
export function describeVerifierMutation(size: MutationBundleSize): void {
  const { entries: N, every: EVERY } = size;
  if (!Number.isSafeInteger(N) || !Number.isSafeInteger(EVERY) || EVERY < 1 || Math.ceil(N / EVERY) < 9) {
    throw new RangeError('describeVerifierMutation: size must give at least 9 checkpoints');
  }
  /** The largest checkpoint before the last one (1000 at full size). */
  const LAST_FULL = Math.floor((N - 1) / EVERY) * EVERY;
  const DEVICES = ['wr-0001', 'wr-0002', 'wr-0003', 'wr-0004'];
  let fx: Fixture;

  beforeAll(async () => {
    fx = await buildFixture({ entries: N, devices: DEVICES, checkpointEvery: EVERY });
  });

  function run(mutate: (b: BundleJson, e: ChainEvidence) => void): EntryCode[] {
    const b = clone(fx.bundle);
    const e = clone(fx.evidence);
    mutate(b, e);
    return verifyBundle(parseBundle(b), e.anchors, { registry: e.registryEvents }).entries.map((r) => r.code);
  }

  /** Asserts `codes` is `valid` everywhere except at `bad`, where it is `code` (or one of `code`). */
  function expectOnly(codes: EntryCode[], bad: Iterable<number>, code: EntryCode | EntryCode[]): void {
    const badSet = new Set(bad);
    const allowed = Array.isArray(code) ? code : [code];
    for (let i = 0; i < codes.length; i++) {
      if (badSet.has(i)) expect(allowed, `entry ${i}`).toContain(codes[i]);
      else expect(codes[i], `entry ${i}`).toBe('valid');
    }
  }

  const frameOf = (b: BundleJson, i: number) => {
    const e = b.entries[i]!;
    if (!('frame' in e)) throw new Error('fixture entry without frame');
    return e;
  };
  const entriesOf = (pred: (leaf: number) => boolean) =>
    fx.bundle.entries.flatMap((e, i) => (pred(e.leafIndex) ? [i] : []));

  describe(`verifier mutation test on a ${N.toLocaleString('en-US')}-entry bundle`, () => {
    it('behavior: the unmutated bundle is valid throughout', () => {
      expect(new Set(run(() => {}))).toEqual(new Set(['valid']));
    });

    it('error: a flipped frame byte fails that entry (bad_signature, or malformed when it no longer parses)', () => {
      for (const [k, i] of sample(N, 6, 7).entries()) {
        const len = Buffer.from(frameOf(fx.bundle, i).frame, 'base64').length;
        // Positions across the whole frame: header, body, signature.
        const at = [0, 3, 10, Math.floor(len / 2), len - 40, len - 1][k]!;
        let expected: EntryCode[] = ['bad_signature'];
        const codes = run((b) => {
          const e = frameOf(b, i);
          const bytes = Buffer.from(e.frame, 'base64');
          bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
          e.frame = bytes.toString('base64');
          try {
            const f = decodeFrame(new Uint8Array(bytes));
            if (f.kid !== f.body.dev) expected = ['malformed'];
            else if (!DEVICES.includes(f.kid)) expected = ['unknown_device'];
          } catch {
            expected = ['malformed'];
          }
        });
        expectOnly(codes, [i], expected);
      }
    });

    it('error: an integer field (hr, seq, ts, v) re-encoded as an integral CBOR float is malformed for that entry only', () => {
      // PROTOCOL.md §6: a float, even 72.0, is malformed: not bad_signature (the bytes changed), not valid.
      const fields: IntField[] = ['obs.hr', 'seq', 'ts', 'v'];
      for (const [k, i] of sample(N, fields.length, 11).entries()) {
        const codes = run((b) => {
          const e = frameOf(b, i);
          const f = decodeFrame(new Uint8Array(Buffer.from(e.frame, 'base64')));
          const payload = encodeRawBody(f.body as unknown as RawBody, fields[k], 'f64');
          e.frame = Buffer.from(coseSign1(f.protectedBytes, payload, f.signature)).toString('base64');
        });
        expectOnly(codes, [i], 'malformed');
      }
    });

    it('error: a flipped inclusion proof node is bad_inclusion_proof for that entry only', () => {
      for (const i of sample(N, 4, 11)) {
        const codes = run((b) => {
          const e = b.entries[i]!;
          const j = i % e.proof.length;
          e.proof[j] = flipHex(e.proof[j]!, 2 + (i % 64));
        });
        expectOnly(codes, [i], 'bad_inclusion_proof');
      }
    });

    it('error: a changed leaf index is bad_inclusion_proof for that entry only', () => {
      for (const i of sample(N, 4, 13)) {
        const codes = run((b) => {
          const e = b.entries[i]!;
          e.leafIndex = e.leafIndex === 0 ? 1 : e.leafIndex - 1;
        });
        expectOnly(codes, [i], 'bad_inclusion_proof');
      }
    });

    it('error: a changed tree size is bad_inclusion_proof (another cited checkpoint) or checkpoint_not_anchored (none of that size)', () => {
      for (const i of sample(N, 3, 17)) {
        const cited = run((b) => {
          const e = b.entries[i]!;
          e.treeSize = e.treeSize === N ? LAST_FULL : N; // another checkpoint the bundle cites
        });
        expectOnly(cited, [i], 'bad_inclusion_proof');
        const uncited = run((b) => {
          b.entries[i]!.treeSize += 1;
        });
        expectOnly(uncited, [i], 'checkpoint_not_anchored');
      }
    });

    it('error: a changed checkpoint root breaks the consistency chain: inconsistent_checkpoints up to the next checkpoint, later ones valid', () => {
      const k = 4; // checkpoint of size 5 × EVERY (500 at full size)
      const codes = run((b) => {
        b.checkpoints[k]!.rootHash = flipHex(b.checkpoints[k]!.rootHash, 20);
      });
      // Its own entries no longer prove against the changed root; those of every earlier
      // checkpoint lose their proven link to the largest one, and the failed proof k -> k+1
      // also implicates checkpoint k+1. Entries of later checkpoints still verify.
      const own = new Set(entriesOf((leaf) => leaf >= k * EVERY && leaf < (k + 1) * EVERY));
      const linked = entriesOf((leaf) => leaf < (k + 2) * EVERY && !own.has(leaf));
      expectOnly(
        codes.map((c, i) => (own.has(i) && c === 'bad_inclusion_proof' ? 'valid' : c)),
        linked,
        'inconsistent_checkpoints',
      );
      for (const i of own) expect(codes[i]).toBe('bad_inclusion_proof');
    });

    it('error: a changed device certificate is untrusted_certificate for that device only', () => {
      const dev = fx.bundle.devices[2]!.dev;
      const mine = fx.bundle.entries.flatMap((_e, i) => {
        const f = decodeFrame(new Uint8Array(Buffer.from(frameOf(fx.bundle, i).frame, 'base64')));
        return f.kid === dev ? [i] : [];
      });
      const swapped = run((b) => {
        b.devices[2]!.cert = fx.foreignCert;
      });
      expectOnly(swapped, mine, 'untrusted_certificate');
      const flipped = run((b) => {
        const pem = b.devices[2]!.cert;
        const at = pem.length - 60; // inside the signature's base64
        b.devices[2]!.cert = pem.slice(0, at) + (pem[at] === 'A' ? 'B' : 'A') + pem.slice(at + 1);
      });
      expectOnly(flipped, mine, 'untrusted_certificate');
    });

    it('error: a changed anchor transaction, block or anchored root is checkpoint_not_anchored for that checkpoint only', () => {
      const k = 7; // size 8 × EVERY: entries 7 × EVERY .. 8 × EVERY - 1 (700..799 at full size)
      const mine = entriesOf((leaf) => leaf >= k * EVERY && leaf < (k + 1) * EVERY);
      expectOnly(
        run((b) => {
          b.checkpoints[k]!.txHash = flipHex(b.checkpoints[k]!.txHash, 30);
        }),
        mine,
        'checkpoint_not_anchored',
      );
      expectOnly(
        run((b) => {
          b.checkpoints[k]!.blockNumber += 1;
        }),
        mine,
        'checkpoint_not_anchored',
      );
      expectOnly(
        run((_b, e) => {
          e.anchors[k]!.rootHash = flipHex(e.anchors[k]!.rootHash) as `0x${string}`;
        }),
        mine,
        'checkpoint_not_anchored',
      );
    });
  });
}
