/**
 * @module test/unit/verify-imports
 * ARCHITECTURE.md: "The verifier must not import gateway code: an auditor runs it without
 * a gateway." Walks the static import graph of anchor/src/verify from its source files and
 * checks that nothing under gateway/ is reached except the pure wire codec in
 * gateway/src/protocol/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureDir } from '../helpers/bundle-fixtures.js';

const ROOT = resolve(fixtureDir(), '..', '..', '..');
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** Relative imports of one file, resolved to .ts source paths. */
function importsOf(file: string): string[] {
  // Comments left out: a doc comment may quote an import (core/live-contract does).
  const src = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of src.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue;
    out.push(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
  }
  return out;
}

function reachable(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...importsOf(f));
  }
  return seen;
}

describe('verifier import graph', () => {
  const verifyDir = join(ROOT, 'anchor', 'src', 'verify');
  const entries = readdirSync(verifyDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(verifyDir, f));

  it('behavior: anchor/src/verify reaches gateway/ only in gateway/src/protocol/', () => {
    const files = [...reachable(entries)].map((f) => relative(ROOT, f));
    expect(files).toContain('anchor/src/verify/verify.ts');
    expect(files).toContain('gateway/src/protocol/frame.ts'); // the walk does follow imports
    const gateway = files.filter((f) => f.startsWith('gateway/'));
    expect(gateway.filter((f) => !f.startsWith('gateway/src/protocol/'))).toEqual([]);
  });

  it('behavior: anchor/src/verify-access (issue 18) reaches gateway/ only in gateway/src/protocol/', () => {
    const dir = join(ROOT, 'anchor', 'src', 'verify-access');
    const files = [
      ...reachable(
        readdirSync(dir)
          .filter((f) => f.endsWith('.ts'))
          .map((f) => join(dir, f)),
      ),
    ].map((f) => relative(ROOT, f));
    expect(files).toContain('anchor/src/verify-access/verify.ts');
    expect(files).toContain('anchor/src/verify/checkpoints.ts'); // it reuses the verifier's checks
    const gateway = files.filter((f) => f.startsWith('gateway/'));
    expect(gateway.filter((f) => !f.startsWith('gateway/src/protocol/'))).toEqual([]);
  });

  it('error: the walk would catch a gateway import (self-check on a gateway module)', () => {
    const files = [...reachable([join(ROOT, 'gateway', 'src', 'io', 'outbound', 'export.ts')])].map((f) =>
      relative(ROOT, f),
    );
    expect(files.some((f) => f.startsWith('gateway/src/io/'))).toBe(true);
  });
});
