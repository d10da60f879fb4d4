/**
 * @module app/config
 * The gateway's configuration file (JSON), validated at start, with environment
 * overrides and secrets read from files (issue "production shape"; STYLE.md §8.3: no
 * secret in source or argv).
 *
 * One table, `CONFIG_FIELDS`, drives validation, defaults, the environment mapping and
 * the documentation (`vitaltrail config schema`). Every problem is reported at once as
 * `config_invalid` with the field path: `mqtt.port: must be an integer from 0 to 65535`.
 *
 * Environment overrides: a field `a.bC` is overridden by `VITALTRAIL_A__B_C` (path
 * segments joined by `__`, camelCase as UPPER_SNAKE), e.g. `http.port` ←
 * `VITALTRAIL_HTTP__PORT`, `mqtt.sessionExpirySeconds` ← `VITALTRAIL_MQTT__SESSION_EXPIRY_SECONDS`.
 * A list field (`serial`) is replaced as a whole by its variable, which holds the list as
 * JSON (`VITALTRAIL_SERIAL`); its items' problems are named `serial[1].path`.
 * The environment wins over the file. Secrets never go in the file, argv or the
 * environment: fields ending in `File` name a file holding the secret, which must not be
 * readable by group or others.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { GATEWAY_CERT_FILE, GATEWAY_KEY_FILE } from '../../../anchor/src/kgc/index.js';
import type { Deployment, Hex } from '../../../anchor/src/ledger/index.js';
import { careRolesOf } from '../core/break-glass.js';
import { DEFAULT_MQTT_LIMITS } from '../core/ingress-limits.js';
import type { MqttsOptions } from '../io/identity/index.js';
import { dataPaths, isDirectory, type LogLevel } from '../io/ops/index.js';
import { errorClass } from '../protocol/errors.js';
import { checkList, checkValue, resolvedPath } from './config-check.js';
import { CONFIG_FIELDS, type ConfigField, type ConfigItem, type Flat } from './config-fields.js';
import { envNameOf } from './config-reference.js';
import type { GatewayOptions } from './options.js';

export { CONFIG_FIELDS, type ConfigField } from './config-fields.js';
export { configReference, envNameOf } from './config-reference.js';

export class ConfigError extends errorClass<'config'>('ConfigError') {
  /** Every problem found, `path: reason`. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[], source: string) {
    super('config_invalid', `${source}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const FIELD_BY_PATH = new Map(CONFIG_FIELDS.map((f) => [f.path, f]));

/** Values as the file gives them: scalars, and the raw arrays of `list` fields (checked later). */
type Raw = Record<string, string | number | readonly unknown[]>;

/** Flattens a parsed JSON object to dotted paths; non-objects at a nested level are errors. */
function flatten(doc: unknown, problems: string[], prefix = '', out: Raw = {}): Raw {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    problems.push(`${prefix || '(root)'}: must be an object`);
    return out;
  }
  for (const [k, v] of Object.entries(doc)) {
    if (prefix === '' && k === '$schema') continue;
    const path = prefix ? `${prefix}.${k}` : k;
    if (FIELD_BY_PATH.get(path)?.type.kind === 'list') {
      if (Array.isArray(v)) out[path] = v;
      else problems.push(`${path}: must be a list of objects`);
    } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) flatten(v, problems, path, out);
    else if (!FIELD_BY_PATH.has(path)) problems.push(`${path}: unknown field`);
    else if (typeof v === 'string' || typeof v === 'number') out[path] = v;
    else
      problems.push(
        `${path}: must be a ${FIELD_BY_PATH.get(path)?.type.kind === 'int' ? 'number' : 'string'}`,
      );
  }
  return out;
}

/** One field's value from the file or the environment, checked (file paths made absolute). */
function check(
  f: ConfigField,
  raw: Raw[string],
  baseDir: string,
  envName: string | undefined,
): { value?: Flat[string]; problems: readonly string[] } {
  if (f.type.kind === 'list') return checkList(f.path, f.type, raw, baseDir, envName);
  if (typeof raw === 'object') return { problems: [`${f.path}: must be a string`] }; // flatten keeps arrays for lists only
  const r = checkValue(f.path, f.type, raw, envName);
  return r.value === undefined
    ? { problems: r.problem ? [r.problem] : [] }
    : { value: resolvedPath(f.type, r.value, baseDir), problems: [] };
}

