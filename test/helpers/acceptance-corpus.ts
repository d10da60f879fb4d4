/**
 * @module test/helpers/acceptance-corpus
 * A corpus of frames for every stateless acceptance rule of PROTOCOL.md §1 and their order
 * (issue 14): the mutations of test/integration/rejection-matrix.test.ts (every bit flip of
 * the payload and of the signature, truncations, a wrong kid, another device's key, a key
 * the KGC never issued, alg confusion), plus frames that break two rules at once, so the
 * rule that comes first in PROTOCOL.md §1 must win (a revoked device with a bad signature is
 * `revoked_device`; a bad signature with a clock in the future is `bad_signature`; a seq
 * above 2^53−1 is judged after the signature and the clock), Ed25519 devices, and the
 * certificate's window. Pure: keys are made here, the devices are records, no store.
 */
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { encode, Tag } from 'cbor2';
import {
  type AcceptancePolicy,
  type DeviceRecord,
  MAX_CLOCK_SKEW_MS,
} from '../../gateway/src/core/acceptance.js';
import {
  COSE_ALG_EDDSA,
  COSE_ALG_ES256,
  type DecodedBody,
  decodeFrame,
  encodeProtectedHeader,
  signFrame,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';

export const CORPUS_NOW = 1_760_000_000_000;
export const CORPUS_POLICY: AcceptancePolicy = { retentionMs: 30 * 86_400_000 };

export interface CorpusFrame {
  name: string;
  bytes: Uint8Array;
  /** The device the transport names. */
  transport: string;
}

export interface Corpus {
  frames: CorpusFrame[];
  lookup: (dev: string) => DeviceRecord | undefined;
  /** Private keys of the enrolled devices (for more frames). */
  keys: Map<string, KeyObject>;
}

/** The protected header, payload and signature of a valid frame (copies). */
function parts(bytes: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const f = decodeFrame(bytes);
  return [new Uint8Array(f.protectedBytes), new Uint8Array(f.payload), new Uint8Array(f.signature)];
}
function cose(p: Uint8Array, payload: Uint8Array, sig: Uint8Array): Uint8Array {
  return encode(new Tag(18, [p, new Map(), payload, sig]), { cde: true });
}
function flip(b: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(b);
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}
function resign(p: Uint8Array, payload: Uint8Array, key: KeyObject): Uint8Array {
  const tbs = encode(['Signature1', p, new Uint8Array(0), payload], { cde: true });
  const sig =
    key.asymmetricKeyType === 'ec'
      ? sign('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' })
      : sign(null, tbs, key);
  return cose(p, payload, new Uint8Array(sig));
}

/**
 * The corpus. `bits` bounds the bit flips of payload and signature (all of them by default).
 */
