/**
 * @module test/unit/anchor-imports
 * The rooms of `anchor/src/` (STYLE.md §9 "a folder per concern", "each folder one way
 * in"), kept by a static walk of the import statements of the source files, in the spirit
 * of `verify-imports.test.ts`:
 * (a) from outside a folder of `anchor/src/`, only its `index.ts` is imported (gateway,
 *     simulator, test helpers and benches, and the other anchor folders; the test files of
 *     test/unit|integration|e2e may import internals to test them);
 * (b) the anchor folders import one another without a cycle;
 * (c) `anchor/` imports nothing of `gateway/src/` but the shared wire codec,
 *     `gateway/src/protocol/`;
 * (d) the walk would catch each of these (self-checks on synthetic sources).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ANCHOR = 'anchor/src/';

/**
 * Justified direct imports of an anchor folder's internals from outside it. The auditor
 * page's browser bundle (esbuild over `verify/browser.ts` and `verify-access/browser.ts`) takes in `verify.ts`,
 * `entries.ts` and `browser-precheck.ts`; the kgc barrel reaches node:fs and
 * @peculiar/x509, so these take the pure chain check itself.
 */
const EXCEPTIONS: readonly (readonly [importer: string, target: string])[] = [
  ['anchor/src/verify/verify.ts', 'anchor/src/kgc/chain.ts'],
  ['anchor/src/verify/entries.ts', 'anchor/src/kgc/chain.ts'],
  ['anchor/src/verify/browser-precheck.ts', 'anchor/src/kgc/chain.ts'],
  // The access-log verifier (issue 18) is in the same browser bundle: the verify barrel reaches
  // the ledger's node-only modules (anvil, the contracts' build), so it takes the pure files.
  ['anchor/src/verify-access/verify.ts', 'anchor/src/verify/checkpoints.ts'],
  ['anchor/src/verify-access/bundle.ts', 'anchor/src/verify/bundle.ts'],
  // Not bundled, but the same rule for one room: the networked fetch of the access evidence
  // reuses the anchors' fetch and the consent records' reader, not their barrels' clients.
  ['anchor/src/verify-access/evidence.ts', 'anchor/src/verify/evidence.ts'],
  ['anchor/src/verify-access/evidence.ts', 'anchor/src/consent/records.ts'],
  ['anchor/src/verify-access/evidence.ts', 'anchor/src/consent/typed-data.ts'],
  // The CLI's chain options check a deployment file with the ledger's pure checks; the barrel
  // would load its clients (viem, ~0.45 s of CPU a run), which most kgc runs never use: they
  // are loaded with import() once a command talks to a chain (test/unit/cli-load.test.ts).
  ['gateway/src/cli/chain-options.ts', 'anchor/src/ledger/types.ts'],
];

/** Static `import`/`export … from`, side-effect imports and `import('…')`, across lines. */
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** Relative imports of `file` (repository-relative) given its source, as repository-relative .ts paths. */
function importsOf(file: string, src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const name of readdirSync(abs)) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

type Graph = Map<string, string[]>;

function graphOf(files: readonly string[]): Graph {
  return new Map(files.map((f) => [f, importsOf(f, readFileSync(join(ROOT, f), 'utf8'))]));
}

/** (a) Imports of a file of an anchor folder from outside that folder, other than its index.ts. */
function backDoors(graph: Graph, exceptions = EXCEPTIONS): string[] {
  const out: string[] = [];
  for (const [importer, targets] of graph) {
    for (const target of targets) {
      if (!target.startsWith(ANCHOR)) continue;
      const folder = dirname(target);
      if (dirname(importer) === folder || target === `${folder}/index.ts`) continue;
      if (exceptions.some(([i, t]) => i === importer && t === target)) continue;
      out.push(`${importer} -> ${target}`);
    }
  }
  return out.sort();
}

/** The anchor folder of a path (`anchor/src/kgc/ca.ts` → `kgc`), or undefined. */
function anchorFolder(path: string): string | undefined {
  return path.startsWith(ANCHOR) ? path.slice(ANCHOR.length).split('/')[0] : undefined;
}

/** (b) Folder-to-folder edges among the anchor folders, as `from -> to`. */
function folderEdges(graph: Graph): string[] {
  const edges = new Set<string>();
  for (const [importer, targets] of graph) {
    const from = anchorFolder(importer);
    if (!from) continue;
    for (const target of targets) {
      const to = anchorFolder(target);
      if (to && to !== from && target.split('/').length > 3) edges.add(`${from} -> ${to}`);
    }
  }
  return [...edges].sort();
}