export interface GatewayConfig {
  /** Every field with its value (defaults filled in, file paths absolute). */
  values: Readonly<Flat>;
  /** Where each value came from. */
  sources: Readonly<Record<string, 'file' | 'env' | 'default'>>;
  /** VITALTRAIL_* variables that name no field (probably typos). */
  unknownEnv: readonly string[];
}

/**
 * Validates a parsed config document and the environment overrides.
 * @param baseDir relative paths are resolved against it (the config file's directory)
 * @throws {ConfigError} `config_invalid` listing every problem with its field path
 * @example
 * const cfg = validateConfig(JSON.parse(text), process.env, '/etc/vitaltrail');
 */
export function validateConfig(
  doc: unknown,
  env: Readonly<Record<string, string | undefined>>,
  baseDir: string,
  source = 'config',
): GatewayConfig {
  const problems: string[] = [];
  const fromFile = flatten(doc, problems);
  const merged: Flat = {};
  const sources: Record<string, 'file' | 'env' | 'default'> = {};
  const invalid = new Set<string>();
  for (const f of CONFIG_FIELDS) {
    const envRaw = env[envNameOf(f.path)];
    const raw = envRaw !== undefined ? envRaw : fromFile[f.path];
    if (raw === undefined) {
      if (f.default !== undefined) {
        merged[f.path] = f.default;
        sources[f.path] = 'default';
      }
      continue;
    }
    const r = check(f, raw, baseDir, envRaw !== undefined ? envNameOf(f.path) : undefined);
    if (r.problems.length > 0) {
      problems.push(...r.problems);
      invalid.add(f.path);
    } else {
      merged[f.path] = r.value;
      sources[f.path] = envRaw !== undefined ? 'env' : 'file';
    }
  }
  for (const f of CONFIG_FIELDS) {
    if (merged[f.path] === undefined && !invalid.has(f.path) && f.requiredWhen?.(merged))
      problems.push(`${f.path}: is required`);
  }
  if (problems.length > 0) throw new ConfigError(problems, source);
  const known = new Set(CONFIG_FIELDS.map((f) => envNameOf(f.path)));
  const unknownEnv = Object.keys(env).filter(
    (k) => k.startsWith('VITALTRAIL_') && k.includes('__') && !known.has(k),
  );
  return { values: merged, sources, unknownEnv };
}

/**
 * Reads and validates a config file (JSON) with the environment overrides.
 * @throws {ConfigError} `config_invalid` when the file is missing, not JSON, or invalid
 */
export function loadConfigFile(
  path: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(['(file): cannot be read'], path);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConfigError(['(file): is not valid JSON'], path);
  }
  return validateConfig(doc, env, dirname(resolve(path)), path);
}

/**
 * Reads a secret from a file: it must exist, be non-empty and not be readable by group
 * or others. Trailing whitespace is trimmed. The value is never logged.
 * @throws {ConfigError} `config_invalid` naming the field (never the value)
 */
export function readSecretFile(field: string, path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    throw new ConfigError([`${field}: file not found`], 'config');
  }
  if ((mode & 0o077) !== 0)
    throw new ConfigError([`${field}: file must not be readable by group or others (chmod 600)`], 'config');
  const value = readFileSync(path, 'utf8').trim();
  if (value === '') throw new ConfigError([`${field}: file is empty`], 'config');
  return value;
}

function readFileField(field: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError([`${field}: file not found`], 'config');
  }
}

