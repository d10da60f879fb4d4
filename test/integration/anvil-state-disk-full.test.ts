/**
 * @module test/integration/anvil-state-disk-full
 * The embedded chain's state file (anchor/ledger/state-keeper) on a real full disk: a 1 MB
 * tmpfs filled to its last byte. A write that fails leaves the last state whole (anvil's own
 * in-place rewrite would have torn it), is told once however many blocks follow, and once
 * space is back the next block is written.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPublicClient, createTestClient, http } from 'viem';
import { describe, expect, it } from 'vitest';
import { startAnvil } from '../../anchor/src/ledger/index.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';

const mnt = tmpfsForTests('vt-anvil-full-', '1m');

describe('the embedded chain state on a full disk', () => {
  it('behavior: a failed write leaves the last state whole and is told once; with space back the next block is written', async () => {
    const file = join(mnt, 'anvil-state.json');
    const told: string[] = [];
    const n = await startAnvil({
      stateFile: file,
      onStateError: (err) => told.push((err as NodeJS.ErrnoException).code ?? 'unknown'),
    });
    try {
      const test = createTestClient({ mode: 'anvil', transport: http(n.rpcUrl) });
      const head = async () =>
        Number(await createPublicClient({ transport: http(n.rpcUrl) }).getBlockNumber());
      const onDisk = () => {
        try {
          return Number(
            (JSON.parse(readFileSync(file, 'utf8')) as { best_block_number: number }).best_block_number,
          );
        } catch {
          return -1; // not there yet, or torn
        }
      };
      const until = async (ok: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!ok() && Date.now() < deadline) await sleep(100);
      };
      await test.mine({ blocks: 1 });
      await until(() => onDisk() === 1);
      expect(onDisk()).toBe(1);

      const filler = fillFileSystem(mnt);
      await test.mine({ blocks: 1 });
      await until(() => told.length > 0);
      await test.mine({ blocks: 1 });
      await sleep(2500); // two more polls at least, each failing
      expect(told).toEqual(['ENOSPC']); // once, not at every poll
      expect(onDisk()).toBe(1); // the last state written, whole

      rmSync(filler);
      await until(() => onDisk() === 3);
      expect(onDisk()).toBe(await head());
      expect(told).toEqual(['ENOSPC']);
    } finally {
      await n.stop();
    }
  });
});
