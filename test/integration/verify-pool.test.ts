/**
 * @module test/integration/verify-pool
 * Issue 14, "signature checks off the event loop", through real parts: worker threads,
 * the Ingest pipeline, SQLite files in temp dirs.
 * - The pool's verdict on every frame of the rejection corpus is `verifyFrameSignature`'s.
 * - A mixed stream from several devices (valid frames, forged signatures, unknown devices,
 *   exact and conflicting replays, gaps and their fills, a broken chain, a clock ahead)
 *   gets the same outcome frame by frame through the pool as in the event loop, and each
 *   device's frames are committed in the order they arrived.
 * - Fault injection: a worker terminated while it holds a batch loses nothing (its frames
 *   are checked again; forged ones are still rejected) and is replaced; a pool whose
 *   workers cannot start checks in the event loop and says so once.
 * - `close` answers every frame in flight, then stops the threads; a revocation that
 *   arrives while a frame's signature is being checked does not reach that frame (its
 *   device was looked up on arrival, as before the pool).
 * - Its threads run at the nice value asked (Linux keeps one per thread), the thread that
 *   made the pool at its own; a gateway's verify threads at `DEFAULT_VERIFY_NICE`.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { checkBeforeSignature, type DeviceRecord } from '../../gateway/src/core/acceptance.js';
import { VERIFY_THREAD_NAME } from '../../gateway/src/core/thread-nice.js';
import { Ingest, type IngestResult } from '../../gateway/src/io/ingest/ingest.js';
import { createLogger, silentLogger } from '../../gateway/src/io/ops/log.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { VerifyPool } from '../../gateway/src/io/verify/verify-pool.js';
import { DEFAULT_VERIFY_NICE } from '../../gateway/src/io/verify/verify-pool-options.js';
import {
  COSE_ALG_EDDSA,
  type CoseAlg,
  type FrameBody,
  frameHash,
  keyFitsAlg,
  signFrame,
  verifyFrameSignature,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';
import { acceptanceCorpus, CORPUS_NOW } from '../helpers/acceptance-corpus.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { recipientPair } from '../helpers/sealed.js';
import { threadNices, tidsAtNice } from '../helpers/threads.js';
import { makeTempDir } from '../helpers/tmp.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const NOW = Date.now();

const recipient = recipientPair('care', 'ec').recipient;

/** A device: its key pair and a hash chain of frames, ES256 or EdDSA. */
class Device {
  seq = 0;
  prev: Uint8Array = ZERO_HASH;
  readonly pair: { publicKey: KeyObject; privateKey: KeyObject };
  constructor(
    readonly dev: string,
    readonly alg: CoseAlg = -7,
  ) {
    this.pair =
      alg === COSE_ALG_EDDSA
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  }
  body(over: Partial<FrameBody> = {}): FrameBody {
    return {
      v: 1,
      dev: this.dev,
      seq: this.seq + 1,
      ts: NOW - 1000,
      prev: this.prev,
      obs: { hr: 60 + (this.seq % 40) },
      ...over,
    };
  }
  sign(body: FrameBody, key = this.pair.privateKey): Uint8Array {
    return signFrame(body, key, this.alg);
  }
  /** The next frame of the chain (advances it). */
  next(): Uint8Array {
    const bytes = this.sign(this.body());
    this.seq += 1;
    this.prev = frameHash(bytes);
    return bytes;
  }
}

