/**
 * @module cli/gateway
 * `vitaltrail gateway`: the gateway alone on a prepared data directory (KGC, recipients,
 * enrolled devices), without the demo's chain and simulator (ARCHITECTURE.md "one
 * frame's journey"). With `--rpc` and a deployment file it anchors and follows registry
 * revocations. The mutual-TLS listener runs when DATA/gateway/tls holds a server
 * certificate (`vitaltrail kgc gateway-cert`). Prints one `ready {json}` line on stdout
 * once listening; SIGINT/SIGTERM stop it gracefully.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { GATEWAY_CERT_FILE, GATEWAY_KEY_FILE } from '../../../anchor/src/kgc/index.js';
import type { Deployment, Hex } from '../../../anchor/src/ledger/index.js';
import { DEFAULT_GATEWAY_ID, startGateway } from '../app/gateway.js';
import { DEFAULT_MQTT_LIMITS } from '../core/ingress-limits.js';
import { dataPaths, readJson } from '../io/ops/index.js';
import { UsageError } from './errors.js';
import { dataDirOption, portOption, stopSignal } from './inputs.js';
import { gatewayTlsDir } from './kgc.js';
import { runGatewayFromConfig } from './production.js';

/** `auto` (Secure unless the dashboard binds a loopback address), `on` or `off`. */
function secureCookiesOption(value: string): 'auto' | 'on' | 'off' {
  if (value !== 'auto' && value !== 'on' && value !== 'off') {
    throw new InvalidArgumentError('--secure-cookies must be auto, on or off');
  }
  return value;
}

function msOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 50 || n > 3_600_000)
      throw new InvalidArgumentError(`${name} must be 50-3600000 ms`);
    return n;
  };
}

/** Threads of the verify pool: 0 (signatures checked in the event loop) to 64. */
function verifyThreadsOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 64)
    throw new InvalidArgumentError('--verify-threads must be 0-64');
  return n;
}

/** PUBLISH packets per second per MQTT connection: 0 (off) to 1,000,000, as `mqtt.ratePerSecond`. */
function mqttRateOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1_000_000)
    throw new InvalidArgumentError('--mqtt-rate must be 0-1000000');
  return n;
}

/**
 * Adds `vitaltrail gateway` to the program.
 * @example
 * registerGatewayCommands(program, '.vitaltrail/demo');
 */
export function registerGatewayCommands(program: Command, defaultDataDir: string): void {
  program
    .command('gateway')
    .description(
      'run the gateway alone on a prepared data directory (MQTT + mTLS listeners, store, dashboard); ' +
        'no chain unless --rpc is given',
    )
    .addOption(dataDirOption(defaultDataDir))
    .addOption(portOption('--mqtt-port', 'plain MQTT port', 1883))
    .addOption(portOption('--mqtts-port', 'mutual-TLS MQTT port', 8883))
    .addOption(portOption('--http-port', 'dashboard port', 8080))
    .option(
      '--secure-cookies <mode>',
      'Secure session cookie: auto (unless the dashboard binds loopback), on (served over TLS) or off',
      secureCookiesOption,
      'auto',
    )
    .option('--no-plain', 'do not serve the plain MQTT listener (devices must use mutual TLS)')
    .option(
      '--rpc <url>',
      'JSON-RPC URL of the chain to anchor on (needs DATA/chain/deployment.json and gateway.key)',
    )
    .option('--gateway-id <id>', 'gateway id (checkpoint origin vitaltrail/<id>)', DEFAULT_GATEWAY_ID)
    .option(
      '--device-refresh <ms>',
      'how often enrolments and revocations are re-read',
      msOption('--device-refresh'),
      2000,
    )
    .option(
      '--revocation-poll <ms>',
      'how often the CRL and registry events are read',
      msOption('--revocation-poll'),
      5000,
    )
    .option(
      '--verify-threads <n>',
      'threads checking frame signatures, always running (0 = in the event loop; default: one per core, at most 4, run only under load)',
      verifyThreadsOption,
    )
    .option(
      '--mqtt-rate <n>',
      `PUBLISH packets per second per MQTT connection, a burst of twice that (0 = off; default ${DEFAULT_MQTT_LIMITS.rate.perSecond})`,
      mqttRateOption,
    )
    .option(
      '--config <file>',
      'run from a JSON config file (`vitaltrail config schema`); other options unused',
    )
    .action(async (o) => {
      if (o.config) return runGatewayFromConfig(o.config);
      const paths = dataPaths(o.data);
      const tlsDir = gatewayTlsDir(paths);
      const certPath = join(tlsDir, GATEWAY_CERT_FILE);
      const keyPath = join(tlsDir, GATEWAY_KEY_FILE);
      const hasTls = existsSync(certPath) && existsSync(keyPath);
      if (!o.plain && !hasTls) {
        throw new UsageError('--no-plain needs a TLS certificate: run `vitaltrail kgc gateway-cert` first');
      }
      let ledger: { rpcUrl: string; deployment: Deployment; privateKey: Hex } | undefined;
      if (o.rpc) {
        const deployment = readJson<Deployment>(paths.deployment);
        if (!deployment || !existsSync(paths.gatewayAccountKey)) {
          throw new UsageError('--rpc needs DATA/chain/deployment.json and DATA/chain/gateway.key');
        }
        ledger = {
          rpcUrl: o.rpc,
          deployment,
          privateKey: readFileSync(paths.gatewayAccountKey, 'utf8').trim() as Hex,
        };
      }
      const gw = await startGateway({
        dataDir: o.data,
        gatewayId: o.gatewayId,
        mqtt: { port: o.mqttPort },
        mqttPlain: Boolean(o.plain),
        ...(hasTls ? { mqtts: { port: o.mqttsPort, certPath, keyPath } } : {}),
        http: {
          port: o.httpPort,
          ...(o.secureCookies !== 'auto' ? { secureCookies: o.secureCookies === 'on' } : {}),
        },
        deviceRefreshMs: o.deviceRefresh,
        ...(o.verifyThreads !== undefined ? { verifyThreads: o.verifyThreads } : {}),
        ...(o.mqttRate !== undefined
          ? {
              mqttLimits: {
                ...DEFAULT_MQTT_LIMITS,
                rate: { perSecond: o.mqttRate, burst: Math.max(1, 2 * o.mqttRate) },
              },
            }
          : {}),
        revocationPollMs: o.revocationPoll,
        ...(ledger ? { ledger } : {}),
      });
      const broker = 'broker' in gw ? gw.broker : null;
      process.stdout.write(
        `ready ${JSON.stringify({
          mqtt: broker && o.plain ? broker.url : null,
          mqtts: broker?.tlsUrl ?? null,
          http: gw.http.url,
        })}\n`,
      );
      await stopSignal().done;
      await gw.stop(); // a step that failed to stop is told, exit 2, as `gateway --config` does
    });
}
