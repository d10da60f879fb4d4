/**
 * @module test/e2e/registry-sync
 * The KGC's enrolments on an external chain (issue 3: "enrolment and revocation are also
 * written to the registry contract … by the KGC account"; PROTOCOL.md §4), through the built
 * CLI as the production shape runs it: the contracts deployed by `vitaltrail chain deploy` on
 * a real anvil, then `vitaltrail kgc sync-registry` registers the enrolled ward, writes nothing
 * the second time, and writes a later revocation as a revocation; `kgc enroll|revoke --rpc`
 * write the registry at once; a key revoked on chain behind the KGC's back exits 1; bad input
 * (key file missing or world-readable, another account's key, unreachable RPC, unknown
 * deployment) exits 2 with a coded message. Needs `npm run build` first (npm test does it).
 */
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AnvilHandle, fundAccount, startAnvil } from '../../anchor/src/ledger/anvil.js';
import { freePort } from '../../anchor/src/ledger/ports.js';
import type { Deployment, Hex, RegistryClient } from '../../anchor/src/ledger/types.js';
import { createViemRegistry } from '../../anchor/src/ledger/viem.js';
import { accountOf, ensureAccountKey } from '../../gateway/src/io/anchoring/chain.js';
import type { SyncRegistryResult } from '../../gateway/src/io/identity/enrol.js';
import { verifyAuditLog } from '../../gateway/src/io/ops/audit.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { runCli } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const WARD = ['wr-0001', 'wr-0002', 'wr-0003'];

/** `kgc sync-registry --json`. */
type SyncReport = SyncRegistryResult & { registry: Hex; chainId: number };

