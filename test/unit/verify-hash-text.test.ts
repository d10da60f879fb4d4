/**
 * @module test/unit/verify-hash-text
 * `ChainHashText` (anchor/src/verify/hash-text.ts) writes an entry's `frameHash` and
 * `prev` as the verifier's report always had them: `frameHashHex` of the frame bytes and
 * the 0x-prefixed lowercase hex of the prev bytes, whether `prev` is the device's last
 * frame hash (then it reuses that text) or not, across interleaved devices.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChainHashText } from '../../anchor/src/verify/hash-text.js';
import { frameHashHex } from '../../gateway/src/protocol/frame.js';
import { fcRuns } from '../helpers/fc-runs.js';

const FC = { seed: 2104, numRuns: fcRuns(500) };

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

describe('ChainHashText', () => {
  it('property: frameHash and prev are frameHashHex and the hex of prev, chained or not', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dev: fc.constantFrom('wr-0001', 'wr-0002', 'wr-0003'),
            bytes: fc.uint8Array({ minLength: 0, maxLength: 300 }),
            /** Whether `prev` names the device's last frame (else random bytes or zeros). */
            chained: fc.boolean(),
            other: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constant(new Uint8Array(32))),
          }),
          { maxLength: 40 },
        ),
        (frames) => {
          const text = new ChainHashText();
          const last = new Map<string, Uint8Array>();
          for (const f of frames) {
            const prev = f.chained && last.has(f.dev) ? last.get(f.dev)! : f.other;
            expect(text.prev(f.dev, prev)).toBe(hex(prev));
            expect(text.frameHash(f.dev, f.bytes)).toBe(frameHashHex(f.bytes));
            last.set(f.dev, sha256(f.bytes));
          }
        },
      ),
      FC,
    );
  });

  it('behavior: a prev of another length than a hash is written as it is', () => {
    const text = new ChainHashText();
    text.frameHash('wr-0001', new Uint8Array([1, 2, 3]));
    expect(text.prev('wr-0001', new Uint8Array([0xab, 0x01]))).toBe('0xab01');
    expect(text.prev('wr-0001', new Uint8Array(0))).toBe('0x');
  });
});
