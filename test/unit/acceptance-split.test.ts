/**
 * @module test/unit/acceptance-split
 * Issue 14: `checkFrame` split into the rules before the signature (`checkBeforeSignature`),
 * the signature's verdict, and the rules after it (`checkAfterSignature`), so the signature
 * can be checked on a worker thread. Over the rejection corpus (test/helpers/
 * acceptance-corpus: the rejection matrix's mutations plus frames breaking two rules at
 * once) and over random mutations (fast-check), the three steps give exactly
 * `checkFrame`'s verdict, code, reason and seq, in PROTOCOL.md §1's order. Also the
 * per-device arrival order the ingest pipeline keeps across the pool (io/ingest/device-order).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  checkAfterSignature,
  checkBeforeSignature,
  checkFrame,
  type Verdict,
} from '../../gateway/src/core/acceptance.js';
import { DeviceOrder } from '../../gateway/src/io/ingest/device-order.js';
import { verifyFrameSignature } from '../../gateway/src/protocol/frame.js';
import { acceptanceCorpus, CORPUS_NOW, CORPUS_POLICY } from '../helpers/acceptance-corpus.js';
import { fcRuns } from '../helpers/fc-runs.js';

const corpus = acceptanceCorpus();

/** The three steps, as the ingest pipeline runs them (the signature in between). */
function split(bytes: Uint8Array, transport: string, now = CORPUS_NOW): Verdict {
  const due = checkBeforeSignature(bytes, transport, corpus.lookup, now);
  if (!due.ok) return due;
  const valid = verifyFrameSignature(due.frame, due.device.publicKey);
  return checkAfterSignature(due.frame, valid, now, CORPUS_POLICY);
}

/** A verdict without the decoded frame's object identity (bytes compared by value). */
function shape(v: Verdict): unknown {
  return v.ok ? { ok: true, dev: v.frame.body.dev, seq: v.frame.body.seq } : v;
}

describe('checkFrame split around the signature', () => {
  test('behavior: every frame of the rejection corpus gets checkFrame’s verdict from the three steps', () => {
    expect(corpus.frames.length).toBeGreaterThan(1000);
    const codes = new Map<string, number>();
    for (const f of corpus.frames) {
      const whole = checkFrame(f.bytes, f.transport, corpus.lookup, CORPUS_NOW, CORPUS_POLICY);
      expect(shape(split(f.bytes, f.transport)), f.name).toEqual(shape(whole));
      const code = whole.ok ? 'accepted' : whole.code;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // The corpus reaches every stateless rule.
    expect([...codes.keys()].sort()).toEqual(
      [
        'accepted',
        'bad_signature',
        'clock_skew',
        'expired_certificate',
        'identity_mismatch',
        'malformed',
        'revoked_device',
        'too_old',
        'unknown_device',
      ].sort(),
    );
  });

  test('behavior: PROTOCOL.md §1 order where two rules are broken at once', () => {
    const code = (name: string) => {
      const f = corpus.frames.find((x) => x.name === name);
      if (!f) throw new Error(name);
      const v = split(f.bytes, f.transport);
      return v.ok ? 'accepted' : v.code;
    };
    expect(code('wr-revoked, bad signature')).toBe('revoked_device');
    expect(code('wr-expired, bad signature')).toBe('expired_certificate');
    expect(code('wr-early, bad signature')).toBe('expired_certificate');
    expect(code('clock_skew and a bad signature')).toBe('bad_signature');
    expect(code('too_old and a bad signature')).toBe('bad_signature');
    expect(code('seq 2^53 and a bad signature')).toBe('bad_signature');
    expect(code('seq 2^53 and clock_skew')).toBe('clock_skew');
    expect(code('seq 2^53')).toBe('malformed');
    expect(code('seq 2^53 - 1')).toBe('accepted');
    expect(code('ES256 frame for an Ed25519 device')).toBe('bad_signature');
    expect(code('EdDSA valid')).toBe('accepted');
  });

  test('behavior: checkAfterSignature with a false verdict is bad_signature before any later rule, naming dev and seq', () => {
    const f = corpus.frames.find((x) => x.name === 'clock_skew') as (typeof corpus.frames)[number];
    const due = checkBeforeSignature(f.bytes, f.transport, corpus.lookup, CORPUS_NOW);
    if (!due.ok) throw new Error('expected a frame due for its signature');
    expect(checkAfterSignature(due.frame, false, CORPUS_NOW, CORPUS_POLICY)).toMatchObject({
      ok: false,
      code: 'bad_signature',
      dev: 'wr-0001',
      seq: 7,
    });
    expect(checkAfterSignature(due.frame, true, CORPUS_NOW, CORPUS_POLICY)).toMatchObject({
      ok: false,
      code: 'clock_skew',
    });
  });

  test('behavior: random mutations of valid frames and random clocks get checkFrame’s verdict', () => {
    const valid = corpus.frames.filter((f) =>
      ['valid', 'EdDSA valid', 'clock_skew', 'seq 2^53', 'wr-revoked, good signature'].includes(f.name),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: -86_400_000, max: 86_400_000 }),
        (f, edits, dt) => {
          const bytes = new Uint8Array(f.bytes);
          for (const [at, v] of edits) bytes[at % bytes.length] = v;
          const now = CORPUS_NOW + dt;
          const whole = checkFrame(bytes, f.transport, corpus.lookup, now, CORPUS_POLICY);
          expect(shape(split(bytes, f.transport, now))).toEqual(shape(whole));
        },
      ),
      { numRuns: fcRuns(2000), seed: 14 },
    );
  });
});

