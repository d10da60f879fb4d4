/**
 * @module test/integration/enrolment-follow
 * The production shape's enrolments (issue 9, "the same code must run there without
 * change"): gateways with their own data dirs follow the KGC's directory of issued device
 * certificates (`kgc.issuedDir`). Real parts: a KGC on local files (`vitaltrail kgc enroll`
 * through the built CLI, `npm run build` first, and the KGC library), a real gateway with its
 * embedded broker reached by mqtt.js, its own SQLite store, and a real anvil with the registry
 * contract for revocations made on chain.
 *
 * - a device enrolled after the gateway started is accepted within seconds;
 * - a certificate of another KGC, an expired one and one whose CN is no device id are skipped,
 *   each with one coded warning and a count in /metrics; their frames stay `unknown_device`;
 * - a re-enrolment replaces the key: the old key's frames are `bad_signature`, the new key's accepted;
 * - a revoked device is not imported again: not when its file changes, not by a fresh gateway
 *   (revoked on the registry only, or on the CRL only).
 */
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DEVICE_KEY_FILE,
  enrollDevice,
  initKgc,
  issueCertificate,
  kgcPaths,
  revokeDevice,
} from '../../anchor/src/kgc/index.js';
import { readPrivateKey } from '../../anchor/src/kgc/keys.js';
import { ANVIL_DEV_KEY, type AnvilHandle, startAnvil } from '../../anchor/src/ledger/anvil.js';
import { deployContracts } from '../../anchor/src/ledger/deploy.js';
import type { Deployment, RegistryClient } from '../../anchor/src/ledger/types.js';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { type GatewayOptions, type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { framesTopic, rejectsTopic } from '../../gateway/src/core/topics.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { createLogger } from '../../gateway/src/io/ops/log.js';
import { createRecipientKey } from '../../gateway/src/io/store/recipients.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { frameHash } from '../../gateway/src/protocol/frame.js';
import { runCli } from '../helpers/cli.js';
import { FrameChain, strangerKey } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const POLL_MS = 250;

type LogLine = Record<string, unknown> & { level: string; msg: string };

let tmp: ReturnType<typeof makeTempDir>;
let node: AnvilHandle;
let deployment: Deployment;
let registry: RegistryClient;
/** The KGC's data dir (`vitaltrail kgc … --data`), and its issued-certificates directory. */
let kgc: DataPaths;
let issuedDir: string;
let gwPaths: DataPaths;
let gw: RunningGateway;
const logs: LogLine[] = [];

/** A gateway data dir of its own: the KGC's root and issuing CA certificates and a recipient, no device. */
function gatewayDataDir(name: string): DataPaths {
  const paths = dataPaths(join(tmp.dir, name));
  mkdirSync(paths.kgcDir, { recursive: true });
  for (const f of ['root.cert.pem', 'issuing.cert.pem'])
    copyFileSync(join(kgc.kgcDir, f), join(paths.kgcDir, f));
  createRecipientKey(paths.recipientsDir, 'records', 'ec');
  return paths;
}

function gatewayOptions(
  paths: DataPaths,
  logger = createLogger({ write: () => {} }),
): GatewayOptions & { externalBroker?: undefined } {
  return {
    dataDir: paths.root,
    logger,
    kgcIssuedDir: issuedDir,
    enrolmentPollMs: POLL_MS,
    ledger: { rpcUrl: node.rpcUrl, deployment, privateKey: generatePrivateKey(), maxBackoffMs: 60_000 },
    checkpointIntervalMs: 3_600_000,
    deviceRefreshMs: 200,
    revocationPollMs: 200,
  };
}

/**
 * Publishes one frame as device `dev` (QoS 1) and reports what the gateway made of it:
 * `accepted` (in the store once PUBACKed) or the code on the device's rejects topic.
 */
async function send(target: RunningGateway, dev: string, seq: number, bytes: Uint8Array): Promise<string> {
  const client = await mqtt.connectAsync(target.broker.url, {
    clientId: dev,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  try {
    const rejects: { seq: number | null; code: string }[] = [];
    client.on('message', (_topic, payload) => rejects.push(JSON.parse(payload.toString())));
    await client.subscribeAsync(rejectsTopic(dev), { qos: 1 });
    await client.publishAsync(framesTopic(dev), Buffer.from(bytes), { qos: 1 });
    const stored = target.store.getFrame(dev, seq);
    if (stored && Buffer.from(stored.hash).equals(Buffer.from(frameHash(bytes)))) return 'accepted';
    await until(() => rejects.some((r) => r.seq === seq), 3000, `a reject for ${dev} seq ${seq}`);
    return rejects.find((r) => r.seq === seq)?.code as string;
  } finally {
    await client.endAsync();
  }
}

function deviceKeyOf(dev: string) {
  return readPrivateKey(join(kgc.deviceDir(dev), DEVICE_KEY_FILE));
}

async function metricsText(target: RunningGateway): Promise<string> {
  return (await fetch(`${target.http.url}/metrics`)).text();
}

const skipWarnings = () => logs.filter((l) => l.msg === 'issued certificate skipped');

beforeAll(async () => {
  tmp = makeTempDir('vt-follow-');
  node = await startAnvil();
  deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY });
  registry = createViemRegistry({ rpcUrl: node.rpcUrl, deployment, privateKey: ANVIL_DEV_KEY });
  kgc = dataPaths(join(tmp.dir, 'kgc'));
  await initKgc(kgc.kgcDir);
  issuedDir = kgcPaths(kgc.kgcDir).devicesDir;
  const early = await enrollDevice(kgc.kgcDir, 'wr-early', kgc.deviceDir('wr-early'));
  // The KGC registers the keys it issues on the chain the gateways anchor on (issue 17).
  await registry.registerDevice('wr-early', early.spkiSha256);
  const logger = createLogger({ write: (line) => logs.push(JSON.parse(line) as LogLine) });
  gwPaths = gatewayDataDir('gw-1');
  gw = await startGateway(gatewayOptions(gwPaths, logger));
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await node?.stop();
  tmp?.cleanup();
});

describe('a gateway with its own data dir follows the KGC issued directory (kgc.issuedDir)', () => {
  test('behavior: devices issued before the start are known at once; one enrolled after it is accepted within seconds', async () => {
    expect(gw.store.getDevice('wr-early')?.status).toBe('active');
    expect(await send(gw, 'wr-early', 1, new FrameChain('wr-early', deviceKeyOf('wr-early')).next())).toBe(
      'accepted',
    );

    const enrolled = await runCli(['kgc', 'enroll', '--device', 'wr-late', '--data', kgc.root]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const t0 = Date.now();
    const lateKey = openStore(kgc.db);
    const lateSpki = lateKey.getDevice('wr-late')?.spkiSha256 as `0x${string}`;
    lateKey.close();
    await registry.registerDevice('wr-late', lateSpki);
    const frame = new FrameChain('wr-late', deviceKeyOf('wr-late')).next();
    let outcome = await send(gw, 'wr-late', 1, frame);
    while ((outcome === 'unknown_device' || outcome === 'unregistered_device') && Date.now() - t0 < 5000) {
      await sleep(100);
      outcome = await send(gw, 'wr-late', 1, frame); // again, until the gateway has imported it
    }
    expect(outcome).toBe('accepted');
    expect(Date.now() - t0).toBeLessThan(3000);
    // The row `kgc enroll` wrote in the KGC's own store, and the certificate of its issued directory.
    const kgcStore = openStore(kgc.db);
    const kgcRow = kgcStore.getDevice('wr-late');
    kgcStore.close();
    const { certPem, spkiSha256, status } = kgcRow ?? {};
    expect(certPem).toBe(readFileSync(join(issuedDir, 'wr-late.cert.pem'), 'utf8'));
    expect(gw.store.getDevice('wr-late')).toMatchObject({ certPem, spkiSha256, status: 'active' });
    expect(status).toBe('active');
    const audit = join(gwPaths.gatewayDir, 'audit.log');
    await until(
      () =>
        readFileSync(audit, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .some((e) => e.event === 'device_enrolled' && e.dev === 'wr-late' && e.source === 'kgc_issued_dir'),
      3000,
      'device_enrolled in the audit log',
    );
    expect(await metricsText(gw)).toMatch(/^vitaltrail_enrolments_imported_total 2$/m);
  });

  test('error: a certificate of another KGC, an expired one and a CN that is no device id are skipped: one coded warning each, counted; frames stay unknown_device', async () => {
    // Another KGC's device certificate dropped into the directory.
    const foreign = dataPaths(join(tmp.dir, 'foreign'));
    await initKgc(foreign.kgcDir);
    const f = await enrollDevice(foreign.kgcDir, 'wr-foreign', foreign.deviceDir('wr-foreign'));
    writeFileSync(join(issuedDir, 'wr-foreign.cert.pem'), f.certPem);
    // Chained to our KGC, but expired (the KGC itself records it).
    const day = 86_400_000;
    await enrollDevice(kgc.kgcDir, 'wr-expired', kgc.deviceDir('wr-expired'), {
      notBefore: new Date(Date.now() - 3 * day),
      notAfter: new Date(Date.now() - day),
    });
    // Chained to our KGC, but its CN is not a device id (PROTOCOL.md §1).
    const paths = kgcPaths(kgc.kgcDir);
    const { certPem: oddPem } = await issueCertificate({
      subject: { commonName: 'bed 12 / ward 3' },
      subjectPublicKey: strangerKey(),
      issuer: {
        privateKey: readPrivateKey(paths.issuingKey),
        certPem: readFileSync(paths.issuingCert, 'utf8'),
      },
      notBefore: new Date(Date.now() - day),
      notAfter: new Date(Date.now() + day),
    });
    writeFileSync(join(issuedDir, 'odd.cert.pem'), oddPem);

    await until(() => skipWarnings().length >= 3, 5000, 'three skip warnings');
    await sleep(4 * POLL_MS); // later scans of the unchanged files warn no more
    const warnings = skipWarnings();
    expect(warnings.map((w) => [w.code, w.file]).sort()).toEqual([
      ['expired_certificate', 'wr-expired.cert.pem'],
      ['invalid_device_id', 'odd.cert.pem'],
      ['untrusted_certificate', 'wr-foreign.cert.pem'],
    ]);
    // The code and the file name: nothing else from the certificate.
    for (const w of warnings) expect(Object.keys(w).sort()).toEqual(['code', 'file', 'level', 'msg', 't']);
    expect(warnings.every((w) => w.level === 'warn')).toBe(true);

    const text = await metricsText(gw);
    for (const code of ['untrusted_certificate', 'expired_certificate', 'invalid_device_id'])
      expect(text).toContain(`vitaltrail_enrolments_skipped_total{code="${code}"} 1\n`);

    const foreignFrame = new FrameChain('wr-foreign', readPrivateKey(f.keyPath)).next();
    expect(await send(gw, 'wr-foreign', 1, foreignFrame)).toBe('unknown_device');
    const expiredFrame = new FrameChain('wr-expired', deviceKeyOf('wr-expired')).next();
    expect(await send(gw, 'wr-expired', 1, expiredFrame)).toBe('unknown_device');
    expect(gw.store.getDevice('wr-foreign')).toBeUndefined();
  });

  test('behavior: a re-enrolment replaces the key: frames of the old key are bad_signature, of the new key accepted', async () => {
    const re = await enrollDevice(kgc.kgcDir, 'wr-re', kgc.deviceDir('wr-re'));
    await registry.registerDevice('wr-re', re.spkiSha256);
    await until(() => gw.devices.lookup('wr-re')?.registered === true, 3000, 'wr-re imported');
    const oldChain = new FrameChain('wr-re', deviceKeyOf('wr-re'));
    const first = oldChain.next();
    expect(await send(gw, 'wr-re', 1, first)).toBe('accepted');

    const again = await enrollDevice(kgc.kgcDir, 'wr-re', kgc.deviceDir('wr-re')); // new key and certificate
    await registry.registerDevice('wr-re', again.spkiSha256);
    await until(
      () =>
        gw.store.getDevice('wr-re')?.spkiSha256 === again.spkiSha256 &&
        gw.devices.lookup('wr-re')?.registered === true,
      3000,
      'wr-re re-imported',
    );
    expect(await send(gw, 'wr-re', 2, oldChain.next())).toBe('bad_signature');
    const newChain = new FrameChain('wr-re', deviceKeyOf('wr-re'));
    newChain.seq = 1;
    newChain.prev = frameHash(first);
    expect(await send(gw, 'wr-re', 2, newChain.next())).toBe('accepted');
    expect(gw.store.getDevice('wr-re')?.status).toBe('active');
  });

  test('behavior: a revoked device is not imported again, by this gateway or by a fresh one', async () => {
    // Revoked by a consortium member on the registry only: the gateway follows the registry.
    const gone = await enrollDevice(kgc.kgcDir, 'wr-gone', kgc.deviceDir('wr-gone'));
    await registry.registerDevice('wr-gone', gone.spkiSha256);
    await until(() => gw.devices.lookup('wr-gone')?.registered === true, 3000, 'wr-gone imported');
    const goneChain = new FrameChain('wr-gone', deviceKeyOf('wr-gone'));
    expect(await send(gw, 'wr-gone', 1, goneChain.next())).toBe('accepted');
    await registry.revokeDevice('wr-gone');
    await until(() => gw.store.getDevice('wr-gone')?.status === 'revoked', 5000, 'wr-gone revoked');
    // The KGC's file is written again (same certificate, new mtime): read again, not re-imported.
    const file = join(issuedDir, 'wr-gone.cert.pem');
    writeFileSync(file, readFileSync(file));
    await sleep(4 * POLL_MS);
    expect(gw.store.getDevice('wr-gone')?.status).toBe('revoked');
    expect(await send(gw, 'wr-gone', 2, goneChain.next())).toBe('revoked_device');

    // Revoked by the KGC only (record + CRL, no chain). The new gateway's DATA/kgc/crl is the
    // KGC's public CRL directory itself, as docker-compose.yml mounts it (a symlink here).
    await enrollDevice(kgc.kgcDir, 'wr-crl', kgc.deviceDir('wr-crl'));
    const later0 = await enrollDevice(kgc.kgcDir, 'wr-crl-later', kgc.deviceDir('wr-crl-later'));
    await registry.registerDevice('wr-crl-later', later0.spkiSha256);
    await revokeDevice(kgc.kgcDir, 'wr-crl');
    const fresh = gatewayDataDir('gw-2');
    symlinkSync(kgcPaths(kgc.kgcDir).crlDir, kgcPaths(fresh.kgcDir).crlDir);
    const gw2 = await startGateway(gatewayOptions(fresh));
    try {
      // Imported at start: every valid, unrevoked certificate, the current one of a re-enrolled device.
      expect(gw2.store.getDevice('wr-early')?.status).toBe('active');
      expect(gw2.store.getDevice('wr-re')?.spkiSha256).toBe(gw.store.getDevice('wr-re')?.spkiSha256);
      // Never imported: the key revoked on the registry, the serial on the CRL.
      expect(gw2.store.getDevice('wr-gone')).toBeUndefined();
      expect(gw2.store.getDevice('wr-crl')).toBeUndefined();
      expect(await send(gw2, 'wr-gone', 3, goneChain.next())).toBe('unknown_device');
      const crlFrame = new FrameChain('wr-crl', deviceKeyOf('wr-crl')).next();
      expect(await send(gw2, 'wr-crl', 1, crlFrame)).toBe('unknown_device');
      expect(await metricsText(gw2)).toMatch(/^vitaltrail_enrolments_imported_total 4$/m);
      // A revocation the KGC signs later replaces the file under the running gateway: it
      // counts from the next CRL read (revocationPollMs), with no restart.
      const later = new FrameChain('wr-crl-later', deviceKeyOf('wr-crl-later'));
      expect(await send(gw2, 'wr-crl-later', 1, later.next())).toBe('accepted');
      await revokeDevice(kgc.kgcDir, 'wr-crl-later');
      await until(() => gw2.devices.lookup('wr-crl-later')?.status === 'revoked', 5000, 'CRL re-read');
      expect(await send(gw2, 'wr-crl-later', 2, later.next())).toBe('revoked_device');
    } finally {
      await gw2.stop();
    }
  });
});
