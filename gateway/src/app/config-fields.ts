/**
 * @module app/config-fields
 * The one table of configuration fields (`CONFIG_FIELDS`): types, defaults, conditions
 * and docs. app/config drives validation, the environment mapping and the generated
 * reference (`vitaltrail config schema`) from it.
 */
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';

export type FieldType =
  | { kind: 'string'; pattern?: RegExp; patternText?: string }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'file' }
  | { kind: 'secretFile' }
  | { kind: 'url'; schemes: readonly string[] };

export interface ConfigField {
  path: string;
  type: FieldType;
  default?: string | number;
  /** Required when this predicate holds on the merged config (default: never). */
  requiredWhen?: (c: Flat) => boolean;
  /** How the reference shows the condition, e.g. "required (external)". */
  requiredText?: string;
  doc: string;
}

export type Flat = Record<string, string | number | undefined>;

const ID = {
  kind: 'string',
  pattern: DEVICE_ID_PATTERN,
  patternText: '1-64 chars of [A-Za-z0-9._-]',
} as const;
const external = (c: Flat) => c['mqtt.mode'] === 'external';

/** Every configuration field (the documentation is generated from this table). */
export const CONFIG_FIELDS: readonly ConfigField[] = [
  {
    path: 'dataDir',
    type: { kind: 'file' },
    requiredWhen: () => true,
    doc: 'data directory (store, log, keys); relative paths are relative to the config file',
  },
  {
    path: 'gatewayId',
    type: ID,
    default: 'gw-1',
    doc: 'gateway id; checkpoint origin `vitaltrail/<id>`; one data dir per id',
  },
  { path: 'wardName', type: { kind: 'string' }, default: 'Ward', doc: 'ward name shown on the dashboard' },
  {
    path: 'retentionDays',
    type: { kind: 'number', min: 1, max: 36500 },
    default: 30,
    doc: 'frames older than this are rejected `too_old`',
  },
  {
    path: 'checkpointIntervalSeconds',
    type: { kind: 'number', min: 0.2, max: 3600 },
    default: 10,
    doc: 'seconds between checkpoints',
  },
  {
    path: 'log.level',
    type: { kind: 'enum', values: ['debug', 'info', 'warn', 'error'] },
    default: 'info',
    doc: 'structured log level (JSON lines on stderr)',
  },
  {
    path: 'http.host',
    type: { kind: 'string' },
    default: '127.0.0.1',
    doc: 'dashboard, API, /metrics, /livez, /readyz bind address',
  },
  {
    path: 'http.port',
    type: { kind: 'int', min: 0, max: 65535 },
    default: 8080,
    doc: 'HTTP port (0 = any free port)',
  },
  {
    path: 'http.metricsTokenFile',
    type: { kind: 'secretFile' },
    doc: 'file holding the bearer token /metrics requires (default: /metrics is open)',
  },
  {
    path: 'mqtt.mode',
    type: { kind: 'enum', values: ['embedded', 'external'] },
    default: 'embedded',
    doc: '`embedded`: aedes inside the gateway; `external`: MQTT 5 client of a broker cluster',
  },
  {
    path: 'mqtt.host',
    type: { kind: 'string' },
    default: '127.0.0.1',
    doc: 'embedded: listener bind address',
  },
  {
    path: 'mqtt.port',
    type: { kind: 'int', min: 0, max: 65535 },
    default: 1883,
    doc: 'embedded: listener port',
  },
  {
    path: 'mqtt.url',
    type: { kind: 'url', schemes: ['mqtt:', 'mqtts:'] },
    requiredWhen: external,
    requiredText: 'required (external)',
    doc: 'external: broker URL, `mqtts://host:8883`',
  },
  {
    path: 'mqtt.clientId',
    type: ID,
    doc: 'external: base client id of the sessions (default: gatewayId); keep it stable',
  },
  {
    path: 'mqtt.lanes',
    type: { kind: 'int', min: 1, max: 64 },
    default: 8,
    doc: 'external: parallel sessions in the share group; keep it stable',
  },
  {
    path: 'mqtt.sessionExpirySeconds',
    type: { kind: 'int', min: 0, max: 4294967295 },
    default: 86400,
    doc: 'external: how long the broker keeps a session of a stopped gateway',
  },
  { path: 'mqtt.caFile', type: { kind: 'file' }, doc: 'external: CA certificate(s) of the broker (PEM)' },
  { path: 'mqtt.certFile', type: { kind: 'file' }, doc: "external: the gateway's client certificate (PEM)" },
  {
    path: 'mqtt.keyFile',
    type: { kind: 'secretFile' },
    doc: "external: the gateway's client key (PEM, mode 0600)",
  },
  {
    path: 'ledger.rpcUrl',
    type: { kind: 'url', schemes: ['http:', 'https:'] },
    doc: 'JSON-RPC URL of the consortium chain; without it checkpoints stay in the outbox',
  },
  {
    path: 'ledger.deploymentFile',
    type: { kind: 'file' },
    requiredWhen: (c) => c['ledger.rpcUrl'] !== undefined,
    requiredText: 'required with rpcUrl',
    doc: 'deployment JSON (chainId, contract addresses) written by the deploy job',
  },
  {
    path: 'ledger.privateKeyFile',
    type: { kind: 'secretFile' },
    requiredWhen: (c) => c['ledger.rpcUrl'] !== undefined,
    requiredText: 'required with rpcUrl',
    doc: "file holding the gateway's ledger account key (0x… hex, mode 0600)",
  },
  {
    path: 'influx.url',
    type: { kind: 'url', schemes: ['http:', 'https:'] },
    doc: 'InfluxDB v2 base URL for the readings sink (off when absent)',
  },
  {
    path: 'influx.org',
    type: { kind: 'string' },
    requiredWhen: (c) => c['influx.url'] !== undefined,
    requiredText: 'required with influx.url',
    doc: 'InfluxDB organisation',
  },
  {
    path: 'influx.bucket',
    type: { kind: 'string' },
    requiredWhen: (c) => c['influx.url'] !== undefined,
    requiredText: 'required with influx.url',
    doc: 'InfluxDB bucket (measurement `vitals`, tags `dev` and `bed`)',
  },
  {
    path: 'influx.tokenFile',
    type: { kind: 'secretFile' },
    doc: 'file holding the InfluxDB API token (mode 0600)',
  },
  {
    path: 'ledger.confirmations',
    type: { kind: 'int', min: 0, max: 1000 },
    default: 0,
    doc: 'blocks after the including one before an anchor counts (0: BFT-final, QBFT)',
  },
  {
    path: 'kgc.issuedDir',
    type: { kind: 'file' },
    doc:
      "the KGC's directory of issued device certificates (`<KGC data>/kgc/issued`, read-only is enough): " +
      'devices enrolled or re-enrolled there are imported at start and within 5 s (off when absent)',
  },
];
