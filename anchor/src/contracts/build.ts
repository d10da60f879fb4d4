/**
 * @module anchor/contracts/build
 * Compiles the contracts of PROTOCOL.md §4 (`anchor/contracts/*.sol`) with solc-js through the
 * standard JSON interface, and writes `build/contracts.json`; `loadArtifacts` (for deployment)
 * reads that file, rebuilding it when the sources changed. Runnable as a script, which
 * `npm run build` does: `node dist/anchor/src/contracts/build.js`.
 *
 * Paths are resolved from the repository root (the nearest folder above this file that holds a
 * package.json), so the same code works from `dist/` and from source under vitest.
 *
 * Imports of library sources (`import {EIP712} from "@openzeppelin/contracts/…"`) are read from
 * node_modules (the devDependency `@openzeppelin/contracts`, resolved like a Node import) and
 * handed to solc with the rest of the input, solc's import callback standing by for anything
 * else; `sourceHash` covers every imported source, so a library upgrade rebuilds the artifact.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Abi } from 'viem';
import { type Hex, LedgerError } from './ledger-error.js';

/** The contracts, in deployment order. */
export const CONTRACT_NAMES = ['VitalTrailRegistry', 'VitalTrailAnchors', 'VitalTrailConsent'] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface ContractArtifact {
  abi: Abi;
  /** Creation bytecode. */
  bytecode: Hex;
}

/** The content of `build/contracts.json`. */
export type ContractArtifacts = Record<ContractName, ContractArtifact> & {
  solcVersion: string;
  /** SHA-256 (hex) of the standard JSON input without the compiler: sources and settings. */
  sourceHash: string;
};

/** The standard-JSON compiler settings; part of `sourceHash`. evmVersion is the compiler's default. */
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const;

/** What solc-js's import callback answers: the source, or why there is none. */
type ImportResult = { contents: string } | { error: string };

/** The subset of the solc-js wrapper used here. */
interface Solc {
  version(): string;
  compile(input: string, callbacks?: { import: (path: string) => ImportResult }): string;
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage?: string; message: string }[];
  sources?: Record<string, unknown>;
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
}

/**
 * The repository root: the nearest folder at or above `from` that holds a package.json.
 * @throws {Error} when there is none.
 */
export function findRepoRoot(from: string | URL = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('no package.json above the anchor module');
    dir = up;
  }
}

/** Where the `.sol` sources and the artifact file live under `root`. */
export function contractPaths(root = findRepoRoot()): { sourcesDir: string; artifactFile: string } {
  return {
    sourcesDir: join(root, 'anchor', 'contracts'),
    artifactFile: join(root, 'build', 'contracts.json'),
  };
}

/** Reads every `.sol` file of `sourcesDir`, keyed by file name, in name order. */
export function readContractSources(sourcesDir = contractPaths().sourcesDir): Record<string, string> {
  const names = readdirSync(sourcesDir)
    .filter((n) => n.endsWith('.sol'))
    .sort();
  const sources: Record<string, string> = {};
  for (const n of names) sources[n] = readFileSync(join(sourcesDir, n), 'utf8');
  return sources;
}

/** A library source unit name: `<package>/<path>.sol`, the package plain or `@scope/name`. */
const LIBRARY_UNIT = /^(@[a-z0-9][\w.-]*\/[a-z0-9][\w.-]*|[a-z0-9][\w.-]*)\/((?:[\w.-]+\/)*[\w.-]+\.sol)$/i;

/**
 * Reads a library source unit (`@openzeppelin/contracts/utils/cryptography/EIP712.sol`) from its
 * package's folder in node_modules, found by Node's module resolution from this file; this is
 * also solc's import callback. A name with `.` or `..` segments is refused.
 */
