/**
 * @module test/helpers/gateway-runner
 * One gateway process in external-broker mode, for the scale-out and shutdown tests:
 * `node dist/test/helpers/gateway-runner.js <dataDir> <gatewayId> <brokerUrl> [lanes] [sessionExpirySeconds]`.
 * Prints one JSON line `{"ready": true, "http": url, "pid": n}` on stdout once started;
 * SIGTERM stops it gracefully (in-flight frames are committed and PUBACKed, the rest stays
 * in the broker sessions), then it prints `{"stopped": true}` and exits 0.
 */
import { startGateway } from '../../gateway/src/gateway.js';
import { createLogger } from '../../gateway/src/io/log.js';

async function main(): Promise<void> {
  const [dataDir, gatewayId, url, lanes, expiry] = process.argv.slice(2);
  if (!dataDir || !gatewayId || !url) {
    process.stderr.write(
      'usage: gateway-runner <dataDir> <gatewayId> <brokerUrl> [lanes] [sessionExpirySeconds]\n',
    );
    process.exit(2);
  }
  const gw = await startGateway({
    dataDir,
    gatewayId,
    checkpointIntervalMs: 3_600_000,
    logger: createLogger({ level: 'warn' }),
    externalBroker: {
      url,
      clientId: gatewayId,
      ...(lanes ? { lanes: Number(lanes) } : {}),
      ...(expiry ? { sessionExpirySeconds: Number(expiry) } : {}),
    },
  });
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