describe('vitaltrail kgc sync-registry on an external chain', () => {
  const tmp = makeTempDir('vt-registry-sync-');
  let anvil: AnvilHandle;
  let kgc: DataPaths;
  let kgcKey: Hex;
  let registry: RegistryClient;
  /** The KGC account key and the deployment, named by option (not the data dir's defaults). */
  const keyFile = join(tmp.dir, 'kgc.key');
  const deploymentFile = join(tmp.dir, 'deployment.json');
  /** The chain options of the KGC's commands; `rpc` defaults to the test's anvil. */
  const chainArgs = (rpc = anvil.rpcUrl) => [
    '--rpc',
    rpc,
    '--deployment',
    deploymentFile,
    '--key-file',
    keyFile,
  ];
  /** `kgc enroll|revoke --device DEV --data KGC …extra`. */
  const kgcDevice = (command: 'enroll' | 'revoke', dev: string, ...extra: string[]) =>
    runCli(['kgc', command, '--device', dev, '--data', kgc.root, ...extra]);
  const sync = (...extra: string[]) =>
    runCli(['kgc', 'sync-registry', '--data', kgc.root, ...chainArgs(), ...extra]);
  const syncJson = async (): Promise<SyncReport> => {
    const r = await sync('--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as SyncReport;
  };
  const spkiOf = (dev: string): string => {
    const store = openStore(kgc.db);
    try {
      return store.getDevice(dev)?.spkiSha256 as string;
    } finally {
      store.close();
    }
  };
  const auditEvents = (): string[] =>
    readFileSync(join(kgc.gatewayDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { event: string }).event);

  beforeAll(async () => {
    [anvil, kgc] = await Promise.all([startAnvil(), prepareDataDir(join(tmp.dir, 'kgc'), WARD)]);
    kgcKey = ensureAccountKey(keyFile);
    await fundAccount(anvil.rpcUrl, accountOf(kgcKey));
    const deploy = await runCli([
      'chain',
      'deploy',
      '--rpc',
      anvil.rpcUrl,
      '--key-file',
      keyFile,
      '--out',
      deploymentFile,
    ]);
    expect(deploy.code, deploy.stderr).toBe(0);
    const deployment = JSON.parse(readFileSync(deploymentFile, 'utf8')) as Deployment;
    registry = createViemRegistry({ rpcUrl: anvil.rpcUrl, deployment, privateKey: kgcKey });
  });

  afterAll(async () => {
    await anvil?.stop();
    tmp.cleanup();
  });

  test('behavior: registers every enrolled device; a second run writes nothing; a later revocation is written as a revocation', async () => {
    const first = await syncJson();
    expect(first.registered.map((w) => w.dev)).toEqual(WARD);
    expect(first).toMatchObject({ revoked: [], revokedOnChain: [], unchanged: 0 });
    for (const dev of WARD) {
      const onChain = await registry.getDevice(dev);
      expect(onChain.status, dev).toBe('active');
      expect(onChain.spkiHash.toLowerCase(), dev).toBe(spkiOf(dev).toLowerCase());
    }

    const again = await sync();
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/: 0 registered, 0 revoked, 3 already in line\n$/);

    // The KGC revokes offline (no chain options): the registry learns it at the next sync.
    const revoke = await kgcDevice('revoke', 'wr-0002');
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain('not revoked on chain');
    expect((await registry.getDevice('wr-0002')).status).toBe('active');
    const third = await syncJson();
    expect(third.revoked.map((w) => w.dev)).toEqual(['wr-0002']);
    expect(third).toMatchObject({ registered: [], revokedOnChain: [], unchanged: 2 });
    expect((await registry.getDevice('wr-0002')).status).toBe('revoked');
    expect((await syncJson()).unchanged).toBe(3);

    // Every registry write is in the KGC's audit log, which stays intact.
    const events = auditEvents();
    expect(events.filter((e) => e === 'device_registered_on_chain')).toHaveLength(3);
    expect(events.filter((e) => e === 'device_revoked_on_chain')).toHaveLength(1);
    expect(verifyAuditLog(kgc.gatewayDir).ok).toBe(true);
  });

  test('behavior: enroll and revoke with --rpc write the registry at once', async () => {
    const enrol = await kgcDevice('enroll', 'wr-0004', ...chainArgs());
    expect(enrol.stderr).toBe('');
    expect(enrol.code).toBe(0);
    expect(enrol.stdout).toMatch(/registered on chain: tx 0x[0-9a-f]{64}\n$/);
    const onChain = await registry.getDevice('wr-0004');
    expect(onChain.status).toBe('active');
    expect(onChain.spkiHash.toLowerCase()).toBe(spkiOf('wr-0004').toLowerCase());

    const revoke = await kgcDevice('revoke', 'wr-0004', ...chainArgs());
    expect(revoke.stderr).toBe('');
    expect(revoke.code).toBe(0);
    expect(revoke.stdout).toMatch(/^revoked wr-0004 .*\n {2}revoked on chain: tx 0x[0-9a-f]{64}\n$/);
    expect((await registry.getDevice('wr-0004')).status).toBe('revoked');

    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/: 0 registered, 0 revoked, 4 already in line\n$/);
  });

  test('behavior: a key active here but revoked on chain exits 1 and is named; re-enrolling registers the new key', async () => {
    // Another consortium tool revoked wr-0001 directly on the registry.
    await registry.revokeDevice('wr-0001');
    const r = await sync('--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ registered: [], revoked: [], revokedOnChain: ['wr-0001'] });
    const text = await sync();
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('NOT REGISTERED wr-0001: its key is revoked on chain');

    const enrol = await kgcDevice('enroll', 'wr-0001', ...chainArgs());
    expect(enrol.code, enrol.stderr).toBe(0);
    expect((await registry.getDevice('wr-0001')).status).toBe('active');
    expect((await syncJson()).revokedOnChain).toEqual([]);
  });

  test('error: bad input exits 2 with a coded message, and nothing is written', async () => {
    const before = readFileSync(join(kgc.gatewayDir, 'audit.log'), 'utf8');
    const run = (args: string[]) =>
      runCli(['kgc', 'sync-registry', '--data', kgc.root, '--rpc', anvil.rpcUrl, ...args]);
    const cases: [string, string[], RegExp][] = [];

    cases.push([
      'missing key file',
      ['--deployment', deploymentFile, '--key-file', join(tmp.dir, 'absent.key')],
      /^error: config_invalid: kgc sync-registry: --key-file: file not found\n$/,
    ]);
    const openKey = join(tmp.dir, 'open.key');
    copyFileSync(keyFile, openKey);
    chmodSync(openKey, 0o644);
    cases.push([
      'world-readable key file',
      ['--deployment', deploymentFile, '--key-file', openKey],
      /^error: config_invalid: kgc sync-registry: --key-file: file must not be readable by group or others \(chmod 600\)\n$/,
    ]);
    const otherKey = join(tmp.dir, 'other.key');
    writeFileSync(otherKey, `${generatePrivateKey()}\n`, { mode: 0o600 });
    cases.push([
      "another account's key",
      ['--deployment', deploymentFile, '--key-file', otherKey],
      /^error: not_kgc: kgc sync-registry: only the KGC account may write the registry; --key-file holds another account\n$/,
    ]);
    cases.push([
      'missing deployment file',
      ['--deployment', join(tmp.dir, 'absent.json'), '--key-file', keyFile],
      /^error: config_invalid: kgc sync-registry: --deployment: file not found\n$/,
    ]);
    const deployment = JSON.parse(readFileSync(deploymentFile, 'utf8')) as Deployment;
    const elsewhere = join(tmp.dir, 'elsewhere.json');
    writeFileSync(
      elsewhere,
      JSON.stringify({ ...deployment, registry: `0x${'11'.repeat(20)}`, anchors: `0x${'22'.repeat(20)}` }),
    );
    const otherChain = join(tmp.dir, 'other-chain.json');
    writeFileSync(otherChain, JSON.stringify({ ...deployment, chainId: 2026 }));
    for (const [what, file] of [
      ['deployment with no contracts at its addresses', elsewhere],
      ['deployment of another chain', otherChain],
    ] as const) {
      cases.push([
        what,
        ['--deployment', file, '--key-file', keyFile],
        /^error: contract_missing: kgc sync-registry: the deployment's contracts are not on this chain \(wrong --deployment, or another chain id\)\n$/,
      ]);
    }
    const notDeployment = join(tmp.dir, 'not-deployment.json');
    writeFileSync(notDeployment, JSON.stringify({ chainId: 31337 }));
    cases.push([
      'not a deployment file',
      ['--deployment', notDeployment, '--key-file', keyFile],
      /^error: config_invalid: kgc sync-registry: --deployment: not a deployment file \(registry must be a 0x address\)\n$/,
    ]);
    for (const [what, args, expected] of cases) {
      const r = await run(args);
      expect(r.code, what).toBe(2);
      expect(r.stderr, what).toMatch(expected);
      expect(r.stdout, what).toBe('');
    }

    const down = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await runCli(['kgc', 'sync-registry', '--data', kgc.root, ...chainArgs(down)]);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(
      /^error: ledger_unavailable: .*the JSON-RPC endpoint did not answer\n$/,
    );

    const noStore = await runCli([
      'kgc',
      'sync-registry',
      '--data',
      join(tmp.dir, 'nothing'),
      ...chainArgs(),
    ]);
    expect(noStore.code).toBe(2);
    // A missing data directory is refused before the command runs (issue 13: never a new, empty store).
    expect(noStore.stderr).toMatch(/^error: data_dir_missing: /);
    expect(existsSync(join(tmp.dir, 'nothing'))).toBe(false);
    const badUrl = await sync('--rpc', 'ftp://chain');
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('--rpc must be an http(s) URL');
    expect(readFileSync(join(kgc.gatewayDir, 'audit.log'), 'utf8')).toBe(before);

    // enroll with an unreachable chain issues nothing; revoke still revokes here, then says
    // the chain is behind (exit 2).
    const enrol = await kgcDevice('enroll', 'wr-0009', ...chainArgs(down));
    expect(enrol.code).toBe(2);
    expect(enrol.stderr).toMatch(/^error: ledger_unavailable: /);
    expect(existsSync(kgc.deviceDir('wr-0009'))).toBe(false);
    const revoke = await kgcDevice('revoke', 'wr-0003', ...chainArgs(down));
    expect(revoke.code).toBe(2);
    expect(revoke.stdout).toMatch(/^revoked wr-0003 /);
    expect(revoke.stderr).toMatch(
      /^revoked here, but not on chain: run `vitaltrail kgc sync-registry` once the chain is reachable\nerror: ledger_unavailable: /,
    );
    expect((await registry.getDevice('wr-0003')).status).toBe('active');
    expect((await syncJson()).revoked.map((w) => w.dev)).toEqual(['wr-0003']);
    const stray = await kgcDevice('enroll', 'wr-0010', '--key-file', keyFile);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toBe(
      'error: config_invalid: kgc enroll: --deployment, --key-file and --confirmations need --rpc\n',
    );
  }, 180_000); // a dozen CLI processes one after another: slow on a loaded 2-core machine
});
