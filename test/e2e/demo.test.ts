/**
 * `vitaltrail demo` (what `npm start` runs), as a newcomer uses it: start it, open the
 * printed dashboard URL in a real browser, log in with the printed credentials, and see
 * the 20 simulated patients updating live. Then Ctrl-C (SIGINT) and start again on the
 * same data directory: it resumes — same chain and contracts, the log and each device's
 * hash chain continue, nothing is rejected.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { type DemoProcess, startDemo } from '../helpers/demo.js';
import { call } from '../helpers/http-client.js';
import { blockFile, makeTempDir } from '../helpers/tmp.js';

describe('vitaltrail demo', () => {
  const tmp = makeTempDir('vt-demo-');
  const running: DemoProcess[] = [];
  afterAll(async () => {
    for (const d of running) await d.stop();
    tmp.cleanup();
  });

  test('behavior: the dashboard shows 20 patients updating live within 60 s; Ctrl-C and a restart resume', async () => {
    const t0 = Date.now();
    const demo = await startDemo(tmp.dir, ['--checkpoint-interval', '1']);
    running.push(demo);
    const url = demo.field('Dashboard');
    const rpc = demo.field('Chain RPC');
    const anchors = demo.field('Anchors');
    expect(demo.out()).toMatch(/Log in as:\s+admin, password in \S+initial-admin-password/);
    const password = readFileSync(`${tmp.dir}/gateway/initial-admin-password`, 'utf8').trim();

    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      await page.goto(url);
      await page.locator('#login').waitFor({ state: 'visible' });
      await page.fill('#username', 'admin');
      await page.fill('#password', password);
      await page.click('#login-submit');
      await expect.poll(() => page.locator('.tile').count(), { timeout: 30_000 }).toBe(20);
      // Live: a heart rate on the ward changes without a reload.
      const hrs = () => page.locator('.tile [data-field="hr"]').allTextContents();
      await expect
        .poll(async () => (await hrs()).filter((t) => /\d/.test(t)).length, { timeout: 20_000 })
        .toBe(20);
      const before = (await hrs()).join('|');
      await expect.poll(async () => (await hrs()).join('|'), { timeout: 20_000 }).not.toBe(before);
      expect(Date.now() - t0).toBeLessThan(60_000);
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/demo-ward.png', fullPage: true });
    } finally {
      await browser.close();
    }

    // Issue 18: the demo's doctor and patient, each with a password file of its own (0600).
    expect(demo.out()).toMatch(/Doctor:\s+http\S+\/doctor\/\s+as dr-demo, password in \S+dr-demo\.password/);
    expect(demo.out()).toMatch(/Patient:\s+http\S+\/patient\/\s+as patient-demo \(DEMO-0001, Bed 1\)/);
    const signIn = async (username: string) => {
      const file = `${tmp.dir}/gateway/demo-accounts/${username}.password`;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const password = readFileSync(file, 'utf8').trim();
      const r = await call(url.replace(/\/$/, ''), 'POST', '/api/login', undefined, { username, password });
      expect(r.status).toBe(200);
      return (await call(url.replace(/\/$/, ''), 'GET', '/api/care/me', r.cookie)).body;
    };
    const patientMe = await signIn('patient-demo');
    expect(patientMe).toMatchObject({ role: 'patient', patientKey: { address: null } });
    expect(JSON.stringify(patientMe)).not.toContain('DEMO-0001'); // the pseudonym only
    expect(await signIn('dr-demo')).toMatchObject({ role: 'doctor', chain: { chainId: expect.any(Number) } });

    await demo.stop();
    expect(demo.out()).toContain('stopped. Run the same command again to resume.');
    const first = JSON.parse((await runCli(['devices', '--data', tmp.dir, '--json'])).stdout) as {
      dev: string;
      lastSeq: number;
      frames: number;
    }[];
    expect(first).toHaveLength(20);
    expect(first.every((d) => d.lastSeq > 0 && d.frames === d.lastSeq)).toBe(true);

    const again = await startDemo(tmp.dir, ['--checkpoint-interval', '1']);
    running.push(again);
    expect(again.field('Anchors')).toBe(anchors); // contracts deployed once, addresses kept
    expect(again.out()).not.toContain('contracts deployed now');
    expect(again.out()).toMatch(/Patient:\s+\S+\s+as patient-demo/); // found again, not made twice
    // A device whose state cannot be saved (here a directory where its file was; a full disk
    // in the field) is told once, with its reason, not at every save (one a second).
    const state3 = join(tmp.dir, 'devices', 'wr-0003', 'state.json');
    // Blocked once wr-0003 has sent again: its first frame after the restart reserves its next
    // seqs (a save of its own, told as a failure to make a frame if it cannot be written). The
    // wearables of a ward send spread over the second, so that frame may come up to 1 s after
    // the start; blocked before it, the device would tell that failure too.
    const sentAgain = async () => {
      const rows = JSON.parse(
        (await runCli(['devices', '--data', tmp.dir, '--json'])).stdout,
      ) as typeof first;
      const was = first.find((d) => d.dev === 'wr-0003')?.lastSeq ?? 0;
      return (rows.find((d) => d.dev === 'wr-0003')?.lastSeq ?? 0) > was;
    };
    await expect.poll(sentAgain, { timeout: 15_000, interval: 250 }).toBe(true);
    blockFile(state3);
    await new Promise((r) => setTimeout(r, 3500));
    await again.stop();
    rmSync(state3, { recursive: true });
    const told = again
      .out()
      .split('\n')
      .filter((l) => l.includes('"simulated device error"') && l.includes('"dev":"wr-0003"'));
    expect(told, again.out()).toHaveLength(1);
    expect(told[0]).toMatch(/"reason":"EISDIR/);
    const second = JSON.parse(
      (await runCli(['devices', '--data', tmp.dir, '--json'])).stdout,
    ) as typeof first;
    for (const d of second) {
      const prev = first.find((f) => f.dev === d.dev)!;
      expect(d.lastSeq).toBeGreaterThan(prev.lastSeq); // each device's chain continued
      expect(d.frames).toBe(d.lastSeq); // no gap, no reuse: the saved state resumed exactly
    }
    expect(rpc).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('error: a torn device state file stops the demo with its code and the file named, and nothing is left running', async () => {
    const torn = makeTempDir('vt-demo-torn-');
    try {
      const state = join(torn.dir, 'devices', 'wr-0002', 'state.json');
      mkdirSync(join(torn.dir, 'devices', 'wr-0002'), { recursive: true });
      writeFileSync(state, '{"format":');
      // It fails once the gateway is up (the ward's devices start after it): the gateway and
      // the chain are stopped before the error is told and the process ends.
      const args = ['demo', '--data', torn.dir, '--http-port', '0', '--mqtt-port', '0', '--chain-port', '0'];
      const r = await runCli([...args, '--devices', '3'], { timeoutMs: 120_000 });
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain(`error: bad_state_file: ${state}: the device state file is not JSON`);
      expect(r.stdout).not.toContain('Press Ctrl-C');
      // The data directory was let go: with the file mended, the same command starts.
      rmSync(state);
      const again = await startDemo(torn.dir, ['--devices', '3'], 90_000);
      running.push(again);
      expect(again.out()).toContain('Ward:        3 simulated wearables');
      await again.stop();
      expect(again.child.exitCode).toBe(0);
    } finally {
      torn.cleanup();
    }
  }, 240_000);
});
