/**
 * @module test/integration/rejection-matrix
 * Every acceptance rule of PROTOCOL.md §1 against the real ingest pipeline (issue 3):
 * from one valid frame, well over 500 mutated variants — every bit flip of the payload
 * and of the signature, truncations, a wrong kid, another device's key, a key the KGC
 * never issued, alg confusion — are all rejected with the right code and none is stored,
 * while 10,000 valid frames among them are all accepted (0 false rejects). Plus the
 * log-level rules (duplicate, replay_conflict, chain_mismatch, gaps), the clock rules, the
 * certificate rules, and a few of the same over MQTT with the reject report on the wire.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import { decode, encode, Tag } from 'cbor2';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spkiSha256 } from '../../anchor/src/kgc/chain.js';
import { enrollDevice } from '../../anchor/src/kgc/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { enrolDevice, revokeEnrolledDevice } from '../../gateway/src/io/identity/enrol.js';
import type { IngestResult } from '../../gateway/src/io/ingest/ingest.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import {
  COSE_ALG_EDDSA,
  COSE_ALG_ES256,
  decodeFrame,
  encodeProtectedHeader,
  frameHash,
  signFrame,
  verifyFrameSignature,
} from '../../gateway/src/protocol/frame.js';
import { deviceKey, FrameChain, prepareDataDir, strangerKey } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;

beforeAll(async () => {
  tmp = makeTempDir('vt-matrix-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), [DEV, 'wr-0002', 'wr-gaps', 'wr-clock', 'wr-mqtt']);
  gw = (await startGateway({
    dataDir: paths.root,
    logger: silentLogger,
    deviceRefreshMs: 100,
  })) as RunningGateway;
});
afterAll(async () => {
  await gw?.stop();
  tmp.cleanup();
});

/** The four parts of a COSE_Sign1, and re-encoding them (checked byte-exact on the valid frame). */
function parts(bytes: Uint8Array): [Uint8Array, unknown, Uint8Array, Uint8Array] {
  const t = decode(bytes) as Tag;
  return t.contents as [Uint8Array, unknown, Uint8Array, Uint8Array];
}
function cose(p: Uint8Array, payload: Uint8Array, sig: Uint8Array): Uint8Array {
  return encode(new Tag(18, [p, new Map(), payload, sig]), { cde: true });
}
function flip(b: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(b);
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}
function resign(p: Uint8Array, payload: Uint8Array, key = deviceKey(paths, DEV)): Uint8Array {
  // Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4), signed by hand.
  const tbs = encode(['Signature1', p, new Uint8Array(0), payload], { cde: true });
  const sig =
    key.asymmetricKeyType === 'ec'
      ? sign('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' })
      : sign(null, tbs, key);
  return cose(p, payload, new Uint8Array(sig));
}

/** The code PROTOCOL.md §1 prescribes for a mutated frame of DEV (none can be valid: the key is not ours to use). */
function expectedCode(bytes: Uint8Array): string {
  let f: ReturnType<typeof decodeFrame>;
  try {
    f = decodeFrame(bytes);
  } catch {
    return 'malformed';
  }
  if (f.kid !== f.body.dev || f.body.dev !== DEV) return 'identity_mismatch';
  const pub = gw.devices.lookup(DEV)?.publicKey;
  if (!pub || verifyFrameSignature(f, pub)) throw new Error('a mutant verified: the oracle cannot judge it');
  return 'bad_signature';
}

