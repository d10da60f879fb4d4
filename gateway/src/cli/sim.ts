/**
 * @module cli/sim
 * `vitaltrail sim`: a fleet of simulated wearables (firmware-sim/) using the enrolment
 * bundles of a data directory (DATA/devices/<id>/device.key.pem) and keeping their
 * seq/prev state there, so a second run continues each device's hash chain. `--enroll`
 * enrols the devices that have no key and registers them on the chain (issue 17) before the
 * first frame. The devices are `--prefix` + 4 digits (`--devices` of them) or any ids
 * (`--ids a,b,c`); `--speed` runs the patients' physiology faster than the frames (issue 15).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { IClientOptions } from 'mqtt';
import { DEVICE_KEY_FILE, readPrivateKey } from '../../../anchor/src/kgc/index.js';
import { createViemRegistry } from '../../../anchor/src/ledger/index.js';
import type { FaultMix } from '../../../firmware-sim/src/faults.js';
import { Fleet, type FleetDeviceSpec, type FleetStats } from '../../../firmware-sim/src/fleet.js';
import { SCENARIOS, type Scenario } from '../../../firmware-sim/src/physiology.js';
import {
  type ChainRegistry,
  enrolDevice,
  type SyncRegistryResult,
  syncRegistry,
} from '../io/identity/index.js';
import { type DataPaths, dataPaths } from '../io/ops/index.js';
import { openStore } from '../io/store/index.js';
import { DEVICE_ID_PATTERN, DEVICE_ID_RULE } from '../protocol/frame.js';
import {
  assertRegistryReady,
  externalRegistry,
  type RegistryOptionValues,
  withRegistryOptions,
} from './chain-options.js';
import { errorText, UsageError } from './errors.js';
import { faultMixOf, registerFaultOptions } from './faults.js';
import { DEFAULT_DATA_DIR, intOption, numberOption, stopSignal } from './inputs.js';
import { reachableChain } from './kgc-enroll.js';
import { parseFaults, runSerialSim } from './serial.js';

/** `n` device ids: `prefix` + a 4-digit number from 0001. */
export function deviceIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);
}

/** `--speed`: physiology time per wall time, from 1 (real time) to 600 (10 min per second). */
export const SPEED_MIN = 1;
export const SPEED_MAX = 600;
/** `--ids`: at most this many devices, as `--devices`. */
export const MAX_SIM_IDS = 10_000;

/**
 * Parses `--speed <factor>`: a number from 1 to 600 (60 turns 20 min of deterioration into 20 s;
 * frames still come in real time).
 * @throws {UsageError} when the value is not a number in range.
 * @example parseSpeed('60') // 60
 */
export function parseSpeed(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= SPEED_MIN && n <= SPEED_MAX)) {
    throw new UsageError(`--speed must be a number from ${SPEED_MIN} to ${SPEED_MAX}`);
  }
  return n;
}

/**
 * Parses `--ids a,b,c`: distinct device ids, each matching the protocol's pattern
 * (PROTOCOL.md §1, `DEVICE_ID_PATTERN`).
 * @throws {UsageError} on an empty list, an invalid or repeated id, or more than 10000 ids.
 * @example parseDeviceIds('bed-1,bed-2,icu.7') // ['bed-1', 'bed-2', 'icu.7']
 */
export function parseDeviceIds(list: string): string[] {
  const ids = list.split(',');
  if (ids.length > MAX_SIM_IDS) throw new UsageError(`--ids takes at most ${MAX_SIM_IDS} device ids`);
  if (ids.some((id) => !DEVICE_ID_PATTERN.test(id))) throw new UsageError(`--ids: ${DEVICE_ID_RULE}`);
  if (new Set(ids).size !== ids.length) throw new UsageError('--ids: each device id once');
  return ids;
}

/**
 * Parses `--scenario <name>`, one of `SCENARIOS`.
 * @throws {UsageError} on an unknown name.
 */
export function parseScenario(value: string): Scenario {
  if (!SCENARIOS.includes(value as Scenario)) {
    throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  }
  return value as Scenario;
}

/** Fleet specs for enrolled devices; `scenarioOf` picks each patient's physiology. */
export function fleetSpecs(
  paths: DataPaths,
  ids: string[],
  scenarioOf: (id: string, i: number) => Scenario,
): FleetDeviceSpec[] {
  return ids.map((devId, i) => {
    const keyPath = join(paths.deviceDir(devId), DEVICE_KEY_FILE);
    if (!existsSync(keyPath)) {
      throw new UsageError(
        `device ${devId} is not enrolled in ${paths.root}: run \`vitaltrail kgc enroll --device ${devId}\` or pass --enroll`,
      );
    }
    return {
      devId,
      privateKey: readPrivateKey(keyPath),
      statePath: join(paths.deviceDir(devId), 'state.json'),
      scenario: scenarioOf(devId, i),
    };
  });
}

