/**
 * @module cli/demo
 * `vitaltrail demo` (`npm start`): the whole system on embedded defaults, in one
 * process tree — KGC, 20 enrolled wearables, the local anvil chain with the contracts,
 * the gateway (embedded MQTT broker, sealed store, transparency log, anchoring), the
 * dashboard, and the simulated ward. Everything lives in the data directory, so
 * stopping (Ctrl-C) and starting again resumes where it stopped. The chain's node is
 * watched while the demo runs (io/anchoring/chain-watchdog): if it dies, it is started
 * again on the same state file and port, and anchoring resumes without a restart.
 *
 * The ward's patients follow the mix of `DEMO_WARD` (bed n is wearable wr-000n), or one
 * `--scenario` for every bed; `--speed` runs their physiology faster than the frames and
 * `--ids` names the wearables (issue 15).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { initKgc } from '../../../anchor/src/kgc/index.js';
import { createViemRegistry, freePort } from '../../../anchor/src/ledger/index.js';
import { Fleet } from '../../../firmware-sim/src/fleet.js';
import { SCENARIOS, type Scenario } from '../../../firmware-sim/src/physiology.js';
import { readSecretFile } from '../app/config.js';
import { startGateway } from '../app/gateway.js';
import { DEFAULT_GATEWAY_ID, type OutboundOptions } from '../app/options.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../core/log-names.js';
import {
  type ChainWatchdog,
  type EmbeddedChain,
  startEmbeddedChain,
  watchEmbeddedChain,
} from '../io/anchoring/index.js';
import { enrolDevice, syncRegistry } from '../io/identity/index.js';
import {
  createLogger,
  type DataDirLock,
  type DataPaths,
  dataPaths,
  type Logger,
  lockDataDir,
} from '../io/ops/index.js';
import { createRecipientKey, loadRecipients, openStore } from '../io/store/index.js';
import type { SerialPortConfig } from '../io/transport/index.js';
import { isVitalTrailError, logCode } from '../protocol/errors.js';
import { DEMO_PATIENT_ID, seedCareDemo } from './demo-care.js';
import { errorText, UsageError } from './errors.js';
import {
  DEFAULT_DATA_DIR,
  deviceIdOption,
  intOption,
  numberOption,
  portOption,
  stopSignal,
} from './inputs.js';
import { ensureGatewayCertificate } from './kgc.js';
import { parseSerialSpec } from './serial.js';
import { deviceIds, fleetSpecs, formatStats, idsOption, parseScenario, speedOption } from './sim.js';

export interface DemoParameters {
  dataDir: string;
  devices: number;
  rateHz: number;
  httpPort: number;
  mqttPort: number;
  chainPort: number;
  checkpointIntervalMs: number;
  gatewayId: string;
  /** Serial ports of the gateway, each bound to enrolled devices (cli/serial.ts). */
  serial?: SerialPortConfig[];
  /** Outbound interfaces (issue 19): the readings to an MLLP listener and/or a FHIR server. */
  outbound?: OutboundOptions;
  /** Physiology time per wall time (`--speed`), 1-600, default 1. */
  speed?: number;
  /** The wearables' ids instead of wr-0001 … (`--ids`); `devices` is then ignored. */
  ids?: readonly string[];
  /** Every bed runs this scenario; default: the ward's mix (`DEMO_WARD`). */
  scenario?: Scenario;
}

/** The preferred port if it is free, else any free one (so a second demo still starts). */
async function portOr(preferred: number): Promise<number> {
  if (preferred === 0) return freePort();
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(freePort()));
    srv.listen(preferred, '127.0.0.1', () => srv.close(() => resolve(preferred)));
  });
}

/**
 * The demo ward's patients who are not steady, by bed index (0-based: index 2 is Bed 3,
 * wearable wr-0003), so alarms have something to show; every other bed is 'steady'.
 */
export const DEMO_WARD: Readonly<Record<number, Scenario>> = {
  2: 'deteriorating',
  4: 'fever',
  6: 'arrhythmia',
  9: 'probe_off',
  11: 'artefacts',
  15: 'battery_drain',
};

/** The scenario of the ward's `i`-th wearable, 0-based (`DEMO_WARD`, else 'steady'). */
export function demoScenarioOf(i: number): Scenario {
  return DEMO_WARD[i] ?? 'steady';
}

/** `demoScenarioOf` in the shape of cli/sim `fleetSpecs`' `scenarioOf`. */
export function demoScenario(_id: string, i: number): Scenario {
  return demoScenarioOf(i);
}

/**
 * Parses the demo's `--scenario`: 'mix' (the ward of `DEMO_WARD`, returned as undefined) or
 * one scenario for every bed.
 * @throws {UsageError} on an unknown name.
 */
