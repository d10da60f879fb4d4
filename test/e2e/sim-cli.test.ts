/**
 * @module test/e2e/sim-cli
 * The built `vitaltrail sim` as a user runs it against a real gateway. README "Simulated
 * attacks": the summary's bad frames sent and rejections by code agree with each other and
 * with the gateway's own counts, and every good frame is acked. A sim stopped with Ctrl-C
 * (SIGINT) says so once and exits 0. A device whose state cannot be saved is told with its
 * reason, and the run exits 1 after its summary; the same for one on a serial line (`--serial`,
 * a pty pair made by socat), whose run ends there instead of crashing.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { BIN, runCli } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { type PtyPair, startPtyPair } from '../helpers/socat.js';
import { blockFile, makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;
/** The serial line of wr-0004: the gateway on `a`, the simulated wearable on `b`. */
let pty: PtyPair;

beforeAll(async () => {
  tmp = makeTempDir('vt-sim-cli-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001', 'wr-0002', 'wr-0003', 'wr-0004']);
  pty = await startPtyPair(tmp.dir);
  gw = (await startGateway({
    dataDir: paths.root,
    logger: silentLogger,
    serial: [{ path: pty.a, devices: ['wr-0004'] }],
  })) as RunningGateway;
});
afterAll(async () => {
  await gw?.stop();
  await pty?.stop();
  tmp.cleanup();
});

/** `k=n k=n …` → counts. */
const countsOf = (s: string | undefined): Record<string, number> =>
  Object.fromEntries(
    (s ?? '')
      .trim()
      .split(/\s+/)
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.split('=')[0] as string, Number(kv.split('=')[1])]),
  );

/** Starts the built `vitaltrail sim` with `args`; resolves once it says it is simulating. */
async function startSim(args: string[]): Promise<{
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}> {
  const child = spawn(
    process.execPath,
    [BIN, 'sim', '--mqtt', gw.broker.url, '--data', paths.root, ...args],
    {
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((started, failed) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('simulating ')) started();
    });
    child.once('close', () => failed(new Error(`the sim exited before it started: ${stderr}`)));
  });
  return { child, out: () => stdout, err: () => stderr, exited };
}

/** The summary lines (`stopped: …`) a run printed. */
const summaries = (stdout: string): string[] => stdout.split('\n').filter((l) => l.startsWith('stopped: '));

/** Makes a device's state file a directory: its next save fails (EISDIR, even for root). */
const tearState = (devId: string): string => {
  const state = join(paths.deviceDir(devId), 'state.json');
  blockFile(state);
  return state;
};

describe('vitaltrail sim', () => {
  it('behavior: the summary counts the bad frames sent and their rejections by code, and the two agree with the gateway', async () => {
    const r = await runCli(
      [
        'sim',
        '--devices',
        '2',
        '--rate',
        '20',
        '--duration',
        '2',
        '--forge',
        '0.2',
        '--replay',
        '0.2',
        '--skew',
        '600000',
        '--skew-fraction',
        '0.2',
        '--wrong-key',
        '0.2',
        '--unknown',
        '0.1',
        '--mqtt',
        gw.broker.url,
        '--data',
        paths.root,
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const m =
      /stopped: made (\d+), faults sent ([^,]*), acked (\d+), in outbox (\d+), rejected ([^,]*),/.exec(
        r.stdout,
      );
    expect(m, r.stdout).not.toBeNull();
    const [, made, sentText, acked, inOutbox, rejectedText] = m as RegExpExecArray;
    expect(Number(made)).toBe(80); // 2 devices, 20 Hz, 2 s
    expect(Number(acked)).toBe(80);
    expect(Number(inOutbox)).toBe(0);
    const sent = countsOf(sentText);
    for (const kind of ['forge', 'replay', 'skew', 'wrongKey', 'unknown'])
      expect(sent[kind], kind).toBeGreaterThan(0);
    const want = {
      bad_signature: (sent.forge ?? 0) + (sent.wrongKey ?? 0),
      clock_skew: sent.skew,
      replay_conflict: sent.replay,
      unknown_device: sent.unknown,
    };
    expect(countsOf(rejectedText)).toEqual(want);
    await gw.ingest.drain();
    expect(gw.store.rejectionCounts()).toEqual(want);
  }, 90_000);

  it('behavior: Ctrl-C stops the sim once: one summary, exit 0, every frame made acked', async () => {
    const { child, out: stdout, err: stderr, exited } = await startSim(['--ids', 'wr-0003', '--rate', '10']);
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGINT');
    expect(await exited, stderr()).toBe(0);
    const stops = summaries(stdout());
    expect(stops, stdout()).toHaveLength(1);
    const m = /stopped: made (\d+), acked (\d+), in outbox 0, rejected 0,/.exec(stops[0] as string);
    expect(m, stops[0]).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(0);
    expect(m?.[2]).toBe(m?.[1]);
  }, 60_000);

  it('error: a device whose state cannot be saved is told with its reason, and the run exits 1 after its summary', async () => {
    const { out, err, exited } = await startSim(['--ids', 'wr-0002', '--rate', '100', '--duration', '3']);
    // The next reservation of seqs, at frame 101, cannot be made durable: the device stops.
    const state = tearState('wr-0002');
    try {
      expect(await exited, out()).toBe(1);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
    const told = err()
      .split('\n')
      .filter((l) => l.startsWith('device wr-0002: '));
    expect(told.length, err()).toBeGreaterThanOrEqual(1);
    expect(told[0]).toMatch(/EISDIR|directory/i);
    const stops = summaries(out());
    expect(stops, out()).toHaveLength(1);
    expect(stops[0]).toMatch(/^stopped: made (\d+), acked \1, in outbox 0, rejected 0,/);
  }, 60_000);

  it('behavior: a serial wearable stopped with Ctrl-C says so once and exits 0, every frame acked', async () => {
    const before = gw.store.size;
    const { child, out, err, exited } = await startSim([
      '--ids',
      'wr-0004',
      '--serial',
      pty.b,
      '--rate',
      '10',
    ]);
    await until(() => gw.store.size > before, 10_000, 'a serial frame stored');
    child.kill('SIGINT');
    expect(await exited, err()).toBe(0);
    const stops = summaries(out());
    expect(stops, out()).toHaveLength(1);
    expect(stops[0]).toMatch(/^stopped: made (\d+), acked \1, in outbox 0, rejected 0,/);
  }, 60_000);

  it('error: a serial wearable whose state cannot be saved ends its run with the reason and its summary, exit 1, no crash', async () => {
    const { out, err, exited } = await startSim([
      '--ids',
      'wr-0004',
      '--serial',
      pty.b,
      '--rate',
      '100',
      '--duration',
      '20',
    ]);
    const state = tearState('wr-0004');
    try {
      expect(await exited, out() + err()).toBe(1);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
    expect(err()).toMatch(/^device wr-0004: .*(EISDIR|directory)/im);
    expect(err()).not.toMatch(/^\s+at /m); // no stack trace
    const stops = summaries(out());
    expect(stops, out()).toHaveLength(1);
  }, 60_000);
});
