/**
 * docker-compose.yml and every file it references, checked without Docker: well-formed
 * (parsed by the `yaml` library, YAML 1.2, strict: duplicate keys, tabs, syntax errors and
 * several documents fail with file:line:col, and a YAML file must read the same in YAML 1.1;
 * JSON files strictly too, duplicate keys included), every referenced file exists, named
 * volumes/networks/secrets are declared, ports, addresses and variables agree between the
 * compose file and the configs and scripts that name them, the gateway configs validate, the
 * one-shot jobs run in order (the registry job after the contracts, before the gateways), the
 * gateways follow the KGC's issued certificates through a read-only mount of that directory
 * alone (named by their `kgc.issuedDir`), the KGC's CRL reaches every gateway and Mosquitto
 * (its public `kgc/crl` directory mounted read-only where each reads it, signed by the
 * bootstrap job, Mosquitto's `crlfile` in the generated config and the broker CA's CRL in its
 * `cafile`), and every `vitaltrail` command (service commands, the job scripts, the documented
 * later enrolment) exists in our CLI with the options it is given.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, test, vi } from 'vitest';
import { parseDocument } from 'yaml';
import { kgcPaths } from '../../anchor/src/kgc/index.js';
import { validateConfig } from '../../gateway/src/app/config.js';
import { buildProgram } from '../../gateway/src/cli/main.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const STRICT = { strict: true, uniqueKeys: true, prettyErrors: true } as const;

/** Every error and warning of a parsed document, as `file:line:col CODE: message`. */
function problemsOf(doc: ReturnType<typeof parseDocument>, file: string): string[] {
  return [...doc.errors, ...doc.warnings].map((e) => {
    const at = e.linePos?.[0];
    return `${file}:${at?.line ?? '?'}:${at?.col ?? '?'} ${e.code}: ${e.message.split('\n')[0]}`;
  });
}

/**
 * Parses one YAML document strictly (YAML 1.2); any error or warning fails with its position.
 * The value must be the same under YAML 1.1 (`no`, `on`, `y`, `0755`, `1:30`, `.` are not
 * strings there), so no setting depends on which parser reads the file.
 */
function parseYaml(text: string, file: string): unknown {
  const doc = parseDocument(text, { ...STRICT, version: '1.2' });
  const problems = problemsOf(doc, file);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const value = doc.toJS() as unknown;
  const at = differenceAt(value, parseDocument(text, { ...STRICT, version: '1.1' }).toJS(), []);
  if (at) throw new Error(`${file}: ${at} reads differently in YAML 1.1 (quote the scalar)`);
  return value;
}

/** The path of the first place where two parsed values differ, or undefined. */
function differenceAt(a: unknown, b: unknown, path: string[]): string | undefined {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = differenceAt((a as Obj)[k], (b as Obj)[k], [...path, k]);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : path.join('.') || '(document)';
}

/** A JSON file, strictly: valid JSON, and (read as YAML) no duplicate key, which JSON.parse lets pass. */
function parseJson(text: string, file: string): unknown {
  const value = JSON.parse(text) as unknown;
  const problems = problemsOf(parseDocument(text, STRICT), file);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return value;
}

const compose = obj(parseYaml(read('docker-compose.yml'), 'docker-compose.yml'));
const services = obj(compose.services);
const GATEWAY_IMAGE = 'vitaltrail/gateway:0.1.0';
/** In the gateway image, gateway/deploy/ is /opt/vitaltrail/deploy/ (gateway/Dockerfile). */
const IMAGE_DEPLOY_DIR = '/opt/vitaltrail/deploy/';
const GATEWAYS = ['gateway-1', 'gateway-2'];

interface Mount {
  /** A repository path (`./x`) for a bind mount, else a named volume. */
  source: string;
  target: string;
  readOnly: boolean;
  /** Long syntax `volume.subpath`: only that directory of the volume is mounted. */
  subpath?: string;
}

/** The mounts of a service: short syntax (`source:target[:ro]`) or long (`source`, `target`, `read_only`, `volume.subpath`). */
function mountsOf(service: unknown): Mount[] {
  return list(obj(service).volumes).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = ''] = v.split(':');
      return { source, target, readOnly: mode.split(',').includes('ro') };
    }
    const subpath = str(obj(obj(v).volume).subpath);
    return {
      source: str(obj(v).source),
      target: str(obj(v).target),
      readOnly: obj(v).read_only === true,
      ...(subpath ? { subpath } : {}),
    };
  });
}

