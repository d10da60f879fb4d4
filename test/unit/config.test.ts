/**
 * The gateway configuration (io/config): validation with field paths, defaults,
 * environment overrides, secrets from files (never values in the file), and the
 * reference generated from the same table.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  CONFIG_FIELDS,
  configReference,
  envNameOf,
  gatewayOptionsFromConfig,
  loadConfigFile,
  validateConfig,
} from '../../gateway/src/app/config.js';
import { problemsOf } from '../helpers/config-problems.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('gateway config', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  test('behavior: defaults fill in, relative paths resolve against the config dir', () => {
    const cfg = validateConfig({ dataDir: 'data' }, {}, '/etc/vt');
    expect(cfg.values).toMatchObject({
      dataDir: '/etc/vt/data',
      gatewayId: 'gw-1',
      'mqtt.mode': 'embedded',
      'http.port': 8080,
    });
    expect(cfg.sources['http.port']).toBe('default');
    expect(cfg.sources.dataDir).toBe('file');
  });

  test('behavior: environment overrides win, are typed, and unknown VITALTRAIL_A__B names are reported', () => {
    const cfg = validateConfig(
      { dataDir: '/d', http: { port: 1 } },
      {
        VITALTRAIL_HTTP__PORT: '9090',
        VITALTRAIL_MQTT__SESSION_EXPIRY_SECONDS: '60',
        VITALTRAIL_HTTP__PROT: '1',
      },
      '/',
    );
    expect(cfg.values['http.port']).toBe(9090);
    expect(cfg.values['mqtt.sessionExpirySeconds']).toBe(60);
    expect(cfg.sources['http.port']).toBe('env');
    expect(cfg.unknownEnv).toEqual(['VITALTRAIL_HTTP__PROT']);
  });

  test('error: every problem is reported at once, with its field path and code', () => {
    const problems = problemsOf(() =>
      validateConfig(
        { http: { port: 70000, extra: 1 }, mqtt: { mode: 'external', lanes: 0 }, gatewayId: 'bad id!' },
        { VITALTRAIL_LOG__LEVEL: 'loud' },
        '/',
      ),
    );
    expect(problems).toEqual([
      'http.extra: unknown field',
      'gatewayId: must be 1-64 chars of [A-Za-z0-9._-]',
      'log.level: must be one of debug, info, warn, error (from VITALTRAIL_LOG__LEVEL)',
      'http.port: must be an integer from 0 to 65535',
      'mqtt.lanes: must be an integer from 1 to 64',
      'dataDir: is required',
      'mqtt.url: is required',
    ]);
  });

  test('error: URLs must not carry credentials; ledger needs its deployment and key files', () => {
    const problems = problemsOf(() =>
      validateConfig(
        {
          dataDir: '/d',
          mqtt: { mode: 'external', url: 'mqtts://u:p@broker:8883' },
          ledger: { rpcUrl: 'http://besu:8545' },
        },
        {},
        '/',
      ),
    );
    expect(problems).toEqual([
      'mqtt.url: must not carry credentials (use a secret file)',
      'ledger.deploymentFile: is required',
      'ledger.privateKeyFile: is required',
    ]);
  });

  test('behavior: secrets come from 0600 files; a group-readable secret file is refused', () => {
    const key = join(tmp.dir, 'ledger.key');
    writeFileSync(key, `0x${'11'.repeat(32)}\n`, { mode: 0o600 });
    const dep = join(tmp.dir, 'deployment.json');
    writeFileSync(dep, JSON.stringify({ chainId: 1337 }));
    const token = join(tmp.dir, 'metrics.token');
    writeFileSync(token, 'tok-123\n', { mode: 0o600 });
    const file = join(tmp.dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({
        dataDir: 'data',
        http: { metricsTokenFile: 'metrics.token' },
        mqtt: { mode: 'external', url: 'mqtts://broker:8883', lanes: 2 },
        ledger: {
          rpcUrl: 'http://besu:8545',
          deploymentFile: 'deployment.json',
          privateKeyFile: 'ledger.key',
        },
      }),
    );
    const opts = gatewayOptionsFromConfig(loadConfigFile(file, {}));
    expect(opts.metricsToken).toBe('tok-123');
    expect(opts.externalBroker).toMatchObject({ url: 'mqtts://broker:8883', clientId: 'gw-1', lanes: 2 });
    expect(opts.ledger).toMatchObject({ rpcUrl: 'http://besu:8545', privateKey: `0x${'11'.repeat(32)}` });
    // ledger.stallSeconds: the /readyz threshold of a stuck outbox, 120 s unless set.
    expect(opts.ledger?.stallMs).toBe(120_000);
    const env = { VITALTRAIL_LEDGER__STALL_SECONDS: '2.5' };
    expect(gatewayOptionsFromConfig(loadConfigFile(file, env)).ledger?.stallMs).toBe(2500);
    // The deadlines on peers that stop answering (2026-12-06): the broker's keepalive, the
    // chain's first contact and stop, defaults unless set.
    expect(opts.externalBroker?.keepaliveSeconds).toBe(15);
    expect(opts.ledger).toMatchObject({ firstContactMs: 3000, stopTimeoutMs: 5000 });
    const deadlines = {
      VITALTRAIL_MQTT__KEEPALIVE_SECONDS: '5',
      VITALTRAIL_LEDGER__FIRST_CONTACT_SECONDS: '0.5',
      VITALTRAIL_LEDGER__STOP_TIMEOUT_SECONDS: '20',
    };
    const tuned = gatewayOptionsFromConfig(loadConfigFile(file, deadlines));
    expect(tuned.externalBroker?.keepaliveSeconds).toBe(5);
    expect(tuned.ledger).toMatchObject({ firstContactMs: 500, stopTimeoutMs: 20_000 });
    expect(problemsOf(() => loadConfigFile(file, { VITALTRAIL_MQTT__KEEPALIVE_SECONDS: '0' }))).toEqual([
      'mqtt.keepaliveSeconds: must be an integer from 1 to 65535 (from VITALTRAIL_MQTT__KEEPALIVE_SECONDS)',
    ]);
    // memory.heapGrowingPercent (app/heap): 25 unless set; 0 leaves V8's own heuristic.
    expect(opts.heapGrowingPercent).toBe(25);
    const heapEnv = { VITALTRAIL_MEMORY__HEAP_GROWING_PERCENT: '0' };
    expect(gatewayOptionsFromConfig(loadConfigFile(file, heapEnv)).heapGrowingPercent).toBe(0);
    expect(opts.mqtt).toBeUndefined();
    chmodSync(key, 0o640);
    expect(problemsOf(() => gatewayOptionsFromConfig(loadConfigFile(file, {})))).toEqual([
      'ledger.privateKeyFile: file must not be readable by group or others (chmod 600)',
    ]);
    // The reason names the field, never the secret.
    try {
      gatewayOptionsFromConfig(loadConfigFile(file, {}));
    } catch (err) {
      expect((err as Error).message).not.toContain('0x11');
    }
  });

  test('error: a missing or non-JSON file is config_invalid', () => {
    expect(problemsOf(() => loadConfigFile(join(tmp.dir, 'nope.json'), {}))).toEqual([
      '(file): cannot be read',
    ]);
    const bad = join(tmp.dir, 'bad.json');
    writeFileSync(bad, '{ dataDir: ');
    expect(problemsOf(() => loadConfigFile(bad, {}))).toEqual(['(file): is not valid JSON']);
  });

  test("behavior: kgc.issuedDir names the KGC's issued directory (file or VITALTRAIL_KGC__ISSUED_DIR); error: one that is not a directory", () => {
    const issued = join(tmp.dir, 'kgc-issued');
    mkdirSync(issued);
    const cfg = validateConfig({ dataDir: 'data', kgc: { issuedDir: 'kgc-issued' } }, {}, tmp.dir);
    expect(cfg.values['kgc.issuedDir']).toBe(issued);
    expect(gatewayOptionsFromConfig(cfg).kgcIssuedDir).toBe(issued);
    expect(
      gatewayOptionsFromConfig(validateConfig({ dataDir: 'data' }, {}, tmp.dir)).kgcIssuedDir,
    ).toBeUndefined();
    const aFile = join(tmp.dir, 'issued.pem');
    writeFileSync(aFile, '');
    for (const bad of [join(tmp.dir, 'nowhere'), aFile]) {
      const fromEnv = validateConfig({ dataDir: 'data' }, { VITALTRAIL_KGC__ISSUED_DIR: bad }, tmp.dir);
      expect(fromEnv.sources['kgc.issuedDir']).toBe('env');
      expect(problemsOf(() => gatewayOptionsFromConfig(fromEnv))).toEqual([
        'kgc.issuedDir: directory not found',
      ]);
    }
  });

  test('behavior: outbound.acm sends PCD-04 and listens for PCD-05; error: allowFrom must be IP addresses', () => {
    const acm = (allowFrom: string) =>
      gatewayOptionsFromConfig(
        validateConfig(
          {
            dataDir: 'data',
            outbound: { acm: { host: 'am.local', port: 2576, listenPort: 2577, allowFrom } },
          },
          {},
          tmp.dir,
        ),
      ).outbound?.acm;
    expect(acm(' 10.2.0.15, ::1 ')).toEqual({
      host: 'am.local',
      port: 2576,
      receivingApplication: 'AM',
      receivingFacility: 'HOSPITAL',
      listen: { host: '127.0.0.1', port: 2577, allowFrom: ['10.2.0.15', '::1'] },
    });
    for (const bad of ['am.hospital.local', '10.2.0.15,am', ' , '])
      expect(problemsOf(() => acm(bad))).toEqual([
        'outbound.acm.allowFrom: must list IP addresses, comma-separated',
      ]);
    expect(
      problemsOf(() =>
        validateConfig({ dataDir: 'data', outbound: { acm: { listenPort: 2577 } } }, {}, tmp.dir),
      ),
    ).toEqual([expect.stringMatching(/^outbound\.acm\.allowFrom: /)]);
  });

  test('behavior: the reference lists every field with its environment variable', () => {
    const ref = configReference();
    for (const f of CONFIG_FIELDS) expect(ref).toContain(`| \`${f.path}\` | \`${envNameOf(f.path)}\` |`);
    expect(envNameOf('mqtt.sessionExpirySeconds')).toBe('VITALTRAIL_MQTT__SESSION_EXPIRY_SECONDS');
    expect(envNameOf('dataDir')).toBe('VITALTRAIL_DATA_DIR');
  });
});

describe('the README reference', () => {
  test('behavior: the configuration table in the README is exactly `vitaltrail config schema`', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const ref = configReference();
    const first = ref.split('\n')[0] as string;
    const at = readme.indexOf(first);
    expect(at, 'README has the configuration table').toBeGreaterThan(-1);
    const table = readme
      .slice(at)
      .split('\n')
      .filter((_, i, lines) => lines.slice(0, i + 1).every((l) => l.startsWith('|')))
      .join('\n');
    expect(table).toBe(ref);
  });
});
