/**
 * @module test/unit/cli-load
 * What a CLI command loads before it runs. The ledger's client library (viem, ~350 modules)
 * took ~0.5 s of CPU of every command that reached it, most of a command's start on a
 * 2-core machine (`users list` 0.80 s of CPU with it, 0.47 s without), and most commands never
 * talk to a chain. This walks each command module's static imports as Node loads them
 * (each file transpiled by TypeScript, so imports used only as types are gone, as in dist/),
 * following relative imports and stopping at packages; dynamic `import()` is not followed:
 * that is how a module loads the ledger only when it is used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../../', import.meta.url).pathname);
const STATIC =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]/gm;

const transpiled = new Map<string, string[]>();

/** The specifiers a file's emitted JavaScript imports statically. */
function staticImportsOf(file: string): string[] {
  const known = transpiled.get(file);
  if (known) return known;
  const js = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: file,
  }).outputText;
  const specs = [...js.matchAll(STATIC)].map((m) => (m[1] ?? m[2]) as string);
  transpiled.set(file, specs);
  return specs;
}

/**
 * Every package a module loads with its static imports, each with the path of files that
 * reaches it, and how many of the project's files it loads.
 */
function packagesLoadedBy(entry: string): { packages: Map<string, string[]>; files: number } {
  const start = join(ROOT, entry);
  const via = new Map<string, string | null>([[start, null]]);
  const packages = new Map<string, string[]>();
  const pathTo = (f: string): string[] => {
    const out: string[] = [];
    for (let c: string | null | undefined = f; c; c = via.get(c)) out.unshift(relative(ROOT, c));
    return out;
  };
  const queue = [start];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    for (const spec of staticImportsOf(f)) {
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : (spec.split('/')[0] as string);
        if (!packages.has(pkg)) packages.set(pkg, pathTo(f));
        continue;
      }
      const target = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
      if (!existsSync(target) || via.has(target)) continue;
      via.set(target, f);
      queue.push(target);
    }
  }
  return { packages, files: via.size };
}

/** The command modules of gateway/src/cli/commands.ts whose commands never need a chain client. */
const CHAIN_FREE: readonly { module: string; commands: string }[] = [
  { module: 'users', commands: 'users' },
  { module: 'outbound', commands: 'outbound (status, test, dead-letters, replay)' },
  { module: 'store', commands: 'recipients, export-fhir, shred' },
  { module: 'auditor', commands: 'export, verify-anchors-fetch' },
  { module: 'audit', commands: 'audit' },
  { module: 'displays', commands: 'displays' },
  { module: 'devices', commands: 'devices' },
  { module: 'backup', commands: 'backup, restore' },
  { module: 'shared-import', commands: 'shared' },
  { module: 'verify', commands: 'verify' },
  // kgc talks to a chain only with --rpc or an embedded chain running: then it loads the client.
  {
    module: 'kgc',
    commands: 'kgc (init, enroll, revoke, list, crl, export-p12, gateway-cert, sync-registry)',
  },
];

describe('what a CLI command loads', () => {
  it.each(CHAIN_FREE)(
    'behavior: cli/$module loads no chain client (viem) before it runs: $commands',
    ({ module }) => {
      const { packages, files } = packagesLoadedBy(`gateway/src/cli/${module}.ts`);
      expect(packages.get('viem'), `reached through ${packages.get('viem')?.join(' -> ')}`).toBeUndefined();
      expect(files).toBeGreaterThan(5); // the walk followed the command's own imports
    },
  );

  it('error: the walk finds viem where a command does load it (self-check)', () => {
    // The demo starts its own chain: viem is among its static imports.
    expect(packagesLoadedBy('gateway/src/cli/demo.ts').packages.get('viem')).toBeDefined();
    // An import used only as a type is not loaded: identity.ts names the ledger's Deployment
    // type statically and loads the ledger's client with import() at its first registry poll.
    const identity = staticImportsOf(join(ROOT, 'gateway/src/io/identity/identity.ts'));
    expect(identity.some((s) => s.endsWith('/ledger/index.js'))).toBe(false);
    expect(readFileSync(join(ROOT, 'gateway/src/io/identity/identity.ts'), 'utf8')).toContain(
      "import('../../../../anchor/src/ledger/index.js')",
    );
  });
});
