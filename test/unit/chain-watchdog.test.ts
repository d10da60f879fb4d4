/**
 * The embedded chain's watchdog (io/anchoring/chain-watchdog; issue 13 item 11) over fake
 * nodes and fake timers, no processes: a node that exits is restarted after the policy's
 * backoff, failed restarts back off ever longer (no spinning), a node stopped on purpose or
 * after `stop()` is not restarted, and the events carry what the gateway logs and counts.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Deployment } from '../../anchor/src/ledger/index.js';
import { LedgerError } from '../../anchor/src/ledger/index.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import { ChainWatchdog, type ChainWatchEvents } from '../../gateway/src/io/anchoring/chain-watchdog.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';

const DEPLOYMENT: Deployment = {
  chainId: 31337,
  registry: `0x${'11'.repeat(20)}`,
  anchors: `0x${'22'.repeat(20)}`,
  deployBlock: 1,
};
const LOG_ID = `0x${'33'.repeat(32)}` as const;

interface FakeNode {
  chain: EmbeddedChain;
  /** The process dies (kill -9 from outside). */
  kill(): void;
  stopped(): boolean;
}

let nextPid = 1000;
function fakeNode(deployment = DEPLOYMENT, deployed = false): FakeNode {
  let exit: (how: string) => void = () => undefined;
  const exited = new Promise<string>((resolve) => {
    exit = resolve;
  });
  let stopped = false;
  const chain: EmbeddedChain = {
    anvil: {
      rpcUrl: 'http://127.0.0.1:1',
      port: 1,
      chainId: 31337,
      pid: nextPid++,
      state: 'loaded',
      exited,
      async stop() {
        stopped = true;
        exit('code 0');
      },
    },
    rpcUrl: 'http://127.0.0.1:1',
    deployment,
    kgcKey: `0x${'44'.repeat(32)}`,
    gatewayKey: `0x${'55'.repeat(32)}`,
    deployed,
    staleAnvilStopped: null,
  };
  return { chain, kill: () => exit('signal SIGKILL'), stopped: () => stopped };
}

/** Every event of a watchdog, in order. */
function record(w: ChainWatchdog): { event: keyof ChainWatchEvents; info: unknown; at: number }[] {
  const out: { event: keyof ChainWatchEvents; info: unknown; at: number }[] = [];
  for (const event of ['down', 'restarted', 'restart_failed'] as const) {
    w.on(event, (info: unknown) => out.push({ event, info, at: Date.now() }));
  }
  return out;
}

const paths = dataPaths('/nonexistent-vt-watchdog');