export function parseDemoScenario(value: string): Scenario | undefined {
  return value === 'mix' ? undefined : parseScenario(value);
}

/** Patients whose wearable also streams ECG (250 Hz chunks): the first, the deteriorating one and the arrhythmia. */
export function demoEcg(i: number): boolean {
  return i === 0 || i === 2 || i === 6;
}

export async function runDemo(p: DemoParameters): Promise<void> {
  const log = createLogger({ level: 'warn' });
  const paths = dataPaths(p.dataDir);
  const out = (s: string) => process.stdout.write(`${s}\n`);

  // One demo (or gateway) per data directory, taken before the chain starts: a second
  // start must not touch the first one's anvil (io/ops/instance-lock).
  const lock = lockDataDir(paths.gatewayDir);
  try {
    await runDemoLocked(p, paths, lock, log, out);
  } finally {
    lock.release();
  }
}

async function runDemoLocked(
  p: DemoParameters,
  paths: DataPaths,
  lock: DataDirLock,
  log: Logger,
  out: (s: string) => void,
): Promise<void> {
  await initKgc(paths.kgcDir);
  if (loadRecipients(paths.recipientsDir).length === 0) {
    // The demo host plays the records archive too, so it keeps the private key (0600).
    createRecipientKey(paths.recipientsDir, 'records', 'ec');
  }
  const origin = checkpointOrigin(p.gatewayId);
  const logId = logIdOf(origin);
  // Both logs' accounts registered: the readings' and the access log's (issue 18).
  const chain = await startEmbeddedChain(paths, logId, {
    port: await portOr(p.chainPort),
    accessLogId: logIdOf(accessLogOrigin(p.gatewayId)),
    onStateError: (err) =>
      log.warn('embedded chain state not written; tried again each second while the chain moves', {
        code: logCode(err),
      }),
  });
  // From here on a node that dies is started again (and stopped with the demo).
  const watch = watchEmbeddedChain(chain, { paths, logId });
  try {
    await runDemoOnChain(p, paths, lock, log, out, chain, watch);
  } finally {
    await watch.stop();
  }
}

/** Registers every enrolled device of the store in the chain's registry (the demo is its KGC). */
async function syncDemoRegistry(paths: DataPaths, chain: EmbeddedChain, enrol: string[] = []): Promise<void> {
  const registry = createViemRegistry({
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    privateKey: chain.kgcKey,
  });
  const store = openStore(paths.db);
  try {
    for (const id of enrol) {
      if (!existsSync(join(paths.deviceDir(id), 'device.key.pem'))) await enrolDevice(paths, store, id);
    }
    // Recorded in the store as well: the gateway accepts the devices from its first frame (issue 17).
    await syncRegistry(store, { client: registry, ref: chain.deployment });
  } finally {
    store.close();
  }
}

