/**
 * @module test/e2e/issue-17
 * "Accepted but unprovable" (issue 17), through real parts: a gateway anchoring on a real
 * anvil chain (the embedded chain of its data directory, contracts deployed, gateway
 * registered), the built `vitaltrail` CLI, mqtt.js devices.
 * - A device whose key the chain's registry does not hold is refused `unregistered_device`;
 *   once the KGC registers it (a `DeviceRegistered` event), its frames are accepted.
 * - `vitaltrail sim --enroll` registers the devices it enrols on the running chain before
 *   the first frame: every frame the gateway accepted verifies against the chain.
 * - `vitaltrail kgc enroll --csr`: a key made outside the KGC (node:crypto, request by
 *   OpenSSL) is certified and registered; the device streams, its frames are acked and its
 *   bundle verifies; a request whose signature fails or whose CN is not a device id is refused
 *   with its code (exit 2) and nothing is issued.
 * Needs `npm run build` first (npm test does it).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import { enrolDevice } from '../../gateway/src/io/identity/enrol.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { runCli } from '../helpers/cli.js';
import { deviceKey, FrameChain, prepareAnchoredDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Verifier report of `vitaltrail verify --json` (the parts read here). */
interface VerifyReport {
  summary: { total: number; valid: number; invalid: number };
  entries: { dev: string; seq: number; code: string }[];
}

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A device on the plain listener, collecting the rejections the gateway reports to it. */
async function connectDevice(url: string, dev: string): Promise<{ client: MqttClient; rejects: string[] }> {
  const client = await mqtt.connectAsync(url, { clientId: dev, reconnectPeriod: 0, protocolVersion: 4 });
  const rejects: string[] = [];
  client.on('message', (_topic, payload) => {
    rejects.push((JSON.parse(payload.toString()) as { code: string }).code);
  });
  await client.subscribeAsync(`vt/v1/dev/${dev}/rejects`, { qos: 1 });
  return { client, rejects };
}

