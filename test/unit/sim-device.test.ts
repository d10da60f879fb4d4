/**
 * @module test/unit/sim-device
 * The device side of the protocol (firmware-sim/src/device.ts, state.ts): PROTOCOL.md §1
 * seq and prev chain, COSE_Sign1 signatures that the project's codec verifies, the
 * store-and-forward outbox, and persistent state across a clean restart and a crash
 * (seq reservations: a gap, never a reused seq).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { type MadeFrame, SimDevice, type SimDeviceOptions } from '../../firmware-sim/src/device.js';
import { createEcgGenerator, createPatientModel } from '../../firmware-sim/src/physiology.js';
import {
  type DeviceState,
  DeviceStateError,
  loadDeviceState,
  saveDeviceState,
} from '../../firmware-sim/src/state.js';
import {
  COSE_ALG_EDDSA,
  COSE_ALG_ES256,
  decodeFrame,
  frameHash,
  verifyFrameSignature,
  waveformSamples,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';
import { makeTempDir } from '../helpers/tmp.js';

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const T0 = 1_750_000_000_000;

function makeDevice(over: Partial<SimDeviceOptions> = {}): SimDevice {
  let t = T0;
  return new SimDevice({
    devId: 'wr-0001',
    privateKey: p256.privateKey,
    model: createPatientModel({ seed: 1 }),
    now: () => (t += 1000),
    ...over,
  });
}

/** Checks the PROTOCOL.md §1 chain over consecutive frames and returns their decoded bodies. */
function expectChain(frames: MadeFrame[], publicKey: KeyObject, firstPrev: Uint8Array) {
  let prev = firstPrev;
  return frames.map((f, i) => {
    const d = decodeFrame(f.bytes);
    expect(verifyFrameSignature(d, publicKey)).toBe(true);
    expect(d.kid).toBe(d.body.dev);
    expect(d.body.seq).toBe(f.seq);
    if (i > 0) expect(f.seq).toBe(frames[i - 1]!.seq + 1);
    expect(Buffer.from(d.body.prev).equals(Buffer.from(prev))).toBe(true);
    prev = frameHash(f.bytes);
    return d;
  });
}

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});
function tempDir(): string {
  const t = makeTempDir('vt-sim-');
  cleanup = t.cleanup;
  return t.dir;
}