export function formatStats(s: FleetStats): string {
  const rejected = Object.entries(s.rejected)
    .map(([c, n]) => `${c}=${n}`)
    .join(' ');
  const sent = Object.entries(s.faultsSent ?? {}).map(([k, n]) => `${k}=${n}`);
  const faults = s.faultsSent ? `, faults sent ${sent.join(' ') || '0'}` : '';
  return `made ${s.made}${faults}, acked ${s.acked}, in outbox ${s.inOutbox}, rejected ${rejected || '0'}, PUBACK p50 ${s.latencyMs.p50.toFixed(1)} ms p99 ${s.latencyMs.p99.toFixed(1)} ms`;
}

export interface SimParameters {
  dataDir: string;
  devices: number;
  rateHz: number;
  url: string;
  prefix: string;
  /** Any device ids instead of `prefix` + `devices` (issue 15). */
  ids?: readonly string[] | undefined;
  /** Physiology time per wall time (`--speed`), 1-600, default 1. */
  speed?: number | undefined;
  durationMs: number | undefined;
  enroll: boolean;
  scenario: string;
  /** One device over this serial line instead of MQTT (cli/serial.ts). */
  serial?: string | undefined;
  /** Serial fault injection: comma list of noise, split, merge, drop. */
  faults?: string | undefined;
  /** External-broker mode: keep each frame until the gateway's `/acks` (PROTOCOL.md §2). */
  appAcks?: boolean | undefined;
  /** Mutual TLS: the broker's CA file; each device presents DATA/devices/<id>/device.{cert,key}.pem. */
  caFile?: string | undefined;
  /** Bad frames mixed among the good ones (cli/faults.ts, firmware-sim/src/faults.ts). */
  faultMix?: FaultMix | undefined;
  /**
   * With `enroll`: the external chain whose registry the devices are registered in
   * (`--rpc`, `--deployment`, `--key-file`, `--confirmations`); default: the data directory's
   * embedded chain when it is running.
   */
  registry?: Omit<RegistryOptionValues, 'data'> | undefined;
}

/**
 * The registry `sim --enroll` registers its devices in: the external chain of `--rpc`
 * (checked first), else the embedded chain of the data directory when it runs, else none.
 */
async function enrolmentRegistry(p: SimParameters, paths: DataPaths): Promise<ChainRegistry | undefined> {
  const external = await externalRegistry({ ...p.registry, data: p.dataDir }, paths, 'sim --enroll');
  if (external) {
    await assertRegistryReady(external, 'sim --enroll');
    return { client: external.registry, ref: external.deployment };
  }
  const chain = await reachableChain(p.dataDir);
  if (!chain) return undefined;
  const client = createViemRegistry({
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    privateKey: chain.kgcKey,
  });
  return { client, ref: chain.deployment };
}

/**
 * Enrols the devices that have no key yet and, when a chain is configured or running,
 * registers every one of them whose current key the registry does not hold (issue 17: a
 * gateway that anchors on that chain accepts no frame of an unregistered key, since no such
 * frame could ever be proven), before any frame is sent.
 */
export async function enrolSimDevices(
  p: SimParameters,
  paths: DataPaths,
  ids: readonly string[],
): Promise<SyncRegistryResult | null> {
  const registry = await enrolmentRegistry(p, paths);
  const store = openStore(paths.db);
  try {
    for (const id of ids) {
      if (!existsSync(join(paths.deviceDir(id), DEVICE_KEY_FILE))) await enrolDevice(paths, store, id);
    }
    if (!registry) return null;
    const r = await syncRegistry(store, registry, { devices: ids });
    if (r.revokedOnChain.length > 0) {
      throw new UsageError(
        `${r.revokedOnChain.length} device(s) hold a key the registry revoked: re-enrol them (kgc enroll)`,
      );
    }
    return r;
  } finally {
    store.close();
  }
}

/** mqtt.js options per device for mutual TLS with its KGC certificate (CN = device id). */
function tlsClientOptions(paths: DataPaths, ca: string): (devId: string) => IClientOptions {
  return (devId) => ({
    ca,
    cert: readFileSync(join(paths.deviceDir(devId), 'device.cert.pem'), 'utf8'),
    key: readFileSync(join(paths.deviceDir(devId), DEVICE_KEY_FILE), 'utf8'),
  });
}

/**
 * Runs the simulated wearables until the duration ends or SIGINT/SIGTERM.
 * @throws {UsageError} on an unknown scenario, a speed out of range, invalid ids, or devices not enrolled.
 */