describe('device order across the verify pool', () => {
  test('behavior: a device’s continuations run in arrival order whatever order the verdicts come in; devices do not wait for each other', () => {
    const order = new DeviceOrder();
    const ran: string[] = [];
    const a1 = order.enter('a');
    const b1 = order.enter('b');
    const a2 = order.enter('a');
    const a3 = order.enter('a');
    expect(order.open).toBe(4);
    order.settle('a', a3, () => ran.push('a3'));
    order.settle('a', a2, () => ran.push('a2'));
    expect(ran).toEqual([]);
    order.settle('b', b1, () => ran.push('b1'));
    expect(ran).toEqual(['b1']);
    order.settle('a', a1, () => ran.push('a1'));
    expect(ran).toEqual(['b1', 'a1', 'a2', 'a3']);
    expect(order.open).toBe(0);
  });

  test('error: a throwing continuation does not hold up the rest of its device’s line', () => {
    const order = new DeviceOrder();
    const ran: string[] = [];
    const a1 = order.enter('a');
    const a2 = order.enter('a');
    order.settle('a', a2, () => ran.push('a2'));
    expect(() =>
      order.settle('a', a1, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(ran).toEqual(['a2']);
    expect(order.open).toBe(0);
  });

  test('behavior: random settle orders keep every device’s arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 40 }),
        fc.func(fc.integer()),
        (devs, rank) => {
          const order = new DeviceOrder();
          const places = devs.map((dev, i) => ({ dev, i, place: order.enter(dev) }));
          const shuffled = [...places].sort((x, y) => rank(x.i) - rank(y.i) || x.i - y.i);
          const ran: { dev: string; i: number }[] = [];
          for (const p of shuffled) order.settle(p.dev, p.place, () => ran.push({ dev: p.dev, i: p.i }));
          expect(ran).toHaveLength(devs.length);
          for (const dev of ['a', 'b', 'c']) {
            const seen = ran.filter((r) => r.dev === dev).map((r) => r.i);
            expect(seen).toEqual([...seen].sort((x, y) => x - y));
          }
        },
      ),
      { numRuns: fcRuns(1000), seed: 14 },
    );
  });
});
