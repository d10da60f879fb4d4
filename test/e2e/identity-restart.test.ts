/**
 * @module test/e2e/identity-restart
 * Replays across restarts (issue 3; PROTOCOL.md §1 "(dev, seq) was not accepted before"):
 * the built `vitaltrail gateway` runs in a child process; 100 frames are accepted over
 * MQTT, then after a graceful stop (SIGTERM) and after `kill -9` the same bytes are
 * deduplicated (PUBACK, not stored again) and other bytes for the same seq numbers are
 * rejected `replay_conflict` — the high-water mark and seen-set live in the store.
 * Needs `npm run build` first (npm test does it).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../../gateway/src/io/ops/audit.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { decodeFrame, signFrame } from '../../gateway/src/protocol/frame.js';
import { ANY_PORTS, exitOf, spawnGateway } from '../helpers/cli.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let child: ChildProcess | undefined;

beforeAll(async () => {
  tmp = makeTempDir('vt-restart-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), [DEV]);
});
afterAll(() => {
  child?.kill('SIGKILL');
  tmp.cleanup();
});

/** Starts `vitaltrail gateway` on the data dir and resolves with its plain MQTT URL once ready. */
async function startChild(): Promise<string> {
  const g = spawnGateway(['--data', paths.root, ...ANY_PORTS]);
  child = g.child;
  return (await g.ready).mqtt as string;
}

const exited = exitOf;

async function session(
  url: string,
): Promise<{ client: MqttClient; rejects: { seq: number; code: string }[] }> {
  const client = await mqtt.connectAsync(url, { clientId: DEV, reconnectPeriod: 0, protocolVersion: 4 });
  const rejects: { seq: number; code: string }[] = [];
  client.on('message', (_t, m) => rejects.push(JSON.parse(m.toString()) as { seq: number; code: string }));
  await client.subscribeAsync(`vt/v1/dev/${DEV}/rejects`, { qos: 1 });
  return { client, rejects };
}

const TOPIC = `vt/v1/dev/${DEV}/frames`;

async function publishAll(client: MqttClient, frames: Uint8Array[]): Promise<void> {
  await Promise.all(frames.map((f) => client.publishAsync(TOPIC, Buffer.from(f), { qos: 1 })));
}

async function waitForCount<T>(arr: T[], n: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (arr.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

function storedCount(): number {
  const store = openStore(paths.db);
  try {
    return store.listDevices().find((d) => d.dev === DEV)?.frameCount ?? -1;
  } finally {
    store.close();
  }
}

describe('replays after restarts', () => {
  it('behavior: 100 accepted frames replayed after SIGTERM and after kill -9 are deduplicated or replay_conflict; none stored twice', async () => {
    const chain = new FrameChain(DEV, deviceKey(paths, DEV));
    const first = Array.from({ length: 100 }, () => chain.next());
    // Same (dev, seq), different bytes: a replay of the seq with another reading.
    const conflicting = first.map((f) =>
      signFrame({ ...decodeFrame(f).body, obs: { hr: 130, spo2: 90 } }, deviceKey(paths, DEV)),
    );

    let url = await startChild();
    let s = await session(url);
    await publishAll(s.client, first); // every PUBACK means durable
    await s.client.endAsync();
    child?.kill('SIGTERM');
    expect(await exited(child as ChildProcess)).toBe(0);
    expect(storedCount()).toBe(100);

    // After a graceful restart.
    url = await startChild();
    s = await session(url);
    await publishAll(s.client, first);
    await publishAll(s.client, conflicting);
    await waitForCount(s.rejects, 100);
    expect(s.rejects).toHaveLength(100);
    expect(new Set(s.rejects.map((r) => r.code))).toEqual(new Set(['replay_conflict']));
    const more = Array.from({ length: 50 }, () => chain.next());
    await publishAll(s.client, more);
    // kill -9 right after the PUBACKs: nothing acknowledged may be lost, nothing replayed stored.
    child?.kill('SIGKILL');
    await exited(child as ChildProcess);
    s.client.end(true);

    url = await startChild();
    s = await session(url);
    await publishAll(s.client, [...first, ...more]);
    await publishAll(s.client, conflicting);
    await waitForCount(s.rejects, 100);
    expect(s.rejects.map((r) => r.code)).toEqual(Array(100).fill('replay_conflict'));
    await s.client.endAsync();
    child?.kill('SIGTERM');
    expect(await exited(child as ChildProcess)).toBe(0);
    expect(storedCount()).toBe(150);
    // Every rejection was audited, and the log survived the kill -9 intact (or was repaired).
    const audit = verifyAuditLog(paths.gatewayDir);
    expect(audit.ok).toBe(true);
  }, 90_000);
});
