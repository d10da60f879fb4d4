/**
 * @module test/integration/rollup-cache
 * The rollup writer's window cache past its bound (io/ingest/rollup-writer `#evict`, CLOCK):
 * a window folded again since it came in keeps its place, one not folded since goes, and a
 * window that went is read back from the table and checked against the index when its next
 * frame comes. Real parts: a SQLite store in a temp dir, a data key ring, node:crypto. Which
 * windows stayed is told by rows removed behind the writer's back: a window still cached
 * writes its rows again from memory; one read back finds them short of the index and is
 * torn (its rows removed until a trend writes them again).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { ROLLUP_RESOLUTIONS, windowOf } from '../../gateway/src/core/rollup.js';
import { RollupTable } from '../../gateway/src/io/store/rollups.js';
import { rollupWriterRig } from '../helpers/rollup-writer-rig.js';

const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);
const cleanups: (() => unknown)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('rollup writer cache', () => {
  test('behavior: past the bound, a window folded since it came in stays and one not folded since goes', async () => {
    const { store, writer, commitAndFold, rowsOf, done } = rollupWriterRig(4, T0); // 2 windows a device
    cleanups.push(done);
    await commitAndFold(['a', 'b'], T0);
    while (!writer.flush());
    await commitAndFold(['a'], T0 + 1000); // a's windows folded again: their second chance
    while (!writer.flush());
    await commitAndFold(['c'], T0); // 6 windows, over the bound of 4: b's go, a's stay
    while (!writer.flush());
    expect(rowsOf('a')).toEqual([2]);
    expect(rowsOf('b')).toEqual([1]);

    // Every row of a and b removed behind the writer's back, then one frame more for each.
    const table = new RollupTable(store);
    for (const dev of ['a', 'b'])
      for (const res of ROLLUP_RESOLUTIONS) table.deleteWindow(dev, res, windowOf(T0, res));
    const tornBefore = writer.stats.torn;
    await commitAndFold(['a', 'b'], T0 + 2000);
    while (!writer.flush());
    expect(rowsOf('a')).toEqual([3]); // cached: its rows written again from memory, every frame counted
    expect(rowsOf('b')).toEqual([]); // read back: short of the index's 2 frames, torn
    expect(writer.stats.torn - tornBefore).toBe(2);
  });
});
