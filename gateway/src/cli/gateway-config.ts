/**
 * @module cli/gateway-config
 * `--config FILE` for the commands that read a running gateway's state (`outbound status`,
 * `export`, `export-fhir`): a gateway's configuration file names its data directory, its id
 * and, in a group, the PostgreSQL database its gateways share (issue 16): the group's
 * admissions and alarm ledger, which the data directory does not hold. Without it, `--data`
 * and `--gateway-id` as before (a lone gateway).
 */
import { Option } from 'commander';
import { loadConfigFile, sharedOptionsFromConfig } from '../app/config.js';
import { DEFAULT_GATEWAY_ID } from '../app/options.js';
import type { SharedPostgresOptions } from '../io/shared/index.js';
import { requireDataDir } from './inputs.js';

/** Where a command finds a gateway's state. */
export interface GatewaySource {
  dataDir: string;
  gatewayId: string;
  /** The group's database, when the gateway is one of a group. */
  postgres?: SharedPostgresOptions;
}

/**
 * The gateway `--config` names, else `--data` (and `--gateway-id`).
 * @throws {ConfigError} `config_invalid` for a bad config file; {CliError} `data_dir_missing`
 *   when the file's data directory does not exist (cli/main checks a given `--data`)
 */
export function gatewaySourceOf(o: { config?: string; data: string; gatewayId?: string }): GatewaySource {
  if (o.config === undefined) return { dataDir: o.data, gatewayId: o.gatewayId ?? DEFAULT_GATEWAY_ID };
  const cfg = loadConfigFile(o.config);
  const postgres = sharedOptionsFromConfig(cfg)?.postgres;
  const dataDir = cfg.values.dataDir as string;
  requireDataDir(dataDir);
  return {
    dataDir,
    gatewayId: (cfg.values.gatewayId as string | undefined) ?? DEFAULT_GATEWAY_ID,
    ...(postgres ? { postgres } : {}),
  };
}

/** `--config <file>`, exclusive of `--data` and `--gateway-id`. `what`: what the group adds. */
export function gatewayConfigOption(what: string): Option {
  return new Option(
    '--config <file>',
    `a gateway config file: its dataDir and gatewayId; in a group, ${what}`,
  ).conflicts(['data', 'gatewayId']);
}
