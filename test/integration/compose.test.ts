/**
 * docker-compose.yml and every file it references, checked without Docker: well-formed
 * (YAML subset, JSON), every referenced file exists, named volumes/networks/secrets are
 * declared, ports and addresses agree between the compose file and the configs that name
 * them, the gateway configs validate, and every `vitaltrail` command (service commands
 * and the job scripts) exists in our CLI with the options it is given.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { buildProgram } from '../../gateway/src/cli/main.js';
import { validateConfig } from '../../gateway/src/io/config.js';
import { parseYamlSubset, type YamlValue } from '../helpers/yaml-subset.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
type Obj = Record<string, YamlValue>;
const obj = (v: YamlValue | undefined): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
const list = (v: YamlValue | undefined): YamlValue[] => (Array.isArray(v) ? v : []);
const str = (v: YamlValue | undefined): string => (typeof v === 'string' ? v : '');

const compose = obj(parseYamlSubset(read('docker-compose.yml')));
const services = obj(compose.services);
const GATEWAY_IMAGE = 'vitaltrail/gateway:0.1.0';
/** In the gateway image, gateway/deploy/ is /opt/vitaltrail/deploy/ (gateway/Dockerfile). */
const IMAGE_DEPLOY_DIR = '/opt/vitaltrail/deploy/';

/** Resolves `vitaltrail a b --x …` against the CLI; returns the problems. */
function checkCli(args: string[], where: string): string[] {
  let cmd: Command = buildProgram();
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
      for (const v of list(obj(s).volumes)) {
        const source = str(v).split(':')[0] as string;
        if (source.startsWith('./')) expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(volumes[source], `${name}: volume ${source}`).toBeDefined();
      }
      const nets = obj(s).networks;
      for (const n of Array.isArray(nets) ? nets.map(str) : Object.keys(obj(nets))) {
        expect(networks[n], `${name}: network ${n}`).toBeDefined();
      }
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
      const entry = list(obj(s).entrypoint).map(str);
      if (entry.length > 0) {
        const script = entry.find((e) => e.startsWith(IMAGE_DEPLOY_DIR));
        expect(script, `${name}: entrypoint runs a deploy script`).toBeDefined();
        const file = `gateway/deploy/${(script as string).slice(IMAGE_DEPLOY_DIR.length)}`;
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
      const mounts = list(svc.volumes).map((v) => str(v).split(':')[1] as string);
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
    const ds = obj(
      list(
        obj(parseYamlSubset(read('dashboards/grafana/provisioning/datasources/influxdb.yaml'))).datasources,
      )[0],
    );
    expect(str(ds.url)).toBe('http://influxdb:8086');
    expect(str(obj(ds.secureJsonData).token)).toBe('$__file{/run/secrets/influx-admin-token}');
    expect(list(obj(services.grafana).secrets).map(str)).toContain('influx-admin-token');
    const provider = obj(
      list(
        obj(parseYamlSubset(read('dashboards/grafana/provisioning/dashboards/vitaltrail.yaml'))).providers,
      )[0],
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
    // The ops dashboards name only series the gateway exports (io/metrics-routes).
    const routes = read('gateway/src/io/metrics-routes.ts');
    for (const f of ['ingest-health', 'anchoring-health']) {
      for (const m of read(`dashboards/grafana/dashboards/${f}.json`).matchAll(
        /_field == \\"(vitaltrail_[a-z_]+?)(_bucket)?\\"/g,
      )) {
        expect(routes, m[1]).toContain(`'${m[1]}'`);
      }
    }
  });

  test('behavior: every COPY source of the gateway Dockerfile exists', () => {
    const sources = [...read('gateway/Dockerfile').matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] as string).split(/\s+/),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
  });

  test('error: the subset parser refuses what other YAML parsers would read differently', () => {
    expect(() => parseYamlSubset('a: &x 1\nb: *x\n')).toThrow(/unsupported/);
    expect(() => parseYamlSubset('a: 1\na: 2\n')).toThrow(/duplicate key/);
    expect(() => parseYamlSubset('a:\n\t- b\n')).toThrow(/tabs/);
    expect(() => parseYamlSubset('a: |\n  text\n')).toThrow(/unsupported/);
    expect(parseYamlSubset('a:\n  - x: "1" # c\n    y: z\n  - w:v\n')).toEqual({
      a: [{ x: '1', y: 'z' }, 'w:v'],
    });
  });
});
