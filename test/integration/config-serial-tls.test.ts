/**
 * @module test/integration/config-serial-tls
 * A production gateway gets from its config file what the demo gets from its options
 * (issue 16 "production gaps"): serial ports bound to their devices (`serial`, a list of
 * objects, each item checked with its own path `serial[1].path`) and the mutual-TLS MQTT
 * listener (`mqtt.tls.*`, the gateway's own KGC certificate from the data dir by default;
 * `mqtt.plain: off` leaves it the only MQTT way in).
 *
 * The running part starts the gateway through `startGatewayFromConfig`, the start of
 * `vitaltrail gateway --config FILE`, on a real data dir (KGC, enrolled devices), a real
 * socat pty pair as the serial cable and a real TLS listener: a serial wearable and an
 * MQTT wearable with its KGC certificate each get every frame acknowledged and stored.
 * `config check` (in-process, the command's own action) prints the list items.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { issueGatewayCertificate } from '../../anchor/src/kgc/index.js';
import { SimDevice } from '../../firmware-sim/src/device.js';
import { MqttDeviceLink } from '../../firmware-sim/src/mqtt-transport.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';
import { SerialDeviceLink } from '../../firmware-sim/src/serial-transport.js';
import {
  ConfigError,
  gatewayOptionsFromConfig,
  loadConfigFile,
  validateConfig,
} from '../../gateway/src/app/config.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { registerProductionCommands, startGatewayFromConfig } from '../../gateway/src/cli/production.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { type PtyPair, startPtyPair } from '../helpers/socat.js';
import { makeTempDir } from '../helpers/tmp.js';

const SERIAL_DEV = 'sr-0001';
const TLS_DEV = 'wr-0001';
const FRAMES = 12;
const ID_LIST = 'must be a non-empty list of device ids (1-64 chars of [A-Za-z0-9._-])';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('config_invalid');
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config: serial ports and the mutual-TLS listener (validation)', () => {
  const tmp = makeTempDir('vt-cfg-serial-');
  afterAll(() => tmp.cleanup());

  test('behavior: serial items get their defaults, relative paths resolve, and they become startGateway ports', () => {
    const cfg = validateConfig(
      {
        dataDir: 'data',
        serial: [
          { path: '/dev/serial/by-id/usb-FTDI-if00', devices: ['bed-0012'] },
          { path: 'tty-hub', devices: ['bed-0013', 'bed-0014'], baudRate: 57600 },
        ],
      },
      {},
      '/etc/vt',
    );
    expect(cfg.sources.serial).toBe('file');
    expect(gatewayOptionsFromConfig(cfg).serial).toEqual([
      { path: '/dev/serial/by-id/usb-FTDI-if00', devices: ['bed-0012'], baudRate: 115200 },
      { path: '/etc/vt/tty-hub', devices: ['bed-0013', 'bed-0014'], baudRate: 57600 },
    ]);
    expect(gatewayOptionsFromConfig(validateConfig({ dataDir: 'd' }, {}, '/')).serial).toBeUndefined();
  });

  test('error: every bad serial item is config_invalid naming the item and its field', () => {
    const problems = problemsOf(() =>
      validateConfig(
        {
          dataDir: 'data',
          serial: [
            { path: '/dev/ttyUSB0', devices: ['bed-1'] },
            { devices: [], baudRate: 'fast', parity: 'none' },
            'ttyUSB1=bed-2',
            { path: '/dev/ttyUSB0', devices: ['bed 2'] },
            { path: 7, devices: 'bed-3', baudRate: 10 },
          ],
        },
        {},
        '/',
      ),
    );
    expect(problems).toEqual([
      'serial[1].parity: unknown field',
      'serial[1].path: is required',
      `serial[1].devices: ${ID_LIST}`,
      'serial[1].baudRate: must be an integer from 50 to 4000000',
      'serial[2]: must be an object',
      `serial[3].devices: ${ID_LIST}`,
      'serial[3].path: is given twice',
      'serial[4].path: must be a string',
      `serial[4].devices: ${ID_LIST}`,
      'serial[4].baudRate: must be an integer from 50 to 4000000',
    ]);
    expect(problemsOf(() => validateConfig({ dataDir: 'd', serial: { path: '/dev/x' } }, {}, '/'))).toEqual([
      'serial: must be a list of objects',
    ]);
  });

  test('behavior: VITALTRAIL_SERIAL holds the list as JSON; error: its problems name the variable', () => {
    const env = { VITALTRAIL_SERIAL: '[{"path":"tty-a","devices":["bed-1"]}]' };
    const cfg = validateConfig({ dataDir: 'd', serial: [] }, env, '/etc/vt');
    expect(cfg.sources.serial).toBe('env');
    expect(cfg.values.serial).toEqual([{ path: '/etc/vt/tty-a', devices: ['bed-1'], baudRate: 115200 }]);
    expect(
      problemsOf(() => validateConfig({ dataDir: 'd' }, { VITALTRAIL_SERIAL: '/dev/ttyUSB0' }, '/')),
    ).toEqual(['serial: must be a JSON list of objects (from VITALTRAIL_SERIAL)']);
    expect(
      problemsOf(() => validateConfig({ dataDir: 'd' }, { VITALTRAIL_SERIAL: '[{"path":"/dev/x"}]' }, '/')),
    ).toEqual(['serial[0].devices: is required (from VITALTRAIL_SERIAL)']);
  });

  test("error: mqtt.plain off needs mqtt.tls.port; a cert file needs its key; the default needs the gateway's certificate", async () => {
    expect(problemsOf(() => validateConfig({ dataDir: 'd', mqtt: { plain: 'off' } }, {}, '/'))).toEqual([
      'mqtt.tls.port: is required',
    ]);
    expect(
      problemsOf(() =>
        validateConfig({ dataDir: 'd', mqtt: { tls: { port: 8883, certFile: 'c.pem' } } }, {}, '/'),
      ),
    ).toEqual(['mqtt.tls.keyFile: is required']);
    // No DATA/gateway/tls yet: the reason says where the certificate was looked for and how to make it.
    const tls = validateConfig({ dataDir: 'data', mqtt: { tls: { port: 8883 } } }, {}, tmp.dir);
    expect(problemsOf(() => gatewayOptionsFromConfig(tls))).toEqual([
      'mqtt.tls.certFile (default DATA/gateway/tls/server.cert.pem: `vitaltrail kgc gateway-cert`): file not found',
    ]);
    const paths = await prepareDataDir(join(tmp.dir, 'data'), []);
    const g = await issueGatewayCertificate(paths.kgcDir, join(paths.gatewayDir, 'tls'), {
      names: ['localhost'],
    });
    expect(gatewayOptionsFromConfig(tls)).toMatchObject({
      mqtt: { host: '127.0.0.1', port: 1883 },
      mqtts: { port: 8883, host: '127.0.0.1', certPath: g.certPath, keyPath: g.keyPath },
    });
    // A certificate that is not the key's is refused before anything starts.
    const other = await issueGatewayCertificate(paths.kgcDir, join(tmp.dir, 'other'), { names: ['x'] });
    const mixed = validateConfig(
      { dataDir: 'data', mqtt: { tls: { port: 8883, certFile: other.certPath, keyFile: g.keyPath } } },
      {},
      tmp.dir,
    );
    expect(problemsOf(() => gatewayOptionsFromConfig(mixed))).toEqual([
      'mqtt.tls.certFile: is not a PEM certificate matching its key',
    ]);
  });
});

describe('gateway --config: a serial wearable and an mTLS wearable on one gateway', () => {
  const tmp = makeTempDir('vt-cfg-run-');
  let paths: DataPaths;
  let pty: PtyPair;
  let gw: RunningGateway;
  let tlsPort: number;
  let file: string;
  let serialLink: SerialDeviceLink | undefined;
  let serialDevice: SimDevice;
  let tlsDevice: SimDevice;

  beforeAll(async () => {
    paths = await prepareDataDir(join(tmp.dir, 'data'), [SERIAL_DEV, TLS_DEV]);
    // What `vitaltrail kgc gateway-cert` writes: DATA/gateway/tls/server.{cert,key}.pem.
    await issueGatewayCertificate(paths.kgcDir, join(paths.gatewayDir, 'tls'), { names: ['localhost'] });
    pty = await startPtyPair(tmp.dir);
    tlsPort = await freePort();
    file = join(tmp.dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({
        dataDir: 'data',
        http: { port: 0 },
        mqtt: { port: 0, plain: 'off', tls: { port: tlsPort } },
        serial: [{ path: pty.a, devices: [SERIAL_DEV], baudRate: 57600 }],
      }),
    );
    gw = (await startGatewayFromConfig(file, {}, silentLogger)) as RunningGateway;
    await gw.serial?.opened(5000);

    serialDevice = new SimDevice({
      devId: SERIAL_DEV,
      privateKey: deviceKey(paths, SERIAL_DEV),
      model: createPatientModel({ seed: 21 }),
    });
    tlsDevice = new SimDevice({
      devId: TLS_DEV,
      privateKey: deviceKey(paths, TLS_DEV),
      model: createPatientModel({ seed: 22 }),
    });
    serialLink = await SerialDeviceLink.open({ path: pty.b, device: serialDevice, baudRate: 57600 });
    const dir = paths.deviceDir(TLS_DEV);
    const tlsLink = await MqttDeviceLink.connect({
      url: gw.broker.tlsUrl as string,
      device: tlsDevice,
      clientOptions: {
        key: readFileSync(join(dir, 'device.key.pem'), 'utf8'),
        cert: readFileSync(join(dir, 'device.cert.pem'), 'utf8'),
        ca: readFileSync(paths.kgcRootCert, 'utf8'),
        rejectUnauthorized: true,
      },
    });
    for (let i = 0; i < FRAMES; i++) {
      serialDevice.makeFrame();
      serialLink.send();
      await tlsLink.send(tlsDevice.makeFrame()); // resolves on its PUBACK: the frame is durable
    }
    await serialLink.flushed(20_000);
    await tlsLink.close();
  });

  afterAll(async () => {
    await serialLink?.close();
    await gw?.stop();
    await pty?.stop();
    tmp.cleanup();
  });

  test('behavior: the config opens the mTLS listener on its port and no plain listener', () => {
    expect(gw.broker.tlsUrl).toBe(`mqtts://127.0.0.1:${tlsPort}`);
    expect(gw.broker.url).toBe('mqtt://127.0.0.1:0'); // mqtt.plain: off
    expect(gw.serial?.status()).toMatchObject([{ path: pty.a, devices: [SERIAL_DEV], state: 'open' }]);
  });

  test('behavior: every frame of both wearables is acknowledged and stored once', () => {
    expect(serialDevice.stats.acked).toBe(FRAMES);
    expect(tlsDevice.stats.acked).toBe(FRAMES);
    const rows = gw.store.listDevices();
    expect(rows.find((d) => d.dev === SERIAL_DEV)).toMatchObject({ frameCount: FRAMES, lastSeq: FRAMES });
    expect(rows.find((d) => d.dev === TLS_DEV)).toMatchObject({ frameCount: FRAMES, lastSeq: FRAMES });
    expect(gw.serial?.status()[0]).toMatchObject({ naks: 0, storeFailures: 0 });
  });

  test('behavior: config check prints the serial items and the mTLS settings with their sources', async () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      const program = new Command().exitOverride();
      registerProductionCommands(program);
      await program.parseAsync(['config', 'check', file], { from: 'user' });
    } finally {
      write.mockRestore();
    }
    const text = out.join('');
    expect(text).toContain(`ok: ${file}`);
    expect(text).toMatch(
      new RegExp(`serial\\[0\\] +path=${pty.a} devices=${SERIAL_DEV} baudRate=57600 +\\(file\\)`),
    );
    expect(text).toMatch(new RegExp(`mqtt\\.tls\\.port +${tlsPort} +\\(file\\)`));
    expect(text).toMatch(/mqtt\.plain +off +\(file\)/);
    expect(loadConfigFile(file, {}).values['mqtt.tls.port']).toBe(tlsPort);
  });
});
