/**
 * @module test/unit/verify-mutation-suite
 * Mutation test of the auditor's verifier (PROTOCOL.md §5) for one bundle size: from one
 * valid bundle (4 devices, 11 checkpoints), every single-field mutation kind — a frame
 * byte, a proof node, a leaf index, a tree size, a checkpoint root, a device certificate,
 * the anchoring transaction — is detected with the right code on the entries it touches,
 * and every other entry still verifies; and every deletion, swap or duplicate of an entry,
 * and every non-canonical encoding of one entry, makes the verdict INCOMPLETE or INVALID
 * (issue 17) while the untouched entries still verify. The bundle is a range with boundary
 * frames: the first entry of each device is its before-boundary, the last its after-boundary.
 * Positions are sampled (fixed seeds), but every field kind is covered. `test/unit/verify-mutation.test.ts` runs it on 128 entries,
 * `test/slow/verify-mutation.test.ts` on 1,024.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hashLeaf } from '../../anchor/src/log/index.js';
import { parseBundle } from '../../anchor/src/verify/bundle.js';
import type { ChainEvidence } from '../../anchor/src/verify/evidence.js';
import { type BundleReport, type EntryCode, verifyBundle } from '../../anchor/src/verify/verify.js';
import { decodeFrame } from '../../gateway/src/protocol/frame.js';
import { encodeShredRecord } from '../../gateway/src/protocol/shred-record.js';
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

  /** Leaves 0-3 are each device's before-boundary (seq 1), leaves N-4..N-1 its after-boundary. */
  const D = DEVICES.length;
  beforeAll(async () => {
    fx = await buildFixture({ entries: N, devices: DEVICES, checkpointEvery: EVERY });
    fx.bundle.entries.forEach((e, i) => {
      if (i < D) e.boundary = 'before';
      else if (i >= N - D) e.boundary = 'after';
    });
  });

  function report(mutate: (b: BundleJson, e: ChainEvidence) => void): BundleReport {
    const b = clone(fx.bundle);
    const e = clone(fx.evidence);
    mutate(b, e);
    return verifyBundle(parseBundle(b), e.anchors, { registry: e.registryEvents });
  }

  function run(mutate: (b: BundleJson, e: ChainEvidence) => void): EntryCode[] {
    return report(mutate).entries.map((r) => r.code);
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
      for (const i of sample(N - 1, 4, 13)) {
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

    it('error: a changed checkpoint root is reported at its two links; only it and the checkpoint below it are flagged', () => {
      const k = 4; // checkpoint of size 5 × EVERY (500 at full size)
      const r = report((b) => {
        b.checkpoints[k]!.rootHash = flipHex(b.checkpoints[k]!.rootHash, 20);
      });
      const codes = r.entries.map((e) => e.code);
      // Its own entries no longer prove against the changed root; the checkpoint below it
      // (k - 1) has lost its one link to the next (k); checkpoints further below keep
      // theirs, and those above are linked to the largest.
      const own = entriesOf((leaf) => leaf >= k * EVERY && leaf < (k + 1) * EVERY);
      const below = entriesOf((leaf) => leaf >= (k - 1) * EVERY && leaf < k * EVERY);
      expectOnly(
        codes.map((c, i) => (own.includes(i) && c === 'bad_inclusion_proof' ? 'valid' : c)),
        below,
        'inconsistent_checkpoints',
      );
      for (const i of own) expect(codes[i]).toBe('bad_inclusion_proof');
      expect(r.links.filter((l) => l.code !== 'valid').map((l) => l.index)).toEqual([k - 1, k]);
      expect(r.verdict).toBe('INVALID');
    });

    it('error: a broken consistency proof is reported once, at its link, and flags only the entries of the checkpoint below it', () => {
      for (const k of [0, 3, 8]) {
        const r = report((b) => {
          const c = b.consistency[k]!;
          c.proof[0] = flipHex(c.proof[0]!, 9);
        });
        expect(r.links.filter((l) => l.code !== 'valid')).toEqual([
          expect.objectContaining({ index: k, code: 'inconsistent_checkpoints' }),
        ]);
        const mine = entriesOf((leaf) => leaf >= k * EVERY && leaf < (k + 1) * EVERY);
        expectOnly(
          r.entries.map((e) => e.code),
          mine,
          'inconsistent_checkpoints',
        );
        expect(r.checkpoints.filter((c) => c.code !== 'valid').map((c) => c.treeSize)).toEqual([
          (k + 1) * EVERY,
        ]);
        expect(r.verdict).toBe('INVALID');
      }
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

    it('behavior: the unmutated range is VALID: both ends of every device proven by boundary frames', () => {
      const r = report(() => {});
      expect(r.verdict).toBe('VALID');
      expect(r.sequence.devices.map((d) => [d.start, d.end])).toEqual(
        DEVICES.map(() => ['proven', 'proven']),
      );
    });

    /** Deletes entries at `drop` (bundle positions); expects INCOMPLETE and the rest valid. */
    function expectDeletionIncomplete(drop: number[], label: string): BundleReport {
      const r = report((b) => {
        b.entries = b.entries.filter((_e, i) => !drop.includes(i));
      });
      expect(r.verdict, label).toBe('INCOMPLETE');
      expect(new Set(r.entries.map((e) => e.code)), label).toEqual(new Set(['valid']));
      expect(r.sequence.gaps.length + r.sequence.openEnds, label).toBeGreaterThan(0);
      return r;
    }

    it('error: deleting any one entry (middle, first or last of a range, a boundary) is INCOMPLETE, the others valid', () => {
      const positions = [
        ...sample(N - 2 * D, 6, 23).map((i) => i + D), // inside the range
        D, // first frame of the range (of device 0)
        2 * D - 1, // first frame of the range (of device 3)
        N - D - 1, // last frame of the range
        0, // a before-boundary
        N - 1, // an after-boundary
      ];
      for (const i of positions) {
        const r = expectDeletionIncomplete([i], `entry ${i} deleted`);
        if (i >= D && i < N - D) {
          // A gap names the frames on both sides, with their times.
          const gap = r.sequence.gaps[0]!;
          expect(gap).toMatchObject({ kind: 'missing', fromSeq: gap.toSeq });
          expect(gap.after.ts).toBeGreaterThan(gap.before.ts!);
        } else {
          expect(r.sequence.openEnds).toBe(1);
        }
      }
    });

    it("error: deleting a run of entries at the end of the range, or a device's last frame and its boundary, is INCOMPLETE", () => {
      expectDeletionIncomplete([N - D - 8, N - D - 4, N - D - 3, N - D - 2, N - D - 1], 'a run at the end');
      const r = expectDeletionIncomplete([N - D - 1, N - 1], 'the last frame and its after-boundary');
      expect(r.sequence.devices.find((d) => d.end === 'open')).toBeDefined();
    });

    it('error: a moved or doubled boundary mark is INVALID (a boundary problem); a dropped after-mark opens the end', () => {
      const marks: [string, (b: BundleJson) => void, string][] = [
        [
          'first frame of the range marked before',
          (b) => {
            b.entries[D]!.boundary = 'before';
          },
          'INVALID',
        ],
        [
          'last frame of the range marked after',
          (b) => {
            b.entries[N - D - 1]!.boundary = 'after';
          },
          'INVALID',
        ],
        [
          'a frame inside marked after',
          (b) => {
            b.entries[N >> 1]!.boundary = 'after';
          },
          'INVALID',
        ],
        [
          'the before-boundary marked after',
          (b) => {
            b.entries[0]!.boundary = 'after';
          },
          'INVALID',
        ],
        [
          'the after-boundary marked before',
          (b) => {
            b.entries[N - 1]!.boundary = 'before';
          },
          'INVALID',
        ],
        ['the after mark dropped', (b) => void delete b.entries[N - 1]!.boundary, 'INCOMPLETE'],
      ];
      for (const [label, mutate, verdict] of marks) {
        const r = report(mutate);
        expect(r.verdict, label).toBe(verdict);
        if (verdict === 'INVALID')
          expect(
            r.problems.map((p) => p.kind),
            label,
          ).toContain('boundary');
        expect(new Set(r.entries.map((e) => e.code)), label).toEqual(new Set(['valid']));
      }
      // The before mark dropped: the range then starts at seq 1, which proves itself (nothing is hidden).
      const r = report((b) => void delete b.entries[0]!.boundary);
      expect(r.verdict).toBe('VALID');
      expect(r.sequence.devices[0]).toMatchObject({ start: 'genesis', first: { seq: 1 } });
    });

    it('error: deleting each single entry in turn is INCOMPLETE every time', () => {
      const positions = N <= 256 ? [...Array(N).keys()] : sample(N, 48, 31);
      for (const i of positions) {
        const r = report((b) => void b.entries.splice(i, 1));
        expect(r.verdict, `entry ${i} deleted`).toBe('INCOMPLETE');
      }
    });

    it('error: a bundle without boundary frames (an older export) is INCOMPLETE: its end is open', () => {
      const r = report((b) => {
        for (const e of b.entries) delete e.boundary;
      });
      expect(r.verdict).toBe('INCOMPLETE');
      expect(new Set(r.entries.map((e) => e.code))).toEqual(new Set(['valid']));
      // Each device starts at seq 1 (its first frame ever); no frame proves the end.
      expect(r.sequence.devices.map((d) => [d.start, d.end])).toEqual(DEVICES.map(() => ['genesis', 'open']));
    });

    it('error: swapped or duplicated entries are INVALID (not in log order), every entry still valid', () => {
      const [a, c] = sample(N, 2, 29).sort((x, y) => x - y) as [number, number];
      const mutations: [string, (b: BundleJson) => void][] = [
        ['adjacent swap', (b) => b.entries.splice(a, 2, b.entries[a + 1]!, b.entries[a]!)],
        [
          'distant swap',
          (b) => {
            const t = b.entries[a]!;
            b.entries[a] = b.entries[c]!;
            b.entries[c] = t;
          },
        ],
        ['duplicate next to itself', (b) => b.entries.splice(a, 0, clone(b.entries[a]!))],
        ['duplicate elsewhere', (b) => b.entries.splice(c, 0, clone(b.entries[a]!))],
        ['duplicate at the end', (b) => b.entries.push(clone(b.entries[0]!))],
      ];
      for (const [label, mutate] of mutations) {
        const r = report(mutate);
        expect(r.verdict, label).toBe('INVALID');
        expect(
          r.problems.map((p) => p.kind),
          label,
        ).toContain('order');
        expect(new Set(r.entries.map((e) => e.code)), label).toEqual(new Set(['valid']));
      }
    });

    it('error: one entry in a non-canonical encoding is malformed at its index; every other entry is checked and valid', () => {
      // Frames whose base64 holds a '+' or '/' (so base64url differs) and ends in padding.
      const text = (e: BundleJson['entries'][number]) => ('frame' in e ? e.frame : '');
      const i = fx.bundle.entries.findIndex((e) => /[+/]/.test(text(e)) && /=$/.test(text(e)));
      expect(i).toBeGreaterThanOrEqual(0);
      const padded = i;
      const mutations: [string, number, (b: BundleJson) => void][] = [
        [
          'base64url, unpadded',
          i,
          (b) => {
            const e = frameOf(b, i);
            e.frame = e.frame.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
          },
        ],
        [
          'base64 without padding',
          i,
          (b) => {
            frameOf(b, i).frame = frameOf(b, i).frame.replace(/=+$/, '');
          },
        ],
        [
          'base64 with a line break',
          i,
          (b) => {
            const e = frameOf(b, i);
            e.frame = `${e.frame.slice(0, 8)}\n${e.frame.slice(8)}`;
          },
        ],
        [
          'base64 with non-zero padding bits',
          padded,
          (b) => {
            const f = frameOf(b, padded).frame;
            // The character before the padding: its lowest bit is never part of the bytes.
            const at = f.replace(/=+$/, '').length - 1;
            const v = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
            frameOf(b, padded).frame = f.slice(0, at) + v[v.indexOf(f[at]!) ^ 1] + f.slice(at + 1);
          },
        ],
        [
          'an uppercase hex proof node',
          i,
          (b) => {
            b.entries[i]!.proof[0] = b.entries[i]!.proof[0]!.toUpperCase().replace('0X', '0x');
          },
        ],
        [
          'a proof node without 0x',
          i,
          (b) => {
            b.entries[i]!.proof[0] = b.entries[i]!.proof[0]!.slice(2);
          },
        ],
        [
          'a leaf index as a string',
          i,
          (b) => {
            (b.entries[i] as { leafIndex: unknown }).leafIndex = String(b.entries[i]!.leafIndex);
          },
        ],
        [
          'an unknown boundary value',
          i,
          (b) => {
            (b.entries[i] as { boundary?: unknown }).boundary = 'middle';
          },
        ],
        [
          'an entry that is not an object',
          i,
          (b) => {
            (b.entries as unknown[])[i] = 'entry';
          },
        ],
      ];
      expect(padded).toBeGreaterThanOrEqual(0);
      for (const [label, at, mutate] of mutations) {
        const r = report(mutate);
        expectOnly(
          r.entries.map((e) => e.code),
          [at],
          'malformed',
        );
        expect(r.entries[at]!.index, label).toBe(at);
        expect(r.verdict, label).toBe('INVALID');
      }
    });

    it('error: shredding forgeries: an entry rewritten as shredded is malformed with no record, or with a record that is not the logged leaf; the others stay valid', () => {
      for (const i of sample(N - 1, 4, 13)) {
        const forge = (b: BundleJson) => {
          const e = frameOf(b, i);
          const frame = new Uint8Array(Buffer.from(e.frame, 'base64'));
          (b.entries as unknown[])[i] = {
            leafIndex: e.leafIndex,
            treeSize: e.treeSize,
            leafHash: `0x${Buffer.from(hashLeaf(frame)).toString('hex')}`,
            shredded: true,
            proof: e.proof,
          };
          return decodeFrame(frame).body;
        };
        expectOnly(run(forge), [i], 'malformed');
        // A record naming the leaf, cited at a leaf it does not occupy (a proof of another leaf).
        const r = report((b) => {
          const body = forge(b);
          const last = b.entries.at(-1)!;
          b.shreddings = [
            {
              leafIndex: last.leafIndex,
              treeSize: last.treeSize,
              record: Buffer.from(
                encodeShredRecord({
                  dev: body.dev,
                  window: { start: 0, end: 3_600_000 },
                  retentionMs: 0,
                  at: 3_600_000,
                  leaves: [b.entries[i]!.leafIndex],
                  seqs: [Number(body.seq)],
                }),
              ).toString('base64'),
              proof: last.proof,
            },
          ];
        });
        expect(r.shreddings.map((x) => x.code)).toEqual(['bad_inclusion_proof']);
        expectOnly(
          r.entries.map((x) => x.code),
          [i],
          'malformed',
        );
        expect(r.verdict).toBe('INVALID');
      }
    });

    it('error: an empty bundle is INVALID, never VALID', () => {
      const r = report((b) => {
        b.entries = [];
      });
      expect(r.verdict).toBe('INVALID');
      expect(r.problems.map((p) => p.kind)).toEqual(['empty']);
    });
  });
}