describe('SimDevice frames', () => {
  test('behavior: seq starts at 1 with ZERO_HASH prev, +1 each, prev = hash of the previous bytes, signatures verify', () => {
    const dev = makeDevice();
    const frames = Array.from({ length: 5 }, () => dev.makeFrame());
    expect(frames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
    const decoded = expectChain(frames, p256.publicKey, ZERO_HASH);
    expect(decoded[0]!.alg).toBe(COSE_ALG_ES256);
    expect(decoded.map((d) => d.body.ts)).toEqual([1, 2, 3, 4, 5].map((i) => T0 + i * 1000));
    for (const d of decoded) {
      expect(d.body.dev).toBe('wr-0001');
      expect(Object.keys(d.body.obs).sort()).toEqual(['dbp', 'hr', 'rr', 'sbp', 'spo2', 'temp']);
      expect(d.body.bat).toBeGreaterThan(0);
    }
    expect(dev.state.seq).toBe(5);
    expect(Buffer.from(dev.state.prev).equals(Buffer.from(frameHash(frames[4]!.bytes)))).toBe(true);
    // Another device's key does not verify these frames.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyFrameSignature(decoded[0]!, other.publicKey)).toBe(false);
  });

  test('behavior: an Ed25519 key signs EdDSA frames', () => {
    const ed = generateKeyPairSync('ed25519');
    const dev = makeDevice({ privateKey: ed.privateKey });
    const [d] = expectChain([dev.makeFrame(), dev.makeFrame()], ed.publicKey, ZERO_HASH);
    expect(d!.alg).toBe(COSE_ALG_EDDSA);
  });

  test('behavior: with an ECG generator frames carry a wf chunk covering the interval', () => {
    const dev = makeDevice({ ecg: createEcgGenerator({ seed: 2, fs: 250 }) });
    const first = decodeFrame(dev.makeFrame().bytes).body;
    expect(first.wf).toBeUndefined(); // no interval before the first frame
    const second = decodeFrame(dev.makeFrame().bytes).body;
    expect(second.wf?.kind).toBe('ecg');
    expect(second.wf?.fs).toBe(250);
    expect(waveformSamples(second.wf!).length).toBe(250); // 1 s at 250 Hz
  });
});

describe('SimDevice outbox', () => {
  test('behavior: frames stay in the outbox, oldest first, until acked; unknown and repeated acks are ignored', () => {
    const dev = makeDevice();
    const frames = Array.from({ length: 4 }, () => dev.makeFrame());
    expect(dev.unacked.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
    expect(Buffer.from(dev.unacked[0]!.bytes).equals(Buffer.from(frames[0]!.bytes))).toBe(true);
    dev.ack(2);
    dev.ack(2);
    dev.ack(99);
    expect(dev.unacked.map((f) => f.seq)).toEqual([1, 3, 4]);
    expect(dev.isUnacked(2)).toBe(false);
    expect(dev.stats).toMatchObject({ made: 4, acked: 1 });
  });

  test('behavior: reject drops the frame and counts it by code, whether before or after its PUBACK', () => {
    const dev = makeDevice();
    for (let i = 0; i < 6; i++) dev.makeFrame();
    dev.reject(1, 'bad_signature'); // reject before the PUBACK
    dev.ack(1); // the PUBACK that follows is a no-op
    dev.ack(2);
    dev.reject(2, 'clock_skew'); // reject after the PUBACK moves it from acked to rejected
    dev.reject(2, 'clock_skew'); // repeated reject: ignored
    dev.reject(3, '__proto__'); // not a code: counted as unknown, no prototype games
    dev.reject(500, 'malformed'); // never made: ignored
    dev.ack(4);
    expect(dev.unacked.map((f) => f.seq)).toEqual([5, 6]);
    const s = dev.stats;
    expect({ ...s.rejected }).toEqual({ bad_signature: 1, clock_skew: 1, unknown: 1 });
    expect(s.acked).toBe(1);
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    expect(s.made).toBe(s.acked + rejected + dev.unackedCount + s.dropped);
  });

  test('behavior: a full outbox evicts its oldest frame and counts it as dropped', () => {
    const dev = makeDevice({ maxOutbox: 3 });
    for (let i = 0; i < 5; i++) dev.makeFrame();
    expect(dev.unacked.map((f) => f.seq)).toEqual([3, 4, 5]);
    expect(dev.stats.dropped).toBe(2);
  });

  test('error: misuse is TypeError/RangeError naming the parameter', () => {
    expect(() => makeDevice({ devId: 'bad id!' })).toThrow(/devId/);
    expect(() => makeDevice({ privateKey: p256.publicKey })).toThrow(TypeError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => makeDevice({ privateKey: rsa.privateKey })).toThrow(/P-256 or Ed25519/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(() => makeDevice({ privateKey: k1.privateKey })).toThrow(TypeError);
    expect(() => makeDevice({ state: { seq: -1, prev: ZERO_HASH } })).toThrow(/state.seq/);
    expect(() => makeDevice({ state: { seq: 1, prev: new Uint8Array(31) } })).toThrow(/state.prev/);
    expect(() => makeDevice({ maxOutbox: 0 })).toThrow(RangeError);
    expect(() => makeDevice({ now: () => Number.NaN }).makeFrame()).toThrow(RangeError);
    const dev = makeDevice();
    expect(() => dev.ack(0)).toThrow(TypeError);
    expect(() => dev.reject(1.5, 'malformed')).toThrow(TypeError);
  });
});

describe('device state', () => {
  test('behavior: a missing file is a fresh device; save/load round-trips; the file is 0600 JSON', () => {
    const path = join(tempDir(), 'wr-0001.state.json');
    const fresh = loadDeviceState(path);
    expect(fresh.seq).toBe(0);
    expect(Buffer.from(fresh.prev).equals(Buffer.from(ZERO_HASH))).toBe(true);
    const s: DeviceState = { seq: 41, prev: new Uint8Array(32).fill(7) };
    saveDeviceState(path, s);
    expect(loadDeviceState(path)).toEqual(s);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ seq: 41, reservedThrough: 41 });
  });

  test('behavior: a restarted device continues the chain where the saved state left it', () => {
    const path = join(tempDir(), 's.json');
    const a = makeDevice();
    const first = Array.from({ length: 5 }, () => a.makeFrame());
    saveDeviceState(path, a.state);
    const b = makeDevice({ state: loadDeviceState(path), model: createPatientModel({ seed: 1 }) });
    const next = Array.from({ length: 3 }, () => b.makeFrame());
    expect(next.map((f) => f.seq)).toEqual([6, 7, 8]);
    expectChain([...first, ...next], p256.publicKey, ZERO_HASH);
  });

  test('behavior: after a crash the device resumes past its reservation: a gap, never a reused seq', () => {
    const path = join(tempDir(), 's.json');
    const reservations: { through: number; seqAtReserve: number; onDisk: number }[] = [];
    const reserve = (through: number, st: DeviceState) => {
      saveDeviceState(path, st, { reservedThrough: through });
      reservations.push({
        through,
        seqAtReserve: st.seq,
        onDisk: JSON.parse(readFileSync(path, 'utf8')).reservedThrough,
      });
    };
    const a = makeDevice({ reserve });
    const life1: MadeFrame[] = [];
    for (let i = 0; i < 150; i++) {
      life1.push(a.makeFrame());
      // A reservation always covers the seq just used.
      expect(a.reservedThrough).toBeGreaterThanOrEqual(a.state.seq);
      if (a.state.seq === 120) saveDeviceState(path, a.state, { reservedThrough: a.reservedThrough }); // periodic save
    }
    expect(reservations).toEqual([
      { through: 100, seqAtReserve: 0, onDisk: 100 },
      { through: 200, seqAtReserve: 100, onDisk: 200 },
    ]);
    // Crash: the process dies at seq 150; the file says seq 120, reserved through 200.
    const resumed = loadDeviceState(path);
    expect(resumed.seq).toBe(201);
    expect(Buffer.from(resumed.prev).equals(Buffer.from(frameHash(life1[119]!.bytes)))).toBe(true);
    const b = makeDevice({ state: resumed, reserve });
    const life2 = Array.from({ length: 3 }, () => b.makeFrame());
    expect(life2.map((f) => f.seq)).toEqual([202, 203, 204]);
    const used = [...life1, ...life2].map((f) => f.seq);
    expect(new Set(used).size).toBe(used.length);
    // prev of the first frame after the gap is the last persisted hash; the chain goes on from there.
    expectChain(life2, p256.publicKey, frameHash(life1[119]!.bytes));
    expect(reservations.at(-1)).toEqual({ through: 301, seqAtReserve: 201, onDisk: 301 });
  });

  test('behavior: when the reservation cannot be persisted, makeFrame throws and no seq is used', () => {
    let fail = true;
    const dev = makeDevice({
      reserve: () => {
        if (fail) throw new Error('disk full');
      },
    });
    expect(() => dev.makeFrame()).toThrow('disk full');
    expect(dev.state.seq).toBe(0);
    expect(dev.unackedCount).toBe(0);
    fail = false;
    expect(dev.makeFrame().seq).toBe(1);
  });

  test('error: a corrupt state file is DeviceStateError bad_state_file; bad saves are TypeError/RangeError', () => {
    const dir = tempDir();
    const path = join(dir, 's.json');
    const cases = [
      'not json',
      '{"format":"other","seq":1,"prev":"00","reservedThrough":1}',
      `{"format":"vitaltrail-sim-state/1","seq":5,"prev":"${'00'.repeat(32)}","reservedThrough":4}`,
      `{"format":"vitaltrail-sim-state/1","seq":-1,"prev":"${'00'.repeat(32)}","reservedThrough":1}`,
      '{"format":"vitaltrail-sim-state/1","seq":1,"prev":"zz","reservedThrough":1}',
      'null',
    ];
    for (const text of cases) {
      writeFileSync(path, text);
      try {
        loadDeviceState(path);
        expect.unreachable('must throw');
      } catch (err) {
        expect(err).toBeInstanceOf(DeviceStateError);
        expect((err as DeviceStateError).code).toBe('bad_state_file');
      }
    }
    expect(() => saveDeviceState(path, { seq: 1.5, prev: ZERO_HASH })).toThrow(TypeError);
    expect(() => saveDeviceState(path, { seq: 5, prev: ZERO_HASH }, { reservedThrough: 4 })).toThrow(
      RangeError,
    );
  });
});