describe('chain watchdog', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('behavior: a node killed from outside is restarted after the backoff, on the previous chain; up goes false then true', async () => {
    const first = fakeNode();
    const second = fakeNode();
    const restart = vi.fn(async (prev: EmbeddedChain) => {
      expect(prev).toBe(first.chain);
      return second.chain;
    });
    const w = new ChainWatchdog(first.chain, { paths, logId: LOG_ID, restart, random: () => 0 });
    const events = record(w);
    expect(w.up).toBe(true);

    first.kill();
    await vi.advanceTimersByTimeAsync(0);
    expect(w.up).toBe(false);
    expect(events).toEqual([
      {
        event: 'down',
        info: { pid: first.chain.anvil.pid, exit: 'signal SIGKILL', retryInMs: 250 },
        at: 1_000_000,
      },
    ]);
    await vi.advanceTimersByTimeAsync(249);
    expect(restart).not.toHaveBeenCalled(); // the backoff is waited out, not skipped
    await vi.advanceTimersByTimeAsync(1);
    expect(restart).toHaveBeenCalledTimes(1);
    expect(w.up).toBe(true);
    expect(w.chain).toBe(second.chain);
    expect(w.restarts).toBe(1);
    expect(events[1]).toEqual({
      event: 'restarted',
      info: { pid: second.chain.anvil.pid, downMs: 250, deployed: false, sameContracts: true },
      at: 1_000_250,
    });
    await w.stop();
    expect(second.stopped()).toBe(true); // stop() stops the node as it runs now
  });

  test('behavior: restarts that keep failing back off ever longer — no spinning — until one succeeds', async () => {
    const first = fakeNode();
    const good = fakeNode();
    let failures = 12;
    const restart = vi.fn(async () => {
      if (failures-- > 0) throw new LedgerError('anvil_failed', 'the port is already in use on 127.0.0.1');
      return good.chain;
    });
    const w = new ChainWatchdog(first.chain, { paths, logId: LOG_ID, restart, random: () => 0.999 });
    const events = record(w);
    first.kill();
    await vi.advanceTimersByTimeAsync(60_000);
    // 0.5 + 1 + 2 + 4 + 8 + 16 + 30 s ceilings: at most 7 attempts in the first minute.
    expect(restart.mock.calls.length).toBeLessThanOrEqual(7);
    expect(restart.mock.calls.length).toBeGreaterThanOrEqual(5);
    await vi.advanceTimersByTimeAsync(10 * 30_000);
    expect(restart).toHaveBeenCalledTimes(13);
    const failed = events.filter((e) => e.event === 'restart_failed');
    expect(failed).toHaveLength(12);
    expect(failed[0]?.info).toMatchObject({ code: 'anvil_failed' });
    const gaps = failed.map((e, i) => e.at - (i === 0 ? 1_000_000 : (failed[i - 1]?.at as number)));
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1] as number);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(30_000);
    expect(w.up).toBe(true);
    expect(w.chain).toBe(good.chain);
    await w.stop();
  });

  test('behavior: a node that dies right after each restart is not forgiven: the delays keep growing', async () => {
    const first = fakeNode();
    const restart = vi.fn(async () => {
      const n = fakeNode();
      setTimeout(() => n.kill(), 100); // up for 0.1 s only
      return n.chain;
    });
    const w = new ChainWatchdog(first.chain, { paths, logId: LOG_ID, restart, random: () => 0 });
    const events = record(w);
    first.kill();
    await vi.advanceTimersByTimeAsync(10_000);
    const retries = events
      .filter((e) => e.event === 'down')
      .map((e) => (e.info as { retryInMs: number }).retryInMs);
    expect(retries.slice(0, 5)).toEqual([250, 500, 1000, 2000, 4000]);
    await w.close();
  });

  test('behavior: stop() stops watching — the node stopped on purpose is not restarted, nor one killed after', async () => {
    const first = fakeNode();
    const restart = vi.fn(async () => fakeNode().chain);
    const w = new ChainWatchdog(first.chain, { paths, logId: LOG_ID, restart });
    const events = record(w);
    await w.stop();
    expect(first.stopped()).toBe(true);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(restart).not.toHaveBeenCalled();
    expect(events).toEqual([]);
  });

  test('behavior: close() during a pending restart cancels it; a restart in flight ends with its node stopped', async () => {
    const first = fakeNode();
    const w1 = new ChainWatchdog(first.chain, { paths, logId: LOG_ID, restart: vi.fn(), random: () => 0 });
    first.kill();
    await vi.advanceTimersByTimeAsync(0);
    await w1.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w1.restarts).toBe(0);

    const a = fakeNode();
    const b = fakeNode();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const w2 = new ChainWatchdog(a.chain, {
      paths,
      logId: LOG_ID,
      random: () => 0,
      restart: async () => {
        await gate;
        return b.chain;
      },
    });
    a.kill();
    await vi.advanceTimersByTimeAsync(250); // the attempt has begun
    const closing = w2.close();
    release();
    await closing;
    expect(b.stopped()).toBe(true);
    expect(w2.chain).toBe(a.chain);
  });

  test('behavior: a restarted node with other contract addresses is reported (sameContracts false)', async () => {
    const first = fakeNode();
    const moved = fakeNode({ ...DEPLOYMENT, anchors: `0x${'66'.repeat(20)}` }, true);
    const w = new ChainWatchdog(first.chain, {
      paths,
      logId: LOG_ID,
      random: () => 0,
      restart: async () => moved.chain,
    });
    const events = record(w);
    first.kill();
    await vi.advanceTimersByTimeAsync(250);
    expect(events.at(-1)?.info).toMatchObject({ deployed: true, sameContracts: false });
    await w.stop();
  });

  test('error: a policy that could spin is refused', () => {
    expect(
      () => new ChainWatchdog(fakeNode().chain, { paths, logId: LOG_ID, policy: { minDelayMs: 0 } }),
    ).toThrow(RangeError);
  });
});
