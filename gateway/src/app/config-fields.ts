/**
 * @module app/config-fields
 * The one table of configuration fields (`CONFIG_FIELDS`): types, defaults, conditions
 * and docs. app/config drives validation, the environment mapping and the generated
 * reference (`vitaltrail config schema`) from it.
 */
import { DEFAULT_BROKER_KEEPALIVE_S } from '../core/health.js';
import { DEFAULT_MQTT_LIMITS } from '../core/ingress-limits.js';
import { DEFAULT_VERIFY_NICE } from '../io/verify/index.js';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';

/** The type of one value: of a field, or of a field of each item of a list. */
export type ScalarType =
  | { kind: 'string'; pattern?: RegExp; patternText?: string }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'file' }
  | { kind: 'secretFile' }
  | { kind: 'url'; schemes: readonly string[] };

/** A field of each item of a `list` field, e.g. `serial[].path`; `idList`: a non-empty list of device ids. */
export interface ItemField {
  key: string;
  type: ScalarType | { kind: 'idList' };
  default?: string | number;
  required?: boolean;
  doc: string;
}

/**
 * `list`: an array of objects, each checked against `item` (problems named `serial[1].path`);
 * no two items share the value of their field `unique`.
 */
export interface ListType {
  kind: 'list';
  item: readonly ItemField[];
  unique?: string;
}

export type FieldType = ScalarType | ListType;

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

/** One validated item of a `list` field (defaults filled in, file paths absolute). */
export type ConfigItem = Readonly<Record<string, string | number | readonly string[]>>;

export type Flat = Record<string, string | number | readonly ConfigItem[] | undefined>;

