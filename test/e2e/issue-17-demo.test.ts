/**
 * @module test/e2e/issue-17-demo
 * Issue 17's demonstration, as the README runs it: `vitaltrail demo` (its embedded chain, its
 * gateway), then `vitaltrail sim --enroll` adding wearables on the demo's broker. The new
 * devices are registered on the demo's chain before their first frame, nothing of theirs is
 * rejected, and every frame the gateway accepted from them verifies against the chain
 * (before the fix, 310 of 320 stayed `untrusted_certificate` for ever). Needs `npm run build`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type DemoProcess, startDemo } from '../helpers/demo.js';
import { makeTempDir } from '../helpers/tmp.js';

const SIM = ['ward2-0001', 'ward2-0002', 'ward2-0003'];

interface VerifyReport {
  summary: { total: number; valid: number; invalid: number };
  entries: { code: string }[];
}

describe('issue 17: a demo run with sim --enroll devices', () => {
  const tmp = makeTempDir('vt-issue-17-demo-');
  let demo: DemoProcess | undefined;
  afterAll(async () => {
    await demo?.stop();
    tmp.cleanup();
  });

  test('behavior: every frame accepted from the sim --enroll devices verifies against the chain', async () => {
    demo = await startDemo(tmp.dir, ['--devices', '2', '--rate', '2', '--checkpoint-interval', '0.5']);
    const mqttUrl = demo.field('MQTT');
    const rpc = demo.field('Chain RPC');
    const sim = await runCli(
      [
        'sim',
        '--enroll',
        '--devices',
        String(SIM.length),
        '--prefix',
        'ward2-',
        '--rate',
        '10',
        '--duration',
        '3',
        '--mqtt',
        mqttUrl,
        '--data',
        tmp.dir,
      ],
      { timeoutMs: 90_000 },
    );
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toContain(`registered on chain: ${SIM.length} now, 0 already`);
    expect(sim.stdout).toMatch(/stopped: made \d+, acked \d+, in outbox 0, rejected 0,/);

    const devices = JSON.parse((await runCli(['devices', '--data', tmp.dir, '--json'])).stdout) as {
      dev: string;
      frames: number;
    }[];
    for (const dev of SIM) {
      const accepted = devices.find((d) => d.dev === dev)?.frames ?? 0;
      expect(accepted, dev).toBeGreaterThan(20);
      // Exported once every frame is anchored (the demo anchors every half second).
      const bundle = join(tmp.dir, `${dev}.json`);
      let report: VerifyReport | undefined;
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        const exp = await runCli(['export', '--data', tmp.dir, '--device', dev, '--out', bundle]);
        if (exp.code === 0 && JSON.parse(readFileSync(bundle, 'utf8')).entries.length === accepted) {
          const ver = await runCli(['verify', bundle, '--rpc', rpc, '--json']);
          report = JSON.parse(ver.stdout) as VerifyReport;
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(report, `${dev}: every accepted frame exported`).toBeDefined();
      expect(
        report!.entries.filter((e) => e.code !== 'valid'),
        dev,
      ).toEqual([]);
      expect(report!.summary, dev).toMatchObject({ total: accepted, valid: accepted, invalid: 0 });
    }
  }, 180_000);
});
