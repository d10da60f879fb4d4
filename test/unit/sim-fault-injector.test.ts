/**
 * @module test/unit/sim-fault-injector
 * The simulator's fault injector (firmware-sim/src/faults.ts) on its own: with a seeded
 * generator the bad frames a device sends do not depend on timing. A replay needs an
 * earlier frame the gateway has decided; one drawn while none is yet (a burst of frames
 * made before any ack, as when the event loop stalls) is owed and sent later, never lost.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { FaultInjector, type FaultMix } from '../../firmware-sim/src/faults.js';
import {
  decodeFrame,
  type FrameBody,
  verifyFrameSignature,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const MIX: FaultMix = { forge: 0.2, replay: 0.3, skew: 0.2, wrongKey: 0.2, seed: 11 };

const body = (seq: number): FrameBody => ({
  v: 1,
  dev: 'wr-0001',
  seq,
  ts: 1_750_000_000_000 + seq * 1000,
  prev: seq === 1 ? ZERO_HASH : new Uint8Array(32).fill(seq % 256),
  obs: { hr: 70 },
  bat: 80,
});

/** The bad frames an injector sends for frames 1..n, `settledUpTo(i)` the last decided seq when frame i is made. */
function run(inj: FaultInjector, n: number, settledUpTo: (i: number) => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 1; i <= n; i++) out.push(...inj.alongside(body(i), (seq) => seq <= settledUpTo(i)));
  return out;
}

describe('FaultInjector', () => {
  test('behavior: replays drawn before any frame is settled are owed and sent with a later frame, not lost', () => {
    const paced = new FaultInjector(key.privateKey, MIX); // every earlier frame acked at once
    run(paced, 40, (i) => i - 1);
    const burst = new FaultInjector(key.privateKey, MIX); // 30 frames made before the first ack
    run(burst, 40, (i) => (i <= 30 ? 0 : i - 1));
    expect(paced.stats.sent.replay).toBeGreaterThan(5);
    expect(burst.stats.sent).toEqual(paced.stats.sent);
  });

  test('behavior: payOwed sends the replays still owed once a frame is settled, and none before', () => {
    const paced = new FaultInjector(key.privateKey, MIX);
    run(paced, 40, (i) => i - 1);
    const burst = new FaultInjector(key.privateKey, MIX); // all 40 made before any ack
    run(burst, 40, () => 0);
    expect(burst.stats.sent.replay ?? 0).toBe(0);
    expect(burst.payOwed(() => false)).toEqual([]);
    const owed = burst.payOwed(() => true);
    // the paced injector's first draw came at frame 1, with nothing to replay yet: owed to frame 2
    expect(owed.length).toBe(paced.stats.sent.replay);
    expect(burst.stats.sent).toEqual(paced.stats.sent);
    expect(burst.payOwed(() => true)).toEqual([]);
  });

  test('behavior: each replay is validly signed, names the earlier seq, and differs from it and from the other replays', () => {
    const inj = new FaultInjector(key.privateKey, { replay: 1, seed: 3 });
    run(inj, 12, () => 0);
    const replays = inj.payOwed((seq) => seq === 1).map((b) => decodeFrame(b));
    expect(replays.length).toBe(12);
    const bats = new Set<number>();
    for (const f of replays) {
      expect(verifyFrameSignature(f, key.publicKey)).toBe(true);
      expect(Number(f.body.seq)).toBe(1);
      expect(f.body.bat).not.toBe(80);
      bats.add(f.body.bat as number);
    }
    expect(bats.size).toBe(12);
  });

  test('behavior: awaited counts the reject reports still expected and falls as they are claimed', () => {
    const inj = new FaultInjector(key.privateKey, { forge: 1, skew: 1, seed: 5 });
    run(inj, 3, (i) => i - 1);
    expect(inj.awaited).toBe(6);
    expect(inj.claim(2, 'bad_signature')).toBe(true);
    expect(inj.claim(2, 'clock_skew')).toBe(true);
    expect(inj.claim(2, 'clock_skew')).toBe(false); // not one of its bad frames
    expect(inj.awaited).toBe(4);
    expect(inj.stats.rejected).toEqual({ bad_signature: 1, clock_skew: 1 });
  });
});
