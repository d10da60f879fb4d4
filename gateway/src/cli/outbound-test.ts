/**
 * @module cli/outbound-test
 * `vitaltrail outbound test --config FILE [--receiver NAME] [--json] [--timeout-ms N]`
 * (issue 19): reads the gateway's own config file (app/config: the same validation, the same
 * VITALTRAIL_* overrides, the same secret files) and makes one harmless round trip to each
 * configured outbound receiver, or to the named one (io/interfaces `probeReceivers`). One line
 * per receiver, `<name>: ok (<detail>, <ms> ms)` or `<name>: FAIL <code> (<detail>, <ms> ms)`;
 * `--json`: an array of `{receiver, ok, code?, detail, ms}`.
 *
 * Exit codes (cli/main): 0 every probed receiver answered ok; 1 one did not; 2 the config is
 * invalid, configures no outbound receiver, or `--receiver` names none it configures
 * (`config_invalid`). Never prints a secret, a token or a receiver URL.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { gatewayOptionsFromConfig, loadConfigFile } from '../app/config.js';
import { DEFAULT_GATEWAY_ID } from '../app/options.js';
import {
  type ProbeResult,
  type ProbeTargets,
  probeReceivers,
  RECEIVER_PROBES,
} from '../io/interfaces/index.js';
import { CliError } from './errors.js';

export interface OutboundTestOptions {
  config: string;
  receiver?: string;
  timeoutMs: number;
  env?: Readonly<Record<string, string | undefined>>;
}

/** Default of `--timeout-ms`: how long one receiver may take, connection and answer. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5000;

function timeoutOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 50 || n > 600_000)
    throw new InvalidArgumentError('--timeout-ms must be an integer from 50 to 600000');
  return n;
}

/**
 * Probes the receivers the config file names (all, or `receiver`).
 * @throws {ConfigError} `config_invalid` when the file or a file it names is invalid
 * @throws {CliError} `config_invalid` when it configures no outbound receiver, or not `receiver`
 */
export async function runOutboundTest(o: OutboundTestOptions): Promise<ProbeResult[]> {
  const cfg = loadConfigFile(o.config, o.env ?? process.env);
  // A mistyped override (VITALTRAIL_OUTBOUND__MLLP__HOTS) would silently test something else.
  for (const name of cfg.unknownEnv)
    process.stderr.write(`warning: unknown configuration variable ${name} ignored\n`);
  const opts = gatewayOptionsFromConfig(cfg);
  const { acm, ...others } = opts.outbound ?? {};
  // The alarm manager is a receiver only when the gateway sends to it (not listen-only).
  const targets: Partial<ProbeTargets> = {
    ...others,
    ...(acm?.host && acm.port !== undefined ? { acm: { ...acm, host: acm.host, port: acm.port } } : {}),
  };
  const known = Object.keys(RECEIVER_PROBES) as (keyof ProbeTargets)[];
  const configured = known.filter((n) => targets[n] !== undefined);
  if (configured.length === 0)
    throw new CliError('config_invalid', `${o.config}: no outbound receiver is configured (outbound.*)`);
  let names = configured;
  if (o.receiver !== undefined) {
    const name = o.receiver as keyof ProbeTargets;
    if (!configured.includes(name)) {
      const what = known.includes(name) ? 'is not configured in' : 'is no outbound receiver of';
      throw new CliError(
        'config_invalid',
        `--receiver ${/^[a-z]{1,20}$/.test(o.receiver) ? o.receiver : '(name)'} ${what} ${o.config} (configured: ${configured.join(', ')})`,
      );
    }
    names = [name];
  }
  return probeReceivers(targets, names, {
    timeoutMs: o.timeoutMs,
    gatewayId: opts.gatewayId ?? DEFAULT_GATEWAY_ID,
  });
}

/** `mllp: ok (ACK CA, 12 ms)` / `fhir: FAIL receiver_rejected (HTTP 401: …, 8 ms)`. */
export function probeLine(r: ProbeResult): string {
  return `${r.receiver}: ${r.ok ? 'ok' : `FAIL ${r.code}`} (${r.detail}, ${r.ms} ms)`;
}

/** Adds `test` to the `outbound` command. */
export function registerOutboundTestCommand(outbound: Command): void {
  outbound
    .command('test')
    .description(
      "one harmless round trip to each outbound receiver of a gateway config file: a PCD-01 training message (MSH-11 T) of a test device to the MLLP receiver, the FHIR server's /metadata, a signed vitaltrail.test/1 event to the webhook; exit 0 all ok, 1 one failed",
    )
    .requiredOption('--config <file>', 'the gateway config file (JSON), as `vitaltrail gateway --config`')
    .option('--receiver <name>', `probe only this receiver (${Object.keys(RECEIVER_PROBES).join(', ')})`)
    .option('--json', 'print JSON: [{receiver, ok, code?, detail, ms}]')
    .option(
      '--timeout-ms <n>',
      'how long each receiver may take to answer, connection included',
      timeoutOption,
      DEFAULT_PROBE_TIMEOUT_MS,
    )
    .action(async (o: { config: string; receiver?: string; json?: boolean; timeoutMs: number }) => {
      const rows = await runOutboundTest({
        config: o.config,
        timeoutMs: o.timeoutMs,
        ...(o.receiver !== undefined ? { receiver: o.receiver } : {}),
      });
      process.stdout.write(
        o.json ? `${JSON.stringify(rows, null, 2)}\n` : rows.map((r) => `${probeLine(r)}\n`).join(''),
      );
      process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
    });
}
