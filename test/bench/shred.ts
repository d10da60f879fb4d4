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
 * every key's were before schema 14. Ends with one `BENCH {json}` line: `frames`, `keys`,
 * `expiredKeysMs` (all expired keys), `keyLookupMs` and `keyScanMs` (one key, the median of
 * its runs), `allKeysS` and `allKeysScanS` (every key, either way), `speedup`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore, sealingStatements } from '../../gateway/src/io/store/index.js';
import { expiredDataKeys, leavesSealedUnder } from '../../gateway/src/io/store/sealed.js';
import { benchLine } from './reference.js';

const FRAMES = Number(process.env.BENCH_SHRED_FRAMES ?? 1_000_000);
const PER_KEY = 1000;
const DEVICES = 100;
const HOUR = 3_600_000;
const SEALED_BYTES = 330;

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
    const envelope = Buffer.alloc(SEALED_BYTES, 7);
    store.db.transaction(() => {
      for (let leaf = 0; leaf < FRAMES; leaf++) {
        const window = Math.floor(leaf / (DEVICES * PER_KEY));
        sealing.insertFrame.run(leaf, window * DEVICES + (leaf % DEVICES) + 1, envelope);
      }
    })();
    process.stderr.write(
      `built ${FRAMES} sealed frames under ${keys} keys in ${Math.round(performance.now() - t0)} ms\n`,
    );

    let at = performance.now();
    const expired = expiredDataKeys(store, Number.MAX_SAFE_INTEGER / 2, HOUR);
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
    store.close();

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
      })}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