function rig(
  devices: Device[],
  threads: number,
  extra: Partial<ConstructorParameters<typeof Ingest>[0]> = {},
) {
  const t = makeTempDir('vt-pool-');
  const store: GatewayStore = openStore(join(t.dir, 'gateway.db'));
  const records = new Map<string, DeviceRecord>(
    devices.map((d) => [
      d.dev,
      {
        dev: d.dev,
        publicKey: d.pair.publicKey,
        status: 'active',
        notBefore: 0,
        notAfter: Number.MAX_SAFE_INTEGER,
      },
    ]),
  );
  const ingest = new Ingest({
    store,
    lookup: (dev) => records.get(dev),
    recipients: [recipient],
    policy: { retentionMs: 365 * 86_400_000 },
    now: () => NOW,
    ...extra,
    verify: { threads, maxBatchFrames: 8, ...extra.verify },
  });
  cleanups.push(
    () => t.cleanup(),
    () => store.close(),
    () => ingest.close(),
  );
  return { store, ingest, records };
}

type Item = { bytes: Uint8Array; transport: string };

/** A mixed stream, deterministic for one seed: every kind of outcome, devices interleaved. */
function mixedStream(devices: Device[], n: number, seed: number): Item[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const sent = new Map<string, Uint8Array[]>();
  const out: Item[] = [];
  const held: Item[] = [];
  while (out.length < n) {
    const d = devices[Math.floor(rand() * devices.length)] as Device;
    const r = rand();
    const mine = sent.get(d.dev) ?? [];
    sent.set(d.dev, mine);
    if (r < 0.6) {
      const bytes = d.next();
      mine.push(bytes);
      // Now and then a frame is held back and sent later: a gap, then its fill.
      if (rand() < 0.1) held.push({ bytes, transport: d.dev });
      else out.push({ bytes, transport: d.dev });
    } else if (r < 0.68 && d.alg !== COSE_ALG_EDDSA) {
      out.push({ bytes: signFrame(d.body(), stranger), transport: d.dev }); // bad_signature
    } else if (r < 0.72) {
      const ghost = new Device(`ghost-${Math.floor(rand() * 3)}`);
      out.push({ bytes: ghost.next(), transport: ghost.dev }); // unknown_device
    } else if (r < 0.8 && mine.length > 0) {
      out.push({ bytes: mine[Math.floor(rand() * mine.length)] as Uint8Array, transport: d.dev }); // duplicate
    } else if (r < 0.86 && d.seq > 0) {
      const seq = 1 + Math.floor(rand() * d.seq);
      const prev = seq === 1 ? ZERO_HASH : d.prev;
      out.push({ bytes: d.sign(d.body({ seq, prev, obs: { hr: 199 } })), transport: d.dev }); // replay_conflict (or chain)
    } else if (r < 0.9 && d.seq > 0) {
      out.push({ bytes: d.sign(d.body({ prev: new Uint8Array(32).fill(9) })), transport: d.dev }); // chain_mismatch
    } else if (r < 0.93) {
      out.push({ bytes: d.sign(d.body({ ts: NOW + 10 * 60_000 })), transport: d.dev }); // clock_skew
    } else if (held.length > 0) {
      out.push(held.shift() as Item); // a gap filled
    }
  }
  return [...out, ...held];
}