async function runDemoOnChain(
  p: DemoParameters,
  paths: DataPaths,
  lock: DataDirLock,
  log: Logger,
  out: (s: string) => void,
  chain: EmbeddedChain,
  watch: ChainWatchdog,
): Promise<void> {
  const origin = checkpointOrigin(p.gatewayId);
  const ids = p.ids ? [...p.ids] : deviceIds('wr-', p.devices);
  await syncDemoRegistry(paths, chain, ids);
  // A node restarted without its state (a torn state file, no backup) has a new registry:
  // register the devices there again.
  watch.on('restarted', (e) => {
    if (!e.deployed) return;
    syncDemoRegistry(paths, watch.chain).catch((err: unknown) =>
      log.warn('device registry not synced after the chain restart', {
        code: isVitalTrailError(err) ? err.code : 'unknown',
      }),
    );
  });

  const tls = await ensureGatewayCertificate(paths, chain.gatewayKey);
  const gw = await startGateway({
    dataDir: p.dataDir,
    gatewayId: p.gatewayId,
    mqtt: { port: await portOr(p.mqttPort) },
    mqtts: { port: await portOr(p.mqttPort === 0 ? 0 : 8883), certPath: tls.certPath, keyPath: tls.keyPath },
    http: { port: await portOr(p.httpPort) },
    ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
    chainWatch: watch,
    checkpointIntervalMs: p.checkpointIntervalMs,
    logger: log,
    dataDirLock: lock,
    wardName: 'Demo ward',
    ...(p.serial?.length ? { serial: p.serial } : {}),
    ...(p.outbound ? { outbound: p.outbound } : {}),
  });

  const speed = p.speed ?? 1;
  const only = p.scenario;
  const scenarioOf = only ? () => only : demoScenario;
  // What fails from here on (a device's torn state file, the care seed) stops what started
  // before the error is told: the data directory's lock is released only after the gateway.
  let fleet: Fleet | null = null;
  // Told once per trouble by the fleet (a state file that cannot be saved fails at every save).
  const onDeviceError = (dev: string, err: unknown): void =>
    log.warn('simulated device error', { dev, reason: errorText(err) });
  let care: Awaited<ReturnType<typeof seedCareDemo>>;
  try {
    if (ids.length > 0)
      fleet = await Fleet.start({
        url: gw.broker.url,
        devices: fleetSpecs(paths, ids, scenarioOf).map((spec, i) => ({ ...spec, ecg: demoEcg(i) })),
        rateHz: p.rateHz,
        speedup: speed,
        onError: onDeviceError,
      });
    care = await seedCareDemo(paths, chain, gw.bindings, ids[0]);
  } catch (err) {
    await fleet?.stop().catch(() => {});
    await gw.stop().catch(() => {});
    throw err;
  }

  out('');
  out('VitalTrail demo is running.');
  out(`  Dashboard:   ${gw.http.url}/`);
  out(`  Log in as:   admin, password in ${paths.initialAdminPassword} (mode 0600)`);
  out(
    `  Doctor:      ${gw.http.url}/doctor/  as ${care.doctor.username}, password in ${care.doctor.passwordFile}`,
  );
  if (care.patient)
    out(
      `  Patient:     ${gw.http.url}/patient/  as ${care.patient.username} (${DEMO_PATIENT_ID}, Bed 1), password in ${care.patient.passwordFile}`,
    );
  out(`  MQTT:        ${gw.broker.url}  (plain demo listener; frames on vt/v1/dev/{dev}/frames)`);
  const caPath = join(dirname(tls.certPath), 'ca.cert.pem');
  out(`  MQTT (mTLS): ${gw.broker.tlsUrl}  (KGC device certificates; clients trust ${caPath})`);
  out(
    `  Chain RPC:   ${chain.rpcUrl}  (anvil, chain id ${chain.deployment.chainId}${chain.deployed ? ', contracts deployed now' : ''})`,
  );
  out(`  Registry:    ${chain.deployment.registry}`);
  out(`  Anchors:     ${chain.deployment.anchors}`);
  out(`  Log:         ${origin}  logId ${gw.logId}`);
  out(`  Data:        ${paths.root}`);
  const pace = speed === 1 ? '' : `, physiology ×${speed}`;
  out(`  Ward:        ${ids.length} simulated wearables at ${p.rateHz} Hz${pace}`);
  out(
    `  Try:         npx vitaltrail export --device ${ids[0] ?? 'wr-0001'} --out bundle.json --data ${p.dataDir}`,
  );
  out(`               npx vitaltrail verify bundle.json --rpc ${chain.rpcUrl}`);
  out('Press Ctrl-C to stop; run again to resume.');
  out('');

  const status = setInterval(() => {
    const a = gw.anchorer?.status();
    out(
      `[${new Date().toISOString()}] log size ${gw.store.size}, anchored ${a?.lastAnchoredSize ?? 0}, ` +
        `pending checkpoints ${a?.pending ?? 0}` +
        (fleet ? `; ${formatStats(fleet.stats())}` : ''),
    );
  }, 30_000);
  status.unref();

  await stopSignal().done;
  out('stopping…');
  clearInterval(status);
  if (fleet) await fleet.stop();
  await gw.stop();
  await watch.stop(); // the node as it runs now (a restart replaced the first one)
  out('stopped. Run the same command again to resume.');
}