describe('issue 17: no unprovable acceptance', () => {
  const tmp = makeTempDir('vt-issue-17-');
  let paths: DataPaths;
  let chain: EmbeddedChain;
  let gw: RunningGateway | undefined;

  /** Exports every accepted frame once all are anchored, and verifies the bundle against the chain. */
  const exportAndVerify = async (name: string, args: string[]): Promise<VerifyReport> => {
    const running = gw!;
    await until(
      () => running.anchorer?.status().lastAnchoredSize === running.store.size,
      30_000,
      'every accepted frame anchored',
    );
    const bundle = join(tmp.dir, `${name}.json`);
    const exp = await runCli(['export', '--data', tmp.dir, ...args, '--out', bundle]);
    expect(exp.code, exp.stderr).toBe(0);
    const ver = await runCli(['verify', bundle, '--rpc', chain.rpcUrl, '--json']);
    expect(ver.stderr).toBe('');
    return JSON.parse(ver.stdout) as VerifyReport;
  };

  beforeAll(async () => {
    ({ paths, chain } = await prepareAnchoredDataDir(tmp.dir, []));
    gw = (await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      checkpointIntervalMs: 250,
      deviceRefreshMs: 200,
      revocationPollMs: 200,
      ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
    })) as RunningGateway;
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
    await chain?.anvil.stop();
    tmp.cleanup();
  });

  test('error: a device not registered on the anchoring chain is unregistered_device; registered, it is accepted', async () => {
    // The KGC enrols offline (no registry): the certificate is valid, the chain does not know the key.
    const store = openStore(paths.db);
    try {
      await enrolDevice(paths, store, 'wr-unreg');
    } finally {
      store.close();
    }
    const { client, rejects } = await connectDevice(gw!.broker.url, 'wr-unreg');
    const frames = new FrameChain('wr-unreg', deviceKey(paths, 'wr-unreg'));
    try {
      await client.publishAsync('vt/v1/dev/wr-unreg/frames', Buffer.from(frames.next()), { qos: 1 });
      await until(() => rejects.length === 1, 10_000, 'the rejection');
      expect(rejects).toEqual(['unregistered_device']);
      expect(gw!.store.seqGaps('wr-unreg')).toEqual([]);

      // Another consortium tool registers the key on chain: the gateway follows the event.
      const registry = createViemRegistry({
        rpcUrl: chain.rpcUrl,
        deployment: chain.deployment,
        privateKey: chain.kgcKey,
      });
      const spki = openStore(paths.db);
      try {
        await registry.registerDevice('wr-unreg', spki.getDevice('wr-unreg')!.spkiSha256 as `0x${string}`);
      } finally {
        spki.close();
      }
      const sizeBefore = gw!.store.size;
      await until(() => gw!.devices.lookup('wr-unreg')?.registered === true, 10_000, 'the registration seen');
      // seq 1 again: the rejected bytes were not accepted, so the device's chain starts over.
      const again = new FrameChain('wr-unreg', deviceKey(paths, 'wr-unreg'));
      for (let i = 0; i < 3; i += 1)
        await client.publishAsync('vt/v1/dev/wr-unreg/frames', Buffer.from(again.next()), { qos: 1 });
      await until(() => gw!.store.size === sizeBefore + 3, 10_000, 'three frames accepted');
      expect(rejects).toEqual(['unregistered_device']);
    } finally {
      await client.endAsync();
    }
    const report = await exportAndVerify('unreg', ['--device', 'wr-unreg']);
    expect(report.summary).toMatchObject({ total: 3, valid: 3, invalid: 0 });
  });

  test('behavior: sim --enroll registers its devices on the running chain; every accepted frame verifies', async () => {
    const sim = await runCli(
      [
        'sim',
        '--enroll',
        '--devices',
        '4',
        '--prefix',
        'wr-sim-',
        '--rate',
        '10',
        '--duration',
        '3',
        '--mqtt',
        gw!.broker.url,
        '--data',
        tmp.dir,
      ],
      { timeoutMs: 90_000 },
    );
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toContain('registered on chain: 4 now, 0 already');
    expect(sim.stdout).toMatch(/stopped: made \d+, acked \d+, in outbox 0, rejected 0,/);
    const registry = createViemRegistry({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    for (const dev of ['wr-sim-0001', 'wr-sim-0004'])
      expect((await registry.getDevice(dev)).status, dev).toBe('active');

    // Every frame the gateway accepted, of every device, proven against the chain.
    const report = await exportAndVerify('all', ['--from', '0']);
    expect(report.summary.total).toBe(gw!.store.size);
    expect(report.summary.total).toBeGreaterThan(4 * 20);
    expect(report.entries.filter((e) => e.code !== 'valid')).toEqual([]);
    expect(report.summary.valid).toBe(report.summary.total);
  });

  describe('kgc enroll --csr', () => {
    /** Writes `key` (PKCS#8) and an OpenSSL request for it with subject `subj`; returns the request file. */
    const opensslCsr = (key: KeyObject, subj: string, name: string): string => {
      const keyPath = join(tmp.dir, `${name}.key.pem`);
      writeFileSync(keyPath, key.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
      const csrPath = join(tmp.dir, `${name}.csr.pem`);
      execFileSync('openssl', ['req', '-new', '-key', keyPath, '-subj', subj, '-out', csrPath]);
      return csrPath;
    };

    test('behavior: a key made outside the KGC is enrolled and registered, streams, and its frames verify', async () => {
      const dev = 'wr-csr-0001';
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const csr = opensslCsr(privateKey, `/CN=${dev}`, 'device');
      const certOut = join(tmp.dir, 'device.cert.pem');
      const r = await runCli(['kgc', 'enroll', '--csr', csr, '--out', certOut, '--data', tmp.dir, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout) as Record<string, string>;
      expect(summary).toMatchObject({ dev, certificate: certOut });
      expect(summary.registryTx).toMatch(/^0x[0-9a-f]{64}$/);
      const certPem = readFileSync(certOut, 'utf8');
      expect(certPem).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      // The KGC wrote no key for it: the device's own key is the only one.
      expect(existsSync(join(paths.deviceDir(dev), 'device.key.pem'))).toBe(false);
      const store = openStore(paths.db);
      try {
        expect(store.getDevice(dev)).toMatchObject({
          certPem,
          spkiSha256: summary.spkiSha256,
          status: 'active',
        });
      } finally {
        store.close();
      }

      const { client, rejects } = await connectDevice(gw!.broker.url, dev);
      const frames = new FrameChain(dev, privateKey);
      const sizeBefore = gw!.store.size;
      try {
        await until(() => gw!.devices.lookup(dev)?.registered === true, 10_000, 'the enrolment seen');
        for (let i = 0; i < 10; i += 1)
          await client.publishAsync(`vt/v1/dev/${dev}/frames`, Buffer.from(frames.next()), { qos: 1 });
        await until(() => gw!.store.size === sizeBefore + 10, 10_000, 'ten frames accepted');
      } finally {
        await client.endAsync();
      }
      expect(rejects).toEqual([]);
      const report = await exportAndVerify('csr', ['--device', dev]);
      expect(report.summary).toMatchObject({ total: 10, valid: 10, invalid: 0 });
    });

    test('error: a request whose signature fails, or whose CN is not a device id, is refused with its code', async () => {
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const forged = opensslCsr(key, '/CN=wr-csr-0002', 'forged');
      const der = execFileSync('openssl', ['req', '-in', forged, '-outform', 'DER']);
      der[der.length - 2] = (der[der.length - 2] ?? 0) ^ 0x01; // inside the signature
      const forgedDer = join(tmp.dir, 'forged.csr.der');
      writeFileSync(forgedDer, der);
      const badCn = opensslCsr(key, '/CN=ward 3 bed 12', 'bad-cn');
      for (const [file, code] of [
        [forgedDer, 'csr_bad_signature'],
        [badCn, 'csr_bad_subject'],
      ] as const) {
        const out = join(tmp.dir, `${code}.cert.pem`);
        const r = await runCli(['kgc', 'enroll', '--csr', file, '--out', out, '--data', tmp.dir]);
        expect(r.code, code).toBe(2);
        expect(r.stderr, code).toMatch(new RegExp(`^error: ${code}: `));
        expect(r.stdout, code).toBe('');
        expect(existsSync(out), code).toBe(false);
      }
      expect(existsSync(join(paths.kgcDir, 'issued', 'wr-csr-0002.cert.pem'))).toBe(false);
      const usage = await runCli(['kgc', 'enroll', '--csr', badCn, '--data', tmp.dir]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/^error: --csr needs --out <file>\n$/);
    });

    test('behavior: a re-enrolled device: one export carries both certificates and every frame of both keys verifies', async () => {
      const dev = 'wr-csr-reenrol';
      const stream = async (frames: FrameChain, n: number) => {
        const { client, rejects } = await connectDevice(gw!.broker.url, dev);
        const sizeBefore = gw!.store.size;
        try {
          for (let i = 0; i < n; i += 1)
            await client.publishAsync(`vt/v1/dev/${dev}/frames`, Buffer.from(frames.next()), { qos: 1 });
          await until(() => gw!.store.size === sizeBefore + n, 10_000, `${n} frames accepted`);
        } finally {
          await client.endAsync();
        }
        expect(rejects).toEqual([]);
      };
      const enrol = async (key: KeyObject, name: string) => {
        const out = join(tmp.dir, `${name}.cert.pem`);
        const r = await runCli([
          'kgc',
          'enroll',
          '--csr',
          opensslCsr(key, `/CN=${dev}`, name),
          '--out',
          out,
          '--data',
          tmp.dir,
        ]);
        expect(r.code, r.stderr).toBe(0);
        const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');
        const want = spki(createPublicKey(key));
        await until(
          () => {
            const d = gw!.devices.lookup(dev);
            return d?.registered === true && spki(d.publicKey) === want;
          },
          10_000,
          `${name} seen`,
        );
      };
      const first = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      await enrol(first, 'reenrol-1');
      const frames = new FrameChain(dev, first);
      await stream(frames, 4);
      // Re-enrolled with a new key (a replaced device board): the chain of frames goes on.
      const second = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      await enrol(second, 'reenrol-2');
      const after = new FrameChain(dev, second);
      after.seq = frames.seq;
      after.prev = frames.prev;
      await stream(after, 4);

      const report = await exportAndVerify('reenrol', ['--device', dev]);
      expect(report.entries.filter((e) => e.code !== 'valid')).toEqual([]);
      expect(report.summary).toMatchObject({ total: 8, valid: 8, invalid: 0 });
      const bundle = JSON.parse(readFileSync(join(tmp.dir, 'reenrol.json'), 'utf8')) as {
        devices: { dev: string; cert: string }[];
      };
      expect(bundle.devices.map((d) => [d.dev, d.cert])).toEqual([
        [dev, readFileSync(join(tmp.dir, 'reenrol-1.cert.pem'), 'utf8')],
        [dev, readFileSync(join(tmp.dir, 'reenrol-2.cert.pem'), 'utf8')],
      ]);
    });
  });

  test('behavior: with the chain down, a restarted gateway still accepts the devices it knew registered, and no other', async () => {
    await gw!.stop();
    gw = undefined;
    await chain.anvil.stop();
    // Enrolled while the chain is down: nothing can register it.
    const store = openStore(paths.db);
    try {
      await enrolDevice(paths, store, 'wr-late');
    } finally {
      store.close();
    }
    const t0 = Date.now();
    gw = (await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      checkpointIntervalMs: 250,
      revocationPollMs: 200,
      ledger: {
        rpcUrl: chain.rpcUrl,
        deployment: chain.deployment,
        privateKey: chain.gatewayKey,
        maxBackoffMs: 1000,
      },
    })) as RunningGateway;
    expect(Date.now() - t0).toBeLessThan(20_000); // the first registry read gave up, the start went on

    const known = await connectDevice(gw.broker.url, 'wr-sim-0002');
    const late = await connectDevice(gw.broker.url, 'wr-late');
    try {
      // A frame well past the device's last seq: accepted as a gap (PROTOCOL.md §1).
      const next = new FrameChain('wr-sim-0002', deviceKey(paths, 'wr-sim-0002'));
      next.seq = 10_000;
      const sizeBefore = gw.store.size;
      await known.client.publishAsync('vt/v1/dev/wr-sim-0002/frames', Buffer.from(next.next()), { qos: 1 });
      await until(() => gw!.store.size === sizeBefore + 1, 10_000, 'the known device accepted');
      await late.client.publishAsync(
        'vt/v1/dev/wr-late/frames',
        Buffer.from(new FrameChain('wr-late', deviceKey(paths, 'wr-late')).next()),
        { qos: 1 },
      );
      await until(() => late.rejects.length === 1, 10_000, 'the late device refused');
      expect(late.rejects).toEqual(['unregistered_device']);
      expect(known.rejects).toEqual([]);
    } finally {
      await known.client.endAsync();
      await late.client.endAsync();
    }
  });
});
