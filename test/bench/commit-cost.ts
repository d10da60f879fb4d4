/**
 * @module test/bench/commit-cost
 * `npm run bench:commit`: where the time of the ingest's group commit goes, on the store's
 * own tables (io/store `openStore`, a temp file), with no gateway around it. Each batch
 * is what `Ingest` writes for its frames: the log's nodes (those of its kept levels,
 * anchor/src/log/strata), the frame index row and the
 * sealed frame (330 random bytes, the size of a 1 Hz vitals frame's envelope, under its
 * device's own data key, as the gateway seals them), then `COMMIT`,
 * each stage timed on its own (µs per frame), with the WAL pages each commit wrote. The
 * sealed frames go through the data-key ring's own statements (io/store `sealingStatements`)
 * and the log's neighbours come from a frontier over the store, as the store's own do;
 * `GatewayStore.commitBatch`'s batch, frame and node inserts are private to it, so they are
 * written out here, alike, to time each stage.
 *
 * Rows: the gateway as it runs (`synchronous = FULL`, SQLite's auto-checkpoint every 1,000
 * pages); the same without checkpoints (what a checkpoint thread would leave on the event
 * loop); `synchronous = NORMAL` without checkpoints (no fsync in the commit: what an fsync
 * after the commit, off the event loop, would leave); and the reference, `synchronous = OFF`
 * without checkpoints: the same SQL with no disk sync at all; beside `NORMAL`, the same with every
 * level of the log written, as before schema 13 (the log's reference). Each at 10, 40 and 400 frames
 * a commit from 50 devices (the 1,000 frames/s, 5,000 frames/s and capacity regimes of
 * `bench:ingest`), and at 40 from one device. README "Benchmarks" → "`bench:commit`".
 * Knob: `BENCH_COMMIT_FRAMES` (frames timed per row, default 40,000).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isKeptLevel, LogFrontier, nodesForAppend } from '../../anchor/src/log/index.js';
import { openStore, sealingStatements } from '../../gateway/src/io/store/index.js';

const FRAMES = Number(process.env.BENCH_COMMIT_FRAMES ?? 40_000);
/** Frames committed before the timing starts: the trees have their depth, the caches are warm. */
const WARM_FRAMES = 8_000;
const SEALED_BYTES = 330;

export interface Mode {
  name: string;
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
  autoCheckpoint: boolean;
  /** Every level of the log written, as before schema 13 kept every fourth only (anchor/src/log/strata). */
  everyLevel?: boolean;
}

export interface CommitCost {
  /** µs per frame in each stage. */
  nodes: number;
  frames: number;
  sealed: number;
  commit: number;
  total: number;
  /** WAL pages written per commit (only without checkpoints: the WAL then only grows). */
  pagesPerCommit: number | null;
}

