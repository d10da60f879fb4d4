/**
 * @module anchor/contracts/build
 * Compiles the contracts of PROTOCOL.md §4 (`anchor/contracts/*.sol`) with solc-js through the
 * standard JSON interface, and writes `build/contracts.json`; `loadArtifacts` (for deployment)
 * reads that file, rebuilding it when the sources changed. Runnable as a script, which
 * `npm run build` does: `node dist/anchor/src/contracts/build.js`.
 *
 * Paths are resolved from the repository root (the nearest folder above this file that holds a
 * package.json), so the same code works from `dist/` and from source under vitest.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Abi } from 'viem';
import { type Hex, LedgerError } from './ledger-error.js';

/** The contracts, in deployment order. */
export const CONTRACT_NAMES = ['VitalTrailRegistry', 'VitalTrailAnchors'] as const;
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

/** The subset of the solc-js wrapper used here. */
interface Solc {
  version(): string;
  compile(input: string): string;
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage?: string; message: string }[];
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

function standardInput(sources: Record<string, string>): string {
  const entries = Object.keys(sources)
    .sort()
    .map((n) => [n, { content: sources[n] }]);
  return JSON.stringify({ language: 'Solidity', sources: Object.fromEntries(entries), settings: SETTINGS });
}

/** SHA-256 (hex) of the sources and settings: an artifact with another hash is stale. */
export function computeSourceHash(sources: Record<string, string>): string {
  return createHash('sha256').update(standardInput(sources)).digest('hex');
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
  const out = JSON.parse(solc.compile(standardInput(sources))) as SolcOutput;
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    const text = errors.map((e) => e.formattedMessage ?? e.message).join('\n');
    throw new LedgerError('artifacts_unavailable', `solc failed:\n${text}`);
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
    solcVersion: solc.version(),
    sourceHash: computeSourceHash(sources),
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
  if (existing && existing.sourceHash === computeSourceHash(sources)) return existing;
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