describe('rejection matrix', () => {
  it('behavior: ≥ 500 mutants of one valid frame are all rejected with the right code, none stored; 10,000 valid frames all accepted', async () => {
    const chain = new FrameChain(DEV, deviceKey(paths, DEV));
    const base = chain.next();
    const [p, , payload, sig] = parts(base);
    expect(Buffer.from(cose(p, payload, sig)).equals(Buffer.from(base))).toBe(true);

    const mutants: { name: string; bytes: Uint8Array; code: string; transport?: string }[] = [];
    for (let bit = 0; bit < payload.length * 8; bit++) {
      const bytes = cose(p, flip(payload, bit), sig);
      mutants.push({ name: `payload bit ${bit}`, bytes, code: expectedCode(bytes) });
    }
    for (let bit = 0; bit < sig.length * 8; bit++) {
      mutants.push({
        name: `signature bit ${bit}`,
        bytes: cose(p, payload, flip(sig, bit)),
        code: 'bad_signature',
      });
    }
    for (let len = 0; len < base.length; len += 3) {
      mutants.push({ name: `truncated to ${len}`, bytes: base.subarray(0, len), code: 'malformed' });
    }
    // A signature that is not 64 bytes is not an ES256 r||s: the codec refuses the frame.
    mutants.push({
      name: 'signature truncated',
      bytes: cose(p, payload, sig.subarray(0, 63)),
      code: 'malformed',
    });
    mutants.push({ name: 'signature empty', bytes: cose(p, payload, new Uint8Array(0)), code: 'malformed' });
    const body = decodeFrame(base).body;
    // Wrong kid: the protected header names another enrolled device, body and transport say DEV.
    mutants.push({
      name: 'wrong kid',
      bytes: resign(encodeProtectedHeader(COSE_ALG_ES256, 'wr-0002'), payload),
      code: 'identity_mismatch',
    });
    mutants.push({
      name: 'transport is another device',
      bytes: base,
      code: 'identity_mismatch',
      transport: 'wr-0002',
    });
    mutants.push({
      name: "another device's key",
      bytes: signFrame(body, deviceKey(paths, 'wr-0002')),
      code: 'bad_signature',
    });
    mutants.push({
      name: 'a key the KGC never issued',
      bytes: signFrame(body, strangerKey()),
      code: 'bad_signature',
    });
    const ghost = { ...body, dev: 'ghost-0001' };
    mutants.push({
      name: 'unknown device',
      bytes: signFrame(ghost, strangerKey()),
      code: 'unknown_device',
      transport: 'ghost-0001',
    });
    // Alg confusion: EdDSA claimed over an ES256 signature, an Ed25519 signature, and algs the format forbids.
    mutants.push({
      name: 'alg EdDSA, ES256 signature',
      bytes: cose(encodeProtectedHeader(COSE_ALG_EDDSA, DEV), payload, sig),
      code: 'bad_signature',
    });
    const ed = generateKeyPairSync('ed25519').privateKey;
    mutants.push({
      name: 'alg EdDSA, Ed25519 key',
      bytes: signFrame(body, ed, COSE_ALG_EDDSA),
      code: 'bad_signature',
    });
    for (const alg of [-35, -257, 0, 1, -6]) {
      const hdr = encode(
        new Map<number, unknown>([
          [1, alg],
          [4, new TextEncoder().encode(DEV)],
        ]),
        { cde: true },
      );
      mutants.push({ name: `alg ${alg}`, bytes: resign(hdr, payload), code: 'malformed' });
    }
    mutants.push({
      name: 'unprotected header not empty',
      bytes: encode(new Tag(18, [p, new Map([[4, new Uint8Array([1])]]), payload, sig])),
      code: 'malformed',
    });
    mutants.push({ name: 'untagged', bytes: encode([p, new Map(), payload, sig]), code: 'malformed' });
    expect(mutants.length).toBeGreaterThanOrEqual(500);
    const valid: Uint8Array[] = [base];
    while (valid.length < 10_000) valid.push(chain.next());
    // Mutants interleaved among the valid frames, submitted in waves as concurrent devices would.
    const sizeBefore = gw.store.size;
    const work: { i: number; kind: 'valid' | 'mutant'; run: () => Promise<IngestResult> }[] = [];
    const every = Math.floor(valid.length / mutants.length);
    let m = 0;
    for (const [i, v] of valid.entries()) {
      work.push({ i, kind: 'valid', run: () => gw.ingest.submit(v, DEV) });
      if (i % every === 0 && m < mutants.length) {
        const mu = mutants[m] as (typeof mutants)[number];
        const idx = m++;
        work.push({ i: idx, kind: 'mutant', run: () => gw.ingest.submit(mu.bytes, mu.transport ?? DEV) });
      }
    }
    while (m < mutants.length) {
      const mu = mutants[m] as (typeof mutants)[number];
      const idx = m++;
      work.push({ i: idx, kind: 'mutant', run: () => gw.ingest.submit(mu.bytes, mu.transport ?? DEV) });
    }
    const wrong: string[] = [];
    let accepted = 0;
    for (let w = 0; w < work.length; w += 500) {
      const wave = work.slice(w, w + 500);
      const results = await Promise.all(wave.map((x) => x.run()));
      for (const [j, r] of results.entries()) {
        const x = wave[j] as (typeof wave)[number];
        if (x.kind === 'valid') {
          if (r.status === 'accepted') accepted += 1;
          else wrong.push(`valid #${x.i}: ${r.status}`);
        } else {
          const mu = mutants[x.i] as (typeof mutants)[number];
          if (r.status !== 'rejected' || r.code !== mu.code) {
            wrong.push(
              `${mu.name}: ${r.status}${r.status === 'rejected' ? ` ${r.code}` : ''}, want ${mu.code}`,
            );
          }
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(accepted).toBe(10_000);
    expect(gw.store.size - sizeBefore).toBe(10_000); // no mutant reached the log
    for (const seq of [1, 2, 5_000, 10_000]) {
      expect(
        Buffer.from(gw.store.getFrame(DEV, seq)?.hash ?? []).equals(
          Buffer.from(frameHash(valid[seq - 1] as Uint8Array)),
        ),
      ).toBe(true);
    }
    const codes = new Set(mutants.map((x) => x.code));
    expect([...codes].sort()).toEqual(['bad_signature', 'identity_mismatch', 'malformed', 'unknown_device']);
  });

  it('behavior: duplicates are acked and stored once; other bytes for an accepted seq are replay_conflict; gaps are recorded and a wrong filler is chain_mismatch', async () => {
    const chain = new FrameChain('wr-gaps', deviceKey(paths, 'wr-gaps'));
    const f = [chain.next(), chain.next(), chain.next(), chain.next(), chain.next(), chain.next()];
    for (const i of [0, 1, 4, 5])
      expect(await gw.ingest.submit(f[i] as Uint8Array, 'wr-gaps')).toMatchObject({ status: 'accepted' });
    const size = gw.store.size;
    expect(await gw.ingest.submit(f[1] as Uint8Array, 'wr-gaps')).toMatchObject({ status: 'duplicate' });
    expect(gw.store.size).toBe(size);
    const other = signFrame(
      { ...decodeFrame(f[1] as Uint8Array).body, obs: { hr: 99 } },
      deviceKey(paths, 'wr-gaps'),
    );
    expect(await gw.ingest.submit(other, 'wr-gaps')).toMatchObject({
      status: 'rejected',
      code: 'replay_conflict',
    });
    expect(gw.store.seqGaps('wr-gaps')).toEqual([{ from: 3, to: 4 }]);
    const badFiller = signFrame(
      { ...decodeFrame(f[2] as Uint8Array).body, prev: new Uint8Array(32).fill(7) },
      deviceKey(paths, 'wr-gaps'),
    );
    expect(await gw.ingest.submit(badFiller, 'wr-gaps')).toMatchObject({
      status: 'rejected',
      code: 'chain_mismatch',
    });
    expect(await gw.ingest.submit(f[2] as Uint8Array, 'wr-gaps')).toMatchObject({ status: 'accepted' });
    expect(await gw.ingest.submit(f[3] as Uint8Array, 'wr-gaps')).toMatchObject({ status: 'accepted' });
    expect(gw.store.seqGaps('wr-gaps')).toEqual([]);
  });

  it('error: clock_skew, too_old, expired_certificate, revoked_device each with its code', async () => {
    const chain = new FrameChain('wr-clock', deviceKey(paths, 'wr-clock'));
    expect(await gw.ingest.submit(chain.next({ ts: Date.now() + 10 * 60_000 }), 'wr-clock')).toMatchObject({
      code: 'clock_skew',
    });
    const again = new FrameChain('wr-clock', deviceKey(paths, 'wr-clock'));
    expect(
      await gw.ingest.submit(again.next({ ts: Date.now() - 31 * 86_400_000 }), 'wr-clock'),
    ).toMatchObject({ code: 'too_old' });

    const e = await enrollDevice(paths.kgcDir, 'wr-expired', paths.deviceDir('wr-expired'), {
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    gw.store.upsertDevice({
      dev: 'wr-expired',
      certPem: e.certPem,
      spkiSha256: spkiSha256(e.certPem),
      status: 'active',
    });
    const exp = new FrameChain('wr-expired', deviceKey(paths, 'wr-expired'));
    expect(await gw.ingest.submit(exp.next(), 'wr-expired')).toMatchObject({ code: 'expired_certificate' });

    const store = gw.store;
    await enrolDevice(paths, store, 'wr-revoked');
    const rev = new FrameChain('wr-revoked', deviceKey(paths, 'wr-revoked'));
    expect(await gw.ingest.submit(rev.next(), 'wr-revoked')).toMatchObject({ status: 'accepted' });
    await revokeEnrolledDevice(paths, store, 'wr-revoked');
    gw.devices.refresh();
    expect(await gw.ingest.submit(rev.next(), 'wr-revoked')).toMatchObject({ code: 'revoked_device' });
  });

  it('behavior: over MQTT, forged, truncated and foreign-key frames are PUBACKed, not stored, and reported on /rejects', async () => {
    const client = await mqtt.connectAsync(gw.broker.url, {
      clientId: 'wr-mqtt',
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    const reports: { seq: number | null; code: string }[] = [];
    client.on('message', (_t, m) =>
      reports.push(JSON.parse(m.toString()) as { seq: number | null; code: string }),
    );
    await client.subscribeAsync('vt/v1/dev/wr-mqtt/rejects', { qos: 1 });
    const chain = new FrameChain('wr-mqtt', deviceKey(paths, 'wr-mqtt'));
    const good = chain.next();
    const [p, , payload, sig] = parts(good);
    const topic = 'vt/v1/dev/wr-mqtt/frames';
    await client.publishAsync(topic, Buffer.from(cose(p, payload, flip(sig, 100))), { qos: 1 });
    await client.publishAsync(topic, Buffer.from(good.subarray(0, 20)), { qos: 1 });
    await client.publishAsync(topic, Buffer.from(signFrame(decodeFrame(good).body, strangerKey())), {
      qos: 1,
    });
    await client.publishAsync(topic, Buffer.from(good), { qos: 1 });
    const deadline = Date.now() + 3000;
    while (reports.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await client.endAsync();
    expect(reports.map((r) => r.code)).toEqual(['bad_signature', 'malformed', 'bad_signature']);
    expect(
      Buffer.from(gw.store.getFrame('wr-mqtt', 1)?.hash ?? []).equals(Buffer.from(frameHash(good))),
    ).toBe(true);
  });
});
