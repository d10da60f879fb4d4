/**
 * @module cli/main
 * The `vitaltrail` command line: a thin shell over the gateway, the KGC, the simulator,
 * the exporter and the auditor's verifier. Every command has `--help`; state lives in
 * `--data DIR`. Exit codes: 0 success; 1 the command ran and found a problem (e.g. a
 * bundle entry did not verify); 2 it could not run (bad usage, missing files, no chain).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { initKgc } from '../../../anchor/src/kgc/kgc.js';
import type { Deployment, Hex } from '../../../anchor/src/ledger/types.js';
import { createViemRegistry } from '../../../anchor/src/ledger/viem.js';
import { DEFAULT_GATEWAY_ID } from '../gateway.js';
import { checkpointOrigin, logIdOf } from '../io/anchoring.js';
import { dataPaths, readJson } from '../io/datadir.js';
import { enrolDevice } from '../io/enrol.js';
import { exportBundle } from '../io/export.js';
import { loadRecipientSecrets } from '../io/recipients.js';
import { openStore } from '../io/store.js';
import { isVitalTrailError } from '../protocol/errors.js';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';
import { runDemo } from './demo.js';
import { UsageError } from './errors.js';
import { runSim } from './sim.js';
import { runVerify } from './verify.js';

export const DEFAULT_DATA_DIR = '.vitaltrail';

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

/** Accepts ms since epoch or an ISO 8601 date-time. */
function timeOption(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected ms since epoch or an ISO 8601 time');
  return n;
}

function deviceIdOption(value: string): string {
  if (!DEVICE_ID_PATTERN.test(value))
    throw new InvalidArgumentError('device ids are 1-64 chars of [A-Za-z0-9._-]');
  return value;
}

/** The chain the data dir's embedded node serves, if it is running. */
async function reachableChain(
  dataDir: string,
): Promise<{ rpcUrl: string; deployment: Deployment; kgcKey: Hex } | null> {
  const paths = dataPaths(dataDir);
  const endpoint = readJson<{ rpcUrl: string }>(paths.endpoint);
  const deployment = readJson<Deployment>(paths.deployment);
  if (!endpoint || !deployment) return null;
  try {
    const res = await fetch(endpoint.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1500),
    });
    if (!res.ok) return null;
  } catch {
    return null;
  }
  const kgcKey = readFileSync(paths.kgcAccountKey, 'utf8').trim() as Hex;
  return { rpcUrl: endpoint.rpcUrl, deployment, kgcKey };
}

