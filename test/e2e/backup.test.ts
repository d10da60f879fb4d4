/**
 * @module test/e2e/backup
 * Issue 16: an online backup (`vitaltrail backup`) of a running gateway's data directory,
 * taken while simulated wearables publish over MQTT and checkpoints are anchored on a real
 * anvil node; then `vitaltrail restore` into a fresh directory and a gateway started on it.
 * Real parts throughout: the embedded aedes broker, SQLite, anvil, firmware-sim's Fleet.
 * The commands run in-process through the CLI's own program (`buildProgram`).
 *
 * What the protocol gives after a restore (PROTOCOL.md §1): frames acknowledged after the
 * snapshot are gone from the restored store, and the devices do not resend them (a frame
 * leaves the device's outbox at its PUBACK). A device resumes with its next seq, whose
 * `prev` names a frame the restored store lacks: it is accepted with a gap before it
 * (`devices gaps`), exactly as after a device-side loss.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { buildProgram } from '../../gateway/src/cli/main.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import { integrityCheck } from '../../gateway/src/io/ops/backup.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore, readFrameKeys } from '../../gateway/src/io/store/store.js';
import { deviceKey, prepareAnchoredDataDir, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEVICES = ['wr-0001', 'wr-0002', 'wr-0003'];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs `vitaltrail …args` in-process; resolves with what it printed, rejects with its error. */
async function vitaltrail(args: string[]): Promise<string> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await (await buildProgram()).parseAsync(['node', 'vitaltrail', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

function frameKeys(db: string): Map<string, string> {
  return new Map([...readFrameKeys(db)].map((k) => [`${k.dev}/${k.seq}`, k.hash.toString('hex')]));
}

const tmp = makeTempDir('vt-backup-');
const running: { gw?: RunningGateway; chain?: EmbeddedChain; fleet?: Fleet } = {};
afterAll(async () => {
  await running.fleet?.stop(1000);
  await running.gw?.stop();
  await running.chain?.anvil.stop();
  tmp.cleanup();
});

describe('vitaltrail backup / restore of a running gateway', () => {
  test('behavior: a backup under load restores into a gateway whose log verifies and on which the devices resume', async () => {
    const dataDir = join(tmp.dir, 'data');
    const { paths, chain } = await prepareAnchoredDataDir(dataDir, DEVICES);
    running.chain = chain;
    const gw = await startGateway({
      dataDir,
      logger: silentLogger,
      checkpointIntervalMs: 200,
      ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
    });
    running.gw = gw;
    // The wearables' own memory (seq, prev, reservation): on the devices, not in DATA.
    const stateDir = join(tmp.dir, 'wearables');
    mkdirSync(stateDir);
    const specs = DEVICES.map((devId) => ({
      devId,
      privateKey: deviceKey(paths, devId),
      statePath: join(stateDir, `${devId}.json`),
    }));
    running.fleet = await Fleet.start({ url: gw.broker.url, devices: specs, rateHz: 40 });
    await until(
      () => gw.store.size >= 120 && (gw.anchorer?.status().lastAnchoredSize ?? 0) > 0,
      30_000,
      'frames stored and a checkpoint anchored',
    );

    // Every frame acknowledged before the backup began is committed now (PUBACK follows the commit).
    const ackedBefore = frameKeys(paths.db);
    const out = await vitaltrail(['backup', '--data', dataDir, '--out', join(tmp.dir, 'backup')]);
    expect(out).toMatch(/^backed up to .*: \d+ files, \d+ bytes; .* integrity ok\n$/);
    const manifest = JSON.parse(readFileSync(join(tmp.dir, 'backup', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'vitaltrail-backup/1', integrityCheck: 'ok' });
    expect(manifest.store.schemaVersion).toBeGreaterThanOrEqual(5);
    expect(manifest.store.origin).toBe('vitaltrail/gw-1');
    expect(manifest.store.treeSize).toBeGreaterThanOrEqual(ackedBefore.size);
    expect(manifest.store.lastAnchored.treeSize).toBeGreaterThan(0);
    const listed = manifest.files.map((f: { path: string }) => f.path);
    for (const p of [
      'gateway/gateway.db',
      'gateway/checkpoint.key.pem',
      'gateway/audit.log',
      'kgc/root.cert.pem',
    ])
      expect(listed).toContain(p);
    expect(listed.filter((p: string) => /-wal$|-shm$|\.lock$|endpoint\.json$/.test(p))).toEqual([]);
    expect(manifest.audit.intact).toBe(true);

    // The load goes on past the snapshot, then the gateway stops (devices keep their state).
    await until(() => gw.store.size >= manifest.store.treeSize + 60, 30_000, 'frames after the backup');
    const first = await running.fleet.stop();
    running.fleet = undefined;
    expect(first.rejected).toEqual({});
    expect(first.inOutbox).toBe(0);
    const lastAcked = new Map(gw.store.listDevices().map((d) => [d.dev, d.lastSeq ?? 0]));
    const finalSize = gw.store.size;
    await gw.stop();
    running.gw = undefined;

    // Restore into a fresh directory: hashes first, then the copy, then its store's checks.
    const restoredDir = join(tmp.dir, 'restored');
    const restoredOut = await vitaltrail([
      'restore',
      '--from',
      join(tmp.dir, 'backup'),
      '--data',
      restoredDir,
    ]);
    expect(restoredOut).toMatch(/^restored into /);
    const restored = dataPaths(restoredDir);
    expect(integrityCheck(restored.db)).toBe('ok');
    const keys = frameKeys(restored.db);
    const missing = [...ackedBefore].filter(([k, h]) => keys.get(k) !== h).map(([k]) => k);
    expect(missing).toEqual([]);
    expect(statSync(join(restored.gatewayDir, 'checkpoint.key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(restored.deviceDir('wr-0001'), 'device.key.pem')).mode & 0o777).toBe(0o600);

    // The restored log: the manifest's size and root, and every checkpoint a root of it.
    const restoredLast = new Map<string, number>();
    {
      const store = openStore(restored.db);
      try {
        expect(store.size).toBe(manifest.store.treeSize);
        expect(store.size).toBeLessThan(finalSize); // frames acked after the snapshot are not in it
        expect(hex(store.root())).toBe(manifest.store.root);
        const cps = [...store.anchoredCheckpoints(), ...store.pendingCheckpoints()];
        expect(cps.length).toBeGreaterThan(0);
        for (const c of cps) {
          expect(c.treeSize).toBeLessThanOrEqual(store.size);
          expect(hex(store.root(c.treeSize))).toBe(hex(c.root));
        }
        for (const d of store.listDevices()) restoredLast.set(d.dev, d.lastSeq ?? 0);
      } finally {
        store.close();
      }
    }

    // A gateway on the restored directory (no ledger: the chain holds anchors of the old tail,
    // see README "Backup and restore"); the same devices resume their chains on it.
    const gw2 = await startGateway({ dataDir: restoredDir, logger: silentLogger });
    running.gw = gw2;
    expect(gw2.logId).toBe(gw.logId);
    running.fleet = await Fleet.start({ url: gw2.broker.url, devices: specs, rateHz: 40, maxFrames: 10 });
    await running.fleet.finished;
    const second = await running.fleet.stop();
    running.fleet = undefined;
    expect(second).toMatchObject({ acked: 30, rejected: {}, inOutbox: 0 });
    expect(gw2.store.size).toBe(manifest.store.treeSize + 30);
    for (const dev of DEVICES) {
      const before = restoredLast.get(dev) ?? 0;
      const acked = lastAcked.get(dev) ?? 0;
      expect(acked).toBeGreaterThan(before);
      // Seqs after the device's last acked one; the frames acked after the snapshot are a gap.
      expect(gw2.store.getFrame(dev, acked + 1)).toBeDefined();
      expect(gw2.store.getFrame(dev, acked + 10)).toBeDefined();
      expect(gw2.store.seqGaps(dev)).toEqual([{ from: before + 1, to: acked }]);
    }
    await gw2.stop();
    running.gw = undefined;
  }, 120_000);
});

describe('vitaltrail backup / restore refusals', () => {
  test('error: an existing non-empty --out, or --out inside --data, is refused (output_path_invalid)', async () => {
    const dir = join(tmp.dir, 'small');
    await prepareDataDir(dir, ['wr-0001']);
    const full = join(tmp.dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'keep.txt'), 'x');
    await expect(vitaltrail(['backup', '--data', dir, '--out', full])).rejects.toMatchObject({
      code: 'output_path_invalid',
    });
    expect(readFileSync(join(full, 'keep.txt'), 'utf8')).toBe('x');
    await expect(vitaltrail(['backup', '--data', dir, '--out', join(dir, 'b')])).rejects.toMatchObject({
      code: 'output_path_invalid',
    });
  });

  test('error: restore checks the manifest first: one changed byte is backup_invalid and nothing is written', async () => {
    const dir = join(tmp.dir, 'small2');
    const paths: DataPaths = await prepareDataDir(dir, ['wr-0001', 'wr-0002']);
    const b = join(tmp.dir, 'small2-backup');
    await vitaltrail(['backup', '--data', paths.root, '--out', b]);
    // Intact: restores.
    await vitaltrail(['restore', '--from', b, '--data', join(tmp.dir, 'small2-ok')]);
    expect(integrityCheck(dataPaths(join(tmp.dir, 'small2-ok')).db)).toBe('ok');
    // One byte of a key file changed.
    const victim = join(b, 'data', 'devices', 'wr-0002', 'device.cert.pem');
    const bytes = readFileSync(victim);
    bytes[40] = (bytes[40] ?? 0) ^ 0x01;
    writeFileSync(victim, bytes);
    const target = join(tmp.dir, 'small2-bad');
    await expect(vitaltrail(['restore', '--from', b, '--data', target])).rejects.toMatchObject({
      code: 'backup_invalid',
    });
    expect(() => statSync(target)).toThrow();
  });
});
