/**
 * @module test/helpers/rollup-writer-rig
 * A RollupWriter (io/ingest/rollup-writer) on a real SQLite store in a temp dir, with data
 * keys from a real ring: `commitAndFold` commits one frame per device (index rows only) and
 * folds them, as the ingest's group commit does; `rowsOf` reads a device's 1-minute rows.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DataKeyRing } from '../../gateway/src/io/data-keys/ring.js';
import { RollupWriter } from '../../gateway/src/io/ingest/rollup-writer.js';
import { RollupTable } from '../../gateway/src/io/store/rollups.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { recipientPair } from './sealed.js';
import { makeTempDir } from './tmp.js';

const MIN = 60_000;

/** The rig and what to call when done (close the store, remove the dir). */
export function rollupWriterRig(maxCached: number, createdAt: number) {
  const t = makeTempDir('vt-rollups-writer-');
  const store = openStore(join(t.dir, 'gateway.db'));
  const ring = new DataKeyRing(store, [recipientPair('care', 'ec').recipient]);
  const writer = new RollupWriter(store, { maxCached });
  let batch = 0;
  const seqs = new Map<string, number>();
  /** Commits one frame per device at `ts` (index rows only) and folds them. */
  const commitAndFold = async (devs: string[], ts: number) => {
    const frames = devs.map((dev) => {
      const seq = (seqs.get(dev) ?? 0) + 1;
      seqs.set(dev, seq);
      return { dev, seq, ts, hash: randomBytes(32), prev: randomBytes(32), leafHash: randomBytes(32) };
    });
    batch += 1;
    const leaves = store.commitBatch({ id: batch, envelope: 'x', createdAt, frames });
    const keys = await ring.takeAll(devs, createdAt);
    writer.fold(
      devs.map((dev, i) => ({
        dev,
        ts,
        obs: { hr: 60 + i },
        keyId: keys[i]?.id as number,
        key: keys[i]?.key as CryptoKey,
      })),
      leaves.at(-1) as number,
    );
  };
  /** The frames each stored 1-minute row of `dev` counts. */
  const rowsOf = (dev: string) =>
    [...new RollupTable(store).range(dev, MIN, 0, Number.MAX_SAFE_INTEGER).values()]
      .flat()
      .map((r) => r.frames);
  const done = () => {
    store.close();
    t.cleanup();
  };
  return { store, writer, commitAndFold, rowsOf, done };
}