/** A cycle among the folders of `edges` (as a path ending where it starts), or undefined. */
function findCycle(edges: readonly string[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const [from, to] = e.split(' -> ') as [string, string];
    next.set(from, [...(next.get(from) ?? []), to]);
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    if (state.get(n) === 'done') return undefined;
    state.set(n, 'open');
    path.push(n);
    for (const m of next.get(n) ?? []) {
      const cycle = visit(m);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of next.keys()) {
    const cycle = visit(n);
    if (cycle) return cycle;
  }
  return undefined;
}

/** (c) Imports of gateway/src/ outside gateway/src/protocol/ from anchor files. */
function gatewayImports(graph: Graph): string[] {
  const out: string[] = [];
  for (const [importer, targets] of graph) {
    if (!importer.startsWith(ANCHOR)) continue;
    for (const t of targets) {
      if (t.startsWith('gateway/') && !t.startsWith('gateway/src/protocol/')) out.push(`${importer} -> ${t}`);
    }
  }
  return out;
}

describe('anchor/src rooms and doors', () => {
  const anchorFiles = sourceFiles('anchor/src');
  const outside = ['gateway/src', 'firmware-sim/src', 'test/helpers', 'test/bench'].flatMap(sourceFiles);
  const graph = graphOf([...anchorFiles, ...outside]);

  it('behavior: the walk sees the anchor folders and their importers', () => {
    expect(anchorFiles).toContain('anchor/src/kgc/index.ts');
    expect(outside).toContain('gateway/src/cli/kgc.ts');
    expect(graph.get('gateway/src/cli/kgc.ts')).toContain('anchor/src/kgc/index.ts');
  });

  it('behavior: every folder of anchor/src has an index.ts', () => {
    const folders = [...new Set(anchorFiles.map((f) => dirname(f)))];
    expect(folders.filter((d) => !anchorFiles.includes(`${d}/index.ts`))).toEqual([]);
  });

  it('behavior: from outside a folder of anchor/src, only its index.ts is imported', () => {
    expect(backDoors(graph)).toEqual([]);
  });

  it('behavior: every listed exception is still a real import (no stale allowances)', () => {
    for (const [importer, target] of EXCEPTIONS) expect(graph.get(importer)).toContain(target);
  });

  it('behavior: the anchor folders import one another without a cycle', () => {
    const edges = folderEdges(graph);
    expect(findCycle(edges)).toBeUndefined();
    // The layering, lowest first: kgc, log and contracts import no other anchor folder.
    expect(edges).toEqual([
      'consent -> contracts',
      'consent -> ledger',
      'ledger -> contracts',
      'verify -> contracts',
      'verify -> kgc',
      'verify -> ledger',
      'verify -> log',
      'verify-access -> consent',
      'verify-access -> contracts',
      'verify-access -> ledger',
      'verify-access -> log',
      'verify-access -> verify',
    ]);
  });

  it('behavior: anchor/ imports gateway/src/ only in gateway/src/protocol/', () => {
    const gateway = [...graph.values()].flat().filter((t) => t.startsWith('gateway/src/protocol/'));
    expect(gateway.length).toBeGreaterThan(0); // the walk does see the codec imports
    expect(gatewayImports(graph)).toEqual([]);
  });
});

describe('anchor import rules: self-checks on synthetic sources', () => {
  it('error: the walk reads single-line, multi-line, type-only, re-export and dynamic imports', () => {
    const src = [
      "import { a } from '../../anchor/src/kgc/ca.js';",
      'import {',
      '  b,',
      '  type C,',
      "} from '../../anchor/src/log/note.js';",
      "import type { D } from '../../anchor/src/ledger/types.js';",
      "export { e } from '../../anchor/src/verify/entries.js';",
      "const f = await import('../../anchor/src/contracts/build.js');",
      "import 'node:fs';",
    ].join('\n');
    expect(importsOf('gateway/src/x.ts', src)).toEqual([
      'anchor/src/kgc/ca.ts',
      'anchor/src/log/note.ts',
      'anchor/src/ledger/types.ts',
      'anchor/src/verify/entries.ts',
      'anchor/src/contracts/build.ts',
    ]);
  });

  it('error: a back-door import is caught, a barrel or same-folder import is not', () => {
    const graph: Graph = new Map([
      ['gateway/src/cli/x.ts', ['anchor/src/kgc/ca.ts', 'anchor/src/kgc/index.ts']],
      ['anchor/src/verify/y.ts', ['anchor/src/ledger/viem.ts', 'anchor/src/verify/bundle.ts']],
      ['anchor/src/verify/verify.ts', ['anchor/src/kgc/chain.ts']],
    ]);
    expect(backDoors(graph)).toEqual([
      'anchor/src/verify/y.ts -> anchor/src/ledger/viem.ts',
      'gateway/src/cli/x.ts -> anchor/src/kgc/ca.ts',
    ]);
    expect(backDoors(graph, [])).toContain('anchor/src/verify/verify.ts -> anchor/src/kgc/chain.ts');
  });

  it('error: a cycle between anchor folders is caught', () => {
    const graph: Graph = new Map([
      ['anchor/src/ledger/viem.ts', ['anchor/src/contracts/index.ts']],
      ['anchor/src/contracts/build.ts', ['anchor/src/verify/index.ts']],
      ['anchor/src/verify/evidence.ts', ['anchor/src/ledger/index.ts']],
    ]);
    expect(findCycle(folderEdges(graph))).toEqual(['contracts', 'verify', 'ledger', 'contracts']);
    expect(findCycle(['kgc -> log', 'log -> contracts'])).toBeUndefined();
  });

  it('error: an anchor import of gateway code outside protocol/ is caught', () => {
    const graph: Graph = new Map([
      ['anchor/src/kgc/ca.ts', ['gateway/src/protocol/frame.ts', 'gateway/src/io/outbound/export.ts']],
    ]);
    expect(gatewayImports(graph)).toEqual(['anchor/src/kgc/ca.ts -> gateway/src/io/outbound/export.ts']);
  });
});
