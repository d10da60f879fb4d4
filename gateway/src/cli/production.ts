/**
 * @module cli/production
 * Commands of the production shape (issue "production shape and scale-out"):
 * - `vitaltrail config check FILE`: validate a gateway config file and the environment
 *   overrides, read the files it names; exit 0 and print the effective settings, or exit 2
 *   with `error: config_invalid: FILE: path: reason; …`.
 * - `vitaltrail config schema`: the configuration reference (Markdown table).
 * - `vitaltrail config mosquitto --out FILE [--acl-out FILE --gateway CN …]`: a Mosquitto
 *   configuration for the external-broker mode (core/mosquitto-config).
 * - `vitaltrail scaleout count --data DIR …`: frames per gateway, distinct `(dev, seq)`
 *   across them, duplicates and conflicts (io/scale-out).
 * - `vitaltrail chain deploy --rpc URL --key-file F --out FILE --gateway ID=KEYFILE …`: the
 *   one-shot, idempotent contract deployment and gateway registration (io/deploy-job).
 * `runGatewayFromConfig` runs a gateway from a config file until SIGTERM/SIGINT, for the
 * `gateway --config FILE` command.
 */
import { writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { configReference, envNameOf, gatewayOptionsFromConfig, loadConfigFile } from '../app/config.js';
import type { ConfigItem } from '../app/config-fields.js';
import { startGateway } from '../app/gateway.js';
import type { RunningExternalGateway, RunningGateway } from '../app/options.js';
import { mosquittoAcl, mosquittoConfig } from '../core/mosquitto-config.js';
import { runDeployJob } from '../io/anchoring/index.js';
import { createLogger, dataPaths, type Logger } from '../io/ops/index.js';
import { countAcrossGateways } from '../io/store/index.js';
import { readAccountKey } from './chain-options.js';
import { UsageError } from './errors.js';
import { stopSignal } from './inputs.js';

function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('--port must be 1-65535');
  return n;
}

const collect = (value: string, prev: string[]): string[] => [...prev, value];

/** One item of a list field as `config check` prints it: `path=/dev/ttyUSB0 devices=bed-1,bed-2 baudRate=115200`. */
function itemText(item: ConfigItem): string {
  return Object.entries(item)
    .map(([k, x]) => `${k}=${Array.isArray(x) ? x.join(',') : String(x)}`)
    .join(' ');
}

/**
 * Starts a gateway from a config file with the environment overrides: every listener it
 * configures (MQTT, the mutual-TLS MQTT listener, serial ports, HTTP). The start of
 * `gateway --config FILE`.
 * @param logger default: a logger at the file's `log.level`
 * @throws {ConfigError} `config_invalid` when the file or a file it names is invalid
 * @example const gw = await startGatewayFromConfig('/etc/vitaltrail/gateway.json');
 */
export async function startGatewayFromConfig(
  file: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
  logger?: Logger,
): Promise<RunningGateway | RunningExternalGateway> {
  const cfg = loadConfigFile(file, env);
  const { logLevel, ...opts } = gatewayOptionsFromConfig(cfg);
  const log = logger ?? createLogger({ level: logLevel });
  for (const name of cfg.unknownEnv) log.warn('unknown configuration variable ignored', { variable: name });
  return startGateway({ ...opts, logger: log });
}

/**
 * Starts a gateway from a config file and stops it gracefully on SIGTERM or SIGINT
 * (frames in flight are committed and acknowledged; the rest stays with the devices or
 * the broker sessions). Resolves once stopped.
 * @throws {ConfigError} `config_invalid` when the file or a file it names is invalid
 */
