/**
 * A serial-fed wearable (SerialDeviceLink over a socat pty, with line noise, split,
 * merged and damaged writes) and an MQTT-fed wearable (MqttDeviceLink) on one gateway
 * anchoring on a real anvil: both land in the same log, both show on the live hub that
 * feeds the dashboard, and `vitaltrail export` + `vitaltrail verify` give each device's
 * bundle the same verdict. Needs `npm run build` (the CLI) first.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SimDevice } from '../../firmware-sim/src/device.js';
import { MqttDeviceLink } from '../../firmware-sim/src/mqtt-transport.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';
import { SerialDeviceLink } from '../../firmware-sim/src/serial-transport.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { EmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { runCli } from '../helpers/cli.js';
import { deviceKey, prepareAnchoredDataDir } from '../helpers/gateway.js';
import { type PtyPair, startPtyPair } from '../helpers/socat.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const SERIAL_DEV = 'sr-0001';
const MQTT_DEV = 'wr-0001';
const FRAMES = 30;

describe('serial and MQTT wearables side by side', () => {
  const tmp = makeTempDir('vt-serial-e2e-');
  let paths: DataPaths;
  let chain: EmbeddedChain;
  let pty: PtyPair;
  let gw: RunningGateway;
  let serialLink: SerialDeviceLink;
  let serialDevice: SimDevice;

  beforeAll(async () => {
    ({ paths, chain } = await prepareAnchoredDataDir(tmp.dir, [SERIAL_DEV, MQTT_DEV]));
    pty = await startPtyPair(tmp.dir);
    gw = await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      checkpointIntervalMs: 250,
      ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
      serial: [{ path: pty.a, devices: [SERIAL_DEV] }],
    });
    await gw.serial?.opened(5000);

    serialDevice = new SimDevice({
      devId: SERIAL_DEV,
      privateKey: deviceKey(paths, SERIAL_DEV),
      model: createPatientModel({ seed: 11 }),
    });
    const mqttDevice = new SimDevice({
      devId: MQTT_DEV,
      privateKey: deviceKey(paths, MQTT_DEV),
      model: createPatientModel({ seed: 12 }),
    });
    serialLink = await SerialDeviceLink.open({
      path: pty.b,
      device: serialDevice,
      ackTimeoutMs: 300,
      faults: { noise: 0.3, split: 0.3, merge: 0.3, drop: 0.15, seed: 7 },
    });
    const mqttLink = await MqttDeviceLink.connect({ url: gw.broker.url, device: mqttDevice });
    for (let i = 0; i < FRAMES; i++) {
      serialDevice.makeFrame();
      serialLink.send();
      await mqttLink.send(mqttDevice.makeFrame());
      await new Promise((r) => setTimeout(r, 10));
    }
    await serialLink.flushed(20_000);
    await mqttLink.close();
    expect(mqttDevice.stats.acked).toBe(FRAMES);
    await until(
      () => gw.store.size === 2 * FRAMES && gw.anchorer?.status().lastAnchoredSize === gw.store.size,
      20_000,
      'both devices anchored',
    );
  });

  afterAll(async () => {
    await serialLink?.close();
    await gw?.stop();
    await chain?.anvil.stop();
    await pty?.stop();
    tmp.cleanup();
  });

  test('behavior: the faulty serial line still delivers every frame once, in the same log as the MQTT device', () => {
    expect(serialLink.stats.faults.noise + serialLink.stats.faults.split).toBeGreaterThan(0);
    expect(serialLink.stats.faults.drop).toBeGreaterThan(0); // damaged frames were resent
    expect(serialDevice.stats.resent).toBeGreaterThan(0);
    expect(serialDevice.stats.acked).toBe(FRAMES);
    const rows = gw.store.listDevices();
    expect(rows.find((d) => d.dev === SERIAL_DEV)).toMatchObject({ frameCount: FRAMES, lastSeq: FRAMES });
    expect(rows.find((d) => d.dev === MQTT_DEV)).toMatchObject({ frameCount: FRAMES, lastSeq: FRAMES });
    expect(gw.store.size).toBe(2 * FRAMES);
    const [st] = gw.serial?.status() ?? [];
    expect(st?.lineErrors.bad_crc ?? 0).toBeGreaterThan(0);
  });

  test('behavior: both devices are on the live hub that feeds the dashboard', () => {
    const tiles = gw.hub.snapshot();
    for (const dev of [SERIAL_DEV, MQTT_DEV]) {
      const tile = tiles.find((t) => t.dev === dev);
      expect(tile?.last?.seq).toBe(FRAMES);
      expect(tile?.last?.obs.hr).toBeGreaterThan(0);
    }
  });

  test('behavior: export + verify give both devices the same verdict', async () => {
    const reports: Record<string, unknown> = {};
    for (const dev of [SERIAL_DEV, MQTT_DEV]) {
      const out = join(tmp.dir, `${dev}.json`);
      const exp = await runCli(['export', '--data', tmp.dir, '--device', dev, '--out', out]);
      expect(exp.code).toBe(0);
      const bundle = JSON.parse(readFileSync(out, 'utf8'));
      expect(bundle.entries).toHaveLength(FRAMES);
      // The whole device up to its latest anchored frame: an open end (README "Completeness").
      const ver = await runCli(['verify', out, '--rpc', chain.rpcUrl, '--json', '--allow-gaps']);
      expect(ver.code).toBe(0);
      const report = JSON.parse(ver.stdout);
      expect(report).toMatchObject({ verdict: 'INCOMPLETE', integrity: true, allowGaps: true });
      expect(report.sequence).toMatchObject({ gaps: [], conflicts: [], openEnds: 1 });
      expect(report.summary).toMatchObject({ total: FRAMES, valid: FRAMES, invalid: 0 });
      reports[dev] = report.summary;
    }
    expect(reports[SERIAL_DEV]).toEqual(reports[MQTT_DEV]);
  });
});