/** Submits in waves of random size (frames of one wave arrive in one turn of the event loop). */
async function submitAll(ingest: Ingest, items: Item[], seed: number): Promise<IngestResult[]> {
  let s = seed;
  const all: Promise<IngestResult>[] = [];
  for (let i = 0; i < items.length; ) {
    s = (s * 48271) % 2147483647;
    const wave = 1 + (s % 60);
    for (const it of items.slice(i, i + wave)) all.push(ingest.submit(it.bytes, it.transport));
    i += wave;
    await new Promise((r) => setImmediate(r));
  }
  return Promise.all(all);
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const outcome = (r: IngestResult) =>
  r.status === 'rejected' ? `${r.dev ?? '?'}/${String(r.seq)} ${r.code}` : `${r.dev}/${r.seq} ${r.status}`;

/** Each device's accepted frames are committed in the order they were submitted. */
function expectDeviceOrder(results: IngestResult[]): void {
  const last = new Map<string, number>();
  for (const r of results) {
    if (r.status !== 'accepted') continue;
    expect(r.leafIndex, `${r.dev}/${r.seq}`).toBeGreaterThan(last.get(r.dev) ?? -1);
    last.set(r.dev, r.leafIndex);
  }
}

describe('verify pool', () => {
  test('behavior: its verdict on every frame of the rejection corpus is verifyFrameSignature’s (ES256, EdDSA, wrong key kinds)', async () => {
    const corpus = acceptanceCorpus();
    const pool = new VerifyPool({ threads: 2, maxBatchFrames: 16 });
    cleanups.push(() => pool.close());
    const checks: Promise<[string, boolean, boolean]>[] = [];
    let mismatched = 0;
    for (const f of corpus.frames) {
      const due = checkBeforeSignature(f.bytes, f.transport, corpus.lookup, CORPUS_NOW);
      if (!due.ok) continue;
      const expected = verifyFrameSignature(due.frame, due.device.publicKey);
      if (!keyFitsAlg(due.frame.alg, due.device.publicKey)) mismatched += 1; // answered at once
      checks.push(
        new Promise((resolve) =>
          pool.verify(due.frame, due.device.publicKey, due.frame.body.dev, (v) =>
            resolve([f.name, v, expected]),
          ),
        ),
      );
    }
    const results = await Promise.all(checks);
    expect(results.length).toBeGreaterThan(500);
    for (const [name, got, expected] of results) expect(got, name).toBe(expected);
    expect(results.filter(([, , e]) => e).length).toBeGreaterThan(5);
    // Checked on the threads, not in the event loop.
    expect(mismatched).toBeGreaterThan(0);
    expect(pool.stats.pooled).toBe(results.length - mismatched);
    expect(pool.stats.inline).toBe(0);
    expect(pool.stats.batches).toBeGreaterThan(10);
  });

  test('behavior: a mixed stream from several devices gets the same outcomes through the pool as in the event loop, each device’s frames committed in arrival order', async () => {
    const devices = [
      ...Array.from({ length: 5 }, (_, i) => new Device(`wr-${i}`)),
      new Device('wr-ed', COSE_ALG_EDDSA),
    ];
    const items = mixedStream(devices, 1500, 14);
    const inline = rig(devices, 0);
    const pooled = rig(devices, 2);
    const a = await submitAll(inline.ingest, items, 7);
    const b = await submitAll(pooled.ingest, items, 7);
    expect(b.map(outcome)).toEqual(a.map(outcome));
    const kinds = new Set(a.map((r) => (r.status === 'rejected' ? r.code : r.status)));
    for (const k of [
      'accepted',
      'duplicate',
      'bad_signature',
      'unknown_device',
      'replay_conflict',
      'chain_mismatch',
      'clock_skew',
    ])
      expect(kinds, k).toContain(k);
    expectDeviceOrder(a);
    expectDeviceOrder(b);
    expect(pooled.store.size).toBe(inline.store.size);
    expect(pooled.ingest.verifyPool.stats.pooled).toBeGreaterThan(1000);
    expect(inline.ingest.verifyPool.stats.pooled).toBe(0);
  });

  test('behavior: fault injection — a worker terminated mid-batch loses nothing: its frames are checked again (forged ones still rejected), and it is replaced', async () => {
    const devices = Array.from({ length: 6 }, (_, i) => new Device(`wr-${i}`));
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const items: Item[] = [];
    for (let k = 0; k < 200; k += 1) {
      for (const d of devices) {
        items.push({ bytes: d.next(), transport: d.dev });
        if (k % 50 === 0) items.push({ bytes: signFrame(d.body(), stranger), transport: d.dev });
      }
    }
    const lines: string[] = [];
    const { ingest, store } = rig(devices, 2, {
      verify: { threads: 2, maxBatchFrames: 256, log: createLogger({ write: (l) => lines.push(l) }) },
    });
    const pool = ingest.verifyPool;
    await until(() => pool.readyWorkers === 2);
    const all = items.map((it) => ingest.submit(it.bytes, it.transport));
    await new Promise((r) => setImmediate(r)); // the batches are posted
    expect(pool.heldBy(0)).toBeGreaterThan(0);
    const held = pool.injectWorkerCrash(0);
    const results = await Promise.all(all);
    const forged = items.length - 200 * devices.length;
    expect(results.filter((r) => r.status === 'accepted')).toHaveLength(200 * devices.length);
    expect(results.filter((r) => r.status === 'rejected' && r.code === 'bad_signature')).toHaveLength(forged);
    expect(store.size).toBe(200 * devices.length);
    expectDeviceOrder(results);
    expect(pool.stats.crashes).toBe(1);
    expect(pool.stats.recovered).toBe(held);
    expect(lines.join('')).toContain('verify worker stopped');
    // Replaced: the pool is back to two threads and checks there again.
    await until(() => pool.readyWorkers === 2);
    const before = pool.stats.pooled;
    const more = await Promise.all(devices.map((d) => ingest.submit(d.next(), d.dev)));
    expect(more.every((r) => r.status === 'accepted')).toBe(true);
    expect(pool.stats.pooled).toBeGreaterThan(before);
  });

  test('behavior: fault injection — workers that cannot start: every signature is checked in the event loop, with one warning', async () => {
    const devices = [new Device('wr-a'), new Device('wr-b')];
    const lines: string[] = [];
    const { ingest } = rig(devices, 2, {
      verify: {
        threads: 2,
        log: createLogger({ write: (l) => lines.push(l) }),
        faultInjection: { workersFailAtStart: true },
      },
    });
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    // Submitted before the threads have failed, and after.
    const first = await Promise.all([
      ingest.submit(devices[0]!.next(), 'wr-a'),
      ingest.submit(signFrame(devices[1]!.body(), stranger), 'wr-b'),
    ]);
    await until(() => !ingest.verifyPool.usesWorkers);
    const later = await Promise.all([
      ingest.submit(devices[0]!.next(), 'wr-a'),
      ingest.submit(devices[1]!.next(), 'wr-b'),
    ]);
    expect([...first, ...later].map(outcome)).toEqual([
      'wr-a/1 accepted',
      'wr-b/1 bad_signature',
      'wr-a/2 accepted',
      'wr-b/1 accepted',
    ]);
    const warnings = lines.filter((l) => l.includes('verify pool could not start'));
    expect(warnings).toHaveLength(1);
    expect(ingest.verifyPool.stats.pooled).toBe(0);
  });

  test('behavior: close answers every frame in flight, then stops the threads; no frame is answered twice', async () => {
    const devices = Array.from({ length: 4 }, (_, i) => new Device(`wr-${i}`));
    const { ingest, store } = rig(devices, 2);
    const all: Promise<IngestResult>[] = [];
    for (let k = 0; k < 300; k += 1) for (const d of devices) all.push(ingest.submit(d.next(), d.dev));
    expect(ingest.pipeline.verifying).toBe(1200);
    await ingest.close();
    expect(ingest.pipeline).toMatchObject({ verifying: 0, uncommitted: 0 });
    expect(ingest.verifyPool.liveWorkers).toBe(0);
    const results = await Promise.all(all);
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    expect(store.size).toBe(1200);
    // After close, a frame is still checked (in the event loop) and answered.
    expect((await ingest.submit(devices[0]!.next(), 'wr-0')).status).toBe('accepted');
  });

  test('behavior: a revocation arriving while a frame is in the pool does not reach it (looked up on arrival); later frames are revoked_device', async () => {
    const d = new Device('wr-r');
    const { ingest, records } = rig([d], 2);
    const inPool = ingest.submit(d.next(), d.dev);
    expect(ingest.pipeline.verifying).toBe(1);
    (records.get('wr-r') as DeviceRecord).status = 'revoked';
    const after = ingest.submit(d.next(), d.dev);
    expect((await inPool).status).toBe('accepted');
    expect(await after).toMatchObject({ status: 'rejected', code: 'revoked_device', seq: 2 });
  });

  test('behavior: its threads run at the nice value asked, the thread that made the pool at its own; out of 0-19 is refused', async () => {
    const nices = () => threadNices().map((t) => t.nice);
    const own = getPriority(0);
    const RARE = Math.min(19, own + 13); // no other thread of the test process runs at it
    expect(nices().filter((n) => n === RARE)).toHaveLength(0);
    const pool = new VerifyPool({ threads: 2, nice: 13 });
    cleanups.push(() => pool.close());
    await until(() => pool.readyWorkers === 2);
    expect(nices().filter((n) => n === RARE)).toHaveLength(2);
    expect(getPriority(0)).toBe(own);
    await pool.close();
    await until(() => nices().filter((n) => n === RARE).length === 0);
    expect(() => new VerifyPool({ threads: 1, nice: 20 })).toThrow(RangeError);
    expect(() => new VerifyPool({ threads: 1, nice: -1 })).toThrow(RangeError);
    // A pool at 0 leaves its threads as the process runs them.
    const plain = new VerifyPool({ threads: 1 });
    cleanups.push(() => plain.close());
    await until(() => plain.readyWorkers === 1);
    expect(nices().filter((n) => n !== own)).toHaveLength(0);
  });

  test("behavior: a gateway runs its verify threads at DEFAULT_VERIFY_NICE, and at `verifyNice` when set; the runtime's helper threads at the first one's", async () => {
    // By name (core/thread-nice): the runtime's helper threads run at the same value since
    // app/helper-threads, and a verify thread of another file of this worker could end meanwhile.
    const tidsAt = (nice: number) => tidsAtNice(nice, VERIFY_THREAD_NAME);
    const threadsAt = (nice: number) => tidsAt(nice).length;
    expect(DEFAULT_VERIFY_NICE).toBeGreaterThan(0);
    const own = getPriority(0);
    const at = (steps: number) => Math.min(19, own + steps);
    // V8's and libuv's threads: every thread but this one (the event loop) and the gateway's own.
    const helpers = () =>
      threadNices().filter((t) => t.tid !== String(process.pid) && !t.name.startsWith('vt-'));
    expect(helpers().filter((t) => t.nice === at(DEFAULT_VERIFY_NICE))).toHaveLength(0);
    const before = new Set(tidsAt(at(DEFAULT_VERIFY_NICE)));
    const tmp = makeTempDir('vt-verify-nice-');
    cleanups.push(() => tmp.cleanup());
    await prepareDataDir(tmp.dir, ['wr-0001']);
    const opts = {
      dataDir: tmp.dir,
      logger: silentLogger,
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
    };
    const gw = await startGateway({ ...opts, verifyThreads: 2 });
    await until(() => gw.ingest.verifyPool.readyWorkers === 2);
    expect(tidsAt(at(DEFAULT_VERIFY_NICE)).filter((tid) => !before.has(tid))).toHaveLength(2);
    // V8's platform workers (the collector's helpers) at least, behind the event loop with them.
    const behind = helpers().filter((t) => t.nice === at(DEFAULT_VERIFY_NICE));
    expect(behind.length).toBeGreaterThanOrEqual(2);
    expect(getPriority(0)).toBe(own);
    await gw.stop();
    const set = await startGateway({ ...opts, verifyThreads: 1, verifyNice: 11 });
    cleanups.push(() => set.stop());
    await until(() => set.ingest.verifyPool.readyWorkers === 1);
    expect(threadsAt(at(11))).toBe(1);
    // Once per process: the second gateway leaves the helpers where the first put them.
    for (const t of behind)
      expect(threadNices().find((x) => x.tid === t.tid)?.nice ?? at(DEFAULT_VERIFY_NICE)).toBe(
        at(DEFAULT_VERIFY_NICE),
      );
  });
});