export async function runGatewayFromConfig(
  file: string,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<void> {
  const gw = await startGatewayFromConfig(file);
  // A broker port of 0 is no listener: `mqtt.plain: off`.
  const mqtt = gw.broker ? (gw.broker.port === 0 ? 'off' : gw.broker.url) : gw.external?.url;
  const mqtts = gw.broker?.tlsUrl ? `, mqtts ${gw.broker.tlsUrl}` : '';
  const serial = gw.serial ? `, serial ${gw.serial.status().length} port(s)` : '';
  out(`gateway ${gw.gatewayId} running: http ${gw.http.url}, mqtt ${mqtt}${mqtts}${serial}`);
  await stopSignal().done;
  await gw.stop();
  out(`gateway ${gw.gatewayId} stopped`);
}

export function registerProductionCommands(program: Command): void {
  program
    .command('chain')
    .description('the consortium chain (external EVM JSON-RPC, e.g. Besu QBFT)')
    .command('deploy')
    .description(
      'deploy the registry and anchors contracts once (reused when --out names a deployment still on chain) and ' +
        'register each gateway account with its logId; safe to run again',
    )
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain')
    .requiredOption('--key-file <file>', 'file holding the KGC account key (0x hex, mode 0600)')
    .requiredOption('--out <file>', 'deployment JSON to write (and to reuse when present)')
    .option(
      '--gateway <id=keyfile>',
      'a gateway id and its ledger account key file (repeatable)',
      collect,
      [],
    )
    .option(
      '--access <id=keyfile>',
      "a gateway's access-log account key file (issue 18: DATA/chain/gateway-access.key), registered for its access logId (repeatable; the id must be a --gateway's)",
      collect,
      [],
    )
    .action(async (o: { rpc: string; keyFile: string; out: string; gateway: string[]; access: string[] }) => {
      const split = (flag: string, spec: string) => {
        const at = spec.indexOf('=');
        if (at <= 0) throw new UsageError(`${flag} must be ID=KEYFILE`);
        return { id: spec.slice(0, at), key: readAccountKey(flag, spec.slice(at + 1), 'chain deploy') };
      };
      const access = new Map(
        o.access.map((spec) => [split('--access', spec).id, split('--access', spec).key]),
      );
      const gateways = o.gateway.map((spec) => {
        const g = split('--gateway', spec);
        const accessKey = access.get(g.id);
        access.delete(g.id);
        return accessKey === undefined ? g : { ...g, accessKey };
      });
      if (access.size > 0)
        throw new UsageError(`--access names no --gateway: ${[...access.keys()].join(', ')}`);
      const r = await runDeployJob({
        rpcUrl: o.rpc,
        deployerKey: readAccountKey('--key-file', o.keyFile, 'chain deploy'),
        out: o.out,
        gateways,
      });
      process.stdout.write(
        `${r.deployed ? 'deployed' : 'reused'}: registry ${r.deployment.registry}, anchors ${r.deployment.anchors} ` +
          `(chain ${r.deployment.chainId})
registered gateways: ${r.registered.join(', ') || 'none new'}
${r.registeredAccess ? `registered access logs: ${r.registeredAccess.join(', ') || 'none new'}\n` : ''}`,
      );
    });

  const config = program
    .command('config')
    .description('gateway configuration files (JSON) and generated broker configs');
  config
    .command('check')
    .description(
      'validate a gateway config file with the VITALTRAIL_* environment overrides and read the files it names; ' +
        'exit 0 and print the effective settings, or exit 2 naming every problem (code + field path)',
    )
    .argument('<file>', 'config file (JSON)')
    .option('--json', 'print the effective settings as JSON')
    .action((file: string, o: { json?: boolean }) => {
      const cfg = loadConfigFile(file);
      gatewayOptionsFromConfig(cfg); // reads the named files; throws config_invalid on any problem
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ values: cfg.values, sources: cfg.sources, unknownEnv: cfg.unknownEnv }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(`ok: ${file}\n`);
      for (const [k, v] of Object.entries(cfg.values)) {
        const rows: [string, string][] =
          typeof v === 'object' ? v.map((item, i) => [`${k}[${i}]`, itemText(item)]) : [[k, String(v)]];
        for (const [name, text] of rows)
          process.stdout.write(`  ${name.padEnd(28)} ${text.padEnd(40)} (${cfg.sources[k]})\n`);
      }
      for (const name of cfg.unknownEnv) process.stdout.write(`warning: ${name} names no field; ignored\n`);
    });
  config
    .command('schema')
    .description('print the configuration reference: every field, its environment variable, type, default')
    .action(() => {
      process.stdout.write(
        `${configReference()}\n\nExample: ${envNameOf('mqtt.sessionExpirySeconds')}=3600\n`,
      );
    });
  config
    .command('mosquitto')
    .description(
      'write a Mosquitto 2 config for the external-broker mode (max_queued_messages 0, persistence) and, with ' +
        '--acl-out, its ACL; mutual TLS unless --plain',
    )
    .requiredOption('--out <file>', 'where to write mosquitto.conf')
    .option('--port <port>', 'listener port', portOption, 8883)
    .option('--plain', 'plain anonymous listener (tests only; never in production)')
    .option('--cafile <path>', 'CA certificate path as seen by mosquitto', '/mosquitto/certs/ca.pem')
    .option(
      '--certfile <path>',
      'server certificate path as seen by mosquitto',
      '/mosquitto/certs/server.pem',
    )
    .option('--keyfile <path>', 'server key path as seen by mosquitto', '/mosquitto/certs/server.key')
    .option('--aclfile <path>', 'ACL path as seen by mosquitto', '/mosquitto/config/acl')
    .option(
      '--crlfile <path>',
      "the KGC's CRL (DATA/kgc/crl/crl.pem) as seen by mosquitto: revoked devices are refused at the " +
        'handshake; every client CA then needs a current CRL (in --cafile for the others)',
    )
    .option('--acl-out <file>', 'also write the ACL file here')
    .option('--gateway <cn>', 'certificate CN of a gateway (repeatable)', collect, [])
    .option('--persistence <dir>', 'keep sessions on disk in this directory (as seen by mosquitto)')
    .action((o) => {
      const text = mosquittoConfig({
        port: o.port,
        ...(o.persistence ? { persistenceLocation: o.persistence } : {}),
        ...(o.plain
          ? {}
          : {
              tls: {
                caFile: o.cafile,
                certFile: o.certfile,
                keyFile: o.keyfile,
                aclFile: o.aclfile,
                ...(o.crlfile ? { crlFile: o.crlfile } : {}),
              },
            }),
      });
      writeFileSync(o.out, text);
      if (o.aclOut) writeFileSync(o.aclOut, mosquittoAcl(o.gateway));
      process.stdout.write(`wrote ${o.out}${o.aclOut ? ` and ${o.aclOut}` : ''}\n`);
    });

  program
    .command('scaleout')
    .description('several gateways behind one broker')
    .command('count')
    .description(
      'count frames across gateway data dirs: per gateway, distinct (dev, seq) (each counted once), duplicates ' +
        '(identical copies after a failover) and conflicts (different frames for one (dev, seq))',
    )
    .requiredOption('--data <dir>', 'a gateway data directory (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action((o: { data: string[]; json?: boolean }) => {
      const c = countAcrossGateways(o.data.map((d) => dataPaths(d).db));
      const report = {
        perGateway: c.perGateway.map((g, i) => ({ data: o.data[i], frames: g.frames })),
        distinct: c.distinct,
        duplicates: c.duplicates,
        conflicts: c.conflicts,
        devices: c.perDevice.size,
      };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const g of report.perGateway)
          process.stdout.write(`${String(g.frames).padStart(10)}  ${g.data}\n`);
        process.stdout.write(
          `${String(c.distinct).padStart(10)}  distinct (dev, seq) over ${report.devices} device(s)\n` +
            `${String(c.duplicates).padStart(10)}  duplicates across gateways\n` +
            `${String(c.conflicts).padStart(10)}  conflicts\n`,
        );
      }
      if (c.conflicts > 0) process.exitCode = 1;
    });
}
