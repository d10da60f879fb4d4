/**
 * @module cli/main
 * The `vitaltrail` command line: a thin shell over the gateway, the KGC, the simulator,
 * the exporter and the auditor's verifier. Every command has `--help`; state lives in
 * `--data DIR`. Exit codes: 0 success; 1 the command ran and found a problem (e.g. a
 * bundle entry did not verify); 2 it could not run (bad usage, missing files, no chain);
 * 3 `verify`: the bundle is INCOMPLETE (a gap or an unproven end; 0 with --allow-gaps).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SCENARIOS } from '../../../firmware-sim/src/physiology.js';
import { readSecretFile } from '../app/config.js';
import { DEFAULT_GATEWAY_ID } from '../app/gateway.js';
import type { OutboundOptions } from '../app/options.js';
import { dataPaths } from '../io/ops/index.js';
import { openStore } from '../io/store/index.js';
import type { SerialPortConfig } from '../io/transport/index.js';
import { isVitalTrailError } from '../protocol/errors.js';
import { DEVICE_ID_PATTERN, DEVICE_ID_RULE } from '../protocol/frame.js';
import { registerAccessCommands } from './access.js';
import { registerAnchorsCommands } from './anchors.js';
import { registerAuditorCommands } from './auditor.js';
import { registerBackupCommands } from './backup.js';
import { withRegistryOptions } from './chain-options.js';
import { registerConsentCommands } from './consent.js';
import { parseDemoScenario, runDemo } from './demo.js';
import { registerDisplaysCommands } from './displays.js';
import { UsageError } from './errors.js';
import { faultMixOf, registerFaultOptions } from './faults.js';
import { registerGatewayCommands } from './gateway.js';
import { exitQuietlyOnEpipe, keepRunningOnEpipe, requireDataDir } from './inputs.js';
import { registerKgcCommands } from './kgc.js';
import { registerOutboundCommands } from './outbound.js';
import { registerProductionCommands } from './production.js';
import { parseSerialSpec } from './serial.js';
import { registerSharedCommands } from './shared-import.js';
import { parseDeviceIds, parseSpeed, runSim } from './sim.js';
import { registerStoreCommands } from './store.js';
import { registerUsersCommands } from './users.js';

export const DEFAULT_DATA_DIR = '.vitaltrail';

/** The commands that create a data directory; every other `--data` must exist (`data_dir_missing`). */
const DATA_DIR_CREATORS: ReadonlySet<string> = new Set(['demo', 'kgc init', 'restore']);
/** The commands that run a gateway: a closed stdout must not stop them (cli/inputs `keepRunningOnEpipe`). */
const LONG_RUNNING: ReadonlySet<string> = new Set(['demo', 'gateway']);

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function numberOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be from ${min} to ${max}`);
    return n;
  };
}

/** A `--…-port <port>` option: an integer from 0 to 65535, 0 = any free port. */
function portOption(flag: string, what: string, port: number): Option {
  return new Option(`${flag} <port>`, `${what} (0 = any free port)`)
    .default(port)
    .argParser(intOption(flag, 0, 65535));
}

/** `--speed <factor>` (cli/sim `parseSpeed`): the patients' physiology runs this much faster than the frames. */
function speedOption(): Option {
  return new Option(
    '--speed <factor>',
    "patients' physiology time per real time, 1-600 (60: 20 min of deterioration in 20 s); frames stay real time",
  )
    .default(1)
    .argParser(parseSpeed);
}

/** `--ids a,b,c` (cli/sim `parseDeviceIds`): any device ids, instead of `--devices` (and `--prefix`). */
function idsOption(conflicts: string[]): Option {
  return new Option(
    '--ids <list>',
    `comma-separated device ids instead of --${conflicts.join('/--')} (${DEVICE_ID_RULE})`,
  )
    .argParser(parseDeviceIds)
    .conflicts(conflicts);
}

function deviceIdOption(value: string): string {
  if (!DEVICE_ID_PATTERN.test(value)) throw new InvalidArgumentError(DEVICE_ID_RULE);
  return value;
}

export function buildProgram(): Command {
  const program = new Command()
    .name('vitaltrail')
    .description(
      'VitalTrail IoMT gateway: signed vital signs, sealed storage, live ward, anchored transparency log',
    )
    .showHelpAfterError()
    .exitOverride();

  // A mistyped --data must not become a new, empty store: only these create a data directory.
  program.hook('preAction', (_program, action) => {
    const name = [action.parent?.name(), action.name()].filter((n) => n && n !== 'vitaltrail').join(' ');
    if (LONG_RUNNING.has(name)) keepRunningOnEpipe();
    if (DATA_DIR_CREATORS.has(name)) return;
    const opts = action.optsWithGlobals();
    // `--config FILE` names the data directory: checked by app/config (`gateway`), by
    // cli/gateway-config (`export`, `export-fhir`, `outbound status`) or cli/users.
    if (opts.config !== undefined) return;
    const data = opts.data as unknown;
    for (const dir of Array.isArray(data) ? data : [data]) if (typeof dir === 'string') requireDataDir(dir);
  });

  program
    .command('demo')
    .description(
      'run the whole system on embedded defaults: gateway (embedded MQTT broker), local anvil chain with the ' +
        'contracts, embedded store, dashboard, and a simulated ward; Ctrl-C stops, running again resumes',
    )
    .option('--data <dir>', 'data directory', `${DEFAULT_DATA_DIR}/demo`)
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

  program
    .command('devices')
    .description('list enrolled devices: id, status, last accepted seq, frame count')
    .option('--data <dir>', 'data directory', `${DEFAULT_DATA_DIR}/demo`)
    .option('--json', 'print JSON')
    .action((o) => {
      const store = openStore(dataPaths(o.data).db);
      try {
        const rows = store.listDevices().map((d) => ({
          dev: d.dev,
          status: d.status,
          lastSeq: d.lastSeq,
          frames: d.frameCount,
          spkiSha256: d.spkiSha256,
        }));
        if (o.json) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        } else {
          process.stdout.write(
            `${'DEVICE'.padEnd(24)} ${'STATUS'.padEnd(8)} ${'LAST SEQ'.padStart(9)} ${'FRAMES'.padStart(9)}\n`,
          );
          for (const r of rows) {
            process.stdout.write(
              `${r.dev.padEnd(24)} ${r.status.padEnd(8)} ${String(r.lastSeq ?? '-').padStart(9)} ${String(r.frames).padStart(9)}\n`,
            );
          }
          process.stdout.write(`${rows.length} device(s)\n`);
        }
      } finally {
        store.close();
      }
    });

  withRegistryOptions(
    program
      .command('sim')
      .description('simulated wearables publishing signed frames over MQTT, keeping each until acknowledged')
      .option('--devices <n>', 'number of wearables (wr-0001 …)', intOption('--devices', 1, 10_000), 1)
      .option('--rate <hz>', 'frames per second per wearable', numberOption('--rate', 0.01, 1000), 1)
      .option('--mqtt <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
      .option(
        '--data <dir>',
        'data directory holding the device keys (DATA/devices/<id>/)',
        `${DEFAULT_DATA_DIR}/demo`,
      )
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

  registerAuditorCommands(program);
  registerAccessCommands(program, `${DEFAULT_DATA_DIR}/demo`);
  registerConsentCommands(program, `${DEFAULT_DATA_DIR}/demo`);

  registerKgcCommands(program, `${DEFAULT_DATA_DIR}/demo`);
  registerFaultOptions(program);
  registerGatewayCommands(program, `${DEFAULT_DATA_DIR}/demo`);
  registerUsersCommands(program, `${DEFAULT_DATA_DIR}/demo`);
  registerDisplaysCommands(program, `${DEFAULT_DATA_DIR}/demo`);

  registerStoreCommands(program, `${DEFAULT_DATA_DIR}/demo`);

  registerProductionCommands(program);
  registerOutboundCommands(program, `${DEFAULT_DATA_DIR}/demo`);
  registerSharedCommands(program);
  registerAnchorsCommands(program, `${DEFAULT_DATA_DIR}/demo`);
  registerBackupCommands(program, `${DEFAULT_DATA_DIR}/demo`);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnEpipe();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // --help and --version exit 0; usage errors were printed by commander.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
    } else if (isVitalTrailError(err)) {
      process.stderr.write(`error: ${err.code}: ${err.reason}\n`);
    } else {
      process.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
    }
    process.exitCode = 2;
  }
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