/**
 * Adds `demo` to the program.
 * @example
 * registerDemoCommand(program);
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run the whole system on embedded defaults: gateway (embedded MQTT broker), local anvil chain with the ' +
        'contracts, embedded store, dashboard, and a simulated ward; Ctrl-C stops, running again resumes',
    )
    .option('--data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--devices <n>', 'simulated wearables', intOption('--devices', 0, 1000), 20)
    .option('--rate <hz>', 'frames per second per wearable', numberOption('--rate', 0.01, 100), 1)
    .addOption(portOption('--http-port', 'dashboard port', 8080))
    .addOption(portOption('--mqtt-port', 'plain MQTT demo port', 1883))
    .addOption(portOption('--chain-port', 'anvil JSON-RPC port', 8545))
    .option(
      '--checkpoint-interval <s>',
      'seconds between checkpoints',
      numberOption('--checkpoint-interval', 0.2, 3600),
      10,
    )
    .option(
      '--serial <path=dev[,dev…]>',
      'also ingest from this serial port, bound to these enrolled devices (repeatable; 115200 8N1)',
      (v: string, prev: SerialPortConfig[]) => [...prev, parseSerialSpec(v)],
      [] as SerialPortConfig[],
    )
    .option(
      '--gateway-id <id>',
      'gateway id (checkpoint origin vitaltrail/<id>)',
      deviceIdOption,
      DEFAULT_GATEWAY_ID,
    )
    .option(
      '--mllp <host:port>',
      "send the readings as IHE PCD-01 ORU^R01 to this HL7 interface engine's MLLP port",
    )
    .option(
      '--mllp-interval <seconds>',
      'with --mllp: one ORU^R01 per device and interval of this many seconds (PCD-01 per interval)',
    )
    .option('--fhir <url>', 'push the readings as FHIR R4 Observations to this FHIR server base URL')
    .option(
      '--webhook <url>',
      'POST every alarm transition, signed, to this URL (pagers, phones, nurse call)',
    )
    .option(
      '--webhook-secret-file <file>',
      "the webhook's shared HMAC secret (mode 0600); needed with --webhook",
    )
    .option(
      '--acm <host:port>',
      "send every alarm transition as IHE PCD-04 ORU^R40 to this alarm manager's MLLP port",
    )
    .option(
      '--acm-listen <port>',
      "accept the alarm manager's IHE PCD-05 acknowledgements on this MLLP port (from 127.0.0.1 only)",
    )
    .option(
      '--outbound-from-start',
      'a receiver seen for the first time gets the whole log, not only new readings',
    )
    .option(
      '--scenario <name>',
      `every bed runs this scenario, or mix: the demo ward's mix (${['mix', ...SCENARIOS].join(' | ')})`,
      'mix',
    )
    .addOption(speedOption())
    .addOption(idsOption(['devices']))
    .action(async (o) => {
      const outbound = outboundOf(o);
      const scenario = parseDemoScenario(o.scenario);
      await runDemo({
        ...(outbound ? { outbound } : {}),
        ...(scenario ? { scenario } : {}),
        ...(o.ids ? { ids: o.ids } : {}),
        speed: o.speed,
        dataDir: o.data,
        devices: o.devices,
        rateHz: o.rate,
        httpPort: o.httpPort,
        mqttPort: o.mqttPort,
        chainPort: o.chainPort,
        checkpointIntervalMs: Math.round(o.checkpointInterval * 1000),
        gatewayId: o.gatewayId,
        serial: o.serial,
      });
    });
}

/** The demo's `--mllp`/`--fhir`/`--webhook`/`--acm` options as gateway options (app/options `OutboundOptions`). */
function outboundOf(o: {
  mllp?: string;
  fhir?: string;
  webhook?: string;
  webhookSecretFile?: string;
  acm?: string;
  acmListen?: string;
  mllpInterval?: string;
  outboundFromStart?: boolean;
}): OutboundOptions | undefined {
  if (!o.mllp && !o.fhir && !o.webhook && !o.acm && !o.acmListen) return undefined;
  const out: OutboundOptions = { start: o.outboundFromStart ? 'history' : 'now' };
  const hostPort = (flag: string, v: string) => {
    const m = /^([^:\s]+):(\d{1,5})$/.exec(v);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw new UsageError(`${flag} must be host:port`);
    return { host: m[1]!, port };
  };
  if (o.mllp) out.mllp = hostPort('--mllp', o.mllp);
  if (o.mllpInterval !== undefined) {
    const s = Number(o.mllpInterval);
    if (!out.mllp || !/^\d{1,4}$/.test(o.mllpInterval) || s < 5 || s > 3600)
      throw new UsageError('--mllp-interval must be 5 to 3600 seconds, with --mllp');
    out.mllp.intervalSeconds = s;
  }
  if (o.acm) out.acm = hostPort('--acm', o.acm);
  if (o.acmListen) {
    const port = Number(o.acmListen);
    if (!/^\d{1,5}$/.test(o.acmListen) || port < 1 || port > 65535)
      throw new UsageError('--acm-listen must be a port');
    out.acm = { ...out.acm, listen: { host: '127.0.0.1', port, allowFrom: ['127.0.0.1'] } };
  }
  if (o.webhook) {
    if (!/^https?:\/\/\S+$/.test(o.webhook)) throw new UsageError('--webhook must be an http(s) URL');
    if (!o.webhookSecretFile) throw new UsageError('--webhook needs --webhook-secret-file');
    out.webhook = { url: o.webhook, secret: readSecretFile('--webhook-secret-file', o.webhookSecretFile) };
  }
  if (o.fhir) {
    if (!/^https?:\/\/\S+$/.test(o.fhir)) throw new UsageError('--fhir must be an http(s) URL');
    out.fhir = { url: o.fhir };
  }
  return out;
}