/** Commits `frames` frames in batches of `batch` from `devices` devices and times each stage. */
export function measure(mode: Mode, batch: number, devices: number, frames = FRAMES): CommitCost {
  const dir = mkdtempSync(join(tmpdir(), 'vt-commit-'));
  const path = join(dir, 'gateway.db');
  const store = openStore(path);
  try {
    const db = store.db;
    db.pragma(`synchronous = ${mode.synchronous}`);
    db.pragma(`wal_autocheckpoint = ${mode.autoCheckpoint ? 1000 : 0}`);
    const sealing = sealingStatements(store); // DataKeyRing's own statements
    // One data key per device, as the gateway seals each device's frames under its own.
    sealing.insertKeys(Array.from({ length: devices }, (_, d) => [d + 1, `wr-${d}`, 0, 0, 'e'] as const));
    // GatewayStore.commitBatch's statements are its own (private): written out here, alike.
    const sql = {
      batch: db.prepare(
        'INSERT INTO batches (id, created_at, first_leaf, frame_count, envelope) VALUES (?, ?, ?, ?, ?)',
      ),
      frame: db.prepare(
        'INSERT INTO frames (dev, seq, hash, prev, ts, accepted_at, leaf_index, batch_id, batch_pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      sealed: sealing.insertFrame,
      node: db.prepare('INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)'),
    };
    const frontier = new LogFrontier(store); // the store's own way to its log's neighbours
    const sealed = randomBytes(SEALED_BYTES);
    const seqs = new Array<number>(devices).fill(0);
    const t = { nodes: 0, frames: 0, sealed: 0, commit: 0 };
    let leaf = 0;
    let batchId = 0;
    let ts = Date.now();
    let timedCommits = 0;
    let walBefore = 0;
    const rounds = Math.ceil((WARM_FRAMES + frames) / batch);
    const warmRounds = Math.ceil(WARM_FRAMES / batch);
    for (let round = 0; round < rounds; round++) {
      const timed = round >= warmRounds;
      if (round === warmRounds) walBefore = statSync(`${path}-wal`).size;
      db.exec('BEGIN');
      batchId += 1;
      sql.batch.run(batchId, ts, leaf, batch, 'sealed');
      for (let i = 0; i < batch; i++) {
        const d = (round * batch + i) % devices;
        seqs[d] = (seqs[d] as number) + 1;
        let at = performance.now();
        const nodes = nodesForAppend(leaf, randomBytes(32), frontier);
        for (const n of nodes)
          if (mode.everyLevel || isKeptLevel(n.level)) sql.node.run(n.level, n.index, n.hash);
        frontier.remember(nodes);
        let now = performance.now();
        if (timed) t.nodes += now - at;
        at = now;
        sql.frame.run(`wr-${d}`, seqs[d], randomBytes(32), randomBytes(32), ts++, ts, leaf, batchId, i);
        now = performance.now();
        if (timed) t.frames += now - at;
        at = now;
        sql.sealed.run(leaf, d + 1, sealed);
        if (timed) t.sealed += performance.now() - at;
        leaf += 1;
      }
      const at = performance.now();
      db.exec('COMMIT');
      if (timed) {
        t.commit += performance.now() - at;
        timedCommits += 1;
      }
    }
    const timedFrames = timedCommits * batch;
    const per = (ms: number) => (ms * 1000) / timedFrames;
    const page = db.pragma('page_size', { simple: true }) as number;
    const walGrowth = statSync(`${path}-wal`).size - walBefore;
    return {
      nodes: per(t.nodes),
      frames: per(t.frames),
      sealed: per(t.sealed),
      commit: per(t.commit),
      total: per(t.nodes + t.frames + t.sealed + t.commit),
      pagesPerCommit: mode.autoCheckpoint ? null : walGrowth / (page + 24) / timedCommits,
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const MODES: readonly Mode[] = [
  { name: 'as the gateway runs (FULL, auto-checkpoint)', synchronous: 'FULL', autoCheckpoint: true },
  { name: 'FULL, no checkpoint in the commit', synchronous: 'FULL', autoCheckpoint: false },
  { name: 'NORMAL (no fsync), no checkpoint', synchronous: 'NORMAL', autoCheckpoint: false },
  {
    name: 'the same, every log level (before schema 13)',
    synchronous: 'NORMAL',
    autoCheckpoint: false,
    everyLevel: true,
  },
  { name: 'reference: OFF, no checkpoint', synchronous: 'OFF', autoCheckpoint: false },
];
const SHAPES: readonly { batch: number; devices: number; key: string }[] = [
  { batch: 10, devices: 50, key: 'B10' },
  { batch: 40, devices: 50, key: 'B40' },
  { batch: 400, devices: 50, key: 'B400' },
  { batch: 40, devices: 1, key: 'B40OneDevice' },
];
const MODE_KEYS = ['Full', 'FullNoCheckpoint', 'Normal', 'NormalEveryLevel', 'Off'] as const;

function main(): void {
  const f1 = (x: number) => x.toFixed(1).padStart(6);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`VitalTrail commit cost (io/store GatewayStore, temp file; µs per frame; ${FRAMES} frames per row)`);
  const figures: Record<string, unknown> = {
    bench: 'commit',
    date: new Date().toISOString(),
    frames: FRAMES,
  };
  for (const shape of SHAPES) {
    out(`${shape.batch} frames a commit from ${shape.devices} device${shape.devices === 1 ? '' : 's'}`);
    out('                                               nodes  frame sealed commit  total  WAL pages/commit');
    const rows = MODES.map((m) => ({ m, c: measure(m, shape.batch, shape.devices) }));
    const ref = rows.at(-1)?.c.total ?? Number.NaN;
    rows.forEach(({ m, c }, i) => {
      const pages = c.pagesPerCommit === null ? '     -' : c.pagesPerCommit.toFixed(1).padStart(6);
      out(
        `  ${m.name.padEnd(44)}${f1(c.nodes)} ${f1(c.frames)} ${f1(c.sealed)} ${f1(c.commit)} ${f1(c.total)}  ${pages}   = ${(c.total / ref).toFixed(2)} x reference`,
      );
      const k = `${shape.key}${MODE_KEYS[i]}`;
      figures[`commitUs${k}`] = Number(c.commit.toFixed(1));
      figures[`totalUs${k}`] = Number(c.total.toFixed(1));
      if (c.pagesPerCommit !== null) figures[`walPagesPerCommit${k}`] = Number(c.pagesPerCommit.toFixed(1));
    });
  }
  out(`BENCH ${JSON.stringify(figures)}`);
}

main();
