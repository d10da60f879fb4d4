/**
 * @module test/helpers/gateway-runner
 * One gateway process in external-broker mode, for the scale-out and shutdown tests.
 * Two forms:
 * - `node dist/test/helpers/gateway-runner.js <dataDir> <gatewayId> <brokerUrl> [lanes] [sessionExpirySeconds] [receiveMaximum]`:
 *   no ledger, checkpoints hourly (they stay in the outbox);
 * - `node dist/test/helpers/gateway-runner.js --config FILE`: everything from a gateway
 *   config file as production reads it (io/config, `vitaltrail gateway --config`; e.g.
 *   gateway/deploy/gateway-1.json): external broker, ledger (rpcUrl, deployment file,
 *   0600 account key file), checkpoint interval, log level, with the VITALTRAIL_* overrides.
 * Prints one JSON line `{"ready": true, "http": url, "pid": n}` on stdout once started;
 * SIGTERM stops it gracefully (in-flight frames are committed and PUBACKed, the rest stays
 * in the broker sessions; with a ledger a last checkpoint is cut and anchored), then it
 * prints `{"stopped": true}` and exits 0.
 */

import { gatewayOptionsFromConfig, loadConfigFile } from '../../gateway/src/app/config.js';
import { type GatewayOptions, startGateway } from '../../gateway/src/app/gateway.js';
import { createLogger } from '../../gateway/src/io/ops/log.js';

const USAGE =
  'usage: gateway-runner <dataDir> <gatewayId> <brokerUrl> [lanes] [sessionExpirySeconds] [receiveMaximum]\n' +
  '       gateway-runner --config FILE\n';

/** The gateway options of either form; null on bad usage. */
function optionsOf(argv: string[]): GatewayOptions | null {
  if (argv[0] === '--config') {
    if (!argv[1] || argv.length > 2) return null;
    const { logLevel, ...opts } = gatewayOptionsFromConfig(loadConfigFile(argv[1]));
    if (!opts.externalBroker) return null; // this runner is for the external-broker mode
    return { ...opts, logger: createLogger({ level: logLevel }) };
  }
  const [dataDir, gatewayId, url, lanes, expiry, receiveMaximum] = argv;
  if (!dataDir || !gatewayId || !url) return null;
  return {
    dataDir,
    gatewayId,
    checkpointIntervalMs: 3_600_000,
    logger: createLogger({ level: 'warn' }),
    externalBroker: {
      url,
      clientId: gatewayId,
      ...(lanes ? { lanes: Number(lanes) } : {}),
      ...(expiry ? { sessionExpirySeconds: Number(expiry) } : {}),
      ...(receiveMaximum ? { receiveMaximum: Number(receiveMaximum) } : {}),
    },
  };
}

async function main(): Promise<void> {
  const opts = optionsOf(process.argv.slice(2));
  if (!opts) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const gw = await startGateway(opts);
  process.stdout.write(`${JSON.stringify({ ready: true, http: gw.http.url, pid: process.pid })}\n`);
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    gw.stop().then(
      () => {
        process.stdout.write(`${JSON.stringify({ stopped: true })}\n`);
        process.exit(0);
      },
      () => process.exit(1),
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway-runner failed: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(2);
});