/** The mount a path lies on (its target, or below it). */
const mountHolding = (mounts: Mount[], path: string): Mount | undefined =>
  mounts.find((m) => path === m.target || path.startsWith(`${m.target}/`));

/** The repository files a service bind-mounts (`./x:/y`), directories expanded. */
function boundFiles(): string[] {
  const files = new Set<string>();
  const walk = (rel: string): void => {
    if (statSync(join(ROOT, rel)).isDirectory())
      for (const e of readdirSync(join(ROOT, rel)).sort()) walk(join(rel, e));
    else files.add(rel);
  };
  for (const s of Object.values(services))
    for (const { source } of mountsOf(s)) if (source.startsWith('./')) walk(source.slice(2));
  return [...files];
}

/** The names of the networks a service joins (list or map form). */
function networksOf(service: unknown): string[] {
  const nets = obj(service).networks;
  return Array.isArray(nets) ? nets.map(str) : Object.keys(obj(nets));
}

/** The condition a service waits for on another, or undefined. */
const waitsFor = (service: string, dep: string): string | undefined =>
  obj(obj(obj(services[service]).depends_on)[dep]).condition as string | undefined;

/** The value after `--name` in an argument list. */
function optionValue(args: string[], name: string): string {
  const at = args.indexOf(name);
  expect(at, `${args.slice(0, 2).join(' ')} has ${name}`).toBeGreaterThan(-1);
  return args[at + 1] as string;
}

/** The deploy script a one-shot service runs (`/bin/sh /opt/vitaltrail/deploy/x.sh`), repository path. */
function jobScript(service: string): string {
  const script = list(obj(services[service]).entrypoint)
    .map(str)
    .find((e) => e.startsWith(IMAGE_DEPLOY_DIR));
  expect(script, `${service}: entrypoint runs a deploy script`).toBeDefined();
  return `gateway/deploy/${(script as string).slice(IMAGE_DEPLOY_DIR.length)}`;
}

/** The `vitaltrail <command> <sub> …` arguments in the job script of a one-shot service. */
function jobCall(service: string, command: string, sub: string): string[] {
  const call = scriptInvocations(read(jobScript(service))).find((c) => c[0] === command && c[1] === sub);
  expect(call, `${service} runs ${command} ${sub}`).toBeDefined();
  return call as string[];
}

/** Resolves `vitaltrail a b --x …` against the CLI; returns the problems. */
/** The whole CLI, every command loaded (cli/main `buildProgram`). */
const program: Command = await buildProgram();

function checkCli(args: string[], where: string): string[] {
  let cmd: Command = program;
  const words = args.filter((a) => !a.startsWith('-'));
  let consumed = 0;
  for (const w of words) {
    const sub = cmd.commands.find((c) => c.name() === w);
    if (!sub) break;
    cmd = sub;
    consumed++;
  }
  if (consumed === 0) return [`${where}: unknown command ${args[0]}`];
  const problems: string[] = [];
  for (const a of args) {
    if (!a.startsWith('--')) continue;
    const flag = a.split('=')[0] as string;
    if (!cmd.options.some((o) => o.long === flag))
      problems.push(`${where}: ${cmd.name()} has no option ${flag}`);
  }
  return problems;
}

/** `$VT cmd sub --opt …` invocations of a job script, with `\` continuations joined. */
function scriptInvocations(text: string): string[][] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .flatMap((line) => {
      const at = line.indexOf('$VT ');
      if (at < 0 || line.trimStart().startsWith('#')) return [];
      return [
        line
          .slice(at + 4)
          .split(/[;|&]/)[0]
          ?.trim()
          .split(/\s+/) ?? [],
      ];
    });
}