const ID = {
  kind: 'string',
  pattern: DEVICE_ID_PATTERN,
  patternText: '1-64 chars of [A-Za-z0-9._-]',
} as const;
const str: ScalarType = { kind: 'string' };
const file: ScalarType = { kind: 'file' };
const secretFile: ScalarType = { kind: 'secretFile' };
const int = (min: number, max: number): ScalarType => ({ kind: 'int', min, max });
const num = (min: number, max: number): ScalarType => ({ kind: 'number', min, max });
const oneOf = (...values: string[]): ScalarType => ({ kind: 'enum', values });
const url = (...schemes: string[]): ScalarType => ({ kind: 'url', schemes });
const PORT = int(0, 65535);
/** A PostgreSQL URL without a password (a secret file holds it), `?sslmode=verify-full|disable` allowed. */
const POSTGRES_URL: ScalarType = {
  kind: 'string',
  pattern:
    /^postgres(?:ql)?:\/\/(?:[A-Za-z0-9._~%!$&'()*+,;=-]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/[A-Za-z0-9._~%-]*)?(?:\?sslmode=(?:verify-full|disable))?$/,
  patternText:
    'a postgres://user@host:port/database URL without a password (shared.postgres.passwordFile holds it), optionally ?sslmode=verify-full or disable',
};
/** A list field whose items have these fields, no two with the same `unique` field. */
const list = (unique: string | undefined, ...item: ItemField[]): FieldType =>
  unique === undefined ? { kind: 'list', item } : { kind: 'list', item, unique };
/** A field of a list's items: `then` is its default, or `required`. */
const item = (
  key: string,
  type: ItemField['type'],
  doc: string,
  then?: string | number | 'required',
): ItemField =>
  then === 'required'
    ? { key, type, required: true, doc }
    : then === undefined
      ? { key, type, doc }
      : { key, type, default: then, doc };

/** When a field without a default is required, and how the reference says so. */
type Requirement = Pick<ConfigField, 'requiredWhen' | 'requiredText'>;
const required: Requirement = { requiredWhen: () => true };
const requiredExternal: Requirement = {
  requiredWhen: (c) => c['mqtt.mode'] === 'external',
  requiredText: 'required (external)',
};
/** The condition of a field that must come with another one (`shown` names it in the reference). */
const requiredWith = (path: string, shown = path): Requirement => ({
  requiredWhen: (c: Flat) => c[path] !== undefined,
  requiredText: `required with ${shown}`,
});

/** One row of the table: `then` is the field's default, or when it is required (neither: optional). */
function field(
  path: string,
  type: FieldType,
  doc: string,
  then?: string | number | Requirement,
): ConfigField {
  if (then === undefined) return { path, type, doc };
  return typeof then === 'object' ? { path, type, ...then, doc } : { path, type, default: then, doc };
}

/** Every configuration field (the documentation is generated from this table). */
export const CONFIG_FIELDS: readonly ConfigField[] = [
  field(
    'dataDir',
    file,
    'data directory (store, log, keys); relative paths are relative to the config file',
    required,
  ),
  field('gatewayId', ID, 'gateway id; checkpoint origin `vitaltrail/<id>`; one data dir per id', 'gw-1'),
  field('wardName', str, 'ward name shown on the dashboard', 'Ward'),
  field('wardClock', oneOf('24h', '12h'), 'how the ward pages show times of day', '24h'),
  field('retentionDays', num(1, 36500), 'frames older than this are rejected `too_old`', 30),
  field(
    'shredAfterDays',
    num(1, 36500),
    'crypto-shredding while running: the data keys of windows (of the gateway clock) that ended this many days ago are destroyed, each with its shredding record in the log (README "Retention"); unset (the default): keys stay until `vitaltrail shred`',
  ),
  field('checkpointIntervalSeconds', num(0.2, 3600), 'seconds between checkpoints', 10),
  field(
    'ingest.verifyThreads',
    int(0, 64),
    'threads checking frame signatures, always running; 0 = in the event loop; unset (the default): one per core, at most 4, started while the checks take a quarter of the event loop and stopped after 30 s under a tenth (README "Benchmarks")',
  ),
  field(
    'ingest.verifyNice',
    int(0, 19),
    "how many nice steps those threads, and the runtime's helper threads (V8's garbage collector, libuv's pool), run below the gateway's event loop (Linux, each thread its own; at most 19): under contention for the cores the event loop, which parses, commits and answers every frame, runs first; 0 = as the gateway's process (README \"Benchmarks\")",
    DEFAULT_VERIFY_NICE,
  ),
  field(
    'memory.heapGrowingPercent',
    int(0, 400),
    'how far the JS heap may grow past its live set between full collections, in percent (a small heap: at least 48 MB less a quarter of its live set); 0 = V8\'s own (up to 4x): README "Sizing"',
    25,
  ),
  field(
    'log.level',
    oneOf('debug', 'info', 'warn', 'error'),
    'structured log level (JSON lines on stderr)',
    'info',
  ),
  field(
    'audit.rotateBytes',
    int(0, 2 ** 40),
    'rotate DATA/gateway/audit.log into `audit.log.<first>-<last>` once it holds this many bytes (the chain runs on across files); 0 = never',
    64 * 1024 * 1024,
  ),
  field('http.host', str, 'dashboard, API, /metrics, /livez, /readyz bind address', '127.0.0.1'),
  field('http.port', PORT, 'HTTP port (0 = any free port)', 8080),
  field(
    'http.tls',
    oneOf('on', 'off'),
    "`on`: HTTPS (and wss) on http.port for the dashboard, API, /metrics, /livez, /readyz, with the gateway's KGC certificate (DATA/gateway/tls, `kgc gateway-cert`) unless http.certFile is given",
    'off',
  ),
  field(
    'http.certFile',
    file,
    'http.tls: certificate chain to serve instead (PEM, leaf first), e.g. one of the hospital CA',
    requiredWith('http.keyFile'),
  ),
  field('http.keyFile', secretFile, 'its private key (PEM, mode 0600)', requiredWith('http.certFile')),
  field(
    'http.secureCookies',
    oneOf('auto', 'on', 'off'),
    'Secure session cookie: `auto` = on when http.tls is on or http.host is not loopback; `on` when served over TLS; `off` for plain HTTP off-host (not advised)',
    'auto',
  ),
  field(
    'http.loginThreads',
    int(1, 16),
    'threads hashing sign-in passwords (scrypt), apart from the ingest path',
    1,
  ),
  field(
    'http.loginQueue',
    int(1, 1024),
    'sign-ins checked or waiting at once; more are refused with 503 login_busy',
    4,
  ),
  field(
    'http.downloads',
    int(1, 64),
    'downloads (ECG, FHIR export, disclosure bundle) made at once, at most one per user; more are refused with 503 export_busy',
    2,
  ),
  field(
    'http.maxReadings',
    int(100, 1_000_000),
    'raw readings one readings answer may carry (the frames its range holds); a longer range is refused with 422 too_many_readings',
    100_000,
  ),
  field(
    'http.metricsTokenFile',
    secretFile,
    'file holding the bearer token /metrics requires (default: /metrics is open)',
  ),
  field(
    'mqtt.mode',
    oneOf('embedded', 'external'),
    '`embedded`: aedes inside the gateway; `external`: MQTT 5 client of a broker cluster',
    'embedded',
  ),
  field('mqtt.host', str, 'embedded: listener bind address', '127.0.0.1'),
  field('mqtt.port', PORT, 'embedded: listener port', 1883),
  field(
    'mqtt.maxConnectBytes',
    int(64, 1_048_576),
    'embedded: largest packet before a CONNECT is accepted (refused at its fixed header)',
    DEFAULT_MQTT_LIMITS.maxConnectBytes,
  ),
  field(
    'mqtt.maxPublishBytes',
    int(1024, 16_777_216),
    'embedded: largest PUBLISH (a frame plus its topic; refused at its fixed header)',
    DEFAULT_MQTT_LIMITS.maxPublishBytes,
  ),
  field(
    'mqtt.connectTimeoutSeconds',
    num(0.1, 600),
    'embedded: a connection without a complete CONNECT by then is closed',
    DEFAULT_MQTT_LIMITS.connectTimeoutMs / 1000,
  ),
  field(
    'mqtt.packetTimeoutSeconds',
    num(0.1, 600),
    'embedded: a packet begun and not complete by then closes the connection',
    DEFAULT_MQTT_LIMITS.packetTimeoutMs / 1000,
  ),
  field(
    'mqtt.ratePerSecond',
    int(0, 1_000_000),
    'embedded: PUBLISH packets per second per connection; faster devices are read more slowly, never dropped (0 = off)',
    DEFAULT_MQTT_LIMITS.rate.perSecond,
  ),
  field(
    'mqtt.rateBurst',
    int(1, 1_000_000),
    'embedded: PUBLISH packets allowed at once above the rate',
    DEFAULT_MQTT_LIMITS.rate.burst,
  ),
  field(
    'mqtt.rejectionLimit',
    int(0, 1_000_000),
    'embedded: rejected frames within mqtt.rejectionWindowSeconds that close the connection (0 = off)',
    DEFAULT_MQTT_LIMITS.rejections.max,
  ),
  field(
    'mqtt.rejectionWindowSeconds',
    num(1, 86400),
    'embedded: window of mqtt.rejectionLimit',
    DEFAULT_MQTT_LIMITS.rejections.windowMs / 1000,
  ),
  field(
    'mqtt.rejectionCooldownSeconds',
    num(0, 86400),
    'embedded: how long a client closed for rejections may not reconnect with its id from its address',
    DEFAULT_MQTT_LIMITS.rejections.cooldownMs / 1000,
  ),
  field(
    'mqtt.plain',
    oneOf('on', 'off'),
    'embedded: serve the plain listener on mqtt.port; `off`: devices must use mutual TLS (mqtt.tls.port)',
    'on',
  ),
  field(
    'mqtt.tls.port',
    PORT,
    'embedded: port of the mutual-TLS listener, devices connect with their KGC certificate (README "The mutual-TLS MQTT listener"; 0 = any free port; off when absent)',
    {
      requiredWhen: (c) => c['mqtt.mode'] !== 'external' && c['mqtt.plain'] === 'off',
      requiredText: 'required with mqtt.plain `off`',
    },
  ),
  field('mqtt.tls.host', str, 'embedded: bind address of the mutual-TLS listener (default: mqtt.host)'),
  field(
    'mqtt.tls.certFile',
    file,
    "embedded: the mutual-TLS listener's certificate chain (PEM, leaf + issuing CA); default: the gateway's own, DATA/gateway/tls/server.cert.pem (`vitaltrail kgc gateway-cert`)",
    requiredWith('mqtt.tls.keyFile'),
  ),
  field(
    'mqtt.tls.keyFile',
    secretFile,
    "embedded: the mutual-TLS listener's key (PEM, mode 0600); default: DATA/gateway/tls/server.key.pem",
    requiredWith('mqtt.tls.certFile'),
  ),
  field('mqtt.url', url('mqtt:', 'mqtts:'), 'external: broker URL, `mqtts://host:8883`', requiredExternal),
  field('mqtt.clientId', ID, 'external: base client id of the sessions (default: gatewayId); keep it stable'),
  field('mqtt.lanes', int(1, 64), 'external: parallel sessions in the share group; keep it stable', 8),
  field(
    'mqtt.receiveMaximum',
    int(1, 65535),
    'external: frames each lane may hold un-PUBACKed while they are committed (MQTT 5 Receive Maximum); up to lanes × this share one group commit',
    256,
  ),
  field(
    'mqtt.keepaliveSeconds',
    int(1, 65535),
    "external: MQTT keepalive of the gateway's sessions; a broker silent for 1.5 × this is taken as gone (the lanes reconnect; /readyz 503 until one answers)",
    DEFAULT_BROKER_KEEPALIVE_S,
  ),
  field(
    'mqtt.sessionExpirySeconds',
    int(0, 4294967295),
    'external: how long the broker keeps a session of a stopped gateway',
    86400,
  ),
  field('mqtt.caFile', file, 'external: CA certificate(s) of the broker (PEM)'),
  field('mqtt.certFile', file, "external: the gateway's client certificate (PEM)"),
  field('mqtt.keyFile', secretFile, "external: the gateway's client key (PEM, mode 0600)"),
  field(
    'serial',
    list(
      'path',
      item(
        'path',
        file,
        'the port: a stable `/dev/serial/by-id/…` link (better than `/dev/ttyUSB0`, which may change after a replug)',
        'required',
      ),
      item(
        'devices',
        { kind: 'idList' },
        'the device id(s) allowed on the port (several: a bedside hub); a frame of any other device is `identity_mismatch`',
        'required',
      ),
      item('baudRate', int(50, 4_000_000), 'line speed (8N1, no flow control)', 115200),
    ),
    'serial ports, each bound to the device(s) allowed on it (README "Serial wearables"); the environment variable holds the list as JSON',
  ),
  field(
    'ledger.rpcUrl',
    url('http:', 'https:'),
    'JSON-RPC URL of the consortium chain; without it checkpoints stay in the outbox',
  ),
  field(
    'ledger.deploymentFile',
    file,
    'deployment JSON (chainId, contract addresses) written by the deploy job',
    requiredWith('ledger.rpcUrl', 'rpcUrl'),
  ),
  field(
    'ledger.privateKeyFile',
    secretFile,
    "file holding the gateway's ledger account key (0x… hex, mode 0600)",
    requiredWith('ledger.rpcUrl', 'rpcUrl'),
  ),
  field('influx.url', url('http:', 'https:'), 'InfluxDB v2 base URL for the readings sink (off when absent)'),
  field('influx.org', str, 'InfluxDB organisation', requiredWith('influx.url')),
  field(
    'influx.bucket',
    str,
    'InfluxDB bucket (measurement `vitals`, tags `dev` and `bed`)',
    requiredWith('influx.url'),
  ),
  field('influx.tokenFile', secretFile, 'file holding the InfluxDB API token (mode 0600)'),
  field(
    'care.breakGlassRoles',
    oneOf('doctor', 'patient', 'doctor,patient', 'none'),
    "the care roles that may break glass: open a patient's record without a consent, with a mandatory reason, audited and shown to the charge nurse and the patient (README Break-glass)",
    'doctor',
  ),
  field('care.breakGlassMinutes', int(1, 1440), 'how long a break-glass opening lasts, minutes', 60),
  field(
    'ledger.confirmations',
    int(0, 1000),
    'blocks after the including one before an anchor counts (0: BFT-final, QBFT)',
    0,
  ),
  field(
    'ledger.stallSeconds',
    num(1, 86400),
    '/readyz answers 503 `anchoring_stalled` when the oldest checkpoint waiting in the anchoring outbox is older than this',
    120,
  ),
  field(
    'ledger.firstContactSeconds',
    num(0.1, 600),
    'how long the start waits for each first read of the chain before it goes on without it (the read goes on behind; frames are accepted all along)',
    3,
  ),
  field(
    'ledger.stopTimeoutSeconds',
    num(0.1, 600),
    'how long a stop waits for chain calls in flight (the last anchors) before it aborts them; what is not anchored waits in the outbox',
    5,
  ),
  field(
    'kgc.issuedDir',
    file,
    "the KGC's directory of issued device certificates (`<KGC data>/kgc/issued`, read-only is enough): " +
      'devices enrolled or re-enrolled there are imported at start and within 5 s (off when absent)',
  ),
  field(
    'outbound.mllp.host',
    str,
    "host of the hospital's HL7 v2 interface engine (MLLP): vitals as IHE PCD-01 ORU^R01 (off when absent)",
  ),
  field('outbound.mllp.port', PORT, 'its MLLP port', requiredWith('outbound.mllp.host')),
  field('outbound.mllp.receivingApplication', str, 'MSH-5 of the messages', 'EHR'),
  field('outbound.mllp.receivingFacility', str, 'MSH-6 of the messages', 'HOSPITAL'),
  field(
    'outbound.mllp.intervalSeconds',
    int(5, 3600),
    'PCD-01 per interval: one ORU^R01 per device and interval of this many seconds (one OBR per reading), sent when the interval closes (absent: one message per reading)',
  ),
  field(
    'outbound.fhir.url',
    url('http:', 'https:'),
    'FHIR R4 base URL: vitals pushed as Observations with Provenance, transaction bundles (off when absent)',
  ),
  field('outbound.fhir.tokenFile', secretFile, 'file holding a bearer token for the FHIR server (mode 0600)'),
  field(
    'outbound.fhir.patientSystem',
    str,
    "identifier system of the hospital's patient ids (the Patient is found by it)",
    'urn:vitaltrail:patient',
  ),
  field(
    'outbound.webhook.url',
    url('http:', 'https:'),
    'alarm webhook: every alarm transition POSTed as signed JSON (pagers, phones, nurse call; off when absent)',
  ),
  field(
    'outbound.webhook.secretFile',
    secretFile,
    'file holding the shared HMAC secret of the webhook and of its acknowledgement callback (mode 0600)',
    requiredWith('outbound.webhook.url'),
  ),
  field(
    'outbound.acm.host',
    str,
    'host of the alarm manager (IHE PCD ACM): every alarm transition as IHE PCD-04 ORU^R40 over MLLP (off when absent)',
  ),
  field('outbound.acm.port', PORT, "the alarm manager's MLLP port", requiredWith('outbound.acm.host')),
  field('outbound.acm.receivingApplication', str, 'MSH-5 of the PCD-04 messages', 'AM'),
  field('outbound.acm.receivingFacility', str, 'MSH-6 of the PCD-04 messages', 'HOSPITAL'),
  field(
    'outbound.acm.listenPort',
    PORT,
    "port of the gateway's MLLP listener for the alarm manager's IHE PCD-05 ORU^R41 (an alert accepted on a phone acknowledges the alarm; off when absent)",
  ),
  field('outbound.acm.listenHost', str, 'address the PCD-05 listener binds', '127.0.0.1'),
  field(
    'outbound.acm.allowFrom',
    str,
    'comma-separated peer IP addresses allowed to send PCD-05 (MLLP has no credential: only these may connect)',
    requiredWith('outbound.acm.listenPort'),
  ),
  field(
    'outbound.start',
    oneOf('now', 'history'),
    'where a receiver seen for the first time starts: readings accepted from now on, or the whole log',
    'now',
  ),
  field(
    'shared.postgres.url',
    POSTGRES_URL,
    'PostgreSQL of the state the gateways of a group share, `postgres://user@host:5432/db` without a password (the dashboard accounts and sessions, admissions, per-patient alarm settings and the alarms, decided once for the group: a user signed in on one gateway is signed in on all, an admission or an alarm acknowledgement made on one holds on all); off when absent: accounts in DATA/gateway/users.json',
    requiredWith('shared.postgres.passwordFile'),
  ),
  field(
    'shared.postgres.passwordFile',
    secretFile,
    'file holding the password of the shared.postgres.url user (mode 0600); absent: `PGPASSWORD` or `~/.pgpass` as libpq, else none (trust or certificate auth)',
  ),
  field(
    'shared.postgres.queryTimeoutSeconds',
    num(0.1, 3600),
    'the bound on one statement against the shared PostgreSQL (also its server-side statement_timeout); a statement over it fails and is retried as any outage',
    10,
  ),
  field(
    'shared.peerUrl',
    url('http:', 'https:'),
    "this gateway's dashboard URL as the other gateways of the group reach it (e.g. `http://gateway-1:8080`): a trend or raw history asks every gateway for the readings it stored; default: the HTTP listener's own URL (right when it listens on a name or address the others reach, not on 0.0.0.0)",
  ),
];
