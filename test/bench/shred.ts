/**
 * @module test/bench/shred
 * `npm run bench:shred`: what crypto-shredding (io/store/shredding, README "Retention") pays
 * to find its work on a large store. On a temp store of `BENCH_SHRED_FRAMES` sealed frames
 * (default 1,000,000; 330 bytes each, the size of a 1 Hz vitals frame's envelope) under one
 * data key per 1,000 frames, 100 devices interleaved as a ward's commits interleave them,
 * written with the data-key ring's own statements (io/store `sealingStatements`), it times the
 * shred's two lookups as the shred runs them (io/store `expiredDataKeys`,
 * `leavesSealedUnder`): the expired keys, then each key's frames. The reference, in the
 * same run: one key's frames found by reading the sealed frames whole (`NOT INDEXED`), as
 * every key's were before schema 14. Then a running gateway's turns of shredding, enough for
 * three windows and more (io/ingest/retention: `shredExpired` listing at most its default
 * frames a turn, records appended to the log, keys destroyed, one fsync'd transaction; then
 * the ciphertexts of destroyed keys deleted over as many log positions). The store is written as the ingest writes
 * it (`commitBatch`: batches of 1,000 frames with their index rows and log leaves). Ends with
 * one `BENCH {json}` line: `frames`, `keys`, `expiredKeysMs` (all expired keys),
 * `keyLookupMs` and `keyScanMs` (one key, the median of its runs), `allKeysS` and
 * `allKeysScanS` (every key, either way), `speedup`, `turnMs` and `turnUsPerFrame` (a turn,
 * the median of `turns`), `turnMaxMs` (the longest); and the space (the shredded
 * frames' ciphertexts are deleted, in log order): `deleted` (ciphertexts the turns deleted),
 * `storeBytesPerFrame` (the file before, the reference), `freedBytesPerFrame`
 * (SQLite's free list after the turns, per frame deleted), `regrowBytesPerFrame` (the
 * file's growth per frame for as many new frames after) and `freeLeftMiB`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_FRAMES_PER_TURN } from '../../gateway/src/io/ingest/retention.js';
import {
  type NewFrame,
  openStore,
  sealingStatements,
  shredExpired,
} from '../../gateway/src/io/store/index.js';
import { expiredDataKeys, leavesSealedUnder } from '../../gateway/src/io/store/sealed.js';
import { benchLine } from './reference.js';

const FRAMES = Number(process.env.BENCH_SHRED_FRAMES ?? 1_000_000);
const PER_KEY = 1000;
const DEVICES = 100;
const HOUR = 3_600_000;
const SEALED_BYTES = 330;
/** Frames a running gateway's turn lists at most (io/ingest/retention's default). */
const TURN_FRAMES = DEFAULT_FRAMES_PER_TURN;
/** Turns run: enough for three windows and more of the store's 100 devices. */
const TURNS = Math.ceil(320_000 / TURN_FRAMES);
/** A clock past every window of the store: every key has expired. */
const LATER = 1_000 * HOUR;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-shred-'));
  try {
    const store = openStore(join(dir, 'gateway.db'));
    const keys = Math.ceil(FRAMES / PER_KEY);
    const t0 = performance.now();
    const sealing = sealingStatements(store);
    // Key k: device k % DEVICES, window k / DEVICES; a window's frames interleave its devices.
    sealing.insertKeys(
      Array.from({ length: keys }, (_, k) => {
        const ws = Math.floor(k / DEVICES) * HOUR;
        return [k + 1, `wr-${k % DEVICES}`, ws, ws, 'e'];
      }),
    );
    // Written as the ingest writes them: group commits of 1,000 frames (the batch, the frame
    // index, the log's leaves), each frame's sealed row under its device's key of its window.
    const envelope = Buffer.alloc(SEALED_BYTES, 7);
    const seqs = new Array<number>(DEVICES).fill(0);
    let batch = 1;
    const write = (from: number, to: number, keyOf: (window: number, d: number) => number) => {
      for (let leaf = from; leaf < to; batch++) {
        const frames: NewFrame[] = [];
        const sealed: [number, number][] = [];
        for (const end = Math.min(to, leaf + 1000); leaf < end; leaf++) {
          const window = Math.floor(leaf / (DEVICES * PER_KEY));
          const d = leaf % DEVICES;
          seqs[d] = (seqs[d] as number) + 1;
          const hash = randomBytes(32);
          frames.push({
            dev: `wr-${d}`,
            seq: seqs[d] as number,
            hash,
            prev: hash,
            ts: window * HOUR + leaf,
            leafHash: hash,
          });
          sealed.push([store.size + frames.length - 1, keyOf(window, d)]);
        }
        store.commitBatch({ id: batch, envelope: 'sealed', createdAt: batch, frames }, () => {
          for (const [l, k] of sealed) sealing.insertFrame.run(l, k, envelope);
        });
      }
    };
    write(0, FRAMES, (window, d) => window * DEVICES + d + 1);
    const fileBytes = () =>
      (store.db.pragma('page_count', { simple: true }) as number) *
      (store.db.pragma('page_size', { simple: true }) as number);
    const freeBytes = () =>
      (store.db.pragma('freelist_count', { simple: true }) as number) *
      (store.db.pragma('page_size', { simple: true }) as number);
    const storeBytesPerFrame = fileBytes() / FRAMES;
    process.stderr.write(
      `built ${FRAMES} sealed frames under ${keys} keys in ${Math.round(performance.now() - t0)} ms\n`,
    );

    let at = performance.now();
    const expired = expiredDataKeys(store, LATER, HOUR);
    const expiredKeysMs = performance.now() - at;
    if (expired.length !== keys) throw new Error(`expected ${keys} expired keys, got ${expired.length}`);

    const sample = expired.filter((_, i) => i % Math.max(1, Math.floor(keys / 100)) === 0);
    const lookups = sample.map((k) => {
      at = performance.now();
      const n = leavesSealedUnder(store, k.id).length;
      const ms = performance.now() - at;
      if (n === 0) throw new Error(`no frames found for key ${k.id}`);
      return ms;
    });
    const scanOne = store.db.prepare(
      'SELECT leaf_index FROM sealed_frames NOT INDEXED WHERE key_id = ? ORDER BY leaf_index',
    );
    const scans = sample.slice(0, 5).map((k) => {
      at = performance.now();
      scanOne.pluck().all(k.id);
      return performance.now() - at;
    });
    // A running gateway's turns (io/ingest/retention: at most 8,192 frames each), for real.
    // Enough turns for three windows' keys (100 keys of 1,000 frames each): the ciphertexts of
    // a window are deleted once all its keys are destroyed (its devices share its pages).
    const turns: { ms: number; frames: number; deleted: number }[] = [];
    for (let i = 0; i < TURNS; i++) {
      at = performance.now();
      const r = shredExpired(store, 0, LATER, {
        windowMs: HOUR,
        maxFrames: TURN_FRAMES,
        checkpoint: 'none',
      });
      turns.push({ ms: performance.now() - at, frames: r.frames, deleted: r.deleted });
    }
    // The space: what the turns freed (their ciphertexts' pages, on SQLite's free list), then
    // as many new frames again (under a live key of their own, as a later window's), and
    // what the file grew by for them.
    const shredded = turns.reduce((n, t) => n + t.frames, 0);
    const deleted = turns.reduce((n, t) => n + t.deleted, 0);
    const freedBytesPerFrame = freeBytes() / deleted;
    const liveKey = keys + 1;
    sealing.insertKeys([[liveKey, 'wr-live', LATER, LATER, 'e']]);
    const grownFrom = fileBytes();
    write(FRAMES, FRAMES + deleted, () => liveKey);
    const regrowBytesPerFrame = (fileBytes() - grownFrom) / deleted;
    const freeLeftBytes = freeBytes();
    store.close();

    const turnMs = median(turns.map((t) => t.ms));
    const turnMaxMs = Math.max(...turns.map((t) => t.ms));
    const turnUsPerFrame = median(turns.map((t) => (t.ms * 1000) / t.frames));
    const keyLookupMs = median(lookups);
    const keyScanMs = median(scans);
    const pad = (s: string) => s.padEnd(58);
    const line = (label: string, value: string) => process.stdout.write(`${pad(label)}${value}\n`);
    process.stdout.write(
      `VitalTrail shred lookups (io/store; ${FRAMES} sealed frames under ${keys} data keys, ${DEVICES} devices)\n`,
    );
    line('  expired keys, all of them', `${expiredKeysMs.toFixed(1)} ms (${keys} keys)`);
    line(
      "  one key's frames, by index (median of 100 keys)",
      `${keyLookupMs.toFixed(3)} ms = ${(keyScanMs / keyLookupMs).toFixed(0)} x faster than the reference`,
    );
    line(
      "  reference: one key's frames, the table read whole",
      `${keyScanMs.toFixed(1)} ms (median of 5 keys)`,
    );
    line(
      '  every key, either way',
      `${((keyLookupMs * keys) / 1000).toFixed(2)} s by index; ${((keyScanMs * keys) / 1000).toFixed(0)} s read whole`,
    );
    line(
      `  a gateway's turn (<= ${TURN_FRAMES} frames; median of ${TURNS})`,
      `${turnMs.toFixed(1)} ms, ${turnUsPerFrame.toFixed(2)} µs a frame shredded (${turns[0]?.frames} frames a turn); the longest ${turnMaxMs.toFixed(1)} ms`,
    );
    line(
      `  ciphertexts deleted by the ${TURNS} turns`,
      `${deleted} of the ${shredded} frames shredded (the windows whose keys are all destroyed)`,
    );
    line(
      '  space freed by the turns, a frame deleted',
      `${freedBytesPerFrame.toFixed(0)} bytes, of ${storeBytesPerFrame.toFixed(0)} bytes a frame in the file (reference)`,
    );
    line(
      `  the file's growth for ${deleted} new frames after`,
      `${regrowBytesPerFrame.toFixed(0)} bytes a frame = ${(regrowBytesPerFrame / storeBytesPerFrame).toFixed(2)} x the reference (${(freeLeftBytes / 1_048_576).toFixed(1)} MiB still free)`,
    );
    process.stdout.write(
      `${benchLine({
        bench: 'shred',
        date: new Date().toISOString(),
        node: process.version,
        frames: FRAMES,
        keys,
        expiredKeysMs: Math.round(expiredKeysMs * 10) / 10,
        keyLookupMs: Math.round(keyLookupMs * 1000) / 1000,
        keyScanMs: Math.round(keyScanMs * 10) / 10,
        allKeysS: Math.round(keyLookupMs * keys) / 1000,
        allKeysScanS: Math.round(keyScanMs * keys) / 1000,
        speedup: Math.round(keyScanMs / keyLookupMs),
        turnMs: Math.round(turnMs * 10) / 10,
        turnUsPerFrame: Math.round(turnUsPerFrame * 100) / 100,
        turnMaxMs: Math.round(turnMaxMs * 10) / 10,
        turns: TURNS,
        deleted,
        storeBytesPerFrame: Math.round(storeBytesPerFrame),
        freedBytesPerFrame: Math.round(freedBytesPerFrame),
        regrowBytesPerFrame: Math.round(regrowBytesPerFrame),
        freeLeftMiB: Math.round(freeLeftBytes / 104_857.6) / 10,
      })}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