export function readLibrarySource(unit: string): ImportResult {
  const m = LIBRARY_UNIT.exec(unit);
  if (!m || unit.split('/').some((seg) => seg === '.' || seg === '..')) {
    return { error: `not a library source unit: ${unit}` };
  }
  const [, pkg, file] = m as unknown as [string, string, string];
  let pkgDir: string;
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch {
    return { error: `package ${pkg} is not installed (run npm ci)` };
  }
  try {
    return { contents: readFileSync(join(pkgDir, file), 'utf8') };
  } catch {
    return { error: `${unit} is not in ${pkg}` };
  }
}

/** The import paths a Solidity source names (comments stripped first). */
function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  return [...code.matchAll(/\bimport\s+(?:[^"';]*?\s)?["']([^"']+)["']/g)].map((m) => m[1] as string);
}

/** solc's rule: a `./` or `../` path is relative to the importing unit's folder; any other is a unit name. */
function unitName(importer: string, path: string): string {
  if (!path.startsWith('./') && !path.startsWith('../')) return path;
  return posix.normalize(posix.join(posix.dirname(importer), path));
}

/**
 * The sources plus every library unit they import, transitively: exactly what is compiled and
 * what `sourceHash` covers. Sources without imports come back unchanged.
 * @throws {LedgerError} `artifacts_unavailable` when an import cannot be read (the library is
 *   not installed).
 */
export function withImports(sources: Record<string, string>): Record<string, string> {
  const all: Record<string, string> = { ...sources };
  const todo = Object.keys(sources);
  for (let unit = todo.pop(); unit !== undefined; unit = todo.pop()) {
    for (const path of importsOf(all[unit] ?? '')) {
      const name = unitName(unit, path);
      if (Object.hasOwn(all, name)) continue;
      const r = readLibrarySource(name);
      if ('error' in r) {
        throw new LedgerError('artifacts_unavailable', `cannot read an import of ${unit}: ${r.error}`);
      }
      all[name] = r.contents;
      todo.push(name);
    }
  }
  return all;
}

function standardInput(sources: Record<string, string>): string {
  const entries = Object.keys(sources)
    .sort()
    .map((n) => [n, { content: sources[n] }]);
  return JSON.stringify({ language: 'Solidity', sources: Object.fromEntries(entries), settings: SETTINGS });
}

/**
 * SHA-256 (hex) of the sources, every library source they import, and the settings: an
 * artifact with another hash is stale.
 * @throws {LedgerError} `artifacts_unavailable` when an import cannot be read.
 */
export function computeSourceHash(sources: Record<string, string>): string {
  return createHash('sha256')
    .update(standardInput(withImports(sources)))
    .digest('hex');
}

/** Loads solc-js (a devDependency), or returns null when it is not installed. */
export function loadSolc(): Solc | null {
  try {
    return createRequire(import.meta.url)('solc') as Solc;
  } catch {
    return null;
  }
}

/**
 * Compiles the sources with solc-js (standard JSON, optimizer on).
 * @throws {LedgerError} `artifacts_unavailable` when solc is missing or reports errors (their text,
 *   about our own sources, is in the reason).
 */
export function compileContracts(
  sources: Record<string, string>,
  solc: Solc | null = loadSolc(),
): ContractArtifacts {
  if (!solc) {
    throw new LedgerError(
      'artifacts_unavailable',
      'solc is not installed (it is a devDependency): run npm ci',
    );
  }
  const all = withImports(sources);
  const input = standardInput(all);
  const out = JSON.parse(solc.compile(input, { import: readLibrarySource })) as SolcOutput;
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    const text = errors.map((e) => e.formattedMessage ?? e.message).join('\n');
    throw new LedgerError('artifacts_unavailable', `solc failed:\n${text}`);
  }
  // Every unit solc read must be one the hash covers (an import the scan missed would not be).
  const unhashed = Object.keys(out.sources ?? {}).filter((u) => !Object.hasOwn(all, u));
  if (unhashed.length > 0) {
    throw new LedgerError(
      'artifacts_unavailable',
      `solc read sources outside the hash: ${unhashed.join(', ')}`,
    );
  }
  const byName = new Map<string, ContractArtifact>();
  for (const file of Object.values(out.contracts ?? {})) {
    for (const [name, c] of Object.entries(file)) {
      byName.set(name, { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` });
    }
  }
  const pick = (name: ContractName): ContractArtifact => {
    const a = byName.get(name);
    if (!a || a.bytecode === '0x') throw new LedgerError('artifacts_unavailable', `solc produced no ${name}`);
    return a;
  };
  return {
    VitalTrailRegistry: pick('VitalTrailRegistry'),
    VitalTrailAnchors: pick('VitalTrailAnchors'),
    VitalTrailConsent: pick('VitalTrailConsent'),
    solcVersion: solc.version(),
    sourceHash: createHash('sha256').update(input).digest('hex'),
  };
}

/** Writes the artifacts atomically (temp file, then rename), so concurrent builders never tear it. */
export function writeArtifacts(
  artifacts: ContractArtifacts,
  artifactFile = contractPaths().artifactFile,
): void {
  mkdirSync(dirname(artifactFile), { recursive: true });
  const tmp = `${artifactFile}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(artifacts, null, 2)}\n`);
  renameSync(tmp, artifactFile);
}

/** Compiles `anchor/contracts` into `build/contracts.json`; returns the artifacts. */
export function buildContracts(root = findRepoRoot()): ContractArtifacts {
  const { sourcesDir, artifactFile } = contractPaths(root);
  const artifacts = compileContracts(readContractSources(sourcesDir));
  writeArtifacts(artifacts, artifactFile);
  return artifacts;
}

function readArtifactFile(file: string): ContractArtifacts | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as ContractArtifacts;
  } catch {
    return null; // a torn or hand-edited file is rebuilt like a missing one
  }
}

/**
 * The compiled contracts: `build/contracts.json` when it matches the current `.sol` sources;
 * otherwise they are compiled now with solc-js (a devDependency, ~1 s) and the file is rewritten.
 * When the sources are absent (an install without them) the artifact file is used as it is.
 *
 * @throws {LedgerError} `artifacts_unavailable` when neither a current artifact nor solc is
 *   available, or solc fails.
 * @example
 * const { VitalTrailRegistry } = loadArtifacts();
 * await wallet.deployContract({ abi: VitalTrailRegistry.abi, bytecode: VitalTrailRegistry.bytecode });
 */
export function loadArtifacts(root = findRepoRoot()): ContractArtifacts {
  const { sourcesDir, artifactFile } = contractPaths(root);
  const existing = readArtifactFile(artifactFile);
  let sources: Record<string, string> | null;
  try {
    sources = readContractSources(sourcesDir);
  } catch {
    sources = null;
  }
  if (sources === null) {
    if (existing) return existing;
    throw new LedgerError(
      'artifacts_unavailable',
      'neither build/contracts.json nor the contract sources exist',
    );
  }
  let sourceHash: string;
  try {
    sourceHash = computeSourceHash(sources);
  } catch (err) {
    // The libraries are devDependencies, like solc: an install without them can neither judge
    // nor rebuild the artifact, so it uses the one built where they were.
    if (existing && loadSolc() === null) return existing;
    throw err;
  }
  if (existing && existing.sourceHash === sourceHash) return existing;
  const solc = loadSolc();
  if (!solc) {
    throw new LedgerError(
      'artifacts_unavailable',
      existing
        ? 'build/contracts.json is stale and solc (a devDependency) is not installed: run npm run build where it is'
        : 'build/contracts.json is missing and solc (a devDependency) is not installed: run npm ci && npm run build',
    );
  }
  const artifacts = compileContracts(sources, solc);
  writeArtifacts(artifacts, artifactFile);
  return artifacts;
}

const invokedAsScript =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedAsScript) {
  const t0 = performance.now();
  const a = buildContracts();
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(
    `contracts: ${CONTRACT_NAMES.join(', ')} compiled with solc ${a.solcVersion} in ${ms} ms\n`,
  );
}
