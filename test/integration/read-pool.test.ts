/**
 * Long reads on read threads (io/reading/read-pool; issue 14) answer exactly as the event
 * loop does, through real parts: a sealed store in a temp dir, real worker threads running
 * the built thread code (dist/, `npm run build`, as `npm test` does first).
 * - the same readings and shredded count across COSE_Encrypt0 rows, JWE rows of format 2
 *   and a shredded data key;
 * - a damaged entry is the same `integrity_error`, naming the same entry;
 * - a thread that dies holding chunks (a real thread exiting) and a thread whose code does
 *   not load: every chunk is opened on the event loop, nothing lost or left unchecked;
 * - a process whose only work is a read (a CLI export) waits for its threads' answers and
 *   then ends: an idle thread does not hold it up until the pool stops it;
 * - the threads run behind the event loop (Linux: their own nice value, read from
 *   /proc/self/task), the event loop as it was.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sealWithDataKey } from '../../gateway/src/core/envelope.js';
import { readReadings } from '../../gateway/src/io/queries/index.js';
import { DEFAULT_READ_NICE, ReadPool } from '../../gateway/src/io/reading/index.js';
import { frameAad, SealedReader } from '../../gateway/src/io/store/sealed.js';
import { shredExpired } from '../../gateway/src/io/store/shredding.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { tidsAtNice } from '../helpers/threads.js';
import { makeTempDir } from '../helpers/tmp.js';

const BUILT = new URL('../../dist/gateway/src/io/reading/read-worker.js', import.meta.url);
const FRAMES = 4_500;
const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);

describe('read threads', () => {
  const tmp = makeTempDir('vt-read-pool-');
  const r = recipientPair('care', 'ec');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  let rig: SealedRig;
  const pools: ReadPool[] = [];
  const pool = (o: ConstructorParameters<typeof ReadPool>[0]) => {
    const p = new ReadPool(o);
    pools.push(p);
    return p;
  };
  /** The error of a read on the event loop and on threads: the same code and words. */
  const sameError = async (words: string) => {
    const here = (await read(pool({ threads: 0 })).catch((e: unknown) => e)) as Error & { code?: string };
    const threads = (await read(pool({ threads: 2, workerUrl: BUILT })).catch((e: unknown) => e)) as Error & {
      code?: string;
    };
    expect(here).toMatchObject({ code: 'integrity_error' });
    expect(here.message).toContain(words);
    expect([threads.code, threads.message]).toEqual([here.code, here.message]);
  };
  const read = (p: ReadPool) =>
    readReadings(rig.store, new SealedReader(rig.store, secrets), 'wr-a', 0, Number.MAX_SAFE_INTEGER, {
      pool: p,
    });

  beforeAll(async () => {
    // Data keys of 1,000 frames each; one of them shredded; ten rows rewritten as format 2.
    // A fixed gateway clock: one key window, so keys change every 1,000 frames exactly.
    rig = sealedRig(tmp.dir, [r.recipient], {
      dataKeys: { maxFramesPerKey: 1_000 },
      now: () => T0 + 2 * 3_600_000,
    });
    const a = rig.device('wr-a');
    for (let i = 0; i < FRAMES; i += 500) {
      const chunk = Array.from({ length: Math.min(500, FRAMES - i) }, (_, j) =>
        a.next({ ts: T0 + (i + j) * 1000 }, { hr: 50 + ((i + j) % 90), spo2: 97 }),
      );
      await Promise.all(chunk.map((f) => rig.ingest.submit(f, 'wr-a')));
    }
    const db = rig.store.db;
    const reader = new SealedReader(rig.store, secrets);
    const rows = rig.store.framesToRead('wr-a', 0, Number.MAX_SAFE_INTEGER);
    const opened = await reader.readDetailed(rows.slice(3_000, 3_010));
    for (const [j, row] of rows.slice(3_000, 3_010).entries()) {
      const { frame, keyId } = opened[j] as { frame: Uint8Array; keyId: number };
      const key = (await reader.dataKey(keyId, 'wr-a')) as CryptoKey;
      const jwe = await sealWithDataKey(
        frame,
        key,
        String(keyId),
        frameAad('wr-a', row.seq, row.leafIndex, keyId),
      );
      db.prepare('UPDATE sealed_frames SET envelope = ? WHERE leaf_index = ?').run(jwe, row.leafIndex);
    }
    // The first key shredded as retention does (its record in the log, its rows deleted): the
    // first chunk holds 1,000 frames with no sealed row and 24 that open.
    expect(shredExpired(rig.store, 0, T0 + 4 * 3_600_000, { maxKeys: 1 })).toMatchObject({ frames: 1_000 });
  }, 120_000);
  afterAll(async () => {
    for (const p of pools) await p.close();
    rig?.store.close();
    tmp.cleanup();
  });

  test('behavior: the same readings and shredded count as the event loop, COSE rows, format-2 rows and a shredded key alike', async () => {
    const here = await read(pool({ threads: 0 }));
    expect(here.shredded).toBe(1_000);
    expect(here.readings).toHaveLength(FRAMES - 1_000);
    const p = pool({ threads: 2, workerUrl: BUILT });
    expect(p.threads).toBe(2);
    const threads = await read(p);
    expect(threads).toEqual(here);
    // Five chunks of 1,024: the one holding the format-2 rows is read here, the others on threads.
    expect(p.stats).toEqual({ onThreads: 4, here: 0 });
    expect(threads.readings.map((x) => x.seq)).toEqual(here.readings.map((x) => x.seq));
  });

  test('error: a damaged entry is the same integrity_error, naming the same entry, on threads and on the event loop', async () => {
    const db = rig.store.db;
    const leaf = 4_100;
    const original = db
      .prepare('SELECT envelope FROM sealed_frames WHERE leaf_index = ?')
      .pluck()
      .get(leaf) as Buffer;
    const bad = Buffer.from(original);
    bad[bad.length - 20] = (bad[bad.length - 20] as number) ^ 0x04;
    db.prepare('UPDATE sealed_frames SET envelope = ? WHERE leaf_index = ?').run(bad, leaf);
    try {
      await sameError(`entry ${leaf} does not authenticate`);
    } finally {
      db.prepare('UPDATE sealed_frames SET envelope = ? WHERE leaf_index = ?').run(original, leaf);
    }
    // A leaf hash changed in the log: "does not match the log", both ways.
    const node = db
      .prepare('SELECT hash FROM log_nodes WHERE level = 0 AND idx = ?')
      .pluck()
      .get(leaf) as Buffer;
    const other = Buffer.from(node);
    other[0] = (other[0] as number) ^ 0x01;
    db.prepare('UPDATE log_nodes SET hash = ? WHERE level = 0 AND idx = ?').run(other, leaf);
    try {
      await sameError(`entry ${leaf} does not match the log`);
    } finally {
      db.prepare('UPDATE log_nodes SET hash = ? WHERE level = 0 AND idx = ?').run(node, leaf);
    }
  });

  test('behavior: a process that only reads waits for its threads, then ends at once, not when idle threads stop', async () => {
    // The built pool, in a child process of its own whose only work is one long read; the
    // pool's idle stop is set far beyond the test's time, so a thread left ref'd would hang it.
    const script = join(tmp.dir, 'read-and-end.mjs');
    const dist = (p: string) => new URL(`../../dist/gateway/src/${p}`, import.meta.url).href;
    writeFileSync(
      script,
      `import { createPrivateKey } from 'node:crypto';
       import { readFileSync } from 'node:fs';
       const { ReadPool } = await import(${JSON.stringify(dist('io/reading/index.js'))});
       const { readReadings } = await import(${JSON.stringify(dist('io/queries/index.js'))});
       const { SealedReader } = await import(${JSON.stringify(dist('io/store/sealed.js'))});
       const { openStore } = await import(${JSON.stringify(dist('io/store/store.js'))});
       const store = openStore(process.argv[2]);
       const secrets = [{ kid: 'care', privateKey: createPrivateKey(readFileSync(process.argv[3])) }];
       const pool = new ReadPool({ threads: 2, idleMs: 600000 });
       const r = await readReadings(store, new SealedReader(store, secrets), 'wr-a', 0, Number.MAX_SAFE_INTEGER, { pool });
       console.log(JSON.stringify({ readings: r.readings.length, shredded: r.shredded, onThreads: pool.stats.onThreads }));`,
    );
    const pem = join(tmp.dir, 'care.key.pem');
    writeFileSync(pem, r.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const dbPath = rig.store.db.name;
    const started = Date.now();
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, [script, dbPath, pem], { timeout: 45_000 }, (err, stdout) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout }),
      );
      void child;
    });
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ readings: FRAMES - 1_000, shredded: 1_000, onThreads: 4 });
    // It ended with its work: nowhere near the 45 s at which it would have been killed.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  test('behavior: threads that die holding chunks, or whose code does not load: every chunk is opened here, the answer unchanged', async () => {
    const here = await read(pool({ threads: 0 }));
    // A real thread that loads, says it is ready, and exits on its first chunk.
    const dying = join(tmp.dir, 'dying-worker.mjs');
    writeFileSync(
      dying,
      `import { parentPort } from 'node:worker_threads';
       parentPort.postMessage({ ready: true });
       parentPort.on('message', () => process.exit(3));`,
    );
    const d = pool({ threads: 2, workerUrl: pathToFileURL(dying) });
    expect(await read(d)).toEqual(here);
    expect(d.stats.onThreads).toBe(0);
    expect(d.stats.here).toBe(4);
    // A thread whose code throws as it loads: the pool stops trying.
    const broken = join(tmp.dir, 'broken-worker.mjs');
    writeFileSync(broken, `throw new Error('cannot load');`);
    const b = pool({ threads: 2, workerUrl: pathToFileURL(broken) });
    expect(await read(b)).toEqual(here);
    expect(b.stats.onThreads).toBe(0);
    expect(b.threads).toBe(0);
    // No thread code at all (the sources, unbuilt): no threads.
    expect(pool({ workerUrl: pathToFileURL(join(tmp.dir, 'missing.js')) }).threads).toBe(0);
  });

  test('behavior: the read threads run behind the event loop (`nice` steps, default 7), the event loop as it was', async () => {
    const own = getPriority(0);
    // By thread id: the verify threads run at the same default, and one of another file of
    // this worker could end meanwhile.
    const tidsAt = (n: number) => tidsAtNice(Math.min(19, own + n));
    const at = (n: number) => tidsAt(n).length;
    const rare = 13; // no other thread of this test process runs there
    expect(at(rare)).toBe(0);
    const p = pool({ threads: 2, workerUrl: BUILT, nice: rare });
    const here = await read(pool({ threads: 0 }));
    expect(await read(p)).toEqual(here);
    expect(p.stats.onThreads).toBe(4);
    expect(at(rare)).toBe(2);
    expect(getPriority(0)).toBe(own);
    await p.close();
    expect(at(rare)).toBe(0);
    // The default.
    expect(DEFAULT_READ_NICE).toBeGreaterThan(0);
    const before = new Set(tidsAt(DEFAULT_READ_NICE));
    const d = pool({ threads: 1, workerUrl: BUILT });
    expect(await read(d)).toEqual(here);
    expect(tidsAt(DEFAULT_READ_NICE).filter((tid) => !before.has(tid))).toHaveLength(1);
    await d.close();
    // Outside 0-19 is refused.
    expect(() => new ReadPool({ nice: 20 })).toThrow(RangeError);
    expect(() => new ReadPool({ nice: -1 })).toThrow(RangeError);
    expect(() => new ReadPool({ nice: 1.5 })).toThrow(RangeError);
  });
});