export function acceptanceCorpus(opts: { bits?: number } = {}): Corpus {
  const now = CORPUS_NOW;
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = new Map<string, KeyObject>();
  const records = new Map<string, DeviceRecord>();
  const enrol = (
    dev: string,
    pair: { publicKey: KeyObject; privateKey: KeyObject },
    over: Partial<DeviceRecord> = {},
  ) => {
    keys.set(dev, pair.privateKey);
    records.set(dev, {
      dev,
      publicKey: pair.publicKey,
      status: 'active',
      notBefore: now - 86_400_000,
      notAfter: now + 86_400_000,
      ...over,
    });
  };
  enrol('wr-0001', ec());
  enrol('wr-0002', ec());
  enrol('wr-ed', generateKeyPairSync('ed25519'));
  enrol('wr-revoked', ec(), { status: 'revoked' });
  enrol('wr-expired', ec(), { notAfter: now - 1 });
  enrol('wr-early', ec(), { notBefore: now + 1 });

  const body = (dev: string, over: Partial<DecodedBody> = {}): DecodedBody => ({
    v: 1,
    dev,
    seq: 7,
    ts: now - 1000,
    prev: ZERO_HASH,
    obs: { hr: 72, spo2: 98 },
    ...over,
  });
  const key = (dev: string) => keys.get(dev) as KeyObject;
  const frames: CorpusFrame[] = [];
  const add = (name: string, bytes: Uint8Array, transport = 'wr-0001') =>
    frames.push({ name, bytes, transport });

  const base = signFrame(body('wr-0001'), key('wr-0001'));
  add('valid', base);
  const [p, payload, sig] = parts(base);
  const bits = opts.bits ?? Number.POSITIVE_INFINITY;
  for (let bit = 0; bit < Math.min(payload.length * 8, bits); bit += 1) {
    add(`payload bit ${bit}`, cose(p, flip(payload, bit), sig));
  }
  for (let bit = 0; bit < Math.min(sig.length * 8, bits); bit += 1) {
    add(`signature bit ${bit}`, cose(p, payload, flip(sig, bit)));
  }
  for (let len = 0; len < base.length; len += 3) add(`truncated to ${len}`, base.subarray(0, len));
  add('signature truncated', cose(p, payload, sig.subarray(0, 63)));
  add('signature empty', cose(p, payload, new Uint8Array(0)));
  add('wrong kid', resign(encodeProtectedHeader(COSE_ALG_ES256, 'wr-0002'), payload, key('wr-0001')));
  add('transport is another device', base, 'wr-0002');
  add("another device's key", signFrame(body('wr-0001'), key('wr-0002')));
  add('a key the KGC never issued', signFrame(body('wr-0001'), ec().privateKey));
  add('unknown device', signFrame(body('ghost-0001'), ec().privateKey), 'ghost-0001');
  add('alg EdDSA, ES256 signature', cose(encodeProtectedHeader(COSE_ALG_EDDSA, 'wr-0001'), payload, sig));
  add(
    'alg EdDSA, Ed25519 key, EC device',
    signFrame(body('wr-0001'), generateKeyPairSync('ed25519').privateKey, COSE_ALG_EDDSA),
  );
  for (const alg of [-35, -257, 0, 1, -6]) {
    const hdr = encode(
      new Map<number, unknown>([
        [1, alg],
        [4, new TextEncoder().encode('wr-0001')],
      ]),
      { cde: true },
    );
    add(`alg ${alg}`, resign(hdr, payload, key('wr-0001')));
  }
  add('untagged', encode([p, new Map(), payload, sig]));

  // Ed25519 devices: valid, forged, and an ES256 frame for an Ed25519 key.
  const edFrame = signFrame(body('wr-ed'), key('wr-ed'), COSE_ALG_EDDSA);
  add('EdDSA valid', edFrame, 'wr-ed');
  const [ep, epayload, esig] = parts(edFrame);
  add('EdDSA signature bit 5', cose(ep, epayload, flip(esig, 5)), 'wr-ed');
  add('ES256 frame for an Ed25519 device', signFrame(body('wr-ed'), ec().privateKey), 'wr-ed');

  // The certificate rules come before the signature.
  for (const dev of ['wr-revoked', 'wr-expired', 'wr-early']) {
    add(`${dev}, good signature`, signFrame(body(dev), key(dev)), dev);
    add(`${dev}, bad signature`, signFrame(body(dev), ec().privateKey), dev);
  }
  // The clock and the seq bound come after it.
  const skew = now + MAX_CLOCK_SKEW_MS + 1;
  add('clock_skew', signFrame(body('wr-0001', { ts: skew }), key('wr-0001')));
  add('clock_skew and a bad signature', signFrame(body('wr-0001', { ts: skew }), ec().privateKey));
  add('just within the skew', signFrame(body('wr-0001', { ts: skew - 1 }), key('wr-0001')));
  const old = now - (CORPUS_POLICY.retentionMs + 1);
  add('too_old', signFrame(body('wr-0001', { ts: old }), key('wr-0001')));
  add('too_old and a bad signature', signFrame(body('wr-0001', { ts: old }), ec().privateKey));
  add('ts from 2^53', signFrame(body('wr-0001', { ts: 2n ** 53n }), key('wr-0001')));
  add('seq 2^53', signFrame(body('wr-0001', { seq: 2n ** 53n }), key('wr-0001')));
  add('seq 2^53 and a bad signature', signFrame(body('wr-0001', { seq: 2n ** 53n }), ec().privateKey));
  add('seq 2^53 and clock_skew', signFrame(body('wr-0001', { seq: 2n ** 53n, ts: skew }), key('wr-0001')));
  add('seq 2^53 - 1', signFrame(body('wr-0001', { seq: 2 ** 53 - 1 }), key('wr-0001')));

  return { frames, lookup: (dev) => records.get(dev), keys };
}
