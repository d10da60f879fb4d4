/**
 * @module test/unit/cli-commands
 * The CLI's index of top-level commands (cli/commands): `vitaltrail <command>` loads only the
 * module of its command, so the index must name exactly what each module registers, and the
 * auditor's offline `verify` must not drag the chain client, the gateway or the store in
 * through a static import (it starts in a fifth of the time the whole CLI takes to load).
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMAND_MODULES, commandModulesFor } from '../../gateway/src/cli/commands.js';
import { buildProgram } from '../../gateway/src/cli/main.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Static imports only: a dynamic `import()` is loaded when its code runs, not with the module. */
const STATIC_IMPORT =
  /(?:^|[\s;])(?:import|export)\s(?!type\s)[^'"]*?from\s*['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]/gm;

/** The npm packages and source files a module loads with it (the closure of its static imports). */
function staticClosure(entry: string): { files: string[]; packages: Set<string> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const todo = [resolve(ROOT, entry)];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const src = readFileSync(f, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const m of src.matchAll(STATIC_IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) todo.push(resolve(dirname(f), spec).replace(/\.js$/, '.ts'));
      else if (!spec.startsWith('node:'))
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files: [...seen].map((f) => relative(ROOT, f)), packages };
}

/** What the offline verifier must not load: the chain client, broker, store, HTTP server and the rest. */
const HEAVY = ['viem', 'aedes', 'mqtt', 'fastify', 'better-sqlite3', 'pg', 'node-forge', 'serialport'];

describe('cli/commands', () => {
  it('behavior: each module registers exactly the top-level commands the index names, in the help order', async () => {
    for (const m of COMMAND_MODULES) {
      const program = new Command();
      await m.register(program);
      expect(
        program.commands.map((c) => c.name()),
        m.names.join(' '),
      ).toEqual(m.names);
    }
    const all = COMMAND_MODULES.flatMap((m) => m.names);
    expect(new Set(all).size).toBe(all.length);
    expect((await buildProgram()).commands.map((c) => c.name())).toEqual(all);
  });

  it('behavior: a command line loads its own module; help, no command or a mistyped one load them all', () => {
    const argv = (...a: string[]) => ['node', 'vitaltrail', ...a];
    expect(commandModulesFor(argv('verify', 'b.json', '--anchors', 'a.json')).map((m) => m.names)).toEqual([
      ['verify'],
    ]);
    expect(commandModulesFor(argv('kgc', 'enroll', '--device', 'wr-1')).map((m) => m.names)).toEqual([
      ['kgc'],
    ]);
    expect(commandModulesFor(argv('shred')).map((m) => m.names)).toEqual([
      ['recipients', 'export-fhir', 'shred'],
    ]);
    for (const a of [[], ['--help'], ['help', 'verify'], ['verfiy'], ['-V']])
      expect(commandModulesFor(argv(...a)), a.join(' ')).toBe(COMMAND_MODULES);
  });

  it('behavior: the offline verifier (`verify --anchors`) loads no chain client, broker, store or server', () => {
    const { files, packages } = staticClosure('gateway/src/cli/verify.ts');
    expect(files).toContain('anchor/src/verify/verify.ts'); // the walk follows imports
    expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
    expect(files.filter((f) => f.startsWith('gateway/src/io/') || f.startsWith('gateway/src/app/'))).toEqual(
      [],
    );
  });

  it('error: the walk would catch a heavy import (self-check on the gateway command)', () => {
    const { packages } = staticClosure('gateway/src/cli/gateway.ts');
    for (const p of ['viem', 'aedes', 'fastify', 'better-sqlite3']) expect(packages.has(p), p).toBe(true);
  });
});