describe('docker-compose.yml (production shape)', () => {
  test('behavior: the services of the production shape are there, images pinned', () => {
    for (const s of [
      'bootstrap',
      'besu-genesis',
      'besu-1',
      'besu-2',
      'besu-3',
      'besu-4',
      'contracts-deploy',
      'registry-sync',
      'postgres',
      'mosquitto',
      'gateway-1',
      'gateway-2',
      'ward-sim',
      'influxdb',
      'telegraf',
      'grafana',
    ]) {
      expect(services[s], s).toBeDefined();
    }
    for (const [name, s] of Object.entries(services)) {
      const image = str(obj(s).image);
      expect(image, name).toMatch(/^[a-z0-9./_-]+:[0-9][A-Za-z0-9._-]*$/);
      if (image === GATEWAY_IMAGE) expect(obj(obj(s).build).dockerfile, name).toBe('gateway/Dockerfile');
    }
  });

  test('behavior: every bind-mounted file exists; volumes, networks and secrets are declared', () => {
    const volumes = obj(compose.volumes);
    const networks = obj(compose.networks);
    const secrets = obj(compose.secrets);
    const makeSecrets = read('gateway/deploy/make-secrets.sh');
    for (const [name, s] of Object.entries(services)) {
      for (const { source, target } of mountsOf(s)) {
        expect(target, `${name}: mount target`).toMatch(/^\//);
        if (source.startsWith('./')) expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(volumes[source], `${name}: volume ${source}`).toBeDefined();
      }
      for (const n of networksOf(s)) expect(networks[n], `${name}: network ${n}`).toBeDefined();
      for (const sec of list(obj(s).secrets))
        expect(secrets[str(sec)], `${name}: secret ${str(sec)}`).toBeDefined();
      for (const dep of Object.keys(obj(obj(s).depends_on)))
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
      // *_FILE variables point into /run/secrets of a secret the service mounts.
      for (const [k, v] of Object.entries(obj(obj(s).environment))) {
        if (!k.endsWith('_FILE')) continue;
        const secret = str(v).replace('/run/secrets/', '');
        expect(list(obj(s).secrets).map(str), `${name}: ${k}`).toContain(secret);
      }
    }
    for (const [name, sec] of Object.entries(secrets)) {
      expect(str(obj(sec).file)).toBe(`./.secrets/${name}`);
      expect(makeSecrets, `make-secrets.sh creates ${name}`).toContain(name);
    }
    // One-shot jobs that others wait for must not restart forever.
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, cond] of Object.entries(obj(obj(s).depends_on))) {
        if (str(obj(cond).condition) === 'service_completed_successfully') {
          expect(['no', 'on-failure'], `${name} waits for ${dep}`).toContain(str(obj(services[dep]).restart));
        }
      }
    }
  });

  test('behavior: every vitaltrail command and option used by the services and job scripts exists', () => {
    const problems: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      if (str(obj(s).image) !== GATEWAY_IMAGE) continue;
      if (list(obj(s).entrypoint).length > 0) {
        const file = jobScript(name);
        expect(existsSync(join(ROOT, file)), file).toBe(true);
        const calls = scriptInvocations(read(file));
        expect(calls.length, file).toBeGreaterThan(0);
        for (const c of calls) problems.push(...checkCli(c, file));
      } else {
        problems.push(...checkCli(list(obj(s).command).map(str), name));
      }
    }
    expect(problems).toEqual([]);
  });

  test('behavior: ports and addresses agree between compose and the configs', () => {
    const hostPorts = Object.values(services).flatMap((s) =>
      list(obj(s).ports).map((p) => str(p).split(':')[0]),
    );
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    // Mosquitto: the generated listener port is the one published.
    expect(read('gateway/deploy/bootstrap.sh')).toMatch(/config mosquitto .*--port 8883/s);
    expect(list(obj(services.mosquitto).ports).map(str)).toEqual(['8883:8883']);
    for (const n of [1, 2]) {
      const text = read(`gateway/deploy/gateway-${n}.json`);
      const cfg = validateConfig(JSON.parse(text), {}, '/').values;
      const svc = obj(services[`gateway-${n}`]);
      expect(list(svc.ports).map(str)).toEqual([`808${n}:${cfg['http.port']}`]);
      expect(cfg['mqtt.url']).toBe('mqtts://mosquitto:8883');
      expect(cfg.gatewayId).toBe(`gw-${n}`);
      // Its data dir and every file it names live on the gateway's own volume.
      const mounts = mountsOf(svc).map((m) => m.target);
      expect(mounts).toContain(cfg.dataDir);
      for (const k of [
        'mqtt.caFile',
        'mqtt.certFile',
        'mqtt.keyFile',
        'ledger.deploymentFile',
        'ledger.privateKeyFile',
      ]) {
        expect(String(cfg[k]).startsWith(`${cfg.dataDir}/`), k).toBe(true);
      }
      // The chain endpoint is a Besu validator's RPC on the chain network.
      const rpc = new URL(String(cfg['ledger.rpcUrl']));
      expect(services[rpc.hostname]).toBeDefined();
      expect(list(obj(services[rpc.hostname]).command).map(str)).toContain(`--rpc-http-port=${rpc.port}`);
      expect(list(svc.networks).map(str)).toEqual(expect.arrayContaining(['mqtt', 'chain', 'ops']));
      // The shared state (issue 16): the group's PostgreSQL, reached on a network both share,
      // its password a private copy on the gateway's own volume made by the bootstrap job.
      const pgUrl = new URL(String(cfg['shared.postgres.url']));
      const pgSvc = obj(services[pgUrl.hostname]);
      expect(str(pgSvc.image)).toMatch(/^postgres:/);
      expect(pgUrl.port).toBe('5432');
      expect(pgUrl.pathname).toBe(`/${str(obj(pgSvc.environment).POSTGRES_DB)}`);
      expect(pgUrl.username).toBe(str(obj(pgSvc.environment).POSTGRES_USER));
      expect(list(svc.networks).map(str)).toEqual(expect.arrayContaining(list(pgSvc.networks).map(str)));
      expect(String(cfg['shared.postgres.passwordFile']).startsWith(`${cfg.dataDir}/`)).toBe(true);
      expect(read('gateway/deploy/bootstrap.sh')).toContain(
        'cp /run/secrets/postgres-password "$dir/postgres.password" && chmod 600',
      );
      expect(obj(obj(svc.depends_on).postgres).condition).toBe('service_healthy');
      // Telegraf scrapes its /metrics on the container port.
      expect(read('gateway/deploy/telegraf.conf')).toContain(
        `"http://gateway-${n}:${cfg['http.port']}/metrics"`,
      );
    }
    expect(read('gateway/deploy/deploy-contracts.sh')).toContain('--rpc http://besu-1:8545');
  });

  test('behavior: the Besu QBFT network has 4 validators on the addresses the generator writes', () => {
    const qbft = JSON.parse(read('anchor/besu/qbft-config.json'));
    expect(qbft.blockchain.nodes.count).toBe(4);
    expect(qbft.genesis.config.qbft).toBeDefined();
    expect(qbft.genesis.config.zeroBaseFee).toBe(true);
    const subnet = str(obj(list(obj(obj(obj(compose.networks).chain).ipam).config)[0]).subnet);
    expect(subnet).toBe('172.28.0.0/24');
    expect(read('anchor/besu/generate.sh')).toContain('@172.28.0.1$i:30303');
    for (let n = 1; n <= 4; n++) {
      const svc = obj(services[`besu-${n}`]);
      const ip = str(obj(obj(svc.networks).chain).ipv4_address);
      expect(ip).toBe(`172.28.0.1${n}`);
      const cmd = list(svc.command).map(str);
      expect(cmd).toEqual(
        expect.arrayContaining([
          `--p2p-host=${ip}`,
          `--node-private-key-file=/besu/node${n}/key`,
          '--min-gas-price=0',
        ]),
      );
    }
  });

  test('behavior: Grafana provisioning and dashboards are consistent', () => {
    const yamlOf = (f: string) => obj(parseYaml(read(f), f));
    const ds = obj(list(yamlOf('dashboards/grafana/provisioning/datasources/influxdb.yaml').datasources)[0]);
    expect(str(ds.url)).toBe('http://influxdb:8086');
    expect(str(obj(ds.secureJsonData).token)).toBe('$__file{/run/secrets/influx-admin-token}');
    expect(list(obj(services.grafana).secrets).map(str)).toContain('influx-admin-token');
    const provider = obj(
      list(yamlOf('dashboards/grafana/provisioning/dashboards/vitaltrail.yaml').providers)[0],
    );
    const mounts = list(obj(services.grafana).volumes).map(str);
    expect(mounts).toContain(`./dashboards/grafana/dashboards:${str(obj(provider.options).path)}:ro`);
    const uids = new Set<string>();
    for (const f of ['ward-vitals', 'ingest-health', 'anchoring-health']) {
      const d = JSON.parse(read(`dashboards/grafana/dashboards/${f}.json`));
      expect(uids.has(d.uid)).toBe(false);
      uids.add(d.uid);
      expect(d.panels.length).toBeGreaterThan(0);
      for (const p of d.panels) {
        expect(p.datasource.uid).toBe(str(ds.uid));
        expect(p.targets[0].query).toContain('from(bucket: "vitaltrail")');
      }
    }
    // The ops dashboards name only series the gateway exports (io/ops/metrics).
    const routes = read('gateway/src/io/ops/metrics.ts');
    for (const f of ['ingest-health', 'anchoring-health']) {
      for (const m of read(`dashboards/grafana/dashboards/${f}.json`).matchAll(
        /_field == \\"(vitaltrail_[a-z_]+?)(_bucket)?\\"/g,
      )) {
        expect(routes, m[1]).toContain(`'${m[1]}'`);
      }
    }
  });

  test('behavior: the gateway runs with the same Node options in the image, under npm start and in bench:ingest', () => {
    const docker = read('gateway/Dockerfile');
    const envOptions = /^ENV NODE_OPTIONS=(.+)$/m.exec(docker)?.[1]?.split(/\s+/) ?? [];
    const entry = JSON.parse(/^ENTRYPOINT (\[.+\])$/m.exec(docker)?.[1] ?? '[]') as string[];
    const image = [...envOptions, ...entry.slice(entry.indexOf('node') + 1, -1)];
    const start =
      (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start ?? '';
    const npmStart = /\bnode ((?:--\S+ )*)bin\/vitaltrail\.js demo/.exec(start)?.[1]?.trim().split(' ') ?? [];
    const bench =
      /BENCH_HOST_NODE_ARGS \?\? '([^']*)'/.exec(read('test/bench/procs.ts'))?.[1]?.split(' ') ?? [];
    expect(entry.at(-1)).toBe('/opt/vitaltrail/bin/vitaltrail.js');
    // The young generation kept small (10,000 connections' memory) and V8's memory reducer off
    // (a burst after a quiet spell starts on a heap shrunk while idle): README "Sizing".
    expect(image.sort()).toEqual(['--max-semi-space-size=4', '--no-memory-reducer']);
    expect(npmStart.sort()).toEqual(image);
    expect(bench.sort()).toEqual(image);
    // V8 flags are not Node's stable interface: a Node that no longer knows one refuses to
    // start ("bad option", exit 9). This one must take them.
    const run = spawnSync(process.execPath, [...image, '-e', '0'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  test('behavior: every COPY source of the gateway Dockerfile exists', () => {
    const sources = [...read('gateway/Dockerfile').matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] as string).split(/\s+/),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
  });

  test('behavior: every file the services bind-mount parses strictly: YAML (the same in YAML 1.1) and JSON', () => {
    const files = boundFiles();
    const parsed = files.filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(parsed).toEqual(
      expect.arrayContaining([
        'dashboards/grafana/provisioning/datasources/influxdb.yaml',
        'dashboards/grafana/provisioning/dashboards/vitaltrail.yaml',
        'dashboards/grafana/dashboards/ward-vitals.json',
        'anchor/besu/qbft-config.json',
        'gateway/deploy/gateway-1.json',
        'gateway/deploy/gateway-2.json',
      ]),
    );
    for (const f of parsed) {
      const value = f.endsWith('.json') ? parseJson(read(f), f) : parseYaml(read(f), f);
      expect(value, f).toBeTypeOf('object');
    }
    // The rest are scripts and configs of other formats, which the tests above read.
    expect(files.filter((f) => !parsed.includes(f)).sort()).toEqual([
      'anchor/besu/generate.sh',
      'gateway/deploy/telegraf.conf',
    ]);
  });

  test("behavior: the registry job writes the KGC's enrolments on chain after the contracts, before any gateway", () => {
    const job = 'registry-sync';
    const svc = obj(services[job]);
    expect(str(svc.image)).toBe(GATEWAY_IMAGE);
    expect(waitsFor(job, 'contracts-deploy')).toBe('service_completed_successfully');
    expect(waitsFor('contracts-deploy', 'bootstrap')).toBe('service_completed_successfully');
    for (const g of GATEWAYS) expect(waitsFor(g, job), g).toBe('service_completed_successfully');

    const sync = jobCall(job, 'kgc', 'sync-registry');
    const deploy = jobCall('contracts-deploy', 'chain', 'deploy');
    // The chain, account and deployment of the deploy job, the KGC data dir of the bootstrap job.
    expect(optionValue(sync, '--rpc')).toBe(optionValue(deploy, '--rpc'));
    expect(optionValue(sync, '--key-file')).toBe(optionValue(deploy, '--key-file'));
    expect(optionValue(sync, '--deployment')).toBe(optionValue(deploy, '--out'));
    expect(read('gateway/deploy/bootstrap.sh')).toContain(`\nKGC=${optionValue(sync, '--data')}\n`);
    expect(optionValue(sync, '--key-file')).toBe(`${optionValue(sync, '--data')}/chain/kgc.key`);
    // Each path it names is on a volume it mounts, and the one the other jobs share.
    for (const k of ['--data', '--deployment', '--key-file']) {
      const path = optionValue(sync, k);
      const mount = mountHolding(mountsOf(svc), path);
      expect(mount, `${job}: ${k} ${path} on a volume`).toBeDefined();
      for (const other of ['bootstrap', 'contracts-deploy'])
        expect(mountsOf(services[other]), other).toContainEqual(mount);
    }
    // It reaches a validator's RPC on a network it joins: the chain the gateways anchor on
    // (same genesis as the validators their configs name).
    const rpc = new URL(optionValue(sync, '--rpc'));
    const genesisOf = (host: string) => {
      const cmd = list(obj(services[host]).command).map(str);
      return cmd.find((a) => a.startsWith('--genesis-file='));
    };
    expect(list(obj(services[rpc.hostname]).command).map(str)).toContain(`--rpc-http-port=${rpc.port}`);
    expect(networksOf(svc).filter((n) => networksOf(services[rpc.hostname]).includes(n))).not.toEqual([]);
    for (const n of [1, 2]) {
      const cfg = validateConfig(JSON.parse(read(`gateway/deploy/gateway-${n}.json`)), {}, '/').values;
      const host = new URL(String(cfg['ledger.rpcUrl'])).hostname;
      expect(genesisOf(host), host).toBeDefined();
      expect(genesisOf(host), host).toBe(genesisOf(rpc.hostname));
    }
    // A failure stops the gateways from starting; only exit 1 (a key revoked on chain) is let through.
    expect(read(jobScript(job))).toContain('[ "$rc" -le 1 ] || exit "$rc"');
  });

  test("behavior: each gateway follows the KGC's issued certificates: kgc.issuedDir is a read-only mount of that directory alone", () => {
    const kgcData = optionValue(jobCall('registry-sync', 'kgc', 'sync-registry'), '--data');
    const kgcMount = mountHolding(mountsOf(services.bootstrap), kgcData);
    expect(kgcMount, `bootstrap mounts ${kgcData}`).toBeDefined();
    const kgcVolume = (kgcMount as Mount).source;
    // Where `kgc enroll --data <KGC>` records each device's current certificate, inside the volume.
    const issued = kgcPaths(dataPaths(kgcData).kgcDir).devicesDir;
    const subpath = relative((kgcMount as Mount).target, issued);
    expect(subpath).toBe('kgc/issued');
    for (const [n, g] of GATEWAYS.entries()) {
      const cfg = validateConfig(JSON.parse(read(`gateway/deploy/gateway-${n + 1}.json`)), {}, '/').values;
      expect(cfg['kgc.issuedDir'], g).toMatch(/^\//);
      expect(
        mountsOf(services[g]).filter((m) => m.source === kgcVolume && m.subpath === subpath),
        g,
      ).toEqual([{ source: kgcVolume, target: cfg['kgc.issuedDir'], readOnly: true, subpath }]);
      // The KGC volume holds its private keys: a gateway sees only its public directories
      // (issued certificates, the CRL), read-only.
      for (const m of mountsOf(services[g]).filter((x) => x.source === kgcVolume)) {
        expect(m.readOnly, `${g}: ${m.target}`).toBe(true);
        expect(['kgc/issued', 'kgc/crl'], `${g}: ${m.target}`).toContain(m.subpath);
      }
    }
    // The bootstrap job (which every gateway waits for) makes the directory a subpath mount
    // needs, and gives each gateway the KGC trust its chain check uses; it copies no device.
    const boot = read('gateway/deploy/bootstrap.sh');
    expect(boot).toContain(`mkdir -p "$KGC/${subpath}"`);
    expect(boot).toContain('cp "$KGC"/kgc/*.cert.pem "$dir/kgc/"');
    expect(boot).not.toMatch(/cp -a "\$KGC\/gateway" /);
  });

  test("behavior: the KGC's CRL reaches every gateway and Mosquitto: its public kgc/crl directory, read-only, where each reads it", async () => {
    const kgcData = optionValue(jobCall('registry-sync', 'kgc', 'sync-registry'), '--data');
    const kgcMount = mountHolding(mountsOf(services.bootstrap), kgcData) as Mount;
    const kgc = kgcPaths(dataPaths(kgcData).kgcDir);
    // Where `kgc revoke` / `kgc crl --data <KGC>` write the CRL: a directory of its own, no key in it.
    expect(dirname(kgc.crl)).toBe(kgc.crlDir);
    for (const key of [kgc.rootKey, kgc.issuingKey]) expect(key.startsWith(`${kgc.crlDir}/`)).toBe(false);
    const subpath = relative(kgcMount.target, kgc.crlDir);
    expect(subpath).toBe('kgc/crl');
    const crlMount = (target: string): Mount => ({
      source: kgcMount.source,
      target,
      readOnly: true,
      subpath,
    });
    /** The innermost mount a path lies on (a mount inside the data dir's volume wins). */
    const innermost = (mounts: Mount[], path: string) =>
      mounts
        .filter((m) => path === m.target || path.startsWith(`${m.target}/`))
        .sort((a, b) => b.target.length - a.target.length)[0];

    // The bootstrap job signs it (the issuing CA's CRL, even with nothing revoked) before
    // anything that reads it starts (the gateways wait for it through the chain jobs).
    expect(optionValue(jobCall('bootstrap', 'kgc', 'crl'), '--data')).toBe('"$KGC"');
    expect(read('gateway/deploy/bootstrap.sh')).toContain(`\nKGC=${kgcData}\n`);
    expect(waitsFor('mosquitto', 'bootstrap')).toBe('service_completed_successfully');

    // Each gateway: the file its revocation poll reads (DATA/kgc/crl/crl.pem, every 5 s) lies
    // on a read-only mount of exactly that directory of the KGC volume.
    for (const [n, g] of GATEWAYS.entries()) {
      const cfg = validateConfig(JSON.parse(read(`gateway/deploy/gateway-${n + 1}.json`)), {}, '/').values;
      const own = kgcPaths(dataPaths(String(cfg.dataDir)).kgcDir);
      const mounts = mountsOf(services[g]);
      expect(
        mounts.filter((m) => m.subpath === subpath),
        g,
      ).toEqual([crlMount(own.crlDir)]);
      expect(innermost(mounts, own.crl), g).toEqual(crlMount(own.crlDir));
      // The trust the CRL signatures are checked with is the gateway's own copy (bootstrap).
      expect(innermost(mounts, own.rootCert)?.source, g).toBe(`vt-gw-${n + 1}`);
    }

    // Mosquitto, the TLS terminator here: the same directory read-only, its crlfile in the
    // generated config, and the broker CA's CRL in its cafile (OpenSSL's CRL check then wants a
    // CRL for the gateways' broker CA too, or refuses them).
    const mq = mountsOf(services.mosquitto);
    const mqCrl = mq.filter((m) => m.subpath === subpath);
    expect(mqCrl).toHaveLength(1);
    expect(mqCrl[0]).toEqual(crlMount((mqCrl[0] as Mount).target));
    const call = jobCall('bootstrap', 'config', 'mosquitto');
    expect(optionValue(call, '--crlfile')).toBe(
      join((mqCrl[0] as Mount).target, relative(kgc.crlDir, kgc.crl)),
    );
    const boot = read('gateway/deploy/bootstrap.sh').replace(/\\\n\s*/g, ' ');
    expect(boot).toMatch(/^openssl ca -batch .*-gencrl .*-out "\$BROKER\/tls\/broker-ca\.crl\.pem"$/m);
    expect(boot).toMatch(
      /^cat "\$BROKER\/tls\/broker-ca\.pem" "\$BROKER\/tls\/broker-ca\.crl\.pem" .*> "\$BROKER\/tls\/client-ca\.pem"$/m,
    );
    const broker = mountHolding(mountsOf(services.bootstrap), '/broker') as Mount;
    const mqConfig = mountHolding(mq, '/mosquitto/config') as Mount;
    expect(mqConfig.source).toBe(broker.source);
    expect(optionValue(call, '--cafile')).toBe(`${mqConfig.target}/tls/client-ca.pem`);
    // The generator, run as the bootstrap job runs it, writes both into mosquitto.conf.
    const out = mkdtempSync(join(tmpdir(), 'vt-compose-'));
    try {
      const args = call.slice(2).map((a, i, all) => {
        if (all[i - 1] === '--out') return join(out, 'mosquitto.conf');
        if (all[i - 1] === '--acl-out') return join(out, 'acl');
        return a.replace(/^"(.*)"$/, '$1');
      });
      const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try {
        await (await buildProgram()).parseAsync(['config', 'mosquitto', ...args], { from: 'user' });
      } finally {
        write.mockRestore();
      }
      const conf = readFileSync(join(out, 'mosquitto.conf'), 'utf8').split('\n');
      expect(conf).toContain(`crlfile ${optionValue(call, '--crlfile')}`);
      expect(conf).toContain(`cafile ${optionValue(call, '--cafile')}`);
      expect(conf).toContain('require_certificate true');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('behavior: the later enrolment the compose file documents is a real command, run where the KGC volume and the chain are', () => {
    const text = read('docker-compose.yml');
    const header = text
      .slice(0, text.indexOf('\nname:'))
      .split('\n')
      .map((l) => l.replace(/^#\s*/, ''))
      .join('\n')
      .replace(/\\\n\s*/g, ' ');
    const line = header.split('\n').find((l) => l.startsWith('docker compose run '));
    expect(line, 'docker-compose.yml documents `docker compose run … kgc enroll`').toBeDefined();
    const words = (line as string).trim().split(/\s+/);
    const service = words[words.indexOf('--entrypoint') + 2] as string;
    const args = words.slice(words.findIndex((w) => w.endsWith('/bin/vitaltrail.js')) + 1);
    expect(args.slice(0, 2)).toEqual(['kgc', 'enroll']);
    expect(checkCli(args, 'docker-compose.yml')).toEqual([]);
    const sync = jobCall('registry-sync', 'kgc', 'sync-registry');
    expect(optionValue(args, '--data')).toBe(optionValue(sync, '--data'));
    expect(optionValue(args, '--rpc')).toBe(optionValue(sync, '--rpc'));
    expect(mountHolding(mountsOf(services[service]), optionValue(args, '--data')), service).toBeDefined();
    const rpcHost = new URL(optionValue(args, '--rpc')).hostname;
    expect(
      networksOf(services[service]).filter((n) => networksOf(services[rpcHost]).includes(n)),
    ).not.toEqual([]);
  });

  test('behavior: the one-shot jobs and services start in an order that exists (no dependency cycle)', () => {
    const done = new Set<string>();
    const visiting = new Set<string>();
    const visit = (name: string, path: string[]): void => {
      if (done.has(name)) return;
      expect(visiting.has(name), `cycle: ${[...path, name].join(' -> ')}`).toBe(false);
      visiting.add(name);
      for (const dep of Object.keys(obj(obj(services[name]).depends_on))) visit(dep, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name, []);
    expect(done.size).toBe(Object.keys(services).length);
  });

  test('behavior: variables agree: the simulated ward is the ward the bootstrap job enrolled', () => {
    const devices = str(obj(obj(services.bootstrap).environment).WARD_DEVICES);
    expect(devices).toMatch(/^[1-9][0-9]*$/);
    const sim = list(obj(services['ward-sim']).command).map(str);
    expect(optionValue(sim, '--devices')).toBe(devices);
    expect(optionValue(sim, '--data')).toBe(
      optionValue(jobCall('registry-sync', 'kgc', 'sync-registry'), '--data'),
    );
  });

  test('error: the strict parse names the file, line and column of what is wrong', () => {
    expect(() => parseYaml('a: 1\na: 2\n', 'x.yml')).toThrow(
      /^x\.yml:2:1 DUPLICATE_KEY: Map keys must be unique/,
    );
    expect(() => parseYaml('a:\n\t- b\n', 'x.yml')).toThrow(/^x\.yml:2:1 TAB_AS_INDENT: /);
    expect(() => parseYaml('a: [1\n', 'x.yml')).toThrow(/^x\.yml:2:1 BAD_INDENT: /);
    expect(() => parseYaml('a: 1\n---\nb: 2\n', 'x.yml')).toThrow(/^x\.yml:\d+:\d+ MULTIPLE_DOCS: /);
    expect(() => parseYaml('s:\n  restart: no\n', 'x.yml')).toThrow(
      'x.yml: s.restart reads differently in YAML 1.1',
    );
    expect(() => parseYaml('build:\n  context: .\n', 'x.yml')).toThrow(
      'x.yml: build.context reads differently',
    );
    expect(() => parseJson('{"a": 1,\n "a": 2}', 'x.json')).toThrow(/^x\.json:2:2 DUPLICATE_KEY: /);
    // `y` is a YAML 1.1 boolean: as a key it would become `true` there.
    expect(() => parseYaml('a:\n  - x: 1\n    y: z\n', 'x.yml')).toThrow('x.yml: a.0.y reads differently');
    expect(parseYaml('a:\n  - x: "1" # c\n    name: z\n  - w:v\n', 'x.yml')).toEqual({
      a: [{ x: '1', name: 'z' }, 'w:v'],
    });
  });
});