export function buildProgram(): Command {
  const program = new Command()
    .name('vitaltrail')
    .description(
      'VitalTrail IoMT gateway: signed vital signs, sealed storage, live ward, anchored transparency log',
    )
    .showHelpAfterError()
    .exitOverride();

  program
    .command('demo')
    .description(
      'run the whole system on embedded defaults: gateway (embedded MQTT broker), local anvil chain with the ' +
        'contracts, embedded store, dashboard, and a simulated ward; Ctrl-C stops, running again resumes',
    )
    .option('--data <dir>', 'data directory', `${DEFAULT_DATA_DIR}/demo`)
    .option('--devices <n>', 'simulated wearables', intOption('--devices', 0, 1000), 20)
    .option('--rate <hz>', 'frames per second per wearable', numberOption('--rate', 0.01, 100), 1)
    .option(
      '--http-port <port>',
      'dashboard port (0 = any free port)',
      intOption('--http-port', 0, 65535),
      8080,
    )
    .option(
      '--mqtt-port <port>',
      'plain MQTT demo port (0 = any free port)',
      intOption('--mqtt-port', 0, 65535),
      1883,
    )
    .option(
      '--chain-port <port>',
      'anvil JSON-RPC port (0 = any free port)',
      intOption('--chain-port', 0, 65535),
      8545,
    )
    .option(
      '--checkpoint-interval <s>',
      'seconds between checkpoints',
      numberOption('--checkpoint-interval', 0.2, 3600),
      10,
    )
    .option(
      '--gateway-id <id>',
      'gateway id (checkpoint origin vitaltrail/<id>)',
      deviceIdOption,
      DEFAULT_GATEWAY_ID,
    )
    .action(async (o) => {
      await runDemo({
        dataDir: o.data,
        devices: o.devices,
        rateHz: o.rate,
        httpPort: o.httpPort,
        mqttPort: o.mqttPort,
        chainPort: o.chainPort,
        checkpointIntervalMs: Math.round(o.checkpointInterval * 1000),
        gatewayId: o.gatewayId,
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

  const kgc = program
    .command('kgc')
    .description("the consortium's Key Generation Center (minimal: P-256 root, device certificates)");
  kgc
    .command('init')
    .description('create the KGC root key (0600) and self-signed root certificate, if not there yet')
    .option('--data <dir>', 'data directory', `${DEFAULT_DATA_DIR}/demo`)
    .action(async (o) => {
      const paths = dataPaths(o.data);
      const r = await initKgc(paths.kgcDir);
      process.stdout.write(
        `${r.created ? 'created' : 'already initialised'}: KGC root ${paths.kgcRootCert}\n`,
      );
    });
  kgc
    .command('enroll')
    .description(
      'issue a device key + certificate (PEM files in DATA/devices/<id>/) and register the device with the ' +
        'gateway (and on chain when the embedded chain is running); a running gateway accepts it within seconds',
    )
    .requiredOption('--device <id>', 'device id, 1-64 chars of [A-Za-z0-9._-]', deviceIdOption)
    .option('--data <dir>', 'data directory', `${DEFAULT_DATA_DIR}/demo`)
    .action(async (o) => {
      const paths = dataPaths(o.data);
      await initKgc(paths.kgcDir);
      const store = openStore(paths.db);
      try {
        const chain = await reachableChain(o.data);
        const registry = chain
          ? createViemRegistry({
              rpcUrl: chain.rpcUrl,
              deployment: chain.deployment,
              privateKey: chain.kgcKey,
            })
          : undefined;
        const r = await enrolDevice(paths, store, o.device, registry);
        process.stdout.write(
          `enrolled ${r.devId}\n  key and certificate: ${r.deviceDir}\n  SPKI SHA-256: ${r.spkiSha256}\n`,
        );
        process.stdout.write(
          r.registryTx
            ? `  registered on chain: tx ${r.registryTx}\n`
            : '  not registered on chain yet (no running chain); the demo registers it at its next start\n',
        );
      } finally {
        store.close();
      }
    });

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
    .option('--enroll', 'enroll devices that have no key yet (needs the KGC in --data)')
    .option('--scenario <name>', 'steady | deteriorating | arrhythmia | artefacts', 'steady')
    .action(async (o) => {
      await runSim({
        dataDir: o.data,
        devices: o.devices,
        rateHz: o.rate,
        url: o.mqtt,
        prefix: o.prefix,
        durationMs: o.duration ? o.duration * 1000 : undefined,
        enroll: Boolean(o.enroll),
        scenario: o.scenario,
      });
    });

  program
    .command('export')
    .description(
      'write a disclosure bundle (PROTOCOL.md §5) of one device, proven against the latest anchored checkpoint',
    )
    .requiredOption('--device <id>', 'device id', deviceIdOption)
    .requiredOption('--out <file>', 'output file (JSON)')
    .option('--from <time>', 'from device time (ms since epoch or ISO 8601), inclusive', timeOption)
    .option('--to <time>', 'to device time (ms since epoch or ISO 8601), inclusive', timeOption)
    .option('--data <dir>', 'data directory', `${DEFAULT_DATA_DIR}/demo`)
    .option('--gateway-id <id>', 'gateway id', deviceIdOption, DEFAULT_GATEWAY_ID)
    .action(async (o) => {
      const paths = dataPaths(o.data);
      const deployment = readJson<Deployment>(paths.deployment);
      if (!deployment) throw new UsageError('no chain deployment in the data directory (run the demo first)');
      const store = openStore(paths.db);
      try {
        const origin = checkpointOrigin(o.gatewayId);
        const { bundle, pendingAnchor } = await exportBundle({
          store,
          paths,
          deployment,
          origin,
          logId: logIdOf(origin),
          dev: o.device,
          from: o.from,
          to: o.to,
          secrets: loadRecipientSecrets(paths.recipientsDir),
          onProgress: (done, total) => process.stderr.write(`\rexported ${done}/${total}`),
        });
        writeFileSync(o.out, `${JSON.stringify(bundle, null, 1)}\n`);
        process.stdout.write(
          `wrote ${bundle.entries.length} entries of ${o.device} to ${o.out} (checkpoint size ${bundle.checkpoints[0]?.treeSize})\n`,
        );
        if (pendingAnchor > 0) {
          process.stdout.write(`${pendingAnchor} newer frame(s) are not anchored yet and were left out\n`);
        }
      } finally {
        store.close();
      }
    });

  program
    .command('verify')
    .description(
      'check every entry of a disclosure bundle: signature, certificate chain to the KGC root, inclusion proof, and the Anchored event on chain; exit 0 only if all pass',
    )
    .argument('<bundle>', 'bundle JSON file')
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the consortium chain')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, o) => {
      process.exitCode = await runVerify({ file, rpcUrl: o.rpc, json: Boolean(o.json) });
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
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
