/**
 * @module test/e2e/shredding
 * Issue 17, "shredding that cannot hide a reading", through the whole system: the demo (its
 * embedded chain and gateway) accepts and anchors frames; `vitaltrail shred` is refused
 * while the gateway runs (the log has one writer), then, with the gateway stopped, destroys
 * the expired data keys and appends one shredding record per key to the log; the restarted
 * gateway anchors the records with its next checkpoint; `export` discloses the shredded
 * frames with the records that list them; `verify` against the chain reports them
 * `shredded` (apart from the valid ones), the records `valid`, and no gap. Needs
 * `npm run build`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type DemoProcess, startDemo } from '../helpers/demo.js';
import { makeTempDir } from '../helpers/tmp.js';

interface Report {
  verdict: string;
  summary: { total: number; valid: number; shredded: number; invalid: number };
  shreddings: { code: string; dev: string; frames: number }[];
  entries: { code: string; dev?: string; seq?: number }[];
  sequence: { gaps: unknown[] };
}

const DEMO = ['--devices', '2', '--rate', '4', '--checkpoint-interval', '0.5'];

describe('shredding records, end to end', () => {
  const tmp = makeTempDir('vt-shred-e2e-');
  let demo: DemoProcess | undefined;
  afterAll(async () => {
    await demo?.stop();
    tmp.cleanup();
  });

  /** The first device's whole export, once it holds at least `min` entries (and `shreddings` when asked). */
  async function exportWhenReady(dev: string, min: number, withRecords: boolean): Promise<string> {
    const out = join(tmp.dir, `${dev}-${withRecords ? 'after' : 'before'}.json`);
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      const r = await runCli(['export', '--data', tmp.dir, '--device', dev, '--out', out]);
      if (r.code === 0) {
        const b = JSON.parse(readFileSync(out, 'utf8')) as { entries: unknown[]; shreddings?: unknown[] };
        if (b.entries.length >= min && (!withRecords || (b.shreddings?.length ?? 0) > 0)) return out;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error(`no export of ${dev} with ${min} entries${withRecords ? ' and records' : ''}`);
  }

  test('behavior: shredded frames verify as shredded, vouched for by anchored records; shred is refused while the gateway runs', async () => {
    demo = await startDemo(tmp.dir, DEMO);
    const dev = 'wr-0001';
    await exportWhenReady(dev, 8, false);

    // One writer for the log: a running gateway refuses the shred.
    const busy = await runCli([
      'shred',
      '--retention-days',
      '0.0000001',
      '--window-minutes',
      '0.001',
      '--data',
      tmp.dir,
    ]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/data_dir_in_use/);

    await demo.stop();
    const before = JSON.parse((await runCli(['devices', '--data', tmp.dir, '--json'])).stdout) as {
      dev: string;
      frames: number;
    }[];
    const stored = before.find((d) => d.dev === dev)!.frames;
    // A tiny retention and window: every key made so far has expired.
    const shred = await runCli([
      'shred',
      '--retention-days',
      '0.0000001',
      '--window-minutes',
      '0.001',
      '--data',
      tmp.dir,
    ]);
    expect(shred.code, shred.stderr).toBe(0);
    const m = /shredded (\d+) data keys \((\d+) frames\); appended (\d+) shredding records/.exec(
      shred.stdout,
    );
    expect(m, shred.stdout).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThanOrEqual(before.length);
    expect(Number(m![2])).toBeGreaterThanOrEqual(stored);

    // Restarted, the gateway anchors the records with its next checkpoint; new frames stay readable.
    demo = await startDemo(tmp.dir, DEMO);
    const bundle = await exportWhenReady(dev, stored + 4, true);
    const ver = await runCli(['verify', bundle, '--rpc', demo.field('Chain RPC'), '--json', '--allow-gaps']);
    expect(ver.code, ver.stderr).toBe(0);
    const report = JSON.parse(ver.stdout) as Report;
    expect(report.summary.invalid).toBe(0);
    expect(report.summary.shredded).toBe(stored);
    expect(report.summary.valid).toBeGreaterThanOrEqual(4);
    expect(report.shreddings.length).toBeGreaterThan(0);
    expect(report.shreddings.every((s) => s.code === 'valid' && s.dev === dev)).toBe(true);
    // The shredded frames keep their seqs (from the records): the chain has no gap.
    expect(report.sequence.gaps).toEqual([]);
    const seqs = report.entries.filter((e) => e.code === 'shredded').map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: stored }, (_, i) => i + 1));

    // Without its records, a shredded entry is malformed: the operator cannot hide a reading by calling it shredded.
    const json = JSON.parse(readFileSync(bundle, 'utf8')) as Record<string, unknown>;
    delete json.shreddings;
    const forged = join(tmp.dir, 'forged.json');
    writeFileSync(forged, JSON.stringify(json));
    const bad = await runCli(['verify', forged, '--rpc', demo.field('Chain RPC'), '--json', '--allow-gaps']);
    expect(bad.code).toBe(1);
    const badReport = JSON.parse(bad.stdout) as Report;
    expect(badReport.verdict).toBe('INVALID');
    expect(badReport.summary).toMatchObject({ shredded: 0, invalid: stored });
  }, 240_000);
});