export async function runSim(p: SimParameters): Promise<void> {
  const scenario = parseScenario(p.scenario);
  const speed = p.speed ?? 1;
  if (!(speed >= SPEED_MIN && speed <= SPEED_MAX)) {
    throw new UsageError(`--speed must be a number from ${SPEED_MIN} to ${SPEED_MAX}`);
  }
  const paths = dataPaths(p.dataDir);
  const ids = p.ids ? parseDeviceIds(p.ids.join(',')) : deviceIds(p.prefix, p.devices);
  if (p.enroll) {
    const r = await enrolSimDevices(p, paths, ids);
    process.stdout.write(
      r
        ? `registered on chain: ${r.registered.length} now, ${r.unchanged} already\n`
        : 'not registered on chain (no chain configured or running): a gateway that anchors will refuse them\n',
    );
  }
  if (p.serial !== undefined) {
    if (ids.length !== 1) throw new UsageError('--serial runs one device: use --devices 1 or one --ids');
    return runSerialSim({
      paths,
      devId: ids[0] as string,
      path: p.serial,
      rateHz: p.rateHz,
      durationMs: p.durationMs,
      scenario,
      speed,
      faults: parseFaults(p.faults),
    });
  }
  let failed = false;
  const fleet = await Fleet.start({
    url: p.url,
    devices: fleetSpecs(paths, ids, () => scenario),
    rateHz: p.rateHz,
    speedup: speed,
    ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
    ...(p.appAcks ? { appAcks: true } : {}),
    ...(p.caFile ? { clientOptions: tlsClientOptions(paths, readFileSync(p.caFile, 'utf8')) } : {}),
    ...(p.faultMix ? { faults: p.faultMix } : {}),
    // A device that cannot make a frame (no durable seq reservation) waits and tries again at
    // each tick; one whose state cannot be saved goes on. Either is told once, with its reason,
    // and the run then exits 1 after its summary.
    onError: (devId, err) => {
      failed = true;
      process.stderr.write(`device ${devId}: ${errorText(err)}\n`);
    },
  });
  const pace = speed === 1 ? '' : `, physiology ×${speed}`;
  process.stdout.write(`simulating ${ids.length} wearable(s) at ${p.rateHz} Hz${pace} against ${p.url}\n`);
  const timer = setInterval(() => process.stdout.write(`${formatStats(fleet.stats())}\n`), 5000);
  // Ctrl-C ends the run, and so does its end: one stop and one summary either way.
  const signal = stopSignal();
  await Promise.race([signal.done, fleet.finished]);
  signal.end();
  clearInterval(timer);
  const s = await fleet.stop();
  process.stdout.write(`stopped: ${formatStats(s)}\n`);
  if (failed) process.exitCode = 1;
}

/** `--speed <factor>` (cli/sim `parseSpeed`): the patients' physiology runs this much faster than the frames. */
export function speedOption(): Option {
  return new Option(
    '--speed <factor>',
    "patients' physiology time per real time, 1-600 (60: 20 min of deterioration in 20 s); frames stay real time",
  )
    .default(1)
    .argParser(parseSpeed);
}

/** `--ids a,b,c` (cli/sim `parseDeviceIds`): any device ids, instead of `--devices` (and `--prefix`). */
export function idsOption(conflicts: string[]): Option {
  return new Option(
    '--ids <list>',
    `comma-separated device ids instead of --${conflicts.join('/--')} (${DEVICE_ID_RULE})`,
  )
    .argParser(parseDeviceIds)
    .conflicts(conflicts);
}

/**
 * Adds `sim` (with the fault-injection flags of cli/faults) to the program.
 * @example
 * registerSimCommand(program);
 */
export function registerSimCommand(program: Command): void {
  withRegistryOptions(
    program
      .command('sim')
      .description('simulated wearables publishing signed frames over MQTT, keeping each until acknowledged')
      .option('--devices <n>', 'number of wearables (wr-0001 …)', intOption('--devices', 1, 10_000), 1)
      .option('--rate <hz>', 'frames per second per wearable', numberOption('--rate', 0.01, 1000), 1)
      .option('--mqtt <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
      .option('--data <dir>', 'data directory holding the device keys (DATA/devices/<id>/)', DEFAULT_DATA_DIR)
      .option('--prefix <p>', 'device id prefix', 'wr-')
      .option('--duration <s>', 'stop after this many seconds', numberOption('--duration', 0.1, 1e7))
      .option(
        '--enroll',
        'enroll devices that have no key yet (needs the KGC in --data) and register them on chain: the ' +
          'external chain of --rpc, else the embedded chain of --data when it is running',
      )
      .option('--scenario <name>', SCENARIOS.join(' | '), 'steady')
      .addOption(speedOption())
      .addOption(idsOption(['devices', 'prefix']))
      .option(
        '--serial <path>',
        'one wearable (--devices 1) over this serial line instead of MQTT (115200 8N1)',
      )
      .option('--faults <list>', 'with --serial: inject noise,split,merge,drop (each 10 % of messages)')
      .option('--app-acks', "external broker: keep frames until the gateway's ack on /acks (default: PUBACK)")
      .option('--ca <file>', "mutual TLS: the broker's CA; devices present their KGC certificates"),
    'optional',
  ).action(async (o) => {
    await runSim({
      registry: { rpc: o.rpc, deployment: o.deployment, keyFile: o.keyFile, confirmations: o.confirmations },
      appAcks: Boolean(o.appAcks),
      caFile: o.ca,
      faultMix: faultMixOf(o),
      serial: o.serial,
      faults: o.faults,
      dataDir: o.data,
      devices: o.devices,
      rateHz: o.rate,
      url: o.mqtt,
      prefix: o.prefix,
      ids: o.ids,
      speed: o.speed,
      durationMs: o.duration ? o.duration * 1000 : undefined,
      enroll: Boolean(o.enroll),
      scenario: o.scenario,
    });
  });
  registerFaultOptions(program);
}