/** A certificate and its key, read and checked as a pair, with the files they came from. */
interface CertificatePair {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

/**
 * Reads the certificate/key pair of a TLS listener: `<prefix>.certFile`/`<prefix>.keyFile` or
 * else the gateway's KGC certificate in DATA/gateway/tls (its key must be 0600 as any secret),
 * and checks that they parse and match.
 * @throws {ConfigError} `config_invalid` when a file is missing or too open, or the pair does not match
 */
function certificatePair(v: Readonly<Flat>, prefix: 'http' | 'mqtt.tls'): CertificatePair {
  const certFile = v[`${prefix}.certFile`] as string | undefined;
  const tlsDir = join(dataPaths(v.dataDir as string).gatewayDir, 'tls');
  const [certField, keyField] = certFile
    ? [`${prefix}.certFile`, `${prefix}.keyFile`]
    : [
        `${prefix}.certFile (default DATA/gateway/tls/server.cert.pem: \`vitaltrail kgc gateway-cert\`)`,
        `${prefix}.keyFile (default DATA/gateway/tls/server.key.pem)`,
      ];
  const certPath = certFile ?? join(tlsDir, GATEWAY_CERT_FILE);
  const keyPath = (v[`${prefix}.keyFile`] as string | undefined) ?? join(tlsDir, GATEWAY_KEY_FILE);
  const cert = readFileField(certField, certPath);
  const key = readSecretFile(keyField, keyPath);
  try {
    createSecureContext({ cert, key });
  } catch {
    throw new ConfigError([`${certField}: is not a PEM certificate matching its key`], 'config');
  }
  return { cert, key, certPath, keyPath };
}

/**
 * `http.tls`: the certificate and key the dashboard serves (`certificatePair`).
 * @throws {ConfigError} `config_invalid` when a file is missing or too open, the pair does
 * not parse or match, or a certificate file is given without `http.tls: on`
 */
function httpTls(v: Readonly<Flat>): { cert: string; key: string } | undefined {
  if (v['http.tls'] !== 'on') {
    if (v['http.certFile']) throw new ConfigError(['http.certFile: is used only with http.tls on'], 'config');
    return undefined;
  }
  const { cert, key } = certificatePair(v, 'http');
  return { cert, key };
}

/**
 * `mqtt.tls.*`: the embedded broker's mutual-TLS listener, serving its `certificatePair`;
 * devices are checked against the KGC of the data dir (io/identity), as on the
 * `vitaltrail gateway` and demo listeners.
 * @throws {ConfigError} `config_invalid` when a file is missing or too open, or the pair does not match
 */
function mqttTls(v: Readonly<Flat>, port: number): MqttsOptions {
  const { certPath, keyPath } = certificatePair(v, 'mqtt.tls');
  return { port, host: (v['mqtt.tls.host'] ?? v['mqtt.host']) as string, certPath, keyPath };
}

/**
 * `outbound.acm.allowFrom`: IP addresses only (a peer is matched by the address it connects
 * from, so a host name would never match and would lock the alarm manager out silently).
 * @throws {ConfigError} `config_invalid` for an empty list or an entry that is no IP address
 */
function peerAddresses(list: string): string[] {
  const peers = list
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const bad = peers.filter((a) => isIP(a.replace(/^::ffff:/, '')) === 0);
  if (peers.length === 0 || bad.length > 0)
    throw new ConfigError(['outbound.acm.allowFrom: must list IP addresses, comma-separated'], 'config');
  return peers;
}

/**
 * Turns a validated config into `startGateway` options, reading the secret and
 * certificate files it names.
 * @throws {ConfigError} `config_invalid` when a named file is missing, empty, too open, or malformed
 */
export function gatewayOptionsFromConfig(cfg: GatewayConfig): GatewayOptions & { logLevel: LogLevel } {
  const v = cfg.values;
  const s = (p: string) => v[p] as string | undefined;
  const n = (p: string) => v[p] as number;
  const opts: GatewayOptions & { logLevel: LogLevel } = {
    dataDir: s('dataDir') as string,
    gatewayId: s('gatewayId') as string,
    wardName: s('wardName') as string,
    wardClock: s('wardClock') as '24h' | '12h',
    retentionMs: Math.round(n('retentionDays') * 86_400_000),
    ...(v.shredAfterDays !== undefined ? { shredAfterMs: Math.round(n('shredAfterDays') * 86_400_000) } : {}),
    checkpointIntervalMs: Math.round(n('checkpointIntervalSeconds') * 1000),
    auditRotateBytes: n('audit.rotateBytes'),
    http: {
      host: s('http.host') as string,
      port: n('http.port'),
      ...(s('http.secureCookies') !== 'auto' ? { secureCookies: s('http.secureCookies') === 'on' } : {}),
      ...(v['http.tls'] === 'on' || v['http.certFile'] ? { tls: httpTls(v) } : {}),
      passwordThreads: n('http.loginThreads'),
      passwordQueue: n('http.loginQueue'),
      downloads: n('http.downloads'),
      maxReadings: n('http.maxReadings'),
    },
    logLevel: s('log.level') as LogLevel,
    breakGlass: { roles: careRolesOf(s('care.breakGlassRoles')!), minutes: n('care.breakGlassMinutes') },
  };
  if (v['ingest.verifyThreads'] !== undefined) opts.verifyThreads = n('ingest.verifyThreads');
  opts.verifyNice = n('ingest.verifyNice');
  if (v['memory.heapGrowingPercent'] !== undefined) opts.heapGrowingPercent = n('memory.heapGrowingPercent');
  const token = s('http.metricsTokenFile');
  if (token) opts.metricsToken = readSecretFile('http.metricsTokenFile', token);
  if (s('mqtt.mode') === 'external') {
    const ca = s('mqtt.caFile');
    const cert = s('mqtt.certFile');
    const key = s('mqtt.keyFile');
    opts.externalBroker = {
      url: s('mqtt.url') as string,
      clientId: s('mqtt.clientId') ?? (s('gatewayId') as string),
      lanes: n('mqtt.lanes'),
      receiveMaximum: n('mqtt.receiveMaximum'),
      sessionExpirySeconds: n('mqtt.sessionExpirySeconds'),
      keepaliveSeconds: n('mqtt.keepaliveSeconds'),
      clientOptions: {
        ...(ca ? { ca: readFileField('mqtt.caFile', ca) } : {}),
        ...(cert ? { cert: readFileField('mqtt.certFile', cert) } : {}),
        ...(key ? { key: readSecretFile('mqtt.keyFile', key) } : {}),
      },
    };
  } else {
    opts.mqtt = { host: s('mqtt.host') as string, port: n('mqtt.port') };
    const tlsPort = v['mqtt.tls.port'] as number | undefined;
    if (tlsPort !== undefined) opts.mqtts = mqttTls(v, tlsPort);
    if (s('mqtt.plain') === 'off') opts.mqttPlain = false;
    opts.mqttLimits = {
      ...DEFAULT_MQTT_LIMITS,
      maxConnectBytes: n('mqtt.maxConnectBytes'),
      maxPublishBytes: n('mqtt.maxPublishBytes'),
      connectTimeoutMs: Math.round(n('mqtt.connectTimeoutSeconds') * 1000),
      packetTimeoutMs: Math.round(n('mqtt.packetTimeoutSeconds') * 1000),
      rate: { perSecond: n('mqtt.ratePerSecond'), burst: n('mqtt.rateBurst') },
      rejections: {
        max: n('mqtt.rejectionLimit'),
        windowMs: Math.round(n('mqtt.rejectionWindowSeconds') * 1000),
        cooldownMs: Math.round(n('mqtt.rejectionCooldownSeconds') * 1000),
      },
    };
  }
  const influxUrl = s('influx.url');
  if (influxUrl) {
    const tokenFile = s('influx.tokenFile');
    opts.influx = {
      url: influxUrl,
      org: s('influx.org') as string,
      bucket: s('influx.bucket') as string,
      ...(tokenFile ? { token: readSecretFile('influx.tokenFile', tokenFile) } : {}),
    };
  }
  const mllpHost = s('outbound.mllp.host');
  const fhirUrl = s('outbound.fhir.url');
  const webhookUrl = s('outbound.webhook.url');
  const acmHost = s('outbound.acm.host');
  const acmListen = v['outbound.acm.listenPort'] as number | undefined;
  if (mllpHost || fhirUrl || webhookUrl || acmHost || acmListen !== undefined) {
    const tokenFile = s('outbound.fhir.tokenFile');
    opts.outbound = {
      start: s('outbound.start') as 'now' | 'history',
      ...(mllpHost
        ? {
            mllp: {
              host: mllpHost,
              port: n('outbound.mllp.port'),
              receivingApplication: s('outbound.mllp.receivingApplication') as string,
              receivingFacility: s('outbound.mllp.receivingFacility') as string,
              ...(v['outbound.mllp.intervalSeconds'] !== undefined
                ? { intervalSeconds: n('outbound.mllp.intervalSeconds') }
                : {}),
            },
          }
        : {}),
      ...(acmHost || acmListen !== undefined
        ? {
            acm: {
              ...(acmHost
                ? {
                    host: acmHost,
                    port: n('outbound.acm.port'),
                    receivingApplication: s('outbound.acm.receivingApplication') as string,
                    receivingFacility: s('outbound.acm.receivingFacility') as string,
                  }
                : {}),
              ...(acmListen !== undefined
                ? {
                    listen: {
                      host: s('outbound.acm.listenHost') as string,
                      port: acmListen,
                      allowFrom: peerAddresses(s('outbound.acm.allowFrom') as string),
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(webhookUrl
        ? {
            webhook: {
              url: webhookUrl,
              secret: readSecretFile(
                'outbound.webhook.secretFile',
                s('outbound.webhook.secretFile') as string,
              ),
            },
          }
        : {}),
      ...(fhirUrl
        ? {
            fhir: {
              url: fhirUrl,
              patientSystem: s('outbound.fhir.patientSystem') as string,
              ...(tokenFile ? { token: readSecretFile('outbound.fhir.tokenFile', tokenFile) } : {}),
            },
          }
        : {}),
    };
  }
  const ports = v.serial as readonly ConfigItem[] | undefined;
  if (ports?.length)
    opts.serial = ports.map((p) => ({
      path: p.path as string,
      devices: [...(p.devices as readonly string[])],
      baudRate: p.baudRate as number,
    }));
  const issuedDir = s('kgc.issuedDir');
  if (issuedDir) {
    if (!isDirectory(issuedDir)) throw new ConfigError(['kgc.issuedDir: directory not found'], 'config');
    opts.kgcIssuedDir = issuedDir;
  }
  const shared = sharedOptionsFromConfig(cfg);
  if (shared) opts.shared = shared;
  const rpcUrl = s('ledger.rpcUrl');
  if (rpcUrl) {
    let deployment: Deployment;
    try {
      deployment = JSON.parse(
        readFileField('ledger.deploymentFile', s('ledger.deploymentFile') as string),
      ) as Deployment;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(['ledger.deploymentFile: is not valid JSON'], 'config');
    }
    const privateKey = readSecretFile('ledger.privateKeyFile', s('ledger.privateKeyFile') as string);
    if (!/^0x[0-9a-fA-F]{64}$/.test(privateKey)) {
      throw new ConfigError(['ledger.privateKeyFile: must hold a 0x-prefixed 32-byte hex key'], 'config');
    }
    opts.ledger = {
      rpcUrl,
      deployment,
      privateKey: privateKey as Hex,
      confirmations: n('ledger.confirmations'),
      stallMs: Math.round(n('ledger.stallSeconds') * 1000),
      firstContactMs: Math.round(n('ledger.firstContactSeconds') * 1000),
      stopTimeoutMs: Math.round(n('ledger.stopTimeoutSeconds') * 1000),
    };
  }
  return opts;
}

/**
 * `shared.postgres.*`: the PostgreSQL the gateways of a group share, with the password read
 * from its file (for the gateway and for `vitaltrail users --config`).
 * @throws {ConfigError} `config_invalid` when the password file is missing, empty or too open
 */
export function sharedOptionsFromConfig(cfg: GatewayConfig): GatewayOptions['shared'] {
  const url = cfg.values['shared.postgres.url'] as string | undefined;
  if (!url) return undefined;
  const file = cfg.values['shared.postgres.passwordFile'] as string | undefined;
  const password = file ? readSecretFile('shared.postgres.passwordFile', file) : undefined;
  const peerUrl = cfg.values['shared.peerUrl'] as string | undefined;
  return {
    postgres: {
      url,
      ...(password !== undefined ? { password } : {}),
      queryTimeoutMs: Math.round((cfg.values['shared.postgres.queryTimeoutSeconds'] as number) * 1000),
    },
    ...(peerUrl !== undefined ? { peerUrl } : {}),
  };
}
